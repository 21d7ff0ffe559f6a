/*
 * fsync_fail.c — an LD_PRELOAD shim for the fault tests (F3, F11 of the
 * fault plan): makes fsync/fdatasync, and optionally pwrite/pwrite64, fail
 * with EIO on the database's files while armed.
 *
 * Armed by files in the directory $SHORTY_FAULT_DIR:
 *   fsync    fails fsync() and fdatasync()
 *   pwrite   fails pwrite() and pwrite64()
 * Each file holds a count (default 1): the number of calls still to fail;
 * the shim counts it down and removes the file at 0; "-1" fails every call
 * until the test removes the file. Only descriptors of files whose name ends
 * in ".db", ".db-wal" or ".db-journal" are failed (never the log, sockets or
 * the shm file). Each failure appends "OP PATH" to $SHORTY_FAULT_DIR/fired,
 * so a test can tell that the fault really reached the store.
 *
 * Built without sanitizers (tests/faults/faults.cmake); an ASan binary runs
 * it with ASAN_OPTIONS=verify_asan_link_order=0. The real functions are
 * found with dlsym(RTLD_NEXT) (under ASan, pwrite is ASan's interceptor).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* 1 when this call on fd must fail with EIO. */
static int armed(const char *op, int fd)
{
	const char *dir = getenv("SHORTY_FAULT_DIR");
	char path[PATH_MAX], target[PATH_MAX], link[64];
	FILE *f;
	long n = 1;
	ssize_t len;
	int fail = 0;

	if (!dir || !*dir)
		return 0;
	snprintf(path, sizeof path, "%s/%s", dir, op);
	if (access(path, F_OK) != 0)
		return 0;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	len = readlink(link, target, sizeof target - 1);
	if (len <= 0)
		return 0;
	target[len] = '\0';
	if (!ends_with(target, ".db") && !ends_with(target, ".db-wal") &&
	    !ends_with(target, ".db-journal"))
		return 0;

	pthread_mutex_lock(&mu);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = 1;
		fclose(f);
		fail = n != 0;
		if (n > 0) {
			n--;
			if (n == 0) {
				unlink(path);
			} else if ((f = fopen(path, "w"))) {
				fprintf(f, "%ld\n", n);
				fclose(f);
			}
		}
	}
	if (fail) {
		snprintf(path, sizeof path, "%s/fired", dir);
		if ((f = fopen(path, "a"))) {
			fprintf(f, "%s %s\n", op, target);
			fclose(f);
		}
	}
	pthread_mutex_unlock(&mu);
	return fail;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

int fsync(int fd)
{
	if (armed("fsync", fd)) {
		errno = EIO;
		return -1;
	}
	return REAL(fsync)(fd);
}

int fdatasync(int fd)
{
	if (armed("fsync", fd)) {
		errno = EIO;
		return -1;
	}
	return REAL(fdatasync)(fd);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (armed("pwrite", fd)) {
		errno = EIO;
		return -1;
	}
	return REAL(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	if (armed("pwrite", fd)) {
		errno = EIO;
		return -1;
	}
	return REAL(pwrite64)(fd, buf, n, off);
}

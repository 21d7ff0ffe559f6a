/*
 * visit_flush.c — the writer's CPU per visit, measured on its own
 * (docs/benchmarks.md, "what a visit costs").
 *
 *   build/release/bench_visit_flush [DB_PATH [LINKS [WARM_FLUSHES [FLUSHES [BATCH]]]]]
 *
 * Fills a new SQLite file store (synchronous=full, as `serve` runs) with
 * LINKS links (100,000), then runs WARM_FLUSHES (40) and FLUSHES (16)
 * flushes of BATCH (61,000: what `make bench` sends in a second at its
 * keep-alive rate) visits of uniformly random links, through the real path:
 * two workers' visit buffers (visitbuf_add) and svc_visits_flush in one
 * transaction each, exactly as the writer thread runs it. Prints the
 * process CPU and wall time per visit spent in the measured flushes (the
 * workers' visitbuf_add is not counted). Uniform
 * random links over 100,000 are the worst case (every flush touches most
 * links); the warm-up flushes put 2.4 million visits in the log first, so
 * that what grows with the log shows. The file is removed at the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shorty/service.h"
#include "shorty/store.h"

static double cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double wall_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long arg(int argc, char **argv, int i, long def)
{
	return argc > i ? strtol(argv[i], NULL, 10) : def;
}

static void die(const char *what, int rc, const char *msg)
{
	fprintf(stderr, "bench_visit_flush: %s: %d %s\n", what, rc, msg ? msg : "");
	exit(1);
}

int main(int argc, char **argv)
{
	char path[256];
	const char *dir = argc > 1 ? argv[1] : NULL;
	long links = arg(argc, argv, 2, 100000), warm = arg(argc, argv, 3, 40);
	long flushes = arg(argc, argv, 4, 16), batch = arg(argc, argv, 5, 61000);
	visitbuf *bufs[2];
	store_options o;
	sh_err err = {0};
	store *s = NULL;
	double cpu = 0, wall = 0, c0, w0;
	long f, i;
	int rc;

	if (dir)
		snprintf(path, sizeof(path), "%s", dir);
	else
		snprintf(path, sizeof(path), "/tmp/shorty-visit-flush-%d.db", (int)getpid());
	store_options_default(&o);
	o.create = true;
	if ((rc = store_open(&s, path, &o, &err)) || (rc = store_migrate(s, &err)))
		die("open", rc, err.msg);
	if ((rc = store_begin(s)))
		die("begin", rc, s->last_err.msg);
	for (i = 1; i <= links; i++) {
		char url[64];
		sh_link l = {.id = i, .url = url, .url_hash = (uint64_t)i * 2654435761u,
		             .created_at = 1700000000, .updated_at = 1700000000,
		             .redirect_status = 302, .forward_query = true};
		snprintf(url, sizeof(url), "https://example.com/page/%ld", i);
		if ((rc = store_link_insert(s, &l)))
			die("insert link", rc, s->last_err.msg);
	}
	if ((rc = store_commit(s)))
		die("commit", rc, s->last_err.msg);
	bufs[0] = visitbuf_create(65536);
	bufs[1] = visitbuf_create(65536);
	srand(7);
	for (f = 0; f < warm + flushes; f++) {
		size_t done = 0;

		for (i = 0; i < batch; i++) {
			sh_visit v = {.link_id = 1 + rand() % links,
			              .ts = 1700000000 + f,
			              .kind = VISIT_NORMAL,
			              .visited_url = "http://127.0.0.1:8000/abcdef",
			              .ip = "127.0.0.0"};
			visitbuf_add(bufs[i & 1], &v);
		}
		c0 = cpu_now();
		w0 = wall_now();
		if ((rc = svc_visits_flush(NULL, s, bufs, 2, &done)) || done != (size_t)batch)
			die("flush", rc, s->last_err.msg);
		if (f >= warm) {
			cpu += cpu_now() - c0;
			wall += wall_now() - w0;
		}
	}
	printf("%ld links, %ld visits logged before, %ld flushes of %ld visits: "
	       "%.2f µs CPU, %.2f µs wall per visit\n",
	       links, warm * batch, flushes, batch, cpu / (double)(flushes * batch) * 1e6,
	       wall / (double)(flushes * batch) * 1e6);
	visitbuf_destroy(bufs[0]);
	visitbuf_destroy(bufs[1]);
	store_close(s);
	if (!dir) {
		static const char *const sfx[] = {"", "-wal", "-shm"};
		char p[300];
		for (i = 0; i < 3; i++) {
			snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
			unlink(p);
		}
	}
	return 0;
}

/*
 * floor.h — shared by the two "floor" servers of issue 11 (epoll_floor.c,
 * uring_floor.c): what a keep-alive redirect costs the kernel when the
 * server does nothing else. Each answers every request it reads with one
 * fixed 301 (no parsing beyond counting "\r\n\r\n", no routing, no visit),
 * N threads, one SO_REUSEPORT listener each. Not part of shorty: a yardstick
 * for docs/benchmarks.md ("The floor of a keep-alive redirect").
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char ANSWER[] = "HTTP/1.1 301 Moved Permanently\r\n"
                             "Date: Mon, 07 Dec 2026 01:40:00 GMT\r\n"
                             "Location: https://example.com/page/1\r\n"
                             "Content-Length: 0\r\n\r\n";
static int port;

static int listener(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) {
		perror("listen");
		exit(1);
	}
	return fd;
}

/* Requests in p[0..n): whole ones only (wrk sends each in one segment). */
static int requests_in(const char *p, ssize_t n)
{
	int k = 0;

	for (ssize_t i = 3; i < n; i++)
		k += p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r';
	return k;
}

/* Up to max answers into out; their length. */
static size_t answers(char *out, size_t cap, int k)
{
	size_t n = 0;

	while (k-- > 0 && n + sizeof ANSWER - 1 <= cap) {
		memcpy(out + n, ANSWER, sizeof ANSWER - 1);
		n += sizeof ANSWER - 1;
	}
	return n;
}

static void *worker(void *arg);

int main(int argc, char **argv)
{
	pthread_t t[64];
	int n;

	if (argc != 3 || (port = atoi(argv[1])) <= 0 || (n = atoi(argv[2])) <= 0 || n > 64) {
		fprintf(stderr, "usage: %s PORT THREADS\n", argv[0]);
		return 2;
	}
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return 0;
}

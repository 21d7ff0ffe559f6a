/*
 * paced.c — an open-loop HTTP/1.1 load at a fixed rate, for the latency of
 * a redirect at a given fraction of the maximum rate (issue 11: p99 at half
 * of the maximum rate). wrk measures closed-loop (a slow answer delays the
 * next request, hiding the queueing it caused) and Debian has neither wrk2
 * nor a wrk with -R, hence this small client.
 *
 *   paced PORT RATE SECONDS CONNS PATH
 *
 * Request k is due at start + k / RATE. It goes out on a keep-alive
 * connection with nothing in flight; when none is free it waits, and its
 * latency still counts from when it was due (no coordinated omission). One
 * thread, epoll. Prints one line: sent, answered, errors, the rate reached
 * and the latency percentiles in microseconds.
 *
 * With PACED_STALLS=1 in the environment it also prints (to stderr) the
 * five largest stalls: runs of requests answered over 1 ms late whose due
 * times lie within 20 ms of each other, with when they began, how long
 * they lasted and the worst latency. A stall that hits the trivial servers
 * of bench/floor/ too is the machine's, not the server's.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct pconn {
	int fd;
	int64_t due; /* of the request in flight; -1: free */
	char buf[4096];
	size_t len;
} pconn;

typedef struct stall {
	int64_t from, to; /* due times of the first and last late request, ns from start */
	size_t n;
	int64_t worst;
} stall;

#define LATE_NS 1000000LL   /* a request answered this late is part of a stall */
#define STALL_GAP 20000000LL /* late requests this close in due time: one stall */

static int cmp_stall(const void *a, const void *b)
{
	size_t x = ((const stall *)a)->n, y = ((const stall *)b)->n;

	return (x < y) - (x > y);
}

/* The stalls among the late requests (due time from start, latency), due
 * times ascending: the five with the most requests, to stderr. */
static void print_stalls(const int64_t *due, const int64_t *late, size_t n)
{
	stall *s = calloc(n + 1, sizeof(*s));
	size_t k = 0;

	if (!s)
		return;
	for (size_t i = 0; i < n; i++) {
		if (k && due[i] - s[k - 1].to < STALL_GAP) {
			if (due[i] > s[k - 1].to)
				s[k - 1].to = due[i];
			s[k - 1].n++;
			if (late[i] > s[k - 1].worst)
				s[k - 1].worst = late[i];
		} else {
			s[k++] = (stall){due[i], due[i], 1, late[i]};
		}
	}
	qsort(s, k, sizeof(*s), cmp_stall);
	fprintf(stderr, "stalls: %zu (requests over 1 ms late: %zu)\n", k, n);
	for (size_t i = 0; i < k && i < 5; i++)
		fprintf(stderr, "  at %.1f ms: %zu requests late over %.1f ms, worst %.1f ms\n",
		        (double)s[i].from / 1e6, s[i].n, (double)(s[i].to - s[i].from) / 1e6,
		        (double)s[i].worst / 1e6);
	free(s);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int dial(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* A complete answer in c->buf (head, then Content-Length bytes)? Its
 * length, 0 if not yet, -1 if it is not an answer. */
static long answer_len(const pconn *c)
{
	const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *cl;
	size_t head, body = 0;

	if (!end)
		return c->len == sizeof(c->buf) ? -1 : 0;
	head = (size_t)(end - c->buf) + 4;
	if (strncmp(c->buf, "HTTP/1.1 ", 9) != 0)
		return -1;
	cl = memmem(c->buf, head, "\r\nContent-Length: ", 18);
	if (cl)
		body = strtoul(cl + 18, NULL, 10);
	return head + body <= c->len ? (long)(head + body) : 0;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: paced PORT RATE SECONDS CONNS PATH\n");
		return 2;
	}
	int port = atoi(argv[1]), nconn = atoi(argv[4]);
	double rate = atof(argv[2]), secs = atof(argv[3]);
	char req[1024];
	int rlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", argv[5]);
	size_t total = (size_t)(rate * secs), sent = 0, done = 0, errors = 0;
	int64_t *lat = calloc(total + 1, sizeof(*lat));
	/* with PACED_STALLS only: the late requests, by due time (a request's
	 * answer comes after those due before it on its connection, nearly
	 * always after all of them) */
	bool stalls = getenv("PACED_STALLS") != NULL;
	int64_t *late_due = stalls ? calloc(total + 1, sizeof(*late_due)) : NULL;
	int64_t *late_ns = stalls ? calloc(total + 1, sizeof(*late_ns)) : NULL;
	size_t nlate = 0;
	pconn *cs = calloc((size_t)nconn, sizeof(*cs));
	int ep = epoll_create1(0);

	if (port <= 0 || rate <= 0 || secs <= 0 || nconn <= 0 || !lat || (stalls && (!late_due || !late_ns)) ||
	    !cs || ep < 0) {
		fprintf(stderr, "paced: bad arguments\n");
		return 2;
	}
	for (int i = 0; i < nconn; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
		cs[i].fd = dial(port);
		cs[i].due = -1;
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	int64_t start = now_ns(), step = (int64_t)(1e9 / rate), stop = start + (int64_t)(secs * 1e9);
	int next_free = 0;

	while (done + errors < total && now_ns() < stop + 2000000000LL) {
		int64_t t = now_ns();
		/* send what is due, on free connections */
		while (sent < total && start + (int64_t)sent * step <= t) {
			pconn *c = NULL;
			for (int k = 0; k < nconn && !c; k++) {
				pconn *d = &cs[(next_free + k) % nconn];
				if (d->due < 0)
					c = d;
			}
			if (!c)
				break; /* all busy: it waits, its latency running */
			next_free = (int)(c - cs + 1) % nconn;
			c->due = start + (int64_t)sent * step;
			if (write(c->fd, req, (size_t)rlen) != rlen) {
				perror("write");
				return 1;
			}
			sent++;
		}
		int64_t wait = sent < total ? start + (int64_t)sent * step - now_ns() : 10000000;
		struct epoll_event evs[64];
		struct timespec to = {.tv_sec = wait > 0 ? wait / 1000000000 : 0,
		                      .tv_nsec = wait > 0 ? wait % 1000000000 : 0};
		int n = epoll_pwait2(ep, evs, 64, &to, NULL); /* ns timeout: no spinning */
		for (int i = 0; i < n; i++) {
			pconn *c = evs[i].data.ptr;
			ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
			long al;
			if (r <= 0) {
				fprintf(stderr, "paced: connection closed\n");
				return 1;
			}
			c->len += (size_t)r;
			while ((al = answer_len(c)) != 0) {
				if (al < 0 || c->due < 0) {
					errors++;
					c->len = 0;
					break;
				}
				if (strncmp(c->buf, "HTTP/1.1 5", 10) == 0)
					errors++;
				else {
					int64_t l = now_ns() - c->due;
					lat[done++] = l;
					if (stalls && l > LATE_NS) {
						late_due[nlate] = c->due - start;
						late_ns[nlate++] = l;
					}
				}
				memmove(c->buf, c->buf + al, c->len - (size_t)al);
				c->len -= (size_t)al;
				c->due = -1;
			}
		}
	}
	double took = (double)(now_ns() - start) / 1e9;
	qsort(lat, done, sizeof(*lat), cmp_i64);
#define PCT(p) (done ? lat[(size_t)((double)(done - 1) * (p))] / 1000 : 0)
	printf("sent %zu answered %zu errors %zu rate %.0f/s latency_us p50 %lld p90 %lld p99 %lld "
	       "p99.9 %lld max %lld\n",
	       sent, done, errors, (double)done / took, (long long)PCT(0.50), (long long)PCT(0.90),
	       (long long)PCT(0.99), (long long)PCT(0.999), (long long)PCT(1.0));
	if (stalls)
		print_stalls(late_due, late_ns, nlate);
	return errors || done < total;
}

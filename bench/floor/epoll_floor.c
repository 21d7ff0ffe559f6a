/*
 * epoll_floor.c — the floor of a keep-alive redirect on epoll, as shorty's
 * own engine does it: edge-triggered connections registered once, one
 * read (a short read means the socket is empty), one send. See floor.h.
 *
 *   gcc -O2 -Wall -o /tmp/epoll_floor bench/floor/epoll_floor.c -lpthread
 *   /tmp/epoll_floor PORT THREADS
 */
#include "floor.h"

#include <sys/epoll.h>

static void *worker(void *arg)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = -1}, evs[256];
	int lfd = listener(), ep = epoll_create1(0);
	char in[4096], out[4096];

	(void)arg;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd, c;
			if (fd < 0) {
				while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					struct epoll_event e = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP,
					                        .data.fd = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, in, sizeof in);
				if (r <= 0) {
					if (r == 0 || errno != EAGAIN)
						close(fd);
					break;
				}
				size_t len = answers(out, sizeof out, requests_in(in, r));
				if (len)
					send(fd, out, len, MSG_NOSIGNAL);
				if ((size_t)r < sizeof in)
					break;
			}
		}
	}
	return NULL;
}

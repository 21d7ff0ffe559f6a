/*
 * uring_floor.c — the floor of a keep-alive redirect on io_uring (issue 11
 * item 2 names it as the other way): per thread one ring (single issuer,
 * deferred task work), multishot accept, multishot receive into a ring of
 * provided buffers, sends queued as SQEs and submitted with the next wait:
 * one io_uring_enter per batch of events instead of epoll_wait + read +
 * send per request. See floor.h. liburing-dev is not one of shorty's
 * dependencies; install it to build this:
 *
 *   apt-get install liburing-dev
 *   gcc -O2 -Wall -o /tmp/uring_floor bench/floor/uring_floor.c -luring -lpthread
 *   /tmp/uring_floor PORT THREADS
 */
#include "floor.h"

#include <liburing.h>

enum { OP_ACCEPT = 1, OP_RECV, OP_SEND };
#define NBUF 4096
#define BUFSZ 2048
#define UD(fd, op) (((uint64_t)(fd) << 8) | (op))

static __thread struct io_uring ring;

static struct io_uring_sqe *sqe(void)
{
	struct io_uring_sqe *s = io_uring_get_sqe(&ring);

	if (!s) {
		io_uring_submit(&ring);
		s = io_uring_get_sqe(&ring);
	}
	return s;
}

static void arm_recv(int fd)
{
	struct io_uring_sqe *s = sqe();

	io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
	s->flags |= IOSQE_BUFFER_SELECT;
	s->buf_group = 0;
	io_uring_sqe_set_data64(s, UD(fd, OP_RECV));
}

static void arm_accept(int lfd)
{
	struct io_uring_sqe *s = sqe();

	io_uring_prep_multishot_accept(s, lfd, NULL, NULL, 0);
	io_uring_sqe_set_data64(s, UD(lfd, OP_ACCEPT));
}

static void *worker(void *arg)
{
	struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER |
	                                     IORING_SETUP_DEFER_TASKRUN |
	                                     IORING_SETUP_COOP_TASKRUN};
	struct io_uring_buf_ring *br = NULL;
	static __thread char out[1 << 17];
	int lfd = listener(), rc;
	char *bufs = malloc((size_t)NBUF * BUFSZ);

	(void)arg;
	if ((rc = io_uring_queue_init_params(4096, &ring, &p)) != 0) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-rc));
		exit(1);
	}
	if (posix_memalign((void **)&br, 4096, NBUF * sizeof(struct io_uring_buf)) || !bufs)
		exit(1);
	io_uring_buf_ring_init(br);
	struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = NBUF};
	if ((rc = io_uring_register_buf_ring(&ring, &reg, 0)) != 0) {
		fprintf(stderr, "io_uring_register_buf_ring: %s\n", strerror(-rc));
		exit(1);
	}
	for (int i = 0; i < NBUF; i++)
		io_uring_buf_ring_add(br, bufs + (size_t)i * BUFSZ, BUFSZ, i,
		                      io_uring_buf_ring_mask(NBUF), i);
	io_uring_buf_ring_advance(br, NBUF);
	arm_accept(lfd);
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		/* the last batch's sends are issued (their bytes copied) by the
		 * submit below, so out is free again after it; a send that could
		 * not go out at once would read its bytes later, but a few hundred
		 * bytes on a socket with room always go at once here */
		size_t used = 0;

		io_uring_submit_and_wait(&ring, 1);
		io_uring_for_each_cqe(&ring, head, cqe) {
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			int fd = (int)(ud >> 8), op = (int)(ud & 255), res = cqe->res;

			seen++;
			if (op == OP_ACCEPT) {
				if (res >= 0)
					arm_recv(res);
				if (!(cqe->flags & IORING_CQE_F_MORE))
					arm_accept(lfd);
			} else if (op == OP_RECV) {
				if (res <= 0) {
					if (res == -ENOBUFS)
						arm_recv(fd);
					else
						close(fd);
					continue;
				}
				int bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
				char *b = bufs + (size_t)bid * BUFSZ;
				size_t len = answers(out + used, sizeof out - used, requests_in(b, res));
				io_uring_buf_ring_add(br, b, BUFSZ, bid, io_uring_buf_ring_mask(NBUF), 0);
				io_uring_buf_ring_advance(br, 1);
				if (len) {
					struct io_uring_sqe *s = sqe();
					io_uring_prep_send(s, fd, out + used, len, MSG_NOSIGNAL);
					io_uring_sqe_set_data64(s, UD(fd, OP_SEND));
					s->flags |= IOSQE_CQE_SKIP_SUCCESS;
					used += len;
				}
				if (!(cqe->flags & IORING_CQE_F_MORE))
					arm_recv(fd);
			}
		}
		io_uring_cq_advance(&ring, seen);
	}
	return NULL;
}

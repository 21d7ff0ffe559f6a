/*
 * conns.c — connections: the header and body deadlines (see
 * HTTP_REQUEST_TIMEOUT in server.h), accepting while not stopping.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "shorty/log.h"
#include "shorty/timeutil.h"
#include "http/server.h"

/* ---- timeouts: the header deadline (see HTTP_REQUEST_TIMEOUT) ------------------ */

typedef struct conn_track {
	struct conn_track *prev, *next;
	int fd;
	int64_t deadline_ns; /* headers complete by then, else shut down; 0 = none.
	                      * Atomic: written by the connection's thread (and
	                      * cleared by the sweep), read by the sweep; S->clock
	                      * guards only the list */
	unsigned timeout_s;  /* the idle timeout libmicrohttpd applies now */
} conn_track;

static conn_track *track_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* deadline_ns: 0 = headers are complete; else the new deadline, kept only if
 * it is earlier than the one running (or none is). timeout_s: the idle
 * timeout to apply from now on. Called from the connection's own thread. */
void http_conn_phase(http_server *S, struct MHD_Connection *c, int64_t deadline_ns,
                     unsigned timeout_s)
{
	conn_track *t = track_of(c);

	if (!t)
		return;
	/* no lock (this runs two or three times per request): only this thread
	 * sets a deadline; the sweep may clear one meanwhile, after shutting the
	 * socket down, and then whatever we store here no longer matters */
	int64_t cur = __atomic_load_n(&t->deadline_ns, __ATOMIC_RELAXED);
	(void)S;
	if (deadline_ns == 0 || cur == 0 || deadline_ns < cur)
		__atomic_store_n(&t->deadline_ns, deadline_ns, __ATOMIC_RELAXED);
	if (t->timeout_s != timeout_s) {
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, timeout_s);
		t->timeout_s = timeout_s;
	}
}

/* Once stopping, new connections are accepted and closed at once.  We do not
 * take the listen socket out with MHD_quiesce_daemon(): in libmicrohttpd
 * 0.9.75 it races the epoll workers, which remove the same descriptor
 * themselves, and the loser's EPOLL_CTL_DEL fails with ENOENT and aborts the
 * process ("Failed to remove listen FD from epoll set"; CI saw it once in
 * ~500 stops). */
enum MHD_Result http_on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	http_server *S = cls;

	(void)addr;
	(void)addrlen;
	return __atomic_load_n(&S->stopping, __ATOMIC_RELAXED) ? MHD_NO : MHD_YES;
}

void http_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
	http_server *S = cls;
	conn_track *t;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context = NULL;
		if (!ci || !(t = calloc(1, sizeof(*t))))
			return; /* untracked: only the idle timeout applies */
		t->fd = ci->connect_fd;
		t->timeout_s = HTTP_REQUEST_TIMEOUT;
		t->deadline_ns = sh_mono_ns() + HTTP_REQUEST_TIMEOUT * 1000000000LL;
		pthread_mutex_lock(&S->clock);
		t->next = S->conns;
		if (S->conns)
			S->conns->prev = t;
		S->conns = t;
		pthread_mutex_unlock(&S->clock);
		*socket_context = t;
	} else if ((t = *socket_context) != NULL) { /* closed, before its fd is */
		pthread_mutex_lock(&S->clock);
		if (t->prev)
			t->prev->next = t->next;
		else
			S->conns = t->next;
		if (t->next)
			t->next->prev = t->prev;
		pthread_mutex_unlock(&S->clock);
		free(t);
		*socket_context = NULL;
	}
}

/* Shuts down the sockets past their header or body deadline; libmicrohttpd then sees
 * the end of the stream and closes the connection (no answer is sent). */
void http_conn_sweep(http_server *S)
{
	int64_t now = sh_mono_ns();
	unsigned n = 0;

	pthread_mutex_lock(&S->clock);
	for (conn_track *t = S->conns; t; t = t->next) {
		int64_t d = __atomic_load_n(&t->deadline_ns, __ATOMIC_RELAXED);
		if (d && now >= d) {
			shutdown(t->fd, SHUT_RDWR);
			__atomic_store_n(&t->deadline_ns, 0, __ATOMIC_RELAXED);
			n++;
		}
	}
	pthread_mutex_unlock(&S->clock);
	if (n)
		log_msg(SH_LOG_DEBUG, "closed %u connection(s) past the header or body deadline",
		        n);
}

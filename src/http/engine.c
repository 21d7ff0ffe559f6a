/*
 * engine.c — the HTTP/1.1 engine of our own (`--http-engine own`): what
 * libmicrohttpd does for the other engine, on the hot path at less cost
 * (docs/benchmarks.md, "Profile of a keep-alive redirect").
 *
 * Threads: `threads` loops, each an epoll set of its own with its
 * connections, its http_worker (read connection, visit buffer, counters)
 * and an eventfd that wakes it (a unit finished at the writer, a socket
 * handed in, stop). One listen socket is shared by every loop, registered
 * with EPOLLEXCLUSIVE (the kernel wakes one loop per new connection):
 * with SO_REUSEPORT a socket per loop, `--listen HOST:0` would give each
 * loop a port of its own, and a stop would reset the connections waiting
 * in the closed sockets' queues while the others still accept.
 *
 * A connection: edge-triggered (registered once: no epoll_ctl per
 * request). Bytes are read into its input buffer (2 KiB, grown for a long
 * head up to what the limits allow, shrunk when idle), parsed by
 * h1_parse_request / h1_chunked_decode (h1parse.c: strict, fuzzed), the
 * request is handed to the router as an http_req exactly as under
 * libmicrohttpd, and the answer is appended to its output buffer. Pipelined
 * requests are answered in order: the next one is parsed only once the
 * previous one is answered; a deferred write parks the connection (no
 * reads) until the writer's completion queues it on its loop and writes
 * the eventfd. Answers are written on the loop's thread only.
 *
 * Deadlines (as conns.c for the other engine): the head within
 * HTTP_REQUEST_TIMEOUT of the accept or of the first byte of the request,
 * a body within it of the head, HTTP_REQUEST_TIMEOUT without progress
 * while an answer is being sent, the idle timeout between requests. Every
 * deadline is now + one of three fixed durations, so a FIFO list per
 * duration is sorted: arming is an append, expiry looks at the heads.
 *
 * Errors of framing (h1parse's 400, 413, 414, 431, 501, 505) are answered
 * with problem+json and Connection: close; the connection then stops
 * reading requests, shuts its write side and drains what the client still
 * sends for a short while (so that the answer is not lost to a reset).
 */
#define _GNU_SOURCE /* accept4, memmem */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shorty/linkjson.h"
#include "shorty/log.h"
#include "shorty/timeutil.h"
#include "http/engine.h"
#include "http/h1parse.h"
#include "http/offload.h"

#define IN_INIT 2048  /* input buffer of a connection */
#define IN_KEEP 2048  /* buffers an idle connection keeps (at most) */
#define OUT_KEEP 2048
#define OUT_HIGH (256 * 1024) /* pending output past which no request is parsed */
/* the longest head the limits let through, with its CRLFs */
#define IN_MAX (HTTP_REQUEST_LINE_MAX + 64 + HTTP_HEADERS_MAX + 4 * H1_FIELDS_MAX + 64)
#define LINGER_NS 2000000000LL /* draining after an answer that closes */
#define EVENTS_MAX 64
#define ACCEPT_BATCH 32
#define ACCEPT_PAUSE_NS 100000000LL /* out of descriptors: listen again after */
#define CHUNK_HEAD 10               /* "%08zx\r\n" before each streamed block */
#define NS 1000000000LL

enum cstate {
	C_HEAD,    /* reading a request head (idle when no byte of it came yet) */
	C_BODY,    /* reading its body */
	C_RUN,     /* in its handler */
	C_WAIT,    /* its unit is at the writer, or its handler on a store thread:
	              no reads until it completes */
	C_SFILL,   /* a streamed answer's next block is being made on a store thread */
	C_STREAM,  /* sending a streamed answer */
	C_CLOSING, /* sending a last answer, then close */
	C_LINGER,  /* write side shut: draining the client until EOF or deadline */
	C_DEAD,    /* closed: freed at the end of the loop's turn (loop_reap) */
};

enum tclass { T_SHORT = 0, T_IDLE, T_LINGER, T__COUNT, T_NONE = -1 };

typedef struct eloop eloop;

typedef struct econn {
	eloop *L;
	int fd;
	int state;
	bool idle;       /* C_HEAD without a byte of the next request */
	bool keep_alive; /* of the request being answered */
	bool close_after;
	bool can_read; /* edge-triggered: the socket may hold bytes */
	bool peer_shut; /* EPOLLRDHUP came: an end of stream waits behind the bytes */
	bool wtimer;   /* the deadline is the send timeout */
	bool refused;  /* a request was refused: the client may still be sending */
	bool nodelay;  /* TCP_NODELAY is set (conn_nodelay) */
	int minor;
	struct sockaddr_storage peer;
	char peer_ip[HTTP_IP_MAX]; /* the peer as text, once asked for ("": not yet) */
	char *in; /* bytes [in_off, in_len) not consumed yet */
	size_t in_off, in_len, in_cap;
	char *out; /* bytes [out_off, out_len) not sent yet */
	size_t out_off, out_len, out_cap;
	http_req *r;        /* the request being read or answered */
	uint64_t body_left; /* Content-Length bytes still to come */
	bool chunked;
	h1_chunked ck;
	http_stream_fn sfn; /* a streamed answer */
	void *sctx;
	void (*sfree)(void *ctx);
	uint64_t spos;
	bool schunked;
	int tclass;
	int64_t deadline;
	struct econn *tprev, *tnext; /* the timer list of its class */
	struct econn *prev, *next;   /* every connection of the loop */
	struct econn *qnext;         /* the loop's queue of completed units */
	bool queued;                 /* on that queue (under S->jlock) */
	struct econn *dnext;         /* the loop's closed connections (C_DEAD) */
} econn;

/* What a request of this engine keeps: its head (fields NUL-terminated)
 * and, once asked for, its query arguments. */
typedef struct eng_arg {
	char *key, *value;
	size_t klen; /* of a header field's name (0 for a query argument) */
} eng_arg;

struct eng_rq {
	char *head;
	size_t nfields;
	eng_arg *args; /* parsed on the first query lookup */
	size_t nargs;
	char *argbuf;
	bool args_parsed;
	eng_arg fields[];
};

/* A request's work on a store thread (http_offload): its handler, or the
 * next block of its streamed answer. What the thread makes waits here for
 * the loop, which alone writes to the connection. */
#define OFF_HDRS_MAX (HTTP_EXTRA_HEADERS_MAX + 8)
enum { OFF_RUN, OFF_FILL };

struct eng_off {
	http_offjob j; /* first: the job (server.h) */
	int kind;
	bool stream; /* its streamed answer's blocks come from the threads */
	/* the answer its handler made (off_stage) */
	bool has_reply;
	int status, nh;
	eng_hdr h[OFF_HDRS_MAX]; /* into hmem */
	char *hmem;
	char *body;
	size_t len;
	http_stream_fn sfn; /* a streamed answer: its context is freed with r */
	void *sctx;
	void (*sfree)(void *ctx);
	/* a block of it (OFF_FILL) */
	uint64_t spos;
	char *blk;
	ssize_t blk_n;
	bool blk_ready;
};

struct fd_add {
	int fd;
	socklen_t plen; /* 0: a socket handed in by eng_add_socket (loopback) */
	bool counted;   /* hand_over counted it in the loop's nconn already */
	struct sockaddr_storage peer;
	struct fd_add *next;
};

/* A loop's lookup connection made again on a store thread (misses_turn). */
struct misses_rejoin {
	offload_job job; /* first */
	struct eloop *L;
};

struct eloop {
	struct eng *E;
	http_server *S;
	int epfd, evfd, reserve_fd;
	pthread_t th;
	bool started;
	int listening; /* atomic: the listen socket is in this loop's set */
	long nconn;    /* atomic: its connections (read by the other loops) */
	int quit;      /* atomic */
	int64_t now;
	int64_t accept_resume; /* paused accepting (out of descriptors) until then */
	int64_t emfile_since;  /* out of descriptors since then (0: not) */
	http_worker *w;
	econn *all;
	struct {
		econn *head, *tail;
	} tl[T__COUNT];
	int64_t tdur[T__COUNT];
	econn *done_head, *done_tail; /* under S->jlock */
	econn *dead;                  /* closed this turn, freed by loop_reap */
	http_req *spare;              /* a request ended, kept for the next (req_new) */
	struct fd_add *adds;          /* under S->jlock */
	char tag_listen, tag_event;   /* epoll tags of the special fds */
	char tag_misses;
	svc_misses *misses; /* the worker's lookup connection (PostgreSQL), or NULL */
	struct misses_rejoin misses_rejoin; /* its reconnect, as a store thread's job */
	int misses_fd;      /* its socket as registered in epfd (-1: none) */
	time_t date_sec;
	char date[64]; /* "Date: ...\r\n" of date_sec */
	h1_request h1; /* scratch of the parser */
};

struct eng {
	http_server *S;
	unsigned nloops;
	eloop *loops;
	long nconns; /* atomic */
	long max_conns;
	unsigned rr; /* atomic: next loop for eng_add_socket */
	int64_t log_ns[2];
};

static const h1_limits eng_limits = {
    .line_max = HTTP_REQUEST_LINE_MAX + 64, /* the target alone is checked for 414 */
    .headers_max = HTTP_HEADERS_MAX,
    .fields_max = HTTP_HEADER_FIELDS_MAX,
    .body_max = HTTP_BODY_MAX,
};

/* Functions that may close (free) the connection return -1 when they did. */
static void conn_close(econn *c);
static int conn_run(econn *c);
static int conn_flush(econn *c);
static int after_handler(econn *c);

/* ---- logging, at most once a second per kind ------------------------------------ */

static void eng_log_limited(struct eng *E, int kind, const char *msg)
{
	int64_t now = sh_mono_ns(), last = __atomic_load_n(&E->log_ns[kind], __ATOMIC_RELAXED);

	if (last && now - last < NS)
		return;
	if (__atomic_compare_exchange_n(&E->log_ns[kind], &last, now, false, __ATOMIC_RELAXED,
	                                __ATOMIC_RELAXED))
		log_msg(SH_LOG_WARN, "http: %s", msg);
}

/* ---- timers: a sorted FIFO per duration ------------------------------------------ */

static void timer_unlink(econn *c)
{
	eloop *L = c->L;

	if (c->tclass == T_NONE)
		return;
	if (c->tprev)
		c->tprev->tnext = c->tnext;
	else
		L->tl[c->tclass].head = c->tnext;
	if (c->tnext)
		c->tnext->tprev = c->tprev;
	else
		L->tl[c->tclass].tail = c->tprev;
	c->tprev = c->tnext = NULL;
	c->tclass = T_NONE;
}

/* Deadline now + the class's duration; with keep_earlier, a running
 * deadline that comes first stays. */
static void timer_set(econn *c, int cls, bool keep_earlier)
{
	eloop *L = c->L;
	int64_t d = L->now + L->tdur[cls];

	if (keep_earlier && c->tclass != T_NONE && c->deadline <= d)
		return;
	timer_unlink(c);
	c->tclass = cls;
	c->deadline = d;
	c->tprev = L->tl[cls].tail;
	if (L->tl[cls].tail)
		L->tl[cls].tail->tnext = c;
	else
		L->tl[cls].head = c;
	L->tl[cls].tail = c;
}

static void timers_expire(eloop *L)
{
	unsigned n = 0;

	for (int k = 0; k < T__COUNT; k++)
		while (L->tl[k].head && L->tl[k].head->deadline <= L->now) {
			conn_close(L->tl[k].head);
			n++;
		}
	if (n)
		log_msg(SH_LOG_DEBUG, "closed %u connection(s) past their deadline", n);
}

static int next_timeout_ms(eloop *L)
{
	int64_t d = L->now + NS; /* at least once a second */

	for (int k = 0; k < T__COUNT; k++)
		if (L->tl[k].head && L->tl[k].head->deadline < d)
			d = L->tl[k].head->deadline;
	if (L->accept_resume && L->accept_resume < d)
		d = L->accept_resume;
	return d <= L->now ? 0 : (int)((d - L->now + 999999) / 1000000);
}

/* ---- buffers ---------------------------------------------------------------------- */

/* Room for n more bytes of output. */
static bool out_reserve(econn *c, size_t n)
{
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n <= c->out_cap)
		return true;
	size_t cap = c->out_cap ? c->out_cap : OUT_KEEP;
	while (cap < c->out_len + n)
		cap *= 2;
	char *p = realloc(c->out, cap);
	if (!p)
		return false;
	c->out = p;
	c->out_cap = cap;
	return true;
}

static void out_add(econn *c, const void *p, size_t n)
{
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

/* An idle connection keeps small buffers only. */
static void conn_shrink(econn *c)
{
	if (c->in_off == c->in_len) {
		c->in_off = c->in_len = 0;
		if (c->in_cap > IN_KEEP) {
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->out_cap > OUT_KEEP) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
	}
}

/* ---- the request's fields and arguments ----------------------------------------- */

/* A redirect looks up three fields (Host, User-Agent, Referer) and a
 * browser sends a dozen: the names' lengths first, so that most fields
 * cost a compare, not a strcasecmp. */
const char *eng_header(http_req *r, const char *name)
{
	struct eng_rq *q = r->eq;
	size_t n = strlen(name);

	if (!q)
		return NULL;
	for (size_t i = 0; i < q->nfields; i++)
		if (q->fields[i].klen == n && strcasecmp(q->fields[i].key, name) == 0)
			return q->fields[i].value;
	return NULL;
}

/* The query as libmicrohttpd splits it: '&' between arguments, the first
 * '=' between key and value ('+' a space, %XX decoded), a key without '='
 * has no value. */
static void args_parse(http_req *r)
{
	struct eng_rq *q = r->eq;
	size_t n = 1, len;
	char *p;

	q->args_parsed = true;
	if (!r->raw_query || !*r->raw_query)
		return;
	len = strlen(r->raw_query);
	for (size_t i = 0; i < len; i++)
		n += r->raw_query[i] == '&';
	q->argbuf = malloc(len + 1);
	q->args = calloc(n, sizeof(*q->args));
	if (!q->argbuf || !q->args)
		return;
	memcpy(q->argbuf, r->raw_query, len + 1);
	for (p = q->argbuf; p;) {
		char *amp = strchr(p, '&'), *eq;
		if (amp)
			*amp++ = '\0';
		eq = strchr(p, '=');
		if (eq)
			*eq++ = '\0';
		for (char *s = p; *s; s++)
			if (*s == '+')
				*s = ' ';
		MHD_http_unescape(p);
		if (eq) {
			for (char *s = eq; *s; s++)
				if (*s == '+')
					*s = ' ';
			MHD_http_unescape(eq);
		}
		q->args[q->nargs++] = (eng_arg){p, eq, 0};
		p = amp;
	}
}

const char *eng_query(http_req *r, const char *name)
{
	struct eng_rq *q = r->eq;

	if (!q)
		return NULL;
	if (!q->args_parsed)
		args_parse(r);
	for (size_t i = 0; i < q->nargs; i++)
		if (strcasecmp(q->args[i].key, name) == 0) /* as libmicrohttpd */
			return q->args[i].value;
	return NULL;
}

void eng_query_each(http_req *r, int (*fn)(void *ud, const char *key, const char *value),
                    void *ud)
{
	struct eng_rq *q = r->eq;

	if (!q)
		return;
	if (!q->args_parsed)
		args_parse(r);
	for (size_t i = 0; i < q->nargs; i++)
		if (fn(ud, q->args[i].key, q->args[i].value) != 0)
			return;
}

const char *eng_peer_ip(http_req *r)
{
	econn *c = r->ec;

	if (!c->peer_ip[0])
		http_addr_text((const struct sockaddr *)&c->peer, c->peer_ip);
	return c->peer_ip;
}

void eng_req_free(http_req *r)
{
	struct eng_rq *q = r->eq;
	struct eng_off *o = r->off;

	if (o) {
		if (o->sfree)
			o->sfree(o->sctx);
		free(o->hmem);
		free(o->body);
		free(o->blk);
		free(o);
		r->off = NULL;
	}

	free(q->args);
	free(q->argbuf);
	free(q);
	r->eq = NULL;
	r->raw_buf = r->path_buf = NULL; /* were in q (req_copy_head) */
	r->raw_target = r->path = r->raw_query = NULL;
}

/* ---- a request's start and end ----------------------------------------------------- */

/* A request's block is 2.5 KiB: past malloc's per-thread cache, so a
 * malloc and a free of it per request were 4% of a keep-alive redirect's
 * instructions. Each loop keeps the last one ended for the next request;
 * not under AddressSanitizer, which would then miss a use after the end. */
#if defined(__SANITIZE_ADDRESS__)
#define REQ_REUSE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REQ_REUSE 0
#endif
#endif
#ifndef REQ_REUSE
#define REQ_REUSE 1
#endif

static http_req *req_new(econn *c)
{
	http_server *S = c->L->S;
	http_req *r = c->L->spare;

	if (r)
		c->L->spare = NULL;
	else if (!(r = malloc(sizeof(*r))))
		return NULL;
	memset(r, 0, HTTP_REQ_ZEROED);
	__atomic_add_fetch(&S->inflight, 1, __ATOMIC_RELAXED);
	r->t0_ns = c->L->now;
	r->route = ROUTE_LABEL_OTHER;
	r->ec = c;
	r->v = S->v;
	r->cfg = S->cfg;
	r->w = http_worker_get(); /* reopens the read connection when it was lost */
	c->r = r;
	return r;
}

/* The request is over (answered, or its connection closed). */
static void req_end(econn *c)
{
	http_req *r = c->r;

	c->r = NULL;
	http_req_done(c->L->S, r);
	if (REQ_REUSE && !c->L->spare) {
		http_req_clear(r);
		c->L->spare = r;
	} else {
		http_req_free(r);
	}
}

/* A copy of the head, its fields NUL-terminated, into r->eq; in the same
 * block the target (r->raw_buf) and its path (r->path_buf): one allocation
 * per request instead of three (eng_req_free lets go of them). */
static int req_copy_head(http_req *r, const char *buf, const h1_request *h)
{
	const char *qm = memchr(h->target, '?', h->target_len);
	size_t plen = qm ? (size_t)(qm - h->target) : h->target_len;
	struct eng_rq *q = malloc(sizeof(*q) + h->nfields * sizeof(eng_arg) + h->head_len + 1 +
	                          h->target_len + 1 + plen + 1);
	char *head, *raw;

	if (!q)
		return SH_ENOMEM;
	memset(q, 0, sizeof(*q));
	head = (char *)&q->fields[h->nfields];
	memcpy(head, buf, h->head_len);
	head[h->head_len] = '\0';
	q->head = head;
	q->nfields = h->nfields;
	for (size_t i = 0; i < h->nfields; i++) {
		const h1_field *f = &h->fields[i];
		q->fields[i].key = head + (f->name - buf);
		q->fields[i].value = head + (f->value - buf);
		q->fields[i].klen = f->name_len;
		q->fields[i].key[f->name_len] = '\0';   /* was ':' */
		q->fields[i].value[f->value_len] = '\0'; /* was CR or OWS */
	}
	r->eq = q;
	r->method = head + (h->method - buf);
	head[(h->method - buf) + h->method_len] = '\0'; /* was SP */
	raw = head + h->head_len + 1;
	memcpy(raw, h->target, h->target_len);
	raw[h->target_len] = '\0';
	r->raw_buf = raw;
	r->raw_target = raw;
	r->raw_len = h->target_len;
	r->raw_query = qm ? raw + plen + 1 : NULL;
	r->path_buf = raw + h->target_len + 1;
	memcpy(r->path_buf, h->target, plen);
	r->path_buf[plen] = '\0';
	r->path = r->path_buf;
	return 0;
}

/* What the head tells beyond h1parse's checks: the limits as the other
 * engine counts them (a field is name + value + 4 bytes), the Host's
 * syntax, an origin-form target. The status to answer, or 0. */
static int req_check(http_req *r, const h1_request *h)
{
	size_t bytes = 0;

	if (h->target_len > HTTP_REQUEST_LINE_MAX)
		return 414;
	for (size_t i = 0; i < h->nfields; i++)
		bytes += h->fields[i].name_len + h->fields[i].value_len + 4;
	if (h->nfields > HTTP_HEADER_FIELDS_MAX || bytes > HTTP_HEADERS_MAX)
		return 431;
	r->req_bytes = r->raw_len + bytes + h->nfields * HTTP_FIELD_OVERHEAD;
	if (h->host && !http_host_ok(h->host, h->host_len))
		return 400;
	if (h->target[0] != '/')
		return 400; /* absolute-form or '*' targets: not served */
	return 0;
}

/* Answers a request refused before its handler, and closes after. */
static int req_refuse(econn *c, int status)
{
	http_req *r = c->r ? c->r : req_new(c);

	c->keep_alive = false;
	c->close_after = true;
	c->refused = true;
	if (!r) {
		c->state = C_CLOSING;
		return 0;
	}
	if (!r->ip[0])
		http_client_ip(c->L->S, r);
	r->early_status = status;
	timer_unlink(c);
	c->state = C_RUN;
	r->state = ST_DONE;
	http_answer_early(r, status);
	return after_handler(c);
}

/* ---- after the handler ------------------------------------------------------------ */

/* TCP_NODELAY, set only once Nagle's wait for an ACK could hold bytes back:
 * before a second answer (keep-alive), after a 100 Continue, for a streamed
 * answer, or the rest of an answer the socket did not take at once. An answer that goes out in
 * one write on a fresh connection (Connection: close) never waits, and
 * saves the call (as nginx sets tcp_nodelay on keep-alive only). */
static void conn_nodelay(econn *c)
{
	int one = 1;

	if (c->nodelay)
		return;
	c->nodelay = true;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The answer is complete in the output buffer: the next request, or close. */
static void answer_done(econn *c)
{
	req_end(c);
	if (c->close_after || http_stopping()) {
		c->state = C_CLOSING;
		timer_set(c, T_SHORT, false);
		return;
	}
	c->state = C_HEAD;
	c->keep_alive = false;
	conn_nodelay(c);
	if (c->in_off == c->in_len) {
		c->idle = true;
		conn_shrink(c);
		timer_set(c, T_IDLE, false);
	} else {
		c->idle = false; /* the next request began already */
		timer_set(c, T_SHORT, false);
	}
}

static int stream_fill(econn *c);
static int off_block(econn *c, char *p, ssize_t *n);

/* Where the handler (or a unit's reply) left the request. */
static int after_handler(econn *c)
{
	http_req *r = c->r;

	if (r->state == ST_WAIT) {
		c->state = C_WAIT; /* the loop's queue brings it back */
		return 0;
	}
	if (!r->status) { /* no answer (out of memory): nothing we can say */
		conn_close(c);
		return -1;
	}
	if (c->state == C_STREAM)
		return stream_fill(c);
	answer_done(c);
	return 0;
}

static int dispatch(econn *c)
{
	http_req *r = c->r;

	timer_unlink(c); /* no deadline while the handler runs or waits */
	c->state = C_RUN;
	r->state = ST_DONE;
	if (!r->early_status && r->body_too_big)
		r->early_status = 413;
	if (r->early_status) {
		c->close_after = true;
		http_answer_early(r, r->early_status);
	} else {
		/* as under libmicrohttpd: watch jansson's allocations (reply.c) */
		linkjson_watch_begin();
		http_dispatch(r);
	}
	return after_handler(c);
}

/* ---- reading a request --------------------------------------------------------------- */

/* A complete head at in[in_off..]: the request, its checks, its body. */
static int head_done(econn *c, const h1_request *h)
{
	http_server *S = c->L->S;
	const char *buf = c->in + c->in_off;
	http_req *r = req_new(c);
	int st;

	if (!r || req_copy_head(r, buf, h) < 0) {
		c->in_off += h->head_len;
		return req_refuse(c, 503);
	}
	c->in_off += h->head_len;
	c->keep_alive = h->keep_alive;
	c->minor = h->minor;
	r->meth = http_method_bit(r->method);
	http_client_ip(S, r);
	st = !r->w ? 503 : req_check(r, h);
	if (st)
		return req_refuse(c, st);
	if (h->chunked || h->content_length > 0) {
		c->state = C_BODY;
		c->chunked = h->chunked;
		c->body_left = h->chunked ? 0 : (uint64_t)h->content_length;
		if (h->chunked)
			h1_chunked_init(&c->ck);
		else if (!(r->body = malloc(c->body_left + 1)))
			r->early_status = 503; /* read and drop the body, then answer */
		timer_set(c, T_SHORT, false); /* the body within HTTP_REQUEST_TIMEOUT */
		/* RFC 9110 10.1.1: the client waits for this before the body */
		if (h->expect_continue && h->minor == 1 && c->in_off == c->in_len) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			if (out_reserve(c, sizeof(cont) - 1))
				out_add(c, cont, sizeof(cont) - 1);
			conn_nodelay(c); /* the answer will be a second write */
		}
		return 0;
	}
	return dispatch(c);
}

/* Parses what the input buffer holds. 1: progress (call again), 0: needs
 * more bytes, -1: closed. */
static int conn_step(econn *c)
{
	size_t avail = c->in_len - c->in_off;
	int rc;

	if (avail == 0)
		return 0;
	if (c->state == C_HEAD) {
		if (c->idle) { /* a request began: its head within HTTP_REQUEST_TIMEOUT */
			c->idle = false;
			timer_set(c, T_SHORT, true);
		}
		rc = h1_parse_request(c->in + c->in_off, avail, &eng_limits, &c->L->h1);
		if (rc == H1_PARTIAL)
			return 0;
		if ((rc < 0 ? req_refuse(c, -rc) : head_done(c, &c->L->h1)) < 0)
			return -1;
		return 1;
	}
	/* C_BODY */
	http_req *r = c->r;
	if (!c->chunked) {
		size_t take = avail < c->body_left ? avail : (size_t)c->body_left;
		if (r->body && !r->early_status) {
			memcpy((char *)r->body + r->body_len, c->in + c->in_off, take);
			r->body_len += take;
			((char *)r->body)[r->body_len] = '\0';
		}
		c->in_off += take;
		c->body_left -= take;
		if (c->body_left == 0 && dispatch(c) < 0)
			return -1;
		return 1;
	}
	size_t len = avail, used = 0;
	rc = h1_chunked_decode(&c->ck, &eng_limits, c->in + c->in_off, &len, &used);
	if (rc < 0) {
		c->in_off += used;
		return req_refuse(c, -rc) < 0 ? -1 : 1;
	}
	if (len && !r->early_status && http_body_append(r, c->in + c->in_off, len) < 0)
		r->early_status = 503;
	c->in_off += used;
	if (rc == H1_OK)
		return dispatch(c) < 0 ? -1 : 1;
	return used > 0;
}

/* Reads what the socket has. 1: bytes came; 0: none for now; -1: closed. */
static int conn_read(econn *c)
{
	ssize_t n;
	size_t room;

	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	else if (c->in_off && c->in_len == c->in_cap) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_len == c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap * 2 : IN_INIT;
		char *p;
		if (cap > IN_MAX)
			cap = IN_MAX;
		if (cap <= c->in_cap) /* a head the parser should have refused */
			return req_refuse(c, 431) < 0 ? -1 : 1;
		if (!(p = realloc(c->in, cap))) {
			conn_close(c);
			return -1;
		}
		c->in = p;
		c->in_cap = cap;
	}
	room = c->in_cap - c->in_len;
	do
		n = read(c->fd, c->in + c->in_len, room);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		c->in_len += (size_t)n;
		/* a short read emptied the socket: the next bytes bring an edge;
		 * but an end of stream that came with these bytes brings none (its
		 * edge was this one), so read on until the 0 of the end */
		if ((size_t)n < room && !c->peer_shut)
			c->can_read = false;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->can_read = false;
		return 0;
	}
	/* end of stream or an error: nothing more will come */
	if (c->out_off < c->out_len && n == 0) {
		c->state = C_CLOSING; /* the answers already made still go out */
		c->can_read = false;
		return 0;
	}
	conn_close(c);
	return -1;
}

/* Drains a connection whose write side is shut (-1: closed now). */
static int conn_linger(econn *c)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(c->fd, buf, sizeof(buf))) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		conn_close(c);
		return -1;
	}
	return 0;
}

/* ---- writing ------------------------------------------------------------------------- */

/* Sends pending output, adds a streamed answer's next blocks, ends a
 * closing connection. 0, or -1 when the connection was closed. */
static int conn_flush(econn *c)
{
	for (;;) {
		bool progress = false;

		while (c->out_off < c->out_len) {
			ssize_t n =
			    send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
			if (n > 0) {
				c->out_off += (size_t)n;
				progress = true;
			} else if (n < 0 && errno == EINTR) {
				continue;
			} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				break;
			} else {
				conn_close(c);
				return -1;
			}
		}
		if (c->out_off < c->out_len) {
			conn_nodelay(c); /* the rest follows unacknowledged bytes */
			if (progress || !c->wtimer) { /* HTTP_REQUEST_TIMEOUT without progress */
				timer_set(c, T_SHORT, false);
				c->wtimer = true;
			}
			return 0;
		}
		c->out_off = c->out_len = 0;
		if (c->wtimer) {
			c->wtimer = false;
			if (c->state == C_HEAD && c->idle)
				timer_set(c, T_IDLE, false);
			else if (c->state == C_HEAD || c->state == C_BODY)
				timer_set(c, T_SHORT, true);
			else if (c->state == C_WAIT || c->state == C_RUN || c->state == C_SFILL)
				timer_unlink(c);
		}
		if (c->state == C_STREAM) {
			if (stream_fill(c) < 0)
				return -1;
			continue;
		}
		if (c->state == C_CLOSING) {
			/* nothing more is coming (an answer to Connection: close or
			 * HTTP/1.0): close at once, as nginx does; else drain first */
			if (!c->refused && c->in_off == c->in_len && !c->can_read) {
				conn_close(c);
				return -1;
			}
			shutdown(c->fd, SHUT_WR);
			c->state = C_LINGER;
			timer_set(c, T_LINGER, false);
			return conn_linger(c);
		}
		return 0;
	}
}

static void stream_end(econn *c)
{
	if (c->sfree)
		c->sfree(c->sctx);
	c->sfn = NULL;
	c->sfree = NULL;
	c->sctx = NULL;
}

/* Adds blocks of the streamed answer while little output is pending. */
static int stream_fill(econn *c)
{
	while (c->state == C_STREAM && c->out_len - c->out_off < HTTP_STREAM_BLOCK) {
		char *p;
		ssize_t n;

		if (!out_reserve(c, CHUNK_HEAD + HTTP_STREAM_BLOCK + 8)) {
			conn_close(c);
			return -1;
		}
		p = c->out + c->out_len + (c->schunked ? CHUNK_HEAD : 0);
		if (c->r && c->r->off && c->r->off->stream) { /* blocks made on a store thread */
			int rc = off_block(c, p, &n);
			if (rc <= 0)
				return rc;
		} else {
			n = c->sfn(c->sctx, c->spos, p, HTTP_STREAM_BLOCK);
		}
		if (n == (ssize_t)MHD_CONTENT_READER_END_OF_STREAM) {
			stream_end(c);
			if (c->schunked)
				out_add(c, "0\r\n\r\n", 5);
			answer_done(c);
			return 0;
		}
		if (n <= 0 || n > HTTP_STREAM_BLOCK) { /* an error: cut the answer short */
			conn_close(c);
			return -1;
		}
		if (c->schunked) {
			char head[CHUNK_HEAD + 1];
			snprintf(head, sizeof(head), "%08zx\r\n", (size_t)n);
			memcpy(c->out + c->out_len, head, CHUNK_HEAD);
			c->out_len += CHUNK_HEAD + (size_t)n;
			out_add(c, "\r\n", 2);
		} else {
			c->out_len += (size_t)n;
		}
		c->spos += (uint64_t)n;
	}
	return 0;
}

static const char *date_header(eloop *L)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec != L->date_sec) {
		L->date_sec = ts.tv_sec;
		gmtime_r(&ts.tv_sec, &tm);
		strftime(L->date, sizeof(L->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	}
	return L->date;
}

/* Appends s (its length n, or strlen when n is -1). */
static void out_str(econn *c, const char *s, ssize_t n)
{
	out_add(c, s, n < 0 ? strlen(s) : (size_t)n);
}

/* Appends v in decimal: no snprintf on the hot path (two of them were 8%
 * of a redirect's instructions). */
static void out_uint(econn *c, uint64_t v)
{
	char d[20];
	size_t k = sizeof(d);

	do
		d[--k] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	out_add(c, d + k, sizeof(d) - k);
}

/* "HTTP/1.1 302 Found\r\n" */
static void out_status_line(econn *c, int status)
{
	const char *reason = MHD_get_reason_phrase_for((unsigned)status);

	out_add(c, "HTTP/1.1 ", 9);
	out_uint(c, (uint64_t)(status >= 100 && status <= 999 ? status : 500));
	out_add(c, " ", 1);
	out_str(c, reason && *reason ? reason : "Unknown", -1);
	out_add(c, "\r\n", 2);
}

static int off_stage(http_req *r, int status, const eng_hdr *hdrs, int n, const void *body,
                     size_t len, http_stream_fn fn, void *ctx, void (*ctx_free)(void *ctx));

int eng_reply(http_req *r, int status, const eng_hdr *hdrs, int n, const void *body, size_t len,
              http_stream_fn fn, void *ctx, void (*ctx_free)(void *ctx))
{
	econn *c = r->ec;
	bool head = r->meth == HTTP_HEAD, stream = fn != NULL;
	bool close;
	size_t need = 256;

	if (r->off && r->off->j.staging) /* on a store thread: not a byte of c here */
		return off_stage(r, status, hdrs, n, body, len, fn, ctx, ctx_free);
	close = !c->keep_alive || r->early_status || http_stopping();
	if (r->status || c->state != C_RUN) { /* answered already */
		if (ctx_free)
			ctx_free(ctx);
		return MHD_NO;
	}
	if (stream && c->minor == 0)
		close = true; /* no chunked coding in HTTP/1.0: the end is the close */
	for (int i = 0; i < n; i++)
		need += strlen(hdrs[i].name) + strlen(hdrs[i].value) + 4;
	if (!head && !stream)
		need += len;
	if (!out_reserve(c, need)) {
		if (ctx_free)
			ctx_free(ctx);
		return MHD_NO;
	}
	out_status_line(c, status);
	for (int i = 0; i < n; i++) {
		out_str(c, hdrs[i].name, -1);
		out_add(c, ": ", 2);
		out_str(c, hdrs[i].value, -1);
		out_add(c, "\r\n", 2);
	}
	if (close)
		out_add(c, "Connection: close\r\n", 19);
	else if (c->minor == 0)
		out_add(c, "Connection: keep-alive\r\n", 24);
	if (stream) {
		if (c->minor == 1 && !head)
			out_add(c, "Transfer-Encoding: chunked\r\n", 28);
	} else if (status != 204 && status != 304 && status >= 200) {
		out_add(c, "Content-Length: ", 16);
		out_uint(c, len);
		out_add(c, "\r\n", 2);
	}
	const char *date = date_header(c->L);
	out_add(c, date, strlen(date));
	out_add(c, "\r\n", 2);
	if (!head && !stream && len)
		out_add(c, body, len);
	r->status = status;
	c->close_after |= close;
	if (stream) {
		c->sfn = fn;
		c->sctx = ctx;
		c->sfree = ctx_free;
		c->spos = 0;
		c->schunked = c->minor == 1;
		if (head) {
			stream_end(c);
		} else {
			c->state = C_STREAM;
			conn_nodelay(c);
		}
	}
	return MHD_YES;
}

/* ---- a connection's life ------------------------------------------------------------ */

/* Reads, parses and answers while it can; then sends what it made (and
 * goes on with pipelined requests once a streamed answer is out). */
static int conn_run(econn *c)
{
	for (;;) {
		while ((c->state == C_HEAD || c->state == C_BODY) &&
		       c->out_len - c->out_off <= OUT_HIGH) { /* else the client does not read */
			int rc = conn_step(c);
			if (rc < 0)
				return -1;
			if (rc > 0)
				continue;
			if (!c->can_read)
				break;
			rc = conn_read(c);
			if (rc < 0)
				return -1;
			if (rc == 0)
				break;
		}
		bool held = c->state == C_STREAM || c->out_len - c->out_off > OUT_HIGH;
		if (conn_flush(c) < 0)
			return -1;
		/* the answer that held the next requests back is out */
		if (held && (c->state == C_HEAD || c->state == C_BODY) &&
		    c->out_len - c->out_off <= OUT_HIGH)
			continue;
		return 0;
	}
}

static void conn_new(eloop *L, int fd, const struct sockaddr *sa, socklen_t salen)
{
	econn *c = calloc(1, sizeof(*c));
	struct epoll_event ev;

	if (!c) {
		close(fd);
		return;
	}
	c->L = L;
	c->fd = fd;
	c->tclass = T_NONE;
	c->state = C_HEAD;
	c->idle = false; /* the first head: within HTTP_REQUEST_TIMEOUT of the accept */
	c->can_read = true;
	if (salen <= sizeof(c->peer))
		memcpy(&c->peer, sa, salen);
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(L->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		free(c);
		return;
	}
	__atomic_add_fetch(&L->E->nconns, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&L->nconn, 1, __ATOMIC_RELAXED);
	c->next = L->all;
	if (L->all)
		L->all->prev = c;
	L->all = c;
	timer_set(c, T_SHORT, false);
}

/* Takes c off its loop's queue of completed units (under S->jlock). */
static void done_unlink(eloop *L, econn *c)
{
	econn *prev = NULL;

	for (econn *q = L->done_head; q; prev = q, q = q->qnext)
		if (q == c) {
			if (prev)
				prev->qnext = c->qnext;
			else
				L->done_head = c->qnext;
			if (L->done_tail == c)
				L->done_tail = prev;
			break;
		}
	c->queued = false;
}

/* What r->ec of a request whose connection closed while a store thread ran
 * its handler points to: never on a loop, never written to. */
static econn conn_gone = {.state = C_DEAD, .fd = -1};

/* Closes c (freed at the end of the loop's turn, loop_reap); a request
 * whose unit is still at the writer is left to the unit's completion
 * (job_orphan). */
static void conn_close(econn *c)
{
	eloop *L = c->L;
	http_server *S = L->S;

	if (c->sfn)
		stream_end(c);
	if (c->r) { /* only a connection with a request can be queued */
		http_req *r = c->r;
		bool orphan, busy;
		pthread_mutex_lock(&S->jlock);
		if (c->queued) /* its unit's completion waits for the loop: take it off */
			done_unlink(L, c);
		busy = eng_req_busy(r);
		/* counted before it is an orphan, under the lock: once it is, its
		 * unit's completion frees it at once (a store thread counts it
		 * itself: r->w is the thread's). A rare path: a connection that
		 * ends in the middle of a request. */
		if (!busy)
			http_req_done(S, r);
		orphan = http_req_orphan(r, busy); /* eng_job_done, or the store thread, frees it */
		/* a completion already queued skips it (loop_done); a handler
		 * still running on a store thread keeps a connection that says it
		 * is of this engine (its answer goes nowhere) */
		r->ec = busy ? &conn_gone : NULL;
		pthread_mutex_unlock(&S->jlock);
		c->r = NULL;
		if (!orphan)
			http_req_free(r);
	}
	timer_unlink(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		L->all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close(c->fd);
	__atomic_sub_fetch(&L->E->nconns, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&L->nconn, 1, __ATOMIC_RELAXED);
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->fd = -1;
	/* not freed yet: an event for it may still wait in this turn's batch
	 * (another connection's completion closed it meanwhile) */
	c->state = C_DEAD;
	c->dnext = L->dead;
	L->dead = c;
}

/* Frees the connections closed during this turn of the loop. */
static void loop_reap(eloop *L)
{
	while (L->dead) {
		econn *c = L->dead;
		L->dead = c->dnext;
		free(c);
	}
}

static void conn_event(econn *c, uint32_t ev)
{
	if (c->state == C_DEAD) /* closed earlier in this turn */
		return;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->can_read = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->peer_shut = true;
	switch (c->state) {
	case C_WAIT: /* answered from the loop's queue; earlier answers go on */
	case C_SFILL:
		if ((ev & EPOLLOUT) && c->out_off < c->out_len)
			conn_flush(c);
		return;
	case C_RUN:
		return;
	case C_LINGER:
		conn_linger(c);
		return;
	default:
		conn_run(c);
	}
}

/* ---- deferred writes ------------------------------------------------------------------ */

static void loop_wake(eloop *L);

/* Under S->jlock (http_job_complete): queue the connection on its loop and
 * wake the loop, which answers through the unit's reply. */
static void eng_job_resume(http_req *r)
{
	econn *c = r->ec;
	eloop *L = c->L;

	if (c->queued) /* once on the queue is enough: the loop looks at r then */
		return;
	c->qnext = NULL;
	c->queued = true;
	if (L->done_tail)
		L->done_tail->qnext = c;
	else
		L->done_head = c;
	L->done_tail = c;
	loop_wake(L);
}

/* The unit's completion, on the writer's thread. */
static void eng_job_done(svc_unit *u, void *ud)
{
	(void)u;
	http_job_complete(ud, eng_job_resume);
}

int eng_defer(http_req *r, svc_unit *u, http_job_reply reply)
{
	http_server *S = http_srv;
	int rc;

	http_defer_begin(r, u, reply, eng_job_done);
	rc = svc_writer_submit(S->wr, u);
	if (rc < 0) { /* stopping: answered from job_reply through the queue */
		u->rc = rc;
		eng_job_done(u, r);
	}
	return MHD_YES;
}

static void off_replay(http_req *r);

/* The loop's queue: units completed, sockets handed in. */
static void loop_wakeup(eloop *L)
{
	http_server *S = L->S;
	uint64_t v;
	econn *c, *next;
	struct fd_add *adds, *an;

	if (read(L->evfd, &v, sizeof(v)) < 0) { /* EAGAIN: nothing new */
	}
	pthread_mutex_lock(&S->jlock);
	c = L->done_head;
	L->done_head = L->done_tail = NULL;
	adds = L->adds;
	L->adds = NULL;
	pthread_mutex_unlock(&S->jlock);
	for (; c; c = next) {
		/* each stays marked queued until its turn: a second completion of
		 * its request meanwhile (a store thread's and the writer's) finds
		 * it queued and leaves its link to the next alone */
		pthread_mutex_lock(&S->jlock);
		next = c->qnext;
		c->queued = false;
		pthread_mutex_unlock(&S->jlock);
		if ((c->state != C_WAIT && c->state != C_SFILL) || !c->r)
			continue;
		http_req *r = c->r;
		if (eng_req_busy(r))
			continue; /* its store thread queues it again when done */
		if (c->state == C_SFILL) { /* the stream's next block is made */
			c->state = C_STREAM;
			if (stream_fill(c) == 0)
				conn_run(c);
			continue;
		}
		if (!__atomic_load_n(&r->job_finished, __ATOMIC_ACQUIRE))
			continue; /* its unit is still at the writer */
		c->state = C_RUN;
		r->state = ST_DONE;
		linkjson_watch_begin();
		if (r->off && r->off->has_reply)
			off_replay(r);
		else if (r->job_unit)
			r->job_reply(r, r->job_unit->rc);
		if (after_handler(c) == 0)
			conn_run(c); /* the answer, then the next pipelined request */
	}
	for (; adds; adds = an) {
		an = adds->next;
		if (adds->counted) /* conn_new counts it */
			__atomic_sub_fetch(&L->nconn, 1, __ATOMIC_RELAXED);
		if (!adds->plen) { /* eng_add_socket: a socket pair, said to be loopback */
			struct sockaddr_in *sa = (struct sockaddr_in *)&adds->peer;
			memset(sa, 0, sizeof(*sa));
			sa->sin_family = AF_INET;
			sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			adds->plen = sizeof(*sa);
			fcntl(adds->fd, F_SETFL, fcntl(adds->fd, F_GETFL) | O_NONBLOCK);
		}
		conn_new(L, adds->fd, (const struct sockaddr *)&adds->peer, adds->plen);
		free(adds);
	}
	/* stopping: out of the listen set, idle connections closed */
	if (http_stopping() && __atomic_load_n(&L->listening, __ATOMIC_RELAXED)) {
		if (S->lfd >= 0)
			epoll_ctl(L->epfd, EPOLL_CTL_DEL, S->lfd, NULL);
		__atomic_store_n(&L->listening, 0, __ATOMIC_RELEASE);
	}
	if (http_stopping())
		for (c = L->all; c; c = next) {
			next = c->next;
			if (c->state == C_HEAD && c->idle && c->out_off == c->out_len)
				conn_close(c);
		}
}

/* ---- accepting ---------------------------------------------------------------------- */

static void listen_pause(eloop *L)
{
	epoll_ctl(L->epfd, EPOLL_CTL_DEL, L->S->lfd, NULL);
	L->accept_resume = L->now + ACCEPT_PAUSE_NS;
}

static void listen_resume(eloop *L)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &L->tag_listen};

	L->accept_resume = 0;
	if (!http_stopping() && __atomic_load_n(&L->listening, __ATOMIC_RELAXED))
		epoll_ctl(L->epfd, EPOLL_CTL_ADD, L->S->lfd, &ev);
}

/* Out of descriptors: accepting pauses (ACCEPT_PAUSE_NS at a time) and the
 * new connections wait in the kernel's queue, to be served as soon as
 * descriptors are free again (test_slow_clients F9). When it lasts past
 * HTTP_REQUEST_TIMEOUT, the reserve descriptor is given up to accept and
 * close the oldest waiting connection each time (nginx's and libev's way):
 * its client gets a close instead of a hang, and the queue moves. */
static void accept_emfile(eloop *L)
{
	int fd;

	eng_log_limited(L->E, 0, "out of file descriptors (resource limit): new connections wait");
	if (!L->emfile_since)
		L->emfile_since = L->now;
	if (L->now - L->emfile_since >= HTTP_REQUEST_TIMEOUT * NS && L->reserve_fd >= 0) {
		close(L->reserve_fd);
		L->reserve_fd = -1;
		fd = accept4(L->S->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		L->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	listen_pause(L); /* no busy loop while descriptors are short */
}

/* Queues a socket on loop L (its peer address, plen 0 for loopback) and
 * wakes it. */
static bool queue_socket(eloop *L, int fd, const struct sockaddr_storage *peer, socklen_t plen)
{
	http_server *S = L->S;
	struct fd_add *a = malloc(sizeof(*a));

	if (!a)
		return false;
	a->fd = fd;
	a->plen = plen;
	a->counted = plen != 0;
	if (plen)
		memcpy(&a->peer, peer, plen);
	pthread_mutex_lock(&S->jlock);
	a->next = L->adds;
	L->adds = a;
	pthread_mutex_unlock(&S->jlock);
	loop_wake(L);
	return true;
}

/* The kernel wakes whichever loop waits: a loop that is busy with its
 * connections when a burst of them arrives (a client opening 64 at once)
 * would accept them all and leave the other loops idle (measured: one
 * core serving, the other asleep). So a new connection goes to the loop
 * with the fewest when this one has more than one over it. */
static bool hand_over(eloop *L, int fd, const struct sockaddr_storage *ss, socklen_t sl)
{
	struct eng *E = L->E;
	eloop *best = L;
	long least = __atomic_load_n(&L->nconn, __ATOMIC_RELAXED);

	for (unsigned i = 0; i < E->nloops; i++) {
		long n = __atomic_load_n(&E->loops[i].nconn, __ATOMIC_RELAXED);
		if (n + 1 < least) {
			least = n;
			best = &E->loops[i];
		}
	}
	if (best == L || sl > sizeof(*ss))
		return false;
	__atomic_add_fetch(&best->nconn, 1, __ATOMIC_RELAXED); /* counted now: the next accept sees it */
	if (!queue_socket(best, fd, ss, sl)) {
		__atomic_sub_fetch(&best->nconn, 1, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

static void loop_accept(eloop *L)
{
	http_server *S = L->S;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(S->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				accept_emfile(L);
			return;
		}
		L->emfile_since = 0;
		if (L->reserve_fd < 0)
			L->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (http_stopping()) {
			close(fd);
			continue;
		}
		if (__atomic_load_n(&L->E->nconns, __ATOMIC_RELAXED) >= L->E->max_conns) {
			eng_log_limited(L->E, 1, "connection limit reached: closing new connections");
			close(fd);
			continue;
		}
		if (!hand_over(L, fd, &ss, sl))
			conn_new(L, fd, (struct sockaddr *)&ss, sl);
	}
}

/* ---- cache misses that do not wait (svc_resolve_later) -------------------------------
 * On PostgreSQL the loop's worker has a lookup connection of its own: a
 * redirect that misses the cache sends its lookup there and parks its
 * connection (C_WAIT) instead of blocking the loop; the loop watches that
 * connection's socket and answers each parked request when its row comes
 * (http_miss_done, on this thread), or 503 at the store's deadline. */

svc_misses *http_misses(http_req *r)
{
	/* on a store thread r->ec is not ours to look at (and waiting is fine) */
	return r->ec && !offload_on_thread() ? r->ec->L->misses : NULL;
}

void http_miss_wait(http_req *r, http_job_reply reply)
{
	r->job_reply = reply;
	r->job_unit = NULL;
	r->job_finished = false;
	r->job_orphan = false;
	r->state = ST_WAIT; /* after_handler parks the connection */
}

void http_miss_done(void *ud, int rc)
{
	http_req *r = ud;
	econn *c = r->ec;

	r->job_finished = true;
	if (r->job_orphan || !c) { /* the connection went meanwhile */
		http_req_free(r);
		return;
	}
	c->state = C_RUN;
	r->state = ST_DONE;
	linkjson_watch_begin();
	r->job_reply(r, rc);
	if (after_handler(c) == 0)
		conn_run(c); /* the answer, then the next pipelined request */
}

/* On a store thread: the lookup connection made again (a connect may wait
 * up to its deadline), then the loop told. */
static void misses_rejoin_run(offload_job *job)
{
	eloop *L = ((struct misses_rejoin *)job)->L;

	svc_misses_reconnect(L->misses);
	loop_wake(L);
}

/* Answers what came, then keeps epoll on the connection's socket (a
 * reconnect may give it another). A connection found down is made again on
 * a store thread, not here; meanwhile misses go to the store threads. */
static void misses_turn(eloop *L)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &L->tag_misses};
	int fd;

	if (svc_misses_reconnect_wanted(L->misses)) {
		if (http_srv->pool) {
			L->misses_rejoin.L = L;
			L->misses_rejoin.job.run = misses_rejoin_run;
			offload_submit(http_srv->pool, &L->misses_rejoin.job);
		} else { /* no store threads (a caller-run loop): here */
			svc_misses_reconnect(L->misses);
		}
	}
	svc_misses_run(L->misses);
	fd = svc_misses_fd(L->misses);
	if (fd == L->misses_fd)
		return;
	if (L->misses_fd >= 0) /* closed already, or replaced */
		(void)epoll_ctl(L->epfd, EPOLL_CTL_DEL, L->misses_fd, NULL);
	L->misses_fd = -1;
	if (fd >= 0 && (epoll_ctl(L->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ||
	                (errno == EEXIST && epoll_ctl(L->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)))
		L->misses_fd = fd;
}

/* The worker's lookup connection, when the store has them. */
static void misses_open(eloop *L)
{
	sh_err err = {0};

	L->misses_fd = -1;
	if (!L->w || !L->w->target || !L->S->db_url)
		return;
	if (svc_misses_open(L->S->v, L->S->db_url, L->w->target, &L->misses, &err) != 0)
		log_msg(SH_LOG_WARN, "http: cache misses will wait for the store: %s", err.msg);
	else if (L->misses)
		misses_turn(L);
}

/* ---- work that waits on the store, on the store threads (offload.c) ------------------
 * On PostgreSQL every read is a round trip, and a loop that waited for one
 * kept all its other connections waiting (a list of links, a visit
 * export, the /ready ping, a key check the cache does not hold). The
 * routes that read the store (ROUTE_STORE) and a redirect whose miss
 * cannot go on the lookup connection hand their handler to a pool of
 * store threads, each with a worker (store connection, visit buffer,
 * counters) of its own: the connection is parked (C_WAIT) as for a
 * deferred write. The handler runs there; its answer is kept in r->off
 * (off_stage), and the thread queues the connection on its loop, which
 * sends the answer (off_replay). A write the handler defers goes to the
 * writer from there, and the loop answers it once both are done. A
 * streamed answer (a visit export) makes each next block on a store
 * thread too (C_SFILL). A connection closed meanwhile leaves the request
 * to the last of its thread and its unit (job_orphan). */

static void off_run(offload_job *j);

bool eng_offload(http_req *r, http_handler fn)
{
	struct eng_off *o;

	if (!(o = r->off) && !(o = r->off = calloc(1, sizeof(*o))))
		return false; /* out of memory: here, then */
	o->kind = OFF_RUN;
	http_offjob_park(&o->j, r, fn, off_run); /* after_handler parks the connection */
	return true;
}

/* eng_reply on a store thread: the answer, copied, for off_replay. */
static int off_stage(http_req *r, int status, const eng_hdr *hdrs, int n, const void *body,
                     size_t len, http_stream_fn fn, void *ctx, void (*ctx_free)(void *ctx))
{
	struct eng_off *o = r->off;
	size_t hlen = 0;
	char *p;

	if (o->has_reply || n > OFF_HDRS_MAX) {
		if (ctx_free)
			ctx_free(ctx);
		return MHD_NO;
	}
	for (int i = 0; i < n; i++)
		hlen += strlen(hdrs[i].name) + strlen(hdrs[i].value) + 2;
	o->hmem = malloc(hlen ? hlen : 1);
	o->body = len ? malloc(len) : NULL;
	if (!o->hmem || (len && !o->body)) {
		free(o->hmem);
		free(o->body);
		o->hmem = o->body = NULL;
		if (ctx_free)
			ctx_free(ctx);
		return MHD_NO;
	}
	p = o->hmem;
	for (int i = 0; i < n; i++) {
		size_t a = strlen(hdrs[i].name) + 1, b = strlen(hdrs[i].value) + 1;
		o->h[i].name = memcpy(p, hdrs[i].name, a);
		o->h[i].value = memcpy(p + a, hdrs[i].value, b);
		p += a + b;
	}
	if (len)
		memcpy(o->body, body, len);
	o->nh = n;
	o->len = len;
	o->status = status;
	o->sfn = fn;
	o->sctx = ctx;
	o->sfree = ctx_free;
	o->has_reply = true;
	return MHD_YES;
}

/* On the loop: the answer the store thread made. */
static void off_replay(http_req *r)
{
	struct eng_off *o = r->off;

	o->has_reply = false;
	o->stream = o->sfn != NULL;
	/* a stream's context stays with o (freed with r): a block may be in
	 * the making on a store thread when the connection goes */
	(void)eng_reply(r, o->status, o->h, o->nh, o->body, o->len, o->sfn, o->sctx, NULL);
	free(o->hmem);
	free(o->body);
	o->hmem = o->body = NULL;
}

/* stream_fill's next block of an answer made on the store threads, into
 * p: 1 with *n, or 0 after asking a thread for it (C_SFILL), or -1 closed. */
static int off_block(econn *c, char *p, ssize_t *n)
{
	struct eng_off *o = c->r->off;

	if (o->blk_ready) {
		o->blk_ready = false;
		*n = o->blk_n;
		if (*n > 0 && *n <= HTTP_STREAM_BLOCK)
			memcpy(p, o->blk, (size_t)*n);
		return 1;
	}
	if (!o->blk && !(o->blk = malloc(HTTP_STREAM_BLOCK))) {
		conn_close(c);
		return -1;
	}
	o->kind = OFF_FILL;
	o->spos = c->spos;
	c->state = C_SFILL;
	http_offjob_submit(&o->j, c->r, off_run);
	return 0;
}

/* The next block of the streamed answer (ok false: no worker). */
static void off_fill(http_offjob *j, bool ok)
{
	struct eng_off *o = (struct eng_off *)j;

	o->blk_n = ok ? o->sfn(o->sctx, o->spos, o->blk, HTTP_STREAM_BLOCK)
	              : (ssize_t)MHD_CONTENT_READER_END_WITH_ERROR;
	o->blk_ready = true;
}

/* A store thread's job: the handler, or a block of its stream; then the
 * loop's queue. */
static void off_run(offload_job *job)
{
	struct eng_off *o = (struct eng_off *)job;

	http_offjob_run(&o->j, o->kind == OFF_FILL ? off_fill : NULL, eng_job_resume);
}

bool eng_req_busy(const http_req *r)
{
	return r->off && __atomic_load_n(&r->off->j.busy, __ATOMIC_ACQUIRE);
}

/* ---- the loop ------------------------------------------------------------------------- */

/* One turn: waits for events (up to the next deadline, or timeout_ms when
 * that is sooner and not negative), handles them, expires deadlines, frees
 * the connections closed during the turn. */
static void loop_once(eloop *L, int timeout_ms)
{
	struct epoll_event ev[EVENTS_MAX];
	int wait;

	L->now = sh_mono_ns();
	wait = next_timeout_ms(L);
	if (timeout_ms >= 0 && timeout_ms < wait)
		wait = timeout_ms;
	if (L->misses) {
		int mw = svc_misses_timeout_ms(L->misses);
		if (mw >= 0 && mw < wait)
			wait = mw;
	}
	int n = epoll_wait(L->epfd, ev, EVENTS_MAX, wait);
	L->now = sh_mono_ns();
	for (int i = 0; i < n; i++) {
		void *p = ev[i].data.ptr;
		if (p == &L->tag_listen)
			loop_accept(L);
		else if (p == &L->tag_event)
			loop_wakeup(L);
		else if (p != &L->tag_misses) /* run below */
			conn_event(p, ev[i].events);
	}
	if (L->misses)
		misses_turn(L);
	if (L->accept_resume && L->now >= L->accept_resume)
		listen_resume(L);
	timers_expire(L);
	loop_reap(L);
}

static void *loop_main(void *arg)
{
	eloop *L = arg;
	char name[16];

	/* "http-0", "http-1": scripts/bench counts the HTTP threads' CPU by
	 * this prefix (libmicrohttpd's are "MHD-worker") */
	snprintf(name, sizeof(name), "http-%u", (unsigned)(L - L->E->loops) % 1000u);
	pthread_setname_np(pthread_self(), name);
	L->w = http_worker_get(); /* this thread's worker (read connection, visits) */
	misses_open(L);
	while (!__atomic_load_n(&L->quit, __ATOMIC_ACQUIRE))
		loop_once(L, -1);
	return NULL;
}

void eng_poll(http_server *S, int timeout_ms)
{
	eloop *L = &S->eng->loops[0];

	if (!L->w)
		L->w = http_worker_get(); /* the caller's worker */
	loop_once(L, timeout_ms);
}

static int loop_init(struct eng *E, eloop *L)
{
	http_server *S = E->S;
	struct epoll_event ev;

	L->E = E;
	L->S = S;
	L->epfd = epoll_create1(EPOLL_CLOEXEC);
	L->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	L->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	L->tdur[T_SHORT] = HTTP_REQUEST_TIMEOUT * NS;
	L->tdur[T_IDLE] = (int64_t)S->idle_timeout * NS;
	L->tdur[T_LINGER] = LINGER_NS;
	if (L->epfd < 0 || L->evfd < 0)
		return SH_ENOMEM;
	ev.events = EPOLLIN;
	ev.data.ptr = &L->tag_event;
	if (epoll_ctl(L->epfd, EPOLL_CTL_ADD, L->evfd, &ev) < 0)
		return SH_ENOMEM;
	if (S->lfd >= 0) {
		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		ev.data.ptr = &L->tag_listen;
		if (epoll_ctl(L->epfd, EPOLL_CTL_ADD, S->lfd, &ev) < 0)
			return SH_ENOMEM;
		L->listening = 1;
	}
	return 0;
}

static void loop_wake(eloop *L)
{
	uint64_t one = 1;

	if (write(L->evfd, &one, sizeof(one)) < 0) { /* a counter: never full */
	}
}

int eng_start(http_server *S, unsigned threads, sh_err *err)
{
	struct eng *E = calloc(1, sizeof(*E));

	if (!E || !(E->loops = calloc(threads, sizeof(eloop)))) {
		free(E);
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	}
	E->S = S;
	E->nloops = threads;
	E->max_conns = S->cfg->max_connections > 0 ? S->cfg->max_connections : 10000;
	S->eng = E;
	/* every loop accepts until EAGAIN: a blocking accept would hang a loop
	 * whose connection another loop took */
	if (S->lfd >= 0)
		fcntl(S->lfd, F_SETFL, fcntl(S->lfd, F_GETFL) | O_NONBLOCK);
	for (unsigned i = 0; i < threads; i++)
		E->loops[i].epfd = E->loops[i].evfd = E->loops[i].reserve_fd = -1;
	for (unsigned i = 0; i < threads; i++) {
		eloop *L = &E->loops[i];
		if (loop_init(E, L) < 0 ||
		    (!S->caller_loop && pthread_create(&L->th, NULL, loop_main, L) != 0)) {
			eng_stop(S);
			return sh_err_set(err, SH_ENOMEM, "listen", "cannot start the HTTP loops");
		}
		L->started = !S->caller_loop; /* a thread to stop */
	}
	return 0;
}

void eng_stop_listening(http_server *S)
{
	struct eng *E = S->eng;
	int64_t deadline = sh_mono_ns() + NS;

	if (!E)
		return;
	for (unsigned i = 0; i < E->nloops; i++)
		if (E->loops[i].started)
			loop_wake(&E->loops[i]);
	for (unsigned i = 0; i < E->nloops; i++)
		while (E->loops[i].started &&
		       __atomic_load_n(&E->loops[i].listening, __ATOMIC_ACQUIRE) &&
		       sh_mono_ns() < deadline)
			usleep(1000);
	if (S->lfd >= 0) { /* from now on the kernel refuses new connections */
		close(S->lfd);
		S->lfd = -1;
	}
}

void eng_stop(http_server *S)
{
	struct eng *E = S->eng;

	if (!E)
		return;
	for (unsigned i = 0; i < E->nloops; i++) {
		eloop *L = &E->loops[i];
		if (!L->started)
			continue;
		__atomic_store_n(&L->quit, 1, __ATOMIC_RELEASE);
		loop_wake(L);
		pthread_join(L->th, NULL);
		L->started = false;
	}
	for (unsigned i = 0; i < E->nloops; i++) {
		eloop *L = &E->loops[i];
		struct fd_add *a, *an;
		while (L->all)
			conn_close(L->all);
		/* after the connections: their misses in flight free the requests;
		 * a reconnect on a store thread ends first (its connect deadline) */
		while (L->misses && svc_misses_reconnecting(L->misses))
			usleep(1000);
		svc_misses_close(L->misses);
		L->misses = NULL;
		loop_reap(L);
		free(L->spare);
		L->spare = NULL;
		pthread_mutex_lock(&S->jlock);
		L->done_head = L->done_tail = NULL;
		a = L->adds;
		L->adds = NULL;
		pthread_mutex_unlock(&S->jlock);
		for (; a; a = an) {
			an = a->next;
			close(a->fd);
			free(a);
		}
		if (L->epfd >= 0)
			close(L->epfd);
		if (L->evfd >= 0)
			close(L->evfd);
		if (L->reserve_fd >= 0)
			close(L->reserve_fd);
	}
	free(E->loops);
	free(E);
	S->eng = NULL;
}

int eng_add_socket(http_server *S, int fd)
{
	struct eng *E = S->eng;
	eloop *L = &E->loops[__atomic_fetch_add(&E->rr, 1, __ATOMIC_RELAXED) % E->nloops];

	if (!queue_socket(L, fd, NULL, 0)) {
		close(fd);
		return SH_ENOMEM;
	}
	return 0;
}

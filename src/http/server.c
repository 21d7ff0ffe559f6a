/*
 * server.c — the HTTP service: libmicrohttpd setup, the life of a request,
 * the per-thread workers, the writer thread (group commit) and shutdown.
 *
 * Threads (DESIGN.md "Threads and the path of a request"):
 *   main      opens the store, migrates, opens the service, binds, starts
 *             libmicrohttpd and the writer, then waits for SIGTERM/SIGINT.
 *   workers   libmicrohttpd's epoll thread pool. Each lazily creates its
 *             http_worker (thread-local): a read-only store connection, a
 *             visit buffer, counters. The registry below keeps them all so
 *             the writer can drain the buffers and shutdown can close them.
 *   writer    the service's (service/writer.c): owns the write connection,
 *             runs the queued units of work in group commits, flushes the
 *             visit buffers. Here a write only suspends its connection,
 *             submits its unit, and is resumed by the unit's completion.
 *
 * The access handler is called several times per request: first with the
 * headers (we check limits, remember the request), then with body pieces
 * (copied, bounded), then with *upload_data_size == 0 (we dispatch), and,
 * for a deferred write, once more after the writer resumed the connection
 * (we answer from the unit's result). Answers are queued only on the last
 * calls: queueing on the first call makes libmicrohttpd close the
 * connection. The exception is a body we already know we refuse (413 by
 * Content-Length): answered at once, and the connection is closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shorty/http.h"
#include "shorty/linkjson.h"
#include "shorty/log.h"
#include "shorty/timeutil.h"
#include "http/internal.h"

/* Timeouts. libmicrohttpd 0.9.75 has one idle timeout per connection (it
 * restarts on every byte), so a client sending a header byte every 9 s would
 * never hit it. Hence two mechanisms:
 *   - the idle timeout is HTTP_REQUEST_TIMEOUT (10 s) while a request is on
 *     the wire (headers, body, sending the answer) and cfg->idle_timeout
 *     (60 s by default) between requests of a keep-alive connection;
 *   - a deadline per connection: the headers must be complete within
 *     HTTP_REQUEST_TIMEOUT of the connection's accept or of the request line,
 *     and within idle_timeout of the previous answer; a body must be complete
 *     within HTTP_REQUEST_TIMEOUT of the headers. conn_deadlines_sweep()
 *     (main thread, twice a second) shuts down the sockets that missed it,
 *     so a slowloris connection is closed 10-10.5 s after it opened,
 *     whatever its pace. */
#define HTTP_REQUEST_TIMEOUT 10        /* seconds: header/body deadline, send idle */
#define HTTP_SWEEP_NS 500000000LL      /* how often the deadlines are checked */
#define SHUTDOWN_GRACE_NS 6000000000LL /* in-flight requests may take this long */
#define TRUSTED_MAX 32
#define XFF_ENTRIES_MAX 32

enum req_state {
	ST_HEADERS = 0, /* first call not seen yet */
	ST_BODY,        /* receiving the body */
	ST_WAIT,        /* suspended, unit submitted to the writer */
	ST_DONE,        /* answered */
};

typedef struct cidr {
	int family;
	unsigned char addr[16];
	int bits;
} cidr;

struct http_server {
	const sh_config *cfg;
	svc *v;
	svc_writer *wr; /* the service's writer (owns the write connection) */
	char *db_url;   /* what workers open */
	struct MHD_Daemon *d;

	pthread_mutex_t wlock; /* registry of workers */
	http_worker *workers;
	size_t nworkers;

	pthread_mutex_t jlock; /* deferred requests: finished / orphan */
	bool daemon_gone;      /* no more MHD_resume_connection */

	int stopping;  /* atomic: shutdown began */
	long inflight; /* atomic: requests not yet completed */

	int ntrusted;
	cidr trusted[TRUSTED_MAX];

	pthread_mutex_t clock; /* the connections with their header deadlines */
	struct conn_track *conns;
	unsigned idle_timeout; /* seconds, between requests */
	int64_t mhd_log_ns[4]; /* last time each rate-limited message was logged */
	unsigned mhd_log_dropped[4];

	int lfd; /* the listen socket, -1 without one */
};

http_server *http_srv;
static __thread http_worker *tls_worker;

bool http_stopping(void)
{
	return __atomic_load_n(&http_srv->stopping, __ATOMIC_RELAXED) != 0;
}

/* ---- workers ------------------------------------------------------------- */

static void worker_open_store(http_server *S, http_worker *w)
{
	sh_err err = {0};
	int64_t now = sh_mono_ns();

	if (w->rs || now - w->rs_retry_ns < 1000000000LL)
		return;
	w->rs_retry_ns = now;
	if (svc_store_open(&w->rs, S->db_url, S->cfg, SVC_STORE_READER, &err) < 0) {
		w->rs = NULL;
		log_msg(SH_LOG_ERROR, "worker: cannot open the store for reading: %s", err.msg);
	}
}

http_worker *http_worker_get(void)
{
	http_server *S = http_srv;
	http_worker *w = tls_worker;

	if (w) {
		if (!w->rs)
			worker_open_store(S, w);
		return w;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->vb = svc_writer_visitbuf(S->wr); /* the writer frees it */
	w->m = http_metrics_create();
	w->target = malloc(svc_target_size(S->v));
	w->target_cap = svc_target_size(S->v);
	if (!w->vb || !w->m || !w->target) {
		free(w->m);
		free(w->target);
		free(w);
		return NULL;
	}
	w->rs_retry_ns = sh_mono_ns() - 2000000000LL;
	worker_open_store(S, w);
	pthread_mutex_lock(&S->wlock);
	w->next = S->workers;
	S->workers = w;
	S->nworkers++;
	pthread_mutex_unlock(&S->wlock);
	tls_worker = w;
	return w;
}

/* Calls fn on every worker, under the registry lock. */
void http_workers_each(void (*fn)(http_worker *w, void *ud), void *ud)
{
	pthread_mutex_lock(&http_srv->wlock);
	for (http_worker *w = http_srv->workers; w; w = w->next)
		fn(w, ud);
	pthread_mutex_unlock(&http_srv->wlock);
}

static void workers_free(http_server *S)
{
	http_worker *w = S->workers, *next;

	for (; w; w = next) {
		next = w->next;
		if (w->rs)
			svc_store_close(w->rs);
		free(w->m);
		free(w->target);
		free(w->loc);
		free(w);
	}
	S->workers = NULL;
}

/* ---- trusted proxies and the client address ----------------------------- */

static int cidr_parse(const char *s, size_t n, cidr *out)
{
	char buf[64];
	const char *slash;
	int maxbits;

	if (n == 0 || n >= sizeof(buf))
		return SH_EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (slash)
		buf[slash - buf] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		maxbits = 128;
	} else {
		return SH_EINVAL;
	}
	out->bits = maxbits;
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || b < 0 || b > maxbits)
			return SH_EINVAL;
		out->bits = (int)b;
	}
	return 0;
}

static bool cidr_match(const cidr *c, int family, const unsigned char *addr)
{
	int full, rest;

	if (c->family != family)
		return false;
	full = c->bits / 8;
	rest = c->bits % 8;
	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return false;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((c->addr[full] & mask) != (addr[full] & mask))
			return false;
	}
	return true;
}

static bool addr_trusted(http_server *S, const char *ip, size_t n)
{
	char buf[HTTP_IP_MAX];
	unsigned char a[16];
	int fam;

	if (S->ntrusted == 0 || n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, ip, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, a) == 1)
		fam = AF_INET;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		fam = AF_INET6;
	else
		return false;
	for (int i = 0; i < S->ntrusted; i++)
		if (cidr_match(&S->trusted[i], fam, a))
			return true;
	return false;
}

static void trusted_init(http_server *S)
{
	const char *p = S->cfg->trusted_proxies;

	S->ntrusted = 0;
	while (p && *p && S->ntrusted < TRUSTED_MAX) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		const char *b = p;
		while (n && (*b == ' ' || *b == '\t')) {
			b++;
			n--;
		}
		while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
			n--;
		if (n && cidr_parse(b, n, &S->trusted[S->ntrusted]) == 0)
			S->ntrusted++;
		else if (n)
			log_msg(SH_LOG_WARN,
			        "trusted-proxies: ignoring \"%.*s\" (not an address or CIDR)",
			        (int)n, b);
		p = e ? e + 1 : NULL;
	}
}

/* The client address: the peer, or — when the peer is a trusted proxy — the
 * rightmost X-Forwarded-For entry that is not itself a trusted proxy. */
static void client_ip(http_server *S, http_req *r)
{
	const union MHD_ConnectionInfo *ci;
	const char *xff;

	r->ip[0] = '\0';
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			svc_ip4_format(
			    (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)
			        ->sin_addr,
			    r->ip);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
			          &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			          r->ip, sizeof(r->ip));
	}
	if (S->ntrusted == 0 || !addr_trusted(S, r->ip, strlen(r->ip)))
		return;
	xff = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Forwarded-For");
	if (!xff)
		return;
	/* walk from the right, at most XFF_ENTRIES_MAX entries */
	size_t end = strlen(xff);
	for (int k = 0; k < XFF_ENTRIES_MAX && end > 0; k++) {
		size_t start = end;
		while (start > 0 && xff[start - 1] != ',')
			start--;
		size_t b = start, e = end;
		while (b < e && (xff[b] == ' ' || xff[b] == '\t'))
			b++;
		while (e > b && (xff[e - 1] == ' ' || xff[e - 1] == '\t'))
			e--;
		if (e > b && e - b < HTTP_IP_MAX) {
			char buf[HTTP_IP_MAX];
			unsigned char a[16];
			memcpy(buf, xff + b, e - b);
			buf[e - b] = '\0';
			if (inet_pton(AF_INET, buf, a) != 1 && inet_pton(AF_INET6, buf, a) != 1)
				return; /* garbage: keep what we have */
			memcpy(r->ip, buf, e - b + 1);
			if (!addr_trusted(S, buf, e - b))
				return;
		} else {
			return;
		}
		end = start ? start - 1 : 0;
	}
}

/* ---- deferring a write to the service's writer ---------------------------- */

static void http_req_free(http_req *r);

/* The unit's completion, on the writer's thread: resume the connection,
 * whose next access-handler call answers from the unit (or free the request
 * when its connection went away meanwhile). */
static void job_done(svc_unit *u, void *ud)
{
	http_req *r = ud;
	http_server *S = http_srv;

	(void)u;
	pthread_mutex_lock(&S->jlock);
	r->job_finished = true;
	if (r->job_orphan) {
		pthread_mutex_unlock(&S->jlock);
		http_req_free(r); /* frees the unit too (r->ud) */
		return;
	}
	if (!S->daemon_gone)
		MHD_resume_connection(r->conn);
	pthread_mutex_unlock(&S->jlock);
}

int http_defer(http_req *r, svc_unit *u, http_job_reply reply)
{
	http_server *S = http_srv;
	int rc;

	r->job_reply = reply;
	r->job_unit = u;
	r->job_finished = false;
	r->state = ST_WAIT;
	u->done = job_done;
	u->done_ud = r;
	/* suspend first: the writer may resume before we return */
	MHD_suspend_connection(r->conn);
	rc = svc_writer_submit(S->wr, u);
	if (rc < 0) { /* stopping: answered from job_reply on the next call */
		u->rc = rc;
		pthread_mutex_lock(&S->jlock);
		r->job_finished = true;
		pthread_mutex_unlock(&S->jlock);
		MHD_resume_connection(r->conn);
	}
	return MHD_YES;
}

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
static void conn_phase(http_server *S, struct MHD_Connection *c, int64_t deadline_ns,
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
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	http_server *S = cls;

	(void)addr;
	(void)addrlen;
	return __atomic_load_n(&S->stopping, __ATOMIC_RELAXED) ? MHD_NO : MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
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
static void conn_deadlines_sweep(http_server *S)
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

/* ---- the request life cycle -------------------------------------------------- */

static void http_req_free(http_req *r)
{
	if (r->ud_free)
		r->ud_free(r->ud);
	for (int i = 0; i < r->nextra; i++) {
		free(r->extra[i].name);
		free(r->extra[i].value);
	}
	http_form_free(r);
	free((void *)r->body);
	free(r->raw_buf);
	free(r->path_buf);
	free(r);
}

/* libmicrohttpd calls this with the raw request target before it parses
 * it: we keep a copy (the redirect forwards the raw query; the router works
 * on the raw path, not on the %-decoded one). Its result is *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	http_server *S = cls;
	http_req *r = calloc(1, sizeof(*r));
	size_t n;

	/* a request began: its headers get HTTP_REQUEST_TIMEOUT from now */
	conn_phase(S, c, sh_mono_ns() + HTTP_REQUEST_TIMEOUT * 1000000000LL, HTTP_REQUEST_TIMEOUT);
	if (!r)
		return NULL;
	__atomic_add_fetch(&S->inflight, 1, __ATOMIC_RELAXED);
	r->t0_ns = sh_mono_ns();
	r->route = ROUTE_LABEL_OTHER; /* until the router finds one */
	n = strlen(uri);
	r->raw_len = n;
	if (n > HTTP_REQUEST_LINE_MAX)
		n = 0; /* answered 414 later; keep nothing */
	r->raw_buf = malloc(n + 1);
	if (r->raw_buf) {
		memcpy(r->raw_buf, uri, n);
		r->raw_buf[n] = '\0';
	}
	return r;
}

#define HTTP_LOG_TARGET_MAX 1024

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	http_server *S = cls;
	http_req *r = *con_cls;

	/* answered, the connection stays: the next request's headers must be
	 * complete within the keep-alive idle time */
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		conn_phase(S, c, sh_mono_ns() + (int64_t)S->idle_timeout * 1000000000LL,
		           S->idle_timeout);
	if (!r)
		return;
	*con_cls = NULL;
	if (r->w && r->status)
		http_metrics_request(r->w->m, r->route, r->status, sh_mono_ns() - r->t0_ns);
	if (S->cfg->access_log && r->status) {
		char target[HTTP_LOG_TARGET_MAX];
		log_msg(SH_LOG_INFO, "%s %s %s %d", r->ip, r->method ? r->method : "-",
		        http_log_target(r->raw_buf, target, sizeof target), r->status);
	}
	__atomic_sub_fetch(&S->inflight, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&S->jlock);
	if (r->state == ST_WAIT && !r->job_finished) {
		r->job_orphan = true; /* job_done frees it */
		pthread_mutex_unlock(&S->jlock);
		return;
	}
	pthread_mutex_unlock(&S->jlock);
	http_req_free(r);
}

static unsigned method_bit(const char *m)
{
	static const struct {
		const char *name;
		unsigned bit;
	} tab[] = {
	    {"GET", HTTP_GET},         {"HEAD", HTTP_HEAD},   {"POST", HTTP_POST},
	    {"PUT", HTTP_PUT},         {"PATCH", HTTP_PATCH}, {"DELETE", HTTP_DELETE},
	    {"OPTIONS", HTTP_OPTIONS},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(m, tab[i].name) == 0)
			return tab[i].bit;
	return HTTP_OTHER;
}

struct hdr_count {
	size_t n, bytes, hosts, cls, tes;
	bool bad; /* a field no proxy in front of us would read the same way */
};

static bool tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 3986 host[:port]: reg-name, IP literal, port. */
static bool host_ok(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      strchr("-._~!$&'()*+,;=:%[]", c)))
			return false;
	}
	return true;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
	struct hdr_count *h = cls;

	(void)kind;
	h->n++;
	h->bytes += key_size + value_size + 4;
	/* RFC 9110 5.1, 5.5: a token for the name; no NUL, CR, LF or other
	 * control character in the value (HTAB and obs-text are fine) */
	if (key_size == 0 || strlen(key) != key_size || (value && strlen(value) != value_size))
		h->bad = true;
	for (size_t i = 0; i < key_size && !h->bad; i++)
		if (!tchar((unsigned char)key[i]))
			h->bad = true;
	for (size_t i = 0; value && i < value_size && !h->bad; i++) {
		unsigned char c = (unsigned char)value[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			h->bad = true;
	}
	if (strcasecmp(key, "Host") == 0) {
		h->hosts++;
		if (!value || !host_ok(value, value_size))
			h->bad = true;
	}
	if (strcasecmp(key, "Content-Length") == 0)
		h->cls++;
	if (strcasecmp(key, "Transfer-Encoding") == 0)
		h->tes++;
	return MHD_YES;
}

/* First call: everything that can be checked from the headers. Returns the
 * status to answer (0 = go on). *has_body true also means "answer now and
 * close": set for every framing error, so that bytes after them are never
 * read as a request of their own (smuggling). */
static int check_headers(http_req *r, const char *version, bool *has_body)
{
	struct hdr_count h = {0};
	const char *cl, *te;

	if (r->raw_len > HTTP_REQUEST_LINE_MAX)
		return 414;
	if (!r->raw_buf) /* on_uri could not copy it: out of memory */
		return 503;
	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, count_header, &h);
	if (h.n > HTTP_HEADER_FIELDS_MAX || h.bytes > HTTP_HEADERS_MAX)
		return 431;
	r->req_bytes = r->raw_len + h.bytes + h.n * HTTP_FIELD_OVERHEAD;
	cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
	te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Transfer-Encoding");
	*has_body = (cl && strcmp(cl, "0") != 0) || te;
	/* RFC 9112 6.3: CL with TE, several CL or TE fields, bad fields */
	if (h.bad || h.cls > 1 || h.tes > 1 || (cl && te)) {
		*has_body = true;
		return 400;
	}
	if (te && strcasecmp(te, "chunked") != 0) {
		*has_body = true;
		for (const char *p = te; *p; p++)
			if (!tchar((unsigned char)*p))
				return 400; /* "chunked, chunked", ",chunked" */
		return 501;                 /* a coding we do not implement: gzip */
	}
	if (r->raw_buf[0] != '/')
		return 400; /* absolute-form or '*' targets: not served */
	/* RFC 9112 3.2: exactly one Host in HTTP/1.1 */
	if (h.hosts > 1 || (h.hosts == 0 && version && strcmp(version, "HTTP/1.1") == 0))
		return 400;
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		if (errno || *end || end == cl || cl[0] == '-' || cl[0] == '+') {
			*has_body = true;
			return 400;
		}
		if (v > HTTP_BODY_MAX)
			return 413;
	}
	return 0;
}

static int answer_early(http_req *r, int status)
{
	switch (status) {
	case 400:
		return http_reply_problem(r, 400, NULL, "Bad Request",
		                          "The request could not be parsed.", NULL);
	case 413:
		return http_reply_problem(r, 413, NULL, "Content Too Large",
		                          "The request body is larger than 65536 bytes.", NULL);
	case 414:
		return http_reply_problem(r, 414, NULL, "URI Too Long",
		                          "The request target is longer than 8192 bytes.", NULL);
	case 501:
		return http_reply_problem(r, 501, NULL, "Not Implemented",
		                          "Transfer-Encoding: only chunked is supported.", NULL);
	case 431:
		return http_reply_problem(r, 431, NULL, "Request Header Fields Too Large",
		                          "The request headers exceed 16384 bytes or 100 fields.",
		                          NULL);
	default:
		return http_reply_problem(r, 503, NULL, "Service Unavailable",
		                          "The service cannot answer right now; retry shortly.",
		                          NULL);
	}
}

static int body_append(http_req *r, const char *data, size_t n)
{
	char *b = (char *)r->body;

	if (r->body_too_big)
		return 0;
	if (r->body_len + n > HTTP_BODY_MAX) {
		r->body_too_big = true;
		free(b);
		r->body = NULL;
		r->body_len = r->body_cap = 0;
		return 0;
	}
	if (r->body_len + n + 1 > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 1024;
		while (cap < r->body_len + n + 1)
			cap *= 2;
		if (cap > HTTP_BODY_MAX + 1)
			cap = HTTP_BODY_MAX + 1;
		b = realloc(b, cap);
		if (!b)
			return SH_ENOMEM;
		r->body = b;
		r->body_cap = cap;
	}
	memcpy(b + r->body_len, data, n);
	r->body_len += n;
	b[r->body_len] = '\0';
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	http_server *S = cls;
	http_req *r = *con_cls;

	(void)url;
	if (!r)
		return MHD_NO; /* out of memory at on_uri: nothing we can say */

	switch (r->state) {
	case ST_HEADERS: {
		bool has_body = false;
		int st;

		conn_phase(S, c, 0, HTTP_REQUEST_TIMEOUT); /* headers complete */
		r->conn = c;
		r->v = S->v;
		r->cfg = S->cfg;
		r->method = method;
		r->meth = method_bit(method);
		r->w = http_worker_get();
		r->raw_target = r->raw_buf;
		client_ip(S, r);
		st = r->w ? check_headers(r, version, &has_body) : 503;
		if (st == 0) {
			const char *q = strchr(r->raw_buf, '?');
			size_t plen = q ? (size_t)(q - r->raw_buf) : strlen(r->raw_buf);
			r->raw_query = q ? q + 1 : NULL;
			r->path_buf = strndup(r->raw_buf, plen);
			if (!r->path_buf)
				st = 503;
			r->path = r->path_buf;
		}
		r->state = ST_BODY;
		if (has_body) /* the body gets HTTP_REQUEST_TIMEOUT from now */
			conn_phase(S, c, sh_mono_ns() + HTTP_REQUEST_TIMEOUT * 1000000000LL,
			           HTTP_REQUEST_TIMEOUT);
		if (st) {
			r->early_status = st;
			/* with a body still coming, answer now (the connection will
			 * be closed); without one, answer on the next call so that
			 * keep-alive survives */
			if (has_body || st == 413) {
				r->state = ST_DONE;
				return (enum MHD_Result)answer_early(r, st);
			}
		}
		return MHD_YES;
	}
	case ST_BODY:
		if (*upload_data_size) {
			if (!r->early_status && body_append(r, upload_data, *upload_data_size) < 0)
				r->early_status = 503;
			*upload_data_size = 0;
			return MHD_YES;
		}
		conn_phase(S, c, 0, HTTP_REQUEST_TIMEOUT); /* body complete */
		r->state = ST_DONE;
		if (r->early_status)
			return (enum MHD_Result)answer_early(r, r->early_status);
		if (r->body_too_big) {
			r->early_status = 413;
			return (enum MHD_Result)answer_early(r, 413);
		}
		/* watch jansson's allocations while the answer is built: a JSON
		 * answer built or written while one failed is not sent (reply.c) */
		linkjson_watch_begin();
		return (enum MHD_Result)http_dispatch(r);
	case ST_WAIT:
		if (!r->job_finished) /* spurious: not ours to answer yet */
			return MHD_YES;
		r->state = ST_DONE;
		linkjson_watch_begin();
		return (enum MHD_Result)r->job_reply(r, r->job_unit->rc);
	default:
		return MHD_YES;
	}
}

/* ---- logging from libmicrohttpd ------------------------------------------------ */

/* Messages that come once per event under descriptor exhaustion (EMFILE),
 * at the connection limit or from clients that drop (slowloris closed at its
 * deadline): logged at most once a second each, with the count left out. */
static const char *const mhd_log_limited[4] = {
    "Error accepting connection", "Hit process or system resource limit",
    "Server reached connection limit", "Connection socket is closed"};

static bool mhd_log_allowed(http_server *S, const char *fmt, unsigned *dropped)
{
	int64_t now = sh_mono_ns();
	bool ok = true;

	for (int i = 0; i < 4; i++) {
		if (strncmp(fmt, mhd_log_limited[i], strlen(mhd_log_limited[i])) != 0)
			continue;
		pthread_mutex_lock(&S->clock);
		if (S->mhd_log_ns[i] && now - S->mhd_log_ns[i] < 1000000000LL) {
			S->mhd_log_dropped[i]++;
			ok = false;
		} else {
			S->mhd_log_ns[i] = now;
			*dropped = S->mhd_log_dropped[i];
			S->mhd_log_dropped[i] = 0;
		}
		pthread_mutex_unlock(&S->clock);
		break;
	}
	return ok;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;
	unsigned dropped = 0;

	if (!mhd_log_allowed(cls, fmt, &dropped))
		return;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	vsnprintf(buf, sizeof(buf), fmt, ap);
#pragma GCC diagnostic pop
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (dropped)
		log_msg(SH_LOG_WARN, "http: %s (and %u more like it in the last second)", buf,
		        dropped);
	else
		log_msg(SH_LOG_WARN, "http: %s", buf);
}

/* ---- listen socket ------------------------------------------------------------- */

static int listen_socket(const char *listen_addr, int *fd_out, sh_err *err)
{
	char host[256], port[16];
	const char *colon;
	struct addrinfo hints, *ai = NULL, *p;
	int fd = -1, rc, one = 1;
	size_t hl;

	if (!listen_addr || !*listen_addr)
		return sh_err_set(err, SH_EINVAL, "listen",
		                  "no listen address; use --listen ADDR:PORT");
	if (listen_addr[0] == '[') {
		const char *rb = strchr(listen_addr, ']');
		if (!rb || rb[1] != ':')
			goto bad;
		hl = (size_t)(rb - listen_addr - 1);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, listen_addr + 1, hl);
		host[hl] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(listen_addr, ':');
		if (!colon)
			goto bad;
		hl = (size_t)(colon - listen_addr);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, listen_addr, hl);
		host[hl] = '\0';
	}
	if (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port))
		goto bad;
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	for (const char *q = port; *q; q++)
		if (*q < '0' || *q > '9')
			goto bad;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc != 0)
		return sh_err_set(err, SH_EINVAL, "listen", "cannot resolve listen address %s: %s",
		                  listen_addr, gai_strerror(rc));
	for (p = ai; p; p = p->ai_next) {
		fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, p->ai_addr, p->ai_addrlen) == 0 && listen(fd, 4096) == 0)
			break;
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	freeaddrinfo(ai);
	/* a port in use is a failure of the moment (exit 1), not bad input */
	if (fd < 0)
		return sh_err_set(err, errno == EADDRINUSE ? SH_EBUSY : SH_EINVAL, "listen",
		                  "cannot listen on %s: %s (is another process using the port?)",
		                  listen_addr, strerror(errno));
	*fd_out = fd;
	return 0;
bad:
	return sh_err_set(
	    err, SH_EINVAL, "listen",
	    "bad listen address \"%s\"; expected HOST:PORT such as 0.0.0.0:8000 or [::]:8000",
	    listen_addr);
}

/* ---- start / stop ---------------------------------------------------------------- */

static http_server srv_state; /* the one server of the process (http_srv) */

/* Everything after the daemon stopped (or never started): the writer ends
 * after a last visit flush, then connections, counters and store close. */
static void server_teardown(http_server *S)
{
	svc_writer_stop(S->wr); /* flushes the visits last */
	if (S->d)
		MHD_stop_daemon(S->d);
	if (S->lfd >= 0)
		close(S->lfd);
	workers_free(S);
	ratelimit_free();
	http_metrics_free();
	svc_writer_free(S->wr); /* the visit buffers, the write connection */
	if (S->v)
		svc_close(S->v);
	free(S->db_url);
	pthread_mutex_destroy(&S->jlock);
	pthread_mutex_destroy(&S->wlock);
	pthread_mutex_destroy(&S->clock);
	http_srv = NULL;
}

int http_server_start(const sh_config *cfg, unsigned flags, sh_err *err)
{
	http_server *S = &srv_state;
	store *ws = NULL;
	int rc = 0, cur = 0, latest = 0;
	unsigned threads;
	bool listening = !(flags & HTTP_SERVER_NO_LISTEN);

	if (http_srv)
		return sh_err_set(err, SH_EINVAL, NULL, "the HTTP server is already running");
	memset(S, 0, sizeof(*S));
	S->lfd = -1;
	S->cfg = cfg;
	pthread_mutex_init(&S->wlock, NULL);
	pthread_mutex_init(&S->jlock, NULL);
	pthread_mutex_init(&S->clock, NULL);
	S->idle_timeout = cfg->idle_timeout > 0 ? (unsigned)cfg->idle_timeout : 60;
	trusted_init(S);
	http_srv = S;

	S->db_url = svc_store_url_shared(cfg->db);
	if (!S->db_url) {
		rc = sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
		goto fail;
	}
	rc = svc_store_open(&ws, S->db_url, cfg, SVC_STORE_CREATE, err);
	if (rc < 0)
		goto fail;
	rc = svc_store_migrate(ws, err);
	if (rc < 0)
		goto fail;
	if (svc_store_schema(ws, &cur, &latest) == 0 && cur != latest) {
		rc = sh_err_set(
		    err, SH_ESCHEMA, NULL,
		    "the store's schema is version %d, this binary needs %d; run `shorty migrate`",
		    cur, latest);
		goto fail;
	}
	rc = svc_open(&S->v, cfg, ws, err);
	if (rc < 0)
		goto fail;
	rc = svc_writer_create(&S->wr, S->v, ws, S->db_url, NULL, err);
	if (rc < 0)
		goto fail;
	ws = NULL; /* the writer's now */
	rc = http_metrics_init();
	if (rc < 0) {
		rc = sh_err_set(err, rc, NULL, "out of memory");
		goto fail;
	}
	{
		long limits[RL__COUNT] = {[RL_CREATE] = cfg->rate_limit,
		                          [RL_NOTFOUND] = cfg->notfound_limit,
		                          [RL_LOGIN] = cfg->login_limit};
		rc = ratelimit_init(limits);
	}
	if (rc < 0) {
		rc = sh_err_set(err, rc, NULL, "out of memory");
		goto fail;
	}
	if (listening) {
		rc = listen_socket(cfg->listen, &S->lfd, err);
		if (rc < 0)
			goto fail;
	}

	rc = svc_writer_start(S->wr, err);
	if (rc < 0)
		goto fail;

	threads =
	    cfg->threads > 0 ? (unsigned)cfg->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1)
		threads = 1;
	/* without a listen socket, the option list ends before
	 * MHD_OPTION_LISTEN_SOCKET (libmicrohttpd refuses it with
	 * MHD_USE_NO_LISTEN_SOCKET) */
	S->d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	                            MHD_USE_ERROR_LOG | MHD_USE_ITC |
	                            (listening ? 0 : MHD_USE_NO_LISTEN_SOCKET),
	                        0, on_accept, S, on_request, S, MHD_OPTION_EXTERNAL_LOGGER,
	                        on_mhd_log, S, /* first, or MHD complains */
	                        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
	                        (unsigned)(cfg->max_connections > 0 ? cfg->max_connections : 10000),
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_REQUEST_TIMEOUT,
	                        MHD_OPTION_NOTIFY_CONNECTION, on_connection, S,
	                        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
	                        MHD_OPTION_URI_LOG_CALLBACK, on_uri, S, MHD_OPTION_NOTIFY_COMPLETED,
	                        on_completed, S,
	                        listening ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_END, S->lfd,
	                        MHD_OPTION_END);
	if (!S->d) {
		rc = sh_err_set(err, SH_EINVAL, "listen", "cannot start the HTTP server on %s",
		                listening ? cfg->listen : "no socket");
		goto fail;
	}
	if (listening)
		log_msg(SH_LOG_INFO, "shorty %s serving on %s (%u threads, store %s)",
		        SHORTY_VERSION, cfg->listen, threads, svc_writer_store_name(S->wr));
	return 0;
fail:
	if (ws)
		svc_store_close(ws);
	server_teardown(S);
	return rc;
}

int http_server_add_socket(int fd)
{
	struct sockaddr_in sa;

	if (!http_srv || !http_srv->d) {
		close(fd);
		return SH_EINVAL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* libmicrohttpd owns fd from here on, and closes it even on failure */
	if (MHD_add_connection(http_srv->d, fd, (const struct sockaddr *)&sa, sizeof(sa)) != MHD_YES)
		return SH_ENOMEM;
	return 0;
}

void http_server_stop(void)
{
	http_server *S = http_srv;

	if (!S)
		return;
	__atomic_store_n(&S->stopping, 1, __ATOMIC_RELAXED); /* on_accept refuses */
	{
		int64_t deadline = sh_mono_ns() + SHUTDOWN_GRACE_NS;
		while (__atomic_load_n(&S->inflight, __ATOMIC_RELAXED) > 0 &&
		       sh_mono_ns() < deadline)
			usleep(10000);
	}
	pthread_mutex_lock(&S->jlock);
	S->daemon_gone = true;
	pthread_mutex_unlock(&S->jlock);
	MHD_stop_daemon(S->d); /* closes the listen socket too (never quiesced) */
	S->d = NULL;
	S->lfd = -1;
	server_teardown(S);
}

/* ---- http_serve ---------------------------------------------------------------- */

int http_serve(const sh_config *cfg, sh_err *err)
{
	sigset_t sigs, old;
	int rc, sig = 0;

	/* signals: every thread started from here on inherits the mask, and this
	 * thread takes them with sigtimedwait */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);

	rc = http_server_start(cfg, 0, err);
	if (rc < 0)
		return rc;
	for (;;) {
		struct timespec tick = {HTTP_SWEEP_NS / 1000000000LL, HTTP_SWEEP_NS % 1000000000LL};
		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig < 0) {
			conn_deadlines_sweep(http_srv); /* every HTTP_SWEEP_NS */
			continue;
		}
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	log_msg(SH_LOG_INFO, "signal %d: stopping (finishing requests in flight)", sig);
	http_server_stop();
	log_msg(SH_LOG_INFO, "stopped");
	return 0;
}

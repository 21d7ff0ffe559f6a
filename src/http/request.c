/*
 * request.c — the life of a request in libmicrohttpd's callbacks, and a
 * write deferred to the service's writer (suspend, submit, resume).
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
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "shorty/http.h"
#include "shorty/linkjson.h"
#include "shorty/log.h"
#include "shorty/timeutil.h"
#include "http/engine.h"
#include "http/server.h"

/* A request's work on a store thread under libmicrohttpd (http_offload,
 * at the end of this file). */
struct mhd_off {
	http_offjob j; /* first */
	struct MHD_Response *resp;
	int status;
};

static void mhd_off_free(http_req *r);
static enum MHD_Result mhd_off_queue(http_req *r);

/* ---- the request life cycle -------------------------------------------------- */

void http_req_free(http_req *r)
{
	http_req_clear(r);
	free(r);
}

void http_req_clear(http_req *r)
{
	if (r->moff)
		mhd_off_free(r);
	if (r->ud_free)
		r->ud_free(r->ud);
	for (int i = 0; i < r->nextra; i++)
		if (!r->extra[i].borrowed) {
			free(r->extra[i].name);
			free(r->extra[i].value);
		}
	http_form_free(r);
	if (r->eq)
		eng_req_free(r);
	free((void *)r->body);
	free(r->raw_buf);
	free(r->path_buf);
}

/* libmicrohttpd calls this with the raw request target before it parses
 * it: we keep a copy (the redirect forwards the raw query; the router works
 * on the raw path, not on the %-decoded one). Its result is *con_cls. */
void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	http_server *S = cls;
	http_req *r = calloc(1, sizeof(*r));
	size_t n;

	/* a request began: its headers get HTTP_REQUEST_TIMEOUT from now */
	http_conn_phase(S, c, sh_mono_ns() + HTTP_REQUEST_TIMEOUT * 1000000000LL,
	                HTTP_REQUEST_TIMEOUT);
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

/* The end of a request, whatever the engine: counters, the access log, one
 * request fewer in flight. The caller frees r (or leaves it to a unit still
 * at the writer). */
void http_req_done(http_server *S, http_req *r)
{
	if (r->status && r->w)
		http_metrics_request(r->w->m, r->route, r->status, sh_mono_ns() - r->t0_ns);
	if (S->cfg->access_log && r->status) {
		char target[HTTP_LOG_TARGET_MAX];
		log_msg(SH_LOG_INFO, "%s %s %s %d", r->ip, r->method ? r->method : "-",
		        http_log_target(r->raw_buf, target, sizeof target), r->status);
	}
	__atomic_sub_fetch(&S->inflight, 1, __ATOMIC_RELAXED);
}

void http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                       enum MHD_RequestTerminationCode toe)
{
	bool busy, orphan;
	http_server *S = cls;
	http_req *r = *con_cls;

	/* answered, the connection stays: the next request's headers must be
	 * complete within the keep-alive idle time */
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		http_conn_phase(S, c, sh_mono_ns() + (int64_t)S->idle_timeout * 1000000000LL,
		                S->idle_timeout);
	if (!r)
		return;
	*con_cls = NULL;
	pthread_mutex_lock(&S->jlock);
	busy = http_req_busy(r);
	orphan = busy && http_req_orphan(r, true); /* at the daemon's stop */
	pthread_mutex_unlock(&S->jlock);
	if (orphan) /* its store thread counts and ends r */
		return;
	/* counted before it can be an orphan: an orphan may be freed at once */
	http_req_done(S, r);
	pthread_mutex_lock(&S->jlock);
	orphan = http_req_orphan(r, false); /* job_done frees it */
	pthread_mutex_unlock(&S->jlock);
	if (!orphan)
		http_req_free(r);
}

unsigned http_method_bit(const char *m)
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

bool http_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 3986 host[:port]: reg-name, IP literal, port. */
bool http_host_ok(const char *v, size_t n)
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
		if (!http_tchar((unsigned char)key[i]))
			h->bad = true;
	for (size_t i = 0; value && i < value_size && !h->bad; i++) {
		unsigned char c = (unsigned char)value[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			h->bad = true;
	}
	if (strcasecmp(key, "Host") == 0) {
		h->hosts++;
		if (!value || !http_host_ok(value, value_size))
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
	if (!r->raw_buf) /* http_on_uri could not copy it: out of memory */
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
			if (!http_tchar((unsigned char)*p))
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

int http_answer_early(http_req *r, int status)
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
	case 505:
		return http_reply_problem(r, 505, NULL, "HTTP Version Not Supported",
		                          "Only HTTP/1.0 and HTTP/1.1 are served.", NULL);
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

/* r->path (the raw path, no query) and r->raw_query from r->raw_buf.
 * 0, or 503 when out of memory. */
int http_req_split_target(http_req *r)
{
	const char *q = strchr(r->raw_buf, '?');
	size_t plen = q ? (size_t)(q - r->raw_buf) : strlen(r->raw_buf);

	r->raw_query = q ? q + 1 : NULL;
	r->path_buf = strndup(r->raw_buf, plen);
	r->path = r->path_buf;
	return r->path_buf ? 0 : 503;
}

int http_body_append(http_req *r, const char *data, size_t n)
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

enum MHD_Result http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls)
{
	http_server *S = cls;
	http_req *r = *con_cls;

	(void)url;
	if (!r)
		return MHD_NO; /* out of memory at http_on_uri: nothing we can say */

	switch (r->state) {
	case ST_HEADERS: {
		bool has_body = false;
		int st;

		http_conn_phase(S, c, 0, HTTP_REQUEST_TIMEOUT); /* headers complete */
		r->conn = c;
		r->v = S->v;
		r->cfg = S->cfg;
		r->method = method;
		r->meth = http_method_bit(method);
		r->w = http_worker_get();
		r->raw_target = r->raw_buf;
		http_client_ip(S, r);
		st = r->w ? check_headers(r, version, &has_body) : 503;
		if (st == 0)
			st = http_req_split_target(r);
		r->state = ST_BODY;
		if (has_body) /* the body gets HTTP_REQUEST_TIMEOUT from now */
			http_conn_phase(S, c, sh_mono_ns() + HTTP_REQUEST_TIMEOUT * 1000000000LL,
			                HTTP_REQUEST_TIMEOUT);
		if (st) {
			r->early_status = st;
			/* with a body still coming, answer now (the connection will
			 * be closed); without one, answer on the next call so that
			 * keep-alive survives */
			if (has_body || st == 413) {
				r->state = ST_DONE;
				return (enum MHD_Result)http_answer_early(r, st);
			}
		}
		return MHD_YES;
	}
	case ST_BODY:
		if (*upload_data_size) {
			if (!r->early_status && http_body_append(r, upload_data, *upload_data_size) < 0)
				r->early_status = 503;
			*upload_data_size = 0;
			return MHD_YES;
		}
		http_conn_phase(S, c, 0, HTTP_REQUEST_TIMEOUT); /* body complete */
		r->state = ST_DONE;
		if (r->early_status)
			return (enum MHD_Result)http_answer_early(r, r->early_status);
		if (r->body_too_big) {
			r->early_status = 413;
			return (enum MHD_Result)http_answer_early(r, 413);
		}
		/* watch jansson's allocations while the answer is built: a JSON
		 * answer built or written while one failed is not sent (reply.c) */
		linkjson_watch_begin();
		return (enum MHD_Result)http_dispatch(r);
	case ST_WAIT:
		/* spurious: not ours to answer yet */
		if (!__atomic_load_n(&r->job_finished, __ATOMIC_ACQUIRE) || http_req_busy(r))
			return MHD_YES;
		r->state = ST_DONE;
		if (r->moff && r->moff->resp) /* made on a store thread */
			return mhd_off_queue(r);
		linkjson_watch_begin();
		return (enum MHD_Result)r->job_reply(r, r->job_unit->rc);
	default:
		return MHD_YES;
	}
}

/* ---- deferring a write to the service's writer ---------------------------- */

void http_job_complete(http_req *r, void (*resume)(http_req *r))
{
	http_server *S = http_srv;

	pthread_mutex_lock(&S->jlock);
	r->job_finished = true;
	if (r->job_orphan) {
		/* a store thread still at r's handler ends r itself */
		bool busy = http_req_busy(r);
		pthread_mutex_unlock(&S->jlock);
		if (!busy)
			http_req_free(r); /* frees the unit too (r->ud) */
		return;
	}
	if (!http_req_busy(r)) /* else its store thread resumes it when done */
		resume(r);
	pthread_mutex_unlock(&S->jlock);
}

/* libmicrohttpd: the connection's next access-handler call answers from the
 * unit. */
static void job_resume(http_req *r)
{
	if (!http_srv->daemon_gone)
		MHD_resume_connection(r->conn);
}

static void job_done(svc_unit *u, void *ud)
{
	(void)u;
	http_job_complete(ud, job_resume);
}

void http_defer_begin(http_req *r, svc_unit *u, http_job_reply reply,
                      void (*done)(svc_unit *u, void *ud))
{
	r->job_reply = reply;
	r->job_unit = u;
	r->job_finished = false;
	r->state = ST_WAIT;
	u->done = done;
	u->done_ud = r;
}

int http_defer(http_req *r, svc_unit *u, http_job_reply reply)
{
	http_server *S = http_srv;
	int rc;

	if (r->ec)
		return eng_defer(r, u, reply);
	/* on a store thread the connection is suspended already, and its
	 * thread resumes it (mhd_off_run) */
	bool offloaded = r->moff && r->moff->j.staging;

	http_defer_begin(r, u, reply, job_done);
	/* suspend first: the writer may resume before we return */
	if (!offloaded)
		MHD_suspend_connection(r->conn);
	rc = svc_writer_submit(S->wr, u);
	if (rc < 0) { /* stopping: answered from job_reply on the next call */
		u->rc = rc;
		pthread_mutex_lock(&S->jlock);
		r->job_finished = true;
		pthread_mutex_unlock(&S->jlock);
		if (!offloaded)
			MHD_resume_connection(r->conn);
	}
	return MHD_YES;
}

/* ---- work that waits on the store, on the store threads (offload.c) ----------
 * engine.c has the design, for the own engine; here the same under
 * libmicrohttpd: the connection is suspended, the handler runs on a store
 * thread with that thread's worker, its answer (a libmicrohttpd response,
 * made there: reply.c's reply_queue) is kept and queued by the access
 * handler once the connection is resumed. A streamed answer's callback
 * still runs on libmicrohttpd's thread (a visit export waits there). */


static void mhd_off_free(http_req *r)
{
	if (r->moff->resp)
		MHD_destroy_response(r->moff->resp);
	free(r->moff);
	r->moff = NULL;
}

static enum MHD_Result mhd_off_queue(http_req *r)
{
	struct mhd_off *o = r->moff;
	enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)o->status, o->resp);

	MHD_destroy_response(o->resp);
	o->resp = NULL;
	r->status = o->status;
	return ret;
}

bool http_reply_staged(http_req *r, int status, struct MHD_Response *resp)
{
	struct mhd_off *o = r->moff;

	if (!o || !o->j.staging)
		return false;
	if (o->resp) /* answered already */
		MHD_destroy_response(resp);
	else
		o->resp = resp, o->status = status;
	return true;
}

void http_offjob_submit(http_offjob *j, http_req *r, void (*run)(offload_job *job))
{
	j->job.run = run;
	j->r = r;
	j->home = r->w;
	__atomic_store_n(&j->busy, true, __ATOMIC_RELEASE);
	offload_submit(http_srv->pool, &j->job);
}

void http_offjob_park(http_offjob *j, http_req *r, http_handler fn,
                      void (*run)(offload_job *job))
{
	j->fn = fn;
	r->job_unit = NULL;
	r->job_finished = false;
	r->job_orphan = false;
	r->state = ST_WAIT; /* answered once the job (and a unit it defers) is done */
	http_offjob_submit(j, r, run);
}

void http_offjob_run(http_offjob *j, void (*fill)(http_offjob *j, bool ok),
                     void (*resume)(http_req *r))
{
	http_req *r = j->r;
	http_server *S = http_srv;
	http_worker *w = http_worker_get();
	bool orphan, free_it;

	pthread_mutex_lock(&S->jlock);
	orphan = r->job_orphan;
	pthread_mutex_unlock(&S->jlock);
	if (w) /* this thread's store connection, visit buffer and counters */
		r->w = w;
	if (!orphan && fill) {
		fill(j, w != NULL);
	} else if (!orphan) {
		/* r->state stays ST_WAIT: the request's thread may still be
		 * reading it, and sets ST_DONE when it answers */
		j->staging = true;
		linkjson_watch_begin();
		if (w)
			j->fn(r);
		else
			http_reply_error(r, SH_ENOMEM, NULL);
		j->staging = false;
	}
	pthread_mutex_lock(&S->jlock);
	__atomic_store_n(&j->busy, false, __ATOMIC_RELEASE);
	if (!r->job_unit) /* nothing else to wait for */
		__atomic_store_n(&r->job_finished, true, __ATOMIC_RELEASE);
	if (r->job_orphan) { /* its connection went: the last one ends r */
		free_it = !r->job_unit || r->job_finished;
		pthread_mutex_unlock(&S->jlock);
		http_req_done(S, r); /* the connection's end left it to us (r->w is ours) */
		if (free_it)
			http_req_free(r);
		return;
	}
	r->w = j->home;
	resume(r);
	pthread_mutex_unlock(&S->jlock);
}

/* Under S->jlock: the connection answers once r's unit (if any) is done. */
static void mhd_off_resume(http_req *r)
{
	if (!(r->job_unit && !r->job_finished) && !http_srv->daemon_gone)
		MHD_resume_connection(r->conn);
}

static void mhd_off_run(offload_job *job)
{
	http_offjob_run((http_offjob *)job, NULL, mhd_off_resume);
}

static bool mhd_offload(http_req *r, http_handler fn)
{
	struct mhd_off *o;

	if (!(o = r->moff) && !(o = r->moff = calloc(1, sizeof(*o))))
		return false; /* out of memory: here, then */
	/* suspended first: the thread may resume it before we return; the
	 * access handler's next call answers */
	MHD_suspend_connection(r->conn);
	http_offjob_park(&o->j, r, fn, mhd_off_run);
	return true;
}

bool http_req_orphan(http_req *r, bool busy)
{
	if (busy || (r->state == ST_WAIT && !r->job_finished))
		r->job_orphan = true;
	return busy || r->job_orphan;
}

bool http_req_busy(const http_req *r)
{
	return eng_req_busy(r) || (r->moff && __atomic_load_n(&r->moff->j.busy, __ATOMIC_ACQUIRE));
}

bool http_can_offload(const http_req *r)
{
	(void)r;
	return http_srv->pool && !offload_on_thread();
}

bool http_offload(http_req *r, http_handler fn)
{
	if (!http_can_offload(r))
		return false;
	return r->ec ? eng_offload(r, fn) : mhd_offload(r, fn);
}

/*
 * src/http/internal.h — the private interface of the HTTP module, and its index.
 *
 * Files:
 *   server.c   libmicrohttpd setup, the access handler (request life cycle,
 *              limits, dispatch), per-thread workers, deferring a write to
 *              the service's writer (suspend / resume), shutdown
 *   reply.c    the response helpers below (JSON, problem+json, text, HTML,
 *              redirect), HTML escaping
 *   routes.c   the route table and dispatch
 *   redirect.c GET|HEAD /<code>, /<code>+, /<code>/track, /<code>/qr-code
 *   pages.c    /, /health, /ready, /robots.txt, POST /api/shorten
 *   rest.c     the Shlink v3 REST API under /rest
 *   metrics.c  per-thread counters and /metrics
 *   yourls.c   the YOURLS API (/yourls-api.php), another engineer's file
 *
 * The life of a request (see server.c): libmicrohttpd parses it; the access
 * handler collects the body (bounded), checks the limits, finds the route in
 * the table, checks the method and the body's type, then calls the route's
 * handler ONCE with a ready http_req. A handler either answers at once with
 * one of the http_reply_* helpers, or hands a write (a unit of work of the
 * service, svc_unit) to the writer with http_defer() and answers later from
 * its `reply` callback. Either way it returns what the helper returned (an
 * MHD_Result); never MHD_NO by itself (that closes the connection without an
 * answer).
 *
 * Threads: a handler runs on a libmicrohttpd worker thread. r->w is that
 * thread's worker: its own read-only store connection (r->w->rs) and its own
 * visit buffer. Never write through r->w->rs: writes go through http_defer.
 */
#ifndef SHORTY_HTTP_INTERNAL_H
#define SHORTY_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <microhttpd.h>
#include "http/mhdload.h" /* libmicrohttpd loaded when first used */
#include <jansson.h>

#include "shorty/config.h"
#include "shorty/err.h"
#include "shorty/service.h"
#include "shorty/store.h"

/* ---- limits ------------------------------------------------------------ */

#define HTTP_REQUEST_LINE_MAX (8 * 1024) /* longer request target: 414 */
#define HTTP_HEADERS_MAX (16 * 1024)     /* all header names + values: 431 */
/* libmicrohttpd's memory per connection: the request line, the headers (and
 * libmicrohttpd's record of each field) and the answer's headers all live
 * in it. 32 KiB is the largest size it takes with malloc (above, it maps a
 * pool per connection), and it zeroes the whole pool for every request, so
 * smaller is cheaper. The limits above leave about 8 KiB for the answer;
 * a redirect whose Location would not fit is refused (http_redirect). */
#define HTTP_CONN_MEMORY (32 * 1024)
#define HTTP_FIELD_OVERHEAD 64           /* pool bytes per header field, besides its text */
#define HTTP_ANSWER_OVERHEAD 1024        /* status line and our other answer headers */
#define HTTP_HEADER_FIELDS_MAX 100       /* more fields: 431 */
#define HTTP_BODY_MAX (64 * 1024)        /* longer body: 413 */
#define HTTP_JSON_DEPTH_MAX 32           /* deeper JSON: 400 invalid-data */
#define HTTP_FORM_FIELDS_MAX 64          /* form fields kept (urlencoded / multipart) */
#define HTTP_EXTRA_HEADERS_MAX 8         /* headers a handler may add */
#define HTTP_IP_MAX 46                   /* INET6_ADDRSTRLEN */

/* ---- methods ------------------------------------------------------------ */

enum http_method {
	HTTP_GET = 1 << 0,
	HTTP_HEAD = 1 << 1,
	HTTP_POST = 1 << 2,
	HTTP_PUT = 1 << 3,
	HTTP_PATCH = 1 << 4,
	HTTP_DELETE = 1 << 5,
	HTTP_OPTIONS = 1 << 6,
	HTTP_OTHER = 1 << 7,
};

/* ---- the worker (one per libmicrohttpd thread) -------------------------- */

struct http_metrics; /* metrics.c */

typedef struct http_worker {
	store *rs;              /* read-only connection of this thread; NULL
	                           if it could not be opened (answers 503) */
	visitbuf *vb;           /* this thread's visits, drained by the writer */
	struct http_metrics *m; /* this thread's counters */
	svc_target *target;     /* scratch for svc_resolve (svc_target_size bytes) */
	size_t target_cap;
	char *loc; /* scratch for a Location value */
	size_t loc_cap;
	int64_t rs_retry_ns;      /* last attempt to open rs */
	struct http_worker *next; /* registry (server.c) */
} http_worker;

/* This thread's worker, created on first use; NULL on ENOMEM. */
http_worker *http_worker_get(void);

/* Calls fn on every worker, under the registry lock (metrics, flush). */
void http_workers_each(void (*fn)(http_worker *w, void *ud), void *ud);

/* ---- a request ----------------------------------------------------------- */

typedef struct http_req http_req;

/* Answers a deferred request on its worker thread, after the commit (rc is
 * the unit's result, or the commit's error when the commit failed: then the
 * unit's work is undone). Must answer with an http_reply_* helper. */
typedef int (*http_job_reply)(http_req *r, int rc);

/* A route's handler (routes below). */
typedef int (*http_handler)(http_req *r);

typedef struct http_form_field {
	const char *name, *value; /* NUL-terminated, owned by the request */
	size_t value_len;
} http_form_field;

struct http_req {
	struct MHD_Connection *conn;
	http_worker *w; /* this thread's worker */
	svc *v;         /* the service (shared, thread-safe) */
	const sh_config *cfg;

	const char *method;     /* as sent: "GET" */
	unsigned meth;          /* enum http_method */
	const char *path;       /* %-decoded path, no query ("/abc") */
	const char *raw_target; /* request target exactly as received ("/abc?x=%20") */
	const char *raw_query;  /* the part after '?' in raw_target, or NULL */
	char ip[HTTP_IP_MAX];   /* client address (X-Forwarded-For from a trusted proxy) */

	const char *body; /* the request body (NUL-terminated), or NULL */
	size_t body_len;

	/* route matching: for patterns with '*' the matched segment (a code, a
	 * tag), NUL-terminated, in arg; api_version for /rest/vN (0 otherwise). */
	char arg[CODE_MAX * 2 + 8];
	size_t arg_len;
	int api_version;

	bool is_rest; /* under /rest: CORS header on every answer */

	/* REST authentication (rest.c fills it): the caller's key, and the
	 * caller the service's reads and writes take */
	bool has_key;
	sh_api_key key;
	svc_caller caller;

	/* for handlers: a pointer kept until the request ends, freed with
	 * ud_free (if set) then. Keep a deferred write's unit in it. */
	void *ud;
	void (*ud_free)(void *ud);

	/* --- private to server.c / reply.c below this line --- */
	int route;  /* metrics label index */
	int status; /* status answered (metrics, access log) */
	int64_t t0_ns;
	int state;
	size_t body_cap;
	bool body_too_big;
	char *raw_buf; /* owns raw_target */
	size_t raw_len;
	svc_unit *job_unit;
	http_job_reply job_reply;
	bool job_finished, job_orphan;
	int early_status;
	size_t req_bytes; /* pool bytes the request takes (see HTTP_CONN_MEMORY) */
	char *path_buf;
	int nform;
	bool form_parsed;
	int nextra;
	struct {
		char *name, *value;
		bool borrowed; /* http_add_header_ref: not ours to free */
	} extra[HTTP_EXTRA_HEADERS_MAX];
	struct econn *ec;  /* engine.c: the connection (NULL under libmicrohttpd) */
	struct eng_rq *eq; /* engine.c: the head's fields and query arguments */
	struct eng_off *off;  /* engine.c: its work on a store thread (http_offload) */
	struct mhd_off *moff; /* request.c: the same under libmicrohttpd */
	/* last: only form[0..nform) is ever read, so engine.c's req_new zeroes
	 * the request up to here (HTTP_REQ_ZEROED) and not these 1.5 KiB */
	http_form_field form[HTTP_FORM_FIELDS_MAX];
};
#define HTTP_REQ_ZEROED offsetof(http_req, form)

/* ---- looking at the request --------------------------------------------- */

/* A request header (case-insensitive name), or NULL. */
const char *http_header(http_req *r, const char *name);

/* A query parameter ("?name=value", %-decoded by libmicrohttpd), or NULL.
 * For a repeated name, the first one. */
const char *http_query(http_req *r, const char *name);

/* Calls fn(ud, key, value) on every query argument in order (%-decoded;
 * value NULL for a key without '='); fn returns non-zero to stop. */
typedef int (*http_query_fn)(void *ud, const char *key, const char *value);
void http_query_each(http_req *r, http_query_fn fn, void *ud);

/* A parameter from the query or, for a POST whose body is
 * application/x-www-form-urlencoded or multipart/form-data, from the body
 * (the body wins). The form is parsed on the first call. NULL when absent.
 * *len (may be NULL) gets the value's length (a form value may hold NULs). */
const char *http_param(http_req *r, const char *name, size_t *len);

/* True if the Content-Type of the request is `type` (parameters like
 * "; charset=utf-8" ignored, case-insensitive). */
bool http_content_type_is(http_req *r, const char *type);

/* Parses the body as a JSON object: strict (duplicate keys rejected, valid
 * UTF-8, depth <= HTTP_JSON_DEPTH_MAX). Returns a new reference, or NULL
 * after answering 400 (Shlink invalid-data) itself; then the caller returns
 * *answered. */
json_t *http_body_json(http_req *r, int *answered);

/* ---- answering ----------------------------------------------------------
 * Each helper queues exactly one response and returns the MHD_Result to
 * return from the handler. Every response carries a Content-Type and
 * X-Content-Type-Options: nosniff; /rest answers also carry the CORS
 * headers. Bodies are copied (the caller keeps its buffer). HEAD requests
 * get the headers and no body automatically.
 */

/* Adds a header to the answer this request will get (copied; values with a
 * control character are refused with SH_EINVAL). Up to
 * HTTP_EXTRA_HEADERS_MAX. */
int http_add_header(http_req *r, const char *name, const char *value);
/* The same without the copies (the redirect's Location: two strdup and two
 * free less per redirect): name and value must stay as they are until the
 * answer is made (http_reply_* copies them into it). */
int http_add_header_ref(http_req *r, const char *name, const char *value);

/* Any body. */
int http_reply(http_req *r, int status, const char *content_type, const void *body, size_t len);

/* Any body that lives as long as the process (embedded files): not copied. */
int http_reply_static(http_req *r, int status, const char *content_type, const void *body,
                      size_t len);

/* Plain text ("text/plain; charset=utf-8"). */
int http_reply_text(http_req *r, int status, const char *text);

/* HTML ("text/html; charset=utf-8"); the caller escapes what it puts in. */
int http_reply_html(http_req *r, int status, const char *html, size_t len);

/* JSON ("application/json"); takes ownership of j (a NULL j answers 503). */
int http_reply_json(http_req *r, int status, json_t *j);

/* No body (204, or a 3xx with Location already added). */
int http_reply_empty(http_req *r, int status);

/* A body of unknown length made piece by piece (chunked): libmicrohttpd
 * calls fn(ctx, pos, buf, max) on this worker's thread each time it can
 * send up to max bytes (HTTP_STREAM_BLOCK); fn returns the bytes written,
 * MHD_CONTENT_READER_END_OF_STREAM at the end or
 * MHD_CONTENT_READER_END_WITH_ERROR. ctx_free(ctx) runs once the answer is
 * done (or could not be queued). For answers whose size grows with the
 * data (every visit of a link): memory stays flat. */
#define HTTP_STREAM_BLOCK (32 * 1024)
typedef ssize_t (*http_stream_fn)(void *ctx, uint64_t pos, char *buf, size_t max);
int http_reply_stream(http_req *r, int status, const char *content_type, http_stream_fn fn,
                      void *ctx, void (*ctx_free)(void *ctx));

/*
 * RFC 9457 problem details ("application/problem+json"):
 * {"type": <type>, "title", "status", "detail", ...extra members}.
 * type: a Shlink slug ("invalid-data" -> "https://shlink.io/api/error/invalid-data"),
 * or a full URI, or NULL ("about:blank"). extra (may be NULL) is an object
 * whose members are merged in (ownership taken).
 */
int http_reply_problem(http_req *r, int status, const char *type, const char *title,
                       const char *detail, json_t *extra);

/* Maps a service error (SH_E*) to a status and Shlink problem and answers:
 * EINVAL/ETOOBIG/EBLOCKED/ERESERVED -> 400 invalid-data (invalidElements
 * [err->field]), ETAKEN -> 400 non-unique-slug, ENOTFOUND -> 404
 * short-url-not-found (shortCode = r->arg), EAUTH -> 401, EFORBIDDEN -> 403,
 * EBUSY/ESTORE/EFULL/ESCHEMA/ENOMEM -> 503 (Retry-After), EUNAVAIL (a library
 * loaded when first used is missing) -> 503 with err's detail. err may be NULL. */
int http_reply_error(http_req *r, int code, const sh_err *err);

/* HTML-escapes s[0..n) (& < > " ') into dst, NUL-terminated, truncating
 * (never splitting an escape). Returns the length written. */
size_t http_html_escape(char *dst, size_t dstsz, const char *s, size_t n);

/* A growing text buffer with a hard maximum (pages, metrics, SVG). On
 * ENOMEM or past max, b->err is set and further appends are ignored. */
typedef struct sbuf {
	char *p; /* NUL-terminated while not err */
	size_t len, cap, max;
	bool err;
} sbuf;

void sbuf_init(sbuf *b, size_t max);
void sbuf_free(sbuf *b);
void sbuf_add(sbuf *b, const char *s, size_t n);
void sbuf_adds(sbuf *b, const char *s);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_html(sbuf *b, const char *s, size_t n); /* HTML-escaped */

/* ---- page templates (template.c) ------------------------------------------ */

typedef struct tpl_value {
	const char *name;
	const char *value; /* NULL or len 0: empty */
	size_t len;
} tpl_value;

/* Appends the template tpl[0..n) to b with the nv values v filled in:
 * "{{name}}" becomes the value, HTML-escaped; "<!--{name-->...<!--name}-->"
 * is kept only when the value is not empty. */
void tpl_render(sbuf *b, const char *tpl, size_t n, const tpl_value *v, int nv);

/* ---- deferring a write to the writer thread ---------------------------- */

/* Suspends the connection and submits u (kept in r->ud, so that it lives
 * as long as the request) to the service's writer; `reply` answers here
 * after the commit from u's result. The handler returns the result of this
 * call. When the writer no longer takes units, reply gets SH_EBUSY. */
int http_defer(http_req *r, svc_unit *u, http_job_reply reply);
/* engine.c: a redirect's cache miss that does not block the worker
 * (svc_resolve_later). http_misses: the loop's lookup connection (NULL:
 * none, or the request came through libmicrohttpd: then resolve the
 * blocking way). After SVC_PENDING with done = http_miss_done and ud = r,
 * http_miss_wait(r, reply) parks the request; reply(r, rc) answers it
 * with the worker's target filled. */
svc_misses *http_misses(http_req *r);
void http_miss_wait(http_req *r, http_job_reply reply);
void http_miss_done(void *ud, int rc);

/* engine.c: on a store that answers over the network (PostgreSQL), runs
 * fn(r) on one of the server's store threads instead of this one, which
 * goes on with its other connections; fn answers as any handler does (its
 * answer is sent by the request's own thread afterwards; it may defer a
 * write). true: handed over (the handler returns MHD_YES); false: no store
 * threads (SQLite, libmicrohttpd, already on one): call fn here. */
bool http_offload(http_req *r, http_handler fn);
/* Whether http_offload would hand r over. */
bool http_can_offload(const http_req *r);
/* reply.c, under libmicrohttpd: on a store thread the answer is kept for
 * the access handler (resp taken; true), else false: queue it now. */
bool http_reply_staged(http_req *r, int status, struct MHD_Response *resp);

/* ---- routes ------------------------------------------------------------- */

enum route_flags {
	ROUTE_JSON_BODY = 1 << 0, /* POST/PUT/PATCH must be application/json (415) */
	ROUTE_FORM_BODY = 1 << 1, /* POST may be urlencoded or multipart */
	ROUTE_REST = 1 << 2,      /* under /rest: CORS headers, problem+json errors,
	                             X-Api-Key required unless ROUTE_NOAUTH */
	ROUTE_NOAUTH = 1 << 3,    /* /rest/health */
	ROUTE_QUERY_KEY = 1 << 4, /* the key may also come as ?apiKey= (legacy shorten) */
	ROUTE_STORE = 1 << 5,     /* reads the store: on PostgreSQL it runs on a store
	                             thread (http_offload), never on an HTTP loop */
};

/*
 * One line of the route table (routes.c). pattern: an exact path
 * ("/health"), or a path with one '*' standing for one segment without '/'
 * (e.g. "/rest/v3/short-urls/" followed by '*'), or a prefix ending in "/" and
 * "**" for everything under it (the handler reads r->path). REST routes are written
 * once with "/rest/v3"; the router maps /rest/v1 and /rest/v2 onto them. methods: enum http_method
 * bits (HEAD is allowed wherever GET is). A path that matches with a method not in the mask answers
 * 405 with Allow.
 */
typedef struct http_route {
	const char *pattern;
	unsigned methods;
	unsigned flags; /* enum route_flags */
	http_handler fn;
	const char *label; /* metrics route label */
} http_route;

extern const http_route http_routes[];
extern const size_t http_nroutes;

/* Finds the route and runs it (routes.c); answers 404/405 itself. */
int http_dispatch(http_req *r);

/* 404 for a path that is not a route or a link: problem+json for clients
 * that accept JSON, else a tiny HTML page. */
int http_reply_not_found(http_req *r);

/* True if the client prefers JSON (Accept names application/json or
 * problem+json, or the route is under /rest). */
bool http_wants_json(http_req *r);

/* Handlers (one per file above). */
int http_redirect(http_req *r); /* redirect.c: /<code>, /<code>+ */
int http_track(http_req *r);    /* /<code>/track */
int http_qr(http_req *r);       /* qr.c: /<code>/qr-code */
int page_index(http_req *r);    /* pages.c: / */
int page_shorten(http_req *r);  /* POST /api/shorten */
int page_health(http_req *r);
int page_ready(http_req *r);
int page_robots(http_req *r);
int page_admin(http_req *r); /* admin.c: /admin and everything under it */
int rest_health(http_req *r); /* rest.c */
int rest_short_urls(http_req *r);
int rest_shorten_legacy(http_req *r);
int rest_short_url(http_req *r);
int rest_short_url_visits(http_req *r);
int rest_visits_summary(http_req *r);
int rest_visits_orphan(http_req *r);
int rest_visits_non_orphan(http_req *r);
int rest_tags(http_req *r);
int rest_tags_stats(http_req *r);
int rest_tag_visits(http_req *r);
int rest_domains(http_req *r);
int rest_mercure(http_req *r);
int rest_redirect_rules(http_req *r); /* rest_rules.c */
int rest_domain_visits(http_req *r);  /* rest.c */
/* Checks X-Api-Key / Authorization: Bearer (and ?apiKey= when allowed),
 * fills r->key. Returns 0, or answers 401/503 and returns 1 with *answered
 * set to the MHD result. */
int rest_authenticate(http_req *r, bool query_key, int *answered);

/* Records an orphan visit (enum orphan_type) of this request's path when it
 * is a GET (redirect.c): the base URL, a regular 404. */
void http_record_orphan(http_req *r, int orphan_type);
/* When the domain of the request's Host has a "not found" redirect of kind
 * (enum sh_redirect_kind; the default domain's are configured), answers a
 * GET or HEAD with it (302) into *answered and returns true. */
bool http_domain_redirect(http_req *r, int kind, int *answered);
int http_yourls(http_req *r); /* yourls.c: /yourls-api.php */

/* ---- the domain a request is about (hostdomain.c) ------------------------- */

/* ?domain= of a request on one short URL: NULL for the default domain
 * (absent, empty, DEFAULT; its authority the service knows). */
const char *http_query_domain(http_req *r);
/* ?domain= as a filter of a list (DEFAULT or an authority): *one says
 * whether one was given, *id is its domain. 0; SH_ENOTFOUND when no domain
 * has that name (*id is then -1, which matches nothing); a store error. */
int http_query_domain_id(http_req *r, bool *one, int64_t *id);
/* The domain the request's Host names: its id, 0 for the default domain
 * and for every unknown host (svc_domain_of_host). */
int64_t http_host_domain(http_req *r);
/* The authority of the Host's domain (lower case) into out, or NULL when it
 * is the default domain. */
const char *http_host_authority(http_req *r, char out[SH_AUTHORITY_MAX + 1]);
/* "<scheme>://<the Host's domain>/<code>" (the base URL's for the default). */
const char *http_host_short_url(http_req *r, const char *code, char *buf, size_t n);
/* The link of code on the Host's domain, else the default domain's (as a
 * redirect finds it), as caller who (NULL: anyone) may see it: svc_get. */
int http_host_link(http_req *r, const svc_caller *who, const char *code, sh_link *out);

/* form.c: parses r's urlencoded or multipart/form-data body (the engine of
 * our own has no libmicrohttpd post processor), calling add for each
 * field's value (off 0, the whole value). */
void http_form_parse_body(http_req *r, int (*add)(http_req *r, const char *key,
                                                  const char *data, uint64_t off,
                                                  size_t size));

/* Frees the parsed form fields (server.c calls it at the end). */
void http_form_free(http_req *r);

/* ---- metrics (metrics.c) ---------------------------------------------------- */

int http_metrics_init(void);
void http_metrics_free(void);
struct http_metrics *http_metrics_create(void); /* a worker's counters */
/* Counts a finished request: route index (into http_routes, or one of the
 * ROUTE_LABEL_* below), status, duration. Only the owning thread calls it. */
void http_metrics_request(struct http_metrics *m, int route, int status, int64_t ns);
void http_metrics_redirect(struct http_metrics *m);
void http_metrics_detail_braked(struct http_metrics *m);
int http_metrics_handler(http_req *r); /* GET /metrics */

#define ROUTE_LABEL_OTHER (-1) /* r->route before/without a route ("other") */

/* ---- the access log (logmask.c) ---------------------------------------------- */

/* raw (the request target) into out for the access log, with the value of
 * every credential parameter (apiKey, signature, password, ...; compared by
 * the %-decoded name, case-insensitive) replaced by "***". Returns out, or
 * "-" when raw is NULL. */
const char *http_log_target(const char *raw, char *out, size_t outsz);

/* ---- per-address rate limits (ratelimit.c) ---------------------------------- */

enum rl_kind {
	RL_CREATE = 0,  /* anonymous creates (SHORTY_RATE_LIMIT) */
	RL_NOTFOUND,    /* unknown codes: the enumeration brake (SHORTY_NOTFOUND_LIMIT) */
	RL_LOGIN,       /* failed YOURLS logins (SHORTY_LOGIN_LIMIT) */
	RL_VISIT_DETAIL, /* visits stored with details (SHORTY_VISIT_DETAIL_LIMIT) */
	RL__COUNT
};

/* Creates the limits: per_minute[kind] tokens a minute per address, as a
 * burst too; 0 = that kind is unlimited. */
int ratelimit_init(const long per_minute[RL__COUNT]);
void ratelimit_free(void);
/* Takes one token of `kind` for ip. Returns 0, or the seconds to wait (> 0):
 * then the address is also blocked (ratelimit_blocked) until a token is
 * back. */
int ratelimit_take(int kind, const char *ip);
/* Lock-free: 0, or the seconds ip stays blocked for `kind`. */
int ratelimit_blocked(int kind, const char *ip);

/* The enumeration brake on every route that looks up a code (redirect.c):
 * http_reply_unknown_code answers 404 for a code that is not a link and
 * counts it against the client's address (429 once over the limit);
 * http_reply_unknown_blocked answers the 429 of an address that is
 * blocked (check with ratelimit_blocked(RL_NOTFOUND, r->ip) first). */
int http_reply_unknown_code(http_req *r);
int http_reply_unknown_blocked(http_req *r);

/* ---- starting and stopping (server.c) ----------------------------------------
 * http_serve() is http_server_start(), a signal loop, http_server_stop().
 * Tests and the fuzzers run the server in-process with the pair below. */

enum http_server_flags {
	HTTP_SERVER_NO_LISTEN = 1 << 0, /* no listen socket: connections come only
	                                   from http_server_add_socket() */
	/* the engine of our own without a thread of its own: the caller runs its
	 * one loop with http_server_poll() (fuzz/fuzz_http.c: a thread handoff
	 * per input cost three quarters of the run in scheduling waits) */
	HTTP_SERVER_CALLER_LOOP = 1 << 1,
};

/* Opens the store named by cfg->db (created and migrated), the service, the
 * writer thread and libmicrohttpd (its own threads). Does not touch signals.
 * One server per process; cfg must outlive it. 0, or SH_E* with err. */
int http_server_start(const sh_config *cfg, unsigned flags, sh_err *err);

/* Hands a connected stream socket to the server (e.g. one end of a
 * socketpair); its peer address is taken to be 127.0.0.1. The server owns
 * fd from then on and closes it, also when this fails (SH_ENOMEM, or
 * SH_EINVAL when no server runs). */
int http_server_add_socket(int fd);

/* HTTP_SERVER_CALLER_LOOP: one turn of the loop on the calling thread (its
 * events, waiting up to timeout_ms for one; its deadlines). 0, or SH_EINVAL
 * when no such server runs. */
int http_server_poll(int timeout_ms);

/* Stops accepting, lets requests in flight finish (up to a grace period),
 * stops libmicrohttpd and the writer (after a last visit flush), closes
 * the store. No-op when no server runs. */
void http_server_stop(void);

/* Shared state set up by http_server_start (server.c). */
typedef struct http_server http_server;
extern http_server *http_srv;
bool http_stopping(void);

#endif

/*
 * server.h — the HTTP server's own state, shared by the four files that
 * make the server (server.c: set-up, workers, stop; request.c: the life of
 * a request; conns.c: connection deadlines; proxies.c: the client address)
 * and by nothing else: handlers see an http_req (internal.h) only.
 */
#ifndef SHORTY_HTTP_SERVER_H
#define SHORTY_HTTP_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http/internal.h"
#include "http/offload.h"

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

/* request.c: true while a store thread works on r (http_offload). */
bool http_req_busy(const http_req *r);

/* request.c, under S->jlock, once r's connection is gone: true, and r
 * marked job_orphan, when something still works on r and ends it (a store
 * thread: busy; or its unit at the writer); false: the caller frees r. */
bool http_req_orphan(http_req *r, bool busy);

/* A request's job on a store thread (http_offload), what both engines
 * share; each embeds it first in what it keeps (engine.c's eng_off,
 * request.c's mhd_off). */
typedef struct http_offjob {
	offload_job job;
	http_req *r;
	http_handler fn;   /* the handler to run (OFF_RUN) */
	http_worker *home; /* the request's worker: r->w again once back */
	bool busy;         /* queued or running: set by the submitter, cleared by
	                      the thread under S->jlock, read atomically */
	bool staging;      /* fn runs: the answer is kept, not sent */
} http_offjob;

/* Queues j for r (home: r's worker now); run is the engine's job, which
 * calls http_offjob_run. */
void http_offjob_submit(http_offjob *j, http_req *r, void (*run)(offload_job *job));

/* Parks r for its handler's job (ST_WAIT, no unit yet), then queues j
 * with fn, as http_offjob_submit. */
void http_offjob_park(http_offjob *j, http_req *r, http_handler fn,
                      void (*run)(offload_job *job));

/* On the store thread: with this thread's worker as r->w, runs j->fn (its
 * answer kept: j->staging), or fill(j, ok) when fill is set (ok false:
 * no worker, out of memory); then, under S->jlock, either ends r (its
 * connection went meanwhile: the last of the thread and r's unit frees
 * it) or gives r its worker back and calls resume(r). */
void http_offjob_run(http_offjob *j, void (*fill)(http_offjob *j, bool ok),
                     void (*resume)(http_req *r));

struct http_server {
	const sh_config *cfg;
	svc *v;
	svc_writer *wr; /* the service's writer (owns the write connection) */
	offload *pool;  /* store threads (a remote store: http_offload), or NULL */
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
	int engine;      /* enum http_engine (engine.h) */
	struct eng *eng; /* the engine of our own, when it runs */
	bool caller_loop; /* HTTP_SERVER_CALLER_LOOP: the engine has no thread */
	unsigned gen;     /* counts starts: which server a thread's worker is of */
};

/* proxies.c */
void http_trusted_init(http_server *S);
void http_client_ip(http_server *S, http_req *r);
/* A socket address as text (IPv4 dotted, IPv6 as inet_ntop), "" if neither. */
void http_addr_text(const struct sockaddr *sa, char out[HTTP_IP_MAX]);

/* conns.c */
void http_conn_phase(http_server *S, struct MHD_Connection *c, int64_t deadline_ns,
                     unsigned timeout_s);
enum MHD_Result http_on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void http_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe);
void http_conn_sweep(http_server *S);

/* request.c */
void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *c);
void http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                       enum MHD_RequestTerminationCode toe);
enum MHD_Result http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls);
void http_req_free(http_req *r);
/* Frees what the request holds, not the request itself (reused). */
void http_req_clear(http_req *r);
void http_req_done(http_server *S, http_req *r);
unsigned http_method_bit(const char *m);
bool http_tchar(unsigned char c);
bool http_host_ok(const char *v, size_t n);
int http_req_split_target(http_req *r);
/* The request waits for unit u (state, reply, the unit's completion). */
void http_defer_begin(http_req *r, svc_unit *u, http_job_reply reply,
                      void (*done)(svc_unit *u, void *ud));
/* A unit's completion, on the writer's thread, for either engine: under
 * S->jlock the request is marked finished; a request whose connection went
 * away meanwhile is freed (with its unit); else resume(r) brings it back to
 * its connection (still under the lock). */
void http_job_complete(http_req *r, void (*resume)(http_req *r));
/* Appends body bytes (past HTTP_BODY_MAX: r->body_too_big, body dropped).
 * 0, or SH_ENOMEM. */
int http_body_append(http_req *r, const char *data, size_t n);
/* The problem+json answer of a request refused before its handler. */
int http_answer_early(http_req *r, int status);

#endif

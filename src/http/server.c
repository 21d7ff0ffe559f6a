/*
 * server.c — the HTTP service: libmicrohttpd set-up, the per-thread
 * workers, the listen socket, start and graceful stop. The life of a
 * request is in request.c, connection deadlines in conns.c, trusted proxies
 * and the client address in proxies.c; their shared state in server.h.
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
#include "http/engine.h"
#include "http/server.h"

http_server *http_srv;
static __thread http_worker *tls_worker;
/* the server tls_worker belongs to: a thread that outlives a server (the
 * caller of an HTTP_SERVER_CALLER_LOOP server started again) must not take
 * the worker the stop freed */
static __thread unsigned tls_worker_gen;
static unsigned srv_gen;

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
	http_worker *w = tls_worker_gen == S->gen ? tls_worker : NULL;

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
	tls_worker_gen = S->gen;
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

/* Store threads (http_offload) for a remote store: enough that a few slow
 * reads leave others going; each is one more PostgreSQL connection
 * (docs/scaling.md counts them). */
static unsigned offload_threads(unsigned http_threads)
{
	unsigned n = 2 * http_threads;
	return n < 4 ? 4 : n > 16 ? 16 : n;
}

/* Everything after the daemon stopped (or never started): the writer ends
 * after a last visit flush, then connections, counters and store close. */
static void server_teardown(http_server *S)
{
	svc_writer_stop(S->wr); /* flushes the visits last */
	if (S->d)
		MHD_stop_daemon(S->d);
	eng_stop(S);
	/* after the connections: each request still on a store thread is an
	 * orphan now, which its thread ends */
	offload_stop(S->pool);
	S->pool = NULL;
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
	if ((flags & HTTP_SERVER_CALLER_LOOP) && cfg->http_engine != HTTP_ENGINE_OWN)
		return sh_err_set(err, SH_EINVAL, NULL, "a caller-run loop needs the own HTTP engine");
	/* libmicrohttpd is loaded for its engine only (http/mhdload.h) */
	if (cfg->http_engine != HTTP_ENGINE_OWN) {
		rc = sh_mhd_load(err);
		if (rc < 0)
			return rc;
	}
	memset(S, 0, sizeof(*S));
	S->lfd = -1;
	S->cfg = cfg;
	pthread_mutex_init(&S->wlock, NULL);
	pthread_mutex_init(&S->jlock, NULL);
	pthread_mutex_init(&S->clock, NULL);
	S->idle_timeout = cfg->idle_timeout > 0 ? (unsigned)cfg->idle_timeout : 60;
	S->engine = cfg->http_engine;
	S->caller_loop = (flags & HTTP_SERVER_CALLER_LOOP) != 0;
	S->gen = ++srv_gen;
	http_trusted_init(S);
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
		                          [RL_LOGIN] = cfg->login_limit,
		                          [RL_VISIT_DETAIL] = cfg->visit_detail_limit};
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
	if (threads < 1 || S->caller_loop)
		threads = 1;
	if (!S->caller_loop && svc_writer_store_remote(S->wr)) {
		rc = offload_start(&S->pool, offload_threads(threads), "store", err);
		if (rc < 0)
			goto fail;
	}
	if (S->engine == HTTP_ENGINE_OWN) {
		rc = eng_start(S, threads, err);
		if (rc < 0)
			goto fail;
		if (listening)
			log_msg(SH_LOG_INFO, "shorty %s serving on %s (%u threads, own HTTP engine, store %s)",
			        SHORTY_VERSION, cfg->listen, threads, svc_writer_store_name(S->wr));
		return 0;
	}
	/* without a listen socket, the option list ends before
	 * MHD_OPTION_LISTEN_SOCKET (libmicrohttpd refuses it with
	 * MHD_USE_NO_LISTEN_SOCKET) */
	S->d = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
	        MHD_USE_ITC | (listening ? 0 : MHD_USE_NO_LISTEN_SOCKET),
	    0, http_on_accept, S, http_on_request, S, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
	    S, /* first, or MHD complains */
	    MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)(cfg->max_connections > 0 ? cfg->max_connections : 10000),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_REQUEST_TIMEOUT,
	    MHD_OPTION_NOTIFY_CONNECTION, http_on_connection, S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)HTTP_CONN_MEMORY, MHD_OPTION_URI_LOG_CALLBACK, http_on_uri, S,
	    MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, S,
	    listening ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_END, S->lfd, MHD_OPTION_END);
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

int http_server_poll(int timeout_ms)
{
	if (!http_srv || !http_srv->eng || !http_srv->caller_loop)
		return SH_EINVAL;
	eng_poll(http_srv, timeout_ms);
	return 0;
}

int http_server_add_socket(int fd)
{
	struct sockaddr_in sa;

	if (http_srv && http_srv->eng)
		return eng_add_socket(http_srv, fd);
	if (!http_srv || !http_srv->d) {
		close(fd);
		return SH_EINVAL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* libmicrohttpd owns fd from here on, and closes it even on failure */
	if (MHD_add_connection(http_srv->d, fd, (const struct sockaddr *)&sa, sizeof(sa)) !=
	    MHD_YES)
		return SH_ENOMEM;
	return 0;
}

void http_server_stop(void)
{
	http_server *S = http_srv;

	if (!S)
		return;
	__atomic_store_n(&S->stopping, 1, __ATOMIC_RELAXED); /* http_on_accept refuses */
	eng_stop_listening(S); /* the own engine: the listen socket closes now */
	{
		int64_t deadline = sh_mono_ns() + SHUTDOWN_GRACE_NS;
		while (__atomic_load_n(&S->inflight, __ATOMIC_RELAXED) > 0 &&
		       sh_mono_ns() < deadline)
			usleep(10000);
	}
	pthread_mutex_lock(&S->jlock);
	S->daemon_gone = true;
	pthread_mutex_unlock(&S->jlock);
	if (S->d)
		MHD_stop_daemon(S->d); /* closes the listen socket too (never quiesced) */
	S->d = NULL;
	eng_stop(S);
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
			http_conn_sweep(http_srv); /* every HTTP_SWEEP_NS */
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

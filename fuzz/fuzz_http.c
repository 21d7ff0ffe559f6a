/*
 * fuzz_http.c — libFuzzer harness for the whole HTTP request path: raw
 * bytes through the HTTP engine (the own engine, src/http/engine.c and its
 * parser h1parse.c; or libmicrohttpd with FUZZ_HTTP_ENGINE=mhd) into
 * shorty's limits, routing and handlers (src/http/), over an in-memory store.
 *
 * Once (LLVMFuzzerInitialize): an in-memory store "memory:fuzz" with a few
 * links and three API keys of known text ("fuzz-admin", "fuzz-author",
 * "fuzz-ro", so inputs can authenticate), then the server started in-process
 * without a listen socket (http_server_start, HTTP_SERVER_NO_LISTEN), one
 * HTTP thread, the peer 127.0.0.1 being a trusted proxy (so
 * X-Forwarded-For is parsed), no rate limit. The own engine runs without a
 * thread of its own (HTTP_SERVER_CALLER_LOOP): the harness turns its loop
 * (http_server_poll) between its own reads and writes, so an input costs no
 * thread handoff (only a write request goes to the writer thread and back).
 * With a loop thread, three quarters of the run were waits for the
 * scheduler: 2,500-3,100 inputs a second on the shared machine, 10 million
 * would have taken an hour. libmicrohttpd (FUZZ_HTTP_ENGINE=mhd) runs its
 * own thread as before.
 *
 * Per input: a socketpair; one end goes to the server
 * (http_server_add_socket), the harness writes the input into the other
 * (input[1..]; when input[0] is odd a final "\r\n\r\n" is added, so
 * truncated header blocks still reach the handlers), shuts down its
 * writing side and reads the answer until EOF or 1 s. Invariants (abort on
 * violation), for every response in the answer:
 *   - it starts with "HTTP/1.1 ", a 3-digit status and a space;
 *   - the status is never 500;
 *   - no header line holds a bare CR or LF (no response splitting);
 *   - after an answer read to EOF, the responses are framed by their
 *     Content-Length (a HEAD answer has none of its body), or end at the
 *     close (a streamed visit list answering HTTP/1.0);
 *   - (own engine) the server ends the exchange (answers and closes) within
 *     5 s of the client's end of stream: nothing more can come, so nothing
 *     may wait for a deadline (it once waited 10 s for the rest of a body
 *     when the end came with the last bytes, in one edge-triggered wake-up:
 *     fuzz/corpus/fuzz_http/c9-short-body).
 * FUZZ_HTTP_DUMP=1 in the environment prints every answer.
 * At exit the server is stopped (http_server_stop), so LeakSanitizer sees
 * whatever the stop path forgets, and whatever an input leaked: fuzz/run.sh
 * runs this harness with -detect_leaks=0 (libFuzzer's check after every
 * input that ends with more allocations than frees, as many of this
 * server's do, scanned the whole heap: 41 % of a run), so that check at
 * exit is the leak check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include <sodium.h>

#include "http/engine.h"
#include "http/internal.h"
#include "shorty/config.h"
#include "shorty/log.h"
#include "shorty/service.h"
#include "shorty/store.h"
#include "shorty/url.h"

#define STORE_URL "memory:fuzz"
#define ANSWER_MAX (4u << 20) /* bytes of answer kept per input */
#define READ_TIMEOUT_MS 1000
/* A fresh store and server every this many inputs: what the inputs create
 * (links, cache entries) made each input slower; a run of 10 million fell
 * from 2,200 to 390 inputs a second in its first 150,000. */
#define RESTART_EVERY 20000
/* ... and after this many answers that may have stored a visit (a redirect,
 * a 404: an orphan visit). An input that lists visits (without
 * itemsPerPage, as Shlink answers it, every visit is streamed) costs in
 * proportion to the visits the earlier inputs stored: with up to 20,000 inputs' worth of them, such
 * inputs took most of the run (perf: visit_cb's JSON per visit, 550 inputs
 * a second over a grown corpus against 8,000 from the seeds). */
#ifndef VISITS_MAX
#define VISITS_MAX 1000
#endif
/* the own engine must close within this of the client's end of stream:
 * half its shortest deadline (HTTP_REQUEST_TIMEOUT, 10 s), so a connection
 * left to a deadline is caught; 2 s was too short for a streamed list of
 * thousands of visits (inputs pile them up) at nice 10 on a loaded machine */
#define CLOSE_TIMEOUT_MS 5000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sh_config cfg;
static bool caller_loop; /* the own engine, turned by the harness */
static store *keeper; /* keeps "memory:fuzz" alive and holds the fixtures */
static char *answer;
static bool dump; /* FUZZ_HTTP_DUMP=1: print each answer (building corpora) */
static unsigned long inputs;  /* since the last fresh store */
static unsigned long visits;  /* answers that may have stored a visit, since then */

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_http: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

static void add_key(const char *text, const char *name, int role)
{
	sh_api_key k;

	memset(&k, 0, sizeof(k));
	snprintf(k.name, sizeof(k.name), "%s", name);
	k.role = role;
	crypto_generichash(k.hash, SH_KEY_HASH_BYTES, (const unsigned char *)text, strlen(text),
	                   NULL, 0);
	memcpy(k.prefix, text, 8);
	k.created_at = 1700000000;
	if (store_key_insert(keeper, &k) != 0)
		die("cannot insert a key", name);
}

static void add_link(svc *v, const char *code, const char *url, int64_t expires_at,
                     int64_t max_visits)
{
	svc_create_req req;
	sh_link l = {0};
	sh_err err = {0};

	svc_create_req_init(&req);
	req.url = url;
	req.custom_code = code;
	req.expires_at = expires_at;
	req.max_visits = max_visits;
	req.now = 1700000000;
	if (svc_shorten(v, keeper, &req, &l, NULL, &err) != 0)
		die("cannot create a fixture link", err.msg);
	sh_link_clear(&l);
}

/* The store with its fixtures, and the server over it. */
static void start_server(void)
{
	store_options o;
	sh_err err = {0};
	svc *v = NULL;

	store_options_default(&o);
	o.create = true;
	if (store_open(&keeper, STORE_URL, &o, &err) != 0 || store_migrate(keeper, &err) != 0 ||
	    svc_open(&v, &cfg, keeper, &err) != 0)
		die("cannot open the store", err.msg);
	add_key("fuzz-admin", "admin", KEY_ADMIN);
	add_key("fuzz-author", "author", KEY_AUTHOR);
	add_key("fuzz-ro", "read-only", KEY_READ_ONLY);
	add_link(v, "abc123", "https://example.com/", 0, 0);
	add_link(v, "crlf", "https://example.com/a%0d%0aSet-Cookie:%20s=1", 0, 0);
	add_link(v, "gone", "https://example.com/old", 1700000001, 0);
	add_link(v, "once", "https://example.com/once?x=1#f", 0, 1);
	svc_close(v);

	if (http_server_start(&cfg, HTTP_SERVER_NO_LISTEN | (caller_loop ? HTTP_SERVER_CALLER_LOOP : 0),
	                      &err) != 0)
		die("cannot start the server", err.msg);
}

/* Stops the server and drops the store (the memdb goes with its last
 * connection). */
static void stop_store_and_server(void)
{
	http_server_stop();
	store_close(keeper);
	keeper = NULL;
}

static void stop_server(void)
{
	stop_store_and_server();
	free(answer);
	cfg_free(&cfg);
	url_global_cleanup();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	sh_err err = {0};
	const char *engine = getenv("FUZZ_HTTP_ENGINE"); /* own (unset, empty) or mhd */

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || url_global_init() != 0 || cfg_init(&cfg, &err) != 0)
		die("cannot initialize", err.msg);
	log_set_level(SH_LOG_ERROR);
	if (cfg_set(&cfg, "db", STORE_URL, &err) != 0 ||
	    cfg_set(&cfg, "trusted-proxies", "127.0.0.1", &err) != 0 ||
	    cfg_set(&cfg, "http-engine",
	            engine && *engine ? engine : "own", &err) != 0)
		die("cannot configure", err.msg);
	caller_loop = cfg.http_engine == HTTP_ENGINE_OWN;
	cfg.threads = 1;
	cfg.rate_limit = 0;
	cfg.notfound_limit = 0;
	cfg.login_limit = 0;
	cfg.cache_entries = 1024;

	start_server();
	answer = malloc(ANSWER_MAX);
	if (!answer)
		die("out of memory", NULL);
	dump = getenv("FUZZ_HTTP_DUMP") != NULL;
	atexit(stop_server);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unread bytes of ours still queued for the server (for AF_UNIX, SIOCOUTQ
 * counts what the peer has not read yet). */
static int unread(int fd)
{
	int n = 0;

	if (ioctl(fd, SIOCOUTQ, &n) != 0)
		return 0;
	return n;
}

/*
 * Writes req into fd and reads the answer at the same time (a pipelined
 * input can make the server write a lot before it reads the rest). The
 * write side is shut down only once the server has read every byte: with
 * edge-triggered epoll, libmicrohttpd may consume data and the end of the
 * stream in one wake-up and then not notice the end until its timeout.
 * Returns the answer's length; *eof tells whether the server closed (else
 * the deadline passed).
 */
static size_t exchange(int fd, const uint8_t *req, size_t n, bool *eof)
{
	size_t off = 0, got = 0;
	bool wdone = false, shut = false;
	int64_t deadline = now_ms() + READ_TIMEOUT_MS;

	*eof = false;
	for (;;) {
		struct pollfd p = {fd, POLLIN | (wdone ? 0 : POLLOUT), 0};
		int64_t left = deadline - now_ms();

		if (left <= 0)
			break;
		if (wdone && !shut) {
			if (unread(fd) == 0) {
				shutdown(fd, SHUT_WR);
				shut = true;
			} else if (left > 1) {
				left = 1; /* look again in a moment */
			}
		}
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			die("poll", strerror(errno));
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			char scratch[4096];
			char *dst = got < ANSWER_MAX ? answer + got : scratch;
			size_t room = got < ANSWER_MAX ? ANSWER_MAX - got : sizeof(scratch);
			ssize_t r = recv(fd, dst, room, 0);

			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				*eof = true;
				break;
			}
			if (r > 0 && got < ANSWER_MAX)
				got += (size_t)r;
		}
		if (!wdone && (n == 0 || (p.revents & POLLOUT))) {
			ssize_t w = n ? send(fd, req + off, n - off, MSG_NOSIGNAL) : 0;

			if (w > 0)
				off += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || off == n)
				wdone = true;
		}
	}
	return got;
}

static void violation(const char *what, const char *a, size_t alen)
{
	fprintf(stderr, "fuzz_http: %s: \"%.*s\"\n", what, (int)(alen > 300 ? 300 : alen), a);
	abort();
}

static bool starts_response(const char *p, size_t n)
{
	return n >= 13 && memcmp(p, "HTTP/1.1 ", 9) == 0 && p[9] >= '1' && p[9] <= '5' &&
	       p[10] >= '0' && p[10] <= '9' && p[11] >= '0' && p[11] <= '9' && p[12] == ' ';
}

/* Checks every response in a[0..n). complete: read to EOF (else the last
 * one may be cut short). */
static void check_answer(const char *a, size_t n, bool complete)
{
	size_t pos = 0;

	while (pos < n) {
		const char *r = a + pos, *hend, *line, *le;
		size_t left = n - pos, clen = 0, next;
		bool has_clen = false, chunked = false;
		int status;

		if (!starts_response(r, left)) {
			if (!complete && left < 13)
				return;
			violation("not an HTTP/1.1 response", r, left);
		}
		status = (r[9] - '0') * 100 + (r[10] - '0') * 10 + (r[11] - '0');
		if (status == 500)
			violation("a 500 answer", r, left);
		if ((status >= 301 && status <= 308) || status == 404)
			visits++;
		hend = memmem(r, left, "\r\n\r\n", 4);
		if (!hend) {
			if (!complete)
				return;
			violation("a response without the end of its headers", r, left);
		}
		/* header lines: CR only as the CR of CRLF, LF only after CR */
		for (line = r; line < hend; line = le + 2) {
			le = memmem(line, (size_t)(hend + 2 - line), "\r\n", 2);
			for (const char *q = line; q < le; q++)
				if (*q == '\r' || *q == '\n' || *q == '\0')
					violation("a bare CR, LF or NUL in a response header", line,
					          (size_t)(le - line));
			if ((size_t)(le - line) > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
				has_clen = true;
				clen = strtoul(line + 15, NULL, 10);
			}
			if ((size_t)(le - line) > 18 &&
			    strncasecmp(line, "Transfer-Encoding:", 18) == 0)
				chunked = true;
		}
		next = (size_t)(hend + 4 - a);
		if (chunked)
			return; /* not framed by length (a streamed visit list) */
		if (!has_clen && status >= 200 && status != 204 && status != 304 &&
		    memmem(r, (size_t)(hend - r), "\r\nConnection: close", 19))
			return; /* a streamed answer to HTTP/1.0: the body ends at the close */
		if (!has_clen || status == 204 || status == 304 || status < 200) {
			pos = next;
			continue;
		}
		/* a HEAD answer carries Content-Length without the body: take the
		 * framing that leads to the next response or the end */
		if (next + clen == n || (next + clen < n && starts_response(a + next + clen,
		                                                            n - next - clen)))
			pos = next + clen;
		else if (next == n || starts_response(a + next, n - next))
			pos = next;
		else if (!complete && next + clen > n)
			return;
		else
			violation("bytes after a response that are not a response", a + next, n - next);
	}
}

/* Reads what the server sent into the answer (nonblocking). Returns true at
 * EOF. */
static bool drain(int fd, size_t *got)
{
	for (;;) {
		char scratch[4096];
		char *dst = *got < ANSWER_MAX ? answer + *got : scratch;
		size_t room = *got < ANSWER_MAX ? ANSWER_MAX - *got : sizeof(scratch);
		ssize_t r = recv(fd, dst, room, 0);

		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			return true;
		if (r < 0)
			return false;
		if (*got < ANSWER_MAX)
			*got += (size_t)r;
	}
}

/*
 * exchange() for the loop the harness turns: write what the socket takes,
 * shut the write side once all is written, read all there is, then turn
 * the server's loop. The loop's wait ends at its next event (bytes or room
 * on its socket, a unit back from the writer), so nobody waits on the
 * scheduler; when nothing happens, at the deadline.
 */
static size_t exchange_caller(int fd, const uint8_t *req, size_t n, bool *eof)
{
	size_t off = 0, got = 0;
	bool shut = false;
	int64_t deadline = now_ms() + CLOSE_TIMEOUT_MS;

	*eof = false;
	for (;;) {
		int64_t left = deadline - now_ms();

		while (off < n) {
			ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
			if (w <= 0) {
				if (w < 0 && errno != EAGAIN && errno != EINTR)
					off = n; /* the server closed: nothing more goes */
				break;
			}
			off += (size_t)w;
		}
		if (off == n && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		if (drain(fd, &got)) {
			*eof = true;
			break;
		}
		if (left <= 0) {
			check_answer(answer, got < ANSWER_MAX ? got : ANSWER_MAX, false);
			violation("the server did not close after the client's end of stream", answer,
			          got < ANSWER_MAX ? got : ANSWER_MAX);
		}
		http_server_poll((int)left);
	}
	return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *req;
	size_t n, got;
	int sv[2];
	bool eof;

	if (size == 0)
		return 0;
	if (++inputs >= RESTART_EVERY || visits >= VISITS_MAX) {
		stop_store_and_server();
		start_server();
		inputs = visits = 0;
	}
	n = size - 1;
	req = malloc(n + 4);
	if (!req)
		return 0;
	memcpy(req, data + 1, n);
	if (data[0] & 1) {
		memcpy(req + n, "\r\n\r\n", 4);
		n += 4;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair", strerror(errno));
	if (http_server_add_socket(sv[0]) != 0) /* the server owns sv[0] now */
		die("the server refused a connection", NULL);
	fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
	got = caller_loop ? exchange_caller(sv[1], req, n, &eof) : exchange(sv[1], req, n, &eof);
	close(sv[1]);
	free(req);
	if (dump)
		fprintf(stderr, "---- answer (%zu bytes%s)\n%.*s\n----\n", got, eof ? "" : ", timed out",
		        (int)(got < 65536 ? got : 65536), answer);
	check_answer(answer, got < ANSWER_MAX ? got : ANSWER_MAX, eof && got < ANSWER_MAX);
	return 0;
}

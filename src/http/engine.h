/*
 * engine.h — the HTTP/1.1 engine of our own (`--http-engine own`), beside
 * libmicrohttpd (`mhd`): one epoll loop per worker thread, the strict
 * parser of h1parse.c, keep-alive, pipelining, deadlines on a sorted list
 * per loop, deferred writes woken through an eventfd of the loop. See
 * engine.c for the design, docs/architecture.md for why.
 *
 * Only server.c, request.c, reply.c, params.c and proxies.c call these:
 * each of their MHD_* calls on a request has an engine twin here, chosen
 * by r->ec (non-NULL: the request came through this engine).
 */
#ifndef SHORTY_HTTP_ENGINE_H
#define SHORTY_HTTP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "http/server.h"

enum http_engine { HTTP_ENGINE_MHD = 0, HTTP_ENGINE_OWN = 1 }; /* cfg->http_engine */

/* Starts `threads` loops on S->lfd (-1: no listener, sockets come from
 * eng_add_socket). 0, or SH_E* with err. */
int eng_start(http_server *S, unsigned threads, sh_err *err);

/* Graceful stop, first half: no loop accepts any more and the listen socket
 * is closed (new connections are refused by the kernel); idle keep-alive
 * connections are closed, requests in flight go on. */
void eng_stop_listening(http_server *S);

/* Second half: the loops end, every connection is closed (a request whose
 * unit is still at the writer is left to the unit's completion to free). */
void eng_stop(http_server *S);

/* S->caller_loop: one turn of the (only) loop on the calling thread, waiting
 * up to timeout_ms for an event. */
void eng_poll(http_server *S, int timeout_ms);

/* Hands a connected socket to a loop (peer taken as 127.0.0.1). */
int eng_add_socket(http_server *S, int fd);

/* Twins of libmicrohttpd's calls for a request of this engine. */
const char *eng_header(http_req *r, const char *name);
const char *eng_query(http_req *r, const char *name);
/* Calls fn(ud, key, value) on every query argument in order (value NULL
 * for a key without '='). */
void eng_query_each(http_req *r, int (*fn)(void *ud, const char *key, const char *value),
                    void *ud);
/* The peer as text (http_addr_text), made once per connection: every
 * request of a keep-alive connection has the same (HTTP_IP_MAX bytes). */
const char *eng_peer_ip(http_req *r);

/* The answer: status line and headers (hdrs: n name/value pairs), then the
 * body (copied) or, when fn is set, a chunked stream of fn's blocks. */
typedef struct eng_hdr {
	const char *name, *value;
} eng_hdr;
int eng_reply(http_req *r, int status, const eng_hdr *hdrs, int n, const void *body, size_t len,
              http_stream_fn fn, void *ctx, void (*ctx_free)(void *ctx));

/* http_defer for a request of this engine. */
int eng_defer(http_req *r, svc_unit *u, http_job_reply reply);

/* http_offload for a request of this engine. */
bool eng_offload(http_req *r, http_handler fn);

/* True while a store thread works on r (http_offload): a completion of
 * its unit then leaves r to that thread (http_job_complete). */
bool eng_req_busy(const http_req *r);

/* Frees what the engine keeps for a request (http_req_free calls it). */
void eng_req_free(http_req *r);

#endif

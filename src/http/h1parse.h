/*
 * h1parse.h — a strict HTTP/1.1 request parser (RFC 9112) and chunked body
 * decoder: the parsing half of the HTTP layer of our own that issue 11
 * asks for (docs/benchmarks.md, "Profile of a keep-alive redirect": the
 * hot path cannot reach its goal on libmicrohttpd).
 *
 * Why by hand: Debian 12's only C request parser, http-parser 2.9, is
 * unmaintained upstream and lenient where shorty must not be (a bare LF
 * ends its lines; it is configured for leniency at build time); llhttp,
 * its successor, has no C package. What we need is small: the request
 * line, header fields, Content-Length and chunked framing, every limit of
 * SPEC, and a refusal (never a repair) of everything RFC 9112 allows a
 * server to refuse: NUL, bare CR, bare LF, obs-fold, two Content-Length
 * fields, Content-Length with Transfer-Encoding, bad or overflowing chunk
 * sizes. Nothing here allocates; the parsed request points into the
 * caller's buffer. fuzz/fuzz_h1.c fuzzes both functions.
 */
#ifndef SHORTY_HTTP_H1PARSE_H
#define SHORTY_HTTP_H1PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H1_FIELDS_MAX 100 /* header fields kept (SPEC: more is 431) */

/* Results: H1_OK and H1_PARTIAL, or an error: the negated HTTP status to
 * answer with before closing the connection. */
enum {
	H1_OK = 0,
	H1_PARTIAL = 1,           /* need more bytes */
	H1_EBAD = -400,           /* malformed */
	H1_EBODY_LARGE = -413,    /* Content-Length or chunks past body_max */
	H1_ETARGET_LONG = -414,   /* request line past line_max */
	H1_EHEADERS_LARGE = -431, /* header section past headers_max or fields_max */
	H1_ENOT_IMPL = -501,      /* a transfer coding other than chunked */
	H1_EVERSION = -505,       /* an HTTP version other than 1.0 and 1.1 */
};

typedef struct h1_limits {
	size_t line_max;    /* request line, CRLF excluded */
	size_t headers_max; /* header section (every field line), CRLFs excluded */
	size_t fields_max;  /* header fields (<= H1_FIELDS_MAX) */
	uint64_t body_max;  /* Content-Length, or the sum of the chunks */
} h1_limits;

typedef struct h1_field {
	const char *name, *value; /* not NUL-terminated; value without OWS */
	size_t name_len, value_len;
} h1_field;

typedef struct h1_request {
	const char *method, *target;
	size_t method_len, target_len;
	int minor; /* HTTP/1.<minor>: 0 or 1 */
	h1_field fields[H1_FIELDS_MAX];
	size_t nfields;
	size_t head_len;        /* bytes up to and including the empty line */
	int64_t content_length; /* -1: none */
	bool chunked;           /* Transfer-Encoding: chunked */
	bool keep_alive;        /* by version and Connection */
	bool expect_continue;   /* Expect: 100-continue */
	const char *host;       /* the Host field's value, NULL when absent */
	size_t host_len;
} h1_request;

/* Parses the request head at buf[0..len). H1_OK: *req is filled and
 * req->head_len bytes were the head; H1_PARTIAL: no complete head yet and
 * no limit passed (call again with more); else an error. Empty lines
 * (CRLF) before the request line are skipped, as RFC 9112 2.2 allows. */
int h1_parse_request(const char *buf, size_t len, const h1_limits *lim, h1_request *req);

/* The chunked decoder's state; zero it (h1_chunked_init) per body. */
typedef struct h1_chunked {
	int state;
	uint64_t size;   /* of the chunk being read */
	uint64_t total;  /* body bytes so far */
	size_t line;     /* bytes of the current size or trailer line */
	size_t trailers; /* bytes of the trailer section */
	unsigned digits; /* hex digits of the size */
} h1_chunked;

void h1_chunked_init(h1_chunked *c);

/* Decodes the chunked body in buf[0..*len) in place: the body's bytes are
 * moved to the front of buf and *len becomes their count. *used is set to
 * the bytes of buf consumed. H1_OK: the body ended (the bytes of buf past
 * *used belong to the next request); H1_PARTIAL: feed the next bytes (the
 * decoded ones have been taken out); else an error. Chunk extensions are
 * checked and dropped; trailer fields are checked (as header fields) and
 * dropped; lim->body_max and lim->headers_max (for the trailers) apply. */
int h1_chunked_decode(h1_chunked *c, const h1_limits *lim, char *buf, size_t *len, size_t *used);

#endif

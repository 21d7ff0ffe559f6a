/*
 * test_h1parse.c — the strict request parser and chunked decoder
 * (src/http/h1parse.c): every refusal of issue 11 item 3 and issue 12
 * item 10, the limits, and the same answer whether the bytes arrive at
 * once or one by one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/h1parse.h"

static const h1_limits lim = {
    .line_max = 8192, .headers_max = 16384, .fields_max = 100, .body_max = 65536};

static int parse(const char *s, h1_request *r)
{
	return h1_parse_request(s, strlen(s), &lim, r);
}

/* Every prefix of s is H1_PARTIAL or the same error as the whole. */
static void prefixes_agree(const char *s, int whole)
{
	h1_request r;
	size_t n = strlen(s), i;

	for (i = 0; i < n; i++) {
		int rc = h1_parse_request(s, i, &lim, &r);
		if (rc != H1_PARTIAL)
			assert_int_equal(rc, whole);
	}
}

static void expect_rc(const char *s, int want)
{
	h1_request r;

	assert_int_equal(parse(s, &r), want);
	prefixes_agree(s, want);
}

static void test_valid_requests(void **state)
{
	h1_request r;
	const char *s = "GET /abc?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t \t\r\n"
	                "Accept: */*\r\n\r\nNEXT";

	(void)state;
	assert_int_equal(parse(s, &r), H1_OK);
	assert_int_equal(r.head_len, strlen(s) - 4);
	assert_int_equal(r.method_len, 3);
	assert_memory_equal(r.method, "GET", 3);
	assert_int_equal(r.target_len, 8);
	assert_memory_equal(r.target, "/abc?x=1", 8);
	assert_int_equal(r.minor, 1);
	assert_int_equal(r.nfields, 3);
	assert_int_equal(r.fields[1].value_len, 1); /* OWS trimmed */
	assert_memory_equal(r.host, "example.com", 11);
	assert_true(r.keep_alive);
	assert_int_equal(r.content_length, -1);
	assert_false(r.chunked);
	prefixes_agree(s, H1_OK);

	/* empty lines first; HTTP/1.0 closes unless asked; keep-alive asked */
	assert_int_equal(parse("\r\n\r\nGET / HTTP/1.0\r\n\r\n", &r), H1_OK);
	assert_int_equal(r.minor, 0);
	assert_false(r.keep_alive);
	assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r), H1_OK);
	assert_true(r.keep_alive);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: x, close\r\n\r\n", &r),
	                 H1_OK);
	assert_false(r.keep_alive);
	assert_int_equal(parse("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n"
	                       "Expect: 100-continue\r\n\r\n",
	                       &r),
	                 H1_OK);
	assert_int_equal(r.content_length, 12);
	assert_true(r.expect_continue);
	assert_int_equal(
	    parse("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &r), H1_OK);
	assert_true(r.chunked);
	/* obs-text in the target and in values reaches the next layer */
	assert_int_equal(parse("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\nX: \xff\r\n\r\n", &r), H1_OK);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n", &r), H1_OK);
	assert_int_equal(r.fields[1].value_len, 0);
}

/* Issue 11 item 3: never passed on, always 400 (and the connection closed
 * by the caller). */
static void test_strict_refusals(void **state)
{
	static const char *const bad[] = {
	    "GET / HTTP/1.1\nHost: a\r\n\r\n",                 /* bare LF, request line */
	    "GET / HTTP/1.1\r\nHost: a\n\r\n",                 /* bare LF, field line */
	    "GET / HTTP/1.1\r\nHost: a\r\n\n",                 /* bare LF, end of head */
	    "GET / HTTP/1.1\rHost: a\r\n\r\n",                 /* bare CR */
	    "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",            /* bare CR in a value */
	    "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n",             /* CR CR at the end */
	    "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", /* obs-fold */
	    "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n",
	    "GET / HTTP/1.1\r\n Host: a\r\n\r\n",       /* space before a field */
	    "GET / HTTP/1.1\r\nHost : a\r\n\r\n",       /* space before the colon */
	    "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n",       /* not a token */
	    "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", /* empty name */
	    "GET / HTTP/1.1\r\nHost: a\r\nX-No-Colon\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01"
	    "b\r\n\r\n", /* a control byte */
	    "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n",
	    "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", /* two spaces */
	    "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
	    " GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	    "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n",
	    "G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
	    "GET / HTTP/1.x\r\nHost: a\r\n\r\n",
	    "GET / http/1.1\r\nHost: a\r\n\r\n",
	    "GET / HTTP/1.10\r\nHost: a\r\n\r\n",
	    "GET / HTTP/1.1\r\n\r\n",                       /* no Host in 1.1 */
	    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /* two Host */
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	h1_request r;
	size_t i;
	char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a?b\r\n\r\n";

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("case %zu\n", i);
		expect_rc(bad[i], H1_EBAD);
	}
	*strchr(nul, '?') = '\0'; /* a NUL in a value */
	assert_int_equal(h1_parse_request(nul, sizeof(nul) - 1, &lim, &r), H1_EBAD);
	nul[1] = '\0'; /* and in the method */
	assert_int_equal(h1_parse_request(nul, sizeof(nul) - 1, &lim, &r), H1_EBAD);
}

static void test_other_statuses(void **state)
{
	(void)state;
	expect_rc("GET / HTTP/2.0\r\nHost: a\r\n\r\n", H1_EVERSION);
	expect_rc("GET / HTTP/0.9\r\nHost: a\r\n\r\n", H1_EVERSION);
	expect_rc("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", H1_ENOT_IMPL);
	expect_rc("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n", H1_EBODY_LARGE);
	expect_rc("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n", H1_OK);
}

/* Limits are refused as soon as they are passed, not at the end. */
static void test_limits(void **state)
{
	h1_limits small = {.line_max = 32, .headers_max = 40, .fields_max = 3, .body_max = 10};
	h1_request r;
	char buf[256];

	(void)state;
	snprintf(buf, sizeof buf, "GET /%s HTTP/1.1\r\n", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(h1_parse_request(buf, 33, &small, &r), H1_ETARGET_LONG);
	assert_int_equal(h1_parse_request(buf, 32, &small, &r), H1_PARTIAL);
	/* exactly line_max bytes of line: served */
	snprintf(buf, sizeof buf, "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", "aaaaaaaaaaaaaaaaaa");
	assert_int_equal(strlen("GET /aaaaaaaaaaaaaaaaaa HTTP/1.1"), 32);
	assert_int_equal(h1_parse_request(buf, strlen(buf), &small, &r), H1_OK);
	/* header bytes: 40 at most (CRLFs not counted) */
	snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n",
	         "0123456789012345678901234567890"); /* 7 + 34 = 41 */
	assert_int_equal(h1_parse_request(buf, strlen(buf), &small, &r), H1_EHEADERS_LARGE);
	assert_int_equal(h1_parse_request(buf, 16 + 7 + 2 + 34, &small, &r), H1_EHEADERS_LARGE);
	snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n",
	         "012345678901234567890123456789"); /* 40: served */
	assert_int_equal(h1_parse_request(buf, strlen(buf), &small, &r), H1_OK);
	assert_int_equal(
	    h1_parse_request("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 46,
	                     &small, &r),
	    H1_EHEADERS_LARGE);
}

/* Every byte value in a field name and in a field value: accepted exactly
 * when RFC 9110 allows it there (the parser's byte-class table). */
static void test_every_byte(void **state)
{
	static const char tpunct[] = "!#$%&'*+-.^_`|~";
	h1_request r;
	char buf[64];

	(void)state;
	for (int b = 0; b < 256; b++) {
		bool token = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') ||
		             (b >= 'A' && b <= 'Z') || (b && strchr(tpunct, b));
		bool value = b == '\t' || (b >= 0x20 && b != 0x7f);
		int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX%cY: v\r\n\r\n", 'Z');
		buf[26] = (char)b; /* the Z */
		if (h1_parse_request(buf, (size_t)n, &lim, &r) != (token || b == ':' ? H1_OK : H1_EBAD))
			fail_msg("byte 0x%02x in a field name", b);
		n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: a%cb\r\n\r\n", 'Z');
		buf[29] = (char)b;
		if (h1_parse_request(buf, (size_t)n, &lim, &r) != (value ? H1_OK : H1_EBAD))
			fail_msg("byte 0x%02x in a field value", b);
		if (value && (r.nfields != 2 || r.fields[1].value_len != 3))
			fail_msg("byte 0x%02x: value not kept whole", b);
	}
}

/* Decodes s (chunked) in pieces of `step` bytes; returns the status and
 * the body in out. */
static int dechunk(const char *s, size_t step, const h1_limits *l, char *out, size_t *outlen,
                   size_t *rest)
{
	h1_chunked c;
	char buf[1024];
	size_t n = strlen(s), at = 0, have = 0, len, used;
	int rc = H1_PARTIAL;

	h1_chunked_init(&c);
	*outlen = 0;
	while (rc == H1_PARTIAL && at < n) {
		size_t k = n - at < step ? n - at : step;
		memcpy(buf + have, s + at, k);
		at += k;
		have += k;
		len = have;
		rc = h1_chunked_decode(&c, l, buf, &len, &used);
		memcpy(out + *outlen, buf, len);
		*outlen += len;
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	*rest = have + (n - at);
	return rc;
}

static void test_chunked(void **state)
{
	static const char *const good[] = {
	    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
	    "5;ext=1;name=\"q v\"\r\nhello\r\n006\r\n world\r\n0\r\nX-T: 1\r\nY:\r\n\r\n",
	    "B\r\nhello world\r\n0\r\n\r\n",
	};
	static const char *const bad[] = {
	    "5\nhello\r\n0\r\n\r\n",    /* bare LF after the size */
	    "5\r\nhello\n0\r\n\r\n",    /* bare LF after the data */
	    "5\r\nhelloX\r\n0\r\n\r\n", /* data longer than its size */
	    "\r\nhello\r\n0\r\n\r\n",   /* no size */
	    " 5\r\nhello\r\n0\r\n\r\n", /* space before the size */
	    "5 \r\nhello\r\n0\r\n\r\n", /* space after it */
	    "g\r\n",                    /* not hex */
	    "-5\r\n",
	    "5;a\x01\r\nhello\r\n0\r\n\r\n", /* control byte in an extension */
	    "0\r\nX T: 1\r\n\r\n",           /* bad trailer name */
	    "0\r\nX-T 1\r\n\r\n",            /* trailer without colon */
	    "0\r\nX: 1\n\r\n",               /* bare LF in the trailers */
	    "0\r\n\n",                       /* bare LF at the end */
	};
	char out[256];
	size_t n, rest, step, i;

	(void)state;
	for (step = 1; step <= 64; step *= 2) {
		for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			assert_int_equal(dechunk(good[i], step, &lim, out, &n, &rest), H1_OK);
			assert_int_equal(n, 11);
			assert_memory_equal(out, "hello world", 11);
			assert_int_equal(rest, 0);
		}
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			print_message("bad %zu step %zu\n", i, step);
			assert_int_equal(dechunk(bad[i], step, &lim, out, &n, &rest), H1_EBAD);
		}
	}
	/* what follows the body is the next request's */
	assert_int_equal(dechunk("1\r\na\r\n0\r\n\r\nGET", 64, &lim, out, &n, &rest), H1_OK);
	assert_int_equal(rest, 3);
}

/* Issue 12 item 10: an overflowing or too large chunk size is a prompt
 * 413, not a wait for the body deadline. */
static void test_chunk_sizes_too_large(void **state)
{
	h1_limits l = lim;
	char out[256];
	size_t n, rest;

	(void)state;
	assert_int_equal(dechunk("ffffffffffffffff\r\n", 1, &lim, out, &n, &rest), H1_EBODY_LARGE);
	assert_int_equal(dechunk("fffffffffffffffffffff", 64, &lim, out, &n, &rest),
	                 H1_EBODY_LARGE);
	assert_int_equal(dechunk("10001\r\n", 64, &lim, out, &n, &rest), H1_EBODY_LARGE);
	/* leading zeros are no overflow */
	assert_int_equal(
	    dechunk("000000000000000000000001\r\na\r\n0\r\n\r\n", 3, &lim, out, &n, &rest), H1_OK);
	/* the sum of the chunks counts */
	l.body_max = 10;
	assert_int_equal(dechunk("6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n", 64, &l, out, &n, &rest),
	                 H1_EBODY_LARGE);
	assert_int_equal(dechunk("6\r\nhello \r\n4\r\nworl\r\n0\r\n\r\n", 64, &l, out, &n, &rest),
	                 H1_OK);
	/* trailers count against headers_max */
	l.headers_max = 4;
	assert_int_equal(dechunk("0\r\nX: 12\r\n\r\n", 64, &l, out, &n, &rest), H1_EHEADERS_LARGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_requests), cmocka_unit_test(test_strict_refusals),
	    cmocka_unit_test(test_other_statuses), cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_chunked),        cmocka_unit_test(test_chunk_sizes_too_large),
	    cmocka_unit_test(test_every_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

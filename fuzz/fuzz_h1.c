/*
 * fuzz_h1.c — libFuzzer harness for the strict request parser and the
 * chunked decoder (src/http/h1parse.c), on their own: no server, so it
 * runs about a thousand times faster than fuzz_http (issue 11 item 3:
 * at least 10 million executions).
 *
 * Per input (byte 0 chooses the split points of the body, the rest is the
 * request), invariants (abort on violation):
 *   - parsing a prefix of the input (20 of them: spread over it, and the
 *     last bytes cut off) gives H1_PARTIAL or the whole input's answer
 *     (a refusal never depends on how the bytes were cut);
 *   - a parsed head lies inside the input: method, target, every field
 *     name and value, none holding CR, LF or NUL; names are not empty;
 *   - the chunked decoder gives the same status and the same body whether
 *     it is fed all at once or in pieces of 1 to 16 bytes, and never
 *     writes more body than it consumed, nor past body_max.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/h1parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const h1_limits lim = {
    .line_max = 512, .headers_max = 1024, .fields_max = 16, .body_max = 2048};

static void check(int ok)
{
	if (!ok)
		abort();
}

static bool inside(const char *p, size_t n, const uint8_t *buf, size_t len)
{
	return (const uint8_t *)p >= buf && (const uint8_t *)p + n <= buf + len;
}

static bool clean(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
			return false;
	return true;
}

/* Decodes body[0..n) fed `step` bytes at a time (0: all at once). */
static int dechunk(const uint8_t *body, size_t n, size_t step, char *out, size_t *outlen)
{
	h1_chunked c;
	char *buf = malloc(n + 1);
	size_t at = 0, have = 0, len, used;
	int rc = H1_PARTIAL;

	check(buf != NULL);
	h1_chunked_init(&c);
	*outlen = 0;
	while (rc == H1_PARTIAL && at < n) {
		size_t k = step == 0 || n - at < step ? n - at : step;
		memcpy(buf + have, body + at, k);
		at += k;
		have += k;
		len = have;
		rc = h1_chunked_decode(&c, &lim, buf, &len, &used);
		check(len <= used && used <= have);
		check(*outlen + len <= lim.body_max);
		memcpy(out + *outlen, buf, len);
		*outlen += len;
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	free(buf);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static h1_request r, p;
	static char a[2048], b[2048];
	size_t i, na, nb, step;
	int rc, rp, ra, rb;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] % 16) + 1;
	data++;
	size--;
	rc = h1_parse_request((const char *)data, size, &lim, &r);
	/* 16 prefixes spread over the input, and the last 4 (a head cut in
	 * its final CRLF CRLF) */
	for (i = 0; i < 20 && i < size; i++) {
		size_t at = i < 16 ? size * i / 16 : size - (i - 15);
		rp = h1_parse_request((const char *)data, at, &lim, &p);
		check(rp == H1_PARTIAL || rp == rc);
	}
	if (rc == H1_OK) {
		check(r.head_len <= size);
		check(inside(r.method, r.method_len, data, r.head_len) && r.method_len > 0);
		check(inside(r.target, r.target_len, data, r.head_len) && r.target_len > 0);
		check(clean(r.method, r.method_len) && clean(r.target, r.target_len));
		check(r.minor == 0 || r.minor == 1);
		for (i = 0; i < r.nfields; i++) {
			const h1_field *f = &r.fields[i];
			check(f->name_len > 0 && inside(f->name, f->name_len, data, r.head_len));
			check(inside(f->value, f->value_len, data, r.head_len));
			check(clean(f->name, f->name_len) && clean(f->value, f->value_len));
		}
		check(!(r.chunked && r.content_length >= 0));
		check(r.content_length < 0 || (uint64_t)r.content_length <= lim.body_max);
	}
	/* the chunked decoder, on whatever follows a head (or the whole input) */
	{
		const uint8_t *body = rc == H1_OK ? data + r.head_len : data;
		size_t n = rc == H1_OK ? size - r.head_len : size;

		ra = dechunk(body, n, 0, a, &na);
		rb = dechunk(body, n, step, b, &nb);
		check(ra == rb);
		if (ra == H1_OK || ra == H1_PARTIAL) {
			check(na == nb);
			check(na == 0 || memcmp(a, b, na) == 0);
		}
	}
	return 0;
}

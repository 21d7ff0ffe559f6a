/*
 * logmask.c — the request target as the access log writes it: the values
 * of the query parameters that carry credentials replaced by "***".
 *
 * The names are compared after %-decoding and case-folding, because that
 * is how the routes read them: libmicrohttpd decodes a parameter's name
 * before http_param() finds it, so `sign%61ture=KEY` authenticates as
 * `signature=KEY` and must be masked as one (issue 12). A name that does not
 * decode (a bad escape) is compared as written, as libmicrohttpd keeps it.
 * Other bytes are left to the logger, which escapes control bytes and
 * anything that is not UTF-8 (log_escape).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "http/internal.h"

/* The names of every parameter that carries a credential, on any route:
 * Shlink's legacy apiKey, YOURLS's signature and password, and spellings a
 * client might use for them. */
static const char *const secret_names[] = {"apikey",   "api_key", "key",      "signature",
                                           "password", "token",   "x-api-key"};

/* Is the parameter name p[0..n) a credential, once %-decoded? */
static bool secret_name(const char *p, size_t n)
{
	char name[32];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		unsigned char byte;
		size_t got = 0;

		if (c == '%' && i + 2 < n &&
		    sodium_hex2bin(&byte, 1, p + i + 1, 2, NULL, &got, NULL) == 0 && got == 1) {
			c = (char)byte;
			i += 2;
		}
		if (k + 1 >= sizeof name)
			return false; /* longer than any secret name */
		name[k++] = c;
	}
	name[k] = '\0'; /* a decoded NUL ends the name, as it does for the routes */
	for (size_t s = 0; s < sizeof secret_names / sizeof secret_names[0]; s++)
		if (strcasecmp(name, secret_names[s]) == 0)
			return true;
	return false;
}

const char *http_log_target(const char *raw, char *out, size_t outsz)
{
	const char *q;
	size_t o;

	if (!raw)
		return "-";
	q = strchr(raw, '?');
	if (!q) {
		snprintf(out, outsz, "%s", raw);
		return out;
	}
	o = (size_t)(q - raw) + 1 < outsz ? (size_t)(q - raw) + 1 : outsz - 1;
	memcpy(out, raw, o);
	for (const char *p = q + 1; *p && o + 1 < outsz;) {
		size_t plen = strcspn(p, "&"), nlen = strcspn(p, "=&");
		bool hide = nlen < plen && secret_name(p, nlen);
		int n = hide ? snprintf(out + o, outsz - o, "%.*s=***", (int)nlen, p)
		             : snprintf(out + o, outsz - o, "%.*s", (int)plen, p);
		o += n > 0 ? (size_t)n : 0;
		if (o >= outsz)
			o = outsz - 1;
		p += plen;
		if (*p == '&' && o + 1 < outsz) {
			out[o++] = '&';
			p++;
		}
	}
	out[o] = '\0';
	return out;
}

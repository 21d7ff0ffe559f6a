/*
 * url.c — the one gate every long URL passes (see shorty/url.h, SPEC §3,
 * research/reliability-security.md §5-A).
 *
 * Parsing is libcurl's (curl_url); this file decides what is accepted and
 * writes the canonical form itself from the parts curl hands back:
 *
 *   1. Trim surrounding ASCII white space and C0 controls (what browsers do,
 *      so "\x01javascript:..." is judged as the browser would see it).
 *   2. Reject, anywhere in what is left: control characters (< 0x20, 0x7f,
 *      including tab, CR, LF and NUL), raw spaces, backslashes (browsers read
 *      "\" as "/" in http URLs, curl does not: refusing it removes the
 *      disagreement), and bytes that are not valid UTF-8.
 *   3. The scheme must be in the policy's list (default http, https),
 *      compared case-insensitively; no scheme at all is "relative".
 *   4. curl parses; bad ports, bad hosts, bad IPv6 literals are refused.
 *      Credentials ("user:pass@", "paypal.com@evil.example", even a bare
 *      "@") are refused: they exist to make a link look like another site.
 *      IPv6 zone ids are refused.
 *   5. Canonical form: scheme and host lower case; an international host
 *      name to punycode (IDNA 2008 via curl/libidn2); a host must be
 *      labels of [a-z0-9_-] (1..63 bytes, 253 in all) or an IP literal;
 *      the scheme's default port dropped; dot segments removed (also those
 *      spelled %2E); an empty path becomes "/"; an empty query or fragment
 *      is dropped.
 *   6. Percent-encoding, per component (path, query, fragment):
 *        - "%xx" is written with upper-case hex;
 *        - it is DECODED only when the byte is unreserved (A-Z a-z 0-9 - . _ ~),
 *          which never changes what the URL means;
 *        - every other encoded byte STAYS encoded: controls (%0D%0A stays
 *          %0D%0A, so nothing decoded can ever split a header), delimiters
 *          (%2F %3F %23 %26 %3D %2B %25 ...), and non-ASCII bytes;
 *        - raw bytes not allowed in the component by RFC 3986 (non-ASCII
 *          bytes, " < > [ ] ^ ` { | }, a second "#") are encoded;
 *        - a "%" not followed by two hex digits is encoded as %25.
 *      So "https://example.com/ü?q=ü#ü" -> ".../%C3%BC?q=%C3%BC#%C3%BC".
 *   7. The input (after trimming) and the result are at most max_length
 *      bytes (SH_ETOOBIG); a host on the blocklist, or one of the service's
 *      own names (any scheme, any port: the base URL's host, the names in
 *      the policy, loopback names and addresses), is SH_EBLOCKED.
 *
 * Private addresses (10.x, 192.168.x, 169.254.169.254) are ACCEPTED:
 * shorty never fetches the URLs it stores, it only redirects browsers to
 * them, so they are no server-side request forgery risk here. A title
 * fetcher or link preview added later must refuse them itself. Loopback
 * addresses are refused as the service's own names when the policy checks
 * loops (issue 12: a proxy or the service itself may answer there).
 *
 * The result never contains a control character, a space or a backslash;
 * it is safe to write into a Location header byte for byte.
 */
#include <arpa/inet.h>
#include <locale.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "shorty/url.h"
#include "shorty/utf8.h"

enum url_comp { URL_PATH, URL_QUERY, URL_FRAGMENT };

/* A growing string with a hard limit. */
typedef struct url_buf {
	char *b;
	size_t n, cap, max;
	bool over; /* went past max: the caller reports SH_ETOOBIG */
	bool oom;
} url_buf;

static pthread_once_t url_locale_once = PTHREAD_ONCE_INIT;
static locale_t url_utf8_locale = (locale_t)0;

/* curl (7.88) converts a host to punycode with idn2_lookup_ul(), which reads
 * the host in the locale's character set; a UTF-8 LC_CTYPE, set for the
 * calling thread only around that call, makes it read UTF-8. */
static void url_locale_init(void)
{
	static const char *const names[] = {"C.UTF-8", "C.utf8", "en_US.UTF-8", NULL};

	for (int i = 0; names[i] && !url_utf8_locale; i++)
		url_utf8_locale = newlocale(LC_CTYPE_MASK, names[i], (locale_t)0);
}

int url_global_init(void)
{
	pthread_once(&url_locale_once, url_locale_init);
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : SH_ENOMEM;
}

void url_global_cleanup(void)
{
	curl_global_cleanup();
}

void url_policy_default(url_policy *p)
{
	memset(p, 0, sizeof *p);
	p->max_length = URL_DEFAULT_MAX_LENGTH;
	p->schemes[0] = "http";
	p->schemes[1] = "https";
	p->schemes[2] = NULL;
}

/* ---- small helpers ------------------------------------------------------ */

static void ub_putn(url_buf *o, const char *s, size_t n)
{
	if (o->over || o->oom)
		return;
	if (o->n + n > o->max) {
		o->over = true;
		return;
	}
	if (o->n + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 128;
		char *nb;

		while (cap < o->n + n + 1)
			cap *= 2;
		nb = realloc(o->b, cap);
		if (!nb) {
			o->oom = true;
			return;
		}
		o->b = nb;
		o->cap = cap;
	}
	memcpy(o->b + o->n, s, n);
	o->n += n;
	o->b[o->n] = '\0';
}

static void ub_puts(url_buf *o, const char *s)
{
	ub_putn(o, s, strlen(s));
}

static void ub_putc(url_buf *o, char c)
{
	ub_putn(o, &c, 1);
}

static int url_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool url_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* May c stand unencoded in this component (RFC 3986 pchar, plus "/" and,
 * in query and fragment, "?")? */
static bool url_raw_ok(unsigned char c, enum url_comp comp)
{
	if (url_unreserved(c))
		return true;
	if (c != '\0' && strchr("!$&'()*+,;=:@/", c))
		return true;
	return c == '?' && comp != URL_PATH;
}

static void url_put_pct(url_buf *o, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char t[3] = {'%', hex[c >> 4], hex[c & 15]};

	ub_putn(o, t, 3);
}

/* Writes s with canonical percent-encoding for comp (rule 6 above). */
static void url_canon(url_buf *o, const char *s, enum url_comp comp)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '%') {
			int hi = url_hexval(p[1]), lo = hi < 0 ? -1 : url_hexval(p[2]);
			if (hi >= 0 && lo >= 0) {
				unsigned char v = (unsigned char)(hi * 16 + lo);
				if (url_unreserved(v))
					ub_putc(o, (char)v);
				else
					url_put_pct(o, v);
				p += 2;
			} else {
				ub_puts(o, "%25");
			}
		} else if (url_raw_ok(*p, comp)) {
			ub_putc(o, (char)*p);
		} else {
			url_put_pct(o, *p);
		}
	}
}

/* RFC 3986 5.2.4 on an absolute path; out gets the result ("/" at least). */
static void url_remove_dots(url_buf *out, const char *path)
{
	const char *p = path;

	while (*p == '/') {
		const char *seg = p + 1;
		const char *end = strchr(seg, '/');
		size_t len;
		bool last;

		if (!end)
			end = seg + strlen(seg);
		len = (size_t)(end - seg);
		last = *end == '\0';
		if (len == 1 && seg[0] == '.') {
			if (last)
				ub_putc(out, '/');
		} else if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out->n > 0 && out->b[out->n - 1] != '/')
				out->n--;
			if (out->n > 0)
				out->n--; /* the '/' before the removed segment */
			if (out->b)
				out->b[out->n] = '\0';
			if (last)
				ub_putc(out, '/');
		} else {
			ub_putc(out, '/');
			ub_putn(out, seg, len);
		}
		p = end;
	}
	if (out->n == 0)
		ub_putc(out, '/');
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool url_utf8_ok(const unsigned char *s, size_t n)
{
	uint32_t cp;

	for (size_t len; n > 0; s += len, n -= len)
		if ((len = sh_utf8_next(s, n, &cp)) == 0)
			return false;
	return true;
}

/* Host after lower-casing: an IP literal, or dot-separated labels of
 * [a-z0-9_-], 1..63 bytes each, 253 in all, one trailing dot allowed. */
static bool url_host_ok(const char *h)
{
	size_t n = strlen(h), label = 0;

	if (n == 0)
		return false;
	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < n; i++)
			if (!strchr("0123456789abcdef:.", h[i]))
				return false;
		return true;
	}
	if (h[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* Does host (lower case) equal name or end in "." + name? Trailing dots
 * and a leading "*." or "." on name are ignored. */
static bool url_host_match(const char *host, const char *name, bool subdomains)
{
	size_t hl = strlen(host), nl;

	if (name[0] == '*' && name[1] == '.')
		name += 2;
	else if (name[0] == '.')
		name++;
	nl = strlen(name);
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	if (nl == 0 || hl < nl)
		return false;
	if (strncasecmp(host + hl - nl, name, nl) != 0)
		return false;
	if (hl == nl)
		return true;
	return subdomains && host[hl - nl - 1] == '.';
}

/* The address a host names when it is an IP literal ("127.0.0.1",
 * "[::1]"): AF_INET or AF_INET6 with its bytes in a, else 0. An IPv4-mapped
 * or -compatible IPv6 address is read as its IPv4 address. */
static int url_host_addr(const char *h, unsigned char a[16])
{
	char buf[64];
	size_t n = strlen(h);
	unsigned char a6[16];
	static const unsigned char zero12[12];

	if (inet_pton(AF_INET, h, a) == 1)
		return AF_INET;
	if (n < 3 || n - 2 >= sizeof buf || h[0] != '[' || h[n - 1] != ']')
		return 0;
	memcpy(buf, h + 1, n - 2);
	buf[n - 2] = '\0';
	if (inet_pton(AF_INET6, buf, a6) != 1)
		return 0;
	if ((memcmp(a6, zero12, 10) == 0 && a6[10] == 0xff && a6[11] == 0xff) ||
	    (memcmp(a6, zero12, 12) == 0 && (a6[12] | a6[13]) != 0)) {
		memcpy(a, a6 + 12, 4); /* ::ffff:a.b.c.d, ::a.b.c.d */
		return AF_INET;
	}
	memcpy(a, a6, 16);
	return AF_INET6;
}

/* Loopback and "this host": localhost and its subdomains (RFC 6761),
 * 127.0.0.0/8, 0.0.0.0/8, ::1 and :: (however written). */
static bool url_host_loopback(const char *host)
{
	unsigned char a[16];
	static const unsigned char zero15[15];

	if (url_host_match(host, "localhost", true))
		return true;
	switch (url_host_addr(host, a)) {
	case AF_INET:
		return a[0] == 127 || a[0] == 0;
	case AF_INET6:
		return memcmp(a, zero15, 15) == 0 && a[15] <= 1;
	default:
		return false;
	}
}

/* Is host (its address a/af from url_host_addr) the name `name`? IP
 * literals are compared as addresses, so every spelling matches. */
static bool url_host_same(const char *host, int af, const unsigned char *a, const char *name)
{
	unsigned char b[16];
	int bf = url_host_addr(name, b);

	if (bf)
		return af == bf && memcmp(a, b, af == AF_INET ? 4 : 16) == 0;
	return url_host_match(host, name, false);
}

/* Is host one of the service's own names (any scheme, any port)? */
static bool url_host_is_self(const url_policy *p, const char *host)
{
	unsigned char a[16];
	int af = url_host_addr(host, a);

	if (url_host_loopback(host) || url_host_same(host, af, a, p->self_host))
		return true;
	for (const char *const *n = p->self_names; n && *n; n++)
		if (url_host_same(host, af, a, *n))
			return true;
	return false;
}

static int url_default_port(const char *scheme)
{
	if (strcmp(scheme, "http") == 0 || strcmp(scheme, "ws") == 0)
		return 80;
	if (strcmp(scheme, "https") == 0 || strcmp(scheme, "wss") == 0)
		return 443;
	if (strcmp(scheme, "ftp") == 0)
		return 21;
	return -1;
}

/* "http and https" / "http, https and ftp" from the policy (conj " and "),
 * or "http or https" (conj " or "). */
static const char *url_schemes_text(const url_policy *p, const char *conj, char *buf, size_t bufsz)
{
	int n = 0;
	size_t o = 0;

	while (n < URL_MAX_SCHEMES && p->schemes[n])
		n++;
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *sep = i == 0 ? "" : i < n - 1 ? ", " : conj;
		int w = snprintf(buf + o, bufsz - o, "%s%s", sep, p->schemes[i]);
		if (w < 0 || (size_t)w >= bufsz - o)
			break;
		o += (size_t)w;
	}
	return buf;
}

/* Length of a leading "scheme:" name ([A-Za-z][A-Za-z0-9+.-]*) or 0. A name
 * with a dot followed by a digit ("example.com:8080") is a host, not a
 * scheme. */
static size_t url_scheme_len(const char *s, size_t n)
{
	size_t i = 0;
	bool dot = false;

	if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (i = 1; i < n && s[i] != ':'; i++) {
		char c = s[i];
		if (c == '.')
			dot = true;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9') || c == '+' || c == '-'))
			return 0;
	}
	if (i >= n)
		return 0;
	if (i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')
		return 0; /* host:port */
	if (dot && !(i + 1 < n && s[i + 1] == '/'))
		return 0;
	return i;
}

/* ---- the gate ------------------------------------------------------------ */

static int url_normalize_once(const url_policy *p, const char *in, size_t in_len, char **out,
                              sh_err *err)
{
	url_policy defp;
	const char *s = in, *e;
	char schemes_txt[128], schemes_or[128];
	char scheme[32];
	char *buf = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *frag = NULL;
	char *user = NULL, *pass = NULL, *zone = NULL;
	CURLU *h = NULL;
	CURLUcode uc;
	url_buf res = {0}, canon = {0}, dots = {0};
	size_t n, sl;
	int portnum = -1;
	bool nonascii_host = false;
	int rc = 0;

	if (out)
		*out = NULL;
	if (!p) {
		url_policy_default(&defp);
		p = &defp;
	}
	if (!in || !out) {
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "a URL is required, such as https://example.com/");
		goto out;
	}
	url_schemes_text(p, " and ", schemes_txt, sizeof schemes_txt);
	url_schemes_text(p, " or ", schemes_or, sizeof schemes_or);

	/* 1. trim */
	e = in + in_len;
	while (s < e && (unsigned char)*s <= 0x20)
		s++;
	while (e > s && (unsigned char)e[-1] <= 0x20)
		e--;
	n = (size_t)(e - s);
	if (n == 0) {
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "a URL is required: give an absolute %s URL such as "
		                "https://example.com/",
		                schemes_or);
		goto out;
	}
	if (n > p->max_length) {
		rc = sh_err_set(err, SH_ETOOBIG, "url",
		                "URL longer than %zu bytes: shorten it (the limit is the "
		                "max-url-length setting)",
		                p->max_length);
		goto out;
	}

	/* 2. bytes */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			rc = sh_err_set(err, SH_EINVAL, "url",
			                "control characters are not allowed in a URL: remove "
			                "them or percent-encode them (%%0A)");
			goto out;
		}
		if (c == ' ') {
			rc = sh_err_set(err, SH_EINVAL, "url",
			                "spaces are not allowed in a URL: encode them as %%20");
			goto out;
		}
		if (c == '\\') {
			rc =
			    sh_err_set(err, SH_EINVAL, "url",
			               "backslashes are not allowed in a URL: use / or encode them "
			               "as %%5C");
			goto out;
		}
	}
	if (!url_utf8_ok((const unsigned char *)s, n)) {
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "the URL is not valid UTF-8: percent-encode its bytes");
		goto out;
	}

	/* 3. scheme */
	sl = url_scheme_len(s, n);
	if (sl == 0) {
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "an absolute %s URL is required, such as https://example.com/page",
		                schemes_or);
		goto out;
	}
	if (sl >= sizeof scheme)
		goto bad_scheme;
	for (size_t i = 0; i < sl; i++) {
		char c = s[i];
		scheme[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	scheme[sl] = '\0';
	for (int i = 0; i < URL_MAX_SCHEMES && p->schemes[i]; i++)
		if (strcmp(scheme, p->schemes[i]) == 0)
			goto scheme_ok;
bad_scheme:
	rc = sh_err_set(err, SH_EINVAL, "url", "only %s URLs are allowed", schemes_txt);
	goto out;
scheme_ok:
	if (sl + 1 >= n || s[sl + 1] != '/') {
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "an absolute %s URL is required, written as %s://host/path",
		                schemes_or, scheme);
		goto out;
	}

	/* 4. parse */
	buf = strndup(s, n);
	h = curl_url();
	if (!buf || !h) {
		rc = sh_err_set(err, SH_ENOMEM, "url", "out of memory");
		goto out;
	}
	uc = curl_url_set(h, CURLUPART_URL, buf, CURLU_NON_SUPPORT_SCHEME);
	switch (uc) {
	case CURLUE_OK:
		break;
	case CURLUE_OUT_OF_MEMORY:
		rc = sh_err_set(err, SH_ENOMEM, "url", "out of memory");
		goto out;
	case CURLUE_BAD_PORT_NUMBER:
	case CURLUE_NO_PORT:
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "the port is not valid: use a number from 0 to 65535 after the "
		                "host, or none");
		goto out;
	case CURLUE_BAD_HOSTNAME:
	case CURLUE_BAD_IPV6:
	case CURLUE_NO_HOST:
	case CURLUE_MALFORMED_INPUT:
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "the host name of the URL is not valid: check it for typing "
		                "mistakes");
		goto out;
	case CURLUE_BAD_LOGIN:
	case CURLUE_BAD_USER:
	case CURLUE_BAD_PASSWORD:
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "credentials in the URL are not allowed: remove the part "
		                "before @ in the host");
		goto out;
	case CURLUE_BAD_SLASHES:
	case CURLUE_NO_SCHEME:
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "an absolute %s URL is required, written as %s://host/path",
		                schemes_or, scheme);
		goto out;
	default:
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "the URL could not be read (%s): check it for typing mistakes",
		                curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(h, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "credentials in the URL are not allowed: remove the part "
		                "before @ in the host");
		goto out;
	}
	if (curl_url_get(h, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "IPv6 zone ids (%%25eth0) are not allowed in a URL: remove it");
		goto out;
	}

	/* 5. host */
	uc = curl_url_get(h, CURLUPART_HOST, &host, 0);
	if (uc == CURLUE_OK) {
		for (const char *q = host; *q; q++)
			if ((unsigned char)*q >= 0x80)
				nonascii_host = true;
	}
	if (uc == CURLUE_OK && nonascii_host) {
		locale_t old;

		curl_free(host);
		host = NULL;
		pthread_once(&url_locale_once, url_locale_init);
		if (!url_utf8_locale) {
			uc = CURLUE_LACKS_IDN;
		} else {
			old = uselocale(url_utf8_locale);
			uc = curl_url_get(h, CURLUPART_HOST, &host, CURLU_PUNYCODE);
			uselocale(old);
		}
		if (uc != CURLUE_OK) {
			rc = sh_err_set(err, SH_EINVAL, "url",
			                "the international host name could not be converted to "
			                "punycode: check it, or give it as xn--...");
			goto out;
		}
	}
	if (uc != CURLUE_OK) {
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "the URL has no host: give an absolute URL such as "
		                "https://example.com/");
		goto out;
	}
	for (char *q = host; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	if (!url_host_ok(host)) {
		rc = sh_err_set(err, SH_EINVAL, "url",
		                "the host name of the URL is not valid: check it for typing "
		                "mistakes");
		goto out;
	}

	/* port */
	if (curl_url_get(h, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
		long v = 0;
		const char *q = port;

		for (; *q >= '0' && *q <= '9' && v <= 65535; q++)
			v = v * 10 + (*q - '0');
		if (*q || q == port || v > 65535) {
			rc = sh_err_set(err, SH_EINVAL, "url",
			                "the port is not valid: use a number from 0 to 65535 after "
			                "the host, or none");
			goto out;
		}
		portnum = (int)v;
	}
	if (portnum == url_default_port(scheme))
		portnum = -1;

	/* blocklist and loops, on the canonical host */
	if (p->blocked_hosts) {
		for (const char *const *b = p->blocked_hosts; *b; b++) {
			if (url_host_match(host, *b, true)) {
				rc = sh_err_set(err, SH_EBLOCKED, "url",
				                "the host %.200s is on the blocklist: links to it "
				                "cannot be made",
				                host);
				goto out;
			}
		}
	}
	if (p->self_host && url_host_is_self(p, host)) {
		rc = sh_err_set(err, SH_EBLOCKED, "url",
		                "the URL points back at this service (a redirect loop): "
		                "give the final destination instead");
		goto out;
	}

	/* 6. path, query, fragment */
	canon.max = dots.max = res.max = p->max_length * 3 + 64;
	if (curl_url_get(h, CURLUPART_PATH, &path, 0) == CURLUE_OK && path[0]) {
		url_canon(&canon, path, URL_PATH);
		if (canon.b && canon.b[0] == '/')
			url_remove_dots(&dots, canon.b);
		else if (canon.b) /* curl always gives "/..." for these schemes */
			ub_puts(&dots, canon.b);
	}
	if (!dots.b && !dots.over && !dots.oom)
		ub_putc(&dots, '/');

	ub_puts(&res, scheme);
	ub_puts(&res, "://");
	ub_puts(&res, host);
	if (portnum >= 0) {
		char pb[16];
		snprintf(pb, sizeof pb, ":%d", portnum);
		ub_puts(&res, pb);
	}
	if (dots.b)
		ub_putn(&res, dots.b, dots.n);
	if (curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK && query[0]) {
		ub_putc(&res, '?');
		url_canon(&res, query, URL_QUERY);
	}
	if (curl_url_get(h, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK && frag[0]) {
		ub_putc(&res, '#');
		url_canon(&res, frag, URL_FRAGMENT);
	}
	if (res.oom || canon.oom || dots.oom) {
		rc = sh_err_set(err, SH_ENOMEM, "url", "out of memory");
		goto out;
	}

	/* 7. length of the result */
	if (res.over || canon.over || dots.over || res.n > p->max_length) {
		rc = sh_err_set(err, SH_ETOOBIG, "url",
		                "URL longer than %zu bytes once normalized: shorten it (the "
		                "limit is the max-url-length setting)",
		                p->max_length);
		goto out;
	}
	*out = res.b;
	res.b = NULL;
out:
	free(res.b);
	free(canon.b);
	free(dots.b);
	free(buf);
	curl_free(user);
	curl_free(pass);
	curl_free(zone);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(h);
	return rc;
}

/*
 * One pass is not always a fixed point: curl decodes and maps the host
 * AFTER deciding whether it is an IPv4 address, so a host that only becomes
 * one on the way ("4.2%2e116" decoded to "4.2.116"; "0\uFEFF" mapped by
 * IDNA to "0") comes back in a form that curl rewrites when it reads it
 * again (4.2.0.116, 0.0.0.0). What is stored must read back unchanged, so a
 * result that differs from its input goes through a second pass.
 */
int url_normalize(const url_policy *p, const char *in, size_t in_len, char **out, sh_err *err)
{
	char *first = NULL;
	size_t n;
	int rc;

	if (out)
		*out = NULL;
	rc = url_normalize_once(p, in, in_len, out ? &first : NULL, err);
	if (rc != 0 || !first)
		return rc;
	n = strlen(first);
	if (n == in_len && memcmp(first, in, n) == 0) {
		*out = first;
		return 0;
	}
	rc = url_normalize_once(p, first, n, out, err);
	free(first);
	return rc;
}

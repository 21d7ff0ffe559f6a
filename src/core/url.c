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
 *      for the special schemes (http, https, ws, wss, ftp) a host that
 *      ends in a number is read as the WHATWG URL Standard reads it: an
 *      IPv4 address in any notation browsers accept, stored dotted
 *      decimal, or refused as browsers refuse it; an "xn--" label must be
 *      valid punycode, and an international name must keep the UTS 46
 *      deviation characters browsers keep (see url_idn_kept);
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
 *        - a "%" not followed by two hex digits is kept as it is, as
 *          browsers keep it ("foo%2zbar" stays "foo%2zbar", not
 *          "foo%252zbar", which is another resource); an unreserved byte
 *          stays encoded where decoding it would turn such a "%" into an
 *          escape ("%%34%31" gives "%%341", not "%41").
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/curlload.h" /* libcurl, loaded by the first URL parsed */
#include "shorty/hex.h"
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
	return 0;
}

static pthread_once_t url_transfer_once = PTHREAD_ONCE_INIT;
static int url_transfer_rc = -1; /* -1: not initialized */

static void url_transfer_init_once(void)
{
	if (sh_curl_load(NULL) < 0)
		url_transfer_rc = SH_EUNAVAIL;
	else
		url_transfer_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : SH_ENOMEM;
}

int url_transfer_init(void)
{
	pthread_once(&url_transfer_once, url_transfer_init_once);
	return url_transfer_rc;
}

void url_global_cleanup(void)
{
	if (url_transfer_rc == 0)
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

/* Would appending the hex digit v to o complete a "%x" or "%" that a lone
 * "%" left in o into a new escape ("%%34%31" -> "%41")? */
static bool url_makes_escape(const url_buf *o, unsigned char v)
{
	if (sh_hexval(v) < 0 || o->n == 0)
		return false;
	return o->b[o->n - 1] == '%' ||
	       (o->n >= 2 && o->b[o->n - 2] == '%' && sh_hexval((unsigned char)o->b[o->n - 1]) >= 0);
}

/* Writes s with canonical percent-encoding for comp (rule 6 above). */
static void url_canon(url_buf *o, const char *s, enum url_comp comp)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '%') {
			int hi = sh_hexval(p[1]), lo = hi < 0 ? -1 : sh_hexval(p[2]);
			if (hi >= 0 && lo >= 0) {
				unsigned char v = (unsigned char)(hi * 16 + lo);
				if (url_unreserved(v) && !url_makes_escape(o, v))
					ub_putc(o, (char)v);
				else
					url_put_pct(o, v);
				p += 2;
			} else {
				/* Browsers keep a "%" that starts no escape as it is
				 * (WHATWG URL Standard); encoding it as %25 would send
				 * them to another resource. */
				ub_putc(o, '%');
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

/* The host of h in punycode (IDNA 2008, libidn2 through curl), read under
 * a UTF-8 locale (see url_locale_init). */
static CURLUcode url_get_punycode(CURLU *h, char **host)
{
	locale_t old;
	CURLUcode uc;

	pthread_once(&url_locale_once, url_locale_init);
	if (!url_utf8_locale)
		return CURLUE_LACKS_IDN;
	old = uselocale(url_utf8_locale);
	uc = curl_url_get(h, CURLUPART_HOST, host, CURLU_PUNYCODE);
	uselocale(old);
	return uc;
}

/* RFC 3492 Punycode: decodes s (n bytes, after "xn--") to UTF-8 in o;
 * false when it is not valid Punycode. Hand written: curl 7.88 converts
 * only to punycode (CURLU_PUNY2IDN is curl 8.3), and this is the only
 * decoding shorty needs; the result is checked by libidn2 below. */
static bool url_puny_decode(url_buf *o, const char *s, size_t n)
{
	enum { BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700 };
	uint32_t cp[64], len = 0, cpn = 128, i = 0, bias = 72;
	size_t in = 0, b = 0;

	for (size_t k = 0; k < n; k++)
		if (s[k] == '-')
			b = k;
	if (b > 0 || (n > 0 && s[0] == '-')) {
		if (b > sizeof cp / sizeof cp[0])
			return false;
		for (size_t k = 0; k < b; k++)
			cp[len++] = (unsigned char)s[k];
		in = b + 1;
	}
	while (in < n) {
		uint32_t oldi = i, w = 1, delta;

		for (uint32_t k = BASE;; k += BASE) {
			char c = in < n ? s[in++] : '\0';
			uint32_t d, t;

			if (c >= 'a' && c <= 'z')
				d = (uint32_t)(c - 'a');
			else if (c >= 'A' && c <= 'Z')
				d = (uint32_t)(c - 'A');
			else if (c >= '0' && c <= '9')
				d = (uint32_t)(c - '0' + 26);
			else
				return false;
			if (d > (UINT32_MAX - i) / w)
				return false;
			i += d * w;
			t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
			if (d < t)
				break;
			if (w > UINT32_MAX / (BASE - t))
				return false;
			w *= BASE - t;
		}
		if (len >= sizeof cp / sizeof cp[0])
			return false;
		delta = oldi == 0 ? (i - oldi) / DAMP : (i - oldi) / 2;
		delta += delta / (len + 1);
		for (bias = 0; delta > ((BASE - TMIN) * TMAX) / 2; bias += BASE)
			delta /= BASE - TMIN;
		bias += (BASE - TMIN + 1) * delta / (delta + SKEW);
		if (i / (len + 1) > 0x10FFFF - cpn)
			return false;
		cpn += i / (len + 1);
		i %= len + 1;
		if (cpn < 0x80 || (cpn >= 0xD800 && cpn <= 0xDFFF))
			return false;
		memmove(cp + i + 1, cp + i, (len - i) * sizeof cp[0]);
		cp[i++] = cpn;
		len++;
	}
	for (uint32_t k = 0; k < len; k++) {
		uint32_t c = cp[k];
		char u[4];

		if (c < 0x80) {
			ub_putc(o, (char)c);
		} else if (c < 0x800) {
			u[0] = (char)(0xC0 | c >> 6);
			u[1] = (char)(0x80 | (c & 63));
			ub_putn(o, u, 2);
		} else if (c < 0x10000) {
			u[0] = (char)(0xE0 | c >> 12);
			u[1] = (char)(0x80 | (c >> 6 & 63));
			u[2] = (char)(0x80 | (c & 63));
			ub_putn(o, u, 3);
		} else {
			u[0] = (char)(0xF0 | c >> 18);
			u[1] = (char)(0x80 | (c >> 12 & 63));
			u[2] = (char)(0x80 | (c >> 6 & 63));
			u[3] = (char)(0x80 | (c & 63));
			ub_putn(o, u, 4);
		}
	}
	return true;
}

/*
 * Browsers refuse a host with an "xn--" label that is not the punycode of
 * a valid international label ("xn--", "xn--abc-", "xn--a-ecp.ru" with a
 * bad digit); curl passes any ASCII host through. Each xn-- label of host
 * (lower case) is decoded, and the decoded host converted back by libidn2:
 * it must give host again. 1 = valid, 0 = not, SH_ENOMEM.
 */
/* host with its xn-- labels decoded to UTF-8 into u; false when one is not
 * Punycode. *any tells whether there was an xn-- label. */
static bool url_host_decode(url_buf *u, const char *host, bool *any)
{
	u->max = 4 * strlen(host) + 16;
	*any = false;
	for (const char *l = host; *l;) {
		size_t n = strcspn(l, ".");

		if (n >= 4 && strncasecmp(l, "xn--", 4) == 0) {
			*any = true;
			if (!url_puny_decode(u, l + 4, n - 4))
				return false;
		} else {
			ub_putn(u, l, n);
		}
		l += n;
		if (*l == '.')
			ub_putc(u, *l++);
	}
	return true;
}

/* How often s holds the i-th of the four UTS 46 deviation characters
 * (sharp s, final sigma, ZWNJ, ZWJ); i past them: -1. */
static long url_deviation_count(const char *s, size_t i)
{
	static const char *const dev[] = {"\xc3\x9f", "\xcf\x82", "\xe2\x80\x8c",
	                                  "\xe2\x80\x8d"};
	long k = 0;

	if (i >= sizeof dev / sizeof dev[0])
		return -1;
	for (const char *p = s; (p = strstr(p, dev[i])) != NULL; p++)
		k++;
	return k;
}

/*
 * curl 7.88 converts with UTS 46 non-transitional processing, as browsers
 * do, but when that fails it retries with transitional processing, which
 * maps the deviation characters away ("ß" to "ss", ZWJ deleted): another
 * host than the browser's, or one the browser refuses. A result that lost
 * a deviation character of the name (utf8) is refused. 1 = kept, 0 = lost,
 * SH_ENOMEM.
 */
static int url_idn_kept(const char *utf8, const char *puny)
{
	url_buf u = {0};
	bool any;
	int ok = 1;

	if (!url_host_decode(&u, puny, &any))
		ok = 0;
	else if (u.oom)
		ok = SH_ENOMEM;
	for (size_t i = 0; ok == 1 && url_deviation_count(utf8, i) >= 0; i++)
		if (url_deviation_count(u.b ? u.b : "", i) < url_deviation_count(utf8, i))
			ok = 0;
	free(u.b);
	return ok;
}

static int url_host_xn_ok(const char *host)
{
	url_buf u = {0};
	CURLU *t = NULL;
	char *back = NULL;
	int ok = 0;
	bool any;

	if (!url_host_decode(&u, host, &any))
		goto out;
	if (!any) {
		ok = 1;
		goto out;
	}
	t = curl_url();
	if (u.oom || !t || curl_url_set(t, CURLUPART_URL, "http://x/", 0) != CURLUE_OK) {
		ok = SH_ENOMEM;
		goto out;
	}
	if (!u.over && curl_url_set(t, CURLUPART_HOST, u.b, 0) == CURLUE_OK &&
	    url_get_punycode(t, &back) == CURLUE_OK)
		ok = strcasecmp(back, host) == 0;
out:
	curl_free(back);
	curl_url_cleanup(t);
	free(u.b);
	return ok;
}

/*
 * IPv4 hosts as the WHATWG URL Standard reads them (its "ends in a number
 * checker" and "IPv4 parser"). curl reads only some of the notations
 * browsers accept ("0x.0x.0" stays a name) and takes what browsers refuse
 * ("256.0.0.1", "1.2.3.08", "foo.0x4") as a host name, so the link would
 * not go where the browser goes; this small correction runs on the host
 * curl hands back (already decoded and IDNA-mapped, as in WHATWG). Hand
 * written because no library here implements these rules.
 */

/* One part: decimal, octal (leading 0) or hex (0x; "0x" alone is 0).
 * Saturates above 2^32. Returns false on a character outside the radix or
 * an empty part. */
static bool url_ipv4_number(const char *s, size_t n, uint64_t *v)
{
	unsigned radix = 10;

	if (n == 0)
		return false;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		radix = 16;
		s += 2;
		n -= 2;
	} else if (n >= 2 && s[0] == '0') {
		radix = 8;
		s++;
		n--;
	}
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		int d = sh_hexval((unsigned char)s[i]);
		if (d < 0 || (unsigned)d >= radix)
			return false;
		*v = *v * radix + (unsigned)d;
		if (*v > UINT32_MAX)
			*v = (uint64_t)UINT32_MAX + 1;
	}
	return true;
}

/* Does the host end in a number (its last label, a trailing empty one
 * ignored, all digits or an IPv4 number)? Then it must be an IPv4 address. */
static bool url_host_ends_in_number(const char *h)
{
	size_t n = strlen(h), i;
	uint64_t v;

	if (n > 1 && h[n - 1] == '.')
		n--;
	for (i = n; i > 0 && h[i - 1] != '.'; i--)
		;
	if (i == n)
		return false;
	if (strspn(h + i, "0123456789") >= n - i)
		return true;
	return url_ipv4_number(h + i, n - i, &v);
}

/* Parses h as a WHATWG IPv4 host into dotted decimal (out, 16 bytes);
 * false when a browser refuses it. */
static bool url_ipv4_parse(const char *h, char out[16])
{
	uint64_t num[4], addr;
	size_t n = strlen(h), parts = 0;

	if (n > 1 && h[n - 1] == '.')
		n--; /* one trailing dot is allowed */
	for (size_t start = 0;;) {
		size_t end = start;

		while (end < n && h[end] != '.')
			end++;
		if (parts == 4 || !url_ipv4_number(h + start, end - start, &num[parts]))
			return false;
		parts++;
		if (end >= n)
			break;
		start = end + 1;
	}
	for (size_t i = 0; i + 1 < parts; i++)
		if (num[i] > 255)
			return false;
	if (num[parts - 1] >= (uint64_t)1 << (8 * (5 - parts)))
		return false;
	addr = num[parts - 1];
	for (size_t i = 0; i + 1 < parts; i++)
		addr += num[i] << (8 * (3 - i));
	snprintf(out, 16, "%u.%u.%u.%u", (unsigned)(addr >> 24) & 255, (unsigned)(addr >> 16) & 255,
	         (unsigned)(addr >> 8) & 255, (unsigned)addr & 255);
	return true;
}

/* ---- the gate ------------------------------------------------------------ */

static int url_normalize_once(const url_policy *p, const char *in, size_t in_len, char **out,
                              sh_err *err)
{
	url_policy defp;
	const char *s = in, *e;
	char schemes_txt[128], schemes_or[128];
	char scheme[32], ipv4[16];
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
		char *utf8 = host;
		int kept = 1;

		host = NULL;
		uc = url_get_punycode(h, &host);
		if (uc == CURLUE_OK)
			kept = url_idn_kept(utf8, host);
		curl_free(utf8);
		if (kept == SH_ENOMEM) {
			rc = sh_err_set(err, SH_ENOMEM, "url", "out of memory");
			goto out;
		}
		if (uc != CURLUE_OK || !kept) {
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
	if (host[0] != '[') {
		int xn = url_host_xn_ok(host);

		if (xn == SH_ENOMEM) {
			rc = sh_err_set(err, SH_ENOMEM, "url", "out of memory");
			goto out;
		}
		if (!xn) {
			rc = sh_err_set(err, SH_EINVAL, "url",
			                "the host %.200s has an xn-- label that is not valid "
			                "punycode of an international name: check it",
			                host);
			goto out;
		}
	}
	if (url_default_port(scheme) >= 0 && host[0] != '[' && url_host_ends_in_number(host)) {
		/* special schemes only: WHATWG reads other hosts as opaque */
		if (!url_ipv4_parse(host, ipv4)) {
			rc = sh_err_set(err, SH_EINVAL, "url",
			                "the host %.200s ends in a number but is not an IPv4 "
			                "address browsers accept (four numbers 0-255, or fewer "
			                "with a larger last one): check it for typing mistakes",
			                host);
			goto out;
		}
		curl_free(host);
		host = NULL;
		if (curl_url_set(h, CURLUPART_HOST, ipv4, 0) != CURLUE_OK ||
		    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
			rc = sh_err_set(err, SH_ENOMEM, "url", "out of memory");
			goto out;
		}
	}
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
	rc = sh_curl_load(err);
	if (rc < 0)
		return rc;
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

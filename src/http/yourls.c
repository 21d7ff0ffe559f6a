/*
 * yourls.c — the YOURLS API (GET|POST /yourls-api.php), SPEC §2.
 *
 * For the long tail of YOURLS clients (ShareX's built-in uploader, browser
 * extensions, WordPress plugins, scripts). It answers as YOURLS 1.10 does:
 * the same bodies, the same key order, the same string status codes
 * ("statusCode":"200"), the same messages, and the HTTP status taken from
 * statusCode (else errorCode, else 200), as yourls_api_output does.
 *
 * Actions: shorturl (url, keyword, title), expand (shorturl), url-stats
 * (shorturl), stats (filter top|bottom|rand|last, limit, start), db-stats,
 * version (db=1 adds db_version). Anything else: 400 "Unknown or missing
 * \"action\" parameter".
 *
 * Formats (`format`): xml (the default, as YOURLS), json, simple (text/plain:
 * the short URL, the long URL, the version or the message). `jsonp` is
 * answered as plain JSON: a callback is never written into an answer (the
 * JSONP reflection was YOURLS's XSS, GHSA-6mp4-q625-mxjp). Any other value
 * is `simple`, as in YOURLS. XML is YOURLS 1.10's (spatie/array-to-xml):
 * `<?xml version="1.0" encoding="UTF-8"?>` then `<root>` with one element
 * per key, text escaped (& < > " '), empty values as `<key/>`.
 *
 * Authentication (every action, `version` included, as a private YOURLS):
 *   1. signature=<API key>, a key made with `shorty key create` (checked by
 *      svc_key_verify; role read-only may read but not `shorturl`; an
 *      author key sees only its own links). signature=<token> (below) is
 *      accepted too, like YOURLS's static signature token.
 *   2. signature=<hex>&timestamp=<unix seconds>&hash=sha256|sha512, where
 *      hex = H(timestamp ‖ token) or H(token ‖ timestamp), timestamp within
 *      ±43200 s of now (YOURLS_NONCE_LIFE), or the shorter window of
 *      yourls-signature-ttl (SHORTY_YOURLS_SIGNATURE_TTL). As in YOURLS, such
 *      a signature is not bound to an action: anyone who sees one may
 *      replay it for any action until it expires. md5 (YOURLS's default when
 *      `hash` is absent) is refused, and so is sha384: libsodium, our only
 *      crypto library, has no SHA-384.
 *      The token: shorty keeps only hashes of API keys, so the time-limited
 *      form uses a token derived from the configured YOURLS credentials
 *      (yourls-username / yourls-password, SHORTY_YOURLS_USERNAME and
 *      SHORTY_YOURLS_PASSWORD):
 *        token = the first 32 hex digits (lower case) of
 *                SHA-256("shorty-yourls-token\n" + username + "\n" + password)
 *      e.g. printf 'shorty-yourls-token\n%s\n%s' "$U" "$P" | sha256sum | cut -c1-32
 *      With no credentials configured, only API keys work.
 *   3. username=&password= equal to yourls-username / yourls-password.
 *   Every comparison is constant-time on fixed-length digests (sodium_memcmp),
 *   never a loose string compare (CVE-2019-14537: "0e1" passed YOURLS's ==);
 *   empty signatures are refused. Failure: 403 {"message":"Please log in",
 *   "errorCode":"403"} ("Invalid username or password" when a username or a
 *   password was sent) in the requested format.
 *
 * Differences from YOURLS, on purpose:
 *   - the title is never fetched from the page: without `title`, answers
 *     show the long URL as the title (what YOURLS shows when the fetch finds
 *     none); nothing is stored as a title then.
 *   - `ip` is the creator's address in the shorturl answer; shorty does not
 *     store it, so url-stats / stats / the duplicate answer give "".
 *   - dates are UTC ("Y-m-d H:i:s"); clicks and totals are JSON numbers.
 *   - a duplicate is detected only without `keyword` (shorty dedupes links
 *     without a custom code); with a keyword a new link is made, as YOURLS
 *     does with YOURLS_UNIQUE_URLS off.
 *   - stats: `limit` is capped at 1000; without a positive `limit` the
 *     answer has no "links" (as YOURLS: intval('') is 0).
 *   - version reports YOURLS_API_VERSION below; db_version is shorty's
 *     schema version.
 *   - domains (YOURLS has one): on the Host of another domain of shorty's,
 *     shorturl makes the link on that domain, expand and url-stats find the
 *     code there (else the default domain's, as a redirect does), and every
 *     shorturl in an answer is the link's on its own domain. stats and
 *     db-stats count every link the caller may see, on every domain.
 *
 * Writes (shorturl) run on the writer thread through http_defer; reads use
 * this worker's read-only connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "shorty/linkjson.h"
#include "shorty/timeutil.h"
#include "shorty/utf8.h"
#include "http/internal.h"

#define YOURLS_API_VERSION "1.10.2" /* the YOURLS release whose API this follows */
#define YOURLS_NONCE_LIFE 43200     /* seconds a timestamped signature lives */
#define YOURLS_TOKEN_HEX 32         /* hex digits of the derived token */
#define YOURLS_XML_MAX (4u << 20)   /* biggest XML answer */
#define YOURLS_STATS_MAX 1000       /* most links one `stats` answer lists */
#define TRIM_LEN 60                 /* yourls_trim_long_string: characters kept */
#define TRIM_APPEND "[...]"

enum yfmt { YF_XML, YF_JSON, YF_SIMPLE };

/* Who is calling: the API key, or key_id 0 (admin) for username/password
 * or the token. The role rules are the service's (svc_caller_*). */
typedef svc_caller yauth;

/* A shorturl on its way through the writer thread. */
typedef struct yjob {
	svc_unit u; /* the create the writer runs */
	int fmt;
	yauth who;
	char *url, *keyword, *title;
	char ip[HTTP_IP_MAX];
	/* the Host's domain (create.domain) */
	char domain[SH_AUTHORITY_MAX + 1];
	int64_t now;
} yjob;

/* ---- small helpers ------------------------------------------------------ */

/* A JSON string of s; "" when s is NULL or not valid UTF-8. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s ? s : "");
	return j ? j : json_string("");
}

static void jset(json_t *o, const char *key, json_t *v)
{
	json_object_set_new(o, key, v);
}

static void ydate(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, 32, "1970-01-01 00:00:00");
}

/* yourls_trim_long_string: at most TRIM_LEN characters, else the first
 * TRIM_LEN - 5 and "[...]". Counts UTF-8 characters. */
static void trim_long(const char *s, char *out, size_t outsz)
{
	size_t n = 0, i, cut = 0;
	size_t keep = TRIM_LEN - (sizeof TRIM_APPEND - 1);

	for (i = 0; s[i]; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (n == keep)
				cut = i;
			n++;
		}
	}
	if (n <= TRIM_LEN)
		snprintf(out, outsz, "%s", s);
	else
		snprintf(out, outsz, "%.*s%s", (int)cut, s, TRIM_APPEND);
}

/* p past base ("<scheme>://<authority>/", either scheme: a proxy in front
 * may have the other), or NULL when p does not start with it. */
static const char *past_base(const char *p, const char *base)
{
	const char *b = strstr(base, "://"), *pb;
	size_t blen = strlen(base);

	if (strncmp(p, base, blen) == 0)
		return p + blen;
	pb = strstr(p, "://");
	if (b && pb && strncmp(pb, b, strlen(b)) == 0 &&
	    (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0))
		return pb + strlen(b);
	return NULL;
}

/* The keyword from `shorturl`: "abc" or "<base-url>/abc" (either scheme; the
 * base URL of the Host's domain or the default one's), then only the
 * characters a code may hold (yourls_sanitize_keyword). */
static void keyword_of(http_req *r, const char *in, char *out, size_t outsz)
{
	char base[512];
	const char *p = in ? in : "", *q;
	size_t n = 0;

	http_host_short_url(r, "", base, sizeof base); /* "<base>/" */
	q = past_base(p, base);
	if (!q) {
		svc_short_url(r->v, "", base, sizeof base);
		q = past_base(p, base);
	}
	if (q)
		p = q;
	for (; *p && n + 1 < outsz && n < CODE_MAX; p++) {
		char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-')
			out[n++] = c;
	}
	out[n] = '\0';
}

/* A parameter with no NUL inside, or NULL (absent, or holding a NUL). */
static const char *param(http_req *r, const char *name)
{
	size_t len = 0;
	const char *v = http_param(r, name, &len);

	if (!v || strlen(v) != len)
		return NULL;
	return v;
}

static bool nonempty(const char *s)
{
	return s && s[0];
}

/* PHP's intval() on a request value: leading white space, a sign, digits;
 * anything else stops it; nothing gives 0. */
static int64_t intval(const char *s)
{
	int64_t v = 0;
	bool neg = false;

	if (!s)
		return 0;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (INT64_MAX - 9) / 10)
			return neg ? INT64_MIN : INT64_MAX;
		v = v * 10 + (*s - '0');
	}
	return neg ? -v : v;
}

/* ---- output -------------------------------------------------------------- */

/* s as XML 1.0 character data: markup characters escaped, and what XML
 * cannot carry at all (C0 controls but TAB/LF/CR, U+FFFE, U+FFFF, bytes
 * that are not UTF-8) dropped, so every answer stays well-formed whatever
 * a store written by an older version holds. */
static void xml_text(sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	while (n > 0) {
		uint32_t cp = 0;
		size_t len = sh_utf8_next(p, n, &cp), run = 0;

		/* the longest run of characters that need nothing */
		while (len > 0 && sh_xml_char(cp) && cp != '&' && cp != '<' && cp != '>' &&
		       cp != '"' && cp != '\'') {
			run += len;
			len = sh_utf8_next(p + run, n - run, &cp);
		}
		sbuf_add(b, (const char *)p, run);
		p += run, n -= run;
		if (n == 0)
			break;
		switch (len ? cp : 0) {
		case '&':
			sbuf_adds(b, "&amp;");
			break;
		case '<':
			sbuf_adds(b, "&lt;");
			break;
		case '>':
			sbuf_adds(b, "&gt;");
			break;
		case '"':
			sbuf_adds(b, "&quot;");
			break;
		case '\'':
			sbuf_adds(b, "&apos;");
			break;
		default:
			break; /* dropped */
		}
		len = len ? len : 1;
		p += len, n -= len;
	}
}

static void xml_value(sbuf *b, const char *key, json_t *v)
{
	if (json_is_object(v)) {
		const char *k;
		json_t *x;

		if (json_object_size(v) == 0) {
			sbuf_printf(b, "<%s/>", key);
			return;
		}
		sbuf_printf(b, "<%s>", key);
		json_object_foreach(v, k, x) xml_value(b, k, x);
		sbuf_printf(b, "</%s>", key);
	} else if (json_is_string(v) && json_string_length(v) > 0) {
		sbuf_printf(b, "<%s>", key);
		xml_text(b, json_string_value(v));
		sbuf_printf(b, "</%s>", key);
	} else if (json_is_integer(v)) {
		sbuf_printf(b, "<%s>%lld</%s>", key, (long long)json_integer_value(v), key);
	} else {
		sbuf_printf(b, "<%s/>", key);
	}
}

/* The HTTP status of an answer: statusCode, else errorCode, else 200. */
static int status_of(json_t *doc)
{
	const char *keys[] = {"statusCode", "errorCode"};

	for (size_t i = 0; i < 2; i++) {
		const char *s = json_string_value(json_object_get(doc, keys[i]));
		if (s && s[0]) {
			int64_t st = intval(s);
			return st >= 200 && st <= 599 ? (int)st : 200;
		}
	}
	return 200;
}

/* Answers doc (taken) in fmt; `simple` is the text/plain answer. */
static int yreply(http_req *r, int fmt, json_t *doc, const char *simple)
{
	int status, ret;
	char *text;
	sbuf b;

	if (doc && linkjson_watch_oom()) { /* jansson may have lost bytes */
		json_decref(doc);
		doc = NULL;
	}
	if (!doc)
		return http_reply_text(r, 503, "out of memory\n");
	status = status_of(doc);
	http_add_header(r, "Cache-Control", "no-store");
	switch (fmt) {
	case YF_JSON:
		text = json_dumps(doc, JSON_COMPACT | JSON_ESCAPE_SLASH);
		json_decref(doc);
		if (text && linkjson_watch_oom()) {
			free(text);
			text = NULL;
		}
		if (!text)
			return http_reply_text(r, 503, "out of memory\n");
		ret = http_reply(r, status, "application/json", text, strlen(text));
		free(text);
		return ret;
	case YF_XML: {
		const char *k;
		json_t *x;

		sbuf_init(&b, YOURLS_XML_MAX);
		sbuf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<root>");
		json_object_foreach(doc, k, x) xml_value(&b, k, x);
		sbuf_adds(&b, "</root>\n");
		json_decref(doc);
		if (b.err) {
			sbuf_free(&b);
			return http_reply_text(
			    r, 503, "the answer is too large for XML; use format=json\n");
		}
		ret = http_reply(r, status, "application/xml; charset=utf-8", b.p, b.len);
		sbuf_free(&b);
		return ret;
	}
	default:
		json_decref(doc);
		return http_reply(r, status, "text/plain; charset=utf-8", simple ? simple : "",
		                  simple ? strlen(simple) : 0);
	}
}

/* {"message": msg, "errorCode": code} (the auth failure's shape). */
static int reply_message(http_req *r, int fmt, const char *code, const char *msg)
{
	json_t *doc = json_object();

	if (doc) {
		jset(doc, "message", jstr(msg));
		jset(doc, "errorCode", jstr(code));
	}
	return yreply(r, fmt, doc, msg);
}

static int reply_throttled(http_req *r, int fmt, int wait)
{
	char ra[16], msg[128];

	snprintf(ra, sizeof(ra), "%d", wait);
	snprintf(msg, sizeof(msg),
	         "Too many failed logins from this address; retry in %d seconds", wait);
	http_add_header(r, "Retry-After", ra);
	return reply_message(r, fmt, "429", msg);
}

static int reply_unavailable(http_req *r, int fmt)
{
	http_add_header(r, "Retry-After", "5");
	return reply_message(r, fmt, "503", "The store is unavailable; retry shortly");
}

/* ---- authentication -------------------------------------------------------- */

/* The signature token derived from the configured credentials (see the top
 * of the file); false when none are configured. */
static bool derive_token(const sh_config *cfg, char out[YOURLS_TOKEN_HEX + 1])
{
	static const char label[] = "shorty-yourls-token\n";
	crypto_hash_sha256_state st;
	unsigned char h[crypto_hash_sha256_BYTES];

	if (!cfg || !nonempty(cfg->yourls_user) || !nonempty(cfg->yourls_password))
		return false;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)label, sizeof label - 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)cfg->yourls_user,
	                          strlen(cfg->yourls_user));
	crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)cfg->yourls_password,
	                          strlen(cfg->yourls_password));
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(out, YOURLS_TOKEN_HEX + 1, h, YOURLS_TOKEN_HEX / 2);
	sodium_memzero(h, sizeof h);
	return true;
}

/* Constant-time equality of two strings of any length: both are hashed to
 * fixed-length digests first. */
static bool same_secret(const char *a, const char *b)
{
	unsigned char ha[crypto_generichash_BYTES], hb[crypto_generichash_BYTES];

	crypto_generichash(ha, sizeof ha, (const unsigned char *)a, strlen(a), NULL, 0);
	crypto_generichash(hb, sizeof hb, (const unsigned char *)b, strlen(b), NULL, 0);
	return sodium_memcmp(ha, hb, sizeof ha) == 0;
}

/* H(a ‖ b) with sha256 (n = 32) or sha512 (n = 64). */
static void digest2(size_t n, const char *a, const char *b, unsigned char *out)
{
	if (n == crypto_hash_sha256_BYTES) {
		crypto_hash_sha256_state st;
		crypto_hash_sha256_init(&st);
		crypto_hash_sha256_update(&st, (const unsigned char *)a, strlen(a));
		crypto_hash_sha256_update(&st, (const unsigned char *)b, strlen(b));
		crypto_hash_sha256_final(&st, out);
	} else {
		crypto_hash_sha512_state st;
		crypto_hash_sha512_init(&st);
		crypto_hash_sha512_update(&st, (const unsigned char *)a, strlen(a));
		crypto_hash_sha512_update(&st, (const unsigned char *)b, strlen(b));
		crypto_hash_sha512_final(&st, out);
	}
}

/* signature=<hex>&timestamp=<unix>[&hash=]. Returns 0 or SH_EAUTH with
 * *why set when there is something more useful to say than "Please log in". */
static int check_timed(http_req *r, const char *sig, const char *ts, const char **why)
{
	const char *hash = param(r, "hash");
	char token[YOURLS_TOKEN_HEX + 1];
	unsigned char want[crypto_hash_sha512_BYTES], h1[crypto_hash_sha512_BYTES],
	    h2[crypto_hash_sha512_BYTES];
	size_t n, binlen = 0, i;
	int64_t t, life, now = sh_now();
	int ok1, ok2;

	if (!hash || !hash[0] || strcasecmp(hash, "md5") == 0) {
		*why = "Please log in: md5 signatures are not accepted; sign with hash=sha256 "
		       "or hash=sha512";
		return SH_EAUTH;
	}
	if (strcasecmp(hash, "sha256") == 0) {
		n = crypto_hash_sha256_BYTES;
	} else if (strcasecmp(hash, "sha512") == 0) {
		n = crypto_hash_sha512_BYTES;
	} else if (strcasecmp(hash, "sha384") == 0) {
		*why = "Please log in: hash=sha384 is not supported by this server; sign with "
		       "hash=sha256 or hash=sha512";
		return SH_EAUTH;
	} else {
		*why = "Please log in: unknown hash; sign with hash=sha256 or hash=sha512";
		return SH_EAUTH;
	}
	/* the timestamp: decimal digits only, within the nonce life */
	if (!ts[0] || strlen(ts) > 18)
		return SH_EAUTH;
	for (i = 0; ts[i]; i++)
		if (ts[i] < '0' || ts[i] > '9')
			return SH_EAUTH;
	t = intval(ts);
	life = r->cfg->yourls_signature_ttl > 0 ? r->cfg->yourls_signature_ttl : YOURLS_NONCE_LIFE;
	if (t - now >= life || now - t >= life)
		return SH_EAUTH;
	/* the signature: exactly the digest in hex */
	if (strlen(sig) != 2 * n ||
	    sodium_hex2bin(want, sizeof want, sig, 2 * n, NULL, &binlen, NULL) != 0 || binlen != n)
		return SH_EAUTH;
	if (!derive_token(r->cfg, token))
		return SH_EAUTH;
	digest2(n, ts, token, h1);
	digest2(n, token, ts, h2);
	sodium_memzero(token, sizeof token);
	ok1 = sodium_memcmp(want, h1, n) == 0;
	ok2 = sodium_memcmp(want, h2, n) == 0;
	return (ok1 | ok2) ? 0 : SH_EAUTH;
}

/*
 * Checks the credentials in the order YOURLS does: signature + timestamp,
 * then a bare signature (no timestamp parameter at all), then username +
 * password. Returns 0 with *who filled, SH_EAUTH with *why (the message to
 * answer), or a store error.
 */
static int authenticate(http_req *r, yauth *who, const char **why)
{
	const char *sig = param(r, "signature"), *ts = param(r, "timestamp");
	const char *user = param(r, "username"), *pass = param(r, "password");
	bool sent_user = http_param(r, "username", NULL) || http_param(r, "password", NULL);
	int rc = SH_EAUTH;

	*why = sent_user ? "Invalid username or password" : "Please log in";
	who->role = KEY_ADMIN;
	who->key_id = 0;
	who->anonymous = false;

	if (nonempty(sig) && nonempty(ts)) {
		return check_timed(r, sig, ts, why);
	} else if (nonempty(sig) && !http_param(r, "timestamp", NULL)) {
		char token[YOURLS_TOKEN_HEX + 1];
		sh_api_key key;

		if (!r->w || !r->w->rs)
			return SH_ESTORE;
		memset(&key, 0, sizeof key);
		rc = svc_key_check(r->v, r->w->rs, sig, strlen(sig), &key);
		if (rc == 0) {
			who->role = key.role;
			who->key_id = key.id;
			return 0;
		}
		if (rc != SH_EAUTH && rc != SH_ENOTFOUND)
			return rc;
		rc = SH_EAUTH;
		if (derive_token(r->cfg, token)) {
			if (same_secret(sig, token))
				rc = 0;
			sodium_memzero(token, sizeof token);
		}
		return rc;
	} else if (nonempty(user) && nonempty(pass)) {
		const sh_config *cfg = r->cfg;
		int ok_user, ok_pass;

		if (!cfg || !nonempty(cfg->yourls_user) || !nonempty(cfg->yourls_password))
			return SH_EAUTH;
		/* both compared, always, so the time says nothing of which failed */
		ok_user = same_secret(user, cfg->yourls_user);
		ok_pass = same_secret(pass, cfg->yourls_password);
		return (ok_user & ok_pass) ? 0 : SH_EAUTH;
	}
	return SH_EAUTH;
}

/* ---- link objects --------------------------------------------------------- */

static const char *title_or_url(const sh_link *l)
{
	return l->title && l->title[0] ? l->title : l->url;
}

/* {shorturl, url, title, timestamp, ip, clicks}: url-stats and stats. */
static json_t *link_stats(http_req *r, const sh_link *l)
{
	char su[CODE_MAX + 600], date[32];
	json_t *o = json_object();

	if (!o)
		return NULL;
	svc_link_short_url(r->v, l, su, sizeof su);
	ydate(l->created_at, date);
	jset(o, "shorturl", jstr(su));
	jset(o, "url", jstr(l->url));
	jset(o, "title", jstr(title_or_url(l)));
	jset(o, "timestamp", jstr(date));
	jset(o, "ip", jstr(""));
	jset(o, "clicks", json_integer(l->visits));
	return o;
}

/* ---- shorturl ----------------------------------------------------------- */

static void yjob_free(void *ud)
{
	yjob *j = ud;

	if (!j)
		return;
	free(j->url);
	free(j->keyword);
	free(j->title);
	svc_unit_clear(&j->u);
	free(j);
}

/* The shorturl answer's head: status, code, message, errorCode, statusCode. */
static json_t *add_result(const char *status, const char *code, const char *message,
                          const char *error_code, const char *status_code)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	jset(o, "status", jstr(status));
	jset(o, "code", jstr(code));
	jset(o, "message", jstr(message));
	jset(o, "errorCode", jstr(error_code));
	jset(o, "statusCode", jstr(status_code));
	return o;
}

static int reply_fail(http_req *r, int fmt, const char *code, const char *msg, const char *st)
{
	return yreply(r, fmt, add_result("fail", code, msg, st, st), "");
}

static int yjob_reply(http_req *r, int rc)
{
	yjob *j = r->ud;
	const sh_link *l = &j->u.link;
	char su[CODE_MAX + 600], date[32], trimmed[256], msg[SH_ERR_MSG_MAX + 1024];
	json_t *doc, *u;

	if (rc == 0 && l->url) {
		svc_link_short_url(r->v, l, su, sizeof su);
		ydate(j->u.existed ? l->created_at : j->now, date);
		trim_long(l->url, trimmed, sizeof trimmed);
		if (j->u.existed) {
			const char *site = su, *p = strstr(su, "://");
			if (p)
				site = p + 3;
			snprintf(msg, sizeof msg, "%s already exists in database (short URL: %s)",
			         trimmed, site);
			doc = add_result("fail", "error:url", msg, "400", "400");
		} else {
			snprintf(msg, sizeof msg, "%s added to database", trimmed);
			doc = add_result("success", "", msg, "", "200");
		}
		u = json_object();
		if (!doc || !u) {
			json_decref(doc);
			json_decref(u);
			return http_reply_text(r, 503, "out of memory\n");
		}
		jset(u, "keyword", jstr(l->code));
		jset(u, "url", jstr(l->url));
		jset(u, "title", jstr(title_or_url(l)));
		jset(u, "date", jstr(date));
		jset(u, "ip", jstr(j->u.existed ? "" : j->ip));
		if (j->u.existed)
			jset(u, "clicks", json_integer(l->visits));
		jset(doc, "url", u);
		jset(doc, "title", jstr(title_or_url(l)));
		jset(doc, "shorturl", jstr(su));
		return yreply(r, j->fmt, doc, su);
	}
	if (rc == 0)
		rc = SH_ESTORE;
	switch (rc) {
	case SH_ETAKEN:
	case SH_ERESERVED:
		snprintf(msg, sizeof msg, "Short URL %s already exists in database or is reserved",
		         j->keyword ? j->keyword : "");
		return reply_fail(r, j->fmt, "error:keyword", msg, "400");
	case SH_EINVAL:
	case SH_ETOOBIG:
	case SH_EBLOCKED:
		if (j->u.err.field && strcmp(j->u.err.field, "customSlug") == 0)
			return reply_fail(r, j->fmt, "error:keyword", j->u.err.msg, "400");
		if (j->u.err.field && strcmp(j->u.err.field, "title") == 0)
			return reply_fail(r, j->fmt, "error:title", j->u.err.msg, "400");
		if (rc == SH_EBLOCKED && strstr(j->u.err.msg, "redirect loop"))
			return reply_fail(r, j->fmt, "error:noloop", "URL is a short URL", "400");
		return reply_fail(r, j->fmt, "error:nourl",
		                  j->u.err.msg[0] ? j->u.err.msg : "Missing or malformed URL", "400");
	case SH_EBUSY:
		http_add_header(r, "Retry-After", "1");
		return reply_fail(r, j->fmt, "error:concurrency",
		                  "The store is busy; retry shortly", "503");
	default:
		http_add_header(r, "Retry-After", "5");
		return reply_fail(r, j->fmt, "error:db", "Error saving url to database", "503");
	}
}

/* yourls_sanitize_title, roughly: white space around is trimmed, at most
 * SH_TITLE_MAX bytes (never splitting a UTF-8 character). NULL when nothing
 * is left. A control character inside stays, so that the service refuses
 * the title as it does on every other front (issue 12: YOURLS turned C0
 * controls into spaces, which hid them from the one check). */
static char *clean_title(const char *in)
{
	size_t n;
	char *t;

	if (!in)
		return NULL;
	while (*in == ' ' || *in == '\t' || *in == '\r' || *in == '\n')
		in++;
	t = strdup(in);
	if (!t)
		return NULL;
	n = strlen(t);
	if (n > SH_TITLE_MAX) {
		n = SH_TITLE_MAX;
		while (n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
			n--;
	}
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\r' || t[n - 1] == '\n'))
		n--;
	t[n] = '\0';
	if (!t[0]) {
		free(t);
		return NULL;
	}
	return t;
}

static int act_shorturl(http_req *r, int fmt, const yauth *who)
{
	const char *url = param(r, "url"), *kw = param(r, "keyword"), *title = param(r, "title");
	yjob *j;

	if (!(r->meth & HTTP_POST) && !(r->meth & HTTP_GET)) {
		/* HEAD never creates */
		http_add_header(r, "Allow", "GET, POST");
		return reply_message(r, fmt, "405", "action=shorturl needs GET or POST");
	}
	if (!nonempty(url))
		return reply_fail(r, fmt, "error:nourl", "Missing or malformed URL", "400");
	if (!svc_caller_can_write(who))
		return reply_message(r, fmt, "403",
		                     "This API key is read-only: it cannot create links");
	j = calloc(1, sizeof *j);
	if (!j)
		return http_reply_text(r, 503, "out of memory\n");
	j->fmt = fmt;
	j->who = *who;
	j->now = sh_now();
	snprintf(j->ip, sizeof j->ip, "%s", r->ip);
	j->url = strdup(url);
	j->keyword = nonempty(kw) ? strdup(kw) : NULL;
	j->title = clean_title(title);
	if (!j->url || (nonempty(kw) && !j->keyword)) {
		yjob_free(j);
		return http_reply_text(r, 503, "out of memory\n");
	}
	svc_unit_init(&j->u, SVC_UNIT_CREATE);
	j->u.create.url = j->url;
	j->u.create.custom_code = j->keyword;
	j->u.create.title = j->title;
	j->u.create.domain = http_host_authority(r, j->domain); /* NULL: the default */
	j->u.caller = j->who;
	j->u.create.now = j->now;
	r->ud = j;
	r->ud_free = yjob_free;
	return http_defer(r, &j->u, yjob_reply);
}

/* ---- expand, url-stats ------------------------------------------------------ */

/* The link named by `shorturl`, as the caller may see it: on the Host's
 * domain, else the default one's (as a redirect finds it). 0, SH_ENOTFOUND
 * or a store error. */
static int find_link(http_req *r, const yauth *who, char kw[CODE_MAX + 1], sh_link *l)
{
	keyword_of(r, param(r, "shorturl"), kw, CODE_MAX + 1);
	if (!kw[0])
		return SH_ENOTFOUND;
	if (!r->w || !r->w->rs)
		return SH_ESTORE;
	return http_host_link(r, who, kw, l);
}

static int act_expand(http_req *r, int fmt, const yauth *who)
{
	char kw[CODE_MAX + 1], su[CODE_MAX + 600];
	sh_link l;
	json_t *doc;
	int rc, ret;

	memset(&l, 0, sizeof l);
	rc = find_link(r, who, kw, &l);
	if (rc != 0 && rc != SH_ENOTFOUND) {
		sh_link_clear(&l);
		return reply_unavailable(r, fmt);
	}
	doc = json_object();
	if (!doc) {
		sh_link_clear(&l);
		return http_reply_text(r, 503, "out of memory\n");
	}
	if (rc == SH_ENOTFOUND) {
		jset(doc, "keyword", jstr(kw));
		jset(doc, "message", jstr("Error: short URL not found"));
		jset(doc, "errorCode", jstr("404"));
		return yreply(r, fmt, doc, "not found");
	}
	svc_link_short_url(r->v, &l, su, sizeof su);
	jset(doc, "keyword", jstr(l.code));
	jset(doc, "shorturl", jstr(su));
	jset(doc, "longurl", jstr(l.url));
	jset(doc, "title", jstr(title_or_url(&l)));
	jset(doc, "message", jstr("success"));
	jset(doc, "statusCode", jstr("200"));
	ret = yreply(r, fmt, doc, l.url);
	sh_link_clear(&l);
	return ret;
}

#define STATS_SIMPLE "Need either XML or JSON format for stats"

static int act_url_stats(http_req *r, int fmt, const yauth *who)
{
	char kw[CODE_MAX + 1];
	sh_link l;
	json_t *doc;
	int rc;

	memset(&l, 0, sizeof l);
	rc = find_link(r, who, kw, &l);
	if (rc != 0 && rc != SH_ENOTFOUND) {
		sh_link_clear(&l);
		return reply_unavailable(r, fmt);
	}
	doc = json_object();
	if (doc) {
		if (rc == SH_ENOTFOUND) {
			jset(doc, "statusCode", jstr("404"));
			jset(doc, "message", jstr("Error: short URL not found"));
		} else {
			jset(doc, "statusCode", jstr("200"));
			jset(doc, "message", jstr("success"));
			jset(doc, "link", link_stats(r, &l));
		}
	}
	sh_link_clear(&l);
	return yreply(r, fmt, doc, STATS_SIMPLE);
}

/* ---- stats, db-stats ------------------------------------------------------ */

static int count_none(const sh_link *l, void *ud)
{
	(void)l;
	(void)ud;
	return 0;
}

/* {"total_links", "total_clicks"} for what the caller may see. */
static int db_totals(http_req *r, const yauth *who, json_t **out)
{
	int64_t total = 0;
	sh_visit_totals links, orphans;
	sh_list_query q;
	int rc;

	*out = NULL;
	if (!r->w || !r->w->rs)
		return SH_ESTORE;
	memset(&q, 0, sizeof q);
	q.limit = 1;
	q.now = sh_now();
	rc = svc_list(r->v, r->w->rs, who, &q, count_none, NULL, &total);
	if (rc)
		return rc;
	memset(&links, 0, sizeof links);
	memset(&orphans, 0, sizeof orphans);
	rc = svc_visits_totals(r->v, r->w->rs, who, &links, &orphans);
	if (rc)
		return rc;
	*out = json_object();
	if (!*out)
		return SH_ENOMEM;
	jset(*out, "total_links", json_integer(total));
	jset(*out, "total_clicks", json_integer(links.total));
	return 0;
}

struct collect {
	http_req *r;
	json_t *arr; /* link objects, in order */
};

static int collect_cb(const sh_link *l, void *ud)
{
	struct collect *c = ud;
	json_t *o = link_stats(c->r, l);

	if (!o)
		return 1;
	json_array_append_new(c->arr, o);
	return 0;
}

/* `limit` links of a random selection: distinct random offsets, one row
 * each (or everything, shuffled, when that is most of the table). */
static int pick_random_links(http_req *r, const yauth *who, sh_list_query *q, int64_t limit,
                             struct collect *c)
{
	int64_t total = 0, *offs = NULL, n, i, k;
	int rc;

	q->limit = 1;
	q->offset = 0;
	rc = svc_list(r->v, r->w->rs, who, q, count_none, NULL, &total);
	if (rc || total <= 0)
		return rc;
	n = limit < total ? limit : total;
	if (n * 2 >= total) {
		q->limit = total;
		rc = svc_list(r->v, r->w->rs, who, q, collect_cb, c, NULL);
		if (rc)
			return rc;
		/* Fisher-Yates over what came back, then keep n */
		for (i = (int64_t)json_array_size(c->arr) - 1; i > 0; i--) {
			int64_t jx = (int64_t)randombytes_uniform((uint32_t)(i + 1));
			json_t *a = json_incref(json_array_get(c->arr, (size_t)i));
			json_t *b = json_incref(json_array_get(c->arr, (size_t)jx));
			json_array_set_new(c->arr, (size_t)i, b);
			json_array_set_new(c->arr, (size_t)jx, a);
		}
		while ((int64_t)json_array_size(c->arr) > n)
			json_array_remove(c->arr, json_array_size(c->arr) - 1);
		return 0;
	}
	offs = calloc((size_t)n, sizeof *offs);
	if (!offs)
		return SH_ENOMEM;
	for (i = 0; i < n;) {
		int64_t o = total > UINT32_MAX ? (int64_t)(randombytes_random() % (uint64_t)total)
		                               : (int64_t)randombytes_uniform((uint32_t)total);
		for (k = 0; k < i && offs[k] != o; k++)
			;
		if (k == i)
			offs[i++] = o;
	}
	for (i = 0; i < n && rc == 0; i++) {
		q->limit = 1;
		q->offset = offs[i];
		rc = svc_list(r->v, r->w->rs, who, q, collect_cb, c, NULL);
	}
	free(offs);
	return rc;
}

static int act_stats(http_req *r, int fmt, const yauth *who)
{
	const char *filter = param(r, "filter");
	int64_t limit = intval(param(r, "limit")), start = intval(param(r, "start"));
	struct collect c = {r, NULL};
	json_t *doc = NULL, *links, *totals = NULL;
	sh_list_query q;
	int rc = 0;

	c.arr = json_array();
	if (!c.arr)
		return http_reply_text(r, 503, "out of memory\n");
	if (!r->w || !r->w->rs) {
		json_decref(c.arr);
		return reply_unavailable(r, fmt);
	}
	memset(&q, 0, sizeof q);
	q.now = sh_now();
	if (!filter)
		filter = "top";
	if (strcmp(filter, "bottom") == 0)
		q.order = LIST_VISITS_ASC;
	else if (strcmp(filter, "last") == 0)
		q.order = LIST_CREATED_DESC;
	else
		q.order = LIST_VISITS_DESC; /* "top", and anything else, as YOURLS */
	if (start < 0)
		start = 0;
	if (limit > YOURLS_STATS_MAX)
		limit = YOURLS_STATS_MAX;
	if (limit > 0) {
		if (strcmp(filter, "rand") == 0 || strcmp(filter, "random") == 0) {
			q.order = LIST_CREATED_DESC;
			rc = pick_random_links(r, who, &q, limit, &c);
		} else {
			q.limit = limit;
			q.offset = start;
			rc = svc_list(r->v, r->w->rs, who, &q, collect_cb, &c, NULL);
		}
	}
	if (rc == 0)
		rc = db_totals(r, who, &totals);
	if (rc) {
		json_decref(c.arr);
		return rc == SH_ENOMEM ? http_reply_text(r, 503, "out of memory\n")
		                       : reply_unavailable(r, fmt);
	}
	doc = json_object();
	links = json_object();
	if (!doc || !links) {
		json_decref(doc);
		json_decref(links);
		json_decref(totals);
		json_decref(c.arr);
		return http_reply_text(r, 503, "out of memory\n");
	}
	for (size_t i = 0; i < json_array_size(c.arr); i++) {
		char key[32];
		snprintf(key, sizeof key, "link_%zu", i + 1);
		jset(links, key, json_incref(json_array_get(c.arr, i)));
	}
	json_decref(c.arr);
	if (json_object_size(links) > 0)
		jset(doc, "links", links);
	else
		json_decref(links);
	jset(doc, "stats", totals);
	jset(doc, "statusCode", jstr("200"));
	jset(doc, "message", jstr("success"));
	return yreply(r, fmt, doc, STATS_SIMPLE);
}

static int act_db_stats(http_req *r, int fmt, const yauth *who)
{
	json_t *doc, *totals = NULL;
	int rc = db_totals(r, who, &totals);

	if (rc)
		return rc == SH_ENOMEM ? http_reply_text(r, 503, "out of memory\n")
		                       : reply_unavailable(r, fmt);
	doc = json_object();
	if (!doc) {
		json_decref(totals);
		return http_reply_text(r, 503, "out of memory\n");
	}
	jset(doc, "db-stats", totals);
	jset(doc, "statusCode", jstr("200"));
	jset(doc, "message", jstr("success"));
	return yreply(r, fmt, doc, STATS_SIMPLE);
}

static int act_version(http_req *r, int fmt)
{
	const char *db = param(r, "db");
	json_t *doc = json_object();

	if (!doc)
		return http_reply_text(r, 503, "out of memory\n");
	jset(doc, "version", jstr(YOURLS_API_VERSION));
	if (db && intval(db) == 1) {
		int cur = 0, latest = 0;
		char v[24];

		if (!r->w || !r->w->rs || svc_store_schema(r->w->rs, &cur, &latest) != 0) {
			json_decref(doc);
			return reply_unavailable(r, fmt);
		}
		snprintf(v, sizeof v, "%d", cur);
		jset(doc, "db_version", jstr(v));
	}
	return yreply(r, fmt, doc, YOURLS_API_VERSION);
}

/* ---- the handler ------------------------------------------------------------ */

static int format_of(http_req *r)
{
	const char *f = param(r, "format");

	if (!f)
		return YF_XML;
	if (strcmp(f, "json") == 0 || strcmp(f, "jsonp") == 0)
		return YF_JSON;
	if (strcmp(f, "xml") == 0)
		return YF_XML;
	return YF_SIMPLE; /* "simple", and anything else: YOURLS's default branch */
}

int http_yourls(http_req *r)
{
	int fmt = format_of(r);
	const char *action, *why = "Please log in";
	const char *unknown = "Unknown or missing \"action\" parameter";
	json_t *doc;
	yauth who;
	int rc;

	/* failed logins are throttled per address (catalogue E8): once over
	 * SHORTY_LOGIN_LIMIT a minute, the address gets 429 without its
	 * credentials even being checked, until a token is back */
	if ((rc = ratelimit_blocked(RL_LOGIN, r->ip)) > 0)
		return reply_throttled(r, fmt, rc);
	rc = authenticate(r, &who, &why);
	if (rc == SH_EAUTH) {
		int wait = ratelimit_take(RL_LOGIN, r->ip);
		if (wait > 0)
			return reply_throttled(r, fmt, wait);
		return reply_message(r, fmt, "403", why);
	}
	if (rc)
		return reply_unavailable(r, fmt);

	action = param(r, "action");
	if (!action)
		action = "";
	if (strcmp(action, "shorturl") == 0)
		return act_shorturl(r, fmt, &who);
	if (strcmp(action, "expand") == 0)
		return act_expand(r, fmt, &who);
	if (strcmp(action, "url-stats") == 0)
		return act_url_stats(r, fmt, &who);
	if (strcmp(action, "stats") == 0)
		return act_stats(r, fmt, &who);
	if (strcmp(action, "db-stats") == 0)
		return act_db_stats(r, fmt, &who);
	if (strcmp(action, "version") == 0)
		return act_version(r, fmt);
	doc = json_object();
	if (doc) {
		jset(doc, "errorCode", jstr("400"));
		jset(doc, "message", jstr(unknown));
	}
	return yreply(r, fmt, doc, unknown);
}

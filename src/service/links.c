/*
 * links.c — the rules of the product for links (see shorty/service.h):
 * opening the service (secret, URL policy, cache), create with validation,
 * dedupe and the three code strategies, get, the cached redirect lookup,
 * list, update and delete.
 *
 * Codes: a COUNTER link has no row in the codes table; its code is the keyed
 * permutation of its id (core/codec), so a generated code is found by
 * decoding it to an id. Every other kind (custom, random, hash) has a codes
 * row. A code is therefore "taken" when it is in the codes table OR when it
 * decodes to the id of an existing COUNTER link; both checks run inside the
 * write transaction that inserts, so two writers (server and CLI) never hand
 * out the same code.
 *
 * Cache: key = the code's bytes, value = a compact record (struct crec
 * followed by the URL). A redirect that hits the cache copies the record
 * straight into the caller's svc_target and allocates nothing.
 */
#include <ctype.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "shorty/codec.h"
#include "shorty/geoip.h"
#include "shorty/service.h"
#include "shorty/timeutil.h"
#include "shorty/utf8.h"
#include "service/internal.h"

#define SECRET_BYTES 32
#define KDF_CONTEXT "shortyv1" /* crypto_kdf_CONTEXTBYTES == 8 */
#define KDF_ID_CODEC 1
#define KDF_ID_URLHASH 2

#define TTL_MS 60000          /* positive entries */
#define TTL_COUNTED_MS 1000   /* links with a visit limit: keep the count fresh */
#define TTL_NEGATIVE_MS 5000  /* unknown codes */
#define BLOCKLIST_LINE_MAX 1024
#define TAGS_COUNT_TTL_NS 1000000000LL /* the cached count of every tag */
#define COUNTER_SKIP_MAX 1000 /* custom codes in the generator's way, in a row */
#define FORGET_SLOTS 64        /* forget_gen: codes hash to one of these */
#define PICK_RACES 8          /* generated codes lost to other instances, in a row */
#define RANDOM_TRIES 8        /* per length, before trying a longer code */

struct svc {
	const sh_config *cfg;
	codec_key codec;
	uint8_t url_key[crypto_shorthash_KEYBYTES];
	url_policy policy;
	char *schemes;      /* storage the policy's scheme pointers point into */
	char *self_host;
	char **own_names;   /* the policy's self_names (ownnames.c), owned */
	char **blocked;     /* NULL-terminated, owned */
	size_t nblocked;
	lru *cache;
	char *base;         /* base URL without a trailing slash */
	size_t max_url;
	uint64_t links_created; /* atomic: links the writer committed (metrics) */
	uint64_t visits_pruned; /* atomic: visits whose details were dropped (metrics) */
	robots_cache *robots;     /* the cached /robots.txt */
	uint64_t links_gen;       /* atomic: commits of the writer (svc__links_changed) */
	/* atomic: set while the cache cannot be trusted (the feed of other
	 * instances' changes is not listening): redirects read the store
	 * first, and the cache only when the store fails too (store_down) */
	int cache_bypass;
	int store_down;
	/* atomic: bumped by a clear. An entry cached before (its crec.epoch
	 * older) may miss a change, so it answers only when the store cannot:
	 * a clear (the feed back after a gap, "*") must not take the cached
	 * redirects away from the next outage */
	uint32_t cache_epoch;
	/* atomic: bumped by every forget of a code hashing to the slot, and
	 * all of them by a clear (load_record: a forget during a read) */
	uint64_t forget_gen[FORGET_SLOTS];
	/* the same for a created code's forget, which only a "no such code"
	 * read must heed: a link read meanwhile is cached (the redirect that
	 * read it just after the create must not lose its entry) */
	uint64_t created_gen[FORGET_SLOTS];
	/* every tag's count, for the admin's unsearched tag list: counting
	 * walks every tag name, so it is cached like robots.txt */
	pthread_mutex_t tags_mu;
	bool tags_mu_ok, tags_valid;
	int64_t tags_total, tags_at_ns;
	uint64_t tags_gen;
	rules_cache *rules;       /* compiled redirect rules by link (linkrules.c) */
	visit_limits *limits;     /* visits let through per limited link (limits.c) */
	geoip *geo;               /* NULL: no GeoIP database configured */
	domain_cache *domains;    /* the store's domains (domains.c) */
	char authority[SH_AUTHORITY_MAX + 1]; /* the default domain: base URL's host[:port] */
};

/* The cached form of a link: what a redirect needs, then the URL bytes. */
struct crec {
	int64_t link_id;
	int64_t valid_since;
	int64_t expires_at;
	int64_t max_visits;
	int64_t visits;     /* at load time */
	uint64_t rules_hash; /* of the link's redirect rules text, 0 = none */
	int32_t status;
	uint32_t flags;
	uint32_t epoch;      /* svc.cache_epoch when cached */
};
#define CREC_FORWARD 1u
#define CREC_CRAWLABLE 2u
#define CREC_DISABLED 4u

/* ---- shared helpers (internal.h) ----------------------------------------- */

int svc__tx_begin(store *s, bool *nested)
{
	*nested = store_in_txn(s);
	return *nested ? 0 : store_begin(s);
}

int svc__tx_end(store *s, bool nested, int rc)
{
	int rc2;

	/* inside the caller's transaction (the writer's group) nothing is
	 * undone here: the writer rolls the group back when a unit failed */
	if (nested)
		return rc;
	if (rc == 0) {
		rc2 = store_commit(s);
		if (rc2 == 0)
			return 0;
		rc = rc2;
	}
	/* the rollback's own failure is not the news: the first error is */
	(void)store_rollback(s);
	return rc;
}

int svc__store_err(store *s, int rc, sh_err *err)
{
	const char *why = sh_strerror(rc);

	if (rc == SH_ENOTFOUND || rc == SH_ETAKEN)
		return rc;
	if (rc == SH_ENOMEM)
		return sh_err_set(err, rc, NULL, "out of memory");
	/* the backend's sentence is better than ours, when it is about this error */
	if (s && s->last_err.code == rc && s->last_err.msg[0])
		why = s->last_err.msg;
	return sh_err_set(err, rc, NULL, "the store failed: %s", why);
}

/* ---- small pure helpers --------------------------------------------------- */

static int64_t mono_ms(void)
{
	return sh_mono_ns() / 1000000;
}

static uint64_t url_hash(const svc *v, const char *url)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t x = 0;
	int i;

	crypto_shorthash(h, (const unsigned char *)url, strlen(url), v->url_key);
	/* little-endian on every host, so instances sharing a store agree */
	for (i = crypto_shorthash_BYTES - 1; i >= 0; i--)
		x = (x << 8) | h[i];
	return x;
}

/* COUNTER links carry no stored code: derive it from the id. */
static void fill_code(const svc *v, sh_link *l)
{
	if (l->code_kind == CODE_KIND_COUNTER &&
	    codec_encode_id(&v->codec, l->id, l->code, sizeof l->code) != 0)
		l->code[0] = '\0';
}

int svc__counter_code(const svc *v, int64_t id, char *out, size_t n)
{
	return codec_encode_id(&v->codec, id, out, n) != 0 ? SH_EINVAL : 0;
}

static bool status_valid(int st)
{
	return st == 301 || st == 302 || st == 307 || st == 308;
}

/* Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF), no
 * control character (C0, DEL, C1) and no noncharacter (U+FFFE, U+FDD0...:
 * XML cannot carry U+FFFE/U+FFFF, and none of them is text). */
static bool text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), len;
	uint32_t cp;

	for (; n > 0; p += len, n -= len) {
		len = sh_utf8_next(p, n, &cp);
		if (len == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || sh_unicode_nonchar(cp))
			return false;
	}
	return true;
}

static int check_title(const char *title, sh_err *err)
{
	if (!title)
		return 0;
	if (strlen(title) > SH_TITLE_MAX)
		return sh_err_set(err, SH_EINVAL, "title",
		                  "the title is longer than %d bytes; shorten it", SH_TITLE_MAX);
	if (!text_ok(title))
		return sh_err_set(err, SH_EINVAL, "title",
		                  "the title must be UTF-8 text without control characters or noncharacters");
	return 0;
}

bool svc_tag_valid(const char *tag)
{
	size_t i;

	if (!tag || !tag[0])
		return false;
	for (i = 0; tag[i]; i++) {
		char c = tag[i];

		if (i >= SH_TAG_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Validates tags and copies them, duplicates removed, into out. */
static int check_tags(const char *const *tags, int ntags, char out[SH_MAX_TAGS][SH_TAG_MAX + 1],
                      int *nout, sh_err *err)
{
	int i, j;

	*nout = 0;
	if (ntags < 0 || (ntags > 0 && !tags))
		return sh_err_set(err, SH_EINVAL, "tags", "the tags are missing");
	for (i = 0; i < ntags; i++) {
		if (!svc_tag_valid(tags[i]))
			return sh_err_set(err, SH_EINVAL, "tags",
			                  "the tag \"%.40s\" is not valid: a tag is 1-%d characters of "
			                  "a-z, 0-9, '_' and '-' (lower case)",
			                  tags[i] ? tags[i] : "", SH_TAG_MAX);
		for (j = 0; j < *nout; j++)
			if (strcmp(out[j], tags[i]) == 0)
				break;
		if (j < *nout)
			continue;
		if (*nout == SH_MAX_TAGS)
			return sh_err_set(err, SH_EINVAL, "tags", "a link has at most %d tags",
			                  SH_MAX_TAGS);
		snprintf(out[*nout], SH_TAG_MAX + 1, "%s", tags[i]);
		(*nout)++;
	}
	return 0;
}

static int check_status(int st, sh_err *err)
{
	if (!status_valid(st))
		return sh_err_set(err, SH_EINVAL, "redirectStatus",
		                  "the redirect status must be 301, 302, 307 or 308, not %d", st);
	return 0;
}

static int check_times(int64_t valid_since, int64_t expires_at, sh_err *err)
{
	if (valid_since < 0)
		return sh_err_set(err, SH_EINVAL, "validSince",
		                  "validSince must be a date after 1970-01-01");
	if (expires_at < 0)
		return sh_err_set(err, SH_EINVAL, "validUntil",
		                  "validUntil must be a date after 1970-01-01");
	if (valid_since && expires_at && valid_since >= expires_at)
		return sh_err_set(err, SH_EINVAL, "validUntil",
		                  "validUntil must be later than validSince");
	return 0;
}

static int check_max_visits(int64_t n, sh_err *err)
{
	if (n < 0)
		return sh_err_set(err, SH_EINVAL, "maxVisits",
		                  "maxVisits must be a positive number of visits (or none)");
	return 0;
}

/* ---- open / close ----------------------------------------------------- */

static int load_secret(store *s, uint8_t secret[SECRET_BYTES], sh_err *err)
{
	char hex[SECRET_BYTES * 2 + 1];
	char *val = NULL;
	size_t binlen = 0;
	int rc;

	rc = store_meta_get(s, "secret", &val);
	if (rc == SH_ENOTFOUND) {
		/* first start: offer one; instances starting together on one
		 * store all read back the one that was stored first */
		randombytes_buf(secret, SECRET_BYTES);
		sodium_bin2hex(hex, sizeof hex, secret, SECRET_BYTES);
		rc = store_meta_add(s, "secret", hex, &val);
		sodium_memzero(hex, sizeof hex);
	}
	if (rc)
		return svc__store_err(s, rc, err);
	if (sodium_hex2bin(secret, SECRET_BYTES, val, strlen(val), NULL, &binlen, NULL) != 0 ||
	    binlen != SECRET_BYTES)
		rc = sh_err_set(err, SH_ESTORE, NULL,
		                "the installation secret in the store (meta \"secret\") is "
		                "damaged: it must be %d hex digits",
		                SECRET_BYTES * 2);
	sodium_memzero(val, strlen(val));
	free(val);
	return rc;
}

static int parse_schemes(svc *v, const char *list, sh_err *err)
{
	char *p, *tok, *end;
	int n = 0;

	v->schemes = strdup(list && list[0] ? list : "http,https");
	if (!v->schemes)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	for (p = v->schemes; p && *p; p = end) {
		end = strchr(p, ',');
		if (end)
			*end++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		tok = p;
		p += strlen(p);
		while (p > tok && (p[-1] == ' ' || p[-1] == '\t'))
			*--p = '\0';
		if (!*tok)
			continue;
		for (p = tok; *p; p++) {
			*p = (char)tolower((unsigned char)*p);
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '+' ||
			      *p == '-' || *p == '.'))
				return sh_err_set(err, SH_EINVAL, "allowed-schemes",
				                  "allowed-schemes is a comma-separated list of URL "
				                  "schemes such as \"http,https\"");
		}
		if (n == URL_MAX_SCHEMES - 1)
			return sh_err_set(err, SH_EINVAL, "allowed-schemes",
			                  "allowed-schemes lists more than %d schemes",
			                  URL_MAX_SCHEMES - 1);
		v->policy.schemes[n++] = tok;
	}
	if (n == 0)
		return sh_err_set(err, SH_EINVAL, "allowed-schemes",
		                  "allowed-schemes names no scheme; use e.g. \"http,https\"");
	v->policy.schemes[n] = NULL;
	return 0;
}

static int parse_base(svc *v, const char *base, sh_err *err)
{
	CURLU *u = NULL;
	char *host = NULL, *p;
	size_t n;
	int rc = 0;

	if (!base || !base[0])
		base = "http://localhost:8000";
	v->base = strdup(base);
	if (!v->base)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	n = strlen(v->base);
	while (n > 0 && v->base[n - 1] == '/')
		v->base[--n] = '\0';
	{ /* the default domain: host[:port] after the scheme, lower case */
		const char *a = strstr(v->base, "://");
		size_t an;
		a = a ? a + 3 : v->base;
		an = strcspn(a, "/");
		if (an > SH_AUTHORITY_MAX)
			an = SH_AUTHORITY_MAX;
		for (size_t i = 0; i < an; i++)
			v->authority[i] = (char)tolower((unsigned char)a[i]);
		v->authority[an] = '\0';
	}

	u = curl_url();
	if (!u)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, v->base, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		rc = sh_err_set(err, SH_EINVAL, "base-url",
		                "base-url \"%.100s\" is not an absolute URL such as "
		                "https://s.example.com",
		                v->base);
		goto out;
	}
	for (p = host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	v->self_host = strdup(host);
	if (!v->self_host) {
		rc = sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
		goto out;
	}
	v->policy.self_host = v->self_host;
	v->own_names = svc__own_names(v->cfg->listen);
	if (!v->own_names) {
		rc = sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
		goto out;
	}
	v->policy.self_names = (const char *const *)v->own_names;
out:
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

static int load_blocklist(svc *v, const char *path, sh_err *err)
{
	char line[BLOCKLIST_LINE_MAX];
	char *p, *e, **nb;
	size_t cap = 0;
	FILE *f;
	int rc = 0;

	if (!path || !path[0])
		return 0;
	f = fopen(path, "re");
	if (!f)
		return sh_err_set(err, SH_EINVAL, "blocklist-file",
		                  "cannot read the blocklist file %.180s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f)) {
		p = line;
		e = strchr(p, '#');
		if (e)
			*e = '\0';
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		e = p + strlen(p);
		while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
			*--e = '\0';
		if (e > p && e[-1] == '.')
			*--e = '\0'; /* "example.com." is example.com */
		if (!*p)
			continue;
		if (v->nblocked + 2 > cap) {
			cap = cap ? cap * 2 : 64;
			nb = realloc(v->blocked, cap * sizeof *nb);
			if (!nb) {
				rc = sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
				goto out;
			}
			v->blocked = nb;
		}
		for (e = p; *e; e++)
			*e = (char)tolower((unsigned char)*e);
		v->blocked[v->nblocked] = strdup(p);
		if (!v->blocked[v->nblocked]) {
			rc = sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
			goto out;
		}
		v->blocked[++v->nblocked] = NULL;
	}
	if (ferror(f))
		rc = sh_err_set(err, SH_EINVAL, "blocklist-file",
		                "cannot read the blocklist file %.180s", path);
out:
	fclose(f);
	if (rc == 0 && v->blocked)
		v->policy.blocked_hosts = (const char *const *)v->blocked;
	return rc;
}

int svc_open(svc **out, const sh_config *cfg, store *s, sh_err *err)
{
	uint8_t secret[SECRET_BYTES];
	uint8_t sub[CODEC_KEY_BYTES];
	svc *v;
	int rc;

	*out = NULL;
	if (sodium_init() < 0)
		return sh_err_set(err, SH_ENOMEM, NULL, "libsodium could not start");
	if (cfg->code_length < CODEC_MIN_LEN || cfg->code_length > CODEC_MAX_LEN)
		return sh_err_set(err, SH_EINVAL, "code-length", "code-length must be %d to %d",
		                  CODEC_MIN_LEN, CODEC_MAX_LEN);
	v = calloc(1, sizeof *v);
	if (!v)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	v->cfg = cfg;
	url_policy_default(&v->policy);
	v->max_url = cfg->max_url_length > 0 ? (size_t)cfg->max_url_length : URL_DEFAULT_MAX_LENGTH;
	v->policy.max_length = v->max_url;

	rc = parse_schemes(v, cfg->allowed_schemes, err);
	if (rc)
		goto out;
	rc = parse_base(v, cfg->base_url, err);
	if (rc)
		goto out;
	rc = load_blocklist(v, cfg->blocklist_file, err);
	if (rc)
		goto out;

	rc = load_secret(s, secret, err);
	if (rc)
		goto out;
	/* independent subkeys, so the codec key never doubles as the hash key */
	crypto_kdf_derive_from_key(sub, sizeof sub, KDF_ID_CODEC, KDF_CONTEXT, secret);
	memcpy(v->codec.k, sub, sizeof v->codec.k);
	crypto_kdf_derive_from_key(v->url_key, sizeof v->url_key, KDF_ID_URLHASH, KDF_CONTEXT,
	                           secret);
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(sub, sizeof sub);

	v->robots = svc__robots_new();
	v->tags_mu_ok = pthread_mutex_init(&v->tags_mu, NULL) == 0;
	if (!v->robots || !v->tags_mu_ok) {
		rc = sh_err_set(err, SH_ENOMEM, NULL, "out of memory for robots.txt");
		goto out;
	}
	v->rules = svc__rules_cache_new();
	v->limits = svc__limits_new();
	v->domains = svc__domains_new();
	if (!v->rules || !v->limits || !v->domains) {
		rc = sh_err_set(err, SH_ENOMEM, NULL, "out of memory for the rules cache");
		goto out;
	}
	svc__domains_refresh(v, s, true); /* a failure: the writer tries again */
	rc = geoip_open(cfg->geoip_db, &v->geo, err);
	if (rc)
		goto out;
	if (cfg->cache_entries > 0) {
		v->cache = lru_create((size_t)cfg->cache_entries, 0);
		if (!v->cache) {
			rc = sh_err_set(err, SH_ENOMEM, NULL, "out of memory for the cache");
			goto out;
		}
	}
out:
	if (rc) {
		svc_close(v);
		return rc;
	}
	*out = v;
	return 0;
}

void svc_close(svc *v)
{
	size_t i;

	if (!v)
		return;
	lru_destroy(v->cache);
	svc__rules_cache_free(v->rules);
	svc__limits_free(v->limits);
	svc__domains_free(v->domains);
	geoip_close(v->geo);
	if (v->tags_mu_ok)
		pthread_mutex_destroy(&v->tags_mu);
	svc__robots_free(v->robots);
	for (i = 0; i < v->nblocked; i++)
		free(v->blocked[i]);
	free(v->blocked);
	free(v->schemes);
	free(v->self_host);
	svc__own_names_free(v->own_names);
	free(v->base);
	sodium_memzero(v, sizeof *v);
	free(v);
}

const sh_config *svc_config(const svc *v)
{
	return v->cfg;
}

const url_policy *svc_url_policy(const svc *v)
{
	return &v->policy;
}

lru *svc_cache(svc *v)
{
	return v->cache;
}

const char *svc_short_url(const svc *v, const char *code, char *buf, size_t bufsz)
{
	if (bufsz == 0)
		return buf;
	if ((size_t)snprintf(buf, bufsz, "%s/%s", v->base, code) >= bufsz)
		buf[0] = '\0'; /* a cut short URL would point somewhere else */
	return buf;
}

static uint32_t slot_of(const char *code, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)code[i]) * 16777619u;
	return h % FORGET_SLOTS;
}

void svc_cache_forget(svc *v, const char *code)
{
	if (v->cache && code) {
		__atomic_add_fetch(&v->forget_gen[slot_of(code, strlen(code))], 1, __ATOMIC_RELEASE);
		lru_del(v->cache, code, strlen(code));
	}
}

/* A create's code: only a negative entry ("no such code") is wrong now;
 * a positive one was read after the create committed. */
void svc__cache_forget_negative(svc *v, const char *code)
{
	if (v->cache && code) {
		__atomic_add_fetch(&v->created_gen[slot_of(code, strlen(code))], 1, __ATOMIC_RELEASE);
		lru_del_negative(v->cache, code, strlen(code));
	}
}

/* Every entry may miss a change: the positive ones are kept as a last
 * resort (older epoch: answered only while the store cannot answer), the
 * negative ones go. */
void svc__cache_clear(svc *v)
{
	if (v->cache) {
		for (int i = 0; i < FORGET_SLOTS; i++)
			__atomic_add_fetch(&v->forget_gen[i], 1, __ATOMIC_RELEASE);
		__atomic_add_fetch(&v->cache_epoch, 1, __ATOMIC_RELEASE);
		lru_clear_negative(v->cache);
	}
}

/* On: what is cached may miss another instance's change, so the store is
 * asked first; but the entries are kept, for when the store cannot answer
 * either (PostgreSQL away: cached redirects keep answering). Off (the feed
 * listens again): cleared, as entries read meanwhile may predate a change
 * that was not told (kept for the next outage only). */
void svc__cache_bypass(svc *v, bool on)
{
	__atomic_store_n(&v->cache_bypass, on ? 1 : 0, __ATOMIC_RELAXED);
	if (!on) {
		__atomic_store_n(&v->store_down, 0, __ATOMIC_RELAXED);
		svc__cache_clear(v);
	}
}

void svc__count_created(svc *v)
{
	__atomic_add_fetch(&v->links_created, 1, __ATOMIC_RELAXED);
}

void svc__links_changed(svc *v)
{
	__atomic_add_fetch(&v->links_gen, 1, __ATOMIC_RELAXED);
}

uint64_t svc__links_gen(svc *v)
{
	return __atomic_load_n(&v->links_gen, __ATOMIC_RELAXED);
}

rules_cache *svc__rules(svc *v)
{
	return v->rules;
}

visit_limits *svc__limits(svc *v)
{
	return v->limits;
}

const geoip *svc__geoip(const svc *v)
{
	return v->geo;
}

domain_cache *svc__domains(svc *v)
{
	return v->domains;
}

const char *svc__base(const svc *v)
{
	return v->base;
}

const char *svc_domain_default(const svc *v)
{
	return v->authority;
}

robots_cache *svc__robots(svc *v)
{
	return v->robots;
}

void svc__count_pruned(svc *v, int64_t n)
{
	__atomic_add_fetch(&v->visits_pruned, (uint64_t)n, __ATOMIC_RELAXED);
}

uint64_t svc_visits_pruned(const svc *v)
{
	return __atomic_load_n(&v->visits_pruned, __ATOMIC_RELAXED);
}

uint64_t svc_links_created(const svc *v)
{
	return __atomic_load_n(&v->links_created, __ATOMIC_RELAXED);
}

/* ---- create ----------------------------------------------------------- */

void svc_create_req_init(svc_create_req *req)
{
	memset(req, 0, sizeof *req);
	req->find_if_exists = true;
	req->crawlable = -1;
	req->forward_query = -1;
}

/* Is code in use on domain dom: a codes row, or the code of an existing
 * COUNTER link of that domain? */
static int code_taken(svc *v, store *s, int64_t dom, const char *code, bool *taken)
{
	sh_link l;
	int64_t id;
	bool exists = false;
	int rc;

	*taken = false;
	rc = store_code_exists_in(s, dom, code, &exists);
	if (rc)
		return rc;
	if (exists) {
		*taken = true;
		return 0;
	}
	if (codec_decode_id(&v->codec, code, strlen(code), &id) != 0)
		return 0;
	memset(&l, 0, sizeof l);
	rc = store_link_get(s, id, &l);
	if (rc == SH_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	*taken = l.code_kind == CODE_KIND_COUNTER && l.domain_id == dom;
	sh_link_clear(&l);
	return 0;
}

/* counter: the next id, skipping ids whose code a custom code has taken. */
static int pick_counter(svc *v, store *s, sh_link *l)
{
	int64_t id, first;
	bool taken;
	int i, rc;

	first = codec_first_id(v->cfg->code_length);
	rc = store_next_id(s, first, &id);
	if (rc)
		return rc;
	for (i = 0; i < COUNTER_SKIP_MAX; i++, id++) {
		if (codec_len_of_id(id) < 0 ||
		    codec_encode_id(&v->codec, id, l->code, sizeof l->code) != 0)
			return SH_EFULL;
		if (codec_reserved(l->code, strlen(l->code)))
			continue;
		rc = store_code_exists_in(s, l->domain_id, l->code, &taken);
		if (rc)
			return rc;
		if (!taken) {
			l->id = id;
			l->code_kind = CODE_KIND_COUNTER;
			return 0;
		}
	}
	return SH_ESTORE;
}

static int pick_random(svc *v, store *s, int len, sh_link *l)
{
	bool taken;
	int i, rc;

	for (; len <= CODE_MAX; len++) {
		for (i = 0; i < RANDOM_TRIES; i++) {
			codec_random_code(len, l->code);
			if (codec_reserved(l->code, (size_t)len))
				continue;
			rc = code_taken(v, s, l->domain_id, l->code, &taken);
			if (rc)
				return rc;
			if (!taken) {
				l->code_kind = CODE_KIND_RANDOM;
				return store_next_id(s, 1, &l->id);
			}
		}
	}
	return SH_EFULL;
}

/* hash: the same URL gives the same code on every instance; a code taken by
 * another link is resolved deterministically by rehashing with a counter,
 * and after RANDOM_TRIES attempts at one length the code grows by one. When
 * the code is already the same URL's (same owner, no limits) and the caller
 * dedupes, that link is the answer (*found filled). */
static int pick_hash(svc *v, store *s, int len, bool dedupe, sh_link *l, sh_link *found,
                     bool *have_found)
{
	uint32_t attempt;
	bool taken;
	int rc;

	for (attempt = 0; len <= CODE_MAX; attempt++) {
		if (attempt > 0 && attempt % RANDOM_TRIES == 0)
			len++;
		if (len > CODE_MAX)
			break;
		codec_hash_code(&v->codec, l->url, strlen(l->url), attempt, len, l->code);
		if (codec_reserved(l->code, (size_t)len))
			continue;
		if (dedupe) {
			rc = store_link_get_by_code_in(s, l->domain_id, l->code, found);
			if (rc && rc != SH_ENOTFOUND)
				return rc;
			if (rc == 0 && found->code_kind == CODE_KIND_HASH &&
			    found->owner_key_id == l->owner_key_id && !found->disabled &&
			    !found->expires_at && !found->valid_since && !found->max_visits &&
			    found->url && strcmp(found->url, l->url) == 0) {
				*have_found = true;
				return 0;
			}
			sh_link_clear(found);
		}
		rc = code_taken(v, s, l->domain_id, l->code, &taken);
		if (rc)
			return rc;
		if (!taken) {
			l->code_kind = CODE_KIND_HASH;
			return store_next_id(s, 1, &l->id);
		}
	}
	return SH_EFULL;
}

static int pick_custom(svc *v, store *s, const char *code, sh_link *l, sh_err *err)
{
	bool taken;
	int rc;

	rc = code_taken(v, s, l->domain_id, code, &taken);
	if (rc)
		return svc__store_err(s, rc, err);
	if (taken)
		return sh_err_set(err, SH_ETAKEN, "customSlug",
		                  "the code %s is already taken; choose another", code);
	snprintf(l->code, sizeof l->code, "%s", code);
	l->code_kind = CODE_KIND_CUSTOM;
	rc = store_next_id(s, 1, &l->id);
	if (rc)
		return svc__store_err(s, rc, err);
	return 0;
}

/* ---- the checks of a create, one field each --------------------------------- */

static int check_custom(const char *code, sh_err *err)
{
	size_t n = code ? strlen(code) : 0;

	if (!code)
		return 0;
	if (!codec_custom_valid(code, n))
		return sh_err_set(err, SH_EINVAL, "customSlug",
		                  "a custom code is 1–64 characters of A–Z, a–z, 0–9, '_' "
		                  "and '-'");
	if (codec_reserved(code, n))
		return sh_err_set(err, SH_ERESERVED, "customSlug",
		                  "the code %s is reserved for the service's own pages; "
		                  "choose another",
		                  code);
	return 0;
}

static int check_code_length(int len, sh_err *err)
{
	if (len != 0 && (len < 4 || len > CODE_MAX))
		return sh_err_set(err, SH_EINVAL, "shortCodeLength",
		                  "shortCodeLength must be between 4 and %d", CODE_MAX);
	return 0;
}

static int check_visits(int64_t n, sh_err *err)
{
	if (n < 0)
		return sh_err_set(err, SH_EINVAL, "visits", "a visit count is a whole number >= 0");
	return 0;
}

/* Where check_create reports: the first failure into err; with bad, every
 * bad field's name too (and the checks go on after a bad input). */
typedef struct checks {
	sh_err *err;
	const char **bad;
	int max, n;
	int first;
} checks;

static bool input_error(int rc)
{
	return rc == SH_EINVAL || rc == SH_ETOOBIG || rc == SH_EBLOCKED || rc == SH_ERESERVED;
}

/* One check's result; true: stop (the first failure when not collecting,
 * or a failure that is no input's fault, such as out of memory). */
static bool failed(checks *c, int rc, const sh_err *e)
{
	if (rc == 0)
		return false;
	if (!c->first || !input_error(rc)) {
		c->first = rc;
		*c->err = *e;
	}
	if (!c->bad || !input_error(rc))
		return true;
	if (c->n < c->max)
		c->bad[c->n++] = e->field ? e->field : "body";
	return false;
}

/* Every check of a create request, in order; l gets what they make (the
 * normalized URL, the tags, the redirect status). */
static int check_create(svc *v, const svc_create_req *req, sh_link *l, checks *c)
{
	const sh_config *cfg = v->cfg;
	sh_err e = {0};
	int rc;

	l->redirect_status = req->redirect_status ? req->redirect_status
	                     : status_valid(cfg->redirect_status) ? cfg->redirect_status : 302;
	rc = req->url ? url_normalize(&v->policy, req->url,
	                              req->url_len ? req->url_len : strlen(req->url), &l->url, &e)
	              : sh_err_set(&e, SH_EINVAL, "url", "the URL to shorten is missing");
	/* each stops the chain only when it must (failed) */
	(void)(failed(c, rc, &e) || failed(c, check_custom(req->custom_code, &e), &e) ||
	       failed(c, check_code_length(req->code_length, &e), &e) ||
	       failed(c, check_title(req->title, &e), &e) ||
	       failed(c, check_tags(req->tags, req->ntags, l->tags, &l->ntags, &e), &e) ||
	       failed(c, check_status(l->redirect_status, &e), &e) ||
	       failed(c, check_max_visits(req->max_visits, &e), &e) ||
	       failed(c, check_times(req->valid_since, req->expires_at, &e), &e) ||
	       failed(c, check_visits(req->visits, &e), &e) ||
	       failed(c, req->domain && *req->domain ? svc_domain_check(req->domain, l->domain, &e) : 0, &e));
	return c->first;
}

int svc_create_check(svc *v, const svc_create_req *req, const char **fields, int max, int *n,
                     sh_err *err)
{
	checks c = {.err = err, .bad = fields, .max = max};
	sh_link l;
	int rc;

	memset(&l, 0, sizeof l);
	rc = check_create(v, req, &l, &c);
	sh_link_clear(&l);
	*n = c.n;
	return rc;
}

/* Shlink's findIfExists (sh_link_match): l holds the validated request. */
static int find_matching(svc *v, store *s, const svc_create_req *req, const sh_link *l,
                         sh_link *found)
{
	const char *tags[SH_MAX_TAGS];
	sh_link_match m;
	int i, rc;

	memset(&m, 0, sizeof m);
	m.url_hash = l->url_hash;
	m.url = l->url;
	m.owner_key_id = req->find_owner;
	m.code = req->custom_code;
	for (i = 0; i < l->ntags; i++)
		tags[i] = l->tags[i];
	m.tags = tags;
	m.ntags = l->ntags;
	m.valid_since = req->valid_since;
	m.expires_at = req->expires_at;
	m.max_visits = req->max_visits;
	m.domain_id = l->domain_id;
	rc = store_link_find_match(s, &m, found);
	if (rc == 0)
		fill_code(v, found);
	return rc;
}

/* A deduplicating create claims its URL under the database's unique key
 * (store_link_dedupe), which two instances shortening the same URL at once
 * cannot both hold. When another link holds it, ours is taken back and that
 * link, if it still serves plainly (store_link_find_dup), is the answer
 * (*found); if not (its URL only shares the hash, or it was changed), ours
 * is made again, unclaimed. */
static int claim_dedupe(svc *v, store *s, const sh_link *l, sh_link *found, bool *have_found)
{
	int rc = store_link_dedupe(s, l->id, true);

	if (rc != SH_ETAKEN)
		return rc;
	if ((rc = store_link_delete(s, l->id)))
		return rc;
	rc = store_link_find_dup_in(s, l->domain_id, l->url_hash, l->url, l->owner_key_id, found);
	if (rc == 0 && found->valid_since == 0) {
		fill_code(v, found);
		*have_found = true;
		return 0;
	}
	sh_link_clear(found);
	if (rc && rc != SH_ENOTFOUND)
		return rc;
	return store_link_insert(s, l);
}

int svc_shorten(svc *v, store *s, const svc_create_req *req, sh_link *out, bool *existed,
                sh_err *err)
{
	const sh_config *cfg = v->cfg;
	checks c = {.err = err};
	sh_link l, found;
	bool dedupe, nested = false, open = false, have_found = false;
	int len, rc, races = 0;

	memset(&l, 0, sizeof l);
	memset(&found, 0, sizeof found);
	if (existed)
		*existed = false;

	/* ---- validate everything before touching the store ---- */
	rc = check_create(v, req, &l, &c);
	if (rc)
		goto out;
	l.visits = req->visits; /* the store adds them to the totals */
	if (req->title && req->title[0]) {
		l.title = strdup(req->title);
		if (!l.title) {
			rc = sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
			goto out;
		}
	}
	l.url_hash = url_hash(v, l.url);
	l.created_at = l.updated_at = req->now ? req->now : sh_now();
	l.valid_since = req->valid_since;
	l.expires_at = req->expires_at;
	l.max_visits = req->max_visits;
	l.forward_query = req->forward_query < 0 ? true : req->forward_query != 0;
	l.crawlable = req->crawlable > 0;
	l.owner_key_id = req->owner_key_id;
	dedupe = !req->find_matching && req->find_if_exists && !req->custom_code &&
	         !req->valid_since && !req->expires_at && !req->max_visits;

	/* ---- one unit of work: dedupe, pick a code, insert ---- */
	rc = svc__tx_begin(s, &nested);
	if (rc) {
		svc__store_err(s, rc, err);
		goto out;
	}
	open = true;
	/* the domain's row, made on its first link (in this transaction) */
	rc = svc_domain_id(v, s, req->domain, true, &l.domain_id, err);
	if (rc)
		goto out;
	if (l.domain_id == 0)
		l.domain[0] = '\0';
	if (req->find_matching) {
		rc = find_matching(v, s, req, &l, &found);
		if (rc == 0) {
			have_found = true;
			goto commit;
		}
		if (rc != SH_ENOTFOUND) {
			svc__store_err(s, rc, err);
			goto out;
		}
	}
	if (dedupe) {
		rc = store_link_find_dup_in(s, l.domain_id, l.url_hash, l.url, l.owner_key_id,
		                            &found);
		if (rc == 0 && found.valid_since != 0) {
			/* not yet live: never the answer to a plain create */
			sh_link_clear(&found);
			rc = SH_ENOTFOUND;
		}
		if (rc == 0) {
			have_found = true;
			fill_code(v, &found);
			goto commit;
		}
		if (rc != SH_ENOTFOUND) {
			svc__store_err(s, rc, err);
			goto out;
		}
	}
pick:
	if (req->custom_code) {
		rc = pick_custom(v, s, req->custom_code, &l, err);
	} else {
		len = req->code_length ? req->code_length : cfg->code_length;
		if (req->code_length || cfg->code_strategy == CODE_RANDOM)
			rc = pick_random(v, s, len, &l);
		else if (cfg->code_strategy == CODE_HASH)
			rc = pick_hash(v, s, len, dedupe, &l, &found, &have_found);
		else
			rc = pick_counter(v, s, &l);
		if (rc == SH_EFULL)
			sh_err_set(err, rc, NULL,
			           "no free short code was found; try a longer shortCodeLength");
		else if (rc)
			svc__store_err(s, rc, err);
	}
	if (rc)
		goto out;
	if (have_found)
		goto commit;
	rc = store_link_insert(s, &l);
	if (rc == SH_ETAKEN && !req->custom_code && ++races < PICK_RACES) {
		/* another instance on the same store (PostgreSQL) took this
		 * generated code or id between the checks and the insert: the
		 * database's unique keys decided, so pick again */
		goto pick;
	}
	if (rc == SH_ETAKEN) {
		/* a custom code: taken by someone else meanwhile */
		sh_err_set(err, rc, "customSlug", "the code %s is already taken; choose another",
		           l.code);
		goto out;
	}
	if (rc == 0 && dedupe)
		rc = claim_dedupe(v, s, &l, &found, &have_found);
	if (rc) {
		svc__store_err(s, rc, err);
		goto out;
	}
commit:
	open = false;
	rc = svc__tx_end(s, nested, 0);
	if (rc) {
		svc__store_err(s, rc, err);
		goto out;
	}
	if (have_found) {
		*out = found;
		memset(&found, 0, sizeof found);
		if (existed)
			*existed = true;
	} else {
		/* a negative entry may say this code does not exist */
		char key[SVC_CACHE_KEY_MAX];
		svc_cache_forget(v, svc_cache_key(l.domain_id, l.code, key));
		*out = l;
		memset(&l, 0, sizeof l);
	}
out:
	if (open)
		svc__tx_end(s, nested, rc);
	sh_link_clear(&found);
	sh_link_clear(&l);
	return rc;
}

/* ---- read ------------------------------------------------------------- */

static int not_found(const char *code, sh_err *err)
{
	return sh_err_set(err, SH_ENOTFOUND, NULL, "no link has the code %.64s",
	                  code ? code : "");
}

/* The link of code on domain dom, limited to owner_key_id's links when
 * != 0. */
static int get_owned(svc *v, store *s, int64_t dom, const char *code, int64_t owner_key_id,
                     sh_link *out)
{
	size_t n;
	int64_t id;
	int rc;

	if (!code)
		return SH_ENOTFOUND;
	n = strlen(code);
	if (!codec_custom_valid(code, n))
		return SH_ENOTFOUND;
	memset(out, 0, sizeof *out);
	if (codec_decode_id(&v->codec, code, n, &id) == 0) {
		rc = store_link_get(s, id, out);
		if (rc == 0 && out->code_kind == CODE_KIND_COUNTER && out->domain_id == dom) {
			fill_code(v, out);
			goto owner;
		}
		sh_link_clear(out);
		if (rc && rc != SH_ENOTFOUND)
			return rc;
	}
	rc = store_link_get_by_code_in(s, dom, code, out);
	if (rc) {
		sh_link_clear(out);
		return rc;
	}
owner:
	if (owner_key_id != 0 && out->owner_key_id != owner_key_id) {
		sh_link_clear(out);
		return SH_ENOTFOUND;
	}
	return 0;
}

int svc_get(svc *v, store *s, const char *code, const svc_caller *who, sh_link *out)
{
	return get_owned(v, s, 0, code, svc_caller_owner(who), out);
}

int svc_get_on(svc *v, store *s, const char *domain, const char *code, const svc_caller *who,
               sh_link *out, sh_err *err)
{
	int64_t dom;
	int rc = svc_domain_id(v, s, domain, false, &dom, err);

	memset(out, 0, sizeof *out);
	if (rc == SH_ENOTFOUND) /* no link was ever on it */
		return not_found(code, err);
	if (rc)
		return rc;
	rc = get_owned(v, s, dom, code, svc_caller_owner(who), out);
	if (rc == SH_ENOTFOUND)
		return not_found(code, err);
	return rc ? svc__store_err(s, rc, err) : 0;
}

int svc_get_by_id(svc *v, store *s, int64_t id, sh_link *out)
{
	int rc;

	memset(out, 0, sizeof *out);
	rc = store_link_get(s, id, out);
	if (rc == 0 && out->code_kind == CODE_KIND_COUNTER)
		fill_code(v, out);
	return rc;
}

size_t svc_target_size(const svc *v)
{
	/* room for the URL, plus the cache record's header: on a hit the record
	 * is copied into the target and unpacked in place, allocating nothing */
	return sizeof(svc_target) + v->max_url + 1 + sizeof(struct crec);
}

/* Unpacks the record at the start of t (len bytes) into t and applies the
 * rules of `now`. */
static int apply_record(svc_target *t, size_t len, int64_t now)
{
	struct crec h;
	size_t ulen = len - sizeof h;

	memcpy(&h, t, sizeof h);
	memmove(t->url, (const char *)t + sizeof h, ulen);
	t->url[ulen] = '\0';
	t->url_len = ulen;
	t->link_id = h.link_id;
	t->status = h.status;
	t->rules_hash = h.rules_hash;
	t->max_visits = h.max_visits;
	t->visits = h.visits;
	t->forward_query = (h.flags & CREC_FORWARD) != 0;
	t->crawlable = (h.flags & CREC_CRAWLABLE) != 0;
	if (now == 0)
		now = sh_now();
	if (h.flags & CREC_DISABLED)
		t->gone = SH_GONE_DISABLED;
	else if (h.valid_since && h.valid_since > now)
		t->gone = SH_GONE_NOT_YET;
	else if (h.expires_at && now >= h.expires_at)
		t->gone = SH_GONE_EXPIRED;
	else if (h.max_visits && h.visits >= h.max_visits)
		t->gone = SH_GONE_MAX_VISITS;
	else
		t->gone = SH_GONE_NONE;
	return 0;
}

/* Cache miss: reads the link, writes its record at the start of t (cap
 * bytes) and caches it; unknown codes get a negative entry. */
static int load_record(svc *v, store *s, int64_t dom, const char *code, size_t n,
                       const char *key, size_t keylen, svc_target *t, size_t cap, size_t *len)
{
	char c[CODE_MAX + 1];
	struct crec h;
	sh_link l;
	size_t ulen;
	int rc;
	lru *cache;
	/* a forget between our read and our put (the writer's, or another
	 * instance's change told by the feed) means what we read may be old:
	 * then it is not cached */
	uint32_t k = slot_of(key, keylen);
	uint64_t gen = __atomic_load_n(&v->forget_gen[k], __ATOMIC_ACQUIRE);
	uint64_t cgen = __atomic_load_n(&v->created_gen[k], __ATOMIC_ACQUIRE);
	uint32_t epoch = __atomic_load_n(&v->cache_epoch, __ATOMIC_ACQUIRE);

	memcpy(c, code, n);
	c[n] = '\0';
	rc = get_owned(v, s, dom, c, 0, &l);
	cache = v->cache;
	if (cache && __atomic_load_n(&v->forget_gen[k], __ATOMIC_ACQUIRE) != gen)
		cache = NULL;
	if (rc == SH_ENOTFOUND) {
		if (cache && __atomic_load_n(&v->created_gen[k], __ATOMIC_ACQUIRE) == cgen)
			(void)lru_put_negative(cache, key, keylen, mono_ms(), TTL_NEGATIVE_MS);
		return rc;
	}
	if (rc)
		return rc;
	ulen = l.url ? strlen(l.url) : 0;
	if (sizeof h + ulen > cap) {
		/* stored under a larger max-url-length than the current one */
		sh_link_clear(&l);
		return SH_ETOOBIG;
	}
	memset(&h, 0, sizeof h);
	h.link_id = l.id;
	h.valid_since = l.valid_since;
	h.expires_at = l.expires_at;
	h.max_visits = l.max_visits;
	h.visits = l.visits;
	h.rules_hash = svc__rules_hash(l.redirect_rules);
	h.status = l.redirect_status;
	h.epoch = epoch;
	h.flags = (l.forward_query ? CREC_FORWARD : 0) | (l.crawlable ? CREC_CRAWLABLE : 0) |
	          (l.disabled ? CREC_DISABLED : 0);
	memcpy(t, &h, sizeof h);
	memcpy((char *)t + sizeof h, l.url, ulen);
	*len = sizeof h + ulen;
	if (cache)
		/* a failed put (ENOMEM) only costs the next request a store read */
		(void)lru_put(cache, key, keylen, t, *len, mono_ms(),
		              l.max_visits ? TTL_COUNTED_MS : TTL_MS);
	sh_link_clear(&l);
	return 0;
}

/* From the cache: 0 (t filled), SH_ENOTFOUND (a negative entry), or 1
 * (not there; or cached before the last clear, unless stale_ok: the store
 * could not answer). */
static int from_cache(svc *v, const char *key, size_t keylen, svc_target *t, int64_t now,
                      bool stale_ok)
{
	size_t cap = svc_target_size(v), len = 0;
	int rc = lru_get(v->cache, key, keylen, t, cap, &len, mono_ms());
	struct crec h;

	if (rc == LRU_NEGATIVE)
		return SH_ENOTFOUND;
	if (rc != LRU_HIT || len < sizeof h || len > cap)
		return 1;
	memcpy(&h, t, sizeof h);
	if (!stale_ok && h.epoch != __atomic_load_n(&v->cache_epoch, __ATOMIC_ACQUIRE))
		return 1;
	return apply_record(t, len, now);
}

/* The link of code on domain dom exactly, cached under (dom, code). */
static int resolve_in(svc *v, store *s, int64_t dom, const char *code, size_t n, svc_target *t,
                      int64_t now)
{
	size_t cap = svc_target_size(v), len = 0, keylen = n;
	char kbuf[SVC_CACHE_KEY_MAX], c[CODE_MAX + 1];
	const char *key = code;
	bool bypass = __atomic_load_n(&v->cache_bypass, __ATOMIC_RELAXED) != 0, down;
	int rc;

	if (dom != 0) { /* the default domain's key is the code itself */
		memcpy(c, code, n);
		c[n] = '\0';
		key = svc_cache_key(dom, c, kbuf);
		keylen = strlen(key);
	}
	/* bypassed, the cache answers only while the store cannot */
	down = __atomic_load_n(&v->store_down, __ATOMIC_RELAXED) != 0;
	if (v->cache && (!bypass || down)) {
		rc = from_cache(v, key, keylen, t, now, down);
		if (rc <= 0)
			return rc;
	}
	/* no store (a reader connection that could not be opened): the cache
	 * answers what it holds, bypassed or not */
	rc = s ? load_record(v, s, dom, code, n, key, keylen, t, cap, &len) : SH_ESTORE;
	if (rc == 0) {
		if (bypass)
			__atomic_store_n(&v->store_down, 0, __ATOMIC_RELAXED);
		return apply_record(t, len, now);
	}
	if (v->cache && rc != SH_ENOTFOUND && rc != SH_ETOOBIG) {
		/* the store is away: what we had, even from before a clear, beats
		 * a 503 (bypassed, the next redirects ask the cache first) */
		if (bypass)
			__atomic_store_n(&v->store_down, 1, __ATOMIC_RELAXED);
		int crc = from_cache(v, key, keylen, t, now, true);
		if (crc <= 0)
			return crc;
	}
	return rc;
}

int svc_resolve(svc *v, store *s, const char *code, size_t n, svc_target *t, int64_t now)
{
	return svc_resolve_on(v, s, 0, code, n, t, now);
}

int svc_resolve_on(svc *v, store *s, int64_t dom, const char *code, size_t n, svc_target *t,
                   int64_t now)
{
	int rc;

	if (!code || n == 0 || n > CODE_MAX || !codec_custom_valid(code, n))
		return SH_ENOTFOUND;
	rc = resolve_in(v, s, dom, code, n, t, now);
	/* Shlink's domain fallback: the default domain's link of that code */
	if (rc == SH_ENOTFOUND && dom != 0)
		rc = resolve_in(v, s, 0, code, n, t, now);
	return rc;
}

struct list_ctx {
	svc *v;
	sh_link_cb cb;
	void *ud;
};

static int list_fill(const sh_link *l, void *ud)
{
	struct list_ctx *c = ud;
	sh_link copy;

	if (l->code_kind != CODE_KIND_COUNTER)
		return c->cb(l, c->ud);
	/* a shallow copy: url and title still belong to the store */
	copy = *l;
	fill_code(c->v, &copy);
	return c->cb(&copy, c->ud);
}

int svc_list(svc *v, store *s, const svc_caller *who, const sh_list_query *q, sh_link_cb cb,
             void *ud, int64_t *total)
{
	struct list_ctx c = {v, cb, ud};
	sh_list_query mine = *q;

	mine.owner_key_id = svc_caller_owner(who);
	mine.code_key = &v->codec; /* counter codes sort and match as shown */
	return store_link_list(s, &mine, list_fill, &c, total);
}

int svc_tags_stats(svc *v, store *s, const svc_caller *who, const sh_tag_query *q,
                   sh_tag_cb cb, void *ud, int64_t *total)
{
	sh_tag_query mine = *q;
	int64_t now = sh_mono_ns();
	uint64_t gen = svc__links_gen(v);
	bool cached;
	int rc;

	mine.owner_key_id = svc_caller_owner(who);
	if (!total || mine.owner_key_id || mine.search || mine.exact)
		return store_tags_stats(s, &mine, cb, ud, total);
	/* every tag: the count as read at most a second ago, or since the last
	 * commit, so that a page costs its page and not the number of tags */
	pthread_mutex_lock(&v->tags_mu);
	cached = v->tags_valid && v->tags_gen == gen && now - v->tags_at_ns < TAGS_COUNT_TTL_NS;
	if (cached)
		*total = v->tags_total;
	pthread_mutex_unlock(&v->tags_mu);
	rc = store_tags_stats(s, &mine, cb, ud, cached ? NULL : total);
	if (rc == 0 && !cached) {
		pthread_mutex_lock(&v->tags_mu);
		v->tags_valid = true;
		v->tags_total = *total;
		v->tags_at_ns = now;
		v->tags_gen = gen;
		pthread_mutex_unlock(&v->tags_mu);
	}
	return rc;
}

/* ---- the store, as the fronts may see it ------------------------------------ */

int svc_store_open(store **out, const char *url, const sh_config *cfg, int mode, sh_err *err)
{
	store_options o;

	store_options_default(&o);
	o.read_only = mode == SVC_STORE_READER;
	o.create = mode == SVC_STORE_CREATE;
	if (cfg && cfg->synchronous)
		o.synchronous = cfg->synchronous;
	return store_open(out, url, &o, err);
}

int svc_store_migrate(store *s, sh_err *err)
{
	return store_migrate(s, err);
}

void svc_store_close(store *s)
{
	store_close(s);
}

char *svc_store_url_shared(const char *url)
{
	return store_url_shared(url);
}

int svc_store_locate(const char *url, char *where, size_t wsz, bool *exists)
{
	return store_locate(url, where, wsz, exists);
}

int svc_store_ping(store *s, sh_err *why)
{
	int rc = store_ping(s);

	if (rc < 0 && why)
		*why = s->last_err;
	return rc;
}

bool svc_store_reconnects(store *s)
{
	return (store_caps(s) & STORE_CAP_RECONNECT) != 0;
}

int svc_store_schema(store *s, int *current, int *latest)
{
	return store_schema_version(s, current, latest);
}

uint64_t svc_store_errors(void)
{
	return store_error_count();
}

/* ---- update / delete -------------------------------------------------- */


int svc_update(svc *v, store *s, const char *code, const svc_update_req *req, sh_link *out,
               sh_err *err)
{
	sh_link l;
	char tags[SH_MAX_TAGS][SH_TAG_MAX + 1];
	char *url = NULL, *title = NULL, key[SVC_CACHE_KEY_MAX];
	bool nested = false, open = false;
	int64_t dom = 0;
	int ntags = 0, rc;

	memset(&l, 0, sizeof l);
	/* validate the inputs before touching the store */
	if (req->has_url) {
		if (!req->url) {
			rc = sh_err_set(err, SH_EINVAL, "url", "the URL cannot be removed");
			goto out;
		}
		rc = url_normalize(&v->policy, req->url, strlen(req->url), &url, err);
		if (rc)
			goto out;
	}
	if (req->has_title) {
		rc = check_title(req->title, err);
		if (rc)
			goto out;
		if (req->title && req->title[0]) {
			title = strdup(req->title);
			if (!title) {
				rc = sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
				goto out;
			}
		}
	}
	if (req->has_tags) {
		rc = check_tags(req->tags, req->ntags, tags, &ntags, err);
		if (rc)
			goto out;
	}
	if (req->has_redirect_status) {
		rc = check_status(req->redirect_status, err);
		if (rc)
			goto out;
	}
	if (req->has_max_visits) {
		rc = check_max_visits(req->max_visits, err);
		if (rc)
			goto out;
	}

	rc = svc__tx_begin(s, &nested);
	if (rc) {
		svc__store_err(s, rc, err);
		goto out;
	}
	open = true;
	rc = svc_domain_id(v, s, req->domain, false, &dom, err);
	if (rc == 0)
		rc = get_owned(v, s, dom, code, req->owner_key_id, &l);
	if (rc) {
		if (rc == SH_ENOTFOUND)
			not_found(code, err);
		else if (rc != SH_EINVAL)
			svc__store_err(s, rc, err);
		goto out;
	}
	if (req->has_url) {
		free(l.url);
		l.url = url;
		url = NULL;
		l.url_hash = url_hash(v, l.url);
	}
	if (req->has_title) {
		free(l.title);
		l.title = title;
		title = NULL;
	}
	if (req->has_tags) {
		memcpy(l.tags, tags, sizeof tags);
		l.ntags = ntags;
	}
	if (req->has_valid_since)
		l.valid_since = req->valid_since;
	if (req->has_expires_at)
		l.expires_at = req->expires_at;
	if (req->has_max_visits)
		l.max_visits = req->max_visits;
	if (req->has_crawlable)
		l.crawlable = req->crawlable;
	if (req->has_forward_query)
		l.forward_query = req->forward_query;
	if (req->has_redirect_status)
		l.redirect_status = req->redirect_status;
	if (req->has_disabled)
		l.disabled = req->disabled;
	/* checked on the result, so changing one bound is judged against the
	 * other one as stored */
	rc = check_times(l.valid_since, l.expires_at, err);
	if (rc)
		goto out;
	l.updated_at = req->now ? req->now : sh_now();
	/* an edited link is no longer what a deduplicating create made: its
	 * claim would stand in the way of its new URL's (claim_dedupe) */
	rc = store_link_dedupe(s, l.id, false);
	if (rc == 0)
		rc = store_link_update(s, &l);
	if (rc) {
		if (rc == SH_ENOTFOUND)
			not_found(code, err);
		else
			svc__store_err(s, rc, err);
		goto out;
	}
	open = false;
	rc = svc__tx_end(s, nested, 0);
	if (rc) {
		svc__store_err(s, rc, err);
		goto out;
	}
	svc_cache_forget(v, svc_cache_key(dom, l.code, key));
	if (strcmp(l.code, code) != 0)
		svc_cache_forget(v, svc_cache_key(dom, code, key));
	if (out) {
		*out = l;
		memset(&l, 0, sizeof l);
	}
out:
	if (open)
		svc__tx_end(s, nested, rc);
	free(url);
	free(title);
	sh_link_clear(&l);
	return rc;
}

int svc_delete(svc *v, store *s, const char *code, int64_t owner_key_id, sh_err *err)
{
	return svc_delete_on(v, s, NULL, code, owner_key_id, err);
}

int svc_delete_on(svc *v, store *s, const char *domain, const char *code, int64_t owner_key_id,
                  sh_err *err)
{
	char key[SVC_CACHE_KEY_MAX];
	sh_link l;
	int64_t dom = 0;
	bool nested = false;
	int rc;

	memset(&l, 0, sizeof l);
	rc = svc__tx_begin(s, &nested);
	if (rc)
		return svc__store_err(s, rc, err);
	rc = svc_domain_id(v, s, domain, false, &dom, err);
	if (rc == 0)
		rc = get_owned(v, s, dom, code, owner_key_id, &l);
	if (rc == 0)
		rc = store_link_delete(s, l.id);
	rc = svc__tx_end(s, nested, rc);
	if (rc == SH_ENOTFOUND)
		not_found(code, err);
	else if (rc == SH_EINVAL)
		; /* err says which domain */
	else if (rc)
		svc__store_err(s, rc, err);
	else
		/* drop the entry after the commit, so no reader can re-cache the
		 * link from a store that still has it */
		svc_cache_forget(v, svc_cache_key(dom, code, key));
	sh_link_clear(&l);
	return rc;
}

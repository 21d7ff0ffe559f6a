/*
 * svc.c — the service handle: opening it (the installation secret and the
 * keys derived from it, the URL policy, the block list, the redirect cache
 * and the other caches), closing it, its accessors, the redirect cache's
 * forget generations, the counters for the metrics, the transaction
 * helpers of internal.h, and the store as the fronts may see it
 * (svc_store_*). The rules for links are in create.c, lookup.c, edit.c and
 * lists.c; the fields of the handle in handle.h.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "shorty/codec.h"
#include "core/curlload.h" /* libcurl, loaded by the first URL read */
#include "shorty/geoip.h"
#include "shorty/log.h"
#include "shorty/service.h"
#include "shorty/timeutil.h"
#include "service/handle.h"
#include "service/internal.h"

#define SECRET_BYTES 32
#define KDF_CONTEXT "shortyv1" /* crypto_kdf_CONTEXTBYTES == 8 */
#define KDF_ID_CODEC 1
#define KDF_ID_URLHASH 2
#define BLOCKLIST_LINE_MAX 1024

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

/* ---- link helpers (handle.h) ---------------------------------------------- */

uint64_t svc__url_hash(const svc *v, const char *url)
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
int svc__counter_code(const svc *v, int64_t id, char *out, size_t n)
{
	return codec_encode_id(&v->codec, id, out, n) != 0 ? SH_EINVAL : 0;
}

void svc__fill_code(const svc *v, sh_link *l)
{
	if (l->code_kind == CODE_KIND_COUNTER &&
	    codec_encode_id(&v->codec, l->id, l->code, sizeof l->code) != 0)
		l->code[0] = '\0';
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

/* The base URL (checked by the config: cfg_base_url_ok lets through only
 * what libcurl reads) and the default domain. Its host, for the loop check
 * of url_normalize, is read with libcurl later, by the first URL
 * normalized (svc_url_policy): reading it here would map libcurl and its two
 * TLS stacks in every shorty, also one that only redirects (idle RSS,
 * core/curlload.h). */
static int parse_base(svc *v, const char *base, sh_err *err)
{
	size_t n;

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
	v->self_mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	v->own_names = svc__own_names(v->cfg->listen);
	if (!v->own_names)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	v->policy.self_names = (const char *const *)v->own_names;
	return 0;
}

/* Reads the base URL's host, lower case, with libcurl (loaded now if not
 * yet) into v->policy.self_host. False when libcurl cannot be loaded
 * (url_normalize then fails too, and says why) or memory runs out: tried
 * again next time. */
static bool read_self_host(svc *v)
{
	CURLU *u = curl_url();
	char *host = NULL;
	CURLUcode uc = CURLUE_OUT_OF_MEMORY;

	if (u) {
		uc = curl_url_set(u, CURLUPART_URL, v->base, 0);
		if (uc == CURLUE_OK)
			uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
	}
	if (uc == CURLUE_OK && !(v->self_host = strdup(host)))
		uc = CURLUE_OUT_OF_MEMORY;
	curl_free(host);
	curl_url_cleanup(u);
	if (uc == CURLUE_OUT_OF_MEMORY)
		return false;
	if (uc != CURLUE_OK) /* cfg_base_url_ok lets through only what curl reads */
		log_msg(SH_LOG_ERROR, "base-url \"%.100s\": libcurl cannot read its host (%s); "
		        "the redirect-loop check knows only the listen names",
		        v->base, curl_url_strerror(uc));
	for (char *p = v->self_host; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	v->policy.self_host = v->self_host;
	return true;
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
	v->policy_unread = v->policy; /* until libcurl reads the host: never written again */
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
	svc__keycache_free(v->keys);
	svc__robots_free(v->robots);
	for (i = 0; i < v->nblocked; i++)
		free(v->blocked[i]);
	free(v->blocked);
	free(v->schemes);
	free(v->self_host);
	pthread_mutex_destroy(&v->self_mu);
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
	/* the handle is never defined const (svc_open allocates it). Its
	 * policy gets self_host once, here, under self_mu, before the release
	 * store of self_done publishes it; until then callers get
	 * policy_unread, the same without self_host, which nobody writes */
	svc *m = (svc *)v;
	bool done;

	if (__atomic_load_n(&m->self_done, __ATOMIC_ACQUIRE))
		return &m->policy;
	pthread_mutex_lock(&m->self_mu);
	done = __atomic_load_n(&m->self_done, __ATOMIC_RELAXED) ||
	       (sh_curl_load(NULL) == 0 && read_self_host(m));
	if (done)
		__atomic_store_n(&m->self_done, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&m->self_mu);
	return done ? &m->policy : &m->policy_unread;
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

uint32_t svc__forget_slot(const char *code, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)code[i]) * 16777619u;
	return h % FORGET_SLOTS;
}

void svc_cache_forget(svc *v, const char *code)
{
	if (code && strcmp(code, SVC_FEED_KEYS) == 0) { /* a key was revoked */
		svc__keys_forget(v);
		return;
	}
	if (v->cache && code) {
		__atomic_add_fetch(&v->forget_gen[svc__forget_slot(code, strlen(code))], 1,
		                   __ATOMIC_RELEASE);
		lru_del(v->cache, code, strlen(code));
	}
}

/* A create's code: only a negative entry ("no such code") is wrong now;
 * a positive one was read after the create committed. */
void svc__cache_forget_negative(svc *v, const char *code)
{
	if (v->cache && code) {
		__atomic_add_fetch(&v->created_gen[svc__forget_slot(code, strlen(code))], 1,
		                   __ATOMIC_RELEASE);
		lru_del_negative(v->cache, code, strlen(code));
	}
}

/* Every entry may miss a change: the positive ones are kept as a last
 * resort (older epoch: answered only while the store cannot answer), the
 * negative ones go. */
void svc__cache_clear(svc *v)
{
	svc__keys_forget(v);
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

uint64_t svc_misses_sent(void)
{
	return store_lookups_sent_count();
}

/*
 * lookup.c — finding a link: by code (svc_get, svc_get_on: an owner sees
 * only their own) or id, and the redirect's cached lookup (svc_resolve).
 *
 * Cache: key = the code's bytes (on another domain than the default, the
 * domain's id and the code: svc_cache_key), value = a compact record
 * (struct crec followed by the URL). A redirect that hits the cache copies
 * the record straight into the caller's svc_target and allocates nothing.
 */
#include <string.h>

#include "shorty/codec.h"
#include "shorty/lru.h"
#include "shorty/service.h"
#include "shorty/timeutil.h"
#include "service/handle.h"

#define TTL_MS 60000          /* positive entries */
#define TTL_COUNTED_MS 1000   /* links with a visit limit: keep the count fresh */
#define TTL_NEGATIVE_MS 5000  /* unknown codes */

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

/* ---- read ------------------------------------------------------------- */

int svc__not_found(const char *code, sh_err *err)
{
	return sh_err_set(err, SH_ENOTFOUND, NULL, "no link has the code %.64s",
	                  code ? code : "");
}

/* The link of code on domain dom, limited to owner_key_id's links when
 * != 0. */
int svc__get_owned(svc *v, store *s, int64_t dom, const char *code, int64_t owner_key_id,
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
			svc__fill_code(v, out);
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
	return svc__get_owned(v, s, 0, code, svc_caller_owner(who), out);
}

int svc_get_on(svc *v, store *s, const char *domain, const char *code, const svc_caller *who,
               sh_link *out, sh_err *err)
{
	int64_t dom;
	int rc = svc_domain_id(v, s, domain, false, &dom, err);

	memset(out, 0, sizeof *out);
	if (rc == SH_ENOTFOUND) /* no link was ever on it */
		return svc__not_found(code, err);
	if (rc)
		return rc;
	rc = svc__get_owned(v, s, dom, code, svc_caller_owner(who), out);
	if (rc == SH_ENOTFOUND)
		return svc__not_found(code, err);
	return rc ? svc__store_err(s, rc, err) : 0;
}

int svc_get_by_id(svc *v, store *s, int64_t id, sh_link *out)
{
	int rc;

	memset(out, 0, sizeof *out);
	rc = store_link_get(s, id, out);
	if (rc == 0 && out->code_kind == CODE_KIND_COUNTER)
		svc__fill_code(v, out);
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
	uint32_t k = svc__forget_slot(key, keylen);
	uint64_t gen = __atomic_load_n(&v->forget_gen[k], __ATOMIC_ACQUIRE);
	uint64_t cgen = __atomic_load_n(&v->created_gen[k], __ATOMIC_ACQUIRE);
	uint32_t epoch = __atomic_load_n(&v->cache_epoch, __ATOMIC_ACQUIRE);

	memcpy(c, code, n);
	c[n] = '\0';
	rc = svc__get_owned(v, s, dom, c, 0, &l);
	cache = v->cache;
	if (cache && __atomic_load_n(&v->forget_gen[k], __ATOMIC_ACQUIRE) != gen)
		cache = NULL;
	if (rc == SH_ENOTFOUND) {
		if (cache && __atomic_load_n(&v->created_gen[k], __ATOMIC_ACQUIRE) == cgen)
			(void)lru_put_negative(cache, key, keylen, svc__mono_ms(), TTL_NEGATIVE_MS);
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
		(void)lru_put(cache, key, keylen, t, *len, svc__mono_ms(),
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
	int rc = lru_get(v->cache, key, keylen, t, cap, &len, svc__mono_ms());
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

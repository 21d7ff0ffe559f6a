/*
 * lookup.c — finding a link: by code (svc_get, svc_get_on: an owner sees
 * only their own) or id, and the redirect's cached lookup (svc_resolve).
 *
 * Cache: key = the code's bytes (on another domain than the default, the
 * domain's id and the code: svc_cache_key), value = a compact record
 * (struct crec followed by the URL). A redirect that hits the cache copies
 * the record straight into the caller's svc_target and allocates nothing.
 */
#include <stdlib.h>
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

/* What a miss notes before it reads: a forget between our read and our
 * put (the writer's, or another instance's change told by the feed) means
 * what we read may be old: then it is not cached. */
struct gens {
	uint32_t k;
	uint64_t gen, cgen;
	uint32_t epoch;
};

static void gens_take(svc *v, const char *key, size_t keylen, struct gens *g)
{
	g->k = svc__forget_slot(key, keylen);
	g->gen = __atomic_load_n(&v->forget_gen[g->k], __ATOMIC_ACQUIRE);
	g->cgen = __atomic_load_n(&v->created_gen[g->k], __ATOMIC_ACQUIRE);
	g->epoch = __atomic_load_n(&v->cache_epoch, __ATOMIC_ACQUIRE);
}

/* The store's answer rc (l when 0) for key: its record at the start of t
 * (cap bytes), cached; unknown codes get a negative entry. */
static int record_of(svc *v, int rc, const sh_link *l, const struct gens *g, const char *key,
                     size_t keylen, svc_target *t, size_t cap, size_t *len)
{
	struct crec h;
	size_t ulen;
	lru *cache = v->cache;

	if (cache && __atomic_load_n(&v->forget_gen[g->k], __ATOMIC_ACQUIRE) != g->gen)
		cache = NULL;
	if (rc == SH_ENOTFOUND) {
		if (cache && __atomic_load_n(&v->created_gen[g->k], __ATOMIC_ACQUIRE) == g->cgen)
			(void)lru_put_negative(cache, key, keylen, svc__mono_ms(), TTL_NEGATIVE_MS);
		return rc;
	}
	if (rc)
		return rc;
	ulen = l->url ? strlen(l->url) : 0;
	if (sizeof h + ulen > cap)
		return SH_ETOOBIG; /* stored under a larger max-url-length than the current one */
	memset(&h, 0, sizeof h);
	h.link_id = l->id;
	h.valid_since = l->valid_since;
	h.expires_at = l->expires_at;
	h.max_visits = l->max_visits;
	h.visits = l->visits;
	h.rules_hash = svc__rules_hash(l->redirect_rules);
	h.status = l->redirect_status;
	h.epoch = g->epoch;
	h.flags = (l->forward_query ? CREC_FORWARD : 0) | (l->crawlable ? CREC_CRAWLABLE : 0) |
	          (l->disabled ? CREC_DISABLED : 0);
	memcpy(t, &h, sizeof h);
	memcpy((char *)t + sizeof h, l->url, ulen);
	*len = sizeof h + ulen;
	if (cache)
		/* a failed put (ENOMEM) only costs the next request a store read */
		(void)lru_put(cache, key, keylen, t, *len, svc__mono_ms(),
		              l->max_visits ? TTL_COUNTED_MS : TTL_MS);
	return 0;
}

/* Cache miss: reads the link and makes its record (record_of). */
static int load_record(svc *v, store *s, int64_t dom, const char *code, size_t n,
                       const char *key, size_t keylen, svc_target *t, size_t cap, size_t *len)
{
	char c[CODE_MAX + 1];
	struct gens g;
	sh_link l;
	int rc;

	gens_take(v, key, keylen, &g);
	memcpy(c, code, n);
	c[n] = '\0';
	rc = svc__get_owned(v, s, dom, c, 0, &l);
	rc = record_of(v, rc, &l, &g, key, keylen, t, cap, len);
	if (rc != SH_ENOTFOUND)
		sh_link_clear(&l);
	return rc;
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

/* The cache key of (dom, code) in kbuf (or code itself). */
static const char *key_of(int64_t dom, const char *code, size_t n, char kbuf[SVC_CACHE_KEY_MAX],
                          size_t *keylen)
{
	char c[CODE_MAX + 1];
	const char *key = code;

	*keylen = n;
	if (dom != 0) { /* the default domain's key is the code itself */
		memcpy(c, code, n);
		c[n] = '\0';
		key = svc_cache_key(dom, c, kbuf);
		*keylen = strlen(key);
	}
	return key;
}

/* Before the store: 0 or SH_ENOTFOUND from the cache, else 1. */
static int resolve_cached(svc *v, const char *key, size_t keylen, svc_target *t, int64_t now)
{
	bool bypass = __atomic_load_n(&v->cache_bypass, __ATOMIC_RELAXED) != 0;
	/* bypassed, the cache answers only while the store cannot */
	bool down = __atomic_load_n(&v->store_down, __ATOMIC_RELAXED) != 0;

	if (v->cache && (!bypass || down))
		return from_cache(v, key, keylen, t, now, down);
	return 1;
}

/* After the store answered rc (the record in t, len bytes, when 0). */
static int resolve_end(svc *v, int rc, const char *key, size_t keylen, svc_target *t, size_t len,
                       int64_t now)
{
	bool bypass = __atomic_load_n(&v->cache_bypass, __ATOMIC_RELAXED) != 0;

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

/* The link of code on domain dom exactly, cached under (dom, code). */
static int resolve_in(svc *v, store *s, int64_t dom, const char *code, size_t n, svc_target *t,
                      int64_t now)
{
	size_t cap = svc_target_size(v), len = 0, keylen;
	char kbuf[SVC_CACHE_KEY_MAX];
	const char *key = key_of(dom, code, n, kbuf, &keylen);
	int rc = resolve_cached(v, key, keylen, t, now);

	if (rc <= 0)
		return rc;
	/* no store (a reader connection that could not be opened): the cache
	 * answers what it holds, bypassed or not */
	rc = s ? load_record(v, s, dom, code, n, key, keylen, t, cap, &len) : SH_ESTORE;
	return resolve_end(v, rc, key, keylen, t, len, now);
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

/* ---- misses that do not wait (svc_resolve_later) ---------------------------
 * On PostgreSQL a miss is a round trip: waited for, it kept the worker from
 * every other request meanwhile. Here it is sent on the worker's lookup
 * connection (store_lookup_*) and answered when the store's answer comes;
 * the cache, the negative entries, the forget generations and the stale
 * answers while the store is away are those of the waiting path (the
 * helpers above). A miss of another domain that finds nothing asks again
 * for the default domain's link, as svc_resolve_on does. */

#define MISS_MAX 256 /* misses in flight per worker (store.h's LK_MAX) */

struct miss {
	svc_misses *m;
	svc_resolved_fn done;
	void *ud;
	int64_t dom;
	size_t n, keylen;
	struct gens g;
	char code[CODE_MAX + 1];
	char key[SVC_CACHE_KEY_MAX];
	struct miss *next; /* free list */
};

struct svc_misses {
	svc *v;
	svc_target *t; /* where answers are made (the worker's target) */
	store_lookups *q;
	bool want_reconnect; /* a send found the connection down (the loop's) */
	bool reconnecting;   /* atomic: svc_misses_reconnect runs elsewhere */
	struct miss *free;
	struct miss pool[MISS_MAX];
};

static void miss_answer(void *ud, int rc, const sh_link *l);

int svc_misses_open(svc *v, const char *url, svc_target *t, svc_misses **out, sh_err *err)
{
	svc_misses *m;
	int rc;

	*out = NULL;
	if (!(m = calloc(1, sizeof(*m))))
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	if ((rc = store_lookups_open(&m->q, url, miss_answer, err)) || !m->q) {
		free(m);
		return rc; /* 0: a store without them (SQLite) */
	}
	m->v = v;
	m->t = t;
	for (int i = MISS_MAX - 1; i >= 0; i--) {
		m->pool[i].next = m->free;
		m->free = &m->pool[i];
	}
	*out = m;
	return 0;
}

void svc_misses_close(svc_misses *m)
{
	if (!m)
		return;
	store_lookups_close(m->q);
	free(m);
}

static bool reconnecting(const svc_misses *m)
{
	return __atomic_load_n(&m->reconnecting, __ATOMIC_ACQUIRE);
}

int svc_misses_fd(const svc_misses *m)
{
	return reconnecting(m) ? -1 : store_lookups_fd(m->q);
}

int svc_misses_timeout_ms(const svc_misses *m)
{
	return reconnecting(m) ? -1 : store_lookups_timeout_ms(m->q);
}

unsigned svc_misses_inflight(const svc_misses *m)
{
	return reconnecting(m) ? 0 : store_lookups_inflight(m->q);
}

void svc_misses_run(svc_misses *m)
{
	if (!reconnecting(m))
		store_lookups_run(m->q);
}

bool svc_misses_reconnect_wanted(svc_misses *m)
{
	if (!m->want_reconnect || reconnecting(m))
		return false;
	m->want_reconnect = false;
	__atomic_store_n(&m->reconnecting, true, __ATOMIC_RELEASE);
	return true;
}

void svc_misses_reconnect(svc_misses *m)
{
	(void)store_lookups_reconnect(m->q); /* a failure: the next send asks again */
	__atomic_store_n(&m->reconnecting, false, __ATOMIC_RELEASE);
}

bool svc_misses_reconnecting(const svc_misses *m)
{
	return reconnecting(m);
}

/* Sends x's lookup (x->dom, x->code): SVC_PENDING, or the store's SH_E*. */
static int miss_send(svc_misses *m, struct miss *x)
{
	char kbuf[SVC_CACHE_KEY_MAX];
	int64_t id;
	const char *key = key_of(x->dom, x->code, x->n, kbuf, &x->keylen);

	memcpy(x->key, key, x->keylen);
	gens_take(m->v, x->key, x->keylen, &x->g);
	if (codec_decode_id(&m->v->codec, x->code, x->n, &id) != 0)
		id = -1;
	int rc = store_lookup_send(m->q, x->dom, id, x->code, x);
	if (rc == STORE_LOOKUP_RECONNECT) { /* not sent: made again elsewhere */
		m->want_reconnect = true;
		return SH_EBUSY;
	}
	return rc ? rc : SVC_PENDING;
}

static void miss_answer(void *ud, int rc, const sh_link *l)
{
	struct miss *x = ud;
	svc_misses *m = x->m;
	svc *v = m->v;
	size_t len = 0;
	int64_t now = sh_now();

	rc = record_of(v, rc, l, &x->g, x->key, x->keylen, m->t, svc_target_size(v), &len);
	rc = resolve_end(v, rc, x->key, x->keylen, m->t, len, now);
	if (rc == SH_ENOTFOUND && x->dom != 0) { /* the default domain's */
		x->dom = 0;
		rc = resolve_cached(v, x->code, x->n, m->t, now);
		if (rc > 0 && (rc = miss_send(m, x)) == SVC_PENDING)
			return;
		if (rc < 0 && rc != SH_ENOTFOUND) /* not sent: the store is away */
			rc = resolve_end(v, rc, x->code, x->n, m->t, 0, now);
	}
	x->next = m->free;
	m->free = x;
	x->done(x->ud, rc);
}

int svc_resolve_later(svc *v, svc_misses *m, int64_t dom, const char *code, size_t n,
                      svc_target *t, int64_t now, svc_resolved_fn done, void *ud)
{
	char kbuf[SVC_CACHE_KEY_MAX];
	size_t keylen;
	const char *key;
	struct miss *x;
	int rc;

	if (!code || n == 0 || n > CODE_MAX || !codec_custom_valid(code, n))
		return SH_ENOTFOUND;
	if (m)
		t = m->t;
	key = key_of(dom, code, n, kbuf, &keylen);
	rc = resolve_cached(v, key, keylen, t, now);
	if (rc == SH_ENOTFOUND && dom != 0) { /* Shlink's domain fallback */
		rc = resolve_cached(v, code, n, t, now);
		return rc > 0 ? SVC_WOULD_WAIT : rc;
	}
	if (rc <= 0)
		return rc;
	if (!m || !m->free || reconnecting(m)) /* too many in flight, or no connection */
		return SVC_WOULD_WAIT;
	x = m->free;
	m->free = x->next;
	*x = (struct miss){.m = m, .done = done, .ud = ud, .dom = dom, .n = n};
	memcpy(x->code, code, n);
	x->code[n] = '\0';
	rc = miss_send(m, x);
	if (rc == SVC_PENDING)
		return rc;
	x->next = m->free;
	m->free = x;
	if (rc == SH_EBUSY) /* the connection's pipeline is full */
		return SVC_WOULD_WAIT;
	rc = resolve_end(v, rc, key, keylen, t, 0, now);
	return rc == SH_ENOTFOUND && dom != 0 ? SVC_WOULD_WAIT : rc;
}

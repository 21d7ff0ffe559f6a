/*
 * lru.c — the sharded cache in front of the store (see shorty/lru.h),
 * evicting by second chance (CLOCK) over a list in insertion order.
 *
 * The redirect path asks this cache first, so a get is kept to: one hash,
 * one shard lock, a chain walk with a compare, a memcpy of the value,
 * setting the entry's `referenced` flag (only when it is not set yet, so a
 * hot entry's line is not dirtied again), and the unlock. A get writes no
 * list links: a move to the front on every hit (exact LRU) wrote the
 * entry's two neighbours and the list head, random lines of memory, under
 * the shard lock (docs/benchmarks.md, "The cache's get"). Nothing is
 * allocated on a get; a put allocates its entry before taking the lock and
 * frees what it replaced or evicted after releasing it.
 *
 * Eviction (a put into a full shard) looks at the list's tail: a referenced
 * entry gets its flag cleared and goes to the front (its second chance),
 * the first unreferenced one is evicted. So an entry read since it last
 * reached the tail survives one more round, and when every entry was read
 * the sweep clears them all and the oldest goes. Each move clears a flag
 * that a get set, so the sweep costs at most one step per get before it:
 * O(1) per put amortized, at most the shard's count in one put.
 *
 * Layout: the key's 64-bit hash (a wyhash-style multiply-mix, seeded at
 * creation from getrandom so remote callers cannot aim keys at one chain)
 * picks the shard from its top bits and the bucket from its low bits. Each
 * shard has a chained hash table sized once at creation (a power of two >=
 * the shard's cap, so chains stay short without resizing) and a circular
 * doubly-linked list with a sentinel: the newest entry (or the last given
 * a second chance) at head.next, the next one eviction looks at at
 * head.prev. An entry is one allocation: header, key bytes, value bytes.
 * Shards are cache-line aligned so two threads working on neighbouring
 * shards do not share a line.
 *
 * Caps: max_entries is split over the shards exactly (sum of caps ==
 * max_entries); when max_entries is smaller than the shard count, fewer
 * shards are used so that every shard holds at least one entry.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "shorty/err.h"
#include "shorty/lru.h"

#define LRU_CACHELINE 64
#define LRU_DEFAULT_SHARDS 16u
#define LRU_MAX_SHARDS 1024u

/* List links; first member of an entry so the sentinel can be one too. */
struct lru_link {
	struct lru_link *prev, *next;
};

struct lru_entry {
	struct lru_link link;    /* must stay first */
	struct lru_entry *hnext; /* hash chain */
	uint64_t hash;
	int64_t deadline; /* monotonic ms; INT64_MAX = never */
	size_t klen, vlen;
	bool negative;
	bool referenced;      /* read since put or since its last second chance */
	unsigned char data[]; /* key bytes, then value bytes */
};

struct lru_shard {
	_Alignas(LRU_CACHELINE) pthread_mutex_t mu;
	struct lru_entry **buckets;
	size_t mask;          /* nbuckets - 1 */
	struct lru_link head; /* sentinel: head.next = newest, head.prev = next looked at */
	size_t count, cap;
	uint64_t hits, misses, negative_hits, evictions, expirations;
};

struct lru {
	struct lru_shard *shards;
	unsigned nshards;
	unsigned shard_shift; /* 64 - log2(nshards); unused when nshards == 1 */
	uint64_t seed;
};

/* ---- hashing ---------------------------------------------------------- */

static inline uint64_t lru_mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

#define LRU_K0 0xa0761d6478bd642full
#define LRU_K1 0xe7037ed1a0b428dbull
#define LRU_K2 0x8ebc6af09c88c6e3ull

static uint64_t lru_hash(uint64_t seed, const void *key, size_t n)
{
	const unsigned char *p = key;
	uint64_t h = seed ^ lru_mix(n ^ LRU_K0, LRU_K1);
	uint64_t w;

	while (n >= 8) {
		memcpy(&w, p, 8);
		h = lru_mix(w ^ LRU_K1, h ^ LRU_K0);
		p += 8;
		n -= 8;
	}
	w = 0;
	if (n > 0)
		memcpy(&w, p, n);
	h = lru_mix(w ^ LRU_K2, h ^ LRU_K1);
	return lru_mix(h ^ LRU_K0, LRU_K2);
}

static uint64_t lru_seed(void)
{
	uint64_t s = 0;
	struct timespec ts;

	if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s)
		return s;
	/* No entropy yet (early boot): still differs per process and run. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return lru_mix((uint64_t)ts.tv_nsec ^ LRU_K0, (uint64_t)(uintptr_t)&s ^ LRU_K1);
}

/* ---- list and table helpers (shard locked) ---------------------------- */

static inline void lru_list_unlink(struct lru_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
}

static inline void lru_list_push_front(struct lru_shard *sh, struct lru_link *l)
{
	l->prev = &sh->head;
	l->next = sh->head.next;
	sh->head.next->prev = l;
	sh->head.next = l;
}

static inline struct lru_shard *lru_shard_of(lru *c, uint64_t h)
{
	if (c->nshards == 1)
		return &c->shards[0];
	return &c->shards[h >> c->shard_shift];
}

/* Finds key in its chain; *pp is set to the link pointing at it. */
static struct lru_entry *lru_find(struct lru_shard *sh, uint64_t h, const void *key, size_t klen,
                                  struct lru_entry ***pp)
{
	struct lru_entry **p = &sh->buckets[h & sh->mask];

	for (; *p; p = &(*p)->hnext) {
		struct lru_entry *e = *p;
		if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0) {
			*pp = p;
			return e;
		}
	}
	*pp = p;
	return NULL;
}

/* Unlinks e from its chain, given the pointer that points at it. */
static void lru_remove_at(struct lru_shard *sh, struct lru_entry **p)
{
	struct lru_entry *e = *p;

	*p = e->hnext;
	lru_list_unlink(&e->link);
	sh->count--;
}

/* Unlinks e when the chain pointer is not at hand (eviction). */
static void lru_remove(struct lru_shard *sh, struct lru_entry *e)
{
	struct lru_entry **p = &sh->buckets[e->hash & sh->mask];

	while (*p != e)
		p = &(*p)->hnext;
	lru_remove_at(sh, p);
}

/* Second chance: the tail's referenced entries lose their flag and go to the
 * front until an unreferenced one is at the tail; that one is the victim.
 * At most count moves: after a full round every flag is clear. */
static struct lru_entry *lru_pick_victim(struct lru_shard *sh)
{
	struct lru_entry *e = (struct lru_entry *)sh->head.prev;

	while (e->referenced) {
		e->referenced = false;
		lru_list_unlink(&e->link);
		lru_list_push_front(sh, &e->link);
		e = (struct lru_entry *)sh->head.prev;
	}
	return e;
}

/* ---- public ----------------------------------------------------------- */

static size_t lru_pow2_at_least(size_t n)
{
	size_t p = 1;

	while (p < n && p < ((size_t)1 << (sizeof(size_t) * 8 - 2)))
		p <<= 1;
	return p;
}

lru *lru_create(size_t max_entries, unsigned shards)
{
	lru *c = NULL;
	unsigned n, i;
	void *mem = NULL;

	if (max_entries == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (shards == 0)
		shards = LRU_DEFAULT_SHARDS;
	if (shards > LRU_MAX_SHARDS)
		shards = LRU_MAX_SHARDS;
	n = (unsigned)lru_pow2_at_least(shards);
	while (n > 1 && n > max_entries)
		n >>= 1;

	c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	if (posix_memalign(&mem, LRU_CACHELINE, n * sizeof(struct lru_shard)) != 0) {
		free(c);
		return NULL;
	}
	memset(mem, 0, n * sizeof(struct lru_shard));
	c->shards = mem;
	c->nshards = n;
	c->shard_shift = 64;
	for (unsigned b = n; b > 1; b >>= 1)
		c->shard_shift--;
	c->seed = lru_seed();

	for (i = 0; i < n; i++) {
		struct lru_shard *sh = &c->shards[i];
		size_t nb;

		sh->cap = max_entries / n + (i < max_entries % n ? 1 : 0);
		nb = lru_pow2_at_least(sh->cap);
		sh->buckets = calloc(nb, sizeof *sh->buckets);
		if (!sh->buckets)
			goto fail;
		sh->mask = nb - 1;
		sh->head.prev = sh->head.next = &sh->head;
		pthread_mutex_init(&sh->mu, NULL);
	}
	return c;
fail:
	for (unsigned j = 0; j < i; j++) {
		pthread_mutex_destroy(&c->shards[j].mu);
		free(c->shards[j].buckets);
	}
	free(c->shards);
	free(c);
	return NULL;
}

/* Frees every entry of a detached list (no lock needed). */
static void lru_free_list(struct lru_link *first, struct lru_link *end)
{
	struct lru_link *l = first;

	while (l != end) {
		struct lru_link *next = l->next;
		free(l);
		l = next;
	}
}

void lru_destroy(lru *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->nshards; i++) {
		struct lru_shard *sh = &c->shards[i];
		lru_free_list(sh->head.next, &sh->head);
		free(sh->buckets);
		pthread_mutex_destroy(&sh->mu);
	}
	free(c->shards);
	free(c);
}

int lru_get(lru *c, const void *key, size_t klen, void *out, size_t outcap, size_t *outlen,
            int64_t now_ms)
{
	uint64_t h = lru_hash(c->seed, key, klen);
	struct lru_shard *sh = lru_shard_of(c, h);
	struct lru_entry **p, *e, *expired = NULL;
	int rc = LRU_MISS;

	pthread_mutex_lock(&sh->mu);
	e = lru_find(sh, h, key, klen, &p);
	if (!e) {
		sh->misses++;
	} else if (now_ms >= e->deadline) {
		lru_remove_at(sh, p);
		expired = e;
		sh->expirations++;
		sh->misses++;
	} else {
		if (!e->referenced)
			e->referenced = true;
		if (e->negative) {
			sh->negative_hits++;
			rc = LRU_NEGATIVE;
		} else {
			size_t n = e->vlen < outcap ? e->vlen : outcap;
			if (n > 0)
				memcpy(out, e->data + e->klen, n);
			if (outlen)
				*outlen = e->vlen;
			sh->hits++;
			rc = LRU_HIT;
		}
	}
	pthread_mutex_unlock(&sh->mu);
	free(expired);
	return rc;
}

static int lru_insert(lru *c, const void *key, size_t klen, const void *val, size_t vlen,
                      bool negative, int64_t now_ms, int64_t ttl_ms)
{
	uint64_t h;
	struct lru_shard *sh;
	struct lru_entry *e, *old, *victim = NULL, **p;

	if (klen > SIZE_MAX / 2 || vlen > SIZE_MAX / 2 - klen - sizeof *e)
		return SH_ENOMEM;
	e = malloc(sizeof *e + klen + vlen);
	if (!e)
		return SH_ENOMEM;
	h = lru_hash(c->seed, key, klen);
	e->hash = h;
	e->klen = klen;
	e->vlen = vlen;
	e->negative = negative;
	e->referenced = false;
	if (ttl_ms <= 0 || now_ms > INT64_MAX - ttl_ms)
		e->deadline = INT64_MAX;
	else
		e->deadline = now_ms + ttl_ms;
	if (klen)
		memcpy(e->data, key, klen);
	if (vlen)
		memcpy(e->data + klen, val, vlen);

	sh = lru_shard_of(c, h);
	pthread_mutex_lock(&sh->mu);
	old = lru_find(sh, h, key, klen, &p);
	if (old) {
		lru_remove_at(sh, p); /* p now points at old's successor slot */
	} else if (sh->count >= sh->cap) {
		victim = lru_pick_victim(sh);
		lru_remove(sh, victim);
		sh->evictions++;
		/* the chain may have changed under p: find the slot again */
		p = &sh->buckets[h & sh->mask];
	}
	e->hnext = *p;
	*p = e;
	lru_list_push_front(sh, &e->link);
	sh->count++;
	pthread_mutex_unlock(&sh->mu);
	free(old);
	free(victim);
	return 0;
}

int lru_put(lru *c, const void *key, size_t klen, const void *val, size_t vlen, int64_t now_ms,
            int64_t ttl_ms)
{
	return lru_insert(c, key, klen, val, vlen, false, now_ms, ttl_ms);
}

int lru_put_negative(lru *c, const void *key, size_t klen, int64_t now_ms, int64_t ttl_ms)
{
	return lru_insert(c, key, klen, NULL, 0, true, now_ms, ttl_ms);
}

static void lru_del_if(lru *c, const void *key, size_t klen, bool negative_only)
{
	uint64_t h = lru_hash(c->seed, key, klen);
	struct lru_shard *sh = lru_shard_of(c, h);
	struct lru_entry **p, *e;

	pthread_mutex_lock(&sh->mu);
	e = lru_find(sh, h, key, klen, &p);
	if (e && negative_only && !e->negative)
		e = NULL;
	if (e)
		lru_remove_at(sh, p);
	pthread_mutex_unlock(&sh->mu);
	free(e);
}

void lru_del(lru *c, const void *key, size_t klen)
{
	lru_del_if(c, key, klen, false);
}

void lru_del_negative(lru *c, const void *key, size_t klen)
{
	lru_del_if(c, key, klen, true);
}

void lru_clear_negative(lru *c)
{
	for (unsigned i = 0; i < c->nshards; i++) {
		struct lru_shard *sh = &c->shards[i];
		struct lru_link *l, *next, *gone = NULL;

		pthread_mutex_lock(&sh->mu);
		for (l = sh->head.next; l != &sh->head; l = next) {
			struct lru_entry *e = (struct lru_entry *)l;
			next = l->next;
			if (!e->negative)
				continue;
			lru_remove(sh, e);
			l->next = gone; /* unlinked: its link chains the ones to free */
			gone = l;
		}
		pthread_mutex_unlock(&sh->mu);
		lru_free_list(gone, NULL);
	}
}

void lru_clear(lru *c)
{
	for (unsigned i = 0; i < c->nshards; i++) {
		struct lru_shard *sh = &c->shards[i];
		struct lru_link *first, *last;

		pthread_mutex_lock(&sh->mu);
		first = sh->head.next;
		last = sh->head.prev;
		sh->head.prev = sh->head.next = &sh->head;
		memset(sh->buckets, 0, (sh->mask + 1) * sizeof *sh->buckets);
		sh->count = 0;
		pthread_mutex_unlock(&sh->mu);
		/* detached: terminate the list at NULL and free it unlocked */
		if (first != &sh->head) {
			last->next = NULL;
			lru_free_list(first, NULL);
		}
	}
}

void lru_get_stats(lru *c, lru_stats *out)
{
	memset(out, 0, sizeof *out);
	for (unsigned i = 0; i < c->nshards; i++) {
		struct lru_shard *sh = &c->shards[i];

		pthread_mutex_lock(&sh->mu);
		out->hits += sh->hits;
		out->misses += sh->misses;
		out->negative_hits += sh->negative_hits;
		out->evictions += sh->evictions;
		out->expirations += sh->expirations;
		out->entries += sh->count;
		pthread_mutex_unlock(&sh->mu);
	}
}

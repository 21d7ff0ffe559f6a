/*
 * lru.h — a sharded cache with per-entry TTL and negative entries,
 * evicting by second chance, an approximation of LRU (cache/lru.c).
 *
 * Keys and values are byte strings, copied in and copied out, so nothing
 * handed out can be freed under a reader. The cache is split into shards
 * (a power of two), each with its own mutex, hash table and list;
 * a key's shard comes from its hash, so threads rarely contend. Bounded by
 * entry count (split evenly over shards). Negative entries remember "this
 * key is known not to exist" (unknown codes) without a value.
 */
#ifndef SHORTY_LRU_H
#define SHORTY_LRU_H

#include <stddef.h>
#include <stdint.h>

typedef struct lru lru;

enum lru_result {
	LRU_MISS = 0,     /* not cached (or expired): ask the store */
	LRU_HIT = 1,      /* value copied out */
	LRU_NEGATIVE = 2, /* cached "does not exist" */
};

typedef struct lru_stats {
	uint64_t hits, misses, negative_hits, evictions, expirations;
	uint64_t entries;
} lru_stats;

/* Creates a cache for at most max_entries entries (>= 1) in `shards`
 * shards (rounded up to a power of two; 0 = 16). Returns NULL on ENOMEM. */
lru *lru_create(size_t max_entries, unsigned shards);
void lru_destroy(lru *c);

/* Looks up key. On LRU_HIT copies the value into out (at most outcap bytes)
 * and sets *outlen to the value's full length; if outcap is too small the
 * value is truncated and the caller sees *outlen > outcap. `now_ms` is a
 * monotonic time in milliseconds (entries past their deadline are misses). */
int lru_get(lru *c, const void *key, size_t klen, void *out, size_t outcap,
            size_t *outlen, int64_t now_ms);

/* Inserts or replaces key -> value, live until now_ms + ttl_ms (ttl_ms <= 0:
 * no expiry). If the shard is full, evicts its oldest entry not read since
 * it was put or last passed over (second chance; see cache/lru.c).
 * Returns 0 or SH_ENOMEM. */
int lru_put(lru *c, const void *key, size_t klen, const void *val, size_t vlen,
            int64_t now_ms, int64_t ttl_ms);

/* Inserts or replaces a negative entry for key. */
int lru_put_negative(lru *c, const void *key, size_t klen, int64_t now_ms,
                     int64_t ttl_ms);

/* Removes key (positive or negative). */
void lru_del(lru *c, const void *key, size_t klen);

/* Removes key only if its entry is negative: a create makes "does not
 * exist" wrong, but not an entry that was read after it. */
void lru_del_negative(lru *c, const void *key, size_t klen);

/* Removes everything. */
void lru_clear(lru *c);

/* Removes every negative entry (the positive ones stay). */
void lru_clear_negative(lru *c);

/* Totals over all shards (each shard locked in turn). */
void lru_get_stats(lru *c, lru_stats *out);

#endif

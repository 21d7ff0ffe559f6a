/*
 * test_lru.c — unit tests of the sharded cache (cache/lru.c): second-chance
 * eviction order, capacity, TTL, negative entries, replace/delete/clear, truncated copy-out,
 * stats, and a many-thread stress run whose invariants are checked after.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "shorty/lru.h"

static int get_str(lru *c, const char *k, char *buf, size_t cap, size_t *len, int64_t now)
{
	return lru_get(c, k, strlen(k), buf, cap, len, now);
}

static void put_str(lru *c, const char *k, const char *v, int64_t now, int64_t ttl)
{
	assert_int_equal(lru_put(c, k, strlen(k), v, strlen(v), now, ttl), 0);
}

static void test_create_args(void **state)
{
	(void)state;
	assert_null(lru_create(0, 4));
	lru *c = lru_create(1, 0); /* 16 shards asked, only 1 entry: still works */
	assert_non_null(c);
	put_str(c, "a", "1", 0, 0);
	put_str(c, "b", "2", 0, 0);
	lru_stats st;
	lru_get_stats(c, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.evictions, 1);
	lru_destroy(c);
	lru_destroy(NULL);
}

static void test_hit_and_miss(void **state)
{
	(void)state;
	lru *c = lru_create(100, 4);
	char buf[64];
	size_t len = 0;

	assert_int_equal(get_str(c, "abc", buf, sizeof buf, &len, 0), LRU_MISS);
	put_str(c, "abc", "https://example.com/", 0, 0);
	assert_int_equal(get_str(c, "abc", buf, sizeof buf, &len, 0), LRU_HIT);
	assert_int_equal(len, strlen("https://example.com/"));
	assert_memory_equal(buf, "https://example.com/", len);
	/* a prefix of the key is a different key */
	assert_int_equal(get_str(c, "ab", buf, sizeof buf, &len, 0), LRU_MISS);
	/* empty key and empty value are fine */
	assert_int_equal(lru_put(c, "", 0, "", 0, 0, 0), 0);
	len = 99;
	assert_int_equal(lru_get(c, "", 0, buf, sizeof buf, &len, 0), LRU_HIT);
	assert_int_equal(len, 0);
	lru_destroy(c);
}

/* Second chance, worked out by hand on one shard of 3 (the list runs from
 * the newest entry to the tail, where eviction looks; * = referenced). */
static void test_second_chance_order(void **state)
{
	(void)state;
	lru *c = lru_create(3, 1); /* one shard so the order is global */
	char buf[8];
	size_t len;
	lru_stats st;

	put_str(c, "a", "1", 0, 0);
	put_str(c, "b", "2", 0, 0);
	put_str(c, "c", "3", 0, 0); /* c b a */
	/* a read marks "a" and moves nothing: c b a* */
	assert_int_equal(get_str(c, "a", buf, sizeof buf, &len, 0), LRU_HIT);
	/* "d": the tail "a" was read, so it loses the mark and goes to the
	 * front (a c b); "b", the oldest unread, is evicted: d a c */
	put_str(c, "d", "4", 0, 0);
	assert_int_equal(get_str(c, "b", buf, sizeof buf, &len, 0), LRU_MISS);
	/* read all three: d* a* c* */
	assert_int_equal(get_str(c, "a", buf, sizeof buf, &len, 0), LRU_HIT);
	assert_int_equal(get_str(c, "c", buf, sizeof buf, &len, 0), LRU_HIT);
	assert_int_equal(get_str(c, "d", buf, sizeof buf, &len, 0), LRU_HIT);
	/* "e": every entry was read, so the sweep clears c, a, d in turn (each
	 * to the front) and the oldest in the list, "c", is evicted -- exact LRU
	 * would evict "a", read first of the three: e d a */
	put_str(c, "e", "5", 0, 0);
	assert_int_equal(get_str(c, "c", buf, sizeof buf, &len, 0), LRU_MISS);
	lru_get_stats(c, &st);
	assert_int_equal(st.evictions, 2);
	assert_int_equal(st.entries, 3);
	/* the sweep left no mark: "f" evicts the tail "a" without a second
	 * chance (f e d), and "g" evicts "d" (g f e) */
	put_str(c, "f", "6", 0, 0);
	put_str(c, "g", "7", 0, 0);
	assert_int_equal(get_str(c, "a", buf, sizeof buf, &len, 0), LRU_MISS);
	assert_int_equal(get_str(c, "d", buf, sizeof buf, &len, 0), LRU_MISS);
	/* a replace is a new, unread entry at the front: read "e" (g f e*),
	 * replace it (e g f), and "h" evicts "f": h e g */
	assert_int_equal(get_str(c, "e", buf, sizeof buf, &len, 0), LRU_HIT);
	put_str(c, "e", "55", 0, 0);
	put_str(c, "h", "8", 0, 0);
	assert_int_equal(get_str(c, "f", buf, sizeof buf, &len, 0), LRU_MISS);
	/* a negative hit counts as a read: "n", put negative, evicts "g" (n h e)
	 * and is read (n* h e); "i" evicts "e" (i n* h), "j" evicts "h"
	 * (j i n*), and "k" gives "n" its second chance and evicts "i": k n j.
	 * Without the mark "k" would have evicted "n". */
	assert_int_equal(lru_put_negative(c, "n", 1, 0, 0), 0);
	assert_int_equal(get_str(c, "n", buf, sizeof buf, &len, 0), LRU_NEGATIVE);
	put_str(c, "i", "9", 0, 0);
	put_str(c, "j", "10", 0, 0);
	put_str(c, "k", "11", 0, 0);
	assert_int_equal(get_str(c, "g", buf, sizeof buf, &len, 0), LRU_MISS);
	assert_int_equal(get_str(c, "e", buf, sizeof buf, &len, 0), LRU_MISS);
	assert_int_equal(get_str(c, "h", buf, sizeof buf, &len, 0), LRU_MISS);
	assert_int_equal(get_str(c, "i", buf, sizeof buf, &len, 0), LRU_MISS);
	assert_int_equal(get_str(c, "n", buf, sizeof buf, &len, 0), LRU_NEGATIVE);
	assert_int_equal(get_str(c, "j", buf, sizeof buf, &len, 0), LRU_HIT);
	assert_memory_equal(buf, "10", 2);
	assert_int_equal(get_str(c, "k", buf, sizeof buf, &len, 0), LRU_HIT);
	lru_get_stats(c, &st);
	assert_int_equal(st.evictions, 9); /* b c a d f g e h i */
	assert_int_equal(st.entries, 3);
	lru_destroy(c);
}

/* An expired entry is dropped on its get even when it was read before:
 * its mark gives it no second chance past its deadline. */
static void test_second_chance_expired(void **state)
{
	(void)state;
	lru *c = lru_create(2, 1);
	char buf[8];
	size_t len;
	lru_stats st;

	/* "ttl" lives until 10 and is read: ttl*; then old ttl* */
	put_str(c, "ttl", "1", 0, 10);
	assert_int_equal(get_str(c, "ttl", buf, sizeof buf, &len, 0), LRU_HIT);
	put_str(c, "old", "2", 0, 0);
	assert_int_equal(get_str(c, "ttl", buf, sizeof buf, &len, 10), LRU_MISS);
	/* dropped, so "x" finds room (x old) and "y" evicts "old" (y x) */
	put_str(c, "x", "3", 0, 0);
	lru_get_stats(c, &st);
	assert_int_equal(st.evictions, 0);
	put_str(c, "y", "4", 0, 0);
	assert_int_equal(get_str(c, "old", buf, sizeof buf, &len, 0), LRU_MISS);
	assert_int_equal(get_str(c, "ttl", buf, sizeof buf, &len, 0), LRU_MISS);
	assert_int_equal(get_str(c, "x", buf, sizeof buf, &len, 0), LRU_HIT);
	assert_int_equal(get_str(c, "y", buf, sizeof buf, &len, 0), LRU_HIT);
	lru_get_stats(c, &st);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.expirations, 1);
	assert_int_equal(st.entries, 2);
	lru_destroy(c);
}

/* A hot entry read between every two puts is never evicted while cold ones
 * cycle through: each time it reaches the tail it was read since its last
 * chance, so it goes to the front and the oldest cold entry goes instead.
 * Without the mark (plain FIFO) it would be evicted after `cap` puts. */
static void hot_survives(size_t cap, unsigned shards, int rounds)
{
	lru *c = lru_create(cap, shards);
	char key[32], buf[16];
	size_t len;
	lru_stats st;

	assert_non_null(c);
	put_str(c, "hot", "H", 0, 0);
	for (int i = 0; i < rounds; i++) {
		assert_int_equal(get_str(c, "hot", buf, sizeof buf, &len, 0), LRU_HIT);
		int n = snprintf(key, sizeof key, "cold-%d", i);
		assert_int_equal(lru_put(c, key, (size_t)n, "c", 1, 0, 0), 0);
	}
	assert_int_equal(get_str(c, "hot", buf, sizeof buf, &len, 0), LRU_HIT);
	assert_memory_equal(buf, "H", 1);
	lru_get_stats(c, &st);
	assert_int_equal(st.entries, cap);
	assert_int_equal(st.evictions, (uint64_t)rounds + 1 - cap);
	assert_int_equal(st.hits, (uint64_t)rounds + 1);
	if (shards == 1) {
		/* the cold ones left oldest first: the newest cap - 1 are there */
		for (int i = 0; i < rounds; i++) {
			int n = snprintf(key, sizeof key, "cold-%d", i);
			int want = i >= rounds - (int)(cap - 1) ? LRU_HIT : LRU_MISS;
			assert_int_equal(lru_get(c, key, (size_t)n, buf, sizeof buf, &len, 0),
			                 want);
		}
	}
	lru_destroy(c);
}

static void test_hot_entry_survives(void **state)
{
	(void)state;
	hot_survives(8, 1, 1000);
	hot_survives(2, 1, 100); /* hot and one cold: the cold one always goes */
	/* several shards: the hot entry's shard sees a share of the puts */
	hot_survives(64, 4, 5000);
}

static void test_capacity(void **state)
{
	(void)state;
	lru *c = lru_create(100, 16);
	char key[32];
	lru_stats st;

	for (int i = 0; i < 10000; i++) {
		int n = snprintf(key, sizeof key, "key-%d", i);
		assert_int_equal(lru_put(c, key, (size_t)n, key, (size_t)n, 0, 0), 0);
		lru_get_stats(c, &st);
		assert_true(st.entries <= 100);
	}
	lru_get_stats(c, &st);
	assert_int_equal(st.entries + st.evictions, 10000);
	/* the last key put is always present */
	char buf[32];
	size_t len;
	assert_int_equal(get_str(c, "key-9999", buf, sizeof buf, &len, 0), LRU_HIT);
	lru_destroy(c);
}

static void test_ttl(void **state)
{
	(void)state;
	lru *c = lru_create(10, 2);
	char buf[8];
	size_t len;
	lru_stats st;

	put_str(c, "t", "v", 1000, 500); /* live until 1500 */
	put_str(c, "forever", "v", 1000, 0);
	put_str(c, "neg", "v", 1000, -5); /* <= 0: no expiry */
	assert_int_equal(get_str(c, "t", buf, sizeof buf, &len, 1000), LRU_HIT);
	assert_int_equal(get_str(c, "t", buf, sizeof buf, &len, 1499), LRU_HIT);
	assert_int_equal(get_str(c, "t", buf, sizeof buf, &len, 1500), LRU_MISS);
	/* removed: a later get (even "in the past") misses without expiring twice */
	assert_int_equal(get_str(c, "t", buf, sizeof buf, &len, 1000), LRU_MISS);
	assert_int_equal(get_str(c, "forever", buf, sizeof buf, &len, INT64_MAX - 1), LRU_HIT);
	assert_int_equal(get_str(c, "neg", buf, sizeof buf, &len, 1000000), LRU_HIT);
	/* a huge ttl does not overflow into the past */
	put_str(c, "big", "v", 1000, INT64_MAX);
	assert_int_equal(get_str(c, "big", buf, sizeof buf, &len, 2000), LRU_HIT);
	/* a replace refreshes the deadline */
	put_str(c, "r", "v", 0, 100);
	put_str(c, "r", "w", 90, 100);
	assert_int_equal(get_str(c, "r", buf, sizeof buf, &len, 150), LRU_HIT);
	assert_int_equal(buf[0], 'w');

	lru_get_stats(c, &st);
	assert_int_equal(st.expirations, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.entries, 4);
	lru_destroy(c);
}

static void test_negative(void **state)
{
	(void)state;
	lru *c = lru_create(10, 1);
	char buf[8] = "xxxxxxx";
	size_t len = 77;
	lru_stats st;

	assert_int_equal(lru_put_negative(c, "nope", 4, 0, 1000), 0);
	assert_int_equal(get_str(c, "nope", buf, sizeof buf, &len, 10), LRU_NEGATIVE);
	assert_int_equal(len, 77); /* untouched */
	assert_int_equal(buf[0], 'x');
	assert_int_equal(get_str(c, "nope", buf, sizeof buf, &len, 1000), LRU_MISS);
	/* negative replaced by positive and back */
	assert_int_equal(lru_put_negative(c, "k", 1, 0, 0), 0);
	put_str(c, "k", "val", 0, 0);
	assert_int_equal(get_str(c, "k", buf, sizeof buf, &len, 0), LRU_HIT);
	assert_int_equal(len, 3);
	assert_int_equal(lru_put_negative(c, "k", 1, 0, 0), 0);
	assert_int_equal(get_str(c, "k", buf, sizeof buf, &len, 0), LRU_NEGATIVE);
	lru_del(c, "k", 1);
	assert_int_equal(get_str(c, "k", buf, sizeof buf, &len, 0), LRU_MISS);

	lru_get_stats(c, &st);
	assert_int_equal(st.negative_hits, 2);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.expirations, 1);
	assert_int_equal(st.entries, 0);
	lru_destroy(c);
}

static void test_replace_delete_clear(void **state)
{
	(void)state;
	lru *c = lru_create(1024, 4); /* room for every key in any shard */
	char buf[64];
	size_t len;
	lru_stats st;

	put_str(c, "k", "short", 0, 0);
	put_str(c, "k", "a much longer value than before", 0, 0);
	assert_int_equal(get_str(c, "k", buf, sizeof buf, &len, 0), LRU_HIT);
	assert_int_equal(len, strlen("a much longer value than before"));
	assert_memory_equal(buf, "a much longer value than before", len);
	lru_get_stats(c, &st);
	assert_int_equal(st.entries, 1);

	lru_del(c, "k", 1);
	lru_del(c, "k", 1); /* absent: no-op */
	lru_del(c, "other", 5);
	assert_int_equal(get_str(c, "k", buf, sizeof buf, &len, 0), LRU_MISS);

	for (int i = 0; i < 50; i++) {
		char key[16];
		int n = snprintf(key, sizeof key, "c%d", i);
		assert_int_equal(lru_put(c, key, (size_t)n, "v", 1, 0, 0), 0);
	}
	assert_int_equal(lru_put_negative(c, "n", 1, 0, 0), 0);
	lru_get_stats(c, &st);
	assert_int_equal(st.entries, 51);
	lru_clear(c);
	lru_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(get_str(c, "c7", buf, sizeof buf, &len, 0), LRU_MISS);
	assert_int_equal(get_str(c, "n", buf, sizeof buf, &len, 0), LRU_MISS);
	/* usable after clear */
	put_str(c, "c7", "again", 0, 0);
	assert_int_equal(get_str(c, "c7", buf, sizeof buf, &len, 0), LRU_HIT);
	lru_clear(c);
	lru_clear(c);
	lru_destroy(c);
}

/* A create forgets only "does not exist"; a clear of the service drops
 * every negative entry and keeps the positive ones (service/links.c). */
static void test_negative_only(void **state)
{
	char buf[16];
	size_t len = 0;
	lru_stats st;
	(void)state;
	lru *c = lru_create(256, 4); /* room to spare in every shard: no eviction */
	assert_non_null(c);
	put_str(c, "pos", "v", 0, 0);
	assert_int_equal(lru_put_negative(c, "neg", 3, 0, 0), 0);
	lru_del_negative(c, "pos", 3);
	assert_int_equal(get_str(c, "pos", buf, sizeof buf, &len, 1), LRU_HIT);
	lru_del_negative(c, "neg", 3);
	assert_int_equal(get_str(c, "neg", buf, sizeof buf, &len, 1), LRU_MISS);
	lru_del_negative(c, "none", 4); /* not there: nothing happens */

	for (int i = 0; i < 40; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%d", i);
		if (i % 2)
			assert_int_equal(lru_put_negative(c, k, strlen(k), 0, 0), 0);
		else
			put_str(c, k, "v", 0, 0);
	}
	lru_clear_negative(c);
	lru_get_stats(c, &st);
	assert_int_equal(st.entries, 21); /* "pos" and the 20 even ones */
	for (int i = 0; i < 40; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%d", i);
		assert_int_equal(get_str(c, k, buf, sizeof buf, &len, 1), i % 2 ? LRU_MISS : LRU_HIT);
	}
	/* the lists stay sound: more puts evict and clear as before */
	for (int i = 0; i < 2000; i++) {
		char k[16];
		snprintf(k, sizeof k, "x%d", i);
		put_str(c, k, "v", 0, 0);
	}
	lru_get_stats(c, &st);
	assert_int_equal(st.entries, 256);
	lru_clear(c);
	lru_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	lru_destroy(c);
}

static void test_truncated(void **state)
{
	(void)state;
	lru *c = lru_create(4, 1);
	char buf[8];
	size_t len = 0;

	memset(buf, '#', sizeof buf);
	put_str(c, "k", "0123456789", 0, 0);
	assert_int_equal(lru_get(c, "k", 1, buf, 4, &len, 0), LRU_HIT);
	assert_int_equal(len, 10);
	assert_true(len > 4);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(buf[4], '#'); /* nothing past outcap */
	/* outcap 0 and a NULL buffer: just the length */
	assert_int_equal(lru_get(c, "k", 1, NULL, 0, &len, 0), LRU_HIT);
	assert_int_equal(len, 10);
	lru_destroy(c);
}

static void test_binary_keys(void **state)
{
	(void)state;
	lru *c = lru_create(16, 2);
	unsigned char k1[] = {0, 1, 2, 0, 4, 5, 6, 7, 8, 9, 0};
	unsigned char k2[] = {0, 1, 2, 0, 4, 5, 6, 7, 8, 9, 1};
	char buf[4];
	size_t len;

	assert_int_equal(lru_put(c, k1, sizeof k1, "one", 3, 0, 0), 0);
	assert_int_equal(lru_put(c, k2, sizeof k2, "two", 3, 0, 0), 0);
	assert_int_equal(lru_get(c, k1, sizeof k1, buf, sizeof buf, &len, 0), LRU_HIT);
	assert_memory_equal(buf, "one", 3);
	assert_int_equal(lru_get(c, k2, sizeof k2, buf, sizeof buf, &len, 0), LRU_HIT);
	assert_memory_equal(buf, "two", 3);
	assert_int_equal(lru_get(c, k1, sizeof k1 - 1, buf, sizeof buf, &len, 0), LRU_MISS);
	lru_destroy(c);
}

static void test_stats(void **state)
{
	(void)state;
	lru *c = lru_create(2, 1);
	char buf[8];
	size_t len;
	lru_stats st;

	put_str(c, "a", "1", 0, 10);
	put_str(c, "b", "2", 0, 0);
	put_str(c, "c", "3", 0, 0);                             /* evicts a */
	assert_int_equal(lru_put_negative(c, "d", 1, 0, 0), 0); /* evicts b */
	assert_int_equal(get_str(c, "a", buf, sizeof buf, &len, 0), LRU_MISS);
	assert_int_equal(get_str(c, "c", buf, sizeof buf, &len, 0), LRU_HIT);
	assert_int_equal(get_str(c, "c", buf, sizeof buf, &len, 0), LRU_HIT);
	assert_int_equal(get_str(c, "d", buf, sizeof buf, &len, 0), LRU_NEGATIVE);
	lru_get_stats(c, &st);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.negative_hits, 1);
	assert_int_equal(st.evictions, 2);
	assert_int_equal(st.expirations, 0);
	assert_int_equal(st.entries, 2);
	lru_destroy(c);
}

/* ---- stress ---------------------------------------------------------- */

#define STRESS_THREADS 8
#define STRESS_OPS 200000
#define STRESS_MAX 257

struct stress_arg {
	lru *c;
	unsigned id;
	uint64_t bad; /* values that did not match their key */
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void *stress_thread(void *p)
{
	struct stress_arg *a = p;
	uint64_t rng = 0x9E3779B97F4A7C15ull * (a->id + 1);
	char key[24], val[64], out[64];

	for (int i = 0; i < STRESS_OPS; i++) {
		uint64_t r = xorshift(&rng);
		unsigned k = (unsigned)(r % 2000);
		int kl = snprintf(key, sizeof key, "k%u", k);
		int64_t now = i / 16;
		size_t len = 0;
		/* the value is derived from the key so any reader can check it */
		int vl = snprintf(val, sizeof val, "value-of-%u-%.*s", k, (int)(k % 20),
		                  "xxxxxxxxxxxxxxxxxxxxxxxxx");

		switch ((r >> 32) % 10) {
		case 0:
		case 1:
		case 2:
			lru_put(a->c, key, (size_t)kl, val, (size_t)vl, now,
			        (int64_t)(r >> 40) % 200);
			break;
		case 3:
			lru_put_negative(a->c, key, (size_t)kl, now, 50);
			break;
		case 4:
			lru_del(a->c, key, (size_t)kl);
			break;
		case 5:
			if ((r >> 48) % 5000 == 0)
				lru_clear(a->c);
			else if ((r >> 48) % 1000 == 1) {
				lru_stats st;
				lru_get_stats(a->c, &st);
				if (st.entries > STRESS_MAX)
					a->bad++;
			}
			break;
		default: {
			/* small buffer some of the time, to exercise truncation */
			size_t cap = (r & 1) ? sizeof out : 8;
			int rc = lru_get(a->c, key, (size_t)kl, out, cap, &len, now);
			if (rc == LRU_HIT) {
				if (len != (size_t)vl ||
				    memcmp(out, val, len < cap ? len : cap) != 0)
					a->bad++;
			}
			break;
		}
		}
	}
	return NULL;
}

static void test_stress(void **state)
{
	(void)state;
	lru *c = lru_create(STRESS_MAX, 8);
	pthread_t th[STRESS_THREADS];
	struct stress_arg args[STRESS_THREADS];
	lru_stats st;

	assert_non_null(c);
	for (unsigned i = 0; i < STRESS_THREADS; i++) {
		args[i] = (struct stress_arg){.c = c, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, stress_thread, &args[i]), 0);
	}
	for (unsigned i = 0; i < STRESS_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].bad, 0);
	}
	lru_get_stats(c, &st);
	assert_true(st.entries <= STRESS_MAX);
	assert_true(st.hits + st.misses + st.negative_hits > 0);
	assert_true(st.evictions > 0);

	/* still coherent after the storm: fill, read back, count */
	lru_clear(c);
	for (unsigned i = 0; i < STRESS_MAX; i++) {
		char key[16];
		int n = snprintf(key, sizeof key, "z%u", i);
		assert_int_equal(lru_put(c, key, (size_t)n, key, (size_t)n, 0, 0), 0);
	}
	lru_get_stats(c, &st);
	assert_true(st.entries <= STRESS_MAX);
	lru_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_args),
	    cmocka_unit_test(test_hit_and_miss),
	    cmocka_unit_test(test_second_chance_order),
	    cmocka_unit_test(test_second_chance_expired),
	    cmocka_unit_test(test_hot_entry_survives),
	    cmocka_unit_test(test_capacity),
	    cmocka_unit_test(test_ttl),
	    cmocka_unit_test(test_negative),
	    cmocka_unit_test(test_replace_delete_clear),
	    cmocka_unit_test(test_negative_only),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_binary_keys),
	    cmocka_unit_test(test_stats),
	    cmocka_unit_test(test_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

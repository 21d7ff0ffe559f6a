/*
 * ratelimit.c — per-address token buckets: anonymous creates, unknown codes
 * (the enumeration brake) and failed logins.
 *
 * Each kind of limit is a fixed table split into shards (each with its own
 * mutex), so the lock a request takes is shared with few others. Each shard
 * is a small open-addressed table keyed by a hash of the address; a new
 * address takes a free slot of its probe window, else one whose bucket is
 * full again, and only when the window holds none of those the entry idle
 * longest (an address we forgot simply starts with a full bucket). Time is
 * the monotonic clock.
 *
 * Taking from an empty bucket also writes the address into a small
 * lock-free "blocked until" table, which ratelimit_blocked() reads with two
 * relaxed atomic loads and no lock: that is what the redirect path checks
 * on every request, so the brake costs a hot redirect a hash and a load,
 * not a mutex every worker would share when traffic comes from one address.
 *
 * A brake never says "not blocked" for an address it blocked (issue 12):
 *   - the hash is keyed (SipHash, libsodium's crypto_shorthash, with a
 *     random key per process), so nobody can compute two addresses that
 *     share a slot or a bucket;
 *   - a slot of the lock-free table holding ANOTHER address (two blocked
 *     addresses did share it, by chance) is not read as "not blocked": the
 *     check then asks the authoritative bucket, under its shard's lock. An
 *     empty slot means no address of that slot was ever blocked.
 *   - an IPv6 address counts by its /64 (one host usually holds a whole
 *     /64, so its addresses are one client), an IPv4-mapped IPv6 address as
 *     its IPv4 address.
 * An overwritten slot can cost a check a lock; it never blocks an address
 * that was not.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shorty/timeutil.h"
#include "http/internal.h"

#define RL_SHARDS 64
#define RL_SLOTS 256 /* per shard */
#define RL_PROBE 8
#define RL_BLOCK_SLOTS 4096

typedef struct rl_entry {
	uint64_t key; /* 0 = empty */
	double tokens;
	int64_t last_ns;
} rl_entry;

typedef struct rl_shard {
	rl_entry e[RL_SLOTS];
} rl_shard;

/* A shard's lock. The locks stand together, away from the entries: a
 * limit's table is calloc'ed (mmap'ed, untouched zero pages), and
 * initializing 64 locks one shard (6 KiB) apart made 64 of its pages
 * resident from the start, 1 MiB for the four limits in an idle shorty.
 * 128 bytes apart, so that no two locks share a cache line (calloc's
 * 16-byte alignment leaves each lock within one line). */
typedef struct rl_lock {
	pthread_mutex_t mu;
	char pad[128 - sizeof(pthread_mutex_t)];
} rl_lock;

/* One slot of the lock-free table. It is written only under the lock of
 * the shard its index falls in (RL_BLOCK_SLOTS is a multiple of RL_SHARDS,
 * so a slot's addresses all share one shard) and read as a seqlock: an odd
 * or changed seq means a write was under way, and the reader asks the
 * bucket instead of pairing one address's key with another's time. */
typedef struct rl_block {
	_Atomic uint32_t seq;
	_Atomic uint64_t key;
	_Atomic int64_t until_ns;
} rl_block;

_Static_assert(RL_BLOCK_SLOTS % RL_SHARDS == 0, "a block slot must map to one shard");

typedef struct ratelimit {
	rl_lock locks[RL_SHARDS]; /* locks[i] guards shards[i] */
	rl_shard shards[RL_SHARDS];
	rl_block blocks[RL_BLOCK_SLOTS];
	double rate_per_ns, burst;
} ratelimit;

static ratelimit *limits[RL__COUNT];
static unsigned char hash_key[crypto_shorthash_KEYBYTES]; /* set by ratelimit_init */
static _Atomic unsigned key_gen; /* bumped by ratelimit_init: 0, no key yet */

/* The hash of the last address this thread asked about. A keep-alive
 * connection asks about the same address on every request (the redirect
 * path checks the enumeration and the detail brakes), and hashing it —
 * inet_pton, then SipHash — was 7% of a cached redirect's instructions;
 * comparing the text is a few. gen: the key the hash was made with. */
static _Thread_local struct {
	unsigned gen;
	uint64_t h;
	char ip[64];
} memo;

/* The client an address stands for, as bytes: IPv4 (also when written as
 * ::ffff:a.b.c.d), the /64 of an IPv6 address, else the string itself. */
static size_t client_bytes(const char *ip, unsigned char out[16])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	unsigned char a6[16];

	if (inet_pton(AF_INET, ip, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, ip, a6) == 1) {
		if (memcmp(a6, mapped, sizeof mapped) == 0) {
			memcpy(out, a6 + 12, 4);
			return 4;
		}
		memcpy(out, a6, 8);
		return 8;
	}
	return 0;
}

static uint64_t hash_ip(const char *s)
{
	unsigned char bin[16], h[crypto_shorthash_BYTES];
	size_t n = client_bytes(s, bin);
	uint64_t x = 0;

	if (n)
		crypto_shorthash(h, bin, n, hash_key);
	else
		crypto_shorthash(h, (const unsigned char *)s, strlen(s), hash_key);
	memcpy(&x, h, sizeof x);
	return x ? x : 1;
}

static ratelimit *rl_create(long per_minute)
{
	ratelimit *rl;

	if (per_minute <= 0)
		return NULL;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	for (int i = 0; i < RL_SHARDS; i++)
		pthread_mutex_init(&rl->locks[i].mu, NULL);
	rl->rate_per_ns = (double)per_minute / 60e9;
	rl->burst = (double)per_minute;
	return rl;
}

static void rl_destroy(ratelimit *rl)
{
	if (!rl)
		return;
	for (int i = 0; i < RL_SHARDS; i++)
		pthread_mutex_destroy(&rl->locks[i].mu);
	free(rl);
}

int ratelimit_init(const long per_minute[RL__COUNT])
{
	ratelimit_free();
	if (sodium_init() < 0)
		return SH_ENOMEM;
	randombytes_buf(hash_key, sizeof hash_key);
	atomic_fetch_add_explicit(&key_gen, 1, memory_order_release); /* memos made before go */
	for (int k = 0; k < RL__COUNT; k++) {
		if (per_minute[k] <= 0)
			continue;
		limits[k] = rl_create(per_minute[k]);
		if (!limits[k]) {
			ratelimit_free();
			return SH_ENOMEM;
		}
	}
	return 0;
}

void ratelimit_free(void)
{
	for (int k = 0; k < RL__COUNT; k++) {
		rl_destroy(limits[k]);
		limits[k] = NULL;
	}
}

/* The tokens of e at now, refilled since its last use, at most a burst. */
static double tokens_at(const ratelimit *rl, const rl_entry *e, int64_t now)
{
	double t = e->tokens + (double)(now - e->last_ns) * rl->rate_per_ns;
	return t > rl->burst ? rl->burst : t;
}

/* Slot i of h's probe window in its shard. */
static rl_entry *probe(rl_shard *sh, uint64_t h, int i)
{
	return &sh->e[(h / RL_SHARDS + (uint64_t)i) % RL_SLOTS];
}

/* The entry of h in its shard (locked by the caller), or NULL. On the hot
 * path (every redirect takes a detail token): a compare per slot. */
static rl_entry *shard_find(rl_shard *sh, uint64_t h)
{
	for (int i = 0; i < RL_PROBE; i++) {
		rl_entry *c = probe(sh, h, i);
		if (c->key == h)
			return c;
	}
	return NULL;
}

/* Where a new entry for h goes (h is not in the window; shard locked): an
 * empty slot of the probe window, else one whose bucket is full again
 * (forgetting it loses nothing: a new entry starts full), else the one
 * idle longest. The whole window is looked at: taking the first occupied
 * slot while a later one was empty threw away blocked addresses for
 * nothing. */
static rl_entry *shard_slot_for(const ratelimit *rl, rl_shard *sh, uint64_t h, int64_t now)
{
	rl_entry *empty = NULL, *full = NULL, *oldest = NULL;

	for (int i = 0; i < RL_PROBE; i++) {
		rl_entry *c = probe(sh, h, i);
		if (c->key == 0) {
			if (!empty)
				empty = c;
		} else {
			if (!full && tokens_at(rl, c, now) >= rl->burst)
				full = c;
			if (!oldest || c->last_ns < oldest->last_ns)
				oldest = c;
		}
	}
	return empty ? empty : full ? full : oldest;
}

static uint64_t hash_ip_memo(const char *s)
{
	unsigned gen = atomic_load_explicit(&key_gen, memory_order_acquire);
	size_t n;

	if (gen && memo.gen == gen && strcmp(memo.ip, s) == 0)
		return memo.h;
	memo.h = hash_ip(s);
	n = strlen(s);
	memo.gen = n < sizeof memo.ip ? gen : 0; /* a longer text is not kept */
	if (memo.gen)
		memcpy(memo.ip, s, n + 1);
	return memo.h;
}

int ratelimit_take(int kind, const char *ip)
{
	ratelimit *rl = kind >= 0 && kind < RL__COUNT ? limits[kind] : NULL;
	uint64_t h;
	rl_shard *sh;
	rl_entry *e;
	int64_t now = sh_mono_ns();
	int wait = 0;

	if (!rl)
		return 0;
	h = hash_ip_memo(ip);
	sh = &rl->shards[h % RL_SHARDS];
	pthread_mutex_lock(&rl->locks[h % RL_SHARDS].mu);
	e = shard_find(sh, h);
	if (!e) {
		e = shard_slot_for(rl, sh, h, now);
		e->key = h;
		e->tokens = rl->burst;
		e->last_ns = now;
	}
	e->tokens = tokens_at(rl, e, now);
	e->last_ns = now;
	if (e->tokens >= 1.0) {
		e->tokens -= 1.0;
	} else {
		double need_ns = (1.0 - e->tokens) / rl->rate_per_ns;
		rl_block *b = &rl->blocks[h % RL_BLOCK_SLOTS];
		uint32_t seq = atomic_load_explicit(&b->seq, memory_order_relaxed);
		wait = (int)(need_ns / 1e9) + 1;
		atomic_store_explicit(&b->seq, seq + 1, memory_order_relaxed);
		atomic_thread_fence(memory_order_release);
		atomic_store_explicit(&b->key, h, memory_order_relaxed);
		atomic_store_explicit(&b->until_ns, now + (int64_t)need_ns, memory_order_relaxed);
		atomic_store_explicit(&b->seq, seq + 2, memory_order_release);
	}
	pthread_mutex_unlock(&rl->locks[h % RL_SHARDS].mu);
	return wait;
}

/* The authoritative answer for h: its bucket, under the shard's lock. */
static int blocked_locked(ratelimit *rl, uint64_t h, int64_t now)
{
	rl_shard *sh = &rl->shards[h % RL_SHARDS];
	const rl_entry *e;
	int wait = 0;

	pthread_mutex_lock(&rl->locks[h % RL_SHARDS].mu);
	e = shard_find(sh, h);
	if (e) {
		double t = tokens_at(rl, e, now);
		if (t < 1.0)
			wait = (int)((1.0 - t) / rl->rate_per_ns / 1e9) + 1;
	}
	pthread_mutex_unlock(&rl->locks[h % RL_SHARDS].mu);
	return wait;
}

int ratelimit_blocked(int kind, const char *ip)
{
	ratelimit *rl = kind >= 0 && kind < RL__COUNT ? limits[kind] : NULL;
	const rl_block *b;
	uint64_t h, held;
	uint32_t seq;
	int64_t until, now;

	if (!rl)
		return 0;
	h = hash_ip_memo(ip);
	b = &rl->blocks[h % RL_BLOCK_SLOTS];
	seq = atomic_load_explicit(&b->seq, memory_order_acquire);
	held = atomic_load_explicit(&b->key, memory_order_relaxed);
	until = atomic_load_explicit(&b->until_ns, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (seq == 0)
		return 0; /* nobody of this slot was ever blocked */
	now = sh_mono_ns();
	if ((seq & 1) || atomic_load_explicit(&b->seq, memory_order_relaxed) != seq || held != h)
		return blocked_locked(rl, h, now);
	if (now >= until)
		return 0;
	return (int)((until - now) / 1000000000LL) + 1;
}

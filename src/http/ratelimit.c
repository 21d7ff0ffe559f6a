/*
 * ratelimit.c — per-address token buckets: anonymous creates, unknown codes
 * (the enumeration brake) and failed logins.
 *
 * Each kind of limit is a fixed table split into shards (each with its own
 * mutex), so the lock a request takes is shared with few others. Each shard
 * is a small open-addressed table keyed by a hash of the address; when a
 * shard is full, the entry idle longest is reused (an address we forgot
 * simply starts with a full bucket). Time is the monotonic clock.
 *
 * Taking from an empty bucket also writes the address into a small
 * lock-free "blocked until" table, which ratelimit_blocked() reads with two
 * relaxed atomic loads and no lock: that is what the redirect path checks
 * on every request, so the brake costs a hot redirect a hash and a load,
 * not a mutex every worker would share when traffic comes from one address.
 * A torn or overwritten slot can only let a blocked address through early;
 * it never blocks an address that was not.
 */
#include <pthread.h>
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
	pthread_mutex_t mu;
	rl_entry e[RL_SLOTS];
} rl_shard;

typedef struct rl_block {
	_Atomic uint64_t key;
	_Atomic int64_t until_ns;
} rl_block;

typedef struct ratelimit {
	rl_shard shards[RL_SHARDS];
	rl_block blocks[RL_BLOCK_SLOTS];
	double rate_per_ns, burst;
} ratelimit;

static ratelimit *limits[RL__COUNT];

static uint64_t hash_ip(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
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
		pthread_mutex_init(&rl->shards[i].mu, NULL);
	rl->rate_per_ns = (double)per_minute / 60e9;
	rl->burst = (double)per_minute;
	return rl;
}

static void rl_destroy(ratelimit *rl)
{
	if (!rl)
		return;
	for (int i = 0; i < RL_SHARDS; i++)
		pthread_mutex_destroy(&rl->shards[i].mu);
	free(rl);
}

int ratelimit_init(const long per_minute[RL__COUNT])
{
	ratelimit_free();
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

int ratelimit_take(int kind, const char *ip)
{
	ratelimit *rl = kind >= 0 && kind < RL__COUNT ? limits[kind] : NULL;
	uint64_t h;
	rl_shard *sh;
	rl_entry *e = NULL, *oldest = NULL;
	int64_t now = sh_mono_ns();
	int wait = 0;

	if (!rl)
		return 0;
	h = hash_ip(ip);
	sh = &rl->shards[h % RL_SHARDS];
	pthread_mutex_lock(&sh->mu);
	for (int i = 0; i < RL_PROBE; i++) {
		rl_entry *c = &sh->e[(h / RL_SHARDS + (uint64_t)i) % RL_SLOTS];
		if (c->key == h) {
			e = c;
			break;
		}
		if (c->key == 0 && !oldest)
			oldest = c;
		else if (c->key != 0 &&
		         (!oldest || (oldest->key != 0 && c->last_ns < oldest->last_ns)))
			oldest = c;
	}
	if (!e) {
		e = oldest;
		e->key = h;
		e->tokens = rl->burst;
		e->last_ns = now;
	}
	e->tokens += (double)(now - e->last_ns) * rl->rate_per_ns;
	if (e->tokens > rl->burst)
		e->tokens = rl->burst;
	e->last_ns = now;
	if (e->tokens >= 1.0) {
		e->tokens -= 1.0;
	} else {
		double need_ns = (1.0 - e->tokens) / rl->rate_per_ns;
		rl_block *b = &rl->blocks[h % RL_BLOCK_SLOTS];
		wait = (int)(need_ns / 1e9) + 1;
		atomic_store_explicit(&b->until_ns, now + (int64_t)need_ns, memory_order_relaxed);
		atomic_store_explicit(&b->key, h, memory_order_release);
	}
	pthread_mutex_unlock(&sh->mu);
	return wait;
}

int ratelimit_blocked(int kind, const char *ip)
{
	const ratelimit *rl = kind >= 0 && kind < RL__COUNT ? limits[kind] : NULL;
	const rl_block *b;
	uint64_t h;
	int64_t until, now;

	if (!rl)
		return 0;
	h = hash_ip(ip);
	b = &rl->blocks[h % RL_BLOCK_SLOTS];
	if (atomic_load_explicit(&b->key, memory_order_acquire) != h)
		return 0;
	until = atomic_load_explicit(&b->until_ns, memory_order_relaxed);
	now = sh_mono_ns();
	if (now >= until)
		return 0;
	return (int)((until - now) / 1000000000LL) + 1;
}

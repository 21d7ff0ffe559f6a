/*
 * ratelimit.c — the per-address token bucket of anonymous creates.
 *
 * A fixed table split into shards (each with its own mutex), so the lock a
 * request takes is shared with few others. Each shard is a small
 * open-addressed table keyed by a hash of the address; when a shard is
 * full, the entry idle longest is reused (an address we forgot simply
 * starts with a full bucket). Time is the monotonic clock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "shorty/timeutil.h"
#include "http/internal.h"

#define RL_SHARDS 64
#define RL_SLOTS 256 /* per shard */
#define RL_PROBE 8

typedef struct rl_entry {
	uint64_t key; /* 0 = empty */
	double tokens;
	int64_t last_ns;
} rl_entry;

typedef struct rl_shard {
	pthread_mutex_t mu;
	rl_entry e[RL_SLOTS];
} rl_shard;

static rl_shard *shards;
static double rate_per_ns, burst;

static uint64_t hash_ip(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

int ratelimit_init(long per_minute)
{
	if (per_minute <= 0) {
		shards = NULL;
		return 0;
	}
	shards = calloc(RL_SHARDS, sizeof(*shards));
	if (!shards)
		return SH_ENOMEM;
	for (int i = 0; i < RL_SHARDS; i++)
		pthread_mutex_init(&shards[i].mu, NULL);
	rate_per_ns = (double)per_minute / 60e9;
	burst = (double)per_minute;
	return 0;
}

void ratelimit_free(void)
{
	if (!shards)
		return;
	for (int i = 0; i < RL_SHARDS; i++)
		pthread_mutex_destroy(&shards[i].mu);
	free(shards);
	shards = NULL;
}

int ratelimit_take(const char *ip)
{
	uint64_t h;
	rl_shard *sh;
	rl_entry *e = NULL, *oldest = NULL;
	int64_t now = sh_mono_ns();
	int wait = 0;

	if (!shards)
		return 0;
	h = hash_ip(ip);
	sh = &shards[h % RL_SHARDS];
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
		e->tokens = burst;
		e->last_ns = now;
	}
	e->tokens += (double)(now - e->last_ns) * rate_per_ns;
	if (e->tokens > burst)
		e->tokens = burst;
	e->last_ns = now;
	if (e->tokens >= 1.0) {
		e->tokens -= 1.0;
	} else {
		double need_ns = (1.0 - e->tokens) / rate_per_ns;
		wait = (int)(need_ns / 1e9) + 1;
	}
	pthread_mutex_unlock(&sh->mu);
	return wait;
}

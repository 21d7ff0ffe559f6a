/*
 * keycache.c — the API-key check of each REST request, cached per instance
 * (svc_key_check). On PostgreSQL the check was a round trip on the
 * worker's connection for every request; keys change rarely, so an
 * instance keeps what it read (hash -> the key: id, role, revoked) for a
 * short TTL. A revoke forgets every entry: on the revoking instance at its
 * commit (the writer's forget of SVC_FEED_KEYS), on the others through the
 * group's NOTIFY (feed.c hands it to svc_cache_forget), or a "*" / a clear.
 * While the feed is not listening (cache_bypass) the store is asked every
 * time, as for redirects. Unknown keys are not cached (nothing to forget
 * when one is created; a guesser costs a store read, as before).
 * Only a store with a feed caches (svc__keys_enable, at the feed's start):
 * on SQLite a revoke by another process (`shorty key revoke`) is told to
 * nobody, and its check costs microseconds.
 */
#include <stdlib.h>
#include <string.h>

#include "service/handle.h"

#define KEYS_CACHED 64   /* direct-mapped by the hash's first byte: keys are few */
#define KEY_TTL_MS 5000  /* the backstop if a forget is ever missed */

struct svc_keycache {
	pthread_mutex_t mu;
	uint64_t gen; /* bumped by every forget: a read that overlapped one is not kept */
	struct {
		bool used;
		int64_t until_ms;
		sh_api_key k;
	} e[KEYS_CACHED];
};

void svc__keys_enable(svc *v)
{
	svc_keycache *c;

	if (__atomic_load_n(&v->keys, __ATOMIC_ACQUIRE) || !(c = calloc(1, sizeof(*c))))
		return; /* out of memory: keys are checked uncached */
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return;
	}
	__atomic_store_n(&v->keys, c, __ATOMIC_RELEASE);
}

void svc__keycache_free(svc_keycache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->mu);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

void svc__keys_forget(svc *v)
{
	svc_keycache *c = __atomic_load_n(&v->keys, __ATOMIC_ACQUIRE);

	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->gen++;
	for (int i = 0; i < KEYS_CACHED; i++)
		c->e[i].used = false;
	pthread_mutex_unlock(&c->mu);
}

/* The cached key of hash h: true with *k filled. */
static bool cached(svc_keycache *c, const uint8_t *h, sh_api_key *k)
{
	int i = h[0] % KEYS_CACHED;
	bool hit;

	pthread_mutex_lock(&c->mu);
	hit = c->e[i].used && c->e[i].until_ms > svc__mono_ms() &&
	      sodium_memcmp(c->e[i].k.hash, h, SH_KEY_HASH_BYTES) == 0;
	if (hit)
		*k = c->e[i].k;
	pthread_mutex_unlock(&c->mu);
	return hit;
}

static void keep(svc_keycache *c, uint64_t gen, const sh_api_key *k)
{
	int i = k->hash[0] % KEYS_CACHED;

	pthread_mutex_lock(&c->mu);
	if (c->gen == gen) {
		c->e[i].used = true;
		c->e[i].until_ms = svc__mono_ms() + KEY_TTL_MS;
		c->e[i].k = *k;
	}
	pthread_mutex_unlock(&c->mu);
}

int svc_key_check(svc *v, store *s, const char *key, size_t len, sh_api_key *out)
{
	uint8_t h[SH_KEY_HASH_BYTES];
	svc_keycache *c = __atomic_load_n(&v->keys, __ATOMIC_ACQUIRE);
	sh_api_key k;
	uint64_t gen = 0;
	int rc;

	if (!svc__key_hash(h, key, len))
		return SH_EAUTH;
	if (!c || __atomic_load_n(&v->cache_bypass, __ATOMIC_RELAXED))
		return svc__key_verify_hash(s, h, out, NULL);
	if (!cached(c, h, &k)) {
		pthread_mutex_lock(&c->mu);
		gen = c->gen;
		pthread_mutex_unlock(&c->mu);
		rc = svc__key_verify_hash(s, h, NULL, &k);
		if (rc == SH_EAUTH || rc == 0) { /* known: kept, revoked or not */
			if (k.id)
				keep(c, gen, &k);
		}
		if (rc)
			return rc;
	}
	if (k.revoked_at != 0)
		return SH_EAUTH;
	if (out)
		*out = k;
	return 0;
}

/*
 * service/handle.h — the fields of the service handle (struct svc) and the
 * helpers the files of links share: svc.c (open, close, the cache's
 * generations), create.c, lookup.c, edit.c, lists.c and linkcheck.c. Not
 * part of the public interface (svc__ marks it internal); keys.c, visits.c
 * and the others reach the handle through internal.h's accessors.
 */
#ifndef SHORTY_SERVICE_HANDLE_H
#define SHORTY_SERVICE_HANDLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <sodium.h>

#include "shorty/codec.h"
#include "shorty/geoip.h"
#include "shorty/lru.h"
#include "shorty/service.h"
#include "shorty/store.h"
#include "shorty/timeutil.h"
#include "shorty/url.h"
#include "service/internal.h"

#define FORGET_SLOTS 64        /* forget_gen: codes hash to one of these */

struct svc {
	const sh_config *cfg;
	codec_key codec;
	uint8_t url_key[crypto_shorthash_KEYBYTES];
	url_policy policy;  /* read through svc_url_policy: its self_host comes late */
	url_policy policy_unread; /* policy before self_host was read (svc_url_policy) */
	char *schemes;      /* storage the policy's scheme pointers point into */
	char *self_host;    /* the policy's self_host: read at the first URL (svc_url_policy) */
	pthread_mutex_t self_mu;
	int self_done;      /* atomic: libcurl was loaded and self_host read (or found unreadable) */
	char **own_names;   /* the policy's self_names (ownnames.c), owned */
	char **blocked;     /* NULL-terminated, owned */
	size_t nblocked;
	lru *cache;
	char *base;         /* base URL without a trailing slash */
	size_t max_url;
	uint64_t links_created; /* atomic: links the writer committed (metrics) */
	uint64_t visits_pruned; /* atomic: visits whose details were dropped (metrics) */
	robots_cache *robots;     /* the cached /robots.txt */
	uint64_t links_gen;       /* atomic: commits of the writer (svc__links_changed) */
	/* atomic: set while the cache cannot be trusted (the feed of other
	 * instances' changes is not listening): redirects read the store
	 * first, and the cache only when the store fails too (store_down) */
	int cache_bypass;
	int store_down;
	/* atomic: bumped by a clear. An entry cached before (its crec.epoch
	 * older) may miss a change, so it answers only when the store cannot:
	 * a clear (the feed back after a gap, "*") must not take the cached
	 * redirects away from the next outage */
	uint32_t cache_epoch;
	/* atomic: bumped by every forget of a code hashing to the slot, and
	 * all of them by a clear (load_record: a forget during a read) */
	uint64_t forget_gen[FORGET_SLOTS];
	/* the same for a created code's forget, which only a "no such code"
	 * read must heed: a link read meanwhile is cached (the redirect that
	 * read it just after the create must not lose its entry) */
	uint64_t created_gen[FORGET_SLOTS];
	/* every tag's count, for the admin's unsearched tag list: counting
	 * walks every tag name, so it is cached like robots.txt */
	pthread_mutex_t tags_mu;
	bool tags_mu_ok, tags_valid;
	int64_t tags_total, tags_at_ns;
	uint64_t tags_gen;
	rules_cache *rules;       /* compiled redirect rules by link (linkrules.c) */
	visit_limits *limits;     /* visits let through per limited link (limits.c) */
	geoip *geo;               /* NULL: no GeoIP database configured */
	domain_cache *domains;    /* the store's domains (domains.c) */
	svc_keycache *keys;       /* the API keys checked (keycache.c); NULL: not cached */
	char authority[SH_AUTHORITY_MAX + 1]; /* the default domain: base URL's host[:port] */
};

/* Milliseconds of the monotonic clock (the cache's clock; inline: on every
 * redirect). */
static inline int64_t svc__mono_ms(void)
{
	return sh_mono_ns() / 1000000;
}
/* The keyed hash of a URL that finds its duplicates (the same on every
 * instance sharing the store). */
uint64_t svc__url_hash(const svc *v, const char *url);
/* COUNTER links carry no stored code: derives l's from its id. */
void svc__fill_code(const svc *v, sh_link *l);
/* The generation counter of the forget slot that code hashes to. */
uint32_t svc__forget_slot(const char *code, size_t n);

/* The link of code on domain dom, limited to owner_key_id's links when
 * != 0 (lookup.c). */
int svc__get_owned(svc *v, store *s, int64_t dom, const char *code, int64_t owner_key_id,
                   sh_link *out);
/* "no link has the code ..." into err; returns SH_ENOTFOUND. */
int svc__not_found(const char *code, sh_err *err);

/* The checks of a link's fields that create and update share (linkcheck.c):
 * 0, or SH_EINVAL with err naming the field. */
bool svc__status_valid(int st);
int svc__check_title(const char *title, sh_err *err);
/* Validates tags and copies them, duplicates removed, into out. */
int svc__check_tags(const char *const *tags, int ntags, char out[SH_MAX_TAGS][SH_TAG_MAX + 1],
                    int *nout, sh_err *err);
int svc__check_status(int st, sh_err *err);
int svc__check_times(int64_t valid_since, int64_t expires_at, sh_err *err);
int svc__check_max_visits(int64_t n, sh_err *err);

#endif

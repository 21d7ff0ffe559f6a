/*
 * service/internal.h — helpers shared by the files of the service; not
 * part of the public interface (the svc__ prefix marks them internal).
 */
#ifndef SHORTY_SERVICE_INTERNAL_H
#define SHORTY_SERVICE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include "shorty/err.h"
#include "shorty/service.h"
#include "shorty/store.h"

/* Opens this operation's transaction when the caller has none (a call
 * outside the writer: tests, svc_open); inside the caller's (the writer's
 * group commit) it does nothing: no savepoint per operation. *nested says
 * which. */
int svc__tx_begin(store *s, bool *nested);

/* Ends what svc__tx_begin opened: commits when rc == 0, else rolls back;
 * nested, returns rc and leaves the transaction to the caller (the writer
 * rolls its group back when a unit failed). Returns rc, or the commit's
 * error when rc was 0. */
int svc__tx_end(store *s, bool nested, int rc);

/* Counts visits whose details were dropped (svc_visits_pruned). */
void svc__count_pruned(svc *v, int64_t n);

/* Counts a link the writer committed (svc_links_created). */
void svc__count_created(svc *v);

/* The generated code of a COUNTER link's id (the keyed permutation). */
int svc__counter_code(const svc *v, int64_t id, char *out, size_t n);

/* The redirect cache: cleared (svc__cache_clear: the negative entries go,
 * the positive ones answer only when the store cannot); bypassed while the
 * feed of other instances' changes is not listening (svc__cache_bypass:
 * the store first, the cache only when the store fails too; cleared when
 * the bypass ends). svc__cache_forget_negative: a created code. */
void svc__cache_clear(svc *v);
void svc__cache_bypass(svc *v, bool on);
void svc__cache_forget_negative(svc *v, const char *code);

/* The feed of other instances' changes (feed.c): a thread that forgets the
 * cache entries they name, started with the server's writer on a store
 * that has a feed (PostgreSQL). */
typedef struct svc_feed svc_feed;
int svc__feed_start(svc_feed **out, svc *v, const char *url, const char *self, sh_err *err);
void svc__feed_stop(svc_feed *f);
/* The message the writer sends at a group's commit: "TAG CODES", TAG the
 * sending writer's own (self above: random, per process), CODES the codes
 * whose cache entries are now wrong, comma-separated, or "*" (all) when
 * they do not fit. A code created by the group starts with "+": only a
 * negative entry of it is wrong (a code never holds a '+'). */
#define SVC_FEED_ALL "*"
#define SVC_FEED_CREATED '+'
/* in a group's message: API keys changed (keycache.c); never a code */
#define SVC_FEED_KEYS "~keys"
#define SVC_FEED_TAG_MAX 16

/* Bumped by the writer after every commit: what was read from the store
 * before may be out of date (the cached robots.txt and tag count). */
void svc__links_changed(svc *v);
uint64_t svc__links_gen(svc *v);

/* The cached /robots.txt (robots.c): made by svc_open, freed by svc_close. */
typedef struct robots_cache robots_cache;
robots_cache *svc__robots_new(void);
void svc__robots_free(robots_cache *r);
robots_cache *svc__robots(svc *v);

/* Compiled redirect rules of the links the redirect path met (linkrules.c):
 * made by svc_open, freed by svc_close. */
typedef struct rules_cache rules_cache;
rules_cache *svc__rules_cache_new(void);
void svc__rules_cache_free(rules_cache *c);
rules_cache *svc__rules(svc *v);
/* The hash of a link's stored rules text that names its compiled form in
 * the cache; 0 for NULL (no rules), never 0 otherwise. */
uint64_t svc__rules_hash(const char *text);

/* The visits let through per link with a visit limit (limits.c): made by
 * svc_open, freed by svc_close. */
typedef struct visit_limits visit_limits;
visit_limits *svc__limits_new(void);
void svc__limits_free(visit_limits *l);
visit_limits *svc__limits(svc *v);
/* Forgets what was counted for link_id (its visits were deleted). */
void svc__limits_forget(svc *v, int64_t link_id);

/* The domains' cache (domains.c): made by svc_open, freed by svc_close. */
typedef struct domain_cache domain_cache;
domain_cache *svc__domains_new(void);
void svc__domains_free(domain_cache *c);
domain_cache *svc__domains(svc *v);
/* After a commit that made a domain or changed its redirects. */
void svc__domains_changed(svc *v);
/* Reads the domains again with s (the writer's connection): now, or when
 * the cache is older than its TTL or a change was committed since. */
void svc__domains_refresh(svc *v, store *s, bool now);
/* The base URL, without a trailing slash. */
const char *svc__base(const svc *v);

/* The GeoIP database, NULL when none is configured. */
struct geoip;
const struct geoip *svc__geoip(const svc *v);

/* Fills err for a failed store call ("the store failed: ...") and returns
 * rc unchanged. Answers (SH_ENOTFOUND, SH_ETAKEN) are not rewritten. */
int svc__store_err(store *s, int rc, sh_err *err);

/* The service's own names besides its base URL's host (ownnames.c): the
 * listen host, or every interface address when it listens on a wildcard,
 * and the host name; NULL-terminated, for url_policy.self_names. NULL when
 * out of memory. */
char **svc__own_names(const char *listen);
void svc__own_names_free(char **names);

/* Page titles (titles.c), run by the writer when cfg->resolve_titles. */
typedef struct svc__titles svc__titles;
/* Starts the titles thread; w takes the titles' units. */
int svc__titles_start(svc__titles **out, svc *v, svc_writer *w, sh_err *err);
/* After a commit: fetch the title of l (created without one), later. */
void svc__titles_want(svc__titles *t, const sh_link *l);
/* Ends the thread (a fetch in progress aborts); svc__titles_want is a no-op
 * from then on. Then free: what is still queued is dropped. */
void svc__titles_stop(svc__titles *t);
void svc__titles_free(svc__titles *t);

/* keys.c, for keycache.c: the hash of a presented key (false: not a key
 * at all), and its check by hash (found: the stored key, revoked or not,
 * when one has that hash). */
bool svc__key_hash(uint8_t h[SH_KEY_HASH_BYTES], const char *key, size_t len);
int svc__key_verify_hash(store *s, const uint8_t h[SH_KEY_HASH_BYTES], sh_api_key *out,
                         sh_api_key *found);
/* keycache.c */
typedef struct svc_keycache svc_keycache;
void svc__keys_enable(svc *v); /* a store with a feed: keys cached from now */
void svc__keycache_free(svc_keycache *c);
void svc__keys_forget(svc *v);

#endif

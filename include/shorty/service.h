/*
 * service.h — the rules of the product (service/: svc.c, create.c, lookup.c,
 * edit.c, lists.c, keys.c, visits.c, ...).
 *
 * No SQL and no HTTP here: the service validates, dedupes, picks codes,
 * applies expiry / visit-limit / disabled rules, and talks to the store
 * through store.h and to the cache through lru.h. Both fronts (CLI and HTTP)
 * call only this.
 *
 * Threads: one `svc` is shared by all threads (its key, policy and cache are
 * read-only or internally locked). Every call takes the `store` connection of
 * the calling thread. Write calls run inside the caller's transaction when
 * one is open (the writer's group commit, below: no savepoint per call),
 * else in their own. Every front end writes through the writer's units of
 * work (svc_writer_submit / svc_writer_run), not by calling them directly.
 */
#ifndef SHORTY_SERVICE_H
#define SHORTY_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "shorty/config.h"
#include "shorty/err.h"
#include "shorty/lru.h"
#include "shorty/rules.h"
#include "shorty/store.h"
#include "shorty/url.h"

typedef struct svc svc;

/* Opens the service over an open, migrated store: loads (or on first start
 * creates and saves) the installation secret from meta, builds the URL
 * policy from cfg (schemes, max length, blocklist file, our own base URL),
 * and creates the cache (cfg->cache_entries; 0 = no cache). cfg must outlive
 * the svc. */
int svc_open(svc **out, const sh_config *cfg, store *s, sh_err *err);
void svc_close(svc *v);

const sh_config *svc_config(const svc *v);
const url_policy *svc_url_policy(const svc *v);
lru *svc_cache(svc *v);              /* NULL when disabled */

/* ---- the caller ---------------------------------------------------------
 * Who asks: the API key behind a request (its id and role), or nobody
 * (anonymous: the public page's creates). Every read and write of links,
 * visits and tags takes one; NULL stands for the operator (the CLI), who
 * sees and changes everything. */
typedef struct svc_caller {
	int64_t key_id; /* 0: no key */
	int role;       /* enum key_role */
	bool anonymous;
} svc_caller;

/* The role rule, in one place: the owner a caller's link reads and writes
 * are limited to (an author key sees and changes only the links it
 * created), or 0 for every link. */
int64_t svc_caller_owner(const svc_caller *who);
/* Whether the caller may create, change or delete (not a read-only key). */
bool svc_caller_can_write(const svc_caller *who);
/* Whether the caller may do what only admins do (tags, orphan visits). */
bool svc_caller_is_admin(const svc_caller *who);
/* The caller behind a verified API key. */
svc_caller svc_caller_of_key(const sh_api_key *k);

/* Writes "<base-url>/<code>" into buf (bufsz >= strlen(base)+CODE_MAX+2). */
const char *svc_short_url(const svc *v, const char *code, char *buf, size_t bufsz);

/* ---- create ---------------------------------------------------------- */

typedef struct svc_create_req {
	const char *url;            /* required; raw, validated here */
	size_t url_len;             /* 0 = strlen(url) */
	const char *custom_code;    /* NULL = generate */
	int code_length;            /* 0 = configured; else a random code of this
	                               length (>= 4, <= CODE_MAX) */
	bool find_if_exists;        /* shorty's own dedupe: the newest link of the
	                               same URL and owner with a generated code
	                               and no limits (default true: the CLI's
	                               `add`, YOURLS, the public page) */
	bool find_matching;         /* Shlink's findIfExists (the REST API when
	                               asked): the oldest link of the same URL,
	                               and of the custom code, tags, validSince,
	                               validUntil, maxVisits when given
	                               (sh_link_match); wins over find_if_exists */
	int64_t find_owner;         /* with find_matching: 0 = any owner's link
	                               may match, else only this owner's (the
	                               writer sets it from the caller's role) */
	int64_t valid_since;        /* 0 = none */
	int64_t expires_at;         /* 0 = none */
	int64_t max_visits;         /* 0 = none; else >= 1 */
	int redirect_status;        /* 0 = configured default */
	const char *title;          /* NULL = none */
	const char *const *tags;    /* ntags raw tags, validated here */
	int ntags;
	int crawlable;              /* -1 = default (false) */
	int forward_query;          /* -1 = default (true) */
	int64_t owner_key_id;       /* 0 = none */
	int64_t now;                /* 0 = sh_now() */
	int64_t visits;             /* an import's visits counted elsewhere
	                               before (>= 0; 0 = none) */
	const char *domain;         /* NULL or the default authority: the
	                               default domain; else host[:port], whose
	                               row is made on its first link */
	char *url_normal;           /* url as url_normalize made it, kept by a
	                               passing svc_create_check (owned; freed by
	                               svc_create_req_clear): svc_shorten then
	                               does not normalize it again on the
	                               writer. Whoever changes url clears it. */
} svc_create_req;

/* Initializes req with the defaults above (find_if_exists = true,
 * find_matching = false). */
void svc_create_req_init(svc_create_req *req);
/* Frees what req owns (url_normal); svc_unit_clear calls it. */
void svc_create_req_clear(svc_create_req *req);

/* Creates a link, or returns the equivalent existing one when deduping
 * (*existed = true). out is filled either way (caller clears it).
 * Errors: SH_EINVAL (err->field names the input), SH_ETOOBIG, SH_EBLOCKED,
 * SH_ETAKEN (custom code in use), SH_ERESERVED, SH_ESTORE/EBUSY/EFULL. */
int svc_shorten(svc *v, store *s, const svc_create_req *req, sh_link *out,
                bool *existed, sh_err *err);

/* The checks svc_shorten makes before it touches the store, all of them:
 * the name of every bad field ("url" for the URL) into fields (at most max,
 * *n of them), the first one's sentence into err. Returns 0 when the
 * request is valid, the first bad field's code, or SH_ENOMEM. For an
 * answer that names every bad field (Shlink's invalidElements). A valid
 * request keeps its normalized URL (req->url_normal), so that the writer
 * (svc_shorten) does not normalize it again: the writer is the one thread
 * every create goes through, the checks run on as many as ask. */
int svc_create_check(svc *v, svc_create_req *req, const char **fields, int max, int *n,
                     sh_err *err);

/* ---- read ------------------------------------------------------------ */

/* The link of a code of any kind, with no rules applied (info, API get).
 * SH_ENOTFOUND when there is none or the caller may not see it. */
int svc_get(svc *v, store *s, const char *code, const svc_caller *who, sh_link *out);

/* svc_get on domain `domain` (NULL, "" or the default authority: the
 * default one). SH_ENOTFOUND (err: which code) also for a domain no link
 * was ever on; SH_EINVAL (err->field "domain") for a bad name. */
int svc_get_on(svc *v, store *s, const char *domain, const char *code, const svc_caller *who,
               sh_link *out, sh_err *err);

/* The link with this id, as the operator sees it (a visit's link). */
int svc_get_by_id(svc *v, store *s, int64_t id, sh_link *out);

/* What a redirect needs, as cached. */
typedef struct svc_target {
	int64_t link_id;
	uint64_t rules_hash;        /* != 0: the link has redirect rules
	                               (svc_rules_pick picks the URL) */
	int64_t max_visits;         /* 0 = no limit (svc_visit_admit) */
	int64_t visits;             /* as loaded */
	int status;                 /* 301/302/307/308 */
	bool forward_query;
	bool crawlable;
	int gone;                   /* enum sh_gone_reason; SH_GONE_NONE = serve */
	size_t url_len;
	char url[];                 /* flexible: allocate svc_target_size() */
} svc_target;

/* Bytes to allocate for an svc_target that can hold any stored URL. */
size_t svc_target_size(const svc *v);

/* The hot path: cache, then store on a miss (caching the answer, negative
 * entries for unknown codes), then rules. Returns 0 with t filled (t->gone
 * says whether to answer 410), SH_ENOTFOUND, or a store error. Counts
 * nothing (see visits below). s may be NULL (no reader connection): the
 * cache alone answers. */
int svc_resolve(svc *v, store *s, const char *code, size_t n, svc_target *t,
                int64_t now);
/* The same on domain dom (svc_domain_of_host): its link of the code, else
 * the default domain's (Shlink's domain fallback). Cached per (domain,
 * code). */
int svc_resolve_on(svc *v, store *s, int64_t dom, const char *code, size_t n, svc_target *t,
                   int64_t now);

/*
 * Misses that do not wait (PostgreSQL): a worker's own lookup connection.
 * svc_misses_open gives *out = NULL and 0 for a store without one (SQLite:
 * svc_resolve_on's blocking miss costs microseconds). It does not need the
 * store's server: a connection it cannot make is made by a later miss (as
 * a lost one is remade). Answers are made in
 * t (the worker's target, svc_target_size bytes). svc_resolve_later is
 * svc_resolve_on that never waits: a hit answers at once (0 or SH_E*, t
 * filled); a miss is sent on m and SVC_PENDING returned, then done(ud, rc)
 * is called from svc_misses_run with t filled, in the order sent. A miss
 * that cannot go on m (m NULL, 256 in flight, the pipeline full, the
 * domain fallback's second lookup) gives SVC_WOULD_WAIT: the caller asks
 * svc_resolve_on where waiting does no harm (a store thread). The caller watches
 * svc_misses_fd (it may change after a reconnect; -1: none) and calls
 * svc_misses_run when it is readable, when svc_misses_timeout_ms has passed
 * (-1: nothing in flight; a miss past the store's deadline answers
 * SH_ESTORE) and after each turn with misses in flight. One thread.
 */
#define SVC_PENDING 1
#define SVC_WOULD_WAIT 2
typedef struct svc_misses svc_misses;
typedef void (*svc_resolved_fn)(void *ud, int rc);
int svc_misses_open(svc *v, const char *url, svc_target *t, svc_misses **out, sh_err *err);
void svc_misses_close(svc_misses *m);
int svc_misses_fd(const svc_misses *m);
int svc_misses_timeout_ms(const svc_misses *m);
unsigned svc_misses_inflight(const svc_misses *m);
void svc_misses_run(svc_misses *m);
/* The lookup connection is made again away from the loop: when a send
 * found it down, svc_misses_reconnect_wanted (the loop's thread) says true
 * once and marks m reconnecting (misses then give SVC_WOULD_WAIT; run, fd
 * and timeout rest); the caller then runs svc_misses_reconnect(m) where a
 * connect may wait (a store thread), which ends the mark, and wakes the
 * loop. svc_misses_reconnecting: still at it (wait before closing m). */
bool svc_misses_reconnect_wanted(svc_misses *m);
void svc_misses_reconnect(svc_misses *m);
bool svc_misses_reconnecting(const svc_misses *m);
int svc_resolve_later(svc *v, svc_misses *m, int64_t dom, const char *code, size_t n,
                      svc_target *t, int64_t now, svc_resolved_fn done, void *ud);

/* ---- redirect rules (linkrules.c) ---------------------------------------- */

/* A link's redirect rules, compiled (*rs NULL: none), and the link itself
 * (its url is Shlink's defaultLongUrl). SH_ENOTFOUND when there is no such
 * link or the caller may not see it. The caller frees both. */
int svc_rules_get(svc *v, store *s, const char *code, const svc_caller *who, sh_link *link,
                  rules_set **rs, sh_err *err);

/* Replaces a link's redirect rules with rs (NULL or empty: none), as the
 * caller may (SH_EFORBIDDEN for a read-only key, SH_ENOTFOUND for a link it
 * may not see). A write: run it through the writer (SVC_UNIT_RULES_SET).
 * out (may be NULL) gets the link as stored. */
int svc_rules_set(svc *v, store *s, const char *code, const svc_caller *who,
                  const rules_set *rs, sh_link *out, sh_err *err);

/* The two above for the code on domain `domain` (NULL: the default one). */
int svc_rules_get_on(svc *v, store *s, const char *domain, const char *code,
                     const svc_caller *who, sh_link *link, rules_set **rs, sh_err *err);
int svc_rules_set_on(svc *v, store *s, const char *domain, const char *code,
                     const svc_caller *who, const rules_set *rs, sh_link *out, sh_err *err);

/* The redirect path, after svc_resolve: when t's link has rules, the first
 * rule matching req puts its long URL into t->url (t->url_len); else t is
 * left as it is. A link without rules costs one compare. req's location
 * (country, city) is looked up in the GeoIP database only when a condition
 * needs it and req has none. Returns 0 (a store failure while compiling
 * keeps the link's own URL). */
int svc_rules_pick(svc *v, store *s, svc_target *t, const rules_request *req);

/* Whether one more visit of t's link may be served (its visit limit not
 * reached), counting it as taken: exact across the process's threads, so
 * that N parallel redirects of a link limited to 2 serve exactly 2. Links
 * without a limit: always true, no lock (limits.c). */
bool svc_visit_admit(svc *v, const svc_target *t);

/* Lists the links the caller may see (see sh_list_query; its owner_key_id
 * is the caller's). */
int svc_list(svc *v, store *s, const svc_caller *who, const sh_list_query *q, sh_link_cb cb,
             void *ud, int64_t *total);

/* One page of tags (q: search, exact name, limit, offset) with their counts
 * over the links the caller may see (q's owner_key_id is the caller's);
 * *total (when not NULL): every tag matching. */
int svc_tags_stats(svc *v, store *s, const svc_caller *who, const sh_tag_query *q,
                   sh_tag_cb cb, void *ud, int64_t *total);

/* ---- the store, as the fronts may see it ----------------------------------- */

/* Opening the store, for the fronts (they call no store_* function). */
enum svc_store_mode {
	SVC_STORE_READER = 0, /* a read-only connection (an HTTP worker) */
	SVC_STORE_EXISTING,   /* read and write a store that must exist */
	SVC_STORE_CREATE,     /* create the store (and its directory) if missing */
};
/* Opens url with cfg's durability (cfg->synchronous) in that mode. */
int svc_store_open(store **out, const char *url, const sh_config *cfg, int mode, sh_err *err);
/* Creates or upgrades the schema (store_migrate). */
int svc_store_migrate(store *s, sh_err *err);
void svc_store_close(store *s);

/* Copies every row of src (the store v runs on) into dst, which must hold
 * no link, API key, domain or visit (else SH_ETAKEN, nothing written):
 * codes, ids, keys, domains, rules, tags, counts, the visit log and the
 * settings (the secret that keys the codes) as they are, in ONE
 * transaction of dst (all or nothing), then dst's id sequences set above
 * every copied id. rows[COPY_*] (may be NULL) gets the rows copied per
 * table. Run it with no instance writing either store. */
int svc_copy(svc *v, store *src, store *dst, int64_t rows[COPY_NTABLES], sh_err *err);
/* A URL every connection of this process can open to reach url's data
 * (memory: gets a name); malloc'ed, NULL when out of memory. */
char *svc_store_url_shared(const char *url);
/* Where url's data lives, for messages, and whether it exists (store_locate). */
int svc_store_locate(const char *url, char *where, size_t wsz, bool *exists);

/* 0 when the store answers and can be written; else a negative SH_E* with
 * why (may be NULL) saying what is wrong (a file removed, replaced or
 * read-only: it names paths, for the log, not for anonymous callers). */
int svc_store_ping(store *s, sh_err *why);
/* Whether s, having failed, comes back on its own once its server does
 * (PostgreSQL), so that keeping it beats closing and reopening it. */
bool svc_store_reconnects(store *s);
/* The store's schema version and the one this binary needs. */
int svc_store_schema(store *s, int *current, int *latest);
/* Failed store calls since the start (metrics). */
uint64_t svc_store_errors(void);
/* Misses sent on the lookup connections (svc_resolve_later's way, not the
 * waiting one) since the start (metrics). */
uint64_t svc_misses_sent(void);

/* ---- update / delete --------------------------------------------------- */

/* Fields to change; each has a flag saying it is present. For nullable
 * fields, present with value 0 / NULL clears it. */
typedef struct svc_update_req {
	bool has_url; const char *url;
	bool has_valid_since; int64_t valid_since;
	bool has_expires_at; int64_t expires_at;
	bool has_max_visits; int64_t max_visits;
	bool has_title; const char *title;
	bool has_tags; const char *const *tags; int ntags;
	bool has_crawlable; bool crawlable;
	bool has_forward_query; bool forward_query;
	bool has_redirect_status; int redirect_status;
	bool has_disabled; bool disabled;
	const char *domain;         /* the code's domain; NULL = the default one */
	int64_t owner_key_id;       /* != 0: only that owner's links */
	int64_t now;
} svc_update_req;

int svc_update(svc *v, store *s, const char *code, const svc_update_req *req,
               sh_link *out, sh_err *err);

/* Deletes a link; at once, the code answers 404 (cache entry dropped). */
int svc_delete(svc *v, store *s, const char *code, int64_t owner_key_id, sh_err *err);
/* The same for the code on domain `domain` (NULL: the default one). */
int svc_delete_on(svc *v, store *s, const char *domain, const char *code, int64_t owner_key_id,
                  sh_err *err);

/* Drops a code's cache entry (after a write made elsewhere): the code on
 * the default domain, or svc_cache_key's key. */
void svc_cache_forget(svc *v, const char *code);

/* Links the writer committed since svc_open (the metrics' counter). */
uint64_t svc_links_created(const svc *v);
/* Visits whose details SHORTY_VISIT_RETENTION dropped since the start. */
uint64_t svc_visits_pruned(const svc *v);
/* The writer, after a visit flush: drops the details of visits older than
 * the retention (at most SVC_PRUNE_ROWS a call, in its own transaction).
 * Returns 0 or an SH_E* code. */
#define SVC_PRUNE_ROWS 20000
int svc_visits_prune(svc *v, store *s, int64_t now);

/* ---- domains (domains.c; Shlink's multi-domain) ---------------------------
 * The default domain is the base URL's authority (id 0; its redirects come
 * from the configuration); other domains are the store's (sh_domain). */

/* The default domain's authority: the base URL's host[:port], lower case. */
const char *svc_domain_default(const svc *v);
/* Checks a domain a client names (host[:port]) and writes it lower-cased
 * into out. SH_EINVAL (err->field "domain") when it is none. */
int svc_domain_check(const char *name, char out[SH_AUTHORITY_MAX + 1], sh_err *err);
/* The id of the domain `name` names: NULL, "" or the default authority: 0.
 * create: its row is made when missing (a write: the writer's units only).
 * Else SH_ENOTFOUND when no link or redirect ever named it. SH_EINVAL for
 * a name that is not host[:port]. */
int svc_domain_id(svc *v, store *s, const char *name, bool create, int64_t *id, sh_err *err);
/* The domain a request's Host picks: its id, 0 for the default domain and
 * for every unknown host. Cached: the redirect path. */
int64_t svc_domain_of_host(svc *v, store *s, const char *host);
/* Domain id's redirect of kind (enum sh_redirect_kind) into buf, or NULL
 * when it has none (a domain without its own has the default one's). */
const char *svc_domain_redirect(svc *v, store *s, int64_t id, int kind, char *buf, size_t n);
/* Every domain: the default one first (id 0, its configured redirects),
 * then the store's, by id. */
int svc_domain_list(svc *v, store *s, sh_domain_cb cb, void *ud);
/* Sets the redirects of domain d->authority whose bit (1 << kind) is in
 * given (NULL: none); the others stay. The row is made when missing. A
 * write: the writer's SVC_UNIT_DOMAIN_REDIRECTS. out gets the domain as
 * stored (the caller clears it). SH_EFORBIDDEN for the default domain
 * (configured, as in Shlink), SH_EINVAL with err->field for a bad field. */
int svc_domain_set_redirects(svc *v, store *s, const sh_domain *d, unsigned given, sh_domain *out,
                             sh_err *err);
/* The short URL of l on its own domain (see svc_short_url). */
const char *svc_link_short_url(const svc *v, const sh_link *l, char *buf, size_t bufsz);
/* The cache's key of a code on a domain (the code itself on the default
 * one), for svc_cache_forget. */
#define SVC_CACHE_KEY_MAX (CODE_MAX + 24)
const char *svc_cache_key(int64_t domain_id, const char *code, char buf[SVC_CACHE_KEY_MAX]);

/* ---- robots.txt ------------------------------------------------------ */

/* The most links /robots.txt allows (the newest crawlable ones). */
#define SVC_ROBOTS_MAX 10000

/* The body of /robots.txt: an "Allow: /CODE" line for each of the newest
 * SVC_ROBOTS_MAX crawlable, enabled links, then "Disallow: /". Cached: read
 * from s at most once a second, and only when a write was committed since
 * or the body is a minute old (service/robots.c). *out is a malloc'd copy
 * (the caller frees it). Errors: SH_ENOMEM only (a store failure keeps the
 * last body, or disallows everything when there is none). */
int svc_robots(svc *v, store *s, char **out, size_t *len);

/* ---- tags ------------------------------------------------------------ */

/* True if tag is [a-z0-9_-]{1,32}. */
bool svc_tag_valid(const char *tag);

/* ---- API keys -------------------------------------------------------- */

#define SH_KEY_TEXT_MAX 80

/* Creates a key: 256 random bits, shown once as text in key_out
 * ("shorty_" + 43 base64url characters); the store keeps only its BLAKE2b
 * hash. */
int svc_key_create(store *s, const char *name, int role, char key_out[SH_KEY_TEXT_MAX],
                   sh_api_key *out, sh_err *err);

/* Checks a presented key (any length; hashed first, so the lookup and the
 * constant-time compare take the same time for every input).
 * Returns 0 with out filled, or SH_EAUTH (unknown or revoked). */
int svc_key_verify(store *s, const char *key, size_t len, sh_api_key *out);
/* svc_key_verify, cached per instance (keycache.c): what an HTTP request
 * uses. A revoke on any instance is seen at its commit (the feed). */
int svc_key_check(svc *v, store *s, const char *key, size_t len, sh_api_key *out);

int svc_key_revoke(store *s, int64_t id, sh_err *err);

/* Every key, revoked ones too (never the key itself: only its prefix). */
int svc_key_list(store *s, sh_key_cb cb, void *ud);

/* "admin" / "author" / "read-only" <-> enum key_role; -1 if unknown. */
int svc_role_parse(const char *s);
const char *svc_role_name(int role);

/* ---- visits ---------------------------------------------------------- */

/*
 * A visit buffer: filled by one thread (an HTTP worker) with no lock shared
 * with other workers; drained by the flusher about once a second. Strings
 * are copied (and truncated to SH_VISIT_FIELD_MAX). When the buffer holds
 * `max` visits, further visits only bump a dropped-details counter but are
 * still counted (the link's counter never loses them).
 */
typedef struct visitbuf visitbuf;

visitbuf *visitbuf_create(size_t max);
void visitbuf_destroy(visitbuf *b);
int visitbuf_add(visitbuf *b, const sh_visit *v);
size_t visitbuf_pending(visitbuf *b);

/* Records a visit into b, the calling thread's buffer: its kind from the
 * method and the user agent (link-preview fetchers and crawlers count as
 * bots), the client's address anonymized (IPv4 /24, IPv6 /48). No
 * allocation and no lock but b's own (the redirect's hot path). */
typedef struct svc_visit_in {
	int64_t link_id;     /* 0: an orphan visit */
	int orphan_type;     /* enum orphan_type, for orphans */
	bool head;           /* a HEAD request: logged, not counted */
	const char *user_agent, *referer; /* NULL when absent */
	const char *visited_url;
	const char *ip;      /* the client's address as text */
	int64_t now;
	bool no_details;     /* counted and logged without referrer, user agent,
	                        visited URL or location (the detail brake) */
} svc_visit_in;
int svc_visit_record(visitbuf *b, const svc_visit_in *in);

/* a.b.c.d of a 4-byte IPv4 address into out (at least 16 bytes), without
 * the printf machinery inet_ntop uses (this runs for every request).
 * Returns the length. */
size_t svc_ip4_format(const unsigned char a[4], char *out);

/* The visits the caller may see (q's owner_key_id is the caller's). */
int svc_visits_list(svc *v, store *s, const svc_caller *who, const sh_visit_query *q,
                    sh_visit_cb cb, void *ud, int64_t *total);
/* Visit counts of the links the caller may see, and of orphan visits (none
 * for an author: orphan visits belong to no author). */
int svc_visits_totals(svc *v, store *s, const svc_caller *who, sh_visit_totals *links,
                      sh_visit_totals *orphans);

/* Moves everything buffered in bufs[0..n) into the store in one
 * transaction (or the caller's). On failure the visits stay buffered and
 * are retried on the next flush. Returns 0 or a store error. */
int svc_visits_flush(svc *v, store *s, visitbuf *const *bufs, size_t n,
                     size_t *flushed);

/* ---- the writer: every write, one connection, group commit (writer.c) --
 *
 * A unit of work is one write a front end asks for. The writer runs a group
 * of units (all queued at the time) in ONE transaction with no savepoint,
 * commits once (one fsync for many creates), forgets the cache entries of
 * the codes they changed, counts created links, then completes each unit
 * with its result. When a unit fails, the group is rolled back and run
 * again without it, each unit in a savepoint (only then), so one bad unit
 * never costs the others. A failed commit fails every unit of its group.
 */

typedef enum svc_unit_kind {
	SVC_UNIT_CREATE,        /* in: create      out: link, existed, err */
	SVC_UNIT_UPDATE,        /* in: code, update              out: link, err */
	SVC_UNIT_DELETE,        /* in: code                      out: err */
	SVC_UNIT_VISITS_DELETE, /* in: link_id (0: orphan visits) out: deleted */
	SVC_UNIT_TAG_RENAME,    /* in: tag, new_tag (ENOTFOUND, ETAKEN) */
	SVC_UNIT_TAGS_DELETE,   /* in: tags, ntags (a missing tag is fine) */
	SVC_UNIT_KEY_CREATE,    /* in: key_name, key_role  out: key, key_text, err */
	SVC_UNIT_KEY_REVOKE,    /* in: key_id                    out: err */
	SVC_UNIT_RULES_SET,     /* in: code, rules               out: link, err */
	SVC_UNIT_DOMAIN_REDIRECTS, /* in: domain_in, given      out: domain, err */
	SVC_UNIT_CALL,          /* in: call, call_ud: several service calls as
	                           one unit (the CLI's import) */
} svc_unit_kind;

typedef struct svc_unit svc_unit;

struct svc_unit {
	svc_unit_kind kind;
	/* ---- input (the front end fills what its kind reads) ---- */
	svc_create_req create;
	svc_update_req update;
	svc_caller caller;  /* who asks (NULL-like zero: the operator) */
	char code[CODE_MAX + 1];
	int64_t link_id;
	const char *tag, *new_tag;
	const char *const *tags;
	int ntags;
	const char *key_name;
	int key_role;
	int64_t key_id;
	const rules_set *rules; /* SVC_UNIT_RULES_SET: the new rules (the front's) */
	const char *domain;     /* DELETE, RULES_SET: the code's domain (NULL: default) */
	const sh_domain *domain_in; /* DOMAIN_REDIRECTS: the redirects asked for, */
	unsigned given;         /* and which of them were given */
	int (*call)(svc *v, store *ws, void *call_ud, sh_err *err);
	void *call_ud;
	/* Called on the writer's thread once the unit's group committed or
	 * failed (u->rc says which). May free u: the writer does not touch it
	 * afterwards. NULL: nothing to do (svc_writer_run's callers read u). */
	void (*done)(svc_unit *u, void *done_ud);
	void *done_ud;
	/* ---- output ---- */
	int rc;        /* 0 or SH_E* */
	sh_err err;    /* the sentence for rc (create, update, delete, keys) */
	sh_link link;  /* create, update: the link (svc_unit_clear frees it) */
	bool existed;  /* create: an equivalent link was found (dedupe) */
	int64_t deleted;
	sh_api_key key;
	char key_text[SH_KEY_TEXT_MAX];
	sh_domain dom;  /* DOMAIN_REDIRECTS: the domain as stored (cleared by svc_unit_clear) */
	/* ---- private to writer.c ---- */
	svc_unit *next;
	bool failed;                       /* out of the group's replay */
	bool created;                      /* counts as a created link */
	char forget[2][SVC_CACHE_KEY_MAX]; /* cache keys to drop after commit */
	bool domains_changed;              /* made a domain or changed one */
};

/* Zeroes u and sets its kind (create / update requests get their defaults). */
void svc_unit_init(svc_unit *u, svc_unit_kind kind);
/* Frees what the unit holds (the output link, the create's url_normal). */
void svc_unit_clear(svc_unit *u);

typedef struct svc_writer svc_writer;

/* Creates the writer over ws, the connection every write goes through.
 * reopen_url NULL: ws is the caller's (closed by it) and never reopened
 * (the CLI). Else the writer owns ws and, after an I/O error of a commit or
 * a visit flush, closes it and opens reopen_url with *o (NULL: the
 * defaults with the service's cfg->synchronous) before the next write (only
 * for stores with STORE_CAP_REOPEN). */
int svc_writer_create(svc_writer **out, svc *v, store *ws, const char *reopen_url,
                      const store_options *o, sh_err *err);

/* Starts the writer thread: from then on svc_writer_submit queues, groups
 * run there, and the registered visit buffers are flushed about once a
 * second. */
int svc_writer_start(svc_writer *w, sh_err *err);

/* Queues u for the writer thread; u->done completes it. SH_EBUSY (done not
 * called) when the writer is stopping or was never started. */
int svc_writer_submit(svc_writer *w, svc_unit *u);

/* Runs units[0..n) now, as one group on the calling thread (the CLI, tests;
 * not while the thread runs). Each unit's done is called. Returns 0 when
 * every unit succeeded, else the first failed unit's rc. */
int svc_writer_run(svc_writer *w, svc_unit *const *units, size_t n);

/* A new visit buffer of the calling thread, registered with the writer,
 * which flushes it with the others and frees it in svc_writer_free. */
visitbuf *svc_writer_visitbuf(svc_writer *w);

/* Stops the thread after the queued units and a last visit flush. */
void svc_writer_stop(svc_writer *w);

/* Frees the writer, its visit buffers and (if owned) its connection. */
void svc_writer_free(svc_writer *w);

/* The backend's name of the writer's store ("sqlite"), for the start log. */
const char *svc_writer_store_name(const svc_writer *w);

/* True when the writer's store answers over the network (PostgreSQL): a
 * read is a round trip, which an HTTP loop should not wait for. */
bool svc_writer_store_remote(const svc_writer *w);

#endif

/*
 * service.h — the rules of the product (service/links.c, keys.c, visits.c).
 *
 * No SQL and no HTTP here: the service validates, dedupes, picks codes,
 * applies expiry / visit-limit / disabled rules, and talks to the store
 * through store.h and to the cache through lru.h. Both fronts (CLI and HTTP)
 * call only this.
 *
 * Threads: one `svc` is shared by all threads (its key, policy and cache are
 * read-only or internally locked). Every call takes the `store` connection of
 * the calling thread. Write calls run inside the caller's transaction when
 * one is open (the HTTP writer's group commit wraps each in a savepoint),
 * else in their own.
 */
#ifndef SHORTY_SERVICE_H
#define SHORTY_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "shorty/config.h"
#include "shorty/err.h"
#include "shorty/lru.h"
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

/* Writes "<base-url>/<code>" into buf (bufsz >= strlen(base)+CODE_MAX+2). */
const char *svc_short_url(const svc *v, const char *code, char *buf, size_t bufsz);

/* ---- create ---------------------------------------------------------- */

typedef struct svc_create_req {
	const char *url;            /* required; raw, validated here */
	size_t url_len;             /* 0 = strlen(url) */
	const char *custom_code;    /* NULL = generate */
	int code_length;            /* 0 = configured; else a random code of this
	                               length (>= 4, <= CODE_MAX) */
	bool find_if_exists;        /* dedupe (default true in every front) */
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
} svc_create_req;

/* Initializes req with the defaults above (find_if_exists = true). */
void svc_create_req_init(svc_create_req *req);

/* Creates a link, or returns the equivalent existing one when deduping
 * (*existed = true). out is filled either way (caller clears it).
 * Errors: SH_EINVAL (err->field names the input), SH_ETOOBIG, SH_EBLOCKED,
 * SH_ETAKEN (custom code in use), SH_ERESERVED, SH_ESTORE/EBUSY/EFULL. */
int svc_shorten(svc *v, store *s, const svc_create_req *req, sh_link *out,
                bool *existed, sh_err *err);

/* ---- read ------------------------------------------------------------ */

/* The link of a code of any kind, with no rules applied (info, API get).
 * SH_ENOTFOUND when there is none. owner_key_id != 0 limits to that owner
 * (others' links are SH_ENOTFOUND). */
int svc_get(svc *v, store *s, const char *code, int64_t owner_key_id, sh_link *out);

/* What a redirect needs, as cached. */
typedef struct svc_target {
	int64_t link_id;
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
 * nothing (see visits below). */
int svc_resolve(svc *v, store *s, const char *code, size_t n, svc_target *t,
                int64_t now);

/* Lists links (see sh_list_query). */
int svc_list(svc *v, store *s, const sh_list_query *q, sh_link_cb cb, void *ud,
             int64_t *total);

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
	int64_t owner_key_id;       /* != 0: only that owner's links */
	int64_t now;
} svc_update_req;

int svc_update(svc *v, store *s, const char *code, const svc_update_req *req,
               sh_link *out, sh_err *err);

/* Deletes a link; at once, the code answers 404 (cache entry dropped). */
int svc_delete(svc *v, store *s, const char *code, int64_t owner_key_id, sh_err *err);

/* Drops a code's cache entry (after a write made elsewhere). */
void svc_cache_forget(svc *v, const char *code);

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

int svc_key_revoke(store *s, int64_t id, sh_err *err);

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

/* Moves everything buffered in bufs[0..n) into the store in one
 * transaction (or the caller's). On failure the visits stay buffered and
 * are retried on the next flush. Returns 0 or a store error. */
int svc_visits_flush(svc *v, store *s, visitbuf *const *bufs, size_t n,
                     size_t *flushed);

#endif

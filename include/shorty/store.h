/*
 * store.h — the storage interface (store/store.c, sqlite.c, later
 * postgres.c).
 *
 * Like SQLite's VFS: a versioned struct of function pointers that each
 * backend fills in, and thin wrappers (store_*) that every caller goes
 * through. The wrappers are the one place for metrics (error counter),
 * logging and fault injection. The store knows nothing of HTTP; no query is
 * ever assembled from input (prepared statements, bound parameters, ORDER BY
 * from a fixed list).
 *
 * A `store` handle is ONE connection: not thread-safe, used by one thread at
 * a time. Open one per thread (the writer, each HTTP worker's reads, the
 * CLI). All handles opened on the same URL see the same data.
 *
 * Strings in structs filled by the store (sh_link.url, .title) are malloc'ed
 * and owned by the struct: release with sh_link_clear(). Structs handed to
 * a callback are owned by the store and valid only during the call.
 */
#ifndef SHORTY_STORE_H
#define SHORTY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "shorty/codec.h"
#include "shorty/err.h"

#define SH_MAX_TAGS 16
#define SH_AUTHORITY_MAX 253 /* a domain: host[:port], lower case */
#define SH_TAG_MAX 32
#define SH_TITLE_MAX 512
#define SH_VISIT_FIELD_MAX 512 /* referer, user agent: truncated to this */
#define SH_VISIT_LOCATION_MAX 2048 /* a visit's location JSON (never cut: the
                                      service writes at most this much) */

enum code_kind {
	CODE_KIND_COUNTER = 0, /* derived from the id by codec_encode_id; no row in codes */
	CODE_KIND_CUSTOM = 1,  /* chosen by the caller; row in codes */
	CODE_KIND_RANDOM = 2,  /* random strategy or a requested length; row in codes */
	CODE_KIND_HASH = 3,    /* hash strategy; row in codes */
};

typedef struct sh_link {
	int64_t id;                 /* primary key; > 0 */
	char code[CODE_MAX + 1];
	int code_kind;              /* enum code_kind */
	char *url;                  /* normalized long URL (owned) */
	uint64_t url_hash;          /* keyed hash of url, for dedupe lookups */
	char *title;                /* NULL or owned, <= SH_TITLE_MAX bytes */
	int64_t created_at, updated_at; /* Unix seconds */
	int64_t valid_since;        /* 0 = none */
	int64_t expires_at;         /* 0 = none */
	int64_t max_visits;         /* 0 = no limit */
	int64_t visits;             /* counted visits (non-bot + bot) */
	int64_t bot_visits;         /* of which bots */
	int redirect_status;        /* 301, 302, 307, 308 */
	bool forward_query;
	bool crawlable;
	bool disabled;
	int64_t owner_key_id;       /* API key that created it; 0 = the operator (CLI,
	                             * import); SH_OWNER_ANONYMOUS = the public page */
	int ntags;
	char tags[SH_MAX_TAGS][SH_TAG_MAX + 1];
	char *redirect_rules;       /* NULL (none) or owned: Shlink redirect rules,
	                             * the JSON array rules_to_json() writes */
	int64_t domain_id;          /* 0 = the default domain, else a sh_domain's id
	                             * (set at insert; an update keeps it) */
	char domain[SH_AUTHORITY_MAX + 1]; /* its authority, "" for the default
	                             * domain (filled by the store's reads) */
} sh_link;

/* ---- domains (Shlink's multi-domain) --------------------------------------
 * A link belongs to one domain: the default one (id 0, the base URL's
 * authority, no row) or a row of `domains`, made the first time a link or a
 * redirect names its authority and never deleted (ids and authorities never
 * change, so the service may cache them). Codes are unique per domain. */

enum sh_redirect_kind {
	SH_REDIRECT_BASE_URL = 0,      /* GET / */
	SH_REDIRECT_REGULAR_404,       /* a path that is no code */
	SH_REDIRECT_INVALID_SHORT_URL, /* a code with no link (or gone) */
	SH_REDIRECTS
};

typedef struct sh_domain {
	int64_t id;                 /* > 0 */
	char authority[SH_AUTHORITY_MAX + 1];
	char *redirect[SH_REDIRECTS]; /* NULL = none, else owned (sh_domain_clear) */
} sh_domain;
/* Frees the redirects, zeroes the struct. */
void sh_domain_clear(sh_domain *d);
typedef int (*sh_domain_cb)(const sh_domain *d, void *ud); /* non-zero stops */

/* The owner of links made anonymously (POST /api/shorten). Never a key id
 * (those start at 1) nor 0, so an anonymous create dedupes only against
 * anonymous links and never hands out the operator's or a key's link. */
#define SH_OWNER_ANONYMOUS ((int64_t)-1)

/* Frees url, title and redirect_rules, zeroes the struct. Safe on a zeroed
 * struct. */
void sh_link_clear(sh_link *l);

enum list_order {
	LIST_CREATED_DESC = 0, LIST_CREATED_ASC,
	LIST_CODE_ASC, LIST_CODE_DESC,
	LIST_URL_ASC, LIST_URL_DESC,
	LIST_TITLE_ASC, LIST_TITLE_DESC,
	LIST_VISITS_ASC, LIST_VISITS_DESC,
	LIST_NONBOT_VISITS_ASC, LIST_NONBOT_VISITS_DESC,
};

typedef struct sh_list_query {
	int64_t limit;              /* rows to return (>= 1) */
	int64_t offset;             /* rows to skip (page-based callers) */
	int64_t before_id;          /* keyset: only ids < before_id (0 = off);
	                               with LIST_CREATED_DESC only */
	int order;                  /* enum list_order */
	const char *search;         /* substring of url, code, title or a tag;
	                               NULL = all. Matched literally (no LIKE
	                               wildcards). */
	const char *const *tags;    /* NULL or ntags tags */
	int ntags;
	bool tags_all;              /* true: link has all tags; false: any */
	const char *const *exclude_tags; /* NULL or nexclude tags */
	int nexclude;
	bool exclude_all;           /* true: drop links having all of them; false: any */
	const char *owner_key_name; /* non-NULL: only links created by a key of
	                               this name (Shlink's apiKeyName) */
	bool one_domain;            /* only the links of domain_id (0: default) */
	int64_t domain_id;
	const codec_key *code_key;  /* LIST_CODE_*: derives counter codes so that
	                               they sort by the code itself (NULL: by "") */
	int64_t start_date, end_date; /* created_at range, 0 = open */
	bool exclude_max_visits_reached;
	bool exclude_past_valid_until;
	bool crawlable_only;        /* crawlable and not disabled (robots.txt) */
	int64_t owner_key_id;       /* 0 = every owner */
	int64_t now;                /* for the exclude_* filters */
} sh_list_query;

typedef int (*sh_link_cb)(const sh_link *l, void *ud); /* non-zero stops */

/* What a create with Shlink's findIfExists matches (Shlink's rule): the
 * same long URL; each of the other fields only when given, and then
 * exactly. Disabled links never match. The oldest match wins. */
typedef struct sh_link_match {
	uint64_t url_hash;          /* keyed hash of url */
	const char *url;            /* normalized long URL */
	int64_t owner_key_id;       /* 0 = any owner, else only this owner's links */
	const char *code;           /* NULL = any; else this code (custom slug) */
	const char *const *tags;    /* ntags > 0: exactly this set of tags */
	int ntags;                  /* 0 = any tags */
	int64_t valid_since;        /* 0 = any */
	int64_t expires_at;         /* 0 = any */
	int64_t max_visits;         /* 0 = any */
	int64_t domain_id;          /* always: the links of this domain (0: default) */
} sh_link_match;

enum visit_kind {
	VISIT_NORMAL = 0, /* a redirect served to a (probable) person */
	VISIT_BOT = 1,    /* a redirect served to a known bot / preview fetcher */
	VISIT_HEAD = 2,   /* a HEAD request: logged apart, not a visit */
};

enum orphan_type {
	ORPHAN_NONE = 0,            /* a visit of a link */
	ORPHAN_BASE_URL,            /* GET / */
	ORPHAN_INVALID_SHORT_URL,   /* a code that is not a link */
	ORPHAN_REGULAR_404,         /* any other 404 */
};

typedef struct sh_visit {
	int64_t link_id;            /* 0 for an orphan visit */
	int64_t ts;                 /* Unix seconds */
	int kind;                   /* enum visit_kind */
	int orphan_type;            /* enum orphan_type */
	const char *referer;        /* NULL or <= SH_VISIT_FIELD_MAX bytes */
	const char *user_agent;
	const char *visited_url;    /* the short URL that was asked for */
	const char *ip;             /* anonymized client address (last octet 0) */
	const char *location;       /* NULL or Shlink's visitLocation as JSON
	                               (<= SH_VISIT_LOCATION_MAX bytes) */
	const char *client_ip;      /* the full address, only between the redirect
	                               and the flush that locates the visit: never
	                               stored */
} sh_visit;

typedef int (*sh_visit_cb)(const sh_visit *v, int64_t visit_id, void *ud);

typedef struct sh_visit_query {
	int64_t link_id;            /* > 0: this link's visits */
	const char *tag;            /* non-NULL: visits of links with this tag */
	int orphan;                 /* 0: non-orphan only, 1: orphan only, -1: both */
	int orphan_type;            /* with orphan == 1: 0 = any, else that type */
	int64_t start_date, end_date; /* 0 = open */
	bool exclude_bots;
	bool exclude_head;          /* leave out HEAD rows (logged, not visits),
	                               from the rows and the total alike */
	int64_t owner_key_id;       /* 0 = every owner */
	bool one_domain;            /* only visits of domain_id's links (0: default) */
	int64_t domain_id;
	int64_t before_id;          /* > 0: only visits with a smaller id (keyset
	                               paging: the id the callback last saw) */
	int64_t limit, offset;      /* newest first */
} sh_visit_query;

typedef struct sh_visit_totals {
	int64_t total, bots;        /* counted visits (HEAD excluded) */
} sh_visit_totals;

typedef struct sh_tag_stats {
	char tag[SH_TAG_MAX + 1];
	int64_t links;
	int64_t visits, bot_visits;
} sh_tag_stats;
typedef int (*sh_tag_cb)(const sh_tag_stats *t, void *ud);

/* Which tags tags_stats reads: one page of them, ordered by name by default,
 * so that a page costs its own size and not the number of tags (issue 12
 * item 3). */
enum tag_order {
	TAG_NAME_ASC = 0, TAG_NAME_DESC,
	TAG_LINKS_ASC, TAG_LINKS_DESC,
	TAG_VISITS_ASC, TAG_VISITS_DESC,
	TAG_NONBOT_VISITS_ASC, TAG_NONBOT_VISITS_DESC,
};

typedef struct sh_tag_query {
	int64_t owner_key_id;       /* 0 = every owner's links */
	const char *search;         /* substring, any case; NULL = all */
	const char *exact;          /* this tag only; NULL = any */
	int64_t limit;              /* tags to hand over; <= 0 = all */
	int64_t offset;             /* tags to skip first */
	int order;                  /* enum tag_order; by name (the default) a page
	                               costs its size, by a count every tag is
	                               counted first (as Shlink does) */
} sh_tag_query;

enum key_role { KEY_ADMIN = 0, KEY_AUTHOR = 1, KEY_READ_ONLY = 2 };

#define SH_KEY_HASH_BYTES 32
#define SH_KEY_NAME_MAX 128

typedef struct sh_api_key {
	int64_t id;
	char name[SH_KEY_NAME_MAX + 1];
	int role;                   /* enum key_role */
	uint8_t hash[SH_KEY_HASH_BYTES];
	char prefix[9];             /* first 8 characters of the key, for `key list` */
	int64_t created_at;
	int64_t revoked_at;         /* 0 = active */
} sh_api_key;
typedef int (*sh_key_cb)(const sh_api_key *k, void *ud);

typedef struct store store;

/* The backend interface. iVersion lets later members be added. Every
 * member returns 0 or a negative SH_E* code; the backend fills err with a
 * user-facing sentence where it has one. */
/* Copying a whole store to another (`shorty copy`, service/copy.c): the
 * data as a few logical tables whose columns are the same in every
 * backend, in this order (sh_copy_tables[] in store.c names them and
 * types each column: 'i' integer, 't' text, 'b' bytes). A backend reads
 * and writes its own tables under these: counters that it keeps in
 * several rows are summed, indexes it derives are rebuilt by copy_finish. */
enum sh_copy_table {
	COPY_META,    /* key, value (every setting but the backend's own marks) */
	COPY_DOMAINS, /* id, authority, base_url_redirect, regular_404_redirect,
	                 invalid_short_url_redirect */
	COPY_KEYS,    /* id, name, role, hash, prefix, created_at, revoked_at */
	COPY_LINKS,   /* id, code_kind, url, url_hash, title, created_at, updated_at,
	                 valid_since, expires_at, max_visits, redirect_status,
	                 forward_query, crawlable, disabled, owner_key_id,
	                 redirect_rules, domain_id, dedupe */
	COPY_CODES,   /* domain_id, code, link_id, generated (1: a counter code,
	                 which only PostgreSQL keeps as a row) */
	COPY_TAGS,    /* link_id, tag */
	COPY_COUNTS,  /* link_id, visits, bots */
	COPY_VISITS,  /* id, link_id, ts, kind, orphan_type, referer, user_agent,
	                 visited_url, ip, location */
	COPY_TOTALS,  /* kind, total, bots */
	COPY_NTABLES
};
#define SH_COPY_COLS_MAX 18
enum { SH_CELL_NULL = 0, SH_CELL_INT, SH_CELL_TEXT, SH_CELL_BLOB };
typedef struct sh_cell {
	int type;      /* SH_CELL_* */
	int64_t i;     /* INT */
	const char *s; /* TEXT (NUL-terminated too) or BLOB: n bytes */
	size_t n;
} sh_cell;
typedef struct sh_copy_def {
	const char *name;  /* for messages */
	const char *types; /* one letter per column: i, t or b */
} sh_copy_def;
extern const sh_copy_def sh_copy_tables[COPY_NTABLES];
typedef int (*sh_row_cb)(const sh_cell *row, int ncols, void *ud); /* non-zero stops */

typedef struct store_ops {
	int iVersion;               /* 1 */
	const char *name;           /* "sqlite", "memory", "postgres" */
	void (*close)(store *s);

	/* schema */
	int (*migrate)(store *s, sh_err *err);
	int (*schema_version)(store *s, int *current, int *latest);
	int (*ping)(store *s);

	/* transactions: begin is a write transaction (SQLite: BEGIN IMMEDIATE).
	 * Savepoints nest inside it, so one failed create in a group commit is
	 * rolled back alone. */
	int (*begin)(store *s);
	int (*commit)(store *s);
	int (*rollback)(store *s);
	int (*savepoint)(store *s);
	int (*release)(store *s);
	int (*rollback_to)(store *s);
	bool (*in_txn)(store *s);

	/* meta: small key/value settings (the installation secret lives here). */
	int (*meta_get)(store *s, const char *key, char **val /* malloc'ed */);
	int (*meta_set)(store *s, const char *key, const char *val);
	/* stores val unless key has a value already; *stored (malloc'ed) is
	 * the value kept: one statement, so that instances creating the same
	 * setting at once (the installation secret) all read the first one */
	int (*meta_add)(store *s, const char *key, const char *val, char **stored);

	/* links */
	/* an id >= min that no link has or had (ids are never reused).
	 * SQLite: max(max(id) + 1, deleted ids + 1, min), the same until a
	 * link takes it; PostgreSQL: from a block leased from a sequence, a
	 * new one on every call. Either way the caller may skip ids upwards
	 * from it (a custom code took their code). */
	int (*next_id)(store *s, int64_t min, int64_t *id);
	int (*link_insert)(store *s, const sh_link *l); /* id set by caller;
	                                  SH_ETAKEN if id or stored code exists */
	int (*link_get)(store *s, int64_t id, sh_link *out);      /* SH_ENOTFOUND */
	/* codes table, the code on domain domain_id (0: the default domain) */
	int (*link_get_by_code)(store *s, int64_t domain_id, const char *code, sh_link *out);
	int (*code_exists)(store *s, int64_t domain_id, const char *code, bool *exists);
	int (*link_find_dup)(store *s, int64_t domain_id, uint64_t url_hash, const char *url,
	                     int64_t owner_key_id, sh_link *out); /* generated code,
	                     no expiry, no max visits, not disabled, on domain_id;
	                     SH_ENOTFOUND */
	int (*link_find_match)(store *s, const sh_link_match *m, sh_link *out); /* Shlink's
	                     findIfExists (sh_link_match); SH_ENOTFOUND */
	int (*link_update)(store *s, const sh_link *l);  /* all fields and tags by id */
	/* on: link id claims its (domain, owner, url_hash) for deduplication,
	 * SH_ETAKEN when another link holds that claim (the database's unique
	 * key: two instances deduplicating the same URL cannot both create);
	 * off: gives the claim up (an edited link) */
	int (*link_dedupe)(store *s, int64_t id, bool on);
	int (*link_delete)(store *s, int64_t id);        /* with its codes, tags, visits */
	int (*link_list)(store *s, const sh_list_query *q, sh_link_cb cb, void *ud,
	                 int64_t *total /* may be NULL: matching rows, ignoring limit/offset */);

	/* visits: one call adds many (log rows, daily aggregates, link counters,
	 * totals). Visits of links that no longer exist are dropped. */
	int (*visits_add)(store *s, const sh_visit *v, size_t n);
	int (*visits_list)(store *s, const sh_visit_query *q, sh_visit_cb cb, void *ud,
	                   int64_t *total);
	int (*visits_totals)(store *s, int64_t owner_key_id,
	                     sh_visit_totals *links, sh_visit_totals *orphans);
	int (*visits_delete)(store *s, int64_t link_id /* 0 = orphan visits */, int64_t *deleted);
	/* Drops the details (referrer, user agent, visited URL, location) of
	 * up to max_rows visits logged before `before` (Unix seconds), oldest
	 * first, past the ones already done (a watermark in meta); the visits
	 * and every count stay. *pruned: how many rows it looked at. */
	int (*visits_prune_details)(store *s, int64_t before, int64_t max_rows, int64_t *pruned);

	/* tags */
	int (*tags_stats)(store *s, const sh_tag_query *q, sh_tag_cb cb, void *ud,
	                  int64_t *total); /* in q->order (ties by name); total:
	                                      every matching tag, NULL = not counted */
	int (*tag_rename)(store *s, const char *from, const char *to); /* ENOTFOUND, ETAKEN */
	int (*tag_delete)(store *s, const char *tag);   /* ENOTFOUND */

	/* domains (sh_domain) */
	int (*domain_list)(store *s, sh_domain_cb cb, void *ud); /* every row, by id */
	/* the id of authority's row, made when there is none (one statement:
	 * instances adding the same authority at once get the same id) */
	int (*domain_add)(store *s, const char *authority, int64_t *id);
	/* sets the three redirects of d->authority's row (made when missing) */
	int (*domain_set_redirects)(store *s, const sh_domain *d);

	/* API keys */
	int (*key_insert)(store *s, sh_api_key *k);     /* sets k->id */
	int (*key_get_by_hash)(store *s, const uint8_t hash[SH_KEY_HASH_BYTES],
	                       sh_api_key *out);        /* SH_ENOTFOUND */
	int (*key_list)(store *s, sh_key_cb cb, void *ud);
	int (*key_revoke)(store *s, int64_t id, int64_t when); /* SH_ENOTFOUND */
	int (*key_count)(store *s, int64_t *n);         /* active keys */

	/* changes: tells every instance's feed (store_feed_*) msg when the
	 * current transaction commits, or at once outside one. A no-op where
	 * no other process keeps a cache of the store (SQLite). */
	int (*notify)(store *s, const char *msg);

	/* copying a whole store (sh_copy_table above): every row of a table,
	 * in key order; one row in (inside the caller's transaction; row NULL:
	 * the table's last row was put, and a backend that sent its rows
	 * without waiting (PostgreSQL's pipeline) says now if one failed); the rows
	 * of links, keys, domains and visits there are (0: empty); after the
	 * last row: the id sequences above every copied id and the derived
	 * indexes rebuilt */
	int (*copy_rows)(store *s, int table, sh_row_cb cb, void *ud);
	int (*copy_put)(store *s, int table, const sh_cell *row);
	int (*copy_count)(store *s, int64_t *rows);
	int (*copy_finish)(store *s);
} store_ops;

/* The base every backend's handle starts with. */
struct store {
	const store_ops *ops;
	char *url;                  /* what it was opened with */
	sh_err last_err;            /* detail of the last failure */
	/* group mode (store_group_begin), read by a backend that honours it;
	 * both cleared when the transaction ends */
	bool group;
	bool group_failed;          /* an op failed in group mode */
	bool group_deferred;        /* ... found late: a write queued earlier in the
	                               group (PostgreSQL's pipeline) failed, maybe
	                               another unit's (store_group_deferred) */
};

typedef struct store_options {
	const char *synchronous;    /* "full" (default) | "normal" | "off" */
	int busy_timeout_ms;        /* 5000 */
	bool read_only;             /* a reader connection (HTTP workers) */
	bool create;                /* create the file / parent directory if missing */
} store_options;

void store_options_default(store_options *o);

/*
 * Opens a connection. url: "sqlite:PATH", a bare PATH, "memory:" (private
 * to this handle) or "memory:NAME" (in-process; all handles on the same
 * NAME share data until the last is closed; a writer's open transaction
 * keeps readers waiting), "postgres://..." or "postgresql://..." (libpq). Returns 0 or SH_E*
 * with err saying what failed and how to fix it.
 */
int store_open(store **out, const char *url, const store_options *o, sh_err *err);
void store_close(store *s);

/* What a backend can do, for the layers above that must not name it. */
enum store_cap {
	STORE_CAP_REOPEN = 1u << 0,    /* closing the last connection keeps the data (file, server) */
	STORE_CAP_RECONNECT = 1u << 1, /* a connection that lost its server reconnects on its own */
	STORE_CAP_CODE_KEY = 1u << 2,  /* every code, a generated one too, is a row of one unique
	                                  key: inserting a link whose generated code a custom code
	                                  holds fails SH_ETAKEN (no check needed first) */
};
unsigned store_caps(const store *s);
/* a URL that every connection of this process can open to reach the same data as url (memory: -> a named one); malloc'ed */
char *store_url_shared(const char *url);
/* where the store's data lives, for messages ("no store at X"), and whether it exists: 0 / SH_E* */
int store_locate(const char *url, char *where, size_t wsz, bool *exists);

/* Wrappers: same meaning as the ops above. */
int store_migrate(store *s, sh_err *err);
int store_schema_version(store *s, int *current, int *latest);
int store_ping(store *s);
int store_begin(store *s);
int store_commit(store *s);
int store_rollback(store *s);
int store_savepoint(store *s);
int store_release(store *s);
int store_rollback_to(store *s);
bool store_in_txn(store *s);

/*
 * Group mode, for the writer's group commit: until the current transaction
 * ends (store_commit, store_rollback), an op inside it may run without its
 * own savepoint, so a failed op may leave part of its writes. The caller
 * promises to undo the whole transaction when store_group_failed says an
 * op failed (even one whose failure it took as an answer). A savepoint per
 * op costs a third of a create on SQLite (the pages it touches are copied
 * to the statement journal first). PostgreSQL goes further: in group
 * mode it sends a write whose only answer is "done" without waiting for it
 * (libpq's pipeline), and its failure is found at a later op
 * (store_group_deferred).
 */
void store_group_begin(store *s);
bool store_group_failed(const store *s);
/* The failure was a write's queued earlier in the group and found at a
 * later op (a backend may send group-mode writes without waiting for their
 * answer: PostgreSQL's pipeline): the op that returned it may belong to
 * another unit than the write. Cleared by store_begin. */
bool store_group_deferred(const store *s);
int store_meta_get(store *s, const char *key, char **val);
int store_meta_set(store *s, const char *key, const char *val);
int store_meta_add(store *s, const char *key, const char *val, char **stored);
int store_next_id(store *s, int64_t min, int64_t *id);
int store_link_insert(store *s, const sh_link *l);
int store_link_get(store *s, int64_t id, sh_link *out);
int store_link_get_by_code(store *s, const char *code, sh_link *out);
int store_code_exists(store *s, const char *code, bool *exists);
int store_link_find_dup(store *s, uint64_t url_hash, const char *url,
                        int64_t owner_key_id, sh_link *out);
/* The same on domain domain_id (the three above: the default domain). */
int store_link_get_by_code_in(store *s, int64_t domain_id, const char *code, sh_link *out);
int store_code_exists_in(store *s, int64_t domain_id, const char *code, bool *exists);
int store_link_find_dup_in(store *s, int64_t domain_id, uint64_t url_hash, const char *url,
                           int64_t owner_key_id, sh_link *out);
int store_domain_list(store *s, sh_domain_cb cb, void *ud);
int store_domain_add(store *s, const char *authority, int64_t *id);
int store_domain_set_redirects(store *s, const sh_domain *d);
int store_link_find_match(store *s, const sh_link_match *m, sh_link *out);
int store_link_update(store *s, const sh_link *l);
int store_link_dedupe(store *s, int64_t id, bool on);
int store_link_delete(store *s, int64_t id);
int store_link_list(store *s, const sh_list_query *q, sh_link_cb cb, void *ud,
                    int64_t *total);
int store_visits_add(store *s, const sh_visit *v, size_t n);
int store_visits_list(store *s, const sh_visit_query *q, sh_visit_cb cb, void *ud,
                      int64_t *total);
int store_visits_totals(store *s, int64_t owner_key_id, sh_visit_totals *links,
                        sh_visit_totals *orphans);
int store_visits_delete(store *s, int64_t link_id, int64_t *deleted);
int store_visits_prune_details(store *s, int64_t before, int64_t max_rows, int64_t *pruned);
int store_tags_stats(store *s, const sh_tag_query *q, sh_tag_cb cb, void *ud,
                     int64_t *total);
int store_tag_rename(store *s, const char *from, const char *to);
int store_tag_delete(store *s, const char *tag);
int store_key_insert(store *s, sh_api_key *k);
int store_key_get_by_hash(store *s, const uint8_t hash[SH_KEY_HASH_BYTES], sh_api_key *out);
int store_key_list(store *s, sh_key_cb cb, void *ud);
int store_key_revoke(store *s, int64_t id, int64_t when);
int store_key_count(store *s, int64_t *n);

int store_notify(store *s, const char *msg);
int store_copy_rows(store *s, int table, sh_row_cb cb, void *ud);
int store_copy_put(store *s, int table, const sh_cell *row);
int store_copy_count(store *s, int64_t *rows);
int store_copy_finish(store *s);

/*
 * The feed of changes committed by every instance on a shared store
 * (PostgreSQL: a connection of its own that LISTENs; msg as given to
 * store_notify, at most STORE_NOTIFY_MAX bytes). store_feed_open gives
 * *out = NULL and 0 for a store without one (SQLite: one process writes).
 * store_feed_wait waits up to timeout_ms, calls cb for each message, and
 * says whether the feed is listening: FEED_OK, FEED_LOST (not listening:
 * the connection was lost or its heartbeat went unanswered; it reconnects
 * by itself, with backoff, on later calls; changes made meanwhile are not
 * told), FEED_BACK (listening again, or for the first time: changes made
 * before are not told).
 */
#define STORE_NOTIFY_MAX 7900
enum { FEED_OK = 0, FEED_LOST = 1, FEED_BACK = 2 };
typedef struct store_feed store_feed;
typedef void (*store_feed_cb)(const char *msg, void *ud);
int store_feed_open(store_feed **out, const char *url, sh_err *err);
int store_feed_wait(store_feed *f, int timeout_ms, store_feed_cb cb, void *ud);
void store_feed_close(store_feed *f);

/*
 * Lookups that do not wait (a redirect's cache miss; PostgreSQL only):
 * store_lookups_open gives *out = NULL and 0 for a store without them
 * (SQLite answers a miss in microseconds: the caller reads the blocking
 * way). store_lookup_send sends the lookup of the link a redirect of code
 * on domain_id finds (the link of id when code is its counter code there,
 * id -1 when code decodes to none; else the link of the custom code), and
 * returns at once: 0, or SH_E* (SH_EBUSY: too many in flight, read it the
 * blocking way; else the store is away). The answers come, in the order
 * sent, through cb(ud, rc, link) (rc 0, SH_ENOTFOUND, or SH_E*; link only
 * with 0, valid during the call) from store_lookups_run, which the caller
 * calls when store_lookups_fd is readable and when store_lookups_timeout_ms
 * (-1: nothing in flight) has passed: every lookup has the store's query
 * deadline. Only the opening thread uses it. The open does not need the
 * server: when it cannot connect, the handle is made to connect by
 * store_lookups_reconnect, as a lost connection is (with the store's
 * backoff; until then a send answers STORE_LOOKUP_RECONNECT). store_lookups_sent_count: the
 * lookups sent since start, every handle of the process
 * (shorty_store_misses_pipelined_total).
 */
typedef struct store_lookups store_lookups;
typedef void (*store_lookup_cb)(void *ud, int rc, const sh_link *link);
int store_lookups_open(store_lookups **out, const char *url, store_lookup_cb cb, sh_err *err);
/* STORE_LOOKUP_RECONNECT (from send): the connection is down and nothing is
 * in flight: nothing was sent; store_lookups_reconnect makes it again (it
 * waits up to the connect deadline: call it where waiting does no harm,
 * while the opening thread does not touch q). 0, or SH_E* (the store's
 * backoff: the next try comes later). */
#define STORE_LOOKUP_RECONNECT 1
int store_lookup_send(store_lookups *q, int64_t domain_id, int64_t id, const char *code,
                      void *ud);
int store_lookups_reconnect(store_lookups *q);
void store_lookups_run(store_lookups *q);
int store_lookups_fd(const store_lookups *q);
int store_lookups_timeout_ms(const store_lookups *q);
unsigned store_lookups_inflight(const store_lookups *q);
void store_lookups_close(store_lookups *q);
uint64_t store_lookups_sent_count(void);

/* Errors counted by the wrappers (shorty_store_errors_total). SH_ENOTFOUND
 * and SH_ETAKEN are answers, not errors, and are not counted. */
uint64_t store_error_count(void);

/*
 * Fault injection (tests only; a no-op unless armed). After `after` more
 * successful wrapper calls whose name contains `op_substr` (NULL = any),
 * the next `count` such calls fail with `code` without reaching the backend
 * (count < 0: every call from then on). store_fault_clear() disarms.
 * Also armed from the environment at store_open: SHORTY_FAULT="op:after:count:code".
 */
void store_fault_set(const char *op_substr, int after, int count, int code);
void store_fault_clear(void);

/* Backends (store/sqlite.c): a file, or "memory:[NAME]" (NAME without the
 * "memory:" prefix is accepted too) on SQLite's in-memory VFS. */
int store_sqlite_open(store **out, const char *path, const store_options *o, sh_err *err);
int store_memory_open(store **out, const char *name, const store_options *o, sh_err *err);
/* Backend store/postgres.c: url is any libpq connection URI or string. */
int store_postgres_open(store **out, const char *url, const store_options *o, sh_err *err);

#endif

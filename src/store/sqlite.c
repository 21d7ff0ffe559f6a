/*
 * sqlite.c — the embedded SQLite backend of the store interface (store.h).
 *
 * One `sq_store` is one SQLite connection (SQLITE_OPEN_NOMUTEX: the caller
 * guarantees one thread at a time). WAL lets the HTTP workers' read-only
 * connections run beside the single writer connection.
 *
 * Shape of the data (see `migrations` below):
 *   links        one row per link; generated ("counter") codes are NOT
 *                stored: the service derives them from the id, so a lookup
 *                by such a code is an INTEGER PRIMARY KEY lookup. The store
 *                returns code "" for those rows.
 *   codes        custom / random / hash codes -> link id (case-sensitive).
 *   link_tags    (link, tag) pairs, sorted by tag.
 *   link_counts  each link's visit counters (link_id, visits, bots): narrow,
 *                so that a flush dirties few pages (schema 2).
 *   visits       the visit log, append-only, in id order, NOT indexed by
 *                link as it is written (link_id 0 for orphan visits).
 *   visits_by_link  (run, link_id, id): the log indexed by link, filled in
 *                bulk by the writer once VINDEX_TAIL visits are past meta
 *                'visits_indexed_upto': each such tail becomes one run,
 *                keyed by its last visit id (listed in visit_runs) and
 *                sorted by link in it, so a run is appended at the B-tree's
 *                end (schema 6; one tree sorted by (link_id, id) had every
 *                merge rewrite most of its pages: a cost per visit that
 *                grew with the log). Per-link queries seek the link in each
 *                run (one descent per 131,072 visits logged) and scan the
 *                short unindexed tail.
 *   visit_totals running totals (row 0: link visits, row 1: orphans), kept
 *                equal to SUM(link_counts.visits) so totals never scan.
 *   api_keys, meta.
 *
 * Every query is a prepared statement with bound parameters. Fixed queries
 * are prepared once per connection (lazily, SQLITE_PREPARE_PERSISTENT) and
 * kept in `st[]`, indexed by an enum. The list queries have optional filters;
 * their text is assembled by sqlq.c (shared with postgres.c) from fixed
 * fragments only (never from input) and kept in a small per-connection
 * cache keyed by that text.
 *
 * Multi-statement writes (insert a link with its code and tags, add a batch
 * of visits, ...) run atomically: in their own BEGIN IMMEDIATE transaction
 * when none is open, else inside a savepoint of the caller's transaction.
 */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "shorty/store.h"
#include "shorty/timeutil.h"
#include "store/sqlq.h"

/* ---- schema -------------------------------------------------------------- */

/* Each entry moves the schema from version i to i + 1 (PRAGMA user_version),
 * in one transaction. Never edit a released entry: append a new one. */
static const char *const migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE links("
    " id INTEGER PRIMARY KEY,"
    " code_kind INTEGER NOT NULL DEFAULT 0,"
    " url TEXT NOT NULL,"
    " url_hash INTEGER NOT NULL,"
    " title TEXT,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " valid_since INTEGER NOT NULL DEFAULT 0,"
    " expires_at INTEGER NOT NULL DEFAULT 0,"
    " max_visits INTEGER NOT NULL DEFAULT 0,"
    " visits INTEGER NOT NULL DEFAULT 0,"
    " bot_visits INTEGER NOT NULL DEFAULT 0,"
    " redirect_status INTEGER NOT NULL DEFAULT 302,"
    " forward_query INTEGER NOT NULL DEFAULT 1,"
    " crawlable INTEGER NOT NULL DEFAULT 0,"
    " disabled INTEGER NOT NULL DEFAULT 0,"
    " owner_key_id INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX links_url_hash ON links(url_hash);"
    "CREATE INDEX links_created ON links(created_at);"
    "CREATE TABLE codes("
    " code TEXT COLLATE BINARY PRIMARY KEY,"
    " link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE UNIQUE INDEX codes_link ON codes(link_id);"
    "CREATE TABLE link_tags("
    " link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,"
    " tag TEXT NOT NULL,"
    " PRIMARY KEY(link_id, tag)) WITHOUT ROWID;"
    "CREATE INDEX link_tags_tag ON link_tags(tag);"
    "CREATE TABLE visits("
    " id INTEGER PRIMARY KEY,"
    " link_id INTEGER REFERENCES links(id) ON DELETE CASCADE,"
    " ts INTEGER NOT NULL,"
    " kind INTEGER NOT NULL,"
    " orphan_type INTEGER NOT NULL DEFAULT 0,"
    " referer TEXT, user_agent TEXT, visited_url TEXT, ip TEXT);"
    "CREATE INDEX visits_link ON visits(link_id, id);"
    "CREATE TABLE visits_daily("
    " link_id INTEGER NOT NULL,"
    " day INTEGER NOT NULL,"
    " visits INTEGER NOT NULL DEFAULT 0,"
    " bots INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(link_id, day)) WITHOUT ROWID;"
    "CREATE TABLE visit_totals("
    " kind INTEGER PRIMARY KEY,"
    " total INTEGER NOT NULL DEFAULT 0,"
    " bots INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO visit_totals(kind) VALUES (0), (1);"
    "CREATE TABLE api_keys("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " role INTEGER NOT NULL,"
    " hash BLOB NOT NULL UNIQUE,"
    " prefix TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " revoked_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",

    /* 2: visits at a tenth of the cost (docs/benchmarks.md). The counters
     * leave the wide links rows for a narrow table; the log loses its
     * per-visit index (and the foreign key, which needed it) and is indexed
     * by link lazily, in bulk (visits_by_link up to the id in meta
     * 'visits_indexed_upto'); orphan visits have link 0; visits_daily, which
     * nothing read, goes. */
    "CREATE TABLE link_counts("
    " link_id INTEGER PRIMARY KEY,"
    " visits INTEGER NOT NULL DEFAULT 0,"
    " bots INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO link_counts(link_id, visits, bots) SELECT id, visits, bot_visits FROM links;"
    "ALTER TABLE links DROP COLUMN visits;"
    "ALTER TABLE links DROP COLUMN bot_visits;"
    "CREATE TABLE visits2("
    " id INTEGER PRIMARY KEY,"
    " link_id INTEGER NOT NULL,"
    " ts INTEGER NOT NULL,"
    " kind INTEGER NOT NULL,"
    " orphan_type INTEGER NOT NULL DEFAULT 0,"
    " referer TEXT, user_agent TEXT, visited_url TEXT, ip TEXT);"
    "INSERT INTO visits2 SELECT id, coalesce(link_id, 0), ts, kind, orphan_type, referer,"
    " user_agent, visited_url, ip FROM visits ORDER BY id;"
    "DROP TABLE visits;"
    "ALTER TABLE visits2 RENAME TO visits;"
    "CREATE TABLE visits_by_link("
    " link_id INTEGER NOT NULL,"
    " id INTEGER NOT NULL,"
    " PRIMARY KEY(link_id, id)) WITHOUT ROWID;"
    "INSERT INTO visits_by_link SELECT link_id, id FROM visits ORDER BY link_id, id;"
    "INSERT INTO meta(key, value) SELECT 'visits_indexed_upto', coalesce(max(id), 0)"
    " FROM visits;"
    "DROP TABLE visits_daily;",

    /* 3: redirect rules (issue 9): a link's Shlink redirect rules as the
     * JSON array rules_to_json() writes, NULL for none; a visit's location
     * (Shlink's visitLocation, JSON), NULL when unknown. New columns only. */
    ("ALTER TABLE links ADD COLUMN redirect_rules TEXT;"
     "ALTER TABLE visits ADD COLUMN location TEXT;"),

    /* 4: domains (issue 9): a link belongs to a domain (0: the default
     * one, which has no row); codes are unique per (domain, code), so the
     * codes table is rebuilt with the domain in its key. Existing links and
     * codes are the default domain's. */
    ("CREATE TABLE domains("
     " id INTEGER PRIMARY KEY,"
     " authority TEXT NOT NULL UNIQUE,"
     " base_url_redirect TEXT,"
     " regular_404_redirect TEXT,"
     " invalid_short_url_redirect TEXT);"
     "ALTER TABLE links ADD COLUMN domain_id INTEGER NOT NULL DEFAULT 0;"
     "CREATE TABLE codes2("
     " domain_id INTEGER NOT NULL DEFAULT 0,"
     " code TEXT COLLATE BINARY NOT NULL,"
     " link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,"
     " PRIMARY KEY(domain_id, code)) WITHOUT ROWID;"
     "INSERT INTO codes2(domain_id, code, link_id) SELECT 0, code, link_id FROM codes;"
     "DROP TABLE codes;"
     "ALTER TABLE codes2 RENAME TO codes;"
     "CREATE UNIQUE INDEX codes_link ON codes(link_id);"),

    /* 5: the dedupe claim (issue 8 item 2): a link made by a create that
     * deduplicates holds its (domain, owner, URL hash) under a unique key,
     * so that two writers deduplicating the same URL cannot both create;
     * an edited link gives its claim up (sq_link_dedupe). */
    ("ALTER TABLE links ADD COLUMN dedupe INTEGER NOT NULL DEFAULT 0;"
     "CREATE UNIQUE INDEX links_dedupe ON links(domain_id, owner_key_id, url_hash)"
     " WHERE dedupe = 1;"),

    /* 6: the log's index by link in runs (see visits_by_link above): what
     * was indexed becomes the first run, keyed by the last indexed id */
    ("CREATE TABLE visit_runs(run INTEGER PRIMARY KEY);"
     "INSERT INTO visit_runs(run) SELECT CAST(value AS INTEGER) FROM meta"
     " WHERE key = 'visits_indexed_upto' AND CAST(value AS INTEGER) > 0;"
     "CREATE TABLE visits_by_run("
     " run INTEGER NOT NULL,"
     " link_id INTEGER NOT NULL,"
     " id INTEGER NOT NULL,"
     " PRIMARY KEY(run, link_id, id)) WITHOUT ROWID;"
     "INSERT INTO visits_by_run(run, link_id, id)"
     " SELECT (SELECT max(run) FROM visit_runs), link_id, id FROM visits_by_link"
     " ORDER BY link_id, id;"
     "DROP TABLE visits_by_link;"
     "ALTER TABLE visits_by_run RENAME TO visits_by_link;"),
};
#define SCHEMA_LATEST ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* ---- statements ---------------------------------------------------------- */

#define LINK_COLS                                                                                  \
	"l.id, coalesce(c.code, ''), l.code_kind, l.url, l.url_hash, l.title,"                     \
	" l.created_at, l.updated_at, l.valid_since, l.expires_at, l.max_visits,"                  \
	" coalesce(n.visits, 0), coalesce(n.bots, 0), l.redirect_status, l.forward_query,"         \
	" l.crawlable, l.disabled, l.owner_key_id, l.redirect_rules, l.domain_id,"                 \
	" coalesce((SELECT d.authority FROM domains d WHERE d.id = l.domain_id), '')"
#define COUNTS_JOIN " LEFT JOIN link_counts n ON n.link_id = l.id"
#define LINK_FROM " FROM links l LEFT JOIN codes c ON c.link_id = l.id" COUNTS_JOIN
/* the last visit id in visits_by_link; the log past it is the tail */
#define VINDEX_UPTO                                                                                \
	"coalesce((SELECT CAST(value AS INTEGER) FROM meta"                                        \
	" WHERE key = 'visits_indexed_upto'), 0)"
/* The ids of the visits of the links whose link_id matches the condition
 * that follows each "link_id" (the same text twice, bound twice): the
 * indexed part, then the tail. */
#define VISIT_IDS_OF_INDEXED                                                                       \
	"SELECT x.id FROM visits_by_link x WHERE x.run IN (SELECT run FROM visit_runs) AND x.link_id"
#define VISIT_IDS_OF_TAIL                                                                          \
	" UNION ALL SELECT t.id FROM visits t WHERE t.id > " VINDEX_UPTO " AND t.link_id"
#define KEY_COLS "id, name, role, hash, prefix, created_at, revoked_at"

/* one visit log row: VROW_PARAMS parameters */
#define VROW "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define VROW_PARAMS 9
#define VROWS4 VROW ", " VROW ", " VROW ", " VROW
#define VROWS16 VROWS4 ", " VROWS4 ", " VROWS4 ", " VROWS4
#define VROWS64 VROWS16 ", " VROWS16 ", " VROWS16 ", " VROWS16
#define VISIT_ROWS 64
/* 16 values, for the counters' IN list and the index rows */
#define P4 "?, ?, ?, ?"
#define P16 P4 ", " P4 ", " P4 ", " P4
#define P64 P16 ", " P16 ", " P16 ", " P16
#define IROW "(?, ?, ?)"
#define IROWS4 IROW ", " IROW ", " IROW ", " IROW
#define IROWS16 IROWS4 ", " IROWS4 ", " IROWS4 ", " IROWS4
#define IROWS64 IROWS16 ", " IROWS16 ", " IROWS16 ", " IROWS16
#define BUMP_LINKS 64 /* links whose counters one statement adds to */
#define INDEX_ROWS 64 /* index rows one statement inserts */

enum st_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_OP_SP,
	ST_OP_RELEASE,
	ST_OP_ROLLBACK_TO,
	ST_PING,
	ST_META_GET,
	ST_META_SET,
	ST_META_ADD,
	ST_NEXT_ID,
	ST_LINK_INSERT,
	ST_CODE_INSERT,
	ST_CODES_DELETE_LINK,
	ST_TAG_INSERT,
	ST_TAGS_DELETE_LINK,
	ST_TAGS_OF,
	ST_LINK_GET,
	ST_LINK_GET_BY_CODE,
	ST_CODE_EXISTS,
	ST_FIND_DUP,
	ST_LINK_UPDATE,
	ST_LINK_DELETE,
	ST_ID_HWM_BUMP,
	ST_LINK_EXISTS,
	ST_LINK_DEDUPE,
	ST_TOTALS_SUB_LINK,
	ST_TOTALS_ADD,
	ST_TOTALS_GET,
	ST_TOTALS_OWNER,
	ST_TOTALS_RESET_ORPHANS,
	ST_COUNTS_INSERT,
	ST_COUNTS_DELETE,
	ST_COUNTS_BUMP_N,
	ST_COUNTS_BUMP_RANGE,
	ST_LINK_RESET_VISITS,
	ST_VISIT_INSERT,
	ST_VISIT_INSERT_N,
	ST_VISITS_DELETE_LINK,
	ST_VINDEX_DELETE_LINK,
	ST_VINDEX_UPTO,
	ST_VINDEX_TAIL,
	ST_VINDEX_INSERT,
	ST_VINDEX_RUN,
	ST_VISIT_MAX_ID,
	ST_VISIT_INSERT_AT,
	ST_VINDEX_INSERT_N,
	ST_VINDEX_MARK,
	ST_KEY_INSERT,
	ST_KEY_GET,
	ST_KEY_LIST,
	ST_KEY_REVOKE,
	ST_KEY_EXISTS,
	ST_KEY_COUNT,
	ST_DOMAIN_LIST,
	ST_DOMAIN_ADD,
	ST_DOMAIN_REDIRECTS,
	ST__COUNT
};

static const char *const st_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* the savepoint an op takes inside the caller's transaction */
    [ST_OP_SP] = "SAVEPOINT shorty_op",
    [ST_OP_RELEASE] = "RELEASE shorty_op",
    [ST_OP_ROLLBACK_TO] = "ROLLBACK TO shorty_op",
    [ST_PING] = "SELECT count(*) FROM sqlite_schema",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_SET] = "INSERT INTO meta(key, value) VALUES (?1, ?2)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    /* ids are never reused: a deleted link's code must keep answering 404,
     * so the next id also stays above the highest id ever deleted (id_hwm) */
    [ST_META_ADD] = "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
    [ST_NEXT_ID] = "SELECT max(coalesce((SELECT max(id) FROM links), 0) + 1,"
                   " coalesce((SELECT CAST(value AS INTEGER) FROM meta"
                   " WHERE key = 'id_hwm'), 0) + 1, ?1)",
    [ST_LINK_INSERT] = "INSERT INTO links(id, code_kind, url, url_hash, title, created_at,"
                       " updated_at, valid_since, expires_at, max_visits,"
                       " redirect_status, forward_query, crawlable, disabled, owner_key_id,"
                       " redirect_rules, domain_id)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
                       " ?13, ?14, ?15, ?16, ?17)", /* as ST_LINK_UPDATE: bind_link(),
                                                       and the domain */
    [ST_CODE_INSERT] = "INSERT INTO codes(code, link_id, domain_id) VALUES (?1, ?2, ?3)",
    [ST_CODES_DELETE_LINK] = "DELETE FROM codes WHERE link_id = ?1",
    [ST_TAG_INSERT] = "INSERT OR IGNORE INTO link_tags(link_id, tag) VALUES (?1, ?2)",
    [ST_TAGS_DELETE_LINK] = "DELETE FROM link_tags WHERE link_id = ?1",
    [ST_TAGS_OF] = "SELECT tag FROM link_tags WHERE link_id = ?1 ORDER BY tag",
    [ST_LINK_GET] = "SELECT " LINK_COLS LINK_FROM " WHERE l.id = ?1",
    [ST_LINK_GET_BY_CODE] =
        "SELECT " LINK_COLS " FROM codes c JOIN links l ON l.id = c.link_id" COUNTS_JOIN
        " WHERE c.domain_id = ?2 AND c.code = ?1",
    [ST_CODE_EXISTS] = "SELECT 1 FROM codes WHERE domain_id = ?2 AND code = ?1",
    /* "an equivalent link": same URL and owner, a generated code (any kind
     * but custom), no expiry, no visit limit, not disabled */
    [ST_FIND_DUP] = "SELECT " LINK_COLS LINK_FROM
                    " WHERE l.url_hash = ?1 AND l.url = ?2 AND l.owner_key_id = ?3"
                    " AND l.code_kind <> 1 AND l.expires_at = 0 AND l.max_visits = 0"
                    " AND l.disabled = 0 AND l.domain_id = ?4 ORDER BY l.id DESC LIMIT 1",
    /* the counters (link_counts) are owned by visits_add / visits_delete:
     * an update made from a stale copy of the link must not undo counts */
    [ST_LINK_UPDATE] = "UPDATE links SET code_kind = ?2, url = ?3, url_hash = ?4, title = ?5,"
                       " created_at = ?6, updated_at = ?7, valid_since = ?8, expires_at = ?9,"
                       " max_visits = ?10, redirect_status = ?11, forward_query = ?12,"
                       " crawlable = ?13, disabled = ?14, owner_key_id = ?15,"
                       " redirect_rules = ?16 WHERE id = ?1",
    [ST_LINK_DELETE] = "DELETE FROM links WHERE id = ?1",
    [ST_ID_HWM_BUMP] = "INSERT INTO meta(key, value) VALUES ('id_hwm', ?1)"
                       " ON CONFLICT(key) DO UPDATE SET value ="
                       " max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
    [ST_LINK_EXISTS] = "SELECT 1 FROM links WHERE id = ?1",
    [ST_LINK_DEDUPE] = "UPDATE links SET dedupe = ?2 WHERE id = ?1",
    [ST_TOTALS_SUB_LINK] =
        "UPDATE visit_totals SET"
        " total = total - coalesce((SELECT visits FROM link_counts WHERE link_id = ?1), 0),"
        " bots = bots - coalesce((SELECT bots FROM link_counts WHERE link_id = ?1), 0)"
        " WHERE kind = 0",
    [ST_TOTALS_ADD] = "UPDATE visit_totals SET total = total + ?2, bots = bots + ?3"
                      " WHERE kind = ?1",
    [ST_TOTALS_GET] = "SELECT kind, total, bots FROM visit_totals",
    [ST_TOTALS_OWNER] = "SELECT coalesce(sum(n.visits), 0), coalesce(sum(n.bots), 0)"
                        " FROM links l JOIN link_counts n ON n.link_id = l.id"
                        " WHERE l.owner_key_id = ?1",
    [ST_TOTALS_RESET_ORPHANS] = "UPDATE visit_totals SET total = 0, bots = 0 WHERE kind = 1",
    [ST_COUNTS_INSERT] = "INSERT INTO link_counts(link_id, visits, bots) VALUES (?1, ?2, ?3)",
    [ST_COUNTS_DELETE] = "DELETE FROM link_counts WHERE link_id = ?1",
    /* visits_add runs this once per distinct link of a batch, in link
     * order, with the batch's counts; no row = the link is gone */
    [ST_COUNTS_BUMP_N] = "UPDATE OR FAIL link_counts SET"
                         " visits = visits + shorty_visit_delta(link_id, 0),"
                         " bots = bots + shorty_visit_delta(link_id, 1)"
                         " WHERE link_id IN (" P64 ")",
    /* the same for a dense stretch of links: the rows of the id range,
     * read in order, each updated when the batch holds it */
    [ST_COUNTS_BUMP_RANGE] = "UPDATE OR FAIL link_counts SET"
                             " visits = visits + shorty_visit_delta(link_id, 0),"
                             " bots = bots + shorty_visit_delta(link_id, 1)"
                             " WHERE link_id BETWEEN ?1 AND ?2 AND shorty_visit_delta(link_id, 2)",
    [ST_LINK_RESET_VISITS] = "UPDATE link_counts SET visits = 0, bots = 0 WHERE link_id = ?1",
    /* OR FAIL: a multi-row statement that may abort half-way needs a
     * statement journal (a sub-transaction per statement) to undo its
     * first rows; OR FAIL keeps them instead, which costs nothing here: any
     * error fails the writer's whole group, which is rolled back. */
    [ST_VISIT_INSERT] = "INSERT OR FAIL INTO visits(link_id, ts, kind, orphan_type, referer,"
                        " user_agent, visited_url, ip, location) VALUES " VROW,
    /* VISIT_ROWS rows a statement: the per-statement work (step, reset,
     * the VDBE's set-up) shared by 64 log rows */
    [ST_VISIT_INSERT_N] = "INSERT OR FAIL INTO visits(link_id, ts, kind, orphan_type, referer,"
                          " user_agent, visited_url, ip, location) VALUES " VROWS64,
    /* a link's visits (link 0: the orphans) */
    [ST_VISITS_DELETE_LINK] =
        "DELETE FROM visits WHERE id IN (" VISIT_IDS_OF_INDEXED " = ?1" VISIT_IDS_OF_TAIL " = ?1)",
    [ST_VINDEX_DELETE_LINK] = "DELETE FROM visits_by_link"
                              " WHERE run IN (SELECT run FROM visit_runs) AND link_id = ?1",
    [ST_VINDEX_UPTO] = "SELECT " VINDEX_UPTO,
    /* the tail (?1, ?2] of the log, read to be indexed (sorted in C:
     * SQLite's sorter cost 5 times as much) */
    [ST_VINDEX_TAIL] = "SELECT link_id, id FROM visits WHERE id > ?1 AND id <= ?2",
    [ST_VINDEX_INSERT] = "INSERT OR FAIL INTO visits_by_link(run, link_id, id) VALUES " IROW,
    [ST_VINDEX_INSERT_N] = "INSERT OR FAIL INTO visits_by_link(run, link_id, id) VALUES " IROWS64,
    [ST_VINDEX_RUN] = "INSERT INTO visit_runs(run) VALUES (?1)",
    [ST_VISIT_MAX_ID] = "SELECT coalesce(max(id), 0) FROM visits",
    /* the first row of a batch when the log's newest rows, already
     * indexed, were deleted: SQLite would give their ids again, below the
     * indexed mark, where no per-link query looks (sq_visits_add) */
    [ST_VISIT_INSERT_AT] = "INSERT OR FAIL INTO visits(id, link_id, ts, kind, orphan_type,"
                           " referer, user_agent, visited_url, ip, location)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_VINDEX_MARK] = "INSERT INTO meta(key, value) VALUES ('visits_indexed_upto', ?1)"
                       " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_KEY_INSERT] = "INSERT INTO api_keys(name, role, hash, prefix, created_at, revoked_at)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_KEY_GET] = "SELECT " KEY_COLS " FROM api_keys WHERE hash = ?1",
    [ST_KEY_LIST] = "SELECT " KEY_COLS " FROM api_keys ORDER BY id",
    [ST_KEY_REVOKE] = "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at = 0",
    [ST_KEY_EXISTS] = "SELECT 1 FROM api_keys WHERE id = ?1",
    [ST_KEY_COUNT] = "SELECT count(*) FROM api_keys WHERE revoked_at = 0",
    [ST_DOMAIN_LIST] = "SELECT id, authority, base_url_redirect, regular_404_redirect,"
                       " invalid_short_url_redirect FROM domains ORDER BY id",
    /* DO UPDATE (a no-op) rather than DO NOTHING: RETURNING then answers
     * for an existing row too */
    [ST_DOMAIN_ADD] = "INSERT INTO domains(authority) VALUES (?1) ON CONFLICT(authority)"
                      " DO UPDATE SET authority = excluded.authority RETURNING id",
    [ST_DOMAIN_REDIRECTS] = "INSERT INTO domains(authority, base_url_redirect,"
                            " regular_404_redirect, invalid_short_url_redirect)"
                            " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(authority) DO UPDATE SET"
                            " base_url_redirect = excluded.base_url_redirect,"
                            " regular_404_redirect = excluded.regular_404_redirect,"
                            " invalid_short_url_redirect = excluded.invalid_short_url_redirect",
};

/* ---- the handle ---------------------------------------------------------- */

#define DYN_MAX 16      /* cached list statements per connection */

/* A visit's place in its batch, sorted by (link, position); also a log
 * row's (link, id) for the index merge. */
struct vgroup {
	int64_t link;
	size_t i;
};

/* one link of a visit batch: its counts, where its visits start in the
 * batch sorted by link, and whether its counters row was found */
struct vlink {
	int64_t link, cnt, bots;
	size_t at;
	unsigned char seen;
};

/* the links whose counters one statement adds to (count_visits) */
struct vbump {
	struct vlink *w; /* sorted by link */
	size_t n;
	size_t at;       /* where the last call found its link (rows come in order) */
};

typedef struct sq_store {
	store base; /* first: a store * is an sq_store * */
	sqlite3 *db;
	bool read_only;
	int sp_depth;          /* open savepoints made by store_savepoint */
	bool rollback_pending; /* a ROLLBACK failed (out of memory): retried first */
	sqlite3_stmt *st[ST__COUNT];
	struct {
		char *sql;
		sqlite3_stmt *st;
	} dyn[DYN_MAX];
	int dyn_next; /* round-robin slot to replace */
	struct vbump bump; /* the counters being added (count_visits) */
	/* the (link, id) of the log rows (tfrom, tfrom + tn] this connection
	 * appended, in id order, kept for the next index merge so that it
	 * need not read them back (vindex_merge checks they are the tail) */
	struct vgroup *tp;
	size_t tn, tcap;
	int64_t tfrom;
	const codec_key *code_key; /* for shorty_code() during a list by code */
} sq_store;

static void visit_delta_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv);

static sq_store *SQ(store *s)
{
	return (sq_store *)s;
}

/* ---- errors -------------------------------------------------------------- */

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
			return SH_ETAKEN;
		return SH_ESTORE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return SH_EBUSY;
	case SQLITE_FULL:
		return SH_EFULL;
	case SQLITE_NOMEM:
		return SH_ENOMEM;
	default:
		return SH_ESTORE;
	}
}

/* Records the connection's last SQLite error in last_err; returns its SH_E*. */
static int sq_fail(sq_store *q, int rc, const char *what)
{
	int code = map_rc(rc);

	sh_err_set(&q->base.last_err, code, NULL, "sqlite %s: %s", what,
	           q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
	return code;
}

/* Sets last_err to a sentence of our own; returns code. */
#define sq_err(q, code, ...) sh_err_set(&(q)->base.last_err, (code), NULL, __VA_ARGS__)

static int user_version(sq_store *q, int *v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int(st, 0);
		rc = 0;
	} else {
		rc = sq_fail(q, rc, "reading the schema version");
	}
	sqlite3_finalize(st);
	return rc;
}

/* A statement failed to prepare: most often the schema is missing or old. */
static int prepare_failed(sq_store *q, int rc)
{
	int v = 0;
	char msg[SH_ERR_MSG_MAX];

	snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(q->db));
	if (user_version(q, &v) == 0 && v != SCHEMA_LATEST) {
		sh_err_set(&q->base.last_err, SH_ESCHEMA, NULL,
		           "the store's schema is at version %d, this shorty needs %d: "
		           "run `shorty migrate`",
		           v, SCHEMA_LATEST);
		return SH_ESCHEMA;
	}
	sh_err_set(&q->base.last_err, map_rc(rc), NULL, "sqlite prepare: %s", msg);
	return map_rc(rc);
}

static int stmt(sq_store *q, enum st_id id, sqlite3_stmt **out)
{
	int rc;

	if (!q->st[id]) {
		rc = sqlite3_prepare_v3(q->db, st_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
		                        &q->st[id], NULL);
		if (rc != SQLITE_OK) {
			q->st[id] = NULL;
			return prepare_failed(q, rc);
		}
	}
	*out = q->st[id];
	return 0;
}

/* Runs a statement that returns no row; resets it. */
static int step_done(sq_store *q, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sq_fail(q, rc, what);
	sqlite3_reset(st);
	return rc;
}

/* Runs fixed statement `id` with no parameters. */
static int run(sq_store *q, enum st_id id, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc = stmt(q, id, &st);

	return rc ? rc : step_done(q, st, what);
}

/* Binds a string cut to at most max bytes (at a UTF-8 character boundary),
 * or NULL. */
static int bind_text_max(sqlite3_stmt *st, int i, const char *s, size_t max)
{
	size_t n;

	if (!s)
		return sqlite3_bind_null(st, i);
	n = strnlen(s, max + 1);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return sqlite3_bind_text(st, i, s, (int)n, SQLITE_TRANSIENT);
}

static void copy_col(char *dst, size_t dstsz, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = t ? (size_t)sqlite3_column_bytes(st, col) : 0;

	if (n >= dstsz)
		n = dstsz - 1;
	if (n)
		memcpy(dst, t, n);
	dst[n] = '\0';
}

/* ---- op transactions ----------------------------------------------------- */

enum { OWN_NONE, OWN_TXN, OWN_SP, OWN_GROUP };

/* Makes the op that follows atomic: its own write transaction, or a
 * savepoint inside the caller's; none in the caller's group mode, where
 * a failure is only marked (store_group_begin). */
static int op_begin(sq_store *q, int *own)
{
	int rc;

	if (sqlite3_get_autocommit(q->db)) {
		rc = run(q, ST_BEGIN, "begin");
		*own = rc ? OWN_NONE : OWN_TXN;
	} else if (q->base.group) {
		/* the caller undoes its whole group if an op fails (store.h) */
		*own = OWN_GROUP;
		rc = 0;
	} else {
		rc = run(q, ST_OP_SP, "savepoint");
		*own = rc ? OWN_NONE : OWN_SP;
	}
	return rc;
}

/* Ends what op_begin started: keeps the op's work if rc == 0, else undoes
 * it (and only it). Returns the op's result, or the commit's failure. The
 * first error's message stays in last_err. */
static int op_end(sq_store *q, int own, int rc)
{
	if (own == OWN_TXN) {
		if (rc == 0) {
			rc = run(q, ST_COMMIT, "commit");
			if (rc == 0)
				return 0;
		}
		if (!sqlite3_get_autocommit(q->db)) {
			sh_err saved = q->base.last_err;
			run(q, ST_ROLLBACK, "rollback");
			q->base.last_err = saved;
		}
	} else if (own == OWN_SP) {
		if (rc == 0)
			return run(q, ST_OP_RELEASE, "release");
		if (!sqlite3_get_autocommit(q->db)) {
			sh_err saved = q->base.last_err;
			run(q, ST_OP_ROLLBACK_TO, "rollback to");
			run(q, ST_OP_RELEASE, "release");
			q->base.last_err = saved;
		}
	} else if (own == OWN_GROUP && rc != 0) {
		q->base.group_failed = true;
	}
	return rc;
}

/* ---- assembled queries ----------------------------------------------------
 * Built by sqlq.c (the conditions both SQL backends share); run here. */

static int sq_one(store *s, sqlq *b, int64_t *out, const char *what);
static int sq_exec(store *s, sqlq *b, int64_t *changes, const char *what);

static int sq_op_begin(store *s, int *own)
{
	return op_begin(SQ(s), own);
}

static int sq_op_end(store *s, int own, int rc)
{
	return op_end(SQ(s), own, rc);
}

static const sqlq_dialect sq_dialect = {
	.dollar = false,
	.null_limit = false,
	.link_select = "SELECT " LINK_COLS LINK_FROM,
	.link_count = "SELECT count(*)" LINK_FROM,
	/* a counter link has no codes row: shorty_code() derives its code */
	.code_of = "shorty_code(l.id, c.code)",
	.instr = "instr",
	.text_param = "?",
	/* the log itself has no index but its id: by link through
	 * visits_by_link, and the tail not indexed yet */
	.visit_link_open = "v.id IN (" VISIT_IDS_OF_INDEXED,
	.visit_link_again = VISIT_IDS_OF_TAIL,
	.visit_link_close = ")",
	.tag_owner = "?1",
	/* one name: a range of the index link_tags_tag, not a scan */
	.tag_exact = "t.tag >= coalesce(?3, '') AND t.tag <= coalesce(?3, char(1114111))",
	.tag_search = "(?2 IS NULL OR instr(lower(t.tag), lower(?2)) > 0)",
	.one = sq_one,
	.exec = sq_exec,
	.begin = sq_op_begin,
	.end = sq_op_end,
};

/* Finds or prepares the statement for b->sql and binds b's values. *temp is
 * set when the statement is not cached (the cached one is in use by an
 * outer call) and must be finalized by the caller. */
static int qb_prepare(sq_store *q, sqlq *b, sqlite3_stmt **out, bool *temp)
{
	sqlite3_stmt *st = NULL;
	int i, rc, slot = -1;

	*temp = false;
	if (b->overflow)
		return sq_err(q, SH_ESTORE, "%s", "internal error: list query too long");
	for (i = 0; i < DYN_MAX; i++) {
		if (q->dyn[i].sql && strcmp(q->dyn[i].sql, b->sql) == 0) {
			if (sqlite3_stmt_busy(q->dyn[i].st))
				break;
			st = q->dyn[i].st;
			break;
		}
	}
	if (!st) {
		rc = sqlite3_prepare_v3(q->db, b->sql, (int)b->len, SQLITE_PREPARE_PERSISTENT, &st,
		                        NULL);
		if (rc != SQLITE_OK)
			return prepare_failed(q, rc);
		if (i < DYN_MAX) {
			*temp = true; /* same text, busy: a nested call */
		} else {
			char *copy = strdup(b->sql);
			if (!copy) {
				*temp = true;
			} else {
				slot = q->dyn_next;
				q->dyn_next = (q->dyn_next + 1) % DYN_MAX;
				sqlite3_finalize(q->dyn[slot].st);
				free(q->dyn[slot].sql);
				q->dyn[slot].sql = copy;
				q->dyn[slot].st = st;
			}
		}
	}
	for (i = 0; i < b->nb; i++) {
		if (b->b[i].text)
			rc = sqlite3_bind_text(st, i + 1, b->b[i].s, -1, SQLITE_STATIC);
		else
			rc = sqlite3_bind_int64(st, i + 1, b->b[i].i);
		if (rc != SQLITE_OK) {
			rc = sq_fail(q, rc, "bind");
			goto fail;
		}
	}
	*out = st;
	return 0;
fail:
	if (*temp)
		sqlite3_finalize(st);
	else
		sqlite3_reset(st);
	return rc;
}

static void qb_done(sqlite3_stmt *st, bool temp)
{
	if (temp) {
		sqlite3_finalize(st);
	} else {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st); /* SQLITE_STATIC texts must not outlive the call */
	}
}

/* Runs the query built in b: a query of one row puts its first column in
 * *out; with out NULL, a write that returns no row. */
static int qb_step(sq_store *q, sqlq *b, int64_t *out, const char *what)
{
	sqlite3_stmt *st = NULL;
	bool temp;
	int rc;

	if ((rc = qb_prepare(q, b, &st, &temp)))
		return rc;
	rc = sqlite3_step(st);
	if (out && rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	rc = rc == (out ? SQLITE_ROW : SQLITE_DONE) ? 0 : sq_fail(q, rc, what);
	qb_done(st, temp);
	return rc;
}

static int sq_one(store *s, sqlq *b, int64_t *out, const char *what)
{
	*out = 0;
	return qb_step(SQ(s), b, out, what);
}

static int sq_exec(store *s, sqlq *b, int64_t *changes, const char *what)
{
	int rc = qb_step(SQ(s), b, NULL, what);

	if (rc == 0 && changes)
		*changes = sqlite3_changes64(SQ(s)->db);
	return rc;
}

/* ---- open / close -------------------------------------------------------- */

/* mkdir -p of the directory part of path. */
static int make_parent(const char *path, sh_err *err)
{
	char dir[4096];
	char *slash;
	size_t i;

	if (strlen(path) >= sizeof(dir))
		return sh_err_set(err, SH_EINVAL, "db", "store path is too long");
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (i = 1; dir[i - 1]; i++) {
		if (dir[i] != '/' && dir[i] != '\0')
			continue;
		char c = dir[i];
		dir[i] = '\0';
		if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
			int e = errno;
			return sh_err_set(err, SH_ESTORE, "db", "cannot create directory %s: %s",
			                  dir, strerror(e));
		}
		dir[i] = c;
	}
	return 0;
}

static const struct {
	const char *name, *pragma;
} sync_modes[] = {
    {"full", "PRAGMA synchronous=FULL"},
    {"normal", "PRAGMA synchronous=NORMAL"},
    {"off", "PRAGMA synchronous=OFF"},
    {"extra", "PRAGMA synchronous=EXTRA"},
};

static int exec_fixed(sq_store *q, const char *sql, sh_err *err)
{
	int rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sh_err_set(err, map_rc(rc), "db", "sqlite: %s: %s", sql,
		                  sqlite3_errmsg(q->db));
	return 0;
}

static const store_ops sqlite_ops, memory_ops;
static int register_functions(sq_store *q, sh_err *err);

/* Opens path (a file, or with `mem` an in-memory URI built by
 * store_memory_open) as one connection. */
static int sq_open(store **out, const char *path, bool mem, const store_options *o, sh_err *err)
{
	store_options def;
	sq_store *q = NULL;
	const char *sync_pragma = NULL;
	bool special = false;
	struct stat sb;
	size_t i;
	int flags, rc;

	*out = NULL;
	if (!o) {
		store_options_default(&def);
		o = &def;
	}
	for (i = 0; i < sizeof(sync_modes) / sizeof(sync_modes[0]); i++)
		if (strcasecmp(o->synchronous ? o->synchronous : "full", sync_modes[i].name) == 0)
			sync_pragma = sync_modes[i].pragma;
	if (!sync_pragma)
		return sh_err_set(err, SH_EINVAL, "synchronous",
		                  "synchronous must be full, normal or off, not \"%.32s\"",
		                  o->synchronous);
	if (!path || !*path)
		return sh_err_set(err, SH_EINVAL, "db", "no SQLite file given");

	special = mem || strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0;
	if (!special) {
		if (o->create && !o->read_only) {
			rc = make_parent(path, err);
			if (rc)
				return rc;
		} else if (stat(path, &sb) != 0) {
			int e = errno;
			if (e == ENOENT)
				return sh_err_set(err, SH_ESTORE, "db",
				                  "database %s does not exist: create it with "
				                  "`shorty migrate` (or check --db)",
				                  path);
			return sh_err_set(err, SH_ESTORE, "db", "cannot open database %s: %s", path,
			                  strerror(e));
		}
	}

	q = calloc(1, sizeof(*q));
	if (!q)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory opening %s", path);
	q->base.ops = mem ? &memory_ops : &sqlite_ops;
	q->read_only = o->read_only;

	flags = SQLITE_OPEN_NOMUTEX | (special ? SQLITE_OPEN_URI : 0);
	if (o->read_only)
		flags |= SQLITE_OPEN_READONLY;
	else
		flags |= SQLITE_OPEN_READWRITE | (o->create || mem ? SQLITE_OPEN_CREATE : 0);
	rc = sqlite3_open_v2(path, &q->db, flags, NULL);
	if (rc != SQLITE_OK) {
		rc = sh_err_set(err, map_rc(rc), "db", "cannot open database %s: %s", path,
		                q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(q->db, 1);
	/* the visit counters' source (count_visits); DIRECTONLY: never
	 * callable from the schema (triggers, views) */
	rc = sqlite3_create_function_v2(q->db, "shorty_visit_delta", 2,
	                                SQLITE_UTF8 | SQLITE_DIRECTONLY, &q->bump, visit_delta_fn,
	                                NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = sh_err_set(err, map_rc(rc), "db", "cannot open database %s: %s", path,
		                sqlite3_errmsg(q->db));
		goto fail;
	}
	sqlite3_busy_timeout(q->db, o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 0);

	/* WAL: readers never block the writer, and a commit appends to one file
	 * (the mode is persistent in the file; a reader cannot set it). memdb
	 * has no WAL, and its rollback journal would be a real file named after
	 * the database ("/NAME-journal"): it is kept in memory instead, per
	 * connection (readers still see only committed data: the writer holds
	 * the database lock from the first change to the commit). */
	if (mem)
		rc = exec_fixed(q, "PRAGMA journal_mode=MEMORY", err);
	else
		rc = o->read_only ? 0 : exec_fixed(q, "PRAGMA journal_mode=WAL", err);
	if (rc)
		goto fail;
	if ((rc = exec_fixed(q, sync_pragma, err)) ||
	    (rc = exec_fixed(q, "PRAGMA foreign_keys=ON", err)) ||
	    /* No memory map: mapped pages of the file count in the process's
	     * RSS (and a container's memory accounting); with 1M links and
	     * 256 MiB mapped per connection RSS reached 232 MB. Reads go through
	     * the kernel's page cache into a small page cache of our own: 4 MiB
	     * per reader connection (the HTTP workers, behind the link cache),
	     * 8 MiB for the writer (creates' index lookups, visit flushes).
	     * Measured (docs/benchmarks.md): RSS with 1M links 233 -> 45 MB;
	     * redirects without the link cache about as fast as mapped. */
	    (rc = exec_fixed(
	         q, o->read_only ? "PRAGMA cache_size=-4096" : "PRAGMA cache_size=-8192", err)) ||
	    (rc = exec_fixed(q, "PRAGMA mmap_size=0", err)) ||
	    (rc = exec_fixed(q, "PRAGMA temp_store=MEMORY", err)) ||
	    (rc = register_functions(q, err)))
		goto fail;
	*out = &q->base;
	return 0;
fail:
	sqlite3_close(q->db);
	free(q);
	return rc;
}

int store_sqlite_open(store **out, const char *path, const store_options *o, sh_err *err)
{
	return sq_open(out, path, false, o, err);
}

/*
 * "memory:" is a private in-memory database (":memory:", one connection);
 * "memory:NAME" is SQLite's memdb VFS, "file:/NAME?vfs=memdb": every
 * connection of the process opened on the same NAME shares it, with the
 * same locking (and busy timeouts) as a file, until the last one closes.
 * NAME goes into a URI, so every byte but [A-Za-z0-9._-] is %-escaped.
 */
int store_memory_open(store **out, const char *name, const store_options *o, sh_err *err)
{
	char uri[256];
	size_t n, i, len;
	const char *p;

	*out = NULL;
	if (name && strncmp(name, "memory:", 7) == 0)
		name += 7;
	if (!name || !*name)
		return sq_open(out, ":memory:", true, o, err);
	len = strlen(name);
	if (len > 64)
		return sh_err_set(err, SH_EINVAL, "db",
		                  "memory store name is too long (at most 64 bytes): \"%.32s...\"",
		                  name);
	n = (size_t)snprintf(uri, sizeof(uri), "file:/shorty-");
	for (i = 0, p = name; i < len; i++, p++) {
		unsigned char c = (unsigned char)*p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-')
			uri[n++] = (char)c;
		else
			n += (size_t)snprintf(uri + n, sizeof(uri) - n, "%%%02X", c);
	}
	snprintf(uri + n, sizeof(uri) - n, "?vfs=memdb");
	return sq_open(out, uri, true, o, err);
}

static void sq_close(store *s)
{
	sq_store *q = SQ(s);
	int i;

	for (i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(q->st[i]);
	for (i = 0; i < DYN_MAX; i++) {
		sqlite3_finalize(q->dyn[i].st);
		free(q->dyn[i].sql);
	}
	sqlite3_close(q->db); /* an open transaction is rolled back */
	free(q->tp);
	free(q);
}

/* ---- schema ops ---------------------------------------------------------- */

static int sq_migrate(store *s, sh_err *err)
{
	sq_store *q = SQ(s);
	char pragma[48];
	int v, rc;

	rc = user_version(q, &v);
	if (rc)
		return sh_err_set(err, rc, "db", "%s", q->base.last_err.msg);
	if (v > SCHEMA_LATEST)
		return sh_err_set(err, SH_ESCHEMA, "db",
		                  "the store's schema (version %d) is newer than this shorty "
		                  "(version %d): upgrade shorty",
		                  v, SCHEMA_LATEST);
	if (v < SCHEMA_LATEST && q->read_only)
		return sh_err_set(err, SH_ESCHEMA, "db",
		                  "the store's schema is at version %d of %d and this "
		                  "connection is read-only: run `shorty migrate`",
		                  v, SCHEMA_LATEST);
	while (v < SCHEMA_LATEST) {
		rc = exec_fixed(q, "BEGIN IMMEDIATE", err);
		if (rc)
			return rc;
		/* another process may have migrated between our read and the lock */
		rc = user_version(q, &v);
		if (rc) {
			sh_err_set(err, rc, "db", "%s", q->base.last_err.msg);
			goto fail;
		}
		if (v >= SCHEMA_LATEST) {
			rc = exec_fixed(q, "COMMIT", err);
			if (rc)
				goto fail;
			break;
		}
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", v + 1);
		if ((rc = exec_fixed(q, migrations[v], err)) || (rc = exec_fixed(q, pragma, err)) ||
		    (rc = exec_fixed(q, "COMMIT", err)))
			goto fail;
		v++;
	}
	return 0;
fail:
	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int sq_schema_version(store *s, int *current, int *latest)
{
	int rc = user_version(SQ(s), current);

	*latest = SCHEMA_LATEST;
	return rc;
}

/* Is the file this connection writes still the one at its path (issue 12:
 * a file removed or replaced while we run takes writes nobody will read
 * again)? With `writable`, can it also be written (permissions, a read-only
 * file system)? 0, or SH_ESTORE with the reason in last_err. A memory or
 * temporary database has no file and always passes. */
static int sq_file_check(sq_store *q, bool writable)
{
	const char *path = sqlite3_db_filename(q->db, "main");
	int moved = 0;

	/* an in-memory store has no file to lose (memdb names a path that is
	 * not one) */
	if (!path || !path[0] || q->base.ops == &memory_ops)
		return 0;
	if (sqlite3_file_control(q->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK &&
	    moved)
		return sq_err(q, SH_ESTORE,
		              "the database file %s was removed or replaced while shorty was "
		              "running: nothing is written to it any more; put it back or "
		              "restart shorty",
		              path);
	if (writable && access(path, W_OK) != 0)
		return sq_err(q, SH_ESTORE, "the database file %s cannot be written (%s)", path,
		              strerror(errno));
	return 0;
}

/* The store answers, its file is the one we opened and can be written. */
static int sq_ping(store *s)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc = sq_file_check(q, true);

	if (rc == 0)
		rc = stmt(q, ST_PING, &st);
	return rc ? rc : step_done(q, st, "ping");
}

/* ---- transactions -------------------------------------------------------- */

static int sq_rollback(store *s);

/* A ROLLBACK that failed (it needs memory to be prepared, and SQLite may be
 * out of it) leaves the transaction open; without this the connection would
 * stay in it for good (every later begin refused, every later write nested
 * in a transaction never committed). begin and in_txn retry it first. */
static void settle_rollback(sq_store *q)
{
	if (q->rollback_pending)
		(void)sq_rollback(&q->base);
}

static int sq_begin(store *s)
{
	sq_store *q = SQ(s);

	settle_rollback(q);
	if (!sqlite3_get_autocommit(q->db))
		return sq_err(q, SH_EINVAL, "%s", "begin: a transaction is already open");
	q->sp_depth = 0;
	return run(q, ST_BEGIN, "begin");
}

static int sq_commit(store *s)
{
	sq_store *q = SQ(s);
	int rc;

	if (sqlite3_get_autocommit(q->db))
		return sq_err(q, SH_EINVAL, "%s", "commit: no transaction is open");
	/* never acknowledge a write to a file that is no longer at our path */
	if ((rc = sq_file_check(q, false)) != 0)
		return rc;
	rc = run(q, ST_COMMIT, "commit");
	if (rc == 0)
		q->sp_depth = 0;
	return rc;
}

static int sq_rollback(store *s)
{
	sq_store *q = SQ(s);

	int rc;

	q->sp_depth = 0;
	/* SQLite may already have rolled back on its own (SQLITE_FULL, IOERR):
	 * then there is nothing left to undo */
	if (sqlite3_get_autocommit(q->db)) {
		q->rollback_pending = false;
		return 0;
	}
	rc = run(q, ST_ROLLBACK, "rollback");
	q->rollback_pending = rc != 0 && !sqlite3_get_autocommit(q->db);
	return rc;
}

/* Savepoint names come from the depth counter, never from input. */
static int sp_exec(sq_store *q, const char *verb, int depth)
{
	char sql[64];
	int rc;

	snprintf(sql, sizeof(sql), "%s sp%d", verb, depth);
	rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sq_fail(q, rc, verb);
}

static int sq_savepoint(store *s)
{
	sq_store *q = SQ(s);
	int rc;

	/* outside a transaction SQLite would open a deferred one; savepoints
	 * are meant to nest in the writer's BEGIN IMMEDIATE */
	if (sqlite3_get_autocommit(q->db))
		return sq_err(q, SH_EINVAL, "%s", "savepoint: no transaction is open");
	rc = sp_exec(q, "SAVEPOINT", q->sp_depth + 1);
	if (rc == 0)
		q->sp_depth++;
	return rc;
}

static int sq_release(store *s)
{
	sq_store *q = SQ(s);
	int rc;

	if (q->sp_depth <= 0 || sqlite3_get_autocommit(q->db))
		return sq_err(q, SH_EINVAL, "%s", "release: no savepoint is open");
	rc = sp_exec(q, "RELEASE", q->sp_depth);
	if (rc == 0)
		q->sp_depth--;
	return rc;
}

/* Undoes everything since the innermost savepoint and KEEPS it open, as
 * SQL's ROLLBACK TO does: pair it with release, or let the
 * commit drop it. */
static int sq_rollback_to(store *s)
{
	sq_store *q = SQ(s);

	if (q->sp_depth <= 0 || sqlite3_get_autocommit(q->db))
		return sq_err(q, SH_EINVAL, "%s", "rollback_to: no savepoint is open");
	return sp_exec(q, "ROLLBACK TO", q->sp_depth);
}

static bool sq_in_txn(store *s)
{
	settle_rollback(SQ(s));
	return !sqlite3_get_autocommit(SQ(s)->db);
}

/* ---- meta ---------------------------------------------------------------- */

static int sq_meta_get(store *s, const char *key, char **val)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	*val = NULL;
	if ((rc = stmt(q, ST_META_GET, &st)))
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		*val = strdup(t ? t : "");
		rc = *val ? 0 : sq_err(q, SH_ENOMEM, "%s", "out of memory");
	} else if (rc == SQLITE_DONE) {
		rc = sq_err(q, SH_ENOTFOUND, "no setting %s", key);
	} else {
		rc = sq_fail(q, rc, "meta get");
	}
	sqlite3_reset(st);
	return rc;
}

static int sq_meta_set(store *s, const char *key, const char *val)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if (!key || !val)
		return sq_err(q, SH_EINVAL, "%s", "meta set: key and value are required");
	if ((rc = stmt(q, ST_META_SET, &st)))
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, val, -1, SQLITE_STATIC);
	return step_done(q, st, "meta set");
}

static int sq_meta_add(store *s, const char *key, const char *val, char **stored)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	*stored = NULL;
	if (!key || !val)
		return sq_err(q, SH_EINVAL, "%s", "meta add: key and value are required");
	if ((rc = stmt(q, ST_META_ADD, &st)))
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, val, -1, SQLITE_STATIC);
	if ((rc = step_done(q, st, "meta add")))
		return rc;
	return sq_meta_get(s, key, stored);
}

/* ---- links --------------------------------------------------------------- */

/* Runs a parameterless statement that returns one integer. */
static int query_int64(sq_store *q, enum st_id id, int64_t *out, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt(q, id, &st)))
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = sq_fail(q, rc, what);
	}
	sqlite3_reset(st);
	return rc;
}

static int sq_next_id(store *s, int64_t min, int64_t *id)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt(q, ST_NEXT_ID, &st)))
		return rc;
	sqlite3_bind_int64(st, 1, min);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = sq_fail(q, rc, "next id");
	}
	sqlite3_reset(st);
	return rc;
}

/* Reads the link in the current row of st (columns LINK_COLS) and its tags. */
static int read_link(sq_store *q, sqlite3_stmt *st, sh_link *out)
{
	sqlite3_stmt *ts;
	const char *t;
	int rc;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(st, 0);
	copy_col(out->code, sizeof(out->code), st, 1);
	out->code_kind = sqlite3_column_int(st, 2);
	t = (const char *)sqlite3_column_text(st, 3);
	out->url = strdup(t ? t : "");
	out->url_hash = (uint64_t)sqlite3_column_int64(st, 4);
	t = (const char *)sqlite3_column_text(st, 5);
	if (t)
		out->title = strdup(t);
	if (!out->url || (t && !out->title)) {
		sh_link_clear(out);
		return sq_err(q, SH_ENOMEM, "%s", "out of memory reading a link");
	}
	out->created_at = sqlite3_column_int64(st, 6);
	out->updated_at = sqlite3_column_int64(st, 7);
	out->valid_since = sqlite3_column_int64(st, 8);
	out->expires_at = sqlite3_column_int64(st, 9);
	out->max_visits = sqlite3_column_int64(st, 10);
	out->visits = sqlite3_column_int64(st, 11);
	out->bot_visits = sqlite3_column_int64(st, 12);
	out->redirect_status = sqlite3_column_int(st, 13);
	out->forward_query = sqlite3_column_int(st, 14) != 0;
	out->crawlable = sqlite3_column_int(st, 15) != 0;
	out->disabled = sqlite3_column_int(st, 16) != 0;
	out->owner_key_id = sqlite3_column_int64(st, 17);
	t = (const char *)sqlite3_column_text(st, 18);
	if (t && !(out->redirect_rules = strdup(t))) {
		sh_link_clear(out);
		return sq_err(q, SH_ENOMEM, "%s", "out of memory reading a link");
	}
	out->domain_id = sqlite3_column_int64(st, 19);
	copy_col(out->domain, sizeof(out->domain), st, 20);

	if ((rc = stmt(q, ST_TAGS_OF, &ts)))
		goto fail;
	sqlite3_bind_int64(ts, 1, out->id);
	while ((rc = sqlite3_step(ts)) == SQLITE_ROW && out->ntags < SH_MAX_TAGS)
		copy_col(out->tags[out->ntags++], sizeof(out->tags[0]), ts, 0);
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq_fail(q, rc, "reading tags");
	sqlite3_reset(ts);
	if (rc)
		goto fail;
	return 0;
fail:
	sh_link_clear(out);
	return rc;
}

/* Runs a statement that yields at most one link; SH_ENOTFOUND when none. */
static int get_one(sq_store *q, sqlite3_stmt *st, sh_link *out, const char *what)
{
	sh_link tmp;
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		rc = read_link(q, st, &tmp);
		if (rc == 0)
			*out = tmp;
	} else if (rc == SQLITE_DONE) {
		rc = sq_err(q, SH_ENOTFOUND, "%s: no such link", what);
	} else {
		rc = sq_fail(q, rc, what);
	}
	sqlite3_reset(st);
	return rc;
}

/* Writes l's code row (if its kind stores one) and its tags. */
static int write_code_tags(sq_store *q, const sh_link *l)
{
	sqlite3_stmt *st = NULL;
	int i, rc;

	if (l->code_kind != CODE_KIND_COUNTER) {
		if ((rc = stmt(q, ST_CODE_INSERT, &st)))
			return rc;
		sqlite3_bind_text(st, 1, l->code, (int)strnlen(l->code, CODE_MAX), SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, l->id);
		sqlite3_bind_int64(st, 3, l->domain_id);
		rc = step_done(q, st, "insert code");
		if (rc == SH_ETAKEN)
			return sq_err(q, SH_ETAKEN, "code %s is already taken", l->code);
		if (rc)
			return rc;
	}
	if ((rc = stmt(q, ST_TAG_INSERT, &st)))
		return rc;
	for (i = 0; i < l->ntags; i++) {
		sqlite3_bind_int64(st, 1, l->id);
		sqlite3_bind_text(st, 2, l->tags[i], (int)strnlen(l->tags[i], SH_TAG_MAX),
		                  SQLITE_STATIC);
		if ((rc = step_done(q, st, "insert tag")))
			return rc;
	}
	return 0;
}

/* Binds ?1..?16 of ST_LINK_INSERT and ST_LINK_UPDATE: every stored field
 * but the visit counters (in link_counts, which only insert writes). */
static void bind_link(sqlite3_stmt *st, const sh_link *l)
{
	sqlite3_bind_int64(st, 1, l->id);
	sqlite3_bind_int(st, 2, l->code_kind);
	sqlite3_bind_text(st, 3, l->url, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)l->url_hash);
	bind_text_max(st, 5, l->title, SH_TITLE_MAX);
	sqlite3_bind_int64(st, 6, l->created_at);
	sqlite3_bind_int64(st, 7, l->updated_at);
	sqlite3_bind_int64(st, 8, l->valid_since);
	sqlite3_bind_int64(st, 9, l->expires_at);
	sqlite3_bind_int64(st, 10, l->max_visits);
	sqlite3_bind_int(st, 11, l->redirect_status);
	sqlite3_bind_int(st, 12, l->forward_query);
	sqlite3_bind_int(st, 13, l->crawlable);
	sqlite3_bind_int(st, 14, l->disabled);
	sqlite3_bind_int64(st, 15, l->owner_key_id);
	if (l->redirect_rules)
		sqlite3_bind_text(st, 16, l->redirect_rules, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 16);
}

static int sq_link_insert(store *s, const sh_link *l)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int own, rc;

	if ((rc = sqlq_check_link(s, l)))
		return rc;
	if ((rc = op_begin(q, &own)))
		return rc;
	if ((rc = stmt(q, ST_LINK_INSERT, &st)))
		goto out;
	bind_link(st, l);
	sqlite3_bind_int64(st, 17, l->domain_id);
	rc = step_done(q, st, "insert link");
	if (rc == SH_ETAKEN)
		rc = sq_err(q, SH_ETAKEN, "%s", "a link with this id already exists");
	if (rc)
		goto out;
	if ((rc = stmt(q, ST_COUNTS_INSERT, &st)))
		goto out;
	sqlite3_bind_int64(st, 1, l->id);
	sqlite3_bind_int64(st, 2, l->visits);
	sqlite3_bind_int64(st, 3, l->bot_visits);
	if ((rc = step_done(q, st, "insert link counts")))
		goto out;
	if ((rc = write_code_tags(q, l)))
		goto out;
	/* an imported link may carry visits: keep totals == SUM(link_counts) */
	if (l->visits || l->bot_visits) {
		if ((rc = stmt(q, ST_TOTALS_ADD, &st)))
			goto out;
		sqlite3_bind_int(st, 1, 0);
		sqlite3_bind_int64(st, 2, l->visits);
		sqlite3_bind_int64(st, 3, l->bot_visits);
		rc = step_done(q, st, "update totals");
	}
out:
	return op_end(q, own, rc);
}

static int sq_link_get(store *s, int64_t id, sh_link *out)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt(q, ST_LINK_GET, &st)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	return get_one(q, st, out, "link get");
}

static int sq_link_get_by_code(store *s, int64_t domain_id, const char *code, sh_link *out)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt(q, ST_LINK_GET_BY_CODE, &st)))
		return rc;
	sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, domain_id);
	rc = get_one(q, st, out, "link get by code");
	sqlite3_clear_bindings(st);
	return rc;
}

static int sq_code_exists(store *s, int64_t domain_id, const char *code, bool *exists)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt(q, ST_CODE_EXISTS, &st)))
		return rc;
	sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, domain_id);
	rc = sqlite3_step(st);
	*exists = rc == SQLITE_ROW;
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq_fail(q, rc, "code exists");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static int sq_link_find_dup(store *s, int64_t domain_id, uint64_t url_hash, const char *url,
                            int64_t owner_key_id, sh_link *out)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt(q, ST_FIND_DUP, &st)))
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)url_hash);
	sqlite3_bind_text(st, 2, url, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, owner_key_id);
	sqlite3_bind_int64(st, 4, domain_id);
	rc = get_one(q, st, out, "find duplicate");
	sqlite3_clear_bindings(st);
	return rc;
}

/* Shlink's findIfExists: the oldest link matching m (sh_link_match). */
static int sq_link_find_match(store *s, const sh_link_match *m, sh_link *out)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	bool temp = false;
	sqlq *b;
	int rc;

	if (!(b = sqlq_new(s, &sq_dialect)))
		return SH_ENOMEM;
	if ((rc = sqlq_link_match(s, b, m)) == 0 && (rc = qb_prepare(q, b, &st, &temp)) == 0) {
		rc = get_one(q, st, out, "find match");
		qb_done(st, temp);
	}
	free(b);
	return rc;
}

static int sq_link_update(store *s, const sh_link *l)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int own, rc;

	if ((rc = sqlq_check_link(s, l)))
		return rc;
	if ((rc = op_begin(q, &own)))
		return rc;
	if ((rc = stmt(q, ST_LINK_UPDATE, &st)))
		goto out;
	bind_link(st, l);
	if ((rc = step_done(q, st, "update link")))
		goto out;
	if (sqlite3_changes(q->db) == 0) {
		rc = sq_err(q, SH_ENOTFOUND, "%s", "link update: no such link");
		goto out;
	}
	/* code and tags: replace whatever was there */
	if ((rc = stmt(q, ST_CODES_DELETE_LINK, &st)))
		goto out;
	sqlite3_bind_int64(st, 1, l->id);
	if ((rc = step_done(q, st, "update code")))
		goto out;
	if ((rc = stmt(q, ST_TAGS_DELETE_LINK, &st)))
		goto out;
	sqlite3_bind_int64(st, 1, l->id);
	if ((rc = step_done(q, st, "update tags")))
		goto out;
	rc = write_code_tags(q, l);
out:
	return op_end(q, own, rc);
}

static int sq_link_dedupe(store *s, int64_t id, bool on)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt(q, ST_LINK_DEDUPE, &st)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, on ? 1 : 0);
	return step_done(q, st, "claim the dedupe key");
}

/* Runs fixed statement `id` with ?1 = v. */
static int run_int(sq_store *q, enum st_id id, int64_t v, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc = stmt(q, id, &st);

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, v);
	return step_done(q, st, what);
}

/* Deletes the logged visits of link (0: the orphan visits), indexed or in
 * the tail; *n = how many. */
static int drop_link_visits(sq_store *q, int64_t link, int64_t *n)
{
	int rc = run_int(q, ST_VISITS_DELETE_LINK, link, "delete visits");

	q->tn = 0; /* the tail noted for the merge holds deleted rows now */
	q->tfrom = INT64_MIN;

	if (rc)
		return rc;
	*n = sqlite3_changes64(q->db);
	return run_int(q, ST_VINDEX_DELETE_LINK, link, "delete visits");
}

static int sq_link_delete(store *s, int64_t id)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int64_t n;
	int own, rc;

	if ((rc = op_begin(q, &own)))
		return rc;
	/* its counted visits leave the running totals with it, and its log */
	if ((rc = run_int(q, ST_TOTALS_SUB_LINK, id, "delete link totals")) ||
	    (rc = drop_link_visits(q, id, &n)) ||
	    (rc = run_int(q, ST_COUNTS_DELETE, id, "delete link counts")))
		goto out;
	/* codes and link_tags go by ON DELETE CASCADE */
	if ((rc = stmt(q, ST_LINK_DELETE, &st)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = step_done(q, st, "delete link")))
		goto out;
	if (sqlite3_changes(q->db) == 0) {
		rc = sq_err(q, SH_ENOTFOUND, "%s", "link delete: no such link");
		goto out;
	}
	if ((rc = stmt(q, ST_ID_HWM_BUMP, &st)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	rc = step_done(q, st, "remember deleted id");
out:
	return op_end(q, own, rc);
}

/*
 * shorty_code(id, code): the code a link is shown with. A stored code as it
 * is; a counter link (no codes row) gets the code codec_encode_id derives
 * with the key of the list being run (q->code_key, set by sq_link_list), so
 * that orderBy=shortCode and searchTerm see the code itself, not the id.
 * Registered on every connection; with no key it answers ''.
 */
static void sq_code_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sq_store *q = sqlite3_user_data(ctx);
	const unsigned char *code = sqlite3_value_text(argv[1]);
	char buf[CODEC_MAX_LEN + 1];

	(void)argc;
	if (code && *code) {
		sqlite3_result_value(ctx, argv[1]);
		return;
	}
	if (!q->code_key ||
	    codec_encode_id(q->code_key, sqlite3_value_int64(argv[0]), buf, sizeof(buf)) != 0)
		buf[0] = '\0';
	sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

static int register_functions(sq_store *q, sh_err *err)
{
	int rc = sqlite3_create_function(q->db, "shorty_code", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY,
	                                 q, sq_code_fn, NULL, NULL);

	if (rc != SQLITE_OK)
		return sh_err_set(err, map_rc(rc), "db", "cannot register shorty_code: %s",
		                  sqlite3_errmsg(q->db));
	return 0;
}

static int sq_link_list(store *s, const sh_list_query *lq, sh_link_cb cb, void *ud, int64_t *total)
{
	sq_store *q = SQ(s);
	const codec_key *outer_key = q->code_key;
	sqlite3_stmt *st = NULL;
	bool temp = false;
	sqlq *b = NULL;
	sh_link l;
	int rc;

	if ((rc = sqlq_link_list_check(s, lq)))
		return rc;
	if (!(b = sqlq_new(s, &sq_dialect)))
		return SH_ENOMEM;
	q->code_key = lq->code_key; /* for shorty_code(); a nested list restores it */

	if (total) {
		sqlq_link_list(b, lq, true);
		if ((rc = sq_one(s, b, total, "count links")))
			goto out;
	}
	if (!cb) {
		rc = 0;
		goto out;
	}

	sqlq_link_list(b, lq, false);
	if ((rc = qb_prepare(q, b, &st, &temp)))
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = read_link(q, st, &l)))
			break;
		rc = cb(&l, ud);
		sh_link_clear(&l);
		if (rc) {
			rc = rc < 0 ? rc : 0; /* negative: the caller's error, passed back */
			break;
		}
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = sq_fail(q, rc, "list links");
	/* rc <= 0 here: a read error or the callback's result */
	qb_done(st, temp);
out:
	q->code_key = outer_key;
	free(b);
	return rc;
}

/* ---- visits -------------------------------------------------------------- */

/*
 * Sorts p[0..n) by link, keeping the order of equal links (an LSD radix
 * sort, 11 bits a pass, as many passes as the largest link needs: three
 * for 100,000 links). Hand-written because qsort() was 12% of a visit
 * flush's CPU (two sorts of up to 262,144 entries, a comparison call each
 * step); this is about a twentieth of that. tmp holds n entries. Links are
 * >= 0.
 */
#define RADIX_BITS 11
static void vgroup_sort(struct vgroup *p, struct vgroup *tmp, size_t n)
{
	size_t count[1u << RADIX_BITS], i, sum, c;
	uint64_t max = 0, d;
	struct vgroup *src = p, *dst = tmp, *t;
	unsigned shift;

	for (i = 0; i < n; i++)
		if ((uint64_t)p[i].link > max)
			max = (uint64_t)p[i].link;
	for (shift = 0; shift < 64 && (max >> shift); shift += RADIX_BITS) {
		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[((uint64_t)src[i].link >> shift) & ((1u << RADIX_BITS) - 1)]++;
		for (d = 0, sum = 0; d < (1u << RADIX_BITS); d++) {
			c = count[d];
			count[d] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[count[((uint64_t)src[i].link >> shift) & ((1u << RADIX_BITS) - 1)]++] =
			    src[i];
		t = src;
		src = dst;
		dst = t;
	}
	if (src != p)
		memcpy(p, src, n * sizeof(*p));
}

/* Text bound without a copy: the caller's string outlives the step (the
 * statement is reset right after it). */
static int bind_text_static(sqlite3_stmt *st, int i, const char *s, size_t max)
{
	size_t n;

	if (!s)
		return sqlite3_bind_null(st, i);
	n = strnlen(s, max + 1);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return sqlite3_bind_text(st, i, s, (int)n, SQLITE_STATIC);
}

/* Binds visit v as the log row whose first parameter is base + 1. */
static void bind_visit(sqlite3_stmt *st, int base, const sh_visit *v)
{
	int64_t link = v->link_id > 0 ? v->link_id : 0;

	sqlite3_bind_int64(st, base + 1, link);
	sqlite3_bind_int64(st, base + 2, v->ts);
	sqlite3_bind_int(st, base + 3, v->kind);
	sqlite3_bind_int(st, base + 4, link ? ORPHAN_NONE : v->orphan_type);
	bind_text_static(st, base + 5, v->referer, SH_VISIT_FIELD_MAX);
	bind_text_static(st, base + 6, v->user_agent, SH_VISIT_FIELD_MAX);
	bind_text_static(st, base + 7, v->visited_url, SH_VISIT_FIELD_MAX);
	bind_text_static(st, base + 8, v->ip, 64);
	bind_text_static(st, base + 9, v->location, SH_VISIT_LOCATION_MAX);
}

/*
 * The counters of a batch. Visits are grouped by link (g, sorted by link);
 * each statement adds to the counters of a stretch of the batch's links,
 * each row adding what shorty_visit_delta() reads from the stretch (one
 * statement per link cost three times as much: a statement's set-up and
 * end are most of the work of updating one narrow row). A dense stretch
 * (RANGE_MIN links or more, their ids spanning at most RANGE_DENSE times
 * as many) is one UPDATE over the id range, whose rows are read in order
 * and kept when the function (mode 2) finds them in the stretch; a sparse
 * one is BUMP_LINKS links whose rows are found through an IN list (a seek
 * each, and the list's own sorted copy). With uniformly random visits of
 * 100,000 links the counters cost 0.42 µs per visit all by IN lists, 0.24
 * by ranges (bench_visit_flush, docs/benchmarks.md). The function also
 * notes the links it was called for: a link it was not called for no
 * longer exists, and its visits are not logged (drop[]). HEAD visits are
 * looked at, never counted.
 */
#define RANGE_MIN 16
#define RANGE_MAX 4096
#define RANGE_DENSE 4
static void visit_delta_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct vbump *b = sqlite3_user_data(ctx);
	int64_t link = sqlite3_value_int64(argv[0]);
	int mode = sqlite3_value_int(argv[1]);
	size_t lo = 0, hi = b->n, h = b->at, mid;

	(void)argc;
	/* the rows come in link order, each asked for up to three times: the
	 * link is the last one found, or at most the next one */
	if (h < b->n && b->w[h].link <= link) {
		lo = b->w[h].link == link ? h : h + 1;
		if (lo == h || (lo < b->n && b->w[lo].link >= link))
			hi = lo;
	}
	while (lo < hi) { /* b->w is sorted by link */
		mid = (lo + hi) / 2;
		if (b->w[mid].link < link)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == b->n || b->w[lo].link != link) {
		sqlite3_result_int64(ctx, 0);
		return;
	}
	b->w[lo].seen = 1;
	b->at = lo;
	sqlite3_result_int64(ctx, mode == 2 ? 1 : mode == 1 ? b->w[lo].bots : b->w[lo].cnt);
}

/* Adds the counts of the stretch w[0..n) (n <= BUMP_LINKS when !range). */
static int bump_run(sq_store *q, struct vlink *w, size_t n, bool range)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	q->bump.w = w;
	q->bump.n = n;
	q->bump.at = 0;
	if ((rc = stmt(q, range ? ST_COUNTS_BUMP_RANGE : ST_COUNTS_BUMP_N, &st)))
		return rc;
	if (range) {
		sqlite3_bind_int64(st, 1, w[0].link);
		sqlite3_bind_int64(st, 2, w[n - 1].link);
	} else {
		for (i = 0; i < BUMP_LINKS; i++) {
			if (i < n)
				sqlite3_bind_int64(st, (int)i + 1, w[i].link);
			else
				sqlite3_bind_null(st, (int)i + 1);
		}
	}
	rc = step_done(q, st, "count visits");
	q->bump.n = 0;
	return rc;
}

/* How many links from w[0] on make a dense stretch (0: none). */
static size_t dense_stretch(const struct vlink *w, size_t n)
{
	size_t k = 1;

	while (k < n && k < RANGE_MAX && w[k].link - w[0].link < (int64_t)(k + 1) * RANGE_DENSE)
		k++;
	return k >= RANGE_MIN ? k : 0;
}

/* g[0..n): the batch's visits sorted by link. Adds each link's counts
 * and the running totals' share of them to add[][] (0: links, 1: orphans);
 * marks the visits of links that no longer exist in drop[]. */
static int count_visits(sq_store *q, const sh_visit *v, const struct vgroup *g, size_t n,
                        unsigned char *drop, int64_t add[2][2])
{
	struct vlink *L;
	size_t i, j, k, m = 0, w;
	int rc = 0;

	for (i = 0; i < n && g[i].link == 0; i++) { /* the orphans */
		add[1][0] += v[g[i].i].kind != VISIT_HEAD;
		add[1][1] += v[g[i].i].kind == VISIT_BOT;
	}
	if (i == n)
		return 0;
	if (!(L = calloc(n - i + 1, sizeof(*L))))
		return sq_err(q, SH_ENOMEM, "%s", "count visits: out of memory");
	for (; i < n; i = j, m++) {
		L[m].link = g[i].link;
		L[m].at = i;
		for (j = i; j < n && g[j].link == g[i].link; j++) {
			L[m].cnt += v[g[j].i].kind != VISIT_HEAD;
			L[m].bots += v[g[j].i].kind == VISIT_BOT;
		}
	}
	L[m].at = n;
	for (k = 0; k < m && rc == 0; k += w) {
		bool range = (w = dense_stretch(L + k, m - k)) > 0;

		if (!range)
			w = m - k < BUMP_LINKS ? m - k : BUMP_LINKS;
		if ((rc = bump_run(q, L + k, w, range)))
			break;
		for (i = k; i < k + w; i++) {
			if (L[i].seen) {
				add[0][0] += L[i].cnt;
				add[0][1] += L[i].bots;
				continue;
			}
			for (j = L[i].at; j < L[i + 1].at; j++)
				drop[g[j].i] = 1;
		}
	}
	free(L);
	return rc;
}

/* Once VINDEX_TAIL visits are logged past the indexed part, the writer
 * indexes them by link: one new run of visits_by_link, appended in one
 * sorted insert. Per-link queries scan at most this many unindexed rows
 * and seek once per run: a larger tail makes the runs fewer. */
#define VINDEX_TAIL 131072
/* the most log rows read and sorted at once (16 bytes each) */
#define VINDEX_CHUNK 262144

/* Indexes the log rows (from, to] as the run `to`: their (link, id) as
 * noted when this connection appended them (mem), else read from the log
 * in id order; sorted by (link, id) in C, inserted INDEX_ROWS a statement
 * (each row after the last one of the tree: an append). */
static int vindex_chunk(sq_store *q, int64_t from, int64_t to, bool mem, struct vgroup *p)
{
	sqlite3_stmt *st = NULL;
	size_t n = 0, i, r, rows;
	int rc;

	if (mem) {
		n = (size_t)(to - from);
		memcpy(p, q->tp + (from - q->tfrom), n * sizeof(*p));
	} else {
		if ((rc = stmt(q, ST_VINDEX_TAIL, &st)))
			return rc;
		sqlite3_bind_int64(st, 1, from);
		sqlite3_bind_int64(st, 2, to);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < VINDEX_CHUNK) {
			p[n].link = sqlite3_column_int64(st, 0);
			p[n++].i = (size_t)sqlite3_column_int64(st, 1);
		}
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq_fail(q, rc, "visit index");
		sqlite3_reset(st);
		if (rc)
			return rc;
	}
	vgroup_sort(p, p + VINDEX_CHUNK, n);
	for (i = 0; i < n; i += rows) {
		rows = n - i >= INDEX_ROWS ? INDEX_ROWS : 1;
		if ((rc = stmt(q, rows > 1 ? ST_VINDEX_INSERT_N : ST_VINDEX_INSERT, &st)))
			return rc;
		for (r = 0; r < rows; r++) {
			sqlite3_bind_int64(st, (int)r * 3 + 1, to);
			sqlite3_bind_int64(st, (int)r * 3 + 2, p[i + r].link);
			sqlite3_bind_int64(st, (int)r * 3 + 3, (int64_t)p[i + r].i);
		}
		if ((rc = step_done(q, st, "visit index")))
			return rc;
	}
	return run_int(q, ST_VINDEX_RUN, to, "visit index");
}

/* Notes the (link, id) of the log rows first, first + 1, ... that this
 * connection just appended (the visits v[g[0..n).i]), for the next merge,
 * when they follow the rows noted before (else the notes start again from
 * them: rows appended elsewhere, or ids given again after a rollback). The
 * notes stop at 2 * VINDEX_TAIL rows or when memory runs out; the merge
 * then reads the log. */
static void tail_note(sq_store *q, int64_t first, const sh_visit *v, const struct vgroup *g,
                      size_t n)
{
	size_t i, cap;
	struct vgroup *p;

	if (first != q->tfrom + (int64_t)q->tn + 1) {
		q->tn = 0;
		q->tfrom = first - 1;
	}
	if (q->tn + n > q->tcap) {
		cap = q->tcap ? q->tcap : 4096;
		while (cap < q->tn + n)
			cap *= 2;
		if (cap > 2 * VINDEX_TAIL || !(p = realloc(q->tp, cap * sizeof(*p)))) {
			q->tn = 0;
			q->tfrom = INT64_MIN;
			return;
		}
		q->tp = p;
		q->tcap = cap;
	}
	for (i = 0; i < n; i++) {
		q->tp[q->tn].link = v[g[i].i].link_id > 0 ? v[g[i].i].link_id : 0;
		q->tp[q->tn++].i = (size_t)(first + (int64_t)i);
	}
}

/* upto: the last visit id indexed; last: the id of the visit just logged. */
static int vindex_merge(sq_store *q, int64_t upto, int64_t last)
{
	struct vgroup *p;
	int64_t from;
	/* the noted pairs are the whole tail: no other writer appended to it,
	 * nothing of it was deleted or rolled back since */
	bool mem = q->tfrom == upto && q->tfrom + (int64_t)q->tn == last;
	int rc = 0;

	if (last - upto < VINDEX_TAIL)
		return 0;
	p = malloc(2 * VINDEX_CHUNK * sizeof(*p)); /* the second half: vgroup_sort's */
	if (!p)
		return sq_err(q, SH_ENOMEM, "%s", "visit index: out of memory");
	for (from = upto; from < last && !rc; from += VINDEX_CHUNK)
		rc = vindex_chunk(q, from, last - from > VINDEX_CHUNK ? from + VINDEX_CHUNK : last,
		                  mem, p);
	free(p);
	q->tn = 0;
	q->tfrom = rc ? INT64_MIN : last;
	return rc ? rc : run_int(q, ST_VINDEX_MARK, last, "visit index");
}

/*
 * A batch of visits: the counters first (count_visits), then one log row
 * per visit of a link that still exists (and per orphan visit), in the
 * batch's order, appended to the unindexed log, then the running totals,
 * and now and then the bulk indexing of the log's tail. HEAD visits are
 * logged, never counted.
 */
static int sq_visits_add(store *s, const sh_visit *v, size_t n)
{
	sq_store *q = SQ(s);
	int64_t add[2][2] = {{0, 0}, {0, 0}}, last = 0, upto = 0, max_id = 0;
	sqlite3_stmt *st = NULL;
	struct vgroup *g = NULL;
	unsigned char *drop = NULL;
	size_t i, j, r, rows;
	int own, k, rc;

	for (i = 0; i < n; i++)
		if (v[i].kind < VISIT_NORMAL || v[i].kind > VISIT_HEAD)
			return sq_err(q, SH_EINVAL, "%s", "visits add: unknown visit kind");
	if (n == 0)
		return 0;
	g = malloc(2 * n * sizeof(*g)); /* the second half: vgroup_sort's */
	drop = calloc(n, 1);
	if (!g || !drop) {
		free(g);
		free(drop);
		return sq_err(q, SH_ENOMEM, "%s", "visits add: out of memory");
	}
	for (i = 0; i < n; i++) {
		g[i].link = v[i].link_id > 0 ? v[i].link_id : 0;
		g[i].i = i;
	}
	vgroup_sort(g, g + n, n);
	if ((rc = op_begin(q, &own))) {
		free(g);
		free(drop);
		return rc;
	}
	if ((rc = count_visits(q, v, g, n, drop, add)))
		goto out;
	/* the log rows, in the batch's order: VISIT_ROWS a statement, the rest
	 * one by one */
	for (i = j = 0; i < n; i++) {
		if (drop[i])
			continue;
		g[j++].i = i; /* g is free again: the kept visits, in order */
	}
	if ((rc = query_int64(q, ST_VINDEX_UPTO, &upto, "visit index")) ||
	    (rc = query_int64(q, ST_VISIT_MAX_ID, &max_id, "log visit")))
		goto out;
	if (j > 0 && max_id < upto) {
		if ((rc = stmt(q, ST_VISIT_INSERT_AT, &st)))
			goto out;
		sqlite3_bind_int64(st, 1, upto + 1);
		bind_visit(st, 1, &v[g[0].i]);
		if ((rc = step_done(q, st, "log visit")))
			goto out;
		last = upto + 1;
		tail_note(q, last, v, g, 1);
		memmove(g, g + 1, --j * sizeof(*g));
	}
	for (i = 0; i < j; i += rows) {
		rows = j - i >= VISIT_ROWS ? VISIT_ROWS : 1;
		if ((rc = stmt(q, rows > 1 ? ST_VISIT_INSERT_N : ST_VISIT_INSERT, &st)))
			goto out;
		for (r = 0; r < rows; r++)
			bind_visit(st, (int)r * VROW_PARAMS, &v[g[i + r].i]);
		if ((rc = step_done(q, st, "log visit")))
			goto out;
		last = sqlite3_last_insert_rowid(q->db);
		tail_note(q, last - (int64_t)rows + 1, v, g + i, rows);
	}
	for (k = 0; k < 2; k++) {
		if (!add[k][0])
			continue;
		if ((rc = stmt(q, ST_TOTALS_ADD, &st)))
			goto out;
		sqlite3_bind_int(st, 1, k);
		sqlite3_bind_int64(st, 2, add[k][0]);
		sqlite3_bind_int64(st, 3, add[k][1]);
		if ((rc = step_done(q, st, "visit totals")))
			goto out;
	}
	if (last)
		rc = vindex_merge(q, upto, last);
out:
	free(g);
	free(drop);
	return op_end(q, own, rc);
}

static int sq_visits_list(store *s, const sh_visit_query *vq, sh_visit_cb cb, void *ud,
                          int64_t *total)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	bool temp;
	sh_visit v;
	sqlq *b;
	int rc, cbrc = 0;

	if (!vq)
		return sq_err(q, SH_EINVAL, "%s", "visits list: no query");
	if (!(b = sqlq_new(s, &sq_dialect)))
		return SH_ENOMEM;
	if (total) {
		sqlq_visit_list(b, vq, true);
		if ((rc = sq_one(s, b, total, "count visits")))
			goto out;
	}
	rc = 0;
	if (!cb)
		goto out;
	sqlq_visit_list(b, vq, false);
	if ((rc = qb_prepare(q, b, &st, &temp)))
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v.link_id = sqlite3_column_int64(st, 1);
		v.ts = sqlite3_column_int64(st, 2);
		v.kind = sqlite3_column_int(st, 3);
		v.orphan_type = sqlite3_column_int(st, 4);
		v.referer = (const char *)sqlite3_column_text(st, 5);
		v.user_agent = (const char *)sqlite3_column_text(st, 6);
		v.visited_url = (const char *)sqlite3_column_text(st, 7);
		v.ip = (const char *)sqlite3_column_text(st, 8);
		v.location = (const char *)sqlite3_column_text(st, 9);
		if ((cbrc = cb(&v, sqlite3_column_int64(st, 0), ud)) != 0)
			break;
	}
	if (cbrc)
		rc = cbrc < 0 ? cbrc : 0;
	else
		rc = rc == SQLITE_DONE ? 0 : sq_fail(q, rc, "list visits");
	qb_done(st, temp);
out:
	free(b);
	return rc;
}

static int sq_visits_totals(store *s, int64_t owner_key_id, sh_visit_totals *links,
                            sh_visit_totals *orphans)
{
	sq_store *q = SQ(s);
	sh_visit_totals t[2] = {{0, 0}, {0, 0}};
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt(q, ST_TOTALS_GET, &st)))
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int k = sqlite3_column_int(st, 0);
		if (k == 0 || k == 1) {
			t[k].total = sqlite3_column_int64(st, 1);
			t[k].bots = sqlite3_column_int64(st, 2);
		}
	}
	rc = rc == SQLITE_DONE ? 0 : sq_fail(q, rc, "visit totals");
	sqlite3_reset(st);
	if (rc)
		return rc;
	/* an owner's links: a sum over that owner's rows of links, still no
	 * scan of the visit log. Orphan visits belong to no owner. */
	if (owner_key_id) {
		t[1].total = t[1].bots = 0;
		if ((rc = stmt(q, ST_TOTALS_OWNER, &st)))
			return rc;
		sqlite3_bind_int64(st, 1, owner_key_id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			t[0].total = sqlite3_column_int64(st, 0);
			t[0].bots = sqlite3_column_int64(st, 1);
			rc = 0;
		} else {
			rc = sq_fail(q, rc, "visit totals");
		}
		sqlite3_reset(st);
		if (rc)
			return rc;
	}
	if (links)
		*links = t[0];
	if (orphans)
		*orphans = t[1];
	return 0;
}

static int sq_visits_prune_details(store *s, int64_t before, int64_t max_rows, int64_t *pruned)
{
	return sqlq_prune(s, &sq_dialect, before, max_rows, pruned);
}

static int sq_visits_delete(store *s, int64_t link_id, int64_t *deleted)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	int own, rc;

	if ((rc = op_begin(q, &own)))
		return rc;
	if (link_id > 0) {
		if ((rc = stmt(q, ST_LINK_EXISTS, &st)))
			goto out;
		sqlite3_bind_int64(st, 1, link_id);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE) { /* nothing to delete */
			rc = 0;
			goto out;
		}
		if (rc != SQLITE_ROW) {
			rc = sq_fail(q, rc, "visits delete");
			goto out;
		}
		if ((rc = drop_link_visits(q, link_id, &n)) ||
		    (rc = run_int(q, ST_TOTALS_SUB_LINK, link_id, "delete visits")))
			goto out;
		rc = run_int(q, ST_LINK_RESET_VISITS, link_id, "delete visits");
	} else {
		if ((rc = drop_link_visits(q, 0, &n)))
			goto out;
		rc = run(q, ST_TOTALS_RESET_ORPHANS, "delete orphan visits");
	}
out:
	rc = op_end(q, own, rc);
	if (rc == 0 && deleted)
		*deleted = n;
	return rc;
}

/* ---- tags ---------------------------------------------------------------- */

static int sq_tags_stats(store *s, const sh_tag_query *tq, sh_tag_cb cb, void *ud,
                         int64_t *total)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	sh_tag_stats t;
	sqlq *b = NULL;
	bool temp = false;
	int rc, cbrc = 0;

	if ((rc = sqlq_tags_check(s, tq)))
		return rc;
	if (!(b = sqlq_new(s, &sq_dialect)))
		return SH_ENOMEM;
	if (total) {
		sqlq_tags(b, tq, true);
		if ((rc = sq_one(s, b, total, "count tags")))
			goto out;
	}
	if (!cb)
		goto out;
	sqlq_tags(b, tq, false);
	if ((rc = qb_prepare(q, b, &st, &temp)))
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&t, 0, sizeof(t));
		copy_col(t.tag, sizeof(t.tag), st, 0);
		t.links = sqlite3_column_int64(st, 1);
		t.visits = sqlite3_column_int64(st, 2);
		t.bot_visits = sqlite3_column_int64(st, 3);
		if ((cbrc = cb(&t, ud)) != 0)
			break;
	}
	if (cbrc)
		rc = cbrc < 0 ? cbrc : 0;
	else
		rc = rc == SQLITE_DONE ? 0 : sq_fail(q, rc, "tag stats");
	qb_done(st, temp);
out:
	free(b);
	return rc;
}

static int sq_tag_rename(store *s, const char *from, const char *to)
{
	return sqlq_tag_rename(s, &sq_dialect, from, to);
}

static int sq_tag_delete(store *s, const char *tag)
{
	return sqlq_tag_delete(s, &sq_dialect, tag);
}

/* ---- API keys ------------------------------------------------------------ */

static void read_key(sqlite3_stmt *st, sh_api_key *k)
{
	const void *h;

	memset(k, 0, sizeof(*k));
	k->id = sqlite3_column_int64(st, 0);
	copy_col(k->name, sizeof(k->name), st, 1);
	k->role = sqlite3_column_int(st, 2);
	h = sqlite3_column_blob(st, 3);
	if (h && sqlite3_column_bytes(st, 3) == SH_KEY_HASH_BYTES)
		memcpy(k->hash, h, SH_KEY_HASH_BYTES);
	copy_col(k->prefix, sizeof(k->prefix), st, 4);
	k->created_at = sqlite3_column_int64(st, 5);
	k->revoked_at = sqlite3_column_int64(st, 6);
}

static int sq_key_insert(store *s, sh_api_key *k)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt(q, ST_KEY_INSERT, &st)))
		return rc;
	sqlite3_bind_text(st, 1, k->name, (int)strnlen(k->name, SH_KEY_NAME_MAX), SQLITE_STATIC);
	sqlite3_bind_int(st, 2, k->role);
	sqlite3_bind_blob(st, 3, k->hash, SH_KEY_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, k->prefix, (int)strnlen(k->prefix, sizeof(k->prefix) - 1),
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, k->created_at);
	sqlite3_bind_int64(st, 6, k->revoked_at);
	rc = step_done(q, st, "insert key");
	if (rc == SH_ETAKEN)
		return sq_err(q, SH_ETAKEN, "%s", "an API key with this hash already exists");
	if (rc == 0)
		k->id = sqlite3_last_insert_rowid(q->db);
	return rc;
}

static int sq_key_get_by_hash(store *s, const uint8_t hash[SH_KEY_HASH_BYTES], sh_api_key *out)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt(q, ST_KEY_GET, &st)))
		return rc;
	sqlite3_bind_blob(st, 1, hash, SH_KEY_HASH_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_key(st, out);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = sq_err(q, SH_ENOTFOUND, "%s", "no such API key");
	} else {
		rc = sq_fail(q, rc, "get key");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static int sq_key_list(store *s, sh_key_cb cb, void *ud)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	sh_api_key k;
	int rc, cbrc = 0;

	if ((rc = stmt(q, ST_KEY_LIST, &st)))
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_key(st, &k);
		if ((cbrc = cb(&k, ud)) != 0)
			break;
	}
	if (cbrc)
		rc = cbrc < 0 ? cbrc : 0;
	else
		rc = rc == SQLITE_DONE ? 0 : sq_fail(q, rc, "list keys");
	sqlite3_reset(st);
	return rc;
}

static int sq_key_revoke(store *s, int64_t id, int64_t when)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = stmt(q, ST_KEY_REVOKE, &st)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, when);
	if ((rc = step_done(q, st, "revoke key")))
		return rc;
	if (sqlite3_changes(q->db) > 0)
		return 0;
	/* nothing changed: already revoked (keep the first date) or no such key */
	if ((rc = stmt(q, ST_KEY_EXISTS, &st)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return sq_err(q, SH_ENOTFOUND, "%s", "no such API key");
	return sq_fail(q, rc, "revoke key");
}

static int sq_key_count(store *s, int64_t *n)
{
	return query_int64(SQ(s), ST_KEY_COUNT, n, "count keys");
}

/* One process writes a SQLite store: there is no other instance's cache
 * to tell (a CLI writing the same file is seen after the cache TTL). */
static int sq_notify(store *s, const char *msg)
{
	(void)s, (void)msg;
	return 0;
}

/* ---- domains ------------------------------------------------------------- */

static int sq_domain_list(store *s, sh_domain_cb cb, void *ud)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	sh_domain d;
	int i, rc, cbrc = 0;

	if ((rc = stmt(q, ST_DOMAIN_LIST, &st)))
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&d, 0, sizeof(d));
		d.id = sqlite3_column_int64(st, 0);
		copy_col(d.authority, sizeof(d.authority), st, 1);
		/* the row's own strings, valid during the callback */
		for (i = 0; i < SH_REDIRECTS; i++)
			d.redirect[i] = (char *)sqlite3_column_text(st, 2 + i);
		if ((cbrc = cb(&d, ud)) != 0)
			break;
	}
	if (cbrc)
		rc = cbrc < 0 ? cbrc : 0;
	else
		rc = rc == SQLITE_DONE ? 0 : sq_fail(q, rc, "list domains");
	sqlite3_reset(st);
	return rc;
}

static int sq_domain_add(store *s, const char *authority, int64_t *id)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if (!authority || !*authority || strlen(authority) > SH_AUTHORITY_MAX)
		return sq_err(q, SH_EINVAL, "%s", "domain: bad authority");
	if ((rc = stmt(q, ST_DOMAIN_ADD, &st)))
		return rc;
	sqlite3_bind_text(st, 1, authority, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? 0 : sq_fail(q, rc, "add domain");
	} else {
		rc = sq_fail(q, rc, "add domain");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static int sq_domain_set_redirects(store *s, const sh_domain *d)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int i, rc;

	if (!d || !d->authority[0])
		return sq_err(q, SH_EINVAL, "%s", "domain: bad authority");
	if ((rc = stmt(q, ST_DOMAIN_REDIRECTS, &st)))
		return rc;
	sqlite3_bind_text(st, 1, d->authority, -1, SQLITE_STATIC);
	for (i = 0; i < SH_REDIRECTS; i++) {
		if (d->redirect[i])
			sqlite3_bind_text(st, 2 + i, d->redirect[i], -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 2 + i);
	}
	return step_done(q, st, "set domain redirects");
}

/* ---- copying a whole store (store.h: sh_copy_table) ---------------------- */

/* Per logical table: its rows in key order, and one row in. The index of
 * the visit log by link (visits_by_link) and its mark are not copied: the
 * index is built again by sq_copy_finish. */
static const struct {
	const char *select, *insert;
} sq_copy_sql[COPY_NTABLES] = {
    [COPY_META] = {"SELECT key, value FROM meta WHERE key <> 'visits_indexed_upto' ORDER BY key",
                   "INSERT INTO meta(key, value) VALUES (?1, ?2)"
                   " ON CONFLICT(key) DO UPDATE SET value = excluded.value"},
    [COPY_DOMAINS] = {"SELECT id, authority, base_url_redirect, regular_404_redirect,"
                      " invalid_short_url_redirect FROM domains ORDER BY id",
                      "INSERT INTO domains(id, authority, base_url_redirect,"
                      " regular_404_redirect, invalid_short_url_redirect)"
                      " VALUES (?1, ?2, ?3, ?4, ?5)"},
    [COPY_KEYS] = {"SELECT id, name, role, hash, prefix, created_at, revoked_at FROM api_keys"
                   " ORDER BY id",
                   "INSERT INTO api_keys(id, name, role, hash, prefix, created_at, revoked_at)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    [COPY_LINKS] = {"SELECT id, code_kind, url, url_hash, title, created_at, updated_at,"
                    " valid_since, expires_at, max_visits, redirect_status, forward_query,"
                    " crawlable, disabled, owner_key_id, redirect_rules, domain_id, dedupe"
                    " FROM links ORDER BY id",
                    "INSERT INTO links(id, code_kind, url, url_hash, title, created_at,"
                    " updated_at, valid_since, expires_at, max_visits, redirect_status,"
                    " forward_query, crawlable, disabled, owner_key_id, redirect_rules,"
                    " domain_id, dedupe) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                    " ?12, ?13, ?14, ?15, ?16, ?17, ?18)"},
    /* a counter code has no row here (its id is its code) */
    [COPY_CODES] = {"SELECT domain_id, code, link_id, 0 FROM codes ORDER BY link_id",
                    "INSERT INTO codes(domain_id, code, link_id) VALUES (?1, ?2, ?3)"},
    [COPY_TAGS] = {"SELECT link_id, tag FROM link_tags ORDER BY link_id, tag",
                   "INSERT INTO link_tags(link_id, tag) VALUES (?1, ?2)"},
    [COPY_COUNTS] = {"SELECT link_id, visits, bots FROM link_counts ORDER BY link_id",
                     "INSERT INTO link_counts(link_id, visits, bots) VALUES (?1, ?2, ?3)"},
    [COPY_VISITS] = {"SELECT id, link_id, ts, kind, orphan_type, referer, user_agent,"
                     " visited_url, ip, location FROM visits ORDER BY id",
                     "INSERT INTO visits(id, link_id, ts, kind, orphan_type, referer,"
                     " user_agent, visited_url, ip, location)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"},
    [COPY_TOTALS] = {"SELECT kind, total, bots FROM visit_totals ORDER BY kind",
                     "INSERT INTO visit_totals(kind, total, bots) VALUES (?1, ?2, ?3)"
                     " ON CONFLICT(kind) DO UPDATE SET total = excluded.total,"
                     " bots = excluded.bots"},
};

static int sq_copy_rows(store *s, int table, sh_row_cb cb, void *ud)
{
	sq_store *q = SQ(s);
	const char *types;
	sh_cell row[SH_COPY_COLS_MAX];
	sqlite3_stmt *st = NULL;
	int rc, n;

	if (table < 0 || table >= COPY_NTABLES)
		return sq_err(q, SH_EINVAL, "%s", "copy: no such table");
	types = sh_copy_tables[table].types;
	n = (int)strlen(types);
	rc = sqlite3_prepare_v2(q->db, sq_copy_sql[table].select, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(q, rc, "copy: read");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < n; i++) {
			sh_cell *c = &row[i];
			memset(c, 0, sizeof *c);
			if (sqlite3_column_type(st, i) == SQLITE_NULL) {
				c->type = SH_CELL_NULL;
			} else if (types[i] == 'i') {
				c->type = SH_CELL_INT;
				c->i = sqlite3_column_int64(st, i);
			} else {
				c->type = types[i] == 'b' ? SH_CELL_BLOB : SH_CELL_TEXT;
				c->s = types[i] == 'b' ? (const char *)sqlite3_column_blob(st, i)
				                       : (const char *)sqlite3_column_text(st, i);
				c->n = (size_t)sqlite3_column_bytes(st, i);
				if (!c->s && c->n) {
					sqlite3_finalize(st);
					return sq_err(q, SH_ENOMEM, "%s", "copy: out of memory");
				}
			}
		}
		if ((rc = cb(row, n, ud)) != 0) {
			sqlite3_finalize(st);
			return rc;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : sq_fail(q, rc, "copy: read");
	sqlite3_finalize(st);
	return rc;
}

static int sq_copy_put(store *s, int table, const sh_cell *row)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc, n;

	if (table < 0 || table >= COPY_NTABLES)
		return sq_err(q, SH_EINVAL, "%s", "copy: no such table");
	if (!row)
		return 0; /* the end of the table: each row was put at once */
	if (table == COPY_CODES && row[3].type == SH_CELL_INT && row[3].i)
		return 0; /* a counter code: no row */
	n = (int)strlen(sh_copy_tables[table].types);
	rc = sqlite3_prepare_v2(q->db, sq_copy_sql[table].insert, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(q, rc, "copy: write");
	for (int i = 0; i < n; i++) {
		const sh_cell *c = &row[i];
		if (c->type == SH_CELL_INT)
			sqlite3_bind_int64(st, i + 1, c->i);
		else if (c->type == SH_CELL_TEXT)
			sqlite3_bind_text(st, i + 1, c->s, (int)c->n, SQLITE_STATIC);
		else if (c->type == SH_CELL_BLOB)
			sqlite3_bind_blob(st, i + 1, c->s, (int)c->n, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, i + 1);
	}
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : sq_fail(q, rc, sh_copy_tables[table].name);
	sqlite3_finalize(st);
	return rc;
}

static int sq_copy_count(store *s, int64_t *rows)
{
	sq_store *q = SQ(s);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(q->db,
	                            "SELECT (SELECT count(*) FROM links) + (SELECT count(*) FROM"
	                            " api_keys) + (SELECT count(*) FROM domains) +"
	                            " (SELECT count(*) FROM visits)",
	                            -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sq_fail(q, rc, "copy: count");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*rows = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = sq_fail(q, rc, "copy: count");
	}
	sqlite3_finalize(st);
	return rc;
}

/* Ids: sq_next_id starts above max(links.id), and the other tables' rowids
 * above their max; only the log's index by link is built again. */
static int sq_copy_finish(store *s)
{
	sq_store *q = SQ(s);
	int rc = sqlite3_exec(q->db,
	                      "DELETE FROM visits_by_link;"
	                      "DELETE FROM visit_runs;"
	                      "INSERT INTO visit_runs(run) SELECT max(id) FROM visits"
	                      " HAVING max(id) IS NOT NULL;"
	                      "INSERT INTO visits_by_link(run, link_id, id)"
	                      " SELECT (SELECT max(id) FROM visits), link_id, id FROM visits"
	                      " ORDER BY link_id, id;"
	                      "INSERT INTO meta(key, value)"
	                      " SELECT 'visits_indexed_upto', CAST(coalesce(max(id), 0) AS TEXT)"
	                      " FROM visits WHERE true"
	                      " ON CONFLICT(key) DO UPDATE SET value = excluded.value;",
	                      NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sq_fail(q, rc, "copy: index the visits");
}

/* The two backends are one implementation; only the name differs (what
 * `serve` logs, and what callers may still check until capability flags
 * replace it). */
/* clang-format off */
#define SQ_OPS(NAME) \
	.iVersion = 1,                            \
	.name = NAME,                             \
	.close = sq_close,                        \
	.migrate = sq_migrate,                    \
	.schema_version = sq_schema_version,      \
	.ping = sq_ping,                          \
	.begin = sq_begin,                        \
	.commit = sq_commit,                      \
	.rollback = sq_rollback,                  \
	.savepoint = sq_savepoint,                \
	.release = sq_release,                    \
	.rollback_to = sq_rollback_to,            \
	.in_txn = sq_in_txn,                      \
	.meta_get = sq_meta_get,                  \
	.meta_set = sq_meta_set,                  \
	.meta_add = sq_meta_add,                  \
	.next_id = sq_next_id,                    \
	.link_insert = sq_link_insert,            \
	.link_get = sq_link_get,                  \
	.link_get_by_code = sq_link_get_by_code,  \
	.code_exists = sq_code_exists,            \
	.link_find_dup = sq_link_find_dup,        \
	.link_find_match = sq_link_find_match,    \
	.link_update = sq_link_update,            \
	.link_dedupe = sq_link_dedupe,            \
	.link_delete = sq_link_delete,            \
	.link_list = sq_link_list,                \
	.visits_add = sq_visits_add,              \
	.visits_list = sq_visits_list,            \
	.visits_totals = sq_visits_totals,        \
	.visits_delete = sq_visits_delete,                                                         \
	.visits_prune_details = sq_visits_prune_details,        \
	.tags_stats = sq_tags_stats,              \
	.tag_rename = sq_tag_rename,              \
	.tag_delete = sq_tag_delete,              \
	.key_insert = sq_key_insert,              \
	.key_get_by_hash = sq_key_get_by_hash,    \
	.key_list = sq_key_list,                  \
	.key_revoke = sq_key_revoke,              \
	.key_count = sq_key_count,                \
	.notify = sq_notify,                      \
	.domain_list = sq_domain_list,            \
	.domain_add = sq_domain_add,              \
	.domain_set_redirects = sq_domain_set_redirects, \
	.copy_rows = sq_copy_rows,                \
	.copy_put = sq_copy_put,                  \
	.copy_count = sq_copy_count,              \
	.copy_finish = sq_copy_finish,
/* clang-format on */

static const store_ops sqlite_ops = {SQ_OPS("sqlite")};
static const store_ops memory_ops = {SQ_OPS("memory")};

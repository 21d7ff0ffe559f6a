/*
 * postgres.c — the PostgreSQL backend of the store interface (store.h), on
 * libpq: `--db postgres://USER@HOST:PORT/DB` (any libpq URI).
 *
 * One `pg_store` is one libpq connection, used by one thread at a time, as
 * every store handle. Several shorty instances on one database behave as
 * one (issue 8): everything that must be unique is made unique by the
 * database itself, never by a check followed by an insert.
 *
 * Shape of the data: the SQLite schema (sqlite.c) with these differences,
 * each for the many-instances case:
 *   codes        also holds each generated ("counter") code, marked
 *                `generated`: the primary key on the code text is then what
 *                decides between a custom code and the generator racing for
 *                the same code on two instances (23505 -> SH_ETAKEN). The
 *                rows marked generated are invisible to code_exists and
 *                link_get_by_code, so the store answers as SQLite's does.
 *   ids          leased in blocks of ID_BLOCK from a sequence, one round
 *                trip per block (the SQL function shorty_id_block): no two
 *                instances ever hand out the same id; a block is dropped
 *                after any reconnect (a lost block is never re-issued, but
 *                one we cannot be sure of is not worth keeping).
 *   visits       written with COPY (the cheapest measured write, research
 *                scale-out.md §4); the counters by one upsert per flush,
 *                sorted by link id (rows locked in key order: no deadlock
 *                between instances flushing at once).
 *   visit_totals one row per (kind, slot): each connection adds to a slot
 *                of its own choosing, the totals are the sum, so instances
 *                flushing at once never wait on one hot row.
 *   shorty_schema the schema version (PRAGMA user_version on SQLite), with
 *                the same numbers: the first PostgreSQL schema is SQLite's
 *                version 2. Migrations run under an advisory lock, so
 *                instances starting together migrate once.
 *
 * Every query has bound parameters ($n, text format); list queries are
 * assembled from fixed fragments by sqlq.c, as sqlite.c's are.
 *
 * Errors: SQLSTATE 23505 (unique) is SH_ETAKEN; a lost connection, a
 * server shutting down or starting is SH_ESTORE ("unavailable", 503 above);
 * serialization failures and lock timeouts SH_EBUSY; disk full SH_EFULL.
 * A connection found broken outside a transaction is reset before the next
 * query; inside one the transaction is lost and every op fails until the
 * caller rolls back.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <libpq-fe.h>
#include "store/pqload.h" /* libpq loaded when first used */
#include <sodium.h>

#include "shorty/store.h"
#include "shorty/timeutil.h"
#include "shorty/utf8.h"
#include "store/feed.h"
#include "store/lookups.h"
#include "store/sqlq.h"

#define ID_BLOCK 1000      /* ids leased per round trip */
/* Client-side deadlines (research scale-out.md §5: against a peer that is
 * there but silent, a paused proxy or a hung server, no server-side timeout
 * and no TCP setting fired; only our own clock does). A query that runs
 * past its deadline has its connection cut. */
#define QUERY_DEADLINE_MS 1500   /* every query: a create answers 503 within 2 s */
#define CONNECT_DEADLINE_MS 1500 /* a connection, or a reconnection */
#define FLUSH_DEADLINE_MS 10000  /* a visit flush (COPY of up to 65,536 rows) */
#define LIST_ALL_DEADLINE_MS 120000 /* a list without a limit (export) */
#define MIGRATE_DEADLINE_MS 120000 /* a migration, and waiting for another's */
#define BACKOFF_MIN_MS 50        /* reconnect: exponential backoff, full jitter */
#define BACKOFF_MAX_MS 2000
#define TOTAL_SLOTS 16     /* visit_totals rows per kind */
#define MIGRATE_LOCK 0x73686f7274790001LL /* "shorty" + 1: pg_advisory_lock key */

/* ---- schema -------------------------------------------------------------- */

/* Each entry moves the schema to `version`, in one transaction. The first
 * is SQLite's version 2 as a whole (PostgreSQL has no older shorty data).
 * Never edit a released entry: append a new one with the next number, the
 * same as SQLite's. */
static const struct {
	int version;
	const char *sql;
} migrations[] = {
    {2,
     "CREATE TABLE links("
     " id bigint PRIMARY KEY,"
     " code_kind int NOT NULL DEFAULT 0,"
     " url text COLLATE \"C\" NOT NULL,"
     " url_hash bigint NOT NULL,"
     " title text COLLATE \"C\","
     " created_at bigint NOT NULL,"
     " updated_at bigint NOT NULL,"
     " valid_since bigint NOT NULL DEFAULT 0,"
     " expires_at bigint NOT NULL DEFAULT 0,"
     " max_visits bigint NOT NULL DEFAULT 0,"
     " redirect_status int NOT NULL DEFAULT 302,"
     " forward_query int NOT NULL DEFAULT 1,"
     " crawlable int NOT NULL DEFAULT 0,"
     " disabled int NOT NULL DEFAULT 0,"
     " owner_key_id bigint NOT NULL DEFAULT 0);"
     "CREATE INDEX links_url_hash ON links(url_hash);"
     "CREATE INDEX links_created ON links(created_at);"
     "CREATE TABLE codes("
     " code text COLLATE \"C\" PRIMARY KEY,"
     " link_id bigint NOT NULL UNIQUE REFERENCES links(id) ON DELETE CASCADE,"
     " generated boolean NOT NULL DEFAULT false);"
     "CREATE TABLE link_tags("
     " link_id bigint NOT NULL REFERENCES links(id) ON DELETE CASCADE,"
     " tag text COLLATE \"C\" NOT NULL,"
     " PRIMARY KEY(link_id, tag));"
     "CREATE INDEX link_tags_tag ON link_tags(tag);"
     "CREATE TABLE link_counts("
     " link_id bigint PRIMARY KEY,"
     " visits bigint NOT NULL DEFAULT 0,"
     " bots bigint NOT NULL DEFAULT 0);"
     "CREATE TABLE visits("
     " id bigserial PRIMARY KEY,"
     " link_id bigint NOT NULL,"
     " ts bigint NOT NULL,"
     " kind int NOT NULL,"
     " orphan_type int NOT NULL DEFAULT 0,"
     " referer text, user_agent text, visited_url text, ip text);"
     "CREATE INDEX visits_link ON visits(link_id, id);"
     "CREATE TABLE visit_totals("
     " kind int NOT NULL,"
     " slot int NOT NULL,"
     " total bigint NOT NULL DEFAULT 0,"
     " bots bigint NOT NULL DEFAULT 0,"
     " PRIMARY KEY(kind, slot));"
     "CREATE TABLE api_keys("
     " id bigserial PRIMARY KEY,"
     " name text NOT NULL,"
     " role int NOT NULL,"
     " hash bytea NOT NULL UNIQUE,"
     " prefix text NOT NULL,"
     " created_at bigint NOT NULL,"
     " revoked_at bigint NOT NULL DEFAULT 0);"
     "CREATE TABLE meta(key text PRIMARY KEY, value text NOT NULL);"
     /* blocks of ids: nextval is the first id of a block of 1000. Every
      * move of the sequence happens under one advisory lock, so a jump to
      * a floor (the first id of the configured code length, or above ids
      * written by hand: an import, a copy) never moves it backwards past a
      * block another instance has just taken. */
     "CREATE SEQUENCE shorty_id_blocks INCREMENT BY 1000 MINVALUE 1 START 1;"
     "CREATE FUNCTION shorty_id_block(lo bigint) RETURNS bigint LANGUAGE plpgsql AS $f$"
     " DECLARE b bigint; floor bigint;"
     " BEGIN"
     "  PERFORM pg_advisory_lock(7523094288207667458);"
     "  floor := greatest(lo, coalesce((SELECT max(id) FROM links), 0) + 1,"
     "   coalesce((SELECT value::bigint FROM meta WHERE key = 'id_hwm'), 0) + 1);"
     "  b := nextval('shorty_id_blocks');"
     "  IF b < floor THEN"
     "   PERFORM setval('shorty_id_blocks', floor, false);"
     "   b := nextval('shorty_id_blocks');"
     "  END IF;"
     "  PERFORM pg_advisory_unlock(7523094288207667458);"
     "  RETURN b;"
     " END $f$;"},
    /* 3 (sqlite.c's 3): a link's Shlink redirect rules (the JSON array
     * rules_to_json() writes, NULL for none); a visit's location
     * (Shlink's visitLocation as JSON, NULL when unknown) */
    {3, "ALTER TABLE links ADD COLUMN redirect_rules text;"
        "ALTER TABLE visits ADD COLUMN location text;"},
    /* 4 (sqlite.c's 4): domains; a code (generated ones too) is unique
     * per (domain, code) */
    {4, "CREATE TABLE domains("
        " id bigserial PRIMARY KEY,"
        " authority text COLLATE \"C\" NOT NULL UNIQUE,"
        " base_url_redirect text,"
        " regular_404_redirect text,"
        " invalid_short_url_redirect text);"
        "ALTER TABLE links ADD COLUMN domain_id bigint NOT NULL DEFAULT 0;"
        "ALTER TABLE codes ADD COLUMN domain_id bigint NOT NULL DEFAULT 0;"
        "ALTER TABLE codes DROP CONSTRAINT codes_pkey;"
        "ALTER TABLE codes ADD PRIMARY KEY (domain_id, code);"},
    /* 5 (sqlite.c's 5): the dedupe claim: two instances deduplicating the
     * same URL cannot both create (the unique key decides) */
    {5, "ALTER TABLE links ADD COLUMN dedupe int NOT NULL DEFAULT 0;"
        "CREATE UNIQUE INDEX links_dedupe ON links(domain_id, owner_key_id, url_hash)"
        " WHERE dedupe = 1;"},
    /* 6 (sqlite.c's 6): SQLite's index of the log by link goes into runs;
     * nothing changes here (the server keeps visits_link as it writes),
     * the number is taken so that both stores count their schemas alike */
    {6, "SELECT 1;"},
};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))
#define SCHEMA_LATEST (migrations[NMIGRATIONS - 1].version)

/* ---- statements ---------------------------------------------------------- */

/* a link's tags in one column, joined by US (0x1f, never in a tag) */
#define TAGS_COL                                                                                   \
	"(SELECT string_agg(t.tag, chr(31) ORDER BY t.tag) FROM link_tags t"                      \
	" WHERE t.link_id = l.id)"
#define LINK_COLS                                                                                  \
	"l.id, coalesce(c.code, ''), l.code_kind, l.url, l.url_hash, l.title,"                     \
	" l.created_at, l.updated_at, l.valid_since, l.expires_at, l.max_visits,"                  \
	" coalesce(n.visits, 0), coalesce(n.bots, 0), l.redirect_status, l.forward_query,"         \
	" l.crawlable, l.disabled, l.owner_key_id, " TAGS_COL ", l.redirect_rules, l.domain_id,"                 \
	" coalesce((SELECT d.authority FROM domains d WHERE d.id = l.domain_id), '')"
#define COUNTS_JOIN " LEFT JOIN link_counts n ON n.link_id = l.id"
/* LINK_COLS' columns as a redirect needs them: tags, title, code, domain
 * name and times left out (NULL, '' or 0) */
#define REDIRECT_COLS                                                                              \
	"l.id, '', l.code_kind, l.url, 0, NULL, 0, 0, l.valid_since, l.expires_at, l.max_visits,"   \
	" coalesce(n.visits, 0), coalesce(n.bots, 0), l.redirect_status, l.forward_query,"          \
	" l.crawlable, l.disabled, l.owner_key_id, NULL, l.redirect_rules, l.domain_id, ''"
/* generated codes are the service's: the store answers "" for them */
#define CODES_JOIN " LEFT JOIN codes c ON c.link_id = l.id AND NOT c.generated"
#define LINK_FROM " FROM links l" CODES_JOIN COUNTS_JOIN
/* the code a link is shown with, generated or not */
#define CODE_OF "coalesce((SELECT x.code FROM codes x WHERE x.link_id = l.id), '')"
#define KEY_COLS "id, name, role, encode(hash, 'hex'), prefix, created_at, revoked_at"

#define SQL_LINK_INSERT                                                                            \
	"INSERT INTO links(id, code_kind, url, url_hash, title, created_at,"                       \
	" updated_at, valid_since, expires_at, max_visits,"                                        \
	" redirect_status, forward_query, crawlable, disabled, owner_key_id, redirect_rules,"      \
	" domain_id)"                                                                              \
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
#define SQL_LINK_UPDATE                                                                            \
	"UPDATE links SET code_kind = $2, url = $3, url_hash = $4, title = $5,"                    \
	" created_at = $6, updated_at = $7, valid_since = $8, expires_at = $9,"                    \
	" max_visits = $10, redirect_status = $11, forward_query = $12,"                           \
	" crawlable = $13, disabled = $14, owner_key_id = $15, redirect_rules = $16"               \
	" WHERE id = $1"
#define SQL_TOTALS_ADD                                                                             \
	"INSERT INTO visit_totals(kind, slot, total, bots) VALUES ($1, $2, $3, $4)"               \
	" ON CONFLICT (kind, slot) DO UPDATE SET total = visit_totals.total + excluded.total,"     \
	" bots = visit_totals.bots + excluded.bots"

/* ---- the handle ---------------------------------------------------------- */

#define PEND_MAX 256 /* statements on the pipeline before it is read */
#define PEND_EXEC (-1)

typedef struct pg_store {
	store base; /* first: a store * is a pg_store * */
	PGconn *conn;
	bool read_only;
	bool txn;            /* a transaction of ours is open (or was, until rollback) */
	int sp_depth;        /* open savepoints made by store_savepoint */
	int slot;            /* this connection's visit_totals row */
	int64_t blk_next;    /* leased ids [blk_next, blk_end); empty when equal */
	int64_t blk_end;
	int deadline_ms;     /* of the query being run (QUERY_DEADLINE_MS or longer) */
	bool cut;            /* the last failure was our deadline */
	int be_pid;          /* the server process of this connection */
	int lost_pid;        /* of a connection lost in a transaction, until ended (fence) */
	int64_t retry_at_ms; /* a broken connection is not retried before this */
	int backoff_ms;      /* 0 while connected; 50 .. 2000 while PostgreSQL is away */
	uint64_t rng;        /* for the jitter */
	uint32_t prepared;   /* stmts[] prepared on this connection (bit i) */
	int npend;           /* statements sent on the pipeline, not yet read */
	signed char pend[PEND_MAX]; /* each: PEND_EXEC, or the statement it prepares */
	sh_err pend_err;     /* a queued write's failure in this transaction */
} pg_store;

static pg_store *PG(store *s)
{
	return (pg_store *)s;
}

static void pg_notice(void *arg, const char *msg)
{
	(void)arg, (void)msg; /* "relation already exists, skipping" and the like */
}

#define pg_err(p, code, ...) sh_err_set(&(p)->base.last_err, (code), NULL, __VA_ARGS__)

/* ---- parameters ----------------------------------------------------------- */

#define PRM_MAX 64

/* Parameters in text format: numbers formatted into num[], strings
 * pointed at (NULL = SQL NULL). */
typedef struct prm {
	int n;
	bool overflow;
	const char *v[PRM_MAX];
	char num[PRM_MAX][24];
} prm;

static void p_int(prm *b, int64_t x)
{
	if (b->n == PRM_MAX) {
		b->overflow = true;
		return;
	}
	snprintf(b->num[b->n], sizeof(b->num[0]), "%lld", (long long)x);
	b->v[b->n] = b->num[b->n];
	b->n++;
}

static void p_str(prm *b, const char *s)
{
	if (b->n == PRM_MAX) {
		b->overflow = true;
		return;
	}
	b->v[b->n++] = s;
}

/* ---- errors and the connection ------------------------------------------- */

/* SH_E* of a failed result (or of the connection, when res is NULL). */
static int map_state(pg_store *p, const PGresult *res)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(p->conn) != CONNECTION_OK || !st)
		return SH_ESTORE;
	if (strcmp(st, "23505") == 0)
		return SH_ETAKEN;
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0 ||
	    strcmp(st, "57014") == 0)
		return SH_EBUSY;
	if (strcmp(st, "53100") == 0)
		return SH_EFULL;
	if (strcmp(st, "53200") == 0)
		return SH_ENOMEM;
	if (strcmp(st, "42P01") == 0 || strcmp(st, "42883") == 0)
		return SH_ESCHEMA; /* no such table / function: not migrated */
	return SH_ESTORE;
}

/* Records a failure in last_err (first line of the server's message);
 * returns its SH_E*. */
static int pg_fail(pg_store *p, const PGresult *res, const char *what)
{
	int code = map_state(p, res);
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	size_t n;

	/* a failed statement aborts PostgreSQL's transaction: in group mode
	 * (no savepoint per op) the caller undoes and replays the group */
	if (p->txn && p->base.group)
		p->base.group_failed = true;

	if (!msg || !*msg)
		msg = PQerrorMessage(p->conn);
	n = strcspn(msg, "\n");
	/* "current transaction is aborted": by a queued write, say which */
	if (p->pend_err.msg[0] && res && p->txn &&
	    strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE) ?: "", "25P02") == 0)
		return pg_err(p, SH_ESTORE, "%s", p->pend_err.msg);
	if (code == SH_ESCHEMA)
		return pg_err(p, code,
		              "the PostgreSQL store has no shorty schema (or an older one): run "
		              "`shorty migrate`");
	if (p->cut)
		return pg_err(p, SH_ESTORE,
		              "PostgreSQL did not answer within %d ms (%s): connection closed",
		              p->deadline_ms, what);
	if (PQstatus(p->conn) != CONNECTION_OK)
		return pg_err(p, code, "PostgreSQL is unavailable (%s): %.*s", what, (int)n, msg);
	return pg_err(p, code, "postgres %s: %.*s", what, (int)n, msg);
}

/* ---- the connection: non-blocking, every wait bounded ----------------------
 * libpq's blocking calls wait as long as the peer is silent; here every
 * send, every wait for an answer and every (re)connect polls the socket
 * against a deadline. Past it the connection is cut (shutdown of the
 * socket: libpq then sees it closed), so the op fails and the next one
 * reconnects. */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on the connection's socket until deadline: the events
 * that came, 0 past the deadline, -1 on error. */
static int wait_sock(pg_store *p, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = PQsocket(p->conn), .events = events};
	int64_t left;
	int rc;

	if (pfd.fd < 0)
		return -1;
	for (;;) {
		left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		rc = poll(&pfd, 1, (int)left);
		if (rc > 0)
			return pfd.revents ? pfd.revents : events;
		if (rc == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* The deadline passed: the connection is closed under libpq, which notices
 * at once (CONNECTION_BAD); a transaction on it is lost. */
static void cut(pg_store *p)
{
	int fd = PQsocket(p->conn);

	p->cut = true;
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	(void)PQconsumeInput(p->conn);
}

/* Sends what libpq has queued; 0, or -1 (cut or broken). */
static int flush_out(pg_store *p, int64_t deadline)
{
	int r, w;

	while ((r = PQflush(p->conn)) == 1) {
		w = wait_sock(p, POLLIN | POLLOUT, deadline);
		if (w == 0) {
			cut(p);
			return -1;
		}
		if (w < 0 || ((w & POLLIN) && !PQconsumeInput(p->conn)))
			return -1;
	}
	return r == 0 ? 0 : -1;
}

/* Waits until the next result can be read without blocking: 0, or -1
 * (the connection broke, or was cut at the deadline). */
static int wait_result(pg_store *p, int64_t deadline)
{
	int w;

	while (PQisBusy(p->conn)) {
		w = wait_sock(p, POLLIN, deadline);
		if (w == 0)
			cut(p);
		if (w <= 0 || !PQconsumeInput(p->conn))
			return -1;
	}
	return 0;
}

/* The results of what was sent: the first failed one, else the last; a
 * COPY IN result at once (the caller sends the data). NULL when the
 * connection broke or the deadline passed. */
static PGresult *collect(pg_store *p, int64_t deadline)
{
	PGresult *keep = NULL, *r;
	ExecStatusType t;

	for (;;) {
		if (wait_result(p, deadline) != 0) {
			PQclear(keep);
			return NULL;
		}
		r = PQgetResult(p->conn);
		if (!r)
			return keep;
		t = PQresultStatus(r);
		if (t == PGRES_COPY_IN) {
			PQclear(keep);
			return r;
		}
		if (keep && (PQresultStatus(keep) == PGRES_COMMAND_OK ||
		             PQresultStatus(keep) == PGRES_TUPLES_OK)) {
			PQclear(keep);
			keep = NULL;
		}
		if (!keep)
			keep = r;
		else
			PQclear(r);
	}
}

/* Sends sql (several statements when multi; then no parameters) and waits
 * for its result within the handle's deadline. */
static int pipe_sync(pg_store *p, int mine, PGresult **out, const char *what);

static PGresult *x_exec(pg_store *p, const char *sql, const prm *b, bool multi)
{
	int64_t deadline;
	int ok;

	/* writes queued on the pipeline are read first (their failure is
	 * marked there; this statement then fails in the aborted transaction) */
	if (p->npend)
		(void)pipe_sync(p, p->npend, NULL, "pipeline");
	deadline = mono_ms() + p->deadline_ms;
	p->cut = false;
	ok = multi ? PQsendQuery(p->conn, sql)
	           : PQsendQueryParams(p->conn, sql, b ? b->n : 0, NULL, b ? b->v : NULL, NULL,
	                               NULL, 0);
	if (!ok || flush_out(p, deadline) != 0)
		return NULL;
	return collect(p, deadline);
}

/* Drives a connect (or reset) started without blocking to its end within
 * CONNECT_DEADLINE_MS; 0 when connected. */
static int connect_poll(pg_store *p, bool reset)
{
	int64_t deadline = mono_ms() + CONNECT_DEADLINE_MS;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	int w;

	for (;;) {
		if (st == PGRES_POLLING_OK)
			return 0;
		if (st == PGRES_POLLING_FAILED)
			return -1;
		w = wait_sock(p, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
		if (w == 0)
			p->cut = true;
		if (w <= 0)
			return -1;
		st = reset ? PQresetPoll(p->conn) : PQconnectPoll(p->conn);
	}
}

/* A transaction of ours given up with a broken connection (a cut at the
 * deadline, a lost network) may live on in its backend, which has not seen
 * the connection go: a COMMIT already in its input is still carried out,
 * later (a slow commit: a deferred trigger, a loaded machine). Until that
 * backend has ended nobody can tell whether the transaction committed, and
 * the writer's check of a create whose COMMIT outcome was unknown
 * (resolve_commit in writer.c) looked too early: the create answered 503,
 * was stored all the same, and a client's retry made a duplicate. So the
 * next connection first ends that backend (pg_terminate_backend: what has
 * not committed is rolled back, a commit under way completes) and waits
 * until it is gone, within the query deadline; past it, the op that
 * reconnected fails (the outcome stays unknown: those creates answer 503,
 * as before) and the next goes on. The backend is found by its pid, our
 * user and our database (never this session's own); a pid the system
 * reused meanwhile for another session of ours would be ended too (it
 * reconnects; nothing is lost). */
static void txn_lost(pg_store *p)
{
	if (PQstatus(p->conn) != CONNECTION_OK)
		p->lost_pid = p->be_pid;
}

static int fence(pg_store *p)
{
	int64_t deadline = mono_ms() + p->deadline_ms;
	const struct timespec pause = {0, 5 * 1000000L};
	PGresult *r;
	prm b = {0};
	int pid = p->lost_pid, rows, rc;

	if (!pid)
		return 0;
	p->lost_pid = 0; /* tried once: a failure below does not stop the next op */
	p_int(&b, pid);
	for (;;) {
		r = x_exec(p,
		           "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1"
		           " AND pid <> pg_backend_pid() AND usename = current_user"
		           " AND datname = current_database()",
		           &b, false);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			rc = pg_fail(p, r, "end the transaction lost with the connection");
			PQclear(r);
			return rc;
		}
		rows = PQntuples(r);
		PQclear(r);
		if (rows == 0)
			return 0;
		if (mono_ms() >= deadline)
			return pg_err(p, SH_ESTORE,
			              "PostgreSQL is unavailable: the transaction lost with the previous "
			              "connection (backend %d) did not end within %d ms",
			              pid, p->deadline_ms);
		nanosleep(&pause, NULL);
	}
}

/* A new connection's settings: non-blocking, read-only for readers. */
static int session_setup(pg_store *p)
{
	PGresult *r;
	int rc = 0;

	if (PQsetnonblocking(p->conn, 1) != 0)
		return pg_fail(p, NULL, "connect");
	p->be_pid = PQbackendPID(p->conn); /* libpq forgets it once the connection breaks */
	PQsetNoticeProcessor(p->conn, pg_notice, NULL);
	if (p->read_only) {
		r = x_exec(p, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", NULL, false);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = pg_fail(p, r, "connect");
		PQclear(r);
	}
	return rc;
}

/* A failed (re)connect: the next try not before a random wait up to the
 * backoff, which doubles from 50 ms to 2 s (full jitter). */
static void backoff_step(pg_store *p)
{
	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (p->backoff_ms > BACKOFF_MAX_MS)
		p->backoff_ms = BACKOFF_MAX_MS;
	p->rng ^= p->rng << 13, p->rng ^= p->rng >> 7, p->rng ^= p->rng << 17;
	p->retry_at_ms = mono_ms() + (int64_t)(p->rng % (uint64_t)(p->backoff_ms + 1));
}

/* A connection found broken is reset, but only outside a transaction: inside
 * one the transaction is gone, and the caller must learn it (every op fails
 * until it rolls back). Any reset drops the leased ids. While PostgreSQL
 * stays away, tries are spaced by an exponential backoff with full jitter
 * (50 ms doubling to 2 s, a random wait up to that): between tries an op
 * fails at once, so requests answer 503 at once instead of queueing on
 * connects, and the first try after PostgreSQL is back is at most 2 s
 * away. */
static int pg_alive(pg_store *p)
{
	int64_t now;
	int rc;

	if (PQstatus(p->conn) == CONNECTION_OK)
		return 0;
	p->npend = 0; /* their results went with the connection */
	if (p->txn)
		return pg_err(p, SH_ESTORE,
		              "PostgreSQL is unavailable: the connection was lost in a "
		              "transaction");
	p->blk_next = p->blk_end = 0;
	now = mono_ms();
	if (now < p->retry_at_ms)
		return pg_err(p, SH_ESTORE,
		              "PostgreSQL is unavailable (reconnecting; next try in %lld ms)",
		              (long long)(p->retry_at_ms - now));
	p->cut = false;
	p->prepared = 0; /* a new session has none */
	if (PQresetStart(p->conn) == 1 && connect_poll(p, true) == 0 &&
	    (rc = session_setup(p)) == 0) {
		p->backoff_ms = 0;
		p->retry_at_ms = 0;
		return fence(p);
	}
	backoff_step(p);
	return pg_fail(p, NULL, "connect");
}

/* Reads that may run again after the connection broke under them: outside
 * a transaction a SELECT changed nothing (a lost id block is skipped). */
static bool retry_safe(const pg_store *p, const char *sql)
{
	return !p->txn && !p->cut && strncmp(sql, "SELECT ", 7) == 0;
}

/* Parameters that did not fit (p_int, p_str) are a bug, not the caller's. */
static int prm_check(pg_store *p, const prm *b)
{
	if (b && b->overflow)
		return pg_err(p, SH_ESTORE, "%s", "internal error: too many query parameters");
	return 0;
}

/* Sends one statement and reads its result (no retry: pq_run). pq's kind
 * has its own round trip; *first says whether a failure was the
 * connection's before anything came back. */
static int pq_once(pg_store *p, const char *sql, int st, const prm *b, PGresult **out,
                   const char *what, bool *first);

/* Runs one statement and waits for it: stmts[st] on the pipeline when
 * st >= 0 (with every write queued before it, in one round trip), else sql
 * on its own. A read that met a connection PostgreSQL closed since our
 * last query (a restart) runs once more on a fresh one (retry_safe). On
 * success *out (if given) holds the result, to PQclear; on failure nothing
 * is kept. */
static int pq_run(pg_store *p, const char *sql, int st, const prm *b, PGresult **out,
                  const char *what)
{
	bool again = true, first;
	int rc;

	if (out)
		*out = NULL;
	if ((rc = prm_check(p, b)))
		return rc;
	for (;;) {
		if ((rc = pg_alive(p)))
			return rc;
		rc = pq_once(p, sql, st, b, out, what, &first);
		if (rc == 0 || !again || !first || !retry_safe(p, sql) ||
		    PQstatus(p->conn) == CONNECTION_OK)
			return rc;
		again = false; /* once: PostgreSQL restarted since our last query */
	}
}

/* Runs one statement with parameters b (NULL = none); as pq_run. */
static int pq(pg_store *p, const char *sql, const prm *b, PGresult **out, const char *what)
{
	return pq_run(p, sql, -1, b, out, what);
}

/* Runs several statements without parameters (a migration): the simple
 * query protocol, which PQsendQueryParams refuses for more than one. */
static int pq_script(pg_store *p, const char *sql, const char *what)
{
	PGresult *r;
	int rc = 0;

	if ((rc = pg_alive(p)))
		return rc;
	r = x_exec(p, sql, NULL, true);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = pg_fail(p, r, what);
	PQclear(r);
	return rc;
}

/* A statement whose failure is not news (cleanup after a failure). */
static void pq_quiet(pg_store *p, const char *sql)
{
	if (PQstatus(p->conn) == CONNECTION_OK)
		PQclear(x_exec(p, sql, NULL, false));
}

/* Rows changed by the statement (its command tag). */
static int64_t pq_changes(PGresult *r)
{
	const char *t = PQcmdTuples(r);

	return t && *t ? strtoll(t, NULL, 10) : 0;
}

static int64_t col_i64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void copy_col(char *dst, size_t dstsz, const PGresult *r, int row, int col)
{
	const char *t = PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
	size_t n = strlen(t);

	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, t, n);
	dst[n] = '\0';
}

/* Runs a statement that returns one integer (no row: 0). */
static int pq_int(pg_store *p, const char *sql, const prm *b, int64_t *out, const char *what)
{
	PGresult *r;
	int rc = pq(p, sql, b, &r, what);

	if (rc)
		return rc;
	*out = PQntuples(r) ? col_i64(r, 0, 0) : 0;
	PQclear(r);
	return 0;
}

/* Runs sql with one integer parameter; *changed (if given) = rows changed. */
static int pq_id(pg_store *p, const char *sql, int64_t v, int64_t *changed, const char *what)
{
	PGresult *r;
	prm b = {0};
	int rc;

	p_int(&b, v);
	if ((rc = pq(p, sql, &b, &r, what)))
		return rc;
	if (changed)
		*changed = pq_changes(r);
	PQclear(r);
	return 0;
}

/* ---- prepared statements on a pipeline -------------------------------------
 * The statements of the create path (issue 8: creates >= 10,000/s on one
 * instance). A create was six round trips on the writer's connection (the
 * code check, SAVEPOINT, the link, its counter row, its code row, RELEASE),
 * each waited for: creates were bound by round trips, not by PostgreSQL.
 * Now:
 *   - the link, its counter row and its code row are ONE statement (a
 *     data-modifying WITH), prepared once per connection (parsed and
 *     planned once, not per create);
 *   - in group mode (the writer's group commit, store_group_begin) a write
 *     whose only answer is "done" (link_insert, its tags, the dedupe claim)
 *     is sent on libpq's pipeline and not waited for: it travels with the
 *     next statement that needs an answer (the next create's code check,
 *     the group's NOTIFY), which reads every result in one round trip. A
 *     create then costs about one round trip.
 * A queued write that fails aborts the transaction, as a waited-for one
 * does; the failure is found at the next read, possibly in a later unit,
 * so it is marked store_group_deferred: the writer replays the group, each
 * unit in a savepoint, without the pipeline, which finds whose it was. The
 * guarantees stay the database's (unique keys: codes, ids, the dedupe
 * claim); only when a failure is seen moves. */

enum pg_stmt {
	ST_LINK_INSERT,
	ST_TAG_INSERT,
	ST_DEDUPE,
	ST_CODE_EXISTS,
	ST_LINK_GET,
	ST_LINK_BY_CODE,
	ST_FIND_DUP,
	ST_NOTIFY,
	ST_KEY_BY_HASH,
	ST_RESOLVE_ID,
	ST_RESOLVE_CODE,
	ST_COUNT
};

static const struct {
	const char *name;
	const char *sql;
} stmts[ST_COUNT] = {
    /* $1..$17 as SQL_LINK_INSERT; $18, $19 its counts; $20 its code ('':
     * none), $21 whether the code is a generated one. The codes row's
     * foreign key is checked at the statement's end, after the link. */
    [ST_LINK_INSERT] = {"shorty_link_insert",
                        "WITH l AS (" SQL_LINK_INSERT " RETURNING id),"
                        " n AS (INSERT INTO link_counts(link_id, visits, bots)"
                        " SELECT id, $18::bigint, $19::bigint FROM l)"
                        " INSERT INTO codes(code, link_id, generated, domain_id)"
                        " SELECT $20::text, id, $21::boolean, $17::bigint FROM l"
                        " WHERE $20::text <> ''"},
    [ST_TAG_INSERT] = {"shorty_tag_insert",
                       "INSERT INTO link_tags(link_id, tag) VALUES ($1, $2)"
                       " ON CONFLICT DO NOTHING"},
    [ST_DEDUPE] = {"shorty_dedupe", "UPDATE links SET dedupe = $2 WHERE id = $1"},
    [ST_CODE_EXISTS] = {"shorty_code_exists",
                        "SELECT count(*) FROM codes WHERE domain_id = $2 AND code = $1"
                        " AND NOT generated"},
    [ST_LINK_GET] = {"shorty_link_get", "SELECT " LINK_COLS LINK_FROM " WHERE l.id = $1"},
    [ST_LINK_BY_CODE] = {"shorty_link_by_code",
                         "SELECT " LINK_COLS
                         " FROM codes c JOIN links l ON l.id = c.link_id" COUNTS_JOIN
                         " WHERE c.domain_id = $2 AND c.code = $1 AND NOT c.generated"},
    [ST_FIND_DUP] = {"shorty_find_dup",
                     "SELECT " LINK_COLS LINK_FROM
                     " WHERE l.url_hash = $1 AND l.url = $2 AND l.owner_key_id = $3"
                     " AND l.code_kind <> 1 AND l.expires_at = 0 AND l.max_visits = 0"
                     " AND l.disabled = 0 AND l.domain_id = $4 ORDER BY l.id DESC LIMIT 1"},
    [ST_NOTIFY] = {"shorty_notify", "SELECT pg_notify('shorty', $1)"},
    /* every API request checks its key */
    [ST_KEY_BY_HASH] = {"shorty_key_by_hash",
                        "SELECT " KEY_COLS " FROM api_keys WHERE hash = decode($1, 'hex')"},
    /* a redirect's cache miss (store_lookup_send): what a redirect needs
     * of a link, as LINK_COLS' columns (read_link) without the costly ones
     * (tags, domain name, title, code); by id first when the code decodes
     * to one, then by custom code */
    [ST_RESOLVE_ID] = {"shorty_resolve_id",
                       "SELECT " REDIRECT_COLS " FROM links l" COUNTS_JOIN " WHERE l.id = $1"},
    [ST_RESOLVE_CODE] = {"shorty_resolve_code",
                         "SELECT " REDIRECT_COLS
                         " FROM codes c JOIN links l ON l.id = c.link_id" COUNTS_JOIN
                         " WHERE c.domain_id = $2 AND c.code = $1 AND NOT c.generated"},
};

/* After stmts[]: `shorty copy`'s insert of each table (pg_copy_put). */
#define ST_COPY(table) (ST_COUNT + (table))
_Static_assert(ST_COUNT + COPY_NTABLES <= 32, "pg_store.prepared has a bit per statement");
static const char *copy_insert_sql(int table);

/* Queues statement st (prepared first on this connection's first use) on
 * the pipeline; false when the connection cannot take it. */
static bool pipe_queue(pg_store *p, int st, const prm *b)
{
	static const char *const copy_names[COPY_NTABLES] = {
	    "shorty_copy_0", "shorty_copy_1", "shorty_copy_2", "shorty_copy_3", "shorty_copy_4",
	    "shorty_copy_5", "shorty_copy_6", "shorty_copy_7", "shorty_copy_8"};
	const char *name = st < ST_COUNT ? stmts[st].name : copy_names[st - ST_COUNT];

	if (p->npend + 2 > PEND_MAX)
		(void)pipe_sync(p, p->npend, NULL, "pipeline");
	if (PQpipelineStatus(p->conn) == PQ_PIPELINE_OFF && !PQenterPipelineMode(p->conn))
		return false;
	if (!(p->prepared & (1u << st))) {
		if (!PQsendPrepare(p->conn, name,
		                   st < ST_COUNT ? stmts[st].sql : copy_insert_sql(st - ST_COUNT), 0,
		                   NULL))
			return false;
		p->prepared |= 1u << st; /* unmarked again if it fails */
		p->pend[p->npend++] = (signed char)st;
	}
	if (!PQsendQueryPrepared(p->conn, name, b ? b->n : 0, b ? b->v : NULL, NULL, NULL, 0))
		return false;
	p->pend[p->npend++] = PEND_EXEC;
	return true;
}

/* The first failure of a pipeline; one of an earlier op's queued writes
 * (index < mine) is marked deferred (the caller's statement did not fail:
 * it was never run). */
static int pipe_failed(pg_store *p, const PGresult *res, bool deferred, const char *what)
{
	int rc = pg_fail(p, res, what);
	sh_err e;

	if (!deferred)
		return rc;
	e = p->base.last_err;
	p->base.group_failed = p->base.group_deferred = true;
	rc = pg_err(p, SH_ESTORE, "a queued write of this transaction failed: %s", e.msg);
	p->pend_err = p->base.last_err; /* the cause, for the statements after */
	return rc;
}

/* Ends the pipeline: a sync, then every queued statement's results, read
 * within the deadline. Statements from index mine on are the caller's;
 * *out (if given) gets the last one's result when all succeeded. 0 or the
 * first failure's SH_E*. */
static int pipe_sync(pg_store *p, int mine, PGresult **out, const char *what)
{
	int64_t deadline = mono_ms() + p->deadline_ms;
	int i, n = p->npend, rc = 0;
	PGresult *r, *res;
	ExecStatusType t;

	p->npend = 0;
	if (!PQpipelineSync(p->conn) || flush_out(p, deadline) != 0)
		return pg_fail(p, NULL, what);
	for (i = 0; i < n; i++) {
		for (res = NULL;;) { /* a statement's results end with a NULL */
			if (wait_result(p, deadline) != 0) {
				PQclear(res);
				return pg_fail(p, NULL, what);
			}
			if (!(r = PQgetResult(p->conn)))
				break;
			if (!res)
				res = r;
			else
				PQclear(r);
		}
		t = PQresultStatus(res);
		if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
			if (p->pend[i] != PEND_EXEC)
				p->prepared &= ~(1u << p->pend[i]);
			/* after a failure the rest answer "aborted" */
			if (rc == 0 && t != PGRES_PIPELINE_ABORTED)
				rc = pipe_failed(p, res, i < mine, what);
		} else if (out && i == n - 1 && rc == 0) {
			*out = res;
			res = NULL;
		}
		PQclear(res);
	}
	/* the sync's own result, then out of pipeline mode */
	if (wait_result(p, deadline) != 0) {
		if (out) {
			PQclear(*out);
			*out = NULL;
		}
		return pg_fail(p, NULL, what);
	}
	PQclear(PQgetResult(p->conn));
	while (!PQexitPipelineMode(p->conn) && (r = PQgetResult(p->conn)))
		PQclear(r);
	return rc;
}

/* Runs stmts[st] and waits for it (with every write queued before it, in
 * one round trip); as pq_run. */
static int pqs(pg_store *p, int st, const prm *b, PGresult **out, const char *what)
{
	return pq_run(p, stmts[st].sql, st, b, out, what);
}

static int pq_once(pg_store *p, const char *sql, int st, const prm *b, PGresult **out,
                   const char *what, bool *first)
{
	PGresult *r;
	ExecStatusType t;
	int mine, rc;

	if (st >= 0) { /* the pipeline; its first statement if nothing was queued */
		p->cut = false;
		*first = (mine = p->npend) == 0;
		if (!pipe_queue(p, st, b)) {
			p->npend = 0;
			return pg_fail(p, NULL, what);
		}
		return pipe_sync(p, mine, out, what);
	}
	r = x_exec(p, sql, b, false);
	*first = r == NULL; /* no answer at all: the connection went */
	t = PQresultStatus(r);
	if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
		rc = pg_fail(p, r, what);
		PQclear(r);
		return rc;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

/* Queues a write on the pipeline and does not wait for it (above). */
static int pq_queue(pg_store *p, int st, const prm *b, const char *what)
{
	int rc;

	if ((rc = prm_check(p, b)))
		return rc;
	if ((rc = pg_alive(p)))
		return rc;
	if (!pipe_queue(p, st, b)) {
		p->npend = 0;
		return pg_fail(p, NULL, what);
	}
	/* on its way now: PostgreSQL works while we do */
	if (PQflush(p->conn) < 0) {
		p->npend = 0;
		return pg_fail(p, NULL, what);
	}
	return 0;
}

/* A write whose only answer is success: queued in group mode (above),
 * else run at once. */
static int pq_write(pg_store *p, int st, const prm *b, const char *what)
{
	if (!(p->base.group && p->txn && p->sp_depth == 0))
		return pqs(p, st, b, NULL, what);
	return pq_queue(p, st, b, what);
}

/* ---- op transactions ------------------------------------------------------
 * As in sqlite.c: a multi-statement op runs in its own transaction, or in a
 * savepoint of the caller's, so that a failed op (a taken code) undoes only
 * itself and leaves the caller's transaction usable. PostgreSQL needs the
 * savepoint even more than SQLite: a failed statement aborts the whole
 * transaction otherwise. */

enum { OWN_NONE, OWN_TXN, OWN_SP, OWN_GROUP };

static int op_begin(pg_store *p, int *own)
{
	int rc;

	*own = OWN_NONE;
	if (!p->txn) {
		/* marked open, so that a connection lost in the op is not
		 * reset under it (its statements would run on their own) */
		p->pend_err.msg[0] = '\0';
		if ((rc = pq(p, "BEGIN", NULL, NULL, "begin")) == 0) {
			*own = OWN_TXN;
			p->txn = true;
		}
		return rc;
	}
	if (p->base.group && p->sp_depth == 0) {
		/* the caller undoes its whole group if an op fails (store.h) */
		*own = OWN_GROUP;
		return 0;
	}
	if ((rc = pq(p, "SAVEPOINT shorty_op", NULL, NULL, "savepoint")) == 0)
		*own = OWN_SP;
	return rc;
}

static int op_end(pg_store *p, int own, int rc)
{
	sh_err saved;

	if (own == OWN_TXN) {
		if (rc == 0) {
			rc = pq(p, "COMMIT", NULL, NULL, "commit");
			if (rc == 0) {
				p->txn = false;
				return 0;
			}
		}
		p->txn = false;
		txn_lost(p);
		saved = p->base.last_err;
		pq_quiet(p, "ROLLBACK");
		p->base.last_err = saved;
	} else if (own == OWN_SP) {
		if (rc == 0)
			return pq(p, "RELEASE shorty_op", NULL, NULL, "release");
		saved = p->base.last_err;
		pq_quiet(p, "ROLLBACK TO shorty_op");
		pq_quiet(p, "RELEASE shorty_op");
		p->base.last_err = saved;
	} else if (own == OWN_GROUP && rc != 0) {
		p->base.group_failed = true;
	}
	return rc;
}

/* ---- assembled queries ----------------------------------------------------
 * Built by sqlq.c (the conditions both SQL backends share); run here. */

static int pg_one(store *s, sqlq *b, int64_t *out, const char *what);
static int pg_exec(store *s, sqlq *b, int64_t *changes, const char *what);

static int pg_op_begin(store *s, int *own)
{
	return op_begin(PG(s), own);
}

static int pg_op_end(store *s, int own, int rc)
{
	return op_end(PG(s), own, rc);
}

static const sqlq_dialect pg_dialect = {
	.dollar = true,
	.null_limit = true,
	.link_select = "SELECT " LINK_COLS LINK_FROM,
	.link_count = "SELECT count(*)" LINK_FROM,
	/* codes holds generated codes too (CODE_OF) */
	.code_of = CODE_OF,
	.instr = "strpos",
	.text_param = "?::text",
	/* visits(link_id) is indexed */
	.visit_link_open = "v.link_id",
	.visit_link_again = NULL,
	.visit_link_close = "",
	/* typed: a parameter compared with NULL alone has no type */
	.tag_owner = "?1::bigint",
	.tag_exact = "(?3::text IS NULL OR t.tag = ?3::text)",
	.tag_search = "(?2::text IS NULL OR strpos(lower(t.tag), lower(?2::text)) > 0)",
	.one = pg_one,
	.exec = pg_exec,
	.begin = pg_op_begin,
	.end = pg_op_end,
};

/* Runs the query built in q, its values in text format. */
static int qb_run(pg_store *p, const sqlq *q, PGresult **out, const char *what)
{
	prm b = {0};

	if (q->overflow)
		return pg_err(p, SH_ESTORE, "%s", "internal error: list query too long");
	for (int i = 0; i < q->nb; i++) {
		if (q->b[i].text)
			p_str(&b, q->b[i].s);
		else
			p_int(&b, q->b[i].i);
	}
	return pq(p, q->sql, &b, out, what);
}

static int pg_one(store *s, sqlq *b, int64_t *out, const char *what)
{
	pg_store *p = PG(s);
	PGresult *r = NULL;
	int rc;

	if ((rc = qb_run(p, b, &r, what)))
		return rc;
	*out = PQntuples(r) > 0 ? col_i64(r, 0, 0) : 0;
	PQclear(r);
	return 0;
}

static int pg_exec(store *s, sqlq *b, int64_t *changes, const char *what)
{
	PGresult *r = NULL;
	int rc;

	if ((rc = qb_run(PG(s), b, &r, what)))
		return rc;
	if (changes)
		*changes = pq_changes(r);
	PQclear(r);
	return 0;
}

/* ---- open / close -------------------------------------------------------- */

static const store_ops postgres_ops;

/* A handle on url, its connection driven to its end within the connect
 * deadline: 0, or SH_E* with err saying why; then *out is the handle with
 * its failed connection (which PQresetStart can try again: pg_alive), or
 * NULL when out of memory. app: the session's application_name, what
 * pg_stat_activity shows (the URL's own wins). */
static int pg_open(pg_store **out, const char *url, const store_options *o, const char *app,
                   sh_err *err)
{
	pg_store *p;
	const char *m;
	size_t n;

	*out = p = calloc(1, sizeof(*p));
	if (!p)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory opening the store");
	p->base.ops = &postgres_ops;
	p->read_only = o->read_only;
	p->deadline_ms = QUERY_DEADLINE_MS;
	p->rng = (uint64_t)(uintptr_t)p ^ ((uint64_t)mono_ms() << 20) ^ 0x9e3779b97f4a7c15ull;
	/* the URL's own settings win over these (they come after) */
	{
		static const char *const keys[] = {"connect_timeout", "keepalives",
		                                   "keepalives_idle", "keepalives_interval",
		                                   "keepalives_count", "application_name",
		                                   "dbname", NULL};
		const char *vals[] = {"2", "1", "10", "2", "3", app, url, NULL};
		p->conn = PQconnectStartParams(keys, vals, 1);
	}
	if (!p->conn || PQstatus(p->conn) == CONNECTION_BAD || connect_poll(p, false) != 0 ||
	    session_setup(p) != 0) {
		m = !p->conn ? "out of memory"
		    : p->cut ? "no answer within the connect deadline"
		             : PQerrorMessage(p->conn);
		n = strcspn(m, "\n");
		sh_err_set(err, SH_ESTORE, "db", "cannot connect to PostgreSQL: %.*s", (int)n, m);
		if (!p->conn) {
			free(p);
			*out = NULL;
		}
		return SH_ESTORE;
	}
	/* each connection adds its visits to a row of visit_totals of its own */
	p->slot = (int)((unsigned)PQbackendPID(p->conn) % TOTAL_SLOTS);
	return 0;
}

static void pg_close(store *s)
{
	pg_store *p = PG(s);

	PQfinish(p->conn); /* an open transaction is rolled back by the server */
	free(p);
}

int store_postgres_open(store **out, const char *url, const store_options *o, sh_err *err)
{
	store_options def;
	pg_store *p;
	int rc;

	*out = NULL;
	if (!o) {
		store_options_default(&def);
		o = &def;
	}
	if ((rc = pg_open(&p, url, o, "shorty", err))) {
		if (p)
			pg_close(&p->base);
		return rc;
	}
	*out = &p->base;
	return 0;
}

/* ---- schema ops ---------------------------------------------------------- */

/* The schema version: 0 when the database has no shorty schema yet. */
static int schema_current(pg_store *p, int *v)
{
	int64_t x = 0;
	int rc;

	*v = 0;
	rc = pq_int(p, "SELECT (to_regclass('shorty_schema') IS NOT NULL)::int", NULL, &x,
	            "schema version");
	if (rc || !x)
		return rc;
	rc = pq_int(p, "SELECT coalesce(max(version), 0) FROM shorty_schema", NULL, &x,
	            "schema version");
	*v = (int)x;
	return rc;
}

static int pg_schema_version(store *s, int *current, int *latest)
{
	*latest = SCHEMA_LATEST;
	return schema_current(PG(s), current);
}

/* One step, in a transaction: the migration and the new version number. */
static int migrate_step(pg_store *p, int i)
{
	prm b = {0};
	int rc;

	if ((rc = pq(p, "BEGIN", NULL, NULL, "migrate")))
		return rc;
	p->txn = true;
	p_int(&b, migrations[i].version);
	if ((rc = pq(p,
	             "CREATE TABLE IF NOT EXISTS shorty_schema(version int NOT NULL)",
	             NULL, NULL, "migrate")) ||
	    (rc = pq_script(p, migrations[i].sql, "migrate")) ||
	    (rc = pq(p, "DELETE FROM shorty_schema", NULL, NULL, "migrate")) ||
	    (rc = pq(p, "INSERT INTO shorty_schema(version) VALUES ($1)", &b, NULL, "migrate")) ||
	    (rc = pq(p, "COMMIT", NULL, NULL, "migrate"))) {
		pq_quiet(p, "ROLLBACK");
	}
	p->txn = false;
	return rc;
}

static int pg_migrate(store *s, sh_err *err)
{
	pg_store *p = PG(s);
	int v = 0, i, rc;

	if ((rc = schema_current(p, &v)))
		return sh_err_set(err, rc, "db", "%s", p->base.last_err.msg);
	if (v > SCHEMA_LATEST)
		return sh_err_set(err, SH_ESCHEMA, "db",
		                  "the store's schema (version %d) is newer than this shorty "
		                  "(version %d): upgrade shorty",
		                  v, SCHEMA_LATEST);
	if (v == SCHEMA_LATEST)
		return 0;
	if (p->read_only)
		return sh_err_set(err, SH_ESCHEMA, "db",
		                  "the store's schema is at version %d of %d and this "
		                  "connection is read-only: run `shorty migrate`",
		                  v, SCHEMA_LATEST);
	/* instances starting together: one migrates, the others wait here and
	 * then find the schema current */
	p->deadline_ms = MIGRATE_DEADLINE_MS;
	if ((rc = pq(p, "SELECT pg_advisory_lock(7523094288207667457)", NULL, NULL, "migrate"))) {
		p->deadline_ms = QUERY_DEADLINE_MS;
		return sh_err_set(err, rc, "db", "%s", p->base.last_err.msg);
	}
	rc = schema_current(p, &v);
	for (i = 0; rc == 0 && i < NMIGRATIONS; i++) {
		if (migrations[i].version <= v)
			continue;
		rc = migrate_step(p, i);
	}
	if (rc)
		sh_err_set(err, rc, "db", "%s", p->base.last_err.msg);
	pq_quiet(p, "SELECT pg_advisory_unlock(7523094288207667457)");
	p->deadline_ms = QUERY_DEADLINE_MS;
	return rc;
}

static int pg_ping(store *s)
{
	pg_store *p = PG(s);
	int v = 0, rc = schema_current(p, &v);

	if (rc == 0 && v != SCHEMA_LATEST)
		rc = pg_err(p, SH_ESCHEMA,
		            "the store's schema is at version %d, this shorty needs %d: "
		            "run `shorty migrate`",
		            v, SCHEMA_LATEST);
	return rc;
}

/* ---- transactions -------------------------------------------------------- */

static int pg_begin(store *s)
{
	pg_store *p = PG(s);
	int rc;

	if (p->txn)
		return pg_err(p, SH_EINVAL, "%s", "begin: a transaction is already open");
	p->sp_depth = 0;
	p->pend_err.msg[0] = '\0';
	rc = pq(p, "BEGIN", NULL, NULL, "begin");
	if (rc == 0)
		p->txn = true;
	return rc;
}

static int pg_commit(store *s)
{
	pg_store *p = PG(s);
	PGresult *r;
	int rc;

	if (!p->txn)
		return pg_err(p, SH_EINVAL, "%s", "commit: no transaction is open");
	rc = pq(p, "COMMIT", NULL, &r, "commit");
	if (rc)
		return rc; /* still "in" it: the caller rolls back */
	/* COMMIT of a transaction a failed statement aborted answers ROLLBACK */
	if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		PQclear(r);
		p->txn = false;
		p->sp_depth = 0;
		return pg_err(p, SH_ESTORE, "%s",
		              "postgres commit: the transaction had failed and was rolled back");
	}
	PQclear(r);
	p->txn = false;
	p->sp_depth = 0;
	return 0;
}

static int pg_rollback(store *s)
{
	pg_store *p = PG(s);
	PGresult *r;
	int rc = 0;

	p->sp_depth = 0;
	if (!p->txn)
		return 0;
	p->txn = false;
	/* nothing to undo on a lost connection; its backend is ended before
	 * the next one is used (fence) */
	if (PQstatus(p->conn) != CONNECTION_OK) {
		txn_lost(p);
		return 0;
	}
	r = x_exec(p, "ROLLBACK", NULL, false);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = pg_fail(p, r, "rollback");
	PQclear(r);
	return rc;
}

/* Savepoint names come from the depth counter, never from input. */
static int sp_exec(pg_store *p, const char *verb, int depth)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "%s sp%d", verb, depth);
	return pq(p, sql, NULL, NULL, verb);
}

static int pg_savepoint(store *s)
{
	pg_store *p = PG(s);
	int rc;

	if (!p->txn)
		return pg_err(p, SH_EINVAL, "%s", "savepoint: no transaction is open");
	rc = sp_exec(p, "SAVEPOINT", p->sp_depth + 1);
	if (rc == 0)
		p->sp_depth++;
	return rc;
}

static int pg_release(store *s)
{
	pg_store *p = PG(s);
	int rc;

	if (p->sp_depth <= 0 || !p->txn)
		return pg_err(p, SH_EINVAL, "%s", "release: no savepoint is open");
	rc = sp_exec(p, "RELEASE", p->sp_depth);
	if (rc == 0)
		p->sp_depth--;
	return rc;
}

static int pg_rollback_to(store *s)
{
	pg_store *p = PG(s);

	if (p->sp_depth <= 0 || !p->txn)
		return pg_err(p, SH_EINVAL, "%s", "rollback_to: no savepoint is open");
	return sp_exec(p, "ROLLBACK TO", p->sp_depth);
}

static bool pg_in_txn(store *s)
{
	return PG(s)->txn;
}

/* ---- meta ---------------------------------------------------------------- */

static int pg_meta_get(store *s, const char *key, char **val)
{
	pg_store *p = PG(s);
	PGresult *r;
	prm b = {0};
	int rc;

	*val = NULL;
	p_str(&b, key);
	if ((rc = pq(p, "SELECT value FROM meta WHERE key = $1", &b, &r, "meta get")))
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return pg_err(p, SH_ENOTFOUND, "no setting %s", key);
	}
	*val = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return *val ? 0 : pg_err(p, SH_ENOMEM, "%s", "out of memory");
}

static int pg_meta_set(store *s, const char *key, const char *val)
{
	pg_store *p = PG(s);
	prm b = {0};

	if (!key || !val)
		return pg_err(p, SH_EINVAL, "%s", "meta set: key and value are required");
	p_str(&b, key);
	p_str(&b, val);
	return pq(p,
	          "INSERT INTO meta(key, value) VALUES ($1, $2)"
	          " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	          &b, NULL, "meta set");
}

/* Stores val under key unless a value is there already; *stored = the
 * value that is (ours or the one that was first). One statement each way,
 * so two instances creating the installation secret at once agree. */
static int pg_meta_add(store *s, const char *key, const char *val, char **stored)
{
	pg_store *p = PG(s);
	prm b = {0};
	int rc;

	*stored = NULL;
	if (!key || !val)
		return pg_err(p, SH_EINVAL, "%s", "meta add: key and value are required");
	p_str(&b, key);
	p_str(&b, val);
	rc = pq(p, "INSERT INTO meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", &b,
	        NULL, "meta add");
	return rc ? rc : pg_meta_get(s, key, stored);
}

/* ---- links --------------------------------------------------------------- */

/* An id never handed out before, >= min: from the leased block, or a new
 * block (one round trip; the function also keeps it above every link and
 * every deleted id). Each call hands out a new id. */
static int pg_next_id(store *s, int64_t min, int64_t *id)
{
	pg_store *p = PG(s);
	prm b = {0};
	int64_t start = 0;
	int rc;

	if (p->blk_next < p->blk_end && p->blk_next >= min) {
		*id = p->blk_next++;
		return 0;
	}
	p_int(&b, min > 1 ? min : 1);
	if ((rc = pq_int(p, "SELECT shorty_id_block($1)", &b, &start, "next id")))
		return rc;
	p->blk_next = start;
	p->blk_end = start + ID_BLOCK;
	*id = p->blk_next++;
	return 0;
}

/* Reads the link in row `row` of r (columns LINK_COLS). */
static int read_link(pg_store *p, const PGresult *r, int row, sh_link *out)
{
	const char *t;

	memset(out, 0, sizeof(*out));
	out->id = col_i64(r, row, 0);
	copy_col(out->code, sizeof(out->code), r, row, 1);
	out->code_kind = (int)col_i64(r, row, 2);
	out->url = strdup(PQgetvalue(r, row, 3));
	out->url_hash = (uint64_t)col_i64(r, row, 4);
	if (!PQgetisnull(r, row, 5))
		out->title = strdup(PQgetvalue(r, row, 5));
	if (!out->url || (!PQgetisnull(r, row, 5) && !out->title)) {
		sh_link_clear(out);
		return pg_err(p, SH_ENOMEM, "%s", "out of memory reading a link");
	}
	out->created_at = col_i64(r, row, 6);
	out->updated_at = col_i64(r, row, 7);
	out->valid_since = col_i64(r, row, 8);
	out->expires_at = col_i64(r, row, 9);
	out->max_visits = col_i64(r, row, 10);
	out->visits = col_i64(r, row, 11);
	out->bot_visits = col_i64(r, row, 12);
	out->redirect_status = (int)col_i64(r, row, 13);
	out->forward_query = col_i64(r, row, 14) != 0;
	out->crawlable = col_i64(r, row, 15) != 0;
	out->disabled = col_i64(r, row, 16) != 0;
	out->owner_key_id = col_i64(r, row, 17);
	t = PQgetisnull(r, row, 18) ? NULL : PQgetvalue(r, row, 18);
	while (t && *t && out->ntags < SH_MAX_TAGS) {
		size_t n = strcspn(t, "\x1f");
		size_t c = n > SH_TAG_MAX ? SH_TAG_MAX : n;
		memcpy(out->tags[out->ntags], t, c);
		out->tags[out->ntags++][c] = '\0';
		t += n + (t[n] != '\0');
	}
	if (!PQgetisnull(r, row, 19) && !(out->redirect_rules = strdup(PQgetvalue(r, row, 19)))) {
		sh_link_clear(out);
		return pg_err(p, SH_ENOMEM, "%s", "out of memory reading a link");
	}
	out->domain_id = col_i64(r, row, 20);
	copy_col(out->domain, sizeof(out->domain), r, row, 21);
	return 0;
}

/* Runs stmts[st], which yields at most one link; SH_ENOTFOUND when none. */
static int get_one(pg_store *p, int st, const prm *b, sh_link *out, const char *what)
{
	PGresult *r;
	sh_link tmp;
	int rc;

	if ((rc = pqs(p, st, b, &r, what)))
		return rc;
	if (PQntuples(r) == 0)
		rc = pg_err(p, SH_ENOTFOUND, "%s: no such link", what);
	else if ((rc = read_link(p, r, 0, &tmp)) == 0)
		*out = tmp;
	PQclear(r);
	return rc;
}

/* A title cut to SH_TITLE_MAX bytes at a character boundary (buf holds it). */
static const char *title_max(const char *t, char *buf)
{
	size_t n;

	if (!t)
		return NULL;
	n = strnlen(t, SH_TITLE_MAX + 1);
	if (n <= SH_TITLE_MAX)
		return t;
	n = SH_TITLE_MAX;
	while (n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
		n--;
	memcpy(buf, t, n);
	buf[n] = '\0';
	return buf;
}

/* $1..$15 of SQL_LINK_INSERT and SQL_LINK_UPDATE. */
static void bind_link(prm *b, const sh_link *l, char *titlebuf)
{
	p_int(b, l->id);
	p_int(b, l->code_kind);
	p_str(b, l->url);
	p_int(b, (int64_t)l->url_hash);
	p_str(b, title_max(l->title, titlebuf));
	p_int(b, l->created_at);
	p_int(b, l->updated_at);
	p_int(b, l->valid_since);
	p_int(b, l->expires_at);
	p_int(b, l->max_visits);
	p_int(b, l->redirect_status);
	p_int(b, l->forward_query);
	p_int(b, l->crawlable);
	p_int(b, l->disabled);
	p_int(b, l->owner_key_id);
	p_str(b, l->redirect_rules);
}

/* l's tags (queued in group mode: pq_write). */
static int write_tags(pg_store *p, const sh_link *l)
{
	int i, rc;

	for (i = 0; i < l->ntags; i++) {
		char tag[SH_TAG_MAX + 1];
		prm b = {0};
		snprintf(tag, sizeof(tag), "%s", l->tags[i]);
		p_int(&b, l->id);
		p_str(&b, tag);
		if ((rc = pq_write(p, ST_TAG_INSERT, &b, "insert tag")))
			return rc;
	}
	return 0;
}

/* l's stored code row (not its generated code: link_update keeps that). */
static int write_code(pg_store *p, const sh_link *l)
{
	char code[CODE_MAX + 1];
	prm b = {0};
	int rc;

	snprintf(code, sizeof(code), "%s", l->code);
	if (!code[0] || l->code_kind == CODE_KIND_COUNTER)
		return 0;
	p_str(&b, code);
	p_int(&b, l->id);
	p_int(&b, l->domain_id);
	rc = pq(p, "INSERT INTO codes(code, link_id, generated, domain_id) VALUES ($1, $2, false, $3)",
	        &b, NULL, "insert code");
	if (rc == SH_ETAKEN)
		return pg_err(p, SH_ETAKEN, "code %s is already taken", code);
	return rc;
}

static int totals_add(pg_store *p, int kind, int64_t total, int64_t bots)
{
	prm b = {0};

	p_int(&b, kind);
	p_int(&b, p->slot);
	p_int(&b, total);
	p_int(&b, bots);
	return pq(p, SQL_TOTALS_ADD, &b, NULL, "update totals");
}

/* The link, its counter row and its code row (its generated code too,
 * marked so, when the service gave it) in one statement (ST_LINK_INSERT),
 * then its tags: in group mode all queued on the pipeline. */
static int pg_link_insert(store *s, const sh_link *l)
{
	pg_store *p = PG(s);
	char titlebuf[SH_TITLE_MAX + 1], code[CODE_MAX + 1];
	prm b = {0};
	int own, rc;

	if ((rc = sqlq_check_link(s, l)))
		return rc;
	if ((rc = op_begin(p, &own)))
		return rc;
	snprintf(code, sizeof(code), "%s", l->code);
	bind_link(&b, l, titlebuf);
	p_int(&b, l->domain_id);
	p_int(&b, l->visits);
	p_int(&b, l->bot_visits);
	p_str(&b, code);
	p_str(&b, l->code_kind == CODE_KIND_COUNTER ? "t" : "f");
	rc = pq_write(p, ST_LINK_INSERT, &b, "insert link");
	if (rc == SH_ETAKEN) {
		const char *c = p->base.last_err.msg;
		rc = strstr(c, "codes_pkey") ? pg_err(p, SH_ETAKEN, "code %s is already taken", code)
		                             : pg_err(p, SH_ETAKEN, "%s",
		                                      "a link with this id already exists");
	}
	if (rc == 0)
		rc = write_tags(p, l);
	/* an imported link may carry visits: keep totals == SUM(link_counts) */
	if (rc == 0 && (l->visits || l->bot_visits))
		rc = totals_add(p, 0, l->visits, l->bot_visits);
	rc = op_end(p, own, rc);
	/* the service may skip ids of its block (a custom code took their
	 * code): never hand out one at or below an id just used */
	if (rc == 0 && l->id >= p->blk_next && l->id < p->blk_end)
		p->blk_next = l->id + 1;
	return rc;
}

static int pg_link_get(store *s, int64_t id, sh_link *out)
{
	prm b = {0};

	p_int(&b, id);
	return get_one(PG(s), ST_LINK_GET, &b, out, "link get");
}

static int pg_link_get_by_code(store *s, int64_t domain_id, const char *code, sh_link *out)
{
	prm b = {0};

	p_str(&b, code);
	p_int(&b, domain_id);
	return get_one(PG(s), ST_LINK_BY_CODE, &b, out, "link get by code");
}

static int pg_code_exists(store *s, int64_t domain_id, const char *code, bool *exists)
{
	PGresult *r;
	prm b = {0};
	int rc;

	*exists = false;
	p_str(&b, code);
	p_int(&b, domain_id);
	if ((rc = pqs(PG(s), ST_CODE_EXISTS, &b, &r, "code exists")))
		return rc;
	*exists = PQntuples(r) && col_i64(r, 0, 0) > 0;
	PQclear(r);
	return 0;
}

static int pg_link_find_dup(store *s, int64_t domain_id, uint64_t url_hash, const char *url,
                            int64_t owner_key_id, sh_link *out)
{
	prm b = {0};

	p_int(&b, (int64_t)url_hash);
	p_str(&b, url);
	p_int(&b, owner_key_id);
	p_int(&b, domain_id);
	return get_one(PG(s), ST_FIND_DUP, &b, out, "find duplicate");
}

/* Shlink's findIfExists: the oldest link matching m (sh_link_match). */
static int pg_link_find_match(store *s, const sh_link_match *m, sh_link *out)
{
	pg_store *p = PG(s);
	PGresult *r = NULL;
	sqlq *b;
	int rc;

	if (!(b = sqlq_new(s, &pg_dialect)))
		return SH_ENOMEM;
	if ((rc = sqlq_link_match(s, b, m)) == 0 && (rc = qb_run(p, b, &r, "find match")) == 0) {
		if (PQntuples(r) == 0)
			rc = pg_err(p, SH_ENOTFOUND, "%s", "find match: no such link");
		else
			rc = read_link(p, r, 0, out);
		PQclear(r);
	}
	free(b);
	return rc;
}

/* In a savepoint of its own (op_begin): a refused claim (SH_ETAKEN, the
 * unique key; it waits for the other instance's transaction to end)
 * leaves the caller's transaction usable. In group mode queued (pq_write):
 * a refused claim is found at the next read, and the group replayed. */
static int pg_link_dedupe(store *s, int64_t id, bool on)
{
	pg_store *p = PG(s);
	prm b = {0};
	int own, rc;

	if ((rc = op_begin(p, &own)))
		return rc;
	p_int(&b, id);
	p_int(&b, on ? 1 : 0);
	rc = pq_write(p, ST_DEDUPE, &b, "claim the dedupe key");
	return op_end(p, own, rc);
}

static int pg_link_update(store *s, const sh_link *l)
{
	pg_store *p = PG(s);
	char titlebuf[SH_TITLE_MAX + 1];
	PGresult *r;
	prm b = {0};
	int own, rc;

	if ((rc = sqlq_check_link(s, l)))
		return rc;
	if ((rc = op_begin(p, &own)))
		return rc;
	bind_link(&b, l, titlebuf);
	if ((rc = pq(p, SQL_LINK_UPDATE, &b, &r, "update link")))
		goto out;
	if (pq_changes(r) == 0) {
		PQclear(r);
		rc = pg_err(p, SH_ENOTFOUND, "%s", "link update: no such link");
		goto out;
	}
	PQclear(r);
	/* a stored code and the tags: replaced; a generated code stays */
	if ((rc = pq_id(p, "DELETE FROM codes WHERE link_id = $1 AND NOT generated", l->id, NULL,
	                "update code")) ||
	    (rc = pq_id(p, "DELETE FROM link_tags WHERE link_id = $1", l->id, NULL, "update tags")))
		goto out;
	if ((rc = write_code(p, l)) == 0)
		rc = write_tags(p, l);
out:
	return op_end(p, own, rc);
}

/* Takes a link's counted visits out of the running totals. */
static int totals_sub_link(pg_store *p, int64_t id)
{
	prm b = {0};

	p_int(&b, id);
	p_int(&b, p->slot);
	return pq(p,
	          "INSERT INTO visit_totals(kind, slot, total, bots)"
	          " SELECT 0, $2, -n.visits, -n.bots FROM link_counts n WHERE n.link_id = $1"
	          " ON CONFLICT (kind, slot) DO UPDATE SET"
	          " total = visit_totals.total + excluded.total,"
	          " bots = visit_totals.bots + excluded.bots",
	          &b, NULL, "delete link totals");
}

static int pg_link_delete(store *s, int64_t id)
{
	pg_store *p = PG(s);
	int64_t n = 0;
	prm b = {0};
	int own, rc;

	if ((rc = op_begin(p, &own)))
		return rc;
	if ((rc = totals_sub_link(p, id)) ||
	    (rc = pq_id(p, "DELETE FROM visits WHERE link_id = $1", id, NULL, "delete visits")) ||
	    (rc = pq_id(p, "DELETE FROM link_counts WHERE link_id = $1", id, NULL,
	                "delete link counts")) ||
	    (rc = pq_id(p, "DELETE FROM links WHERE id = $1", id, &n, "delete link")))
		goto out;
	if (n == 0) {
		rc = pg_err(p, SH_ENOTFOUND, "%s", "link delete: no such link");
		goto out;
	}
	/* ids are never reused: remembered for the floor of the next block */
	p_int(&b, id);
	rc = pq(p,
	        "INSERT INTO meta(key, value) VALUES ('id_hwm', $1)"
	        " ON CONFLICT (key) DO UPDATE SET value ="
	        " greatest(meta.value::bigint, excluded.value::bigint)::text",
	        &b, NULL, "remember deleted id");
out:
	return op_end(p, own, rc);
}

static int pg_link_list(store *s, const sh_list_query *lq, sh_link_cb cb, void *ud, int64_t *total)
{
	pg_store *p = PG(s);
	PGresult *r = NULL;
	sqlq *b = NULL;
	sh_link l;
	int i, rows, rc = 0;

	if ((rc = sqlq_link_list_check(s, lq)))
		return rc;
	if (!(b = sqlq_new(s, &pg_dialect)))
		return SH_ENOMEM;
	if (total) {
		sqlq_link_list(b, lq, true);
		if ((rc = qb_run(p, b, &r, "count links")))
			goto out;
		*total = col_i64(r, 0, 0);
		PQclear(r);
	}
	if (!cb)
		goto out;
	sqlq_link_list(b, lq, false);
	/* every link at once (export, the CLI's list): a large store takes
	 * longer than one query's deadline */
	if (lq->limit <= 0)
		p->deadline_ms = LIST_ALL_DEADLINE_MS;
	rc = qb_run(p, b, &r, "list links");
	p->deadline_ms = QUERY_DEADLINE_MS;
	if (rc)
		goto out;
	rows = PQntuples(r);
	for (i = 0; i < rows; i++) {
		if ((rc = read_link(p, r, i, &l)))
			break;
		rc = cb(&l, ud);
		sh_link_clear(&l);
		if (rc) {
			rc = rc < 0 ? rc : 0; /* negative: the caller's error, passed back */
			break;
		}
	}
	PQclear(r);
out:
	free(b);
	return rc;
}

/* ---- visits -------------------------------------------------------------- */

/* Appends s (at most max bytes, cut at a character boundary; bytes that are
 * not UTF-8 become '?', which PostgreSQL would refuse and fail the whole
 * flush for) to buf in COPY's text format; NULL is \N. Returns the new
 * length. buf has room for 2 * max + 3 more bytes. */
static size_t copy_field(char *buf, size_t len, const char *s, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n, i, k;
	uint32_t cp;

	if (!s) {
		memcpy(buf + len, "\\N", 2);
		return len + 2;
	}
	n = strnlen(s, max + 1);
	if (n > max) {
		n = max;
		while (n > 0 && (u[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i += k) {
		k = sh_utf8_next(u + i, n - i, &cp);
		if (k == 0) {
			buf[len++] = '?';
			k = 1;
		} else if (k > 1) {
			memcpy(buf + len, u + i, k);
			len += k;
		} else if (u[i] == '\\' || u[i] == '\t' || u[i] == '\n' || u[i] == '\r') {
			buf[len++] = '\\';
			buf[len++] = u[i] == '\t' ? 't' : u[i] == '\n' ? 'n' : u[i] == '\r' ? 'r' : '\\';
		} else {
			buf[len++] = (char)u[i];
		}
	}
	return len;
}

/* Queues one piece of COPY data (len < 0: the end), waiting for room
 * within the deadline: 0, or -1. */
static int put_copy(pg_store *p, const char *buf, int len, int64_t deadline)
{
	int r;

	for (;;) {
		r = len < 0 ? PQputCopyEnd(p->conn, NULL) : PQputCopyData(p->conn, buf, len);
		if (r != 0)
			return r == 1 ? 0 : -1;
		if (flush_out(p, deadline) != 0) /* no room: send what is queued */
			return -1;
	}
}

/* The kept visits (keep[i]) as one COPY into the log. */
static int copy_visits(pg_store *p, const sh_visit *v, size_t n, const unsigned char *keep)
{
	/* one row: 4 numbers and 5 text fields, each escaped at most 2x */
	enum { ROW_MAX = 4 * 24 + 2 * (3 * SH_VISIT_FIELD_MAX + 64 + SH_VISIT_LOCATION_MAX) + 32 };
	int64_t deadline = mono_ms() + p->deadline_ms;
	char *row = malloc(ROW_MAX + 4 * SH_VISIT_FIELD_MAX);
	PGresult *r;
	size_t i, len;
	int rc = 0, ok = 0;

	if (!row)
		return pg_err(p, SH_ENOMEM, "%s", "visits add: out of memory");
	if ((rc = pg_alive(p))) {
		free(row);
		return rc;
	}
	r = x_exec(p, "COPY visits(link_id, ts, kind, orphan_type, referer, user_agent,"
	              " visited_url, ip, location) FROM STDIN", NULL, false);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		rc = pg_fail(p, r, "log visits");
		PQclear(r);
		free(row);
		return rc;
	}
	PQclear(r);
	for (i = 0; i < n && ok == 0; i++) {
		int64_t link = v[i].link_id > 0 ? v[i].link_id : 0;
		if (!keep[i])
			continue;
		len = (size_t)snprintf(row, 128, "%lld\t%lld\t%d\t%d\t", (long long)link,
		                       (long long)v[i].ts, v[i].kind,
		                       link ? ORPHAN_NONE : v[i].orphan_type);
		len = copy_field(row, len, v[i].referer, SH_VISIT_FIELD_MAX);
		row[len++] = '\t';
		len = copy_field(row, len, v[i].user_agent, SH_VISIT_FIELD_MAX);
		row[len++] = '\t';
		len = copy_field(row, len, v[i].visited_url, SH_VISIT_FIELD_MAX);
		row[len++] = '\t';
		len = copy_field(row, len, v[i].ip, 64);
		row[len++] = '\t';
		len = copy_field(row, len, v[i].location, SH_VISIT_LOCATION_MAX);
		row[len++] = '\n';
		ok = put_copy(p, row, (int)len, deadline);
	}
	free(row);
	if (ok == 0)
		ok = put_copy(p, NULL, -1, deadline);
	if (ok == 0)
		ok = flush_out(p, deadline);
	r = ok == 0 ? collect(p, deadline) : NULL;
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = pg_fail(p, r, "log visits");
	PQclear(r);
	return rc;
}

/* "{1,2,3}": an array parameter of n numbers (malloc'ed). */
static char *int_array(const int64_t *x, size_t n)
{
	size_t cap = n * 21 + 3, len = 1, i;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	s[0] = '{';
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, i ? ",%lld" : "%lld", (long long)x[i]);
	s[len++] = '}';
	s[len] = '\0';
	return s;
}

static int i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* bsearch in the sorted ids[0..n) */
static bool has_id(const int64_t *ids, size_t n, int64_t id)
{
	return bsearch(&id, ids, n, sizeof(id), i64_cmp) != NULL;
}

/*
 * A batch of visits: the counters of every visited link by ONE upsert,
 * sorted by link id (rows locked in key order: two instances flushing at
 * once never deadlock), joined with links so that a link gone meanwhile
 * gets no row; the links it RETURNS are the ones whose visits are logged
 * (with the orphans) by one COPY; then this connection's totals rows. HEAD
 * visits are logged, never counted.
 */
static int pg_visits_add(store *s, const sh_visit *v, size_t n)
{
	pg_store *p = PG(s);
	int64_t add[2][2] = {{0, 0}, {0, 0}};
	int64_t *ids = NULL, *cnt = NULL, *bots = NULL, *alive = NULL;
	char *a1 = NULL, *a2 = NULL, *a3 = NULL;
	unsigned char *keep = NULL;
	size_t i, j, nl = 0, nalive = 0;
	PGresult *r = NULL;
	prm b = {0};
	int own = OWN_NONE, rc;

	for (i = 0; i < n; i++)
		if (v[i].kind < VISIT_NORMAL || v[i].kind > VISIT_HEAD)
			return pg_err(p, SH_EINVAL, "%s", "visits add: unknown visit kind");
	if (n == 0)
		return 0;
	ids = malloc(n * sizeof(*ids));
	cnt = calloc(n, sizeof(*cnt));
	bots = calloc(n, sizeof(*bots));
	alive = malloc(n * sizeof(*alive));
	keep = calloc(n, 1);
	if (!ids || !cnt || !bots || !alive || !keep) {
		rc = pg_err(p, SH_ENOMEM, "%s", "visits add: out of memory");
		goto done;
	}
	/* the distinct links, sorted, with their counts */
	for (i = 0; i < n; i++)
		if (v[i].link_id > 0)
			ids[nl++] = v[i].link_id;
	qsort(ids, nl, sizeof(*ids), i64_cmp);
	for (i = j = 0; i < nl; i++)
		if (j == 0 || ids[j - 1] != ids[i])
			ids[j++] = ids[i];
	nl = j;
	for (i = 0; i < n; i++) {
		int64_t *at;
		if (v[i].link_id <= 0)
			continue;
		at = bsearch(&v[i].link_id, ids, nl, sizeof(*ids), i64_cmp);
		cnt[at - ids] += v[i].kind != VISIT_HEAD;
		bots[at - ids] += v[i].kind == VISIT_BOT;
	}
	/* up to 65,536 rows: more than a query's deadline */
	p->deadline_ms = FLUSH_DEADLINE_MS;
	if ((rc = op_begin(p, &own)))
		goto done;
	if (nl) {
		a1 = int_array(ids, nl);
		a2 = int_array(cnt, nl);
		a3 = int_array(bots, nl);
		if (!a1 || !a2 || !a3) {
			rc = pg_err(p, SH_ENOMEM, "%s", "visits add: out of memory");
			goto out;
		}
		p_str(&b, a1);
		p_str(&b, a2);
		p_str(&b, a3);
		rc = pq(p,
		        "INSERT INTO link_counts(link_id, visits, bots)"
		        " SELECT d.id, d.n, d.b FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])"
		        " AS d(id, n, b) JOIN links l ON l.id = d.id ORDER BY d.id"
		        " ON CONFLICT (link_id) DO UPDATE SET"
		        " visits = link_counts.visits + excluded.visits,"
		        " bots = link_counts.bots + excluded.bots RETURNING link_id",
		        &b, &r, "count visits");
		if (rc)
			goto out;
		for (i = 0; i < (size_t)PQntuples(r); i++)
			alive[nalive++] = col_i64(r, (int)i, 0);
		PQclear(r);
		qsort(alive, nalive, sizeof(*alive), i64_cmp);
	}
	for (i = 0; i < n; i++) {
		int k = v[i].link_id > 0 ? 0 : 1;
		if (k == 0 && !has_id(alive, nalive, v[i].link_id))
			continue; /* the link is gone: its visits too */
		keep[i] = 1;
		add[k][0] += v[i].kind != VISIT_HEAD;
		add[k][1] += v[i].kind == VISIT_BOT;
	}
	if ((rc = copy_visits(p, v, n, keep)))
		goto out;
	for (i = 0; i < 2 && rc == 0; i++)
		if (add[i][0])
			rc = totals_add(p, (int)i, add[i][0], add[i][1]);
out:
	rc = op_end(p, own, rc);
done:
	p->deadline_ms = QUERY_DEADLINE_MS;
	free(ids);
	free(cnt);
	free(bots);
	free(alive);
	free(keep);
	free(a1);
	free(a2);
	free(a3);
	return rc;
}

static const char *col_str(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int pg_visits_list(store *s, const sh_visit_query *vq, sh_visit_cb cb, void *ud,
                          int64_t *total)
{
	pg_store *p = PG(s);
	PGresult *r = NULL;
	sh_visit v;
	sqlq *b;
	int i, rows, rc = 0;

	if (!vq)
		return pg_err(p, SH_EINVAL, "%s", "visits list: no query");
	if (!(b = sqlq_new(s, &pg_dialect)))
		return SH_ENOMEM;
	if (total) {
		sqlq_visit_list(b, vq, true);
		if ((rc = qb_run(p, b, &r, "count visits")))
			goto out;
		*total = col_i64(r, 0, 0);
		PQclear(r);
	}
	if (!cb)
		goto out;
	sqlq_visit_list(b, vq, false);
	if ((rc = qb_run(p, b, &r, "list visits")))
		goto out;
	rows = PQntuples(r);
	for (i = 0; i < rows; i++) {
		v.link_id = col_i64(r, i, 1);
		v.ts = col_i64(r, i, 2);
		v.kind = (int)col_i64(r, i, 3);
		v.orphan_type = (int)col_i64(r, i, 4);
		v.referer = col_str(r, i, 5);
		v.user_agent = col_str(r, i, 6);
		v.visited_url = col_str(r, i, 7);
		v.ip = col_str(r, i, 8);
		v.location = col_str(r, i, 9);
		v.client_ip = NULL;
		if ((rc = cb(&v, col_i64(r, i, 0), ud)) != 0) {
			rc = rc < 0 ? rc : 0;
			break;
		}
	}
	PQclear(r);
out:
	free(b);
	return rc;
}

static int pg_visits_totals(store *s, int64_t owner_key_id, sh_visit_totals *links,
                            sh_visit_totals *orphans)
{
	pg_store *p = PG(s);
	sh_visit_totals t[2] = {{0, 0}, {0, 0}};
	PGresult *r;
	prm b = {0};
	int i, rc;

	if ((rc = pq(p, "SELECT kind, sum(total), sum(bots) FROM visit_totals GROUP BY kind", NULL,
	             &r, "visit totals")))
		return rc;
	for (i = 0; i < PQntuples(r); i++) {
		int k = (int)col_i64(r, i, 0);
		if (k == 0 || k == 1) {
			t[k].total = col_i64(r, i, 1);
			t[k].bots = col_i64(r, i, 2);
		}
	}
	PQclear(r);
	if (owner_key_id) {
		t[1].total = t[1].bots = 0;
		p_int(&b, owner_key_id);
		if ((rc = pq(p,
		             "SELECT coalesce(sum(n.visits), 0), coalesce(sum(n.bots), 0)"
		             " FROM links l JOIN link_counts n ON n.link_id = l.id"
		             " WHERE l.owner_key_id = $1",
		             &b, &r, "visit totals")))
			return rc;
		t[0].total = col_i64(r, 0, 0);
		t[0].bots = col_i64(r, 0, 1);
		PQclear(r);
	}
	if (links)
		*links = t[0];
	if (orphans)
		*orphans = t[1];
	return 0;
}

static int pg_visits_prune_details(store *s, int64_t before, int64_t max_rows, int64_t *pruned)
{
	return sqlq_prune(s, &pg_dialect, before, max_rows, pruned);
}

static int pg_visits_delete(store *s, int64_t link_id, int64_t *deleted)
{
	pg_store *p = PG(s);
	int64_t n = 0, ex = 0;
	prm b = {0};
	int own, rc;

	if ((rc = op_begin(p, &own)))
		return rc;
	if (link_id > 0) {
		p_int(&b, link_id);
		if ((rc = pq_int(p, "SELECT count(*) FROM links WHERE id = $1", &b, &ex,
		                 "visits delete")) ||
		    !ex)
			goto out;
		if ((rc = pq_id(p, "DELETE FROM visits WHERE link_id = $1", link_id, &n,
		                "delete visits")) ||
		    (rc = totals_sub_link(p, link_id)))
			goto out;
		rc = pq_id(p, "UPDATE link_counts SET visits = 0, bots = 0 WHERE link_id = $1", link_id,
		           NULL, "delete visits");
	} else {
		if ((rc = pq_id(p, "DELETE FROM visits WHERE link_id = $1", 0, &n,
		                "delete orphan visits")))
			goto out;
		rc = pq(p, "UPDATE visit_totals SET total = 0, bots = 0 WHERE kind = 1", NULL, NULL,
		        "delete orphan visits");
	}
out:
	rc = op_end(p, own, rc);
	if (rc == 0 && deleted)
		*deleted = n;
	return rc;
}

/* ---- tags ---------------------------------------------------------------- */

static int pg_tags_stats(store *s, const sh_tag_query *tq, sh_tag_cb cb, void *ud,
                         int64_t *total)
{
	pg_store *p = PG(s);
	PGresult *r = NULL;
	sh_tag_stats t;
	sqlq *b;
	int i, rc;

	if ((rc = sqlq_tags_check(s, tq)))
		return rc;
	if (!(b = sqlq_new(s, &pg_dialect)))
		return SH_ENOMEM;
	if (total) {
		sqlq_tags(b, tq, true);
		if ((rc = pg_one(s, b, total, "count tags")))
			goto out;
	}
	if (!cb)
		goto out;
	sqlq_tags(b, tq, false);
	if ((rc = qb_run(p, b, &r, "tag stats")))
		goto out;
	for (i = 0; i < PQntuples(r); i++) {
		memset(&t, 0, sizeof(t));
		copy_col(t.tag, sizeof(t.tag), r, i, 0);
		t.links = col_i64(r, i, 1);
		t.visits = col_i64(r, i, 2);
		t.bot_visits = col_i64(r, i, 3);
		if ((rc = cb(&t, ud)) != 0) {
			rc = rc < 0 ? rc : 0;
			break;
		}
	}
	PQclear(r);
out:
	free(b);
	return rc;
}

static int pg_tag_rename(store *s, const char *from, const char *to)
{
	return sqlq_tag_rename(s, &pg_dialect, from, to);
}

static int pg_tag_delete(store *s, const char *tag)
{
	return sqlq_tag_delete(s, &pg_dialect, tag);
}

/* ---- API keys ------------------------------------------------------------ */

static void read_key(const PGresult *r, int row, sh_api_key *k)
{
	const char *h = PQgetvalue(r, row, 3);
	size_t n = 0;

	memset(k, 0, sizeof(*k));
	k->id = col_i64(r, row, 0);
	copy_col(k->name, sizeof(k->name), r, row, 1);
	k->role = (int)col_i64(r, row, 2);
	if (sodium_hex2bin(k->hash, sizeof(k->hash), h, strlen(h), NULL, &n, NULL) != 0 ||
	    n != SH_KEY_HASH_BYTES)
		memset(k->hash, 0, sizeof(k->hash)); /* matches no key */
	copy_col(k->prefix, sizeof(k->prefix), r, row, 4);
	k->created_at = col_i64(r, row, 5);
	k->revoked_at = col_i64(r, row, 6);
}

static int pg_key_insert(store *s, sh_api_key *k)
{
	pg_store *p = PG(s);
	char hex[2 * SH_KEY_HASH_BYTES + 1], name[SH_KEY_NAME_MAX + 1], prefix[9];
	int64_t id = 0;
	prm b = {0};
	int rc;

	snprintf(name, sizeof(name), "%s", k->name);
	snprintf(prefix, sizeof(prefix), "%s", k->prefix);
	sodium_bin2hex(hex, sizeof(hex), k->hash, SH_KEY_HASH_BYTES);
	p_str(&b, name);
	p_int(&b, k->role);
	p_str(&b, hex);
	p_str(&b, prefix);
	p_int(&b, k->created_at);
	p_int(&b, k->revoked_at);
	rc = pq_int(p,
	            "INSERT INTO api_keys(name, role, hash, prefix, created_at, revoked_at)"
	            " VALUES ($1, $2, decode($3, 'hex'), $4, $5, $6) RETURNING id",
	            &b, &id, "insert key");
	if (rc == SH_ETAKEN)
		return pg_err(p, SH_ETAKEN, "%s", "an API key with this hash already exists");
	if (rc == 0)
		k->id = id;
	return rc;
}

static int pg_key_get_by_hash(store *s, const uint8_t hash[SH_KEY_HASH_BYTES], sh_api_key *out)
{
	pg_store *p = PG(s);
	char hex[2 * SH_KEY_HASH_BYTES + 1];
	PGresult *r;
	prm b = {0};
	int rc;

	sodium_bin2hex(hex, sizeof(hex), hash, SH_KEY_HASH_BYTES);
	p_str(&b, hex);
	if ((rc = pqs(p, ST_KEY_BY_HASH, &b, &r, "get key")))
		return rc;
	if (PQntuples(r) == 0)
		rc = pg_err(p, SH_ENOTFOUND, "%s", "no such API key");
	else
		read_key(r, 0, out);
	PQclear(r);
	return rc;
}

static int pg_key_list(store *s, sh_key_cb cb, void *ud)
{
	pg_store *p = PG(s);
	PGresult *r;
	sh_api_key k;
	int i, rc;

	if ((rc = pq(p, "SELECT " KEY_COLS " FROM api_keys ORDER BY id", NULL, &r, "list keys")))
		return rc;
	for (i = 0; i < PQntuples(r); i++) {
		read_key(r, i, &k);
		if ((rc = cb(&k, ud)) != 0) {
			rc = rc < 0 ? rc : 0;
			break;
		}
	}
	PQclear(r);
	return rc;
}

static int pg_key_revoke(store *s, int64_t id, int64_t when)
{
	pg_store *p = PG(s);
	PGresult *r;
	int64_t n, ex = 0;
	prm b = {0};
	int rc;

	p_int(&b, id);
	p_int(&b, when);
	if ((rc = pq(p, "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at = 0", &b,
	             &r, "revoke key")))
		return rc;
	n = pq_changes(r);
	PQclear(r);
	if (n > 0)
		return 0;
	/* nothing changed: already revoked (keep the first date) or no such key */
	b.n = 1;
	if ((rc = pq_int(p, "SELECT count(*) FROM api_keys WHERE id = $1", &b, &ex, "revoke key")))
		return rc;
	return ex ? 0 : pg_err(p, SH_ENOTFOUND, "%s", "no such API key");
}

static int pg_key_count(store *s, int64_t *n)
{
	return pq_int(PG(s), "SELECT count(*) FROM api_keys WHERE revoked_at = 0", NULL, n,
	              "count keys");
}

/* ---- changes: NOTIFY and the feed ----------------------------------------
 * One NOTIFY per committed group (the writer's), on channel "shorty": the
 * queue is ordered at commit under a database-wide lock, so one per
 * transaction, not per create (research scale-out.md §3: 9,000 -> 2,400
 * creates/s per create). Each instance has one more connection that LISTENs
 * (the feed below), polled with a deadline and a heartbeat: a connection
 * that is open but silent is not listening. */

static int pg_notify_op(store *s, const char *msg)
{
	prm b = {0};

	p_str(&b, msg);
	/* with the group's queued writes: one round trip */
	return pqs(PG(s), ST_NOTIFY, &b, NULL, "notify");
}

#define FEED_BEAT_MS 1000 /* a heartbeat query this often ... */
#define FEED_BEAT_DEADLINE_MS 1000 /* ... answered within this */

typedef struct pg_feed {
	store_feed base;    /* first: a store_feed * is a pg_feed * */
	pg_store p;         /* its own connection (reusing the deadline code) */
	char *url;
	bool listening;
	int64_t beat_at_ms; /* the next heartbeat */
} pg_feed;

/* Connects and LISTENs within the connect and query deadlines. */
static int feed_connect(pg_feed *f)
{
	pg_store *p = &f->p;
	PGresult *r;
	static const char *const keys[] = {"connect_timeout", "keepalives", "application_name",
	                                   "dbname", NULL};
	const char *vals[] = {"2", "1", "shorty-listen", f->url, NULL};

	if (p->conn)
		PQfinish(p->conn);
	p->cut = false;
	p->conn = PQconnectStartParams(keys, vals, 1);
	if (!p->conn || PQstatus(p->conn) == CONNECTION_BAD || connect_poll(p, false) != 0 ||
	    session_setup(p) != 0)
		return -1;
	r = x_exec(p, "LISTEN shorty", NULL, false);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

static int feed_open(store_feed **out, const char *url, sh_err *err)
{
	pg_feed *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f || !(f->url = strdup(url))) {
		free(f);
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	}
	f->p.deadline_ms = FEED_BEAT_DEADLINE_MS;
	f->p.rng = (uint64_t)(uintptr_t)f ^ ((uint64_t)mono_ms() << 20) ^ 0x2545f4914f6cdd1dull;
	f->base.ops = &store_pg_feed_ops;
	*out = &f->base;
	return 0;
}

static void feed_close(store_feed *base)
{
	pg_feed *f = (pg_feed *)base;

	if (f->p.conn)
		PQfinish(f->p.conn);
	free(f->url);
	free(f);
}

static int feed_lost(pg_feed *f)
{
	pg_store *p = &f->p;

	if (p->conn)
		PQfinish(p->conn);
	p->conn = NULL;
	f->listening = false;
	backoff_step(p);
	return FEED_LOST;
}

static void feed_deliver(pg_feed *f, store_feed_cb cb, void *ud)
{
	PGnotify *n;

	while ((n = PQnotifies(f->p.conn)) != NULL) {
		cb(n->extra ? n->extra : "", ud);
		PQfreemem(n);
	}
}

static int feed_wait(store_feed *base, int timeout_ms, store_feed_cb cb, void *ud)
{
	pg_feed *f = (pg_feed *)base;
	pg_store *p = &f->p;
	int64_t now = mono_ms(), until = now + timeout_ms;
	PGresult *r;
	int w;

	if (!f->listening) {
		if (now < p->retry_at_ms) {
			int64_t nap = (p->retry_at_ms < until ? p->retry_at_ms : until) - now;
			struct timespec ts = {.tv_sec = nap / 1000, .tv_nsec = (nap % 1000) * 1000000};
			nanosleep(&ts, NULL);
			return FEED_LOST;
		}
		if (feed_connect(f) != 0)
			return feed_lost(f);
		f->listening = true;
		p->backoff_ms = 0;
		f->beat_at_ms = mono_ms() + FEED_BEAT_MS;
		return FEED_BACK;
	}
	if (now >= f->beat_at_ms) {
		/* notifications that come with its answer are kept by libpq */
		r = x_exec(p, "SELECT 1", NULL, false);
		w = PQresultStatus(r) == PGRES_TUPLES_OK;
		PQclear(r);
		if (!w)
			return feed_lost(f);
		feed_deliver(f, cb, ud);
		f->beat_at_ms = mono_ms() + FEED_BEAT_MS;
		now = mono_ms();
	}
	if (until > f->beat_at_ms)
		until = f->beat_at_ms;
	w = until > now ? wait_sock(p, POLLIN, until) : 0;
	if (w < 0 || (w > 0 && !PQconsumeInput(p->conn)) || PQstatus(p->conn) != CONNECTION_OK)
		return feed_lost(f);
	feed_deliver(f, cb, ud);
	return FEED_OK;
}

const store_feed_ops store_pg_feed_ops = {.open = feed_open, .wait = feed_wait, .close = feed_close};

/* ---- domains (sqlite.c's) ------------------------------------------------- */

static int pg_domain_list(store *s, sh_domain_cb cb, void *ud)
{
	pg_store *p = PG(s);
	PGresult *r;
	sh_domain d;
	int i, k, rc;

	if ((rc = pq(p,
	             "SELECT id, authority, base_url_redirect, regular_404_redirect,"
	             " invalid_short_url_redirect FROM domains ORDER BY id",
	             NULL, &r, "list domains")))
		return rc;
	for (i = 0; i < PQntuples(r); i++) {
		memset(&d, 0, sizeof(d));
		d.id = col_i64(r, i, 0);
		copy_col(d.authority, sizeof(d.authority), r, i, 1);
		for (k = 0; k < SH_REDIRECTS; k++) /* the result's strings, for the call */
			d.redirect[k] = PQgetisnull(r, i, 2 + k) ? NULL : PQgetvalue(r, i, 2 + k);
		if ((rc = cb(&d, ud)) != 0) {
			rc = rc < 0 ? rc : 0;
			break;
		}
	}
	PQclear(r);
	return rc;
}

static int pg_domain_add(store *s, const char *authority, int64_t *id)
{
	pg_store *p = PG(s);
	prm b = {0};

	if (!authority || !*authority || strlen(authority) > SH_AUTHORITY_MAX)
		return pg_err(p, SH_EINVAL, "%s", "domain: bad authority");
	p_str(&b, authority);
	/* DO UPDATE (a no-op): RETURNING then answers for an existing row too */
	return pq_int(p,
	              "INSERT INTO domains(authority) VALUES ($1) ON CONFLICT (authority)"
	              " DO UPDATE SET authority = excluded.authority RETURNING id",
	              &b, id, "add domain");
}

static int pg_domain_set_redirects(store *s, const sh_domain *d)
{
	pg_store *p = PG(s);
	prm b = {0};
	int i;

	if (!d || !d->authority[0])
		return pg_err(p, SH_EINVAL, "%s", "domain: bad authority");
	p_str(&b, d->authority);
	for (i = 0; i < SH_REDIRECTS; i++)
		p_str(&b, d->redirect[i]);
	return pq(p,
	          "INSERT INTO domains(authority, base_url_redirect, regular_404_redirect,"
	          " invalid_short_url_redirect) VALUES ($1, $2, $3, $4)"
	          " ON CONFLICT (authority) DO UPDATE SET"
	          " base_url_redirect = excluded.base_url_redirect,"
	          " regular_404_redirect = excluded.regular_404_redirect,"
	          " invalid_short_url_redirect = excluded.invalid_short_url_redirect",
	          &b, NULL, "set domain redirects");
}

/* ---- copying a whole store (store.h: sh_copy_table) ---------------------- */

#define COPY_PAGE 5000 /* rows a read brings (a page each, by OFFSET: the copy
                          runs with no instance writing) */
#define COPY_BLOB_MAX 64 /* the one bytes column: an API key's hash */
#define COPY_PAGED " LIMIT 5000 OFFSET $1"

/* Per logical table: its rows in key order (a page at $1), and one row in.
 * visit_totals keeps a kind's total in slots: read summed, written to slot
 * 0. A counter code is a row here (generated), whatever the source was. */
static const struct {
	const char *select, *insert;
} pg_copy_sql[COPY_NTABLES] = {
    [COPY_META] = {"SELECT key, value FROM meta ORDER BY key" COPY_PAGED,
                   "INSERT INTO meta(key, value) VALUES ($1, $2)"
                   " ON CONFLICT (key) DO UPDATE SET value = excluded.value"},
    [COPY_DOMAINS] = {"SELECT id, authority, base_url_redirect, regular_404_redirect,"
                      " invalid_short_url_redirect FROM domains ORDER BY id" COPY_PAGED,
                      "INSERT INTO domains(id, authority, base_url_redirect,"
                      " regular_404_redirect, invalid_short_url_redirect)"
                      " VALUES ($1, $2, $3, $4, $5)"},
    [COPY_KEYS] = {"SELECT id, name, role, encode(hash, 'hex'), prefix, created_at, revoked_at"
                   " FROM api_keys ORDER BY id" COPY_PAGED,
                   "INSERT INTO api_keys(id, name, role, hash, prefix, created_at, revoked_at)"
                   " VALUES ($1, $2, $3, decode($4, 'hex'), $5, $6, $7)"},
    [COPY_LINKS] = {"SELECT id, code_kind, url, url_hash, title, created_at, updated_at,"
                    " valid_since, expires_at, max_visits, redirect_status, forward_query,"
                    " crawlable, disabled, owner_key_id, redirect_rules, domain_id, dedupe"
                    " FROM links ORDER BY id" COPY_PAGED,
                    "INSERT INTO links(id, code_kind, url, url_hash, title, created_at,"
                    " updated_at, valid_since, expires_at, max_visits, redirect_status,"
                    " forward_query, crawlable, disabled, owner_key_id, redirect_rules,"
                    " domain_id, dedupe) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
                    " $12, $13, $14, $15, $16, $17, $18)"},
    [COPY_CODES] = {"SELECT domain_id, code, link_id, generated::int FROM codes"
                    " ORDER BY link_id" COPY_PAGED,
                    "INSERT INTO codes(domain_id, code, link_id, generated)"
                    " VALUES ($1, $2, $3, $4::int <> 0)"},
    [COPY_TAGS] = {"SELECT link_id, tag FROM link_tags ORDER BY link_id, tag" COPY_PAGED,
                   "INSERT INTO link_tags(link_id, tag) VALUES ($1, $2)"},
    [COPY_COUNTS] = {"SELECT link_id, visits, bots FROM link_counts ORDER BY link_id" COPY_PAGED,
                     "INSERT INTO link_counts(link_id, visits, bots) VALUES ($1, $2, $3)"},
    [COPY_VISITS] = {"SELECT id, link_id, ts, kind, orphan_type, referer, user_agent,"
                     " visited_url, ip, location FROM visits ORDER BY id" COPY_PAGED,
                     "INSERT INTO visits(id, link_id, ts, kind, orphan_type, referer,"
                     " user_agent, visited_url, ip, location)"
                     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"},
    [COPY_TOTALS] = {"SELECT kind, sum(total)::bigint, sum(bots)::bigint FROM visit_totals"
                     " GROUP BY kind ORDER BY kind" COPY_PAGED,
                     "INSERT INTO visit_totals(kind, slot, total, bots) VALUES ($1, 0, $2, $3)"
                     " ON CONFLICT (kind, slot) DO UPDATE SET total = excluded.total,"
                     " bots = excluded.bots"},
};

/* One result row into cells; a bytes column (hex) into blob. */
static int copy_cells(pg_store *p, const PGresult *r, int i, const char *types, sh_cell *row,
                      unsigned char *blob)
{
	for (int k = 0; types[k]; k++) {
		sh_cell *c = &row[k];
		memset(c, 0, sizeof *c);
		if (PQgetisnull(r, i, k))
			continue; /* SH_CELL_NULL */
		c->s = PQgetvalue(r, i, k);
		c->n = (size_t)PQgetlength(r, i, k);
		c->type = SH_CELL_TEXT;
		if (types[k] == 'i') {
			c->type = SH_CELL_INT;
			c->i = strtoll(c->s, NULL, 10);
		} else if (types[k] == 'b') {
			size_t n = 0;

			if (c->n % 2 || c->n / 2 > COPY_BLOB_MAX)
				return pg_err(p, SH_ESTORE, "%s", "copy: an API key hash of a bad size");
			if (sodium_hex2bin(blob, COPY_BLOB_MAX, c->s, c->n, NULL, &n, NULL) != 0 ||
			    n != c->n / 2)
				return pg_err(p, SH_ESTORE, "%s", "copy: a bad API key hash");
			c->type = SH_CELL_BLOB;
			c->s = (const char *)blob;
			c->n = n;
		}
	}
	return 0;
}

static int pg_copy_rows(store *s, int table, sh_row_cb cb, void *ud)
{
	pg_store *p = PG(s);
	sh_cell row[SH_COPY_COLS_MAX];
	unsigned char blob[COPY_BLOB_MAX];
	int64_t offset = 0;
	int rows, rc;

	if (table < 0 || table >= COPY_NTABLES)
		return pg_err(p, SH_EINVAL, "%s", "copy: no such table");
	do {
		PGresult *r;
		prm b = {0};
		p_int(&b, offset);
		if ((rc = pq(p, pg_copy_sql[table].select, &b, &r, "copy: read")))
			return rc;
		rows = PQntuples(r);
		for (int i = 0; i < rows && rc == 0; i++) {
			rc = copy_cells(p, r, i, sh_copy_tables[table].types, row, blob);
			if (rc == 0)
				rc = cb(row, (int)strlen(sh_copy_tables[table].types), ud);
		}
		PQclear(r);
		offset += rows;
	} while (rc == 0 && rows == COPY_PAGE);
	return rc;
}

static int pg_copy_put(store *s, int table, const sh_cell *row)
{
	pg_store *p = PG(s);
	char blob[2 * COPY_BLOB_MAX + 1];
	prm b = {0};
	const char *types;

	if (table < 0 || table >= COPY_NTABLES)
		return pg_err(p, SH_EINVAL, "%s", "copy: no such table");
	if (!row) /* the end of the table: its queued rows' answers */
		return p->npend ? pipe_sync(p, p->npend, NULL, sh_copy_tables[table].name) : 0;
	types = sh_copy_tables[table].types;
	for (int k = 0; types[k]; k++) {
		const sh_cell *c = &row[k];
		if (c->type == SH_CELL_INT) {
			p_int(&b, c->i);
		} else if (c->type == SH_CELL_BLOB) {
			if (c->n > COPY_BLOB_MAX)
				return pg_err(p, SH_EINVAL, "%s", "copy: an API key hash of a bad size");
			sodium_bin2hex(blob, sizeof blob, (const unsigned char *)c->s, c->n);
			p_str(&b, blob);
		} else {
			p_str(&b, c->type == SH_CELL_TEXT ? c->s : NULL);
		}
	}
	/* in the copy's transaction: queued on the pipeline, a round trip per
	 * PEND_MAX rows instead of one per row (a failure fails the commit,
	 * and nothing is copied) */
	if (!p->txn || p->sp_depth)
		return pq(p, pg_copy_sql[table].insert, &b, NULL, sh_copy_tables[table].name);
	return pq_queue(p, ST_COPY(table), &b, sh_copy_tables[table].name);
}

static const char *copy_insert_sql(int table)
{
	return pg_copy_sql[table].insert;
}

static int pg_copy_count(store *s, int64_t *rows)
{
	return pq_int(PG(s),
	              "SELECT (SELECT count(*) FROM links) + (SELECT count(*) FROM api_keys) +"
	              " (SELECT count(*) FROM domains) + (SELECT count(*) FROM visits)",
	              NULL, rows, "copy: count");
}

/* The sequences past every copied id: the links' blocks (shorty_id_block
 * floors at max(links.id) and id_hwm), and the serial ids of keys,
 * domains and visits. */
static int pg_copy_finish(store *s)
{
	return pq_script(PG(s),
	                 "SELECT setval('api_keys_id_seq',"
	                 " coalesce((SELECT max(id) FROM api_keys), 0) + 1, false),"
	                 " setval('domains_id_seq', coalesce((SELECT max(id) FROM domains), 0) + 1,"
	                 " false),"
	                 " setval('visits_id_seq', coalesce((SELECT max(id) FROM visits), 0) + 1,"
	                 " false);"
	                 "INSERT INTO meta(key, value)"
	                 " SELECT 'id_hwm', coalesce(max(id), 0)::text FROM links"
	                 " ON CONFLICT (key) DO UPDATE SET value ="
	                 " greatest(meta.value::bigint, excluded.value::bigint)::text;",
	                 "copy: set the sequences");
}

static const store_ops postgres_ops = {
    .iVersion = 1,
    .name = "postgres",
    .close = pg_close,
    .migrate = pg_migrate,
    .schema_version = pg_schema_version,
    .ping = pg_ping,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .savepoint = pg_savepoint,
    .release = pg_release,
    .rollback_to = pg_rollback_to,
    .in_txn = pg_in_txn,
    .meta_get = pg_meta_get,
    .meta_set = pg_meta_set,
    .meta_add = pg_meta_add,
    .next_id = pg_next_id,
    .link_insert = pg_link_insert,
    .link_get = pg_link_get,
    .link_get_by_code = pg_link_get_by_code,
    .code_exists = pg_code_exists,
    .link_find_dup = pg_link_find_dup,
    .link_find_match = pg_link_find_match,
    .link_update = pg_link_update,
    .link_dedupe = pg_link_dedupe,
    .link_delete = pg_link_delete,
    .link_list = pg_link_list,
    .visits_add = pg_visits_add,
    .visits_list = pg_visits_list,
    .visits_totals = pg_visits_totals,
    .visits_delete = pg_visits_delete,
    .visits_prune_details = pg_visits_prune_details,
    .tags_stats = pg_tags_stats,
    .tag_rename = pg_tag_rename,
    .tag_delete = pg_tag_delete,
    .key_insert = pg_key_insert,
    .key_get_by_hash = pg_key_get_by_hash,
    .key_list = pg_key_list,
    .key_revoke = pg_key_revoke,
    .key_count = pg_key_count,
    .notify = pg_notify_op,
    .copy_rows = pg_copy_rows,
    .copy_put = pg_copy_put,
    .copy_count = pg_copy_count,
    .copy_finish = pg_copy_finish,
    .domain_list = pg_domain_list,
    .domain_add = pg_domain_add,
    .domain_set_redirects = pg_domain_set_redirects,
};

/* ---- cache misses without waiting (store_lookup_*) ------------------------
 * A redirect's cache miss on PostgreSQL was one round trip on the HTTP
 * worker's connection, which the worker waited for: a worker served one
 * miss per round trip. Here each worker has a connection of its own for
 * misses, on libpq's pipeline: a miss is queued (its statement, then a
 * sync of its own, so that one failure aborts only itself), sent with the
 * others of the loop's turn in one write (store_lookups_run flushes), and
 * not waited for; the worker's event loop watches the socket and
 * store_lookups_run hands each answer to the callback. A code that decodes
 * to an id is looked up by id (the primary key); only when that link is
 * not the code's (another kind, another domain) by custom code, a second
 * statement queued then. Every miss in flight has the query deadline: past
 * it the connection is cut and every miss on it fails (the requests answer
 * 503); the next send answers STORE_LOOKUP_RECONNECT, and the caller
 * makes it again with lk_reconnect (pg_alive's backoff) on a thread where
 * a connect may wait. The open does not wait for PostgreSQL either: a
 * connection it could not make is made the same way, so a loop that started while PostgreSQL was
 * away gets its lookup connection when PostgreSQL is back (before, it read
 * every miss the waiting way until restart). The handles are reached
 * through store_pg_lookup_ops (store/lookups.h) only. */

#define LK_MAX 256 /* misses in flight on one connection */

struct lk_ent {
	void *ud;
	int64_t deadline;
	int64_t dom, id;
	int st;        /* ST_RESOLVE_ID or ST_RESOLVE_CODE */
	bool prep;     /* the statement's Prepare travels before it */
	bool failed;   /* a result of its own failed */
	int rc;
	PGresult *res; /* its rows */
	char code[CODE_MAX + 1];
};

typedef struct pg_lookups {
	store_lookups base; /* first: a store_lookups * is a pg_lookups * */
	pg_store *p;
	store_lookup_cb cb;
	struct lk_ent ring[LK_MAX];
	unsigned head, n;
} pg_lookups;

static pg_lookups *LK(store_lookups *q)
{
	return (pg_lookups *)q;
}

static const pg_lookups *LKc(const store_lookups *q)
{
	return (const pg_lookups *)q;
}

static int lk_open(store_lookups **out, const char *url, store_lookup_cb cb, sh_err *err)
{
	pg_lookups *q = calloc(1, sizeof(*q));
	store_options o;
	sh_err why = {0};
	int rc;

	*out = NULL;
	if (!q)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	/* not read-only: its session setup would be a statement of its own on
	 * every reconnect; this connection only ever runs the two SELECTs */
	store_options_default(&o);
	rc = pg_open(&q->p, url, &o, "shorty-lookups", &why);
	if (rc && (!q->p || PQstatus(q->p->conn) == CONNECTION_OK)) {
		/* out of memory, or connected and its setup failed: not a
		 * connection that a later send could make */
		if (q->p)
			pg_close(&q->p->base);
		free(q);
		if (err)
			*err = why;
		return rc;
	}
	if (rc) /* PostgreSQL away: lk_reconnect connects (pg_alive), not before the backoff */
		backoff_step(q->p);
	q->base.ops = &store_pg_lookup_ops;
	q->cb = cb;
	*out = &q->base;
	return 0;
}

/* Queues the lookup `from` (ud, dom, id, code, st) as the last in flight,
 * not sent yet (store_lookups_run flushes); false when the connection
 * cannot take it. */
static bool lk_queue(pg_lookups *q, const struct lk_ent *from)
{
	pg_store *p = q->p;
	struct lk_ent *e = &q->ring[(q->head + q->n) % LK_MAX];
	const char *name = stmts[from->st].name;
	prm b = {0};

	if (q->n == LK_MAX || PQstatus(p->conn) != CONNECTION_OK)
		return false;
	*e = *from;
	e->prep = e->failed = false;
	e->rc = 0;
	e->res = NULL;
	if (e->st == ST_RESOLVE_ID) {
		p_int(&b, e->id);
	} else {
		p_str(&b, e->code);
		p_int(&b, e->dom);
	}
	if (PQpipelineStatus(p->conn) == PQ_PIPELINE_OFF && !PQenterPipelineMode(p->conn))
		return false;
	if (!(p->prepared & (1u << e->st))) {
		if (!PQsendPrepare(p->conn, name, stmts[e->st].sql, 0, NULL)) {
			cut(p);
			return false;
		}
		p->prepared |= 1u << e->st; /* unmarked again if it fails */
		e->prep = true;
	}
	if (!PQsendQueryPrepared(p->conn, name, b.n, b.v, NULL, NULL, 0) ||
	    !PQpipelineSync(p->conn)) {
		cut(p); /* half queued: nothing more on this connection */
		return false;
	}
	e->deadline = mono_ms() + QUERY_DEADLINE_MS;
	q->n++;
	return true;
}

/* The oldest miss, answered (rc, and the link when 0) and taken off. A
 * lookup by id that found no link, or another code's (not a counter code,
 * another domain), asks again by custom code, as svc__get_owned does. */
static void lk_complete(pg_lookups *q, int rc)
{
	struct lk_ent e = q->ring[q->head];
	sh_link l;

	q->ring[q->head].res = NULL;
	q->head = (q->head + 1) % LK_MAX;
	q->n--;
	if (rc == 0 && e.failed)
		rc = e.rc;
	if (rc == 0 && (!e.res || PQntuples(e.res) == 0))
		rc = SH_ENOTFOUND;
	if (rc == 0)
		rc = read_link(q->p, e.res, 0, &l);
	PQclear(e.res);
	if (e.st == ST_RESOLVE_ID && (rc == 0 || rc == SH_ENOTFOUND)) {
		if (rc == 0 && l.code_kind == CODE_KIND_COUNTER && l.domain_id == e.dom)
			goto done;
		if (rc == 0)
			sh_link_clear(&l);
		e.st = ST_RESOLVE_CODE;
		if (lk_queue(q, &e))
			return;
		rc = SH_ESTORE;
	}
done:
	q->cb(e.ud, rc, rc == 0 ? &l : NULL);
	if (rc == 0)
		sh_link_clear(&l);
}

/* The connection is gone (or cut): every miss on it fails. */
static void lk_fail_all(pg_lookups *q)
{
	/* those in flight now: a callback may send a new one (it fails at
	 * once on this connection, or goes on a new one) */
	for (unsigned n = q->n; n && q->n; n--)
		lk_complete(q, SH_ESTORE);
}

static int lk_send(store_lookups *lq, int64_t domain_id, int64_t id, const char *code, void *ud)
{
	pg_lookups *q = LK(lq);
	struct lk_ent e = {.ud = ud, .dom = domain_id, .id = id};

	if (q->n == LK_MAX)
		return SH_EBUSY; /* the caller asks the blocking way */
	/* reconnects only between misses, and not here: a connect may wait
	 * up to its deadline, which the caller's loop must not */
	if (q->n == 0 && PQstatus(q->p->conn) != CONNECTION_OK)
		return STORE_LOOKUP_RECONNECT;
	e.st = id >= 0 ? ST_RESOLVE_ID : ST_RESOLVE_CODE;
	snprintf(e.code, sizeof e.code, "%s", code);
	return lk_queue(q, &e) ? 0 : SH_ESTORE; /* broken: run fails those in flight */
}

static int lk_reconnect(store_lookups *lq)
{
	return pg_alive(LK(lq)->p);
}

/* Reads every answer that came, without waiting; a miss ends at its
 * sync. false when the connection broke. */
static bool lk_read(pg_lookups *q)
{
	PGconn *c = q->p->conn;
	bool after_null = false;
	PGresult *r;
	ExecStatusType t;

	if (PQflush(c) < 0 || !PQconsumeInput(c))
		return false;
	while (q->n && !PQisBusy(c)) {
		struct lk_ent *e = &q->ring[q->head];

		if (!(r = PQgetResult(c))) { /* between two statements' results */
			if (after_null)
				break; /* libpq has nothing more queued: never spin */
			after_null = true;
			continue;
		}
		after_null = false;
		t = PQresultStatus(r);
		if (t == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			lk_complete(q, 0);
			continue;
		}
		if (t == PGRES_TUPLES_OK && !e->res) {
			e->res = r;
			continue;
		}
		if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK && !e->failed) {
			if (e->prep)
				q->p->prepared &= ~(1u << e->st);
			e->failed = true;
			e->rc = t == PGRES_PIPELINE_ABORTED ? SH_ESTORE : pg_fail(q->p, r, "lookup");
		}
		PQclear(r);
	}
	/* what the callbacks queued goes now, with what the turn's requests
	 * queued (one write for all) */
	return PQflush(c) >= 0 && PQstatus(c) == CONNECTION_OK;
}

static void lk_run(store_lookups *lq)
{
	pg_lookups *q = LK(lq);
	pg_store *p = q->p;

	if (PQstatus(p->conn) == CONNECTION_OK) {
		if (!q->n) { /* nothing asked: a notice, or the server closing */
			(void)PQconsumeInput(p->conn);
			return;
		}
		if (lk_read(q) && (!q->n || mono_ms() < q->ring[q->head].deadline))
			return;
		if (q->n && PQstatus(p->conn) == CONNECTION_OK)
			cut(p); /* the oldest miss is past its deadline */
	}
	lk_fail_all(q);
}

static int lk_fd(const store_lookups *lq)
{
	const pg_lookups *q = LKc(lq);

	return PQstatus(q->p->conn) == CONNECTION_OK ? PQsocket(q->p->conn) : -1;
}

static int lk_timeout_ms(const store_lookups *lq)
{
	const pg_lookups *q = LKc(lq);
	int64_t left;

	if (!q->n)
		return -1;
	left = q->ring[q->head].deadline - mono_ms();
	return left < 0 ? 0 : (int)left;
}

static unsigned lk_inflight(const store_lookups *lq)
{
	return LKc(lq)->n;
}

static void lk_close(store_lookups *lq)
{
	pg_lookups *q = LK(lq);

	/* closing: each in flight is told (its caller frees what waits) */
	while (q->n)
		lk_complete(q, SH_ESTORE);
	pg_close(&q->p->base);
	free(q);
}

const store_lookup_ops store_pg_lookup_ops = {
    .open = lk_open,
    .send = lk_send,
    .reconnect = lk_reconnect,
    .run = lk_run,
    .fd = lk_fd,
    .timeout_ms = lk_timeout_ms,
    .inflight = lk_inflight,
    .close = lk_close,
};

/*
 * sqlq.h — the query building the SQL backends share (internal to store/).
 *
 * sqlite.c and postgres.c answer the same questions ("the links matching
 * this list query", "the visits of this tag") from the same tables, so
 * which conditions and orders a query's fields turn into is written once,
 * here. What differs between the two SQL dialects is a small table,
 * sqlq_dialect, each backend filling one; running a built query (binding
 * its values, reading its rows) stays in the backend.
 *
 * A built query is text assembled from the fixed fragments of this file and
 * of the backends only: every value goes through a bound parameter.
 */
#ifndef SHORTY_STORE_SQLQ_H
#define SHORTY_STORE_SQLQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shorty/store.h"

#define SQLQ_SQL_MAX 4096 /* longest assembled query (fixed fragments only) */
#define SQLQ_BIND_MAX 64

typedef struct sqlq sqlq;

typedef struct sqlq_dialect {
	/* placeholders are $1, $2, ... (PostgreSQL): each `?` of a fragment
	 * becomes the next $n, and `?n` becomes $n; else written as they are */
	bool dollar;
	/* "no limit" is LIMIT NULL (PostgreSQL), else LIMIT -1 (SQLite) */
	bool null_limit;
	const char *link_select; /* "SELECT <a link's columns> FROM links l ..." */
	const char *link_count;  /* "SELECT count(*) FROM links l ..." (the same joins) */
	const char *code_of;     /* the code a link is shown with (search, order) */
	const char *instr;       /* substring position: "instr" / "strpos" */
	const char *text_param;  /* a text parameter nothing else types: "?" / "?::text" */
	/* a condition on the link of a visit, "<open> cond [<again> cond] <close>"
	 * with cond (one parameter) written once, or twice when again is set */
	const char *visit_link_open, *visit_link_again, *visit_link_close;
	/* tags_stats: the owner parameter ?1, typed; the conditions "the tag
	 * is ?3 (NULL: any)" and "the tag holds ?2 (NULL: any)" */
	const char *tag_owner, *tag_exact, *tag_search;

	/* How the backend runs a built query (the shared ops below): one runs
	 * it and puts the first column of its one row in *out; exec runs a
	 * write and puts the rows it changed in *changes (may be NULL). Both
	 * return 0 or SH_E* with s's last_err set. */
	int (*one)(store *s, sqlq *b, int64_t *out, const char *what);
	int (*exec)(store *s, sqlq *b, int64_t *changes, const char *what);
	/* the backend's op transaction: begin joins the caller's transaction
	 * (a savepoint) or opens one; end commits or rolls back by rc, and
	 * returns the result */
	int (*begin)(store *s, int *own);
	int (*end)(store *s, int own, int rc);
} sqlq_dialect;

typedef struct sqlq_val {
	bool text;
	int64_t i;
	const char *s; /* text: NULL = SQL NULL; not copied */
} sqlq_val;

struct sqlq {
	const sqlq_dialect *d;
	char sql[SQLQ_SQL_MAX];
	size_t len;
	bool where, overflow; /* overflow: too long; the backend refuses to run it */
	int nph;              /* $n placeholders written */
	int nb;
	sqlq_val b[SQLQ_BIND_MAX];
};

/* A builder for a query in dialect d, to be free()d; NULL: out of memory
 * (SH_ENOMEM in s's last_err). */
sqlq *sqlq_new(store *s, const sqlq_dialect *d);
/* Empties b for a query in dialect d. */
void sqlq_init(sqlq *b, const sqlq_dialect *d);
/* Appends a fixed fragment (placeholders rewritten for the dialect). */
void sqlq_add(sqlq *b, const char *frag);
/* Starts the next WHERE condition: " WHERE frag", then " AND frag". */
void sqlq_cond(sqlq *b, const char *frag);
/* The value of the next placeholder. */
void sqlq_int(sqlq *b, int64_t v);
void sqlq_text(sqlq *b, const char *s);
/* " LIMIT ? OFFSET ?" with its values; limit <= 0 is none. */
void sqlq_limit(sqlq *b, int64_t limit, int64_t offset);

/* Checks a link before it is written: 0, or SH_EINVAL with s's last_err. */
int sqlq_check_link(store *s, const sh_link *l);

/* Shlink's findIfExists: the oldest link matching m, built into b (its
 * dialect kept). 0, or SH_EINVAL (s's last_err) for a malformed m. */
int sqlq_link_match(store *s, sqlq *b, const sh_link_match *m);

/* Checks a list query: 0, or SH_EINVAL (s's last_err). */
int sqlq_link_list_check(store *s, const sh_list_query *lq);
/* link_list's query into b (emptied first): count (one row, count(*)) or
 * the page of links in lq's order. lq passed sqlq_link_list_check. */
void sqlq_link_list(sqlq *b, const sh_list_query *lq, bool count);

/* visits_list's query into b (emptied first): count or the page, newest
 * first (columns id, link_id, ts, kind, orphan_type, referer, user_agent,
 * visited_url, ip, location). */
void sqlq_visit_list(sqlq *b, const sh_visit_query *vq, bool count);

/* Checks a tag query: 0, or SH_EINVAL (s's last_err). */
int sqlq_tags_check(store *s, const sh_tag_query *tq);
/* tags_stats's query into b (emptied first): count (one row) or the page
 * (columns tag, links, visits, bot visits) in tq's order. */
void sqlq_tags(sqlq *b, const sh_tag_query *tq, bool count);

/* The ops written once for every SQL backend, run with d's one/exec; the
 * writes of one op in one d->begin/d->end. */
int sqlq_tag_rename(store *s, const sqlq_dialect *d, const char *from, const char *to);
int sqlq_tag_delete(store *s, const sqlq_dialect *d, const char *tag);
/* Drops the details (referer, user agent, URL, location) of at most
 * max_rows visits older than before, from the watermark kept in meta on. */
int sqlq_prune(store *s, const sqlq_dialect *d, int64_t before, int64_t max_rows,
               int64_t *pruned);

#endif

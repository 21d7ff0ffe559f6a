/*
 * test_store.c — one suite of store tests, run against every backend.
 *
 * Everything goes through the store_* wrappers (store.h), so the same
 * assertions pin down the SQLite backend on a real file (in a mkdtemp
 * directory) and on an in-memory database ("memory:NAME", SQLite's memdb):
 * the table `backends` lists them and main() runs the whole group once per
 * entry. Where the two differ (a file outlives its connections, a named
 * memory store lives while one is open) the test says so.
 *
 * The third entry is PostgreSQL (store/postgres.c), on the cluster that
 * scripts/run-tests starts (SHORTY_TEST_PG), each test in a fresh schema
 * (tests/unit/pgtest.h). Without SHORTY_TEST_PG the binary fails. The few
 * tests of SQLite's own file format (migration from schema 1, the bulk
 * visit index) are not run there: `sqlite_only` below lists them.
 */
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shorty/store.h"
#include "../pgtest.h"

struct backend {
	const char *name;
	bool sqlite; /* a SQLite file */
	bool pg;     /* PostgreSQL */
};

static const struct backend backends[] = {
    {"sqlite", true, false},
    {"memory", false, false},
    {"postgres", false, true},
};
static const struct backend *cur;
static int fixture_seq;

typedef struct fx {
	char schema[64]; /* postgres: this test's schema */
	char dir[64];    /* sqlite: the mkdtemp directory */
	char path[128];  /* sqlite: the database file */
	char url[320];
	store *s;
} fx;

static int open_url(const char *url, bool read_only, store **out)
{
	store_options o;
	sh_err err = {0};
	int rc;

	store_options_default(&o);
	o.create = !read_only;
	o.read_only = read_only;
	rc = store_open(out, url, &o, &err);
	if (rc)
		print_message("store_open(%s): %d %s\n", url, rc, err.msg);
	return rc;
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	sh_err err = {0};

	assert_non_null(f);
	if (cur->sqlite) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/shorty-store-XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		/* a missing parent directory is created by o.create */
		snprintf(f->path, sizeof(f->path), "%s/data/shorty.db", f->dir);
		snprintf(f->url, sizeof(f->url), "sqlite:%s", f->path);
	} else if (cur->pg) {
		assert_true(pgtest_open_schema("st", f->schema, f->url, sizeof(f->url)));
	} else {
		snprintf(f->url, sizeof(f->url), "memory:test%d", ++fixture_seq);
	}
	assert_int_equal(open_url(f->url, false, &f->s), 0);
	assert_int_equal(store_migrate(f->s, &err), 0);
	store_fault_clear();
	*state = f;
	return 0;
}

static void remove_db_files(fx *f)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	char p[160];
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/data", f->dir);
	rmdir(p);
	rmdir(f->dir);
}

static int teardown(void **state)
{
	fx *f = *state;

	store_fault_clear();
	store_close(f->s);
	if (cur->sqlite)
		remove_db_files(f);
	if (cur->pg)
		pgtest_drop_schema(f->schema);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

/* A store's database through SQLite itself, bypassing the store: the file
 * of "sqlite:PATH", or the memdb database that "memory:NAME" names (NAME of
 * [A-Za-z0-9] only here, so no escaping). */
static sqlite3 *raw_open_url(const char *url)
{
	char uri[192];
	sqlite3 *db = NULL;

	if (strncmp(url, "sqlite:", 7) == 0)
		snprintf(uri, sizeof(uri), "file:%s", url + 7);
	else
		snprintf(uri, sizeof(uri), "file:/shorty-%s?vfs=memdb", url + 7);
	assert_int_equal(
	    sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
	                    NULL),
	    SQLITE_OK);
	return db;
}

static sqlite3 *raw_open(const fx *f)
{
	return raw_open_url(f->url);
}

static void mk_link(sh_link *l, int64_t id, const char *url, int kind, const char *code)
{
	memset(l, 0, sizeof(*l));
	l->id = id;
	l->url = strdup(url);
	assert_non_null(l->url);
	l->url_hash = 0x1234000000000000ull + (uint64_t)strlen(url); /* any stable value */
	l->code_kind = kind;
	if (code)
		snprintf(l->code, sizeof(l->code), "%s", code);
	l->created_at = 1700000000 + id;
	l->updated_at = l->created_at;
	l->redirect_status = 302;
	l->forward_query = true;
}

static void add_tag(sh_link *l, const char *t)
{
	snprintf(l->tags[l->ntags++], sizeof(l->tags[0]), "%s", t);
}

static void insert(store *s, int64_t id, const char *url, int kind, const char *code)
{
	sh_link l;

	mk_link(&l, id, url, kind, code);
	assert_int_equal(store_link_insert(s, &l), 0);
	sh_link_clear(&l);
}

static bool link_exists(store *s, int64_t id)
{
	sh_link l = {0};
	int rc = store_link_get(s, id, &l);

	assert_true(rc == 0 || rc == SH_ENOTFOUND);
	sh_link_clear(&l);
	return rc == 0;
}

struct ids {
	int n;
	int64_t id[64];
	int stop_after; /* 0 = never */
};

static int collect_link(const sh_link *l, void *ud)
{
	struct ids *c = ud;

	if (c->n < 64)
		c->id[c->n++] = l->id;
	return c->stop_after && c->n >= c->stop_after;
}

static int collect_visit(const sh_visit *v, int64_t visit_id, void *ud)
{
	struct ids *c = ud;

	(void)v;
	if (c->n < 64)
		c->id[c->n++] = visit_id;
	return 0;
}

/* Checks the collected ids (in order: n of them, in ap) and the total. */
static void check_ids(const struct ids *c, int64_t t, int64_t total, int n, va_list ap)
{
	int i;

	assert_int_equal(t, total);
	assert_int_equal(c->n, n);
	for (i = 0; i < n; i++)
		assert_int_equal(c->id[i], va_arg(ap, int));
}

/* Lists with q and checks the ids (in order) and the total. */
static void expect_list(store *s, const sh_list_query *q, int64_t total, int n, ...)
{
	struct ids c = {0};
	int64_t t = -1;
	va_list ap;

	assert_int_equal(store_link_list(s, q, collect_link, &c, &t), 0);
	va_start(ap, n);
	check_ids(&c, t, total, n, ap);
	va_end(ap);
}

/* The visit ids of the list for q, newest first, and its total. */
static void expect_visits(store *s, const sh_visit_query *q, int64_t total, int n, ...)
{
	struct ids c = {0};
	int64_t t = -1;
	va_list ap;

	assert_int_equal(store_visits_list(s, q, collect_visit, &c, &t), 0);
	va_start(ap, n);
	check_ids(&c, t, total, n, ap);
	va_end(ap);
}

static sh_list_query base_query(void)
{
	sh_list_query q;

	memset(&q, 0, sizeof(q));
	q.limit = 100;
	q.order = LIST_CREATED_DESC;
	q.now = 1800000000;
	return q;
}

/* ---- schema and meta ----------------------------------------------------- */

static void test_migrate_twice_and_version(void **state)
{
	fx *f = *state;
	sh_err err = {0};
	int current = -1, latest = -1;

	assert_int_equal(store_migrate(f->s, &err), 0);
	assert_int_equal(store_migrate(f->s, &err), 0);
	assert_int_equal(store_schema_version(f->s, &current, &latest), 0);
	assert_true(latest >= 1);
	assert_int_equal(current, latest);
	assert_int_equal(store_ping(f->s), 0);
}

static void test_meta(void **state)
{
	fx *f = *state;
	char *v = (char *)"junk";

	assert_int_equal(store_meta_get(f->s, "secret", &v), SH_ENOTFOUND);
	assert_null(v);
	assert_int_equal(store_meta_set(f->s, "secret", "abc"), 0);
	assert_int_equal(store_meta_get(f->s, "secret", &v), 0);
	assert_string_equal(v, "abc");
	free(v);
	assert_int_equal(store_meta_set(f->s, "secret", "def"), 0);
	assert_int_equal(store_meta_get(f->s, "secret", &v), 0);
	assert_string_equal(v, "def");
	free(v);
}

/* ---- links --------------------------------------------------------------- */

static void test_link_insert_get(void **state)
{
	fx *f = *state;
	sh_link l, g = {0};
	int64_t id = 0;
	bool ex = true;

	assert_int_equal(store_next_id(f->s, 1, &id), 0);
	assert_int_equal(id, 1);

	mk_link(&l, 1, "https://example.com/a", CODE_KIND_COUNTER, NULL);
	l.title = strdup("A title");
	l.valid_since = 11;
	l.expires_at = 22;
	l.max_visits = 33;
	l.redirect_status = 301;
	l.forward_query = false;
	l.crawlable = true;
	l.disabled = true;
	l.owner_key_id = 7;
	l.url_hash = 0xfedcba9876543210ull; /* above INT64_MAX: must round-trip */
	add_tag(&l, "zeta");
	add_tag(&l, "alpha");
	assert_int_equal(store_link_insert(f->s, &l), 0);

	assert_int_equal(store_link_get(f->s, 1, &g), 0);
	assert_int_equal(g.id, 1);
	assert_string_equal(g.code, ""); /* generated codes are the service's */
	assert_int_equal(g.code_kind, CODE_KIND_COUNTER);
	assert_string_equal(g.url, l.url);
	assert_true(g.url_hash == l.url_hash);
	assert_string_equal(g.title, "A title");
	assert_int_equal(g.created_at, l.created_at);
	assert_int_equal(g.updated_at, l.updated_at);
	assert_int_equal(g.valid_since, 11);
	assert_int_equal(g.expires_at, 22);
	assert_int_equal(g.max_visits, 33);
	assert_int_equal(g.visits, 0);
	assert_int_equal(g.redirect_status, 301);
	assert_false(g.forward_query);
	assert_true(g.crawlable);
	assert_true(g.disabled);
	assert_int_equal(g.owner_key_id, 7);
	assert_int_equal(g.ntags, 2); /* sorted by name */
	assert_string_equal(g.tags[0], "alpha");
	assert_string_equal(g.tags[1], "zeta");
	sh_link_clear(&g);
	assert_int_equal(store_next_id(f->s, 1, &id), 0);
	assert_int_equal(id, 2);

	/* a stored code: case-sensitive */
	insert(f->s, 2, "https://example.com/b", CODE_KIND_CUSTOM, "AbC");
	assert_int_equal(store_link_get_by_code(f->s, "AbC", &g), 0);
	assert_int_equal(g.id, 2);
	assert_string_equal(g.code, "AbC");
	assert_int_equal(g.code_kind, CODE_KIND_CUSTOM);
	sh_link_clear(&g);
	assert_int_equal(store_link_get(f->s, 2, &g), 0);
	assert_string_equal(g.code, "AbC");
	sh_link_clear(&g);
	assert_int_equal(store_link_get_by_code(f->s, "abc", &g), SH_ENOTFOUND);
	assert_int_equal(store_code_exists(f->s, "AbC", &ex), 0);
	assert_true(ex);
	assert_int_equal(store_code_exists(f->s, "ABC", &ex), 0);
	assert_false(ex);

	/* duplicate id, duplicate stored code: taken, and nothing half-stored */
	sh_link_clear(&l);
	mk_link(&l, 1, "https://example.com/other", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_link_insert(f->s, &l), SH_ETAKEN);
	sh_link_clear(&l);
	mk_link(&l, 3, "https://example.com/c", CODE_KIND_RANDOM, "AbC");
	add_tag(&l, "t");
	assert_int_equal(store_link_insert(f->s, &l), SH_ETAKEN);
	sh_link_clear(&l);
	assert_false(link_exists(f->s, 3));
	assert_int_equal(store_link_get(f->s, 99, &g), SH_ENOTFOUND);
	assert_int_equal(store_link_get_by_code(f->s, "nope", &g), SH_ENOTFOUND);
}

static void test_find_dup(void **state)
{
	fx *f = *state;
	const char *u = "https://example.com/dup";
	sh_link l, g = {0};
	uint64_t h;

	mk_link(&l, 1, u, CODE_KIND_CUSTOM, "mine"); /* custom: never a dup */
	h = l.url_hash;
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);
	assert_int_equal(store_link_find_dup(f->s, h, u, 0, &g), SH_ENOTFOUND);

	mk_link(&l, 2, u, CODE_KIND_COUNTER, NULL);
	l.expires_at = 5; /* expiring: no */
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);
	mk_link(&l, 3, u, CODE_KIND_COUNTER, NULL);
	l.max_visits = 5; /* limited: no */
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);
	mk_link(&l, 4, u, CODE_KIND_COUNTER, NULL);
	l.disabled = true; /* disabled: no */
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);
	mk_link(&l, 5, u, CODE_KIND_COUNTER, NULL);
	l.owner_key_id = 9; /* another owner */
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);
	assert_int_equal(store_link_find_dup(f->s, h, u, 0, &g), SH_ENOTFOUND);
	assert_int_equal(store_link_find_dup(f->s, h, u, 9, &g), 0);
	assert_int_equal(g.id, 5);
	sh_link_clear(&g);

	mk_link(&l, 6, u, CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);
	assert_int_equal(store_link_find_dup(f->s, h, u, 0, &g), 0);
	assert_int_equal(g.id, 6);
	sh_link_clear(&g);
	/* same hash, other URL (a hash collision): no */
	assert_int_equal(store_link_find_dup(f->s, h, "https://example.com/dux", 0, &g),
	                 SH_ENOTFOUND);

	/* SPEC §1: "no custom code" — a hash-strategy code is generated too,
	 * so under code_strategy=hash dedupe still finds the link */
	{
		const char *u2 = "https://example.com/hashed";
		mk_link(&l, 7, u2, CODE_KIND_HASH, "h4sh3d");
		h = l.url_hash;
		assert_int_equal(store_link_insert(f->s, &l), 0);
		sh_link_clear(&l);
		assert_int_equal(store_link_find_dup(f->s, h, u2, 0, &g), 0);
		assert_int_equal(g.id, 7);
		sh_link_clear(&g);
	}
}

/* The dedupe claim (issue 8 item 2): one link per (domain, owner, URL
 * hash) holds it; a second claim is SH_ETAKEN; given up, it is free. */
static void test_link_dedupe(void **state)
{
	fx *f = *state;
	const char *u = "https://example.com/claimed";
	sh_link l;

	for (int64_t id = 1; id <= 4; id++) {
		mk_link(&l, id, u, CODE_KIND_COUNTER, NULL);
		l.owner_key_id = id == 3 ? 9 : 0; /* another owner */
		l.domain_id = id == 4 ? 5 : 0;    /* another domain */
		assert_int_equal(store_link_insert(f->s, &l), 0);
		sh_link_clear(&l);
	}
	assert_int_equal(store_link_dedupe(f->s, 1, true), 0);
	assert_int_equal(store_link_dedupe(f->s, 1, true), 0); /* its own: again */
	assert_int_equal(store_link_dedupe(f->s, 2, true), SH_ETAKEN);
	assert_int_equal(store_link_dedupe(f->s, 3, true), 0);
	assert_int_equal(store_link_dedupe(f->s, 4, true), 0);
	/* in a transaction, a refused claim leaves it usable */
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_link_dedupe(f->s, 2, true), SH_ETAKEN);
	assert_int_equal(store_link_dedupe(f->s, 1, false), 0);
	assert_int_equal(store_link_dedupe(f->s, 2, true), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_link_dedupe(f->s, 1, true), SH_ETAKEN);
}

static void test_link_update(void **state)
{
	fx *f = *state;
	sh_visit v = {.link_id = 1, .ts = 1700000000, .kind = VISIT_NORMAL};
	sh_link l, g = {0};
	bool ex;

	mk_link(&l, 1, "https://example.com/old", CODE_KIND_CUSTOM, "old");
	add_tag(&l, "a");
	add_tag(&l, "b");
	assert_int_equal(store_link_insert(f->s, &l), 0);
	insert(f->s, 2, "https://example.com/two", CODE_KIND_CUSTOM, "two");
	assert_int_equal(store_visits_add(f->s, &v, 1), 0);

	/* a stale copy (visits = 0) must not undo the counted visit */
	free(l.url);
	l.url = strdup("https://example.com/new");
	l.title = strdup("New");
	snprintf(l.code, sizeof(l.code), "new");
	l.ntags = 0;
	add_tag(&l, "c");
	l.expires_at = 99;
	l.updated_at = 1800000000;
	assert_int_equal(store_link_update(f->s, &l), 0);
	assert_int_equal(store_link_get(f->s, 1, &g), 0);
	assert_string_equal(g.url, "https://example.com/new");
	assert_string_equal(g.title, "New");
	assert_string_equal(g.code, "new");
	assert_int_equal(g.expires_at, 99);
	assert_int_equal(g.updated_at, 1800000000);
	assert_int_equal(g.visits, 1);
	assert_int_equal(g.ntags, 1);
	assert_string_equal(g.tags[0], "c");
	sh_link_clear(&g);
	assert_int_equal(store_code_exists(f->s, "old", &ex), 0);
	assert_false(ex);
	assert_int_equal(store_link_get_by_code(f->s, "new", &g), 0);
	sh_link_clear(&g);

	/* a code that belongs to another link: taken, nothing changed */
	snprintf(l.code, sizeof(l.code), "two");
	free(l.title);
	l.title = strdup("Changed");
	assert_int_equal(store_link_update(f->s, &l), SH_ETAKEN);
	assert_int_equal(store_link_get(f->s, 1, &g), 0);
	assert_string_equal(g.code, "new");
	assert_string_equal(g.title, "New");
	sh_link_clear(&g);

	l.id = 42;
	snprintf(l.code, sizeof(l.code), "x42");
	assert_int_equal(store_link_update(f->s, &l), SH_ENOTFOUND);
	sh_link_clear(&l);
}

/* Every tag, unpaged (the old shape of the call). */
static int tags_all(store *s, int64_t owner, const char *search, sh_tag_cb cb, void *ud)
{
	sh_tag_query q = {.owner_key_id = owner, .search = search};

	return store_tags_stats(s, &q, cb, ud, NULL);
}

static int count_tags(const sh_tag_stats *t, void *ud)
{
	(void)t;
	(*(int *)ud)++;
	return 0;
}

static void test_link_delete_cascades(void **state)
{
	fx *f = *state;
	sh_visit v[2] = {
	    {.link_id = 1, .ts = 1700000000, .kind = VISIT_NORMAL},
	    {.link_id = 1, .ts = 1700000001, .kind = VISIT_BOT},
	};
	sh_visit_query vq = {.link_id = 1, .orphan = 0};
	sh_visit_totals lt, ot;
	struct ids c = {0};
	int64_t total = -1;
	sh_link l;
	int ntags = 0;
	bool ex;

	mk_link(&l, 1, "https://example.com/del", CODE_KIND_CUSTOM, "del");
	add_tag(&l, "gone");
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);
	insert(f->s, 2, "https://example.com/keep", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_visits_add(f->s, v, 2), 0);
	assert_int_equal(store_visits_totals(f->s, 0, &lt, &ot), 0);
	assert_int_equal(lt.total, 2);

	assert_int_equal(store_link_delete(f->s, 1), 0);
	assert_false(link_exists(f->s, 1));
	assert_true(link_exists(f->s, 2));
	assert_int_equal(store_code_exists(f->s, "del", &ex), 0);
	assert_false(ex);
	assert_int_equal(tags_all(f->s, 0, NULL, count_tags, &ntags), 0);
	assert_int_equal(ntags, 0);
	assert_int_equal(store_visits_list(f->s, &vq, collect_visit, &c, &total), 0);
	assert_int_equal(total, 0);
	assert_int_equal(store_visits_totals(f->s, 0, &lt, &ot), 0);
	assert_int_equal(lt.total, 0);
	assert_int_equal(lt.bots, 0);
	assert_int_equal(store_link_delete(f->s, 1), SH_ENOTFOUND);
	/* the code is free again */
	insert(f->s, 3, "https://example.com/again", CODE_KIND_CUSTOM, "del");
}

/* Six links for the list tests:
 *   id url                          title   visits(bots) tags    owner created
 *   1  https://a.example/100%        Zed     0            x       0     t+1
 *   2  https://b.example/a_b         alpha   3(1)         x y     0     t+2
 *   3  https://c.example/aXb         NULL    1            y       5     t+3
 *   4  https://d.example/plain       Mid     5(5)         -       5     t+4
 *   5  https://e.example/ab          beta    2            x y z   0     t+5
 *   6  https://f.example/custom      NULL    0            -       0     t+6 (code "Wx%")
 */
static void list_fixture(store *s)
{
	static const struct {
		const char *url, *title, *tags;
		int normal, bots;
		int64_t owner;
	} rows[] = {
	    {"https://a.example/100%", "Zed", "x", 0, 0, 0},
	    {"https://b.example/a_b", "alpha", "xy", 2, 1, 0},
	    {"https://c.example/aXb", NULL, "y", 1, 0, 5},
	    {"https://d.example/plain", "Mid", "", 0, 5, 5},
	    {"https://e.example/ab", "beta", "xyz", 2, 0, 0},
	    {"https://f.example/custom", NULL, "", 0, 0, 0},
	};
	sh_link l;
	int i, j;

	for (i = 0; i < 6; i++) {
		mk_link(&l, i + 1, rows[i].url, i == 5 ? CODE_KIND_CUSTOM : CODE_KIND_COUNTER,
		        i == 5 ? "Wx%" : NULL);
		if (rows[i].title)
			l.title = strdup(rows[i].title);
		for (j = 0; rows[i].tags[j]; j++) {
			char t[2] = {rows[i].tags[j], 0};
			add_tag(&l, t);
		}
		l.owner_key_id = rows[i].owner;
		if (i == 3)
			l.max_visits = 5; /* reached below */
		if (i == 4)
			l.expires_at = 1700000000; /* in the past of q.now */
		assert_int_equal(store_link_insert(s, &l), 0);
		sh_link_clear(&l);
		for (j = 0; j < rows[i].normal + rows[i].bots; j++) {
			sh_visit v = {.link_id = i + 1,
			              .ts = 1700000000 + j,
			              .kind = j < rows[i].normal ? VISIT_NORMAL : VISIT_BOT};
			assert_int_equal(store_visits_add(s, &v, 1), 0);
		}
	}
}

static void test_link_list(void **state)
{
	fx *f = *state;
	sh_list_query q = base_query();
	const char *tx[] = {"x"}, *txy[] = {"x", "y"}, *tyz[] = {"z", "y", "y"};
	struct ids c = {0};

	list_fixture(f->s);
	expect_list(f->s, &q, 6, 6, 6, 5, 4, 3, 2, 1);
	q.order = LIST_CREATED_ASC;
	expect_list(f->s, &q, 6, 6, 1, 2, 3, 4, 5, 6);
	q.order = LIST_URL_DESC;
	expect_list(f->s, &q, 6, 6, 6, 5, 4, 3, 2, 1);
	q.order = LIST_TITLE_ASC; /* NULL titles first, then byte order */
	expect_list(f->s, &q, 6, 6, 3, 6, 4, 1, 2, 5);
	q.order = LIST_VISITS_DESC;
	expect_list(f->s, &q, 6, 6, 4, 2, 5, 3, 6, 1);
	q.order = LIST_NONBOT_VISITS_DESC;
	expect_list(f->s, &q, 6, 6, 5, 2, 3, 6, 4, 1);

	/* paging: limit, offset, keyset */
	q = base_query();
	q.limit = 2;
	expect_list(f->s, &q, 6, 2, 6, 5);
	q.offset = 2;
	expect_list(f->s, &q, 6, 2, 4, 3);
	q.offset = 10;
	expect_list(f->s, &q, 6, 0);
	q = base_query();
	q.before_id = 4;
	expect_list(f->s, &q, 3, 3, 3, 2, 1);

	/* search is literal and case-insensitive: % and _ are plain characters */
	q = base_query();
	q.search = "%";
	expect_list(f->s, &q, 2, 2, 6, 1); /* url 100%, code Wx% */
	q.search = "a_b";
	expect_list(f->s, &q, 1, 1, 2);
	q.search = "_";
	expect_list(f->s, &q, 1, 1, 2);
	q.search = "AXB";
	expect_list(f->s, &q, 1, 1, 3);
	q.search = "BETA"; /* title */
	expect_list(f->s, &q, 1, 1, 5);
	q.search = "wX"; /* stored code */
	expect_list(f->s, &q, 1, 1, 6);
	q.search = "";
	expect_list(f->s, &q, 6, 6, 6, 5, 4, 3, 2, 1);

	/* tags: any / all (duplicates in the query do not matter) */
	q = base_query();
	q.tags = tx;
	q.ntags = 1;
	expect_list(f->s, &q, 3, 3, 5, 2, 1);
	q.tags = txy;
	q.ntags = 2;
	expect_list(f->s, &q, 4, 4, 5, 3, 2, 1);
	q.tags_all = true;
	expect_list(f->s, &q, 2, 2, 5, 2);
	q.tags = tyz;
	q.ntags = 3;
	expect_list(f->s, &q, 1, 1, 5);

	/* dates (inclusive), owner, the exclude_* filters */
	q = base_query();
	q.start_date = 1700000002;
	q.end_date = 1700000004;
	expect_list(f->s, &q, 3, 3, 4, 3, 2);
	q = base_query();
	q.owner_key_id = 5;
	expect_list(f->s, &q, 2, 2, 4, 3);
	q = base_query();
	q.exclude_max_visits_reached = true;
	expect_list(f->s, &q, 5, 5, 6, 5, 3, 2, 1);
	q.exclude_past_valid_until = true;
	expect_list(f->s, &q, 4, 4, 6, 3, 2, 1);

	/* a callback's positive answer stops the walk without an error */
	q = base_query();
	c.stop_after = 2;
	assert_int_equal(store_link_list(f->s, &q, collect_link, &c, NULL), 0);
	assert_int_equal(c.n, 2);
}

/* ---- visits -------------------------------------------------------------- */

struct vcheck {
	int n;
	int64_t link_id[16];
	int kind[16];
	char referer[16][SH_VISIT_FIELD_MAX + 8];
	char location[16][64];
};

static int check_visit(const sh_visit *v, int64_t visit_id, void *ud)
{
	struct vcheck *c = ud;

	(void)visit_id;
	if (c->n < 16) {
		c->link_id[c->n] = v->link_id;
		c->kind[c->n] = v->kind;
		snprintf(c->referer[c->n], sizeof(c->referer[0]), "%s",
		         v->referer ? v->referer : "");
		snprintf(c->location[c->n], sizeof(c->location[0]), "%s",
		         v->location ? v->location : "");
		c->n++;
	}
	return 0;
}

static void test_visits(void **state)
{
	fx *f = *state;
	char longref[SH_VISIT_FIELD_MAX * 2];
	sh_visit v[8];
	sh_visit_query vq;
	sh_visit_totals lt, ot;
	struct vcheck c = {0};
	struct ids ids = {0};
	int64_t total, deleted;
	sh_link g = {0};

	memset(longref, 'r', sizeof(longref) - 1);
	longref[sizeof(longref) - 1] = '\0';
	insert(f->s, 1, "https://example.com/v", CODE_KIND_COUNTER, NULL);
	memset(v, 0, sizeof(v));
	v[0] = (sh_visit){.link_id = 1,
	                  .ts = 1700000000,
	                  .kind = VISIT_NORMAL,
	                  .referer = "https://ref.example/",
	                  .user_agent = "UA",
	                  .visited_url = "http://s/abc",
	                  .ip = "10.0.0.0"};
	v[1] = (sh_visit){.link_id = 1, .ts = 1700000001, .kind = VISIT_BOT, .referer = longref};
	v[2] = (sh_visit){.link_id = 1, .ts = 1700000002, .kind = VISIT_HEAD};
	v[3] = (sh_visit){.link_id = 999, .ts = 1700000003, .kind = VISIT_NORMAL}; /* gone */
	v[4] = (sh_visit){
	    .link_id = 0, .ts = 1700000004, .kind = VISIT_NORMAL, .orphan_type = ORPHAN_BASE_URL};
	v[5] = (sh_visit){.link_id = 0,
	                  .ts = 1700000005,
	                  .kind = VISIT_BOT,
	                  .orphan_type = ORPHAN_INVALID_SHORT_URL};
	v[6] = (sh_visit){
	    .link_id = 0, .ts = 1700000006, .kind = VISIT_HEAD, .orphan_type = ORPHAN_REGULAR_404};
	assert_int_equal(store_visits_add(f->s, v, 7), 0);

	/* HEAD is logged, not counted; bots counted apart */
	assert_int_equal(store_link_get(f->s, 1, &g), 0);
	assert_int_equal(g.visits, 2);
	assert_int_equal(g.bot_visits, 1);
	sh_link_clear(&g);
	assert_int_equal(store_visits_totals(f->s, 0, &lt, &ot), 0);
	assert_int_equal(lt.total, 2);
	assert_int_equal(lt.bots, 1);
	assert_int_equal(ot.total, 2);
	assert_int_equal(ot.bots, 1);
	/* an owner sees the sums of its links and no orphans */
	assert_int_equal(store_visits_totals(f->s, 7, &lt, &ot), 0);
	assert_int_equal(lt.total, 0);
	assert_int_equal(ot.total, 0);

	/* the log: newest first; fields round-trip, long ones are cut */
	memset(&vq, 0, sizeof(vq));
	vq.link_id = 1;
	total = -1;
	assert_int_equal(store_visits_list(f->s, &vq, check_visit, &c, &total), 0);
	assert_int_equal(total, 3);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.kind[0], VISIT_HEAD);
	assert_int_equal(c.kind[1], VISIT_BOT);
	assert_int_equal(c.kind[2], VISIT_NORMAL);
	assert_int_equal(strlen(c.referer[1]), SH_VISIT_FIELD_MAX);
	assert_string_equal(c.referer[2], "https://ref.example/");
	vq.exclude_bots = true;
	assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
	assert_int_equal(total, 2);
	vq.limit = 1;
	vq.offset = 1;
	vq.exclude_bots = false;
	c.n = 0;
	assert_int_equal(store_visits_list(f->s, &vq, check_visit, &c, NULL), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.kind[0], VISIT_BOT);

	/* orphans */
	memset(&vq, 0, sizeof(vq));
	vq.orphan = 1;
	assert_int_equal(store_visits_list(f->s, &vq, collect_visit, &ids, &total), 0);
	assert_int_equal(total, 3);
	vq.orphan_type = ORPHAN_INVALID_SHORT_URL;
	assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
	assert_int_equal(total, 1);
	vq.orphan = -1;
	vq.orphan_type = 0;
	assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
	assert_int_equal(total, 6);
	vq.orphan = 0;
	vq.start_date = 1700000001;
	vq.end_date = 1700000001;
	assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
	assert_int_equal(total, 1);

	/* delete a link's visits: its counters and the totals follow */
	assert_int_equal(store_visits_delete(f->s, 1, &deleted), 0);
	assert_int_equal(deleted, 3);
	assert_int_equal(store_link_get(f->s, 1, &g), 0);
	assert_int_equal(g.visits, 0);
	assert_int_equal(g.bot_visits, 0);
	sh_link_clear(&g);
	assert_int_equal(store_visits_totals(f->s, 0, &lt, &ot), 0);
	assert_int_equal(lt.total, 0);
	assert_int_equal(ot.total, 2);
	assert_int_equal(store_visits_delete(f->s, 0, &deleted), 0);
	assert_int_equal(deleted, 3);
	assert_int_equal(store_visits_totals(f->s, 0, &lt, &ot), 0);
	assert_int_equal(ot.total, 0);
	assert_int_equal(ot.bots, 0);
}

/* A batch with many visits of few links, interleaved (the SQLite backend
 * counts each distinct link and (link, day) once per batch): every visit of
 * a live link is logged in the batch's order, HEADs are logged but not
 * counted, bots are counted apart, a deleted link's visits are dropped, and
 * the totals stay equal to the sum of the link counters. */
static void test_visits_grouped_batch(void **state)
{
	fx *f = *state;
	sh_visit v[48];
	sh_visit_query vq;
	sh_visit_totals lt, ot;
	struct vcheck c = {0};
	struct ids ids = {0};
	int64_t total, want_v[6] = {0}, want_b[6] = {0}, logged[6] = {0};
	sh_link g = {0};
	size_t n = 0, i;

	insert(f->s, 1, "https://example.com/g1", CODE_KIND_COUNTER, NULL);
	insert(f->s, 2, "https://example.com/g2", CODE_KIND_COUNTER, NULL);
	insert(f->s, 3, "https://example.com/g3", CODE_KIND_COUNTER, NULL);
	insert(f->s, 4, "https://example.com/g4", CODE_KIND_COUNTER, NULL);
	insert(f->s, 5, "https://example.com/g5", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_link_delete(f->s, 3), 0);
	assert_int_equal(store_link_delete(f->s, 4), 0);
	memset(v, 0, sizeof(v));
	/* links 1, 2, 3 (deleted) interleaved over two days, kinds rotating;
	 * link 2 gets only HEADs on the second day */
	for (i = 0; i < 36; i++) {
		int64_t link = 1 + (int64_t)(i % 3);
		int kind = (int)(i / 3 % 3); /* VISIT_NORMAL, VISIT_BOT, VISIT_HEAD */
		int64_t ts = 1700000000 + (i < 18 ? 0 : 86400) + (int64_t)i;

		if (link == 2 && i >= 18)
			kind = VISIT_HEAD;
		v[n++] = (sh_visit){.link_id = link, .ts = ts, .kind = kind, .ip = "10.0.0.0"};
		if (link != 3) {
			logged[link]++;
			want_v[link] += kind != VISIT_HEAD;
			want_b[link] += kind == VISIT_BOT;
		}
	}
	/* only HEADs: link 5 (kept, logged, not counted), link 4 (deleted) */
	v[n++] = (sh_visit){.link_id = 5, .ts = 1700000050, .kind = VISIT_HEAD};
	v[n++] = (sh_visit){.link_id = 4, .ts = 1700000051, .kind = VISIT_HEAD};
	v[n++] = (sh_visit){.link_id = 5, .ts = 1700000052, .kind = VISIT_HEAD};
	logged[5] = 2;
	/* orphans in between */
	v[n++] = (sh_visit){
	    .link_id = 0, .ts = 1700000100, .kind = VISIT_NORMAL, .orphan_type = ORPHAN_BASE_URL};
	v[n++] = (sh_visit){
	    .link_id = 0, .ts = 1700000101, .kind = VISIT_HEAD, .orphan_type = ORPHAN_BASE_URL};
	v[n++] = (sh_visit){.link_id = 0,
	                    .ts = 1700086500,
	                    .kind = VISIT_BOT,
	                    .orphan_type = ORPHAN_INVALID_SHORT_URL};
	assert_int_equal(store_visits_add(f->s, v, n), 0);
	/* the same batch again: counts add up on existing daily rows */
	assert_int_equal(store_visits_add(f->s, v, n), 0);

	for (int64_t id = 1; id <= 5; id++) {
		if (id == 3 || id == 4)
			continue;
		assert_int_equal(store_link_get(f->s, id, &g), 0);
		assert_int_equal(g.visits, 2 * want_v[id]);
		assert_int_equal(g.bot_visits, 2 * want_b[id]);
		sh_link_clear(&g);
		memset(&vq, 0, sizeof(vq));
		vq.link_id = id;
		total = -1;
		assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
		assert_int_equal(total, 2 * logged[id]);
	}
	for (int64_t id = 3; id <= 4; id++) {
		assert_false(link_exists(f->s, id));
		memset(&vq, 0, sizeof(vq));
		vq.link_id = id;
		assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
		assert_int_equal(total, 0);
	}

	/* the log keeps the batch's order: newest (last added) first */
	memset(&vq, 0, sizeof(vq));
	vq.link_id = 1;
	vq.limit = 12;
	assert_int_equal(store_visits_list(f->s, &vq, check_visit, &c, NULL), 0);
	assert_int_equal(c.n, 12);
	for (i = 0; i < 12; i++) {
		size_t k = 33 - 3 * i; /* link 1's visits of the batch, newest first */
		assert_int_equal(c.kind[i], v[k].kind);
	}
	memset(&vq, 0, sizeof(vq));
	vq.orphan = -1;
	vq.limit = 64;
	assert_int_equal(store_visits_list(f->s, &vq, collect_visit, &ids, &total), 0);
	assert_int_equal(total, 2 * (logged[1] + logged[2] + logged[5] + 3));
	for (i = 1; i < (size_t)ids.n; i++)
		assert_true(ids.id[i - 1] > ids.id[i]);

	/* totals == the sum of the link counters; orphans apart */
	assert_int_equal(store_visits_totals(f->s, 0, &lt, &ot), 0);
	assert_int_equal(lt.total, 2 * (want_v[1] + want_v[2]));
	assert_int_equal(lt.bots, 2 * (want_b[1] + want_b[2]));
	assert_int_equal(ot.total, 4);
	assert_int_equal(ot.bots, 2);
}

static void test_visits_by_tag_and_owner(void **state)
{
	fx *f = *state;
	sh_visit_query vq;
	int64_t total = -1;

	list_fixture(f->s);
	memset(&vq, 0, sizeof(vq));
	vq.tag = "z";
	assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
	assert_int_equal(total, 2);
	vq.tag = "x";
	assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
	assert_int_equal(total, 5);
	vq.exclude_bots = true;
	assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
	assert_int_equal(total, 4);
	memset(&vq, 0, sizeof(vq));
	vq.owner_key_id = 5;
	assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
	assert_int_equal(total, 6);
}

/* ---- tags ---------------------------------------------------------------- */

struct tagrows {
	int n;
	sh_tag_stats t[8];
};

static int collect_tag(const sh_tag_stats *t, void *ud)
{
	struct tagrows *r = ud;

	if (r->n < 8)
		r->t[r->n++] = *t;
	return 0;
}

static void test_tags(void **state)
{
	fx *f = *state;
	struct tagrows r = {0};
	sh_link g = {0};

	list_fixture(f->s);
	assert_int_equal(tags_all(f->s, 0, NULL, collect_tag, &r), 0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.t[0].tag, "x");
	assert_int_equal(r.t[0].links, 3);
	assert_int_equal(r.t[0].visits, 5);
	assert_int_equal(r.t[0].bot_visits, 1);
	assert_string_equal(r.t[1].tag, "y");
	assert_int_equal(r.t[1].links, 3);
	assert_int_equal(r.t[1].visits, 6);
	assert_string_equal(r.t[2].tag, "z");
	assert_int_equal(r.t[2].links, 1);
	r.n = 0;
	assert_int_equal(tags_all(f->s, 5, NULL, collect_tag, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.t[0].tag, "y");
	assert_int_equal(r.t[0].links, 1);
	r.n = 0;
	assert_int_equal(tags_all(f->s, 0, "Z", collect_tag, &r), 0);
	assert_int_equal(r.n, 1);
	/* a page: only its tags handed over, the total counted apart */
	{
		sh_tag_query q = {.limit = 1, .offset = 1};
		int64_t total = 0;

		r.n = 0;
		assert_int_equal(store_tags_stats(f->s, &q, collect_tag, &r, &total), 0);
		assert_int_equal(total, 3);
		assert_int_equal(r.n, 1);
		assert_string_equal(r.t[0].tag, "y");
		assert_int_equal(r.t[0].visits, 6);
		q.owner_key_id = 5;
		q.offset = 0;
		r.n = 0;
		assert_int_equal(store_tags_stats(f->s, &q, collect_tag, &r, &total), 0);
		assert_int_equal(total, 1);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.t[0].links, 1);
		q.owner_key_id = 0;
		q.exact = "z";
		r.n = 0;
		assert_int_equal(store_tags_stats(f->s, &q, collect_tag, &r, &total), 0);
		assert_int_equal(total, 1);
		assert_string_equal(r.t[0].tag, "z");
		q.exact = "zz";
		r.n = 0;
		assert_int_equal(store_tags_stats(f->s, &q, collect_tag, &r, &total), 0);
		assert_int_equal(total, 0);
		assert_int_equal(r.n, 0);
	}

	assert_int_equal(store_tag_rename(f->s, "nope", "w"), SH_ENOTFOUND);
	assert_int_equal(store_tag_rename(f->s, "x", "y"), SH_ETAKEN);
	assert_int_equal(store_tag_rename(f->s, "x", "w"), 0);
	assert_int_equal(store_link_get(f->s, 5, &g), 0);
	assert_int_equal(g.ntags, 3);
	assert_string_equal(g.tags[0], "w");
	sh_link_clear(&g);
	r.n = 0;
	assert_int_equal(tags_all(f->s, 0, NULL, collect_tag, &r), 0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.t[0].tag, "w");

	assert_int_equal(store_tag_delete(f->s, "x"), SH_ENOTFOUND);
	assert_int_equal(store_tag_delete(f->s, "y"), 0);
	assert_int_equal(store_link_get(f->s, 5, &g), 0);
	assert_int_equal(g.ntags, 2);
	assert_string_equal(g.tags[0], "w");
	assert_string_equal(g.tags[1], "z");
	sh_link_clear(&g);
	assert_true(link_exists(f->s, 3)); /* a tag delete keeps the links */
}

/* ---- API keys ------------------------------------------------------------ */

static void mk_key(sh_api_key *k, const char *name, int role, uint8_t seed)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->role = role;
	memset(k->hash, seed, sizeof(k->hash));
	snprintf(k->prefix, sizeof(k->prefix), "pre%05u", (unsigned)seed);
	k->created_at = 1700000000 + seed;
}

static int collect_key(const sh_api_key *k, void *ud)
{
	struct ids *c = ud;

	c->id[c->n++] = k->id;
	return 0;
}

static void test_keys(void **state)
{
	fx *f = *state;
	sh_api_key a, b, g;
	struct ids c = {0};
	uint8_t h[SH_KEY_HASH_BYTES];
	int64_t n = -1;

	mk_key(&a, "admin key", KEY_ADMIN, 1);
	mk_key(&b, "ci", KEY_AUTHOR, 2);
	assert_int_equal(store_key_insert(f->s, &a), 0);
	assert_int_equal(store_key_insert(f->s, &b), 0);
	assert_true(a.id > 0);
	assert_true(b.id > a.id);
	assert_int_equal(store_key_count(f->s, &n), 0);
	assert_int_equal(n, 2);

	memset(h, 2, sizeof(h));
	assert_int_equal(store_key_get_by_hash(f->s, h, &g), 0);
	assert_int_equal(g.id, b.id);
	assert_string_equal(g.name, "ci");
	assert_int_equal(g.role, KEY_AUTHOR);
	assert_memory_equal(g.hash, b.hash, SH_KEY_HASH_BYTES);
	assert_string_equal(g.prefix, b.prefix);
	assert_int_equal(g.created_at, b.created_at);
	assert_int_equal(g.revoked_at, 0);
	memset(h, 3, sizeof(h));
	assert_int_equal(store_key_get_by_hash(f->s, h, &g), SH_ENOTFOUND);

	mk_key(&g, "same hash", KEY_READ_ONLY, 1);
	assert_int_equal(store_key_insert(f->s, &g), SH_ETAKEN);

	assert_int_equal(store_key_list(f->s, collect_key, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.id[0], a.id);
	assert_int_equal(c.id[1], b.id);

	assert_int_equal(store_key_revoke(f->s, a.id, 1800000000), 0);
	assert_int_equal(store_key_revoke(f->s, a.id, 1900000000), 0); /* first date kept */
	assert_int_equal(store_key_revoke(f->s, 9999, 1800000000), SH_ENOTFOUND);
	memset(h, 1, sizeof(h));
	assert_int_equal(store_key_get_by_hash(f->s, h, &g), 0);
	assert_int_equal(g.revoked_at, 1800000000);
	assert_int_equal(store_key_count(f->s, &n), 0);
	assert_int_equal(n, 1);
}

/* ---- transactions -------------------------------------------------------- */

static void test_rollback(void **state)
{
	fx *f = *state;

	assert_false(store_in_txn(f->s));
	assert_int_equal(store_begin(f->s), 0);
	assert_true(store_in_txn(f->s));
	insert(f->s, 1, "https://example.com/r", CODE_KIND_CUSTOM, "rb");
	assert_int_equal(store_meta_set(f->s, "k", "v"), 0);
	assert_true(link_exists(f->s, 1)); /* its own writes are visible */
	assert_int_equal(store_rollback(f->s), 0);
	assert_false(store_in_txn(f->s));
	assert_false(link_exists(f->s, 1));
	{
		char *v = NULL;
		bool ex = true;
		assert_int_equal(store_meta_get(f->s, "k", &v), SH_ENOTFOUND);
		assert_int_equal(store_code_exists(f->s, "rb", &ex), 0);
		assert_false(ex);
	}
	assert_int_equal(store_begin(f->s), 0);
	insert(f->s, 2, "https://example.com/c", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_commit(f->s), 0);
	assert_true(link_exists(f->s, 2));
}

static void test_savepoints(void **state)
{
	fx *f = *state;
	sh_link l;

	/* misuse */
	assert_int_equal(store_savepoint(f->s), SH_EINVAL);
	assert_int_equal(store_release(f->s), SH_EINVAL);
	assert_int_equal(store_commit(f->s), SH_EINVAL);

	/* a group commit: one failed create is undone alone */
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_begin(f->s), SH_EINVAL);
	assert_int_equal(store_rollback_to(f->s), SH_EINVAL);
	assert_int_equal(store_savepoint(f->s), 0);
	insert(f->s, 1, "https://example.com/1", CODE_KIND_CUSTOM, "one");
	assert_int_equal(store_release(f->s), 0);

	assert_int_equal(store_savepoint(f->s), 0);
	insert(f->s, 2, "https://example.com/2", CODE_KIND_COUNTER, NULL);
	mk_link(&l, 3, "https://example.com/3", CODE_KIND_CUSTOM, "one");
	assert_int_equal(store_link_insert(f->s, &l), SH_ETAKEN);
	sh_link_clear(&l);
	assert_int_equal(store_rollback_to(f->s), 0); /* undoes 2 as well */
	assert_int_equal(store_release(f->s), 0);

	/* nested: the inner one undone, the outer kept */
	assert_int_equal(store_savepoint(f->s), 0);
	insert(f->s, 4, "https://example.com/4", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_savepoint(f->s), 0);
	insert(f->s, 5, "https://example.com/5", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_rollback_to(f->s), 0);
	assert_false(link_exists(f->s, 5));
	insert(f->s, 6, "https://example.com/6", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_release(f->s), 0);
	assert_int_equal(store_release(f->s), 0);
	assert_int_equal(store_commit(f->s), 0);

	assert_true(link_exists(f->s, 1));
	assert_false(link_exists(f->s, 2));
	assert_false(link_exists(f->s, 3));
	assert_true(link_exists(f->s, 4));
	assert_false(link_exists(f->s, 5));
	assert_true(link_exists(f->s, 6));

	/* visits_add inside the caller's transaction is undone with it */
	{
		sh_visit v = {.link_id = 1, .ts = 1700000000, .kind = VISIT_NORMAL};
		sh_visit_totals lt;
		assert_int_equal(store_begin(f->s), 0);
		assert_int_equal(store_visits_add(f->s, &v, 1), 0);
		assert_int_equal(store_rollback(f->s), 0);
		assert_int_equal(store_visits_totals(f->s, 0, &lt, NULL), 0);
		assert_int_equal(lt.total, 0);
	}
}

/* ---- connections and persistence ---------------------------------------- */

static void test_two_connections(void **state)
{
	fx *f = *state;
	store *r = NULL;
	sh_link g = {0};

	assert_int_equal(open_url(f->url, true, &r), 0);
	insert(f->s, 1, "https://example.com/shared", CODE_KIND_CUSTOM, "sh");
	assert_int_equal(store_link_get_by_code(r, "sh", &g), 0);
	assert_string_equal(g.url, "https://example.com/shared");
	sh_link_clear(&g);

	/* uncommitted writes stay invisible to the other connection (on a
	 * memory store it cannot read at all meanwhile: test_txn_isolation) */
	assert_int_equal(store_begin(f->s), 0);
	insert(f->s, 2, "https://example.com/later", CODE_KIND_COUNTER, NULL);
	if (cur->sqlite || cur->pg)
		assert_int_equal(store_link_get(r, 2, &g), SH_ENOTFOUND);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_link_get(r, 2, &g), 0);
	sh_link_clear(&g);
	/* a reader connection refuses writes */
	assert_int_equal(store_meta_set(r, "k", "v"), SH_ESTORE);
	store_close(r);
}

static void test_persistence(void **state)
{
	fx *f = *state;
	store *other = NULL;
	sh_link g = {0};
	sh_err err = {0};
	char *v = NULL;

	insert(f->s, 1, "https://example.com/persist", CODE_KIND_CUSTOM, "keep");
	assert_int_equal(store_meta_set(f->s, "secret", "s3"), 0);
	/* memory:NAME lives while a handle is open; a file lives on its own */
	assert_int_equal(open_url(f->url, false, &other), 0);
	store_close(f->s);
	f->s = NULL;
	if (cur->sqlite || cur->pg) {
		store_close(other);
		other = NULL;
	}
	assert_int_equal(open_url(f->url, false, &f->s), 0);
	assert_int_equal(store_migrate(f->s, &err), 0);
	assert_int_equal(store_link_get_by_code(f->s, "keep", &g), 0);
	assert_int_equal(g.id, 1);
	sh_link_clear(&g);
	assert_int_equal(store_meta_get(f->s, "secret", &v), 0);
	assert_string_equal(v, "s3");
	free(v);
	store_close(other);
}

/* ---- wrappers: fault injection and the error counter --------------------- */

static void test_fault_injection(void **state)
{
	fx *f = *state;
	sh_link l, g = {0};
	store *s2 = NULL;
	uint64_t before = store_error_count();
	char *v = NULL;

	mk_link(&l, 1, "https://example.com/f", CODE_KIND_CUSTOM, "flt");
	store_fault_set("link_insert", 0, 1, SH_EFULL);
	assert_int_equal(store_link_insert(f->s, &l), SH_EFULL);
	assert_int_equal(store_error_count(), before + 1);
	assert_int_equal(store_link_get_by_code(f->s, "flt", &g), SH_ENOTFOUND);
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);

	/* after: let one call through, fail the next, then heal */
	store_fault_set("link_get", 1, 1, SH_EBUSY);
	assert_int_equal(store_link_get(f->s, 1, &g), 0);
	sh_link_clear(&g);
	assert_int_equal(store_link_get(f->s, 1, &g), SH_EBUSY);
	assert_int_equal(store_link_get(f->s, 1, &g), 0);
	sh_link_clear(&g);

	/* count < 0: until cleared; a substring matches several ops */
	store_fault_set("link_", 0, -1, SH_ESTORE);
	assert_int_equal(store_link_get(f->s, 1, &g), SH_ESTORE);
	assert_int_equal(store_link_delete(f->s, 1), SH_ESTORE);
	assert_int_equal(store_meta_set(f->s, "a", "b"), 0); /* not matched */
	store_fault_clear();
	assert_true(link_exists(f->s, 1));

	/* armed from the environment at store_open */
	setenv("SHORTY_FAULT", "meta_set:0:1:EFULL", 1);
	assert_int_equal(open_url(f->url, false, &s2), 0);
	assert_int_equal(store_meta_set(s2, "k", "v"), SH_EFULL);
	assert_int_equal(store_meta_set(s2, "k", "v"), 0);
	store_close(s2);
	/* the same value again does not re-arm it */
	assert_int_equal(open_url(f->url, false, &s2), 0);
	assert_int_equal(store_meta_get(s2, "k", &v), 0);
	free(v);
	assert_int_equal(store_meta_set(s2, "k", "w"), 0);
	store_close(s2);
	setenv("SHORTY_FAULT", "commit:0:1:-8", 1);
	assert_int_equal(open_url(f->url, false, &s2), 0);
	assert_int_equal(store_begin(s2), 0);
	assert_int_equal(store_commit(s2), SH_EBUSY);
	assert_int_equal(store_rollback(s2), 0);
	store_close(s2);
	setenv("SHORTY_FAULT", "nonsense", 1);
	{
		sh_err err = {0};
		store_options o;
		store_options_default(&o);
		assert_int_equal(store_open(&s2, f->url, &o, &err), SH_EINVAL);
		assert_non_null(strstr(err.msg, "SHORTY_FAULT"));
	}
	unsetenv("SHORTY_FAULT");
	store_fault_clear();
}

static void test_error_counter(void **state)
{
	fx *f = *state;
	uint64_t before = store_error_count();
	sh_link g = {0};

	insert(f->s, 1, "https://example.com/e", CODE_KIND_CUSTOM, "e");
	/* answers, not errors */
	assert_int_equal(store_link_get(f->s, 2, &g), SH_ENOTFOUND);
	{
		sh_link l;
		mk_link(&l, 1, "https://example.com/e", CODE_KIND_COUNTER, NULL);
		assert_int_equal(store_link_insert(f->s, &l), SH_ETAKEN);
		sh_link_clear(&l);
	}
	assert_int_equal(store_error_count(), before);
	/* misuse is an error */
	assert_int_equal(store_release(f->s), SH_EINVAL);
	assert_int_equal(store_error_count(), before + 1);
}

/* ---- opening ------------------------------------------------------------- */

static void test_open_errors(void **state)
{
	fx *f = *state;
	store_options o;
	sh_err err = {0};
	store *s = NULL;
	char p[192];

	store_options_default(&o);
	assert_string_equal(o.synchronous, "full");
	assert_int_equal(o.busy_timeout_ms, 5000);
	/* nothing listens on port 1: refused at once, said in one sentence */
	assert_int_equal(store_open(&s, "postgres://u@127.0.0.1:1/db", &o, &err), SH_ESTORE);
	assert_non_null(strstr(err.msg, "cannot connect to PostgreSQL"));
	assert_null(s);
	assert_int_equal(store_open(&s, "mysql://x", &o, &err), SH_EINVAL);
	assert_non_null(strstr(err.msg, "mysql"));
	assert_int_equal(store_open(&s, "", &o, &err), SH_EINVAL);
	assert_int_equal(store_open(&s, "sqlite:", &o, &err), SH_EINVAL);
	assert_null(s);
	if (!cur->sqlite)
		return;

	/* a reader cannot create the file: say it is missing */
	snprintf(p, sizeof(p), "sqlite:%s/missing.db", f->dir);
	o.read_only = true;
	assert_int_equal(store_open(&s, p, &o, &err), SH_ESTORE);
	assert_non_null(strstr(err.msg, "does not exist"));
	o.read_only = false;
	o.synchronous = "sometimes";
	assert_int_equal(store_open(&s, f->path, &o, &err), SH_EINVAL);

	/* a bare path is SQLite too */
	o.synchronous = "normal";
	assert_int_equal(store_open(&s, f->path, &o, &err), 0);
	assert_int_equal(store_ping(s), 0);
	store_close(s);
}

static void test_schema_newer_or_missing(void **state)
{
	fx *f = *state;
	store_options o;
	sh_err err = {0};
	sqlite3 *db;
	store *s = NULL;
	sh_link g = {0};
	char p[192];

	char schema[64];

	/* not migrated: ops say so */
	if (cur->sqlite)
		snprintf(p, sizeof(p), "%s/data/fresh.db", f->dir);
	else if (cur->pg)
		assert_true(pgtest_open_schema("fresh", schema, p, sizeof(p)));
	else
		snprintf(p, sizeof(p), "memory:fresh%d", fixture_seq);
	store_options_default(&o);
	o.create = true;
	assert_int_equal(store_open(&s, p, &o, &err), 0);
	assert_int_equal(store_link_get(s, 1, &g), SH_ESCHEMA);
	assert_non_null(strstr(s->last_err.msg, "shorty migrate"));
	store_close(s);
	if (cur->sqlite)
		unlink(p);
	if (cur->pg) {
		char sql[256];
		pgtest_drop_schema(schema);
		/* from the future: refuse */
		snprintf(sql, sizeof(sql), "UPDATE %s.shorty_schema SET version = 999", f->schema);
		assert_true(pgtest_exec(sql));
		assert_int_equal(store_migrate(f->s, &err), SH_ESCHEMA);
		assert_non_null(strstr(err.msg, "newer"));
		return;
	}

	/* from the future: refuse */
	db = raw_open(f);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=999", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_migrate(f->s, &err), SH_ESCHEMA);
	assert_non_null(strstr(err.msg, "newer"));
}

/* A link inserted with visits (an import) keeps them, and the totals
 * follow; an update never touches the counters. */
static void test_insert_with_visits(void **state)
{
	fx *f = *state;
	sh_link l, g = {0};
	sh_visit_totals lt, ot;

	mk_link(&l, 1, "https://example.com/v", CODE_KIND_COUNTER, NULL);
	l.visits = 5;
	l.bot_visits = 2;
	l.redirect_status = 307;
	assert_int_equal(store_link_insert(f->s, &l), 0);
	assert_int_equal(store_link_get(f->s, 1, &g), 0);
	assert_int_equal(g.visits, 5);
	assert_int_equal(g.bot_visits, 2);
	assert_int_equal(g.redirect_status, 307);
	assert_int_equal(store_visits_totals(f->s, 0, &lt, &ot), 0);
	assert_int_equal(lt.total, 5);
	assert_int_equal(lt.bots, 2);
	g.visits = 0;
	g.redirect_status = 301;
	assert_int_equal(store_link_update(f->s, &g), 0);
	sh_link_clear(&g);
	assert_int_equal(store_link_get(f->s, 1, &g), 0);
	assert_int_equal(g.visits, 5);
	assert_int_equal(g.redirect_status, 301);
	sh_link_clear(&g);
	sh_link_clear(&l);
}

/* A deleted link's id is never given out again: its code must keep
 * answering 404 rather than start pointing at a newer link. */
static void test_ids_never_reused(void **state)
{
	fx *f = *state;
	int64_t id = 0;

	insert(f->s, 1, "https://example.com/1", CODE_KIND_COUNTER, NULL);
	insert(f->s, 2, "https://example.com/2", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_link_delete(f->s, 2), 0);
	assert_int_equal(store_next_id(f->s, 1, &id), 0);
	assert_int_equal(id, 3);
	assert_int_equal(store_link_delete(f->s, 1), 0);
	/* PostgreSQL hands each id out once (from a leased block): the next
	 * call gives the next one; SQLite's stays until a link takes it */
	assert_int_equal(store_next_id(f->s, 1, &id), 0);
	assert_int_equal(id, cur->pg ? 4 : 3);
	/* a delete rolled back does not count */
	insert(f->s, 3, "https://example.com/3", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_link_delete(f->s, 3), 0);
	assert_int_equal(store_rollback(f->s), 0);
	assert_int_equal(store_next_id(f->s, 1, &id), 0);
	assert_int_equal(id, cur->pg ? 5 : 4);
}

/* next_id's floor, and two connections (two instances on PostgreSQL):
 * never the same id from two handles on PostgreSQL, whatever the order;
 * ids the caller skipped (a custom code had their code) never come back. */
static void test_id_blocks(void **state)
{
	fx *f = *state;
	store *b = NULL;
	int64_t a1 = 0, a2 = 0, b1 = 0, b2 = 0;

	assert_int_equal(open_url(f->url, false, &b), 0);
	assert_int_equal(store_next_id(f->s, 5000, &a1), 0);
	assert_int_equal(a1, 5000); /* the floor: the first id of a code length */
	assert_int_equal(store_next_id(b, 5000, &b1), 0);
	if (cur->pg) {
		assert_true(b1 >= 5000);
		assert_true(b1 != a1);
		/* within a block: the next ids, one round trip each block */
		assert_int_equal(store_next_id(f->s, 5000, &a2), 0);
		assert_int_equal(a2, a1 + 1);
		/* the caller skipped a2 .. a2 + 9 and inserted a2 + 10 */
		insert(f->s, a2 + 10, "https://example.com/skip", CODE_KIND_COUNTER, NULL);
		assert_int_equal(store_next_id(f->s, 5000, &a2), 0);
		assert_int_equal(a2, a1 + 12);
		/* b's block is its own */
		assert_int_equal(store_next_id(b, 5000, &b2), 0);
		assert_int_equal(b2, b1 + 1);
		/* a higher floor: a new block at or above it */
		assert_int_equal(store_next_id(b, 900000, &b2), 0);
		assert_true(b2 >= 900000);
		assert_int_equal(store_next_id(f->s, 900000, &a2), 0);
		assert_true(a2 >= 900000 && a2 != b2);
	} else {
		assert_int_equal(b1, 5000); /* the same until a link takes it */
		insert(b, b1, "https://example.com/taken", CODE_KIND_COUNTER, NULL);
		assert_int_equal(store_next_id(f->s, 5000, &a2), 0);
		assert_int_equal(a2, 5001);
	}
	store_close(b);
}

struct msgs {
	int n;
	char last[64];
};

static void got_msg(const char *msg, void *ud)
{
	struct msgs *m = ud;

	m->n++;
	snprintf(m->last, sizeof(m->last), "%s", msg);
}

/* The feed of changes: PostgreSQL delivers a notify at its commit, never
 * before, never after a rollback; SQLite has no feed (one process). */
static void test_feed(void **state)
{
	fx *f = *state;
	store_feed *feed = NULL;
	struct msgs m = {0};
	sh_err err = {0};
	int i, r;

	assert_int_equal(store_feed_open(&feed, f->url, &err), 0);
	if (!cur->pg) {
		assert_null(feed);
		assert_int_equal(store_notify(f->s, "abc"), 0);
		return;
	}
	assert_non_null(feed);
	assert_int_equal(store_feed_wait(feed, 100, got_msg, &m), FEED_BACK);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_notify(f->s, "rolled,back"), 0);
	assert_int_equal(store_rollback(f->s), 0);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_notify(f->s, "abc,def"), 0);
	assert_int_equal(store_feed_wait(feed, 100, got_msg, &m), FEED_OK);
	assert_int_equal(m.n, 0); /* not before the commit */
	assert_int_equal(store_commit(f->s), 0);
	for (i = 0; i < 50 && m.n == 0; i++) {
		r = store_feed_wait(feed, 100, got_msg, &m);
		assert_int_equal(r, FEED_OK);
	}
	assert_int_equal(m.n, 1);
	assert_string_equal(m.last, "abc,def");
	store_feed_close(feed);
}

/* Lookups that do not wait (store_lookup_*): PostgreSQL's only. */
struct answers {
	int n;
	int rc[8];
	int64_t id[8];
	char url[8][64];
};

static void got_answer(void *ud, int rc, const sh_link *l)
{
	struct answers *a = ud;

	assert_true(a->n < 8);
	a->rc[a->n] = rc;
	a->id[a->n] = l ? l->id : 0;
	snprintf(a->url[a->n], sizeof(a->url[0]), "%s", l ? l->url : "");
	a->n++;
}

/* Runs q until nothing is in flight (each lookup has the store's deadline). */
static void run_until_answered(store_lookups *q)
{
	for (int i = 0; i < 400 && store_lookups_inflight(q); i++) {
		struct pollfd pf = {.fd = store_lookups_fd(q), .events = POLLIN};
		int t = store_lookups_timeout_ms(q);

		if (pf.fd >= 0)
			(void)poll(&pf, 1, t < 0 || t > 50 ? 50 : t);
		store_lookups_run(q);
	}
	assert_int_equal(store_lookups_inflight(q), 0);
}

static void test_lookups(void **state)
{
	fx *f = *state;
	store_lookups *q = NULL;
	struct answers a = {0};
	sh_err err = {0};
	uint64_t sent;

	assert_int_equal(store_lookups_open(&q, f->url, got_answer, &err), 0);
	if (!cur->pg) { /* the caller reads the waiting way */
		assert_null(q);
		return;
	}
	assert_non_null(q);
	insert(f->s, 7, "https://lookups.example/counter", CODE_KIND_COUNTER, NULL);
	insert(f->s, 8, "https://lookups.example/custom", CODE_KIND_CUSTOM, "lkCustom");
	sent = store_lookups_sent_count();
	/* by id (a counter code), by custom code, a code that decodes to an
	 * id of no link, a custom code of none: all in flight at once */
	assert_int_equal(store_lookup_send(q, 0, 7, "h", &a), 0);
	assert_int_equal(store_lookup_send(q, 0, -1, "lkCustom", &a), 0);
	assert_int_equal(store_lookup_send(q, 0, 999, "q9", &a), 0);
	assert_int_equal(store_lookup_send(q, 0, -1, "lkNone", &a), 0);
	assert_int_equal(store_lookups_inflight(q), 4);
	assert_true(store_lookups_sent_count() - sent == 4);
	assert_true(store_lookups_fd(q) >= 0);
	assert_true(store_lookups_timeout_ms(q) > 0);
	run_until_answered(q);
	assert_int_equal(a.n, 4);
	assert_int_equal(a.rc[0], 0);
	assert_int_equal(a.id[0], 7);
	assert_string_equal(a.url[0], "https://lookups.example/counter");
	assert_int_equal(a.rc[1], 0);
	assert_int_equal(a.id[1], 8);
	assert_string_equal(a.url[1], "https://lookups.example/custom");
	assert_int_equal(a.rc[2], SH_ENOTFOUND);
	assert_int_equal(a.rc[3], SH_ENOTFOUND);
	assert_int_equal(store_lookups_timeout_ms(q), -1);
	store_lookups_close(q);

	/* no server (nothing listens on port 1): the open still gives a
	 * handle; a send sends nothing and asks for the reconnect (made by
	 * the caller where a connect may wait), which fails as when the store
	 * is away; nothing is in flight */
	q = NULL;
	assert_int_equal(store_lookups_open(&q, "postgres://u@127.0.0.1:1/db", got_answer, &err),
	                 0);
	assert_non_null(q);
	assert_int_equal(store_lookups_fd(q), -1);
	assert_int_equal(store_lookups_timeout_ms(q), -1);
	sent = store_lookups_sent_count();
	a.n = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_lookup_send(q, 0, 7, "h", &a), STORE_LOOKUP_RECONNECT);
		assert_int_equal(store_lookups_reconnect(q), SH_ESTORE);
		assert_int_equal(store_lookups_fd(q), -1);
		usleep(60 * 1000); /* past the first backoff step */
	}
	assert_true(store_lookups_sent_count() == sent);
	assert_int_equal(store_lookups_inflight(q), 0);
	store_lookups_run(q); /* nothing to do, nothing told */
	assert_int_equal(a.n, 0);
	store_lookups_close(q);
}

/* meta_add keeps the first value: instances starting together on one
 * store create one installation secret */
static void test_meta_add(void **state)
{
	fx *f = *state;
	store *b = NULL;
	char *v = NULL;

	assert_int_equal(open_url(f->url, false, &b), 0);
	assert_int_equal(store_meta_add(f->s, "secret", "first", &v), 0);
	assert_string_equal(v, "first");
	free(v);
	assert_int_equal(store_meta_add(b, "secret", "second", &v), 0);
	assert_string_equal(v, "first");
	free(v);
	assert_int_equal(store_meta_get(b, "secret", &v), 0);
	assert_string_equal(v, "first");
	free(v);
	store_close(b);
}

/* Group mode (the writer's group commit): ops run without their own
 * savepoint, a failed op is marked so that the caller replays its group,
 * and the commit or rollback ends the mode. A backend that keeps its op
 * savepoints (PostgreSQL) marks nothing: its failed op left nothing. */
static void test_group_mode(void **state)
{
	fx *f = *state;
	/* PostgreSQL queues group-mode writes on its pipeline (postgres.c) */
	bool queues = strcmp(cur->name, "postgres") == 0;
	sh_link l, got;

	insert(f->s, 1, "https://example.com/a", CODE_KIND_CUSTOM, "taken");
	for (int at_commit = 0; at_commit < 2; at_commit++) {
		assert_int_equal(store_begin(f->s), 0);
		store_group_begin(f->s);
		insert(f->s, 2, "https://example.com/b", CODE_KIND_COUNTER, NULL);
		assert_false(store_group_failed(f->s));
		/* the links row goes in, then its code is taken */
		mk_link(&l, 3, "https://example.com/c", CODE_KIND_CUSTOM, "taken");
		memset(&got, 0, sizeof(got));
		if (queues) {
			/* sent, not waited for: the failure is found at the next
			 * op that reads (here a get, or the commit), marked as a
			 * queued write's */
			assert_int_equal(store_link_insert(f->s, &l), 0);
			assert_false(store_group_failed(f->s));
			if (at_commit) {
				assert_int_equal(store_commit(f->s), SH_ESTORE);
			} else {
				assert_int_equal(store_link_get(f->s, 2, &got), SH_ESTORE);
				assert_true(store_group_failed(f->s));
			}
			assert_true(store_group_deferred(f->s));
		} else {
			assert_int_equal(store_link_insert(f->s, &l), SH_ETAKEN);
			assert_true(store_group_failed(f->s));
			assert_false(store_group_deferred(f->s));
		}
		sh_link_clear(&l);
		assert_int_equal(store_rollback(f->s), 0);
		assert_false(store_group_failed(f->s));
		assert_int_equal(store_link_get(f->s, 2, &got), SH_ENOTFOUND); /* the whole group */
		if (!queues)
			break;
	}
	mk_link(&l, 3, "https://example.com/c", CODE_KIND_CUSTOM, "taken");

	/* out of group mode the failed op is undone alone */
	assert_int_equal(store_begin(f->s), 0);
	insert(f->s, 2, "https://example.com/b", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_link_insert(f->s, &l), SH_ETAKEN);
	assert_false(store_group_failed(f->s));
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_link_get(f->s, 3, &got), SH_ENOTFOUND);
	assert_int_equal(store_link_get(f->s, 2, &got), 0);
	sh_link_clear(&got);
	sh_link_clear(&l);
}

/* Every backend fills in every op (a NULL would crash the first caller of
 * a new op on that backend): the function pointers from `close` to the end
 * of the struct. */
static void test_ops_complete(void **state)
{
	fx *f = *state;
	const store_ops *ops = f->s->ops;
	size_t off;

	assert_int_equal(ops->iVersion, 1);
	assert_string_equal(ops->name, cur->name);
	for (off = offsetof(store_ops, close); off < sizeof(store_ops);
	     off += sizeof(void (*)(void))) {
		void (*fn)(void);
		memcpy(&fn, (const char *)ops + off, sizeof(fn));
		if (!fn)
			print_message("backend %s: op at offset %zu is NULL\n", cur->name, off);
		assert_non_null(fn);
	}
}

/* ---- memory stores and threads ------------------------------------------ */

/* "memory:" is private to its handle; "memory:NAME" is shared by every
 * handle on NAME and lives until the last one closes. */
static void test_memory_private_and_shared(void **state)
{
	store *p1 = NULL, *p2 = NULL, *a = NULL, *b = NULL, *other = NULL;
	sh_link g = {0};
	int64_t id;

	(void)state;
	assert_int_equal(open_url("memory:", false, &p1), 0);
	assert_int_equal(open_url("memory:", false, &p2), 0);
	assert_int_equal(open_url("memory:sh ared/x", false, &a), 0);
	assert_int_equal(open_url("memory:sh ared/x", false, &b), 0);
	assert_int_equal(open_url("memory:other", false, &other), 0);
	assert_string_equal(p1->ops->name, "memory");
	for (store **s = (store *[]){p1, p2, a, other, NULL}; *s; s++) {
		sh_err err = {0};
		assert_int_equal(store_migrate(*s, &err), 0);
	}
	insert(p1, 1, "https://p1.example/", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_link_get(p2, 1, &g), SH_ENOTFOUND);

	insert(a, 7, "https://shared.example/", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_link_get(b, 7, &g), 0);
	assert_string_equal(g.url, "https://shared.example/");
	sh_link_clear(&g);
	assert_int_equal(store_link_get(other, 7, &g), SH_ENOTFOUND);
	assert_int_equal(store_next_id(b, 1, &id), 0);
	assert_int_equal(id, 8);

	/* alive while one handle remains, gone after the last closes */
	store_close(a);
	assert_int_equal(store_link_get(b, 7, &g), 0);
	sh_link_clear(&g);
	store_close(b);
	assert_int_equal(open_url("memory:sh ared/x", false, &a), 0);
	assert_int_equal(store_link_get(a, 7, &g), SH_ESCHEMA);
	store_close(a);
	store_close(other);
	store_close(p1);
	store_close(p2);
}

/* A second connection waits for the writer's transaction (busy timeout),
 * then fails busy. Reading meanwhile: on a file (WAL) it sees the committed
 * data; on a memory store (memdb's locks: a writer's RESERVED lock keeps
 * new readers out until the commit) it waits too, and fails busy. */
static void test_txn_isolation(void **state)
{
	fx *f = *state;
	store_options o;
	store *r = NULL;
	sh_err err = {0};
	sh_link l, g = {0};

	store_options_default(&o);
	o.busy_timeout_ms = 20;
	assert_int_equal(store_open(&r, f->url, &o, &err), 0);
	insert(f->s, 1, "https://committed.example/", CODE_KIND_COUNTER, NULL);

	assert_int_equal(store_begin(f->s), 0);
	insert(f->s, 2, "https://uncommitted.example/", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_link_delete(f->s, 1), 0);
	if (cur->pg) {
		/* MVCC with row locks: reads see the committed data, and a
		 * write of other rows does not wait for the transaction */
		assert_int_equal(store_link_get(r, 2, &g), SH_ENOTFOUND);
		assert_int_equal(store_link_get(r, 1, &g), 0);
		sh_link_clear(&g);
		mk_link(&l, 3, "https://other-row.example/", CODE_KIND_COUNTER, NULL);
		assert_int_equal(store_link_insert(r, &l), 0);
		sh_link_clear(&l);
		assert_int_equal(store_commit(f->s), 0);
		assert_int_equal(store_link_get(r, 2, &g), 0);
		sh_link_clear(&g);
		assert_int_equal(store_link_get(r, 1, &g), SH_ENOTFOUND);
		store_close(r);
		return;
	}
	if (cur->sqlite) {
		assert_int_equal(store_link_get(r, 2, &g), SH_ENOTFOUND);
		assert_int_equal(store_link_get(r, 1, &g), 0);
		sh_link_clear(&g);
	} else {
		assert_int_equal(store_link_get(r, 1, &g), SH_EBUSY);
	}
	assert_false(store_in_txn(r));
	mk_link(&l, 3, "https://blocked.example/", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_link_insert(r, &l), SH_EBUSY);
	assert_int_equal(store_begin(r), SH_EBUSY);
	assert_int_equal(store_commit(r), SH_EINVAL);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(store_link_get(r, 2, &g), 0);
	sh_link_clear(&g);
	assert_int_equal(store_link_get(r, 1, &g), SH_ENOTFOUND);
	assert_int_equal(store_link_insert(r, &l), 0);
	sh_link_clear(&l);
	store_close(r);
}

/* a callback may call back into the store, and its error comes back */
static int fail_cb(const sh_link *l, void *ud)
{
	(void)l, (void)ud;
	return SH_ENOMEM;
}

static int reenter_cb(const sh_link *l, void *ud)
{
	sh_link g = {0};
	int rc = store_link_get(ud, l->id, &g);

	sh_link_clear(&g);
	return rc;
}

static void test_list_callbacks(void **state)
{
	fx *f = *state;
	sh_list_query q = base_query();

	insert(f->s, 1, "https://a.example/", CODE_KIND_COUNTER, NULL);
	insert(f->s, 2, "https://b.example/", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_link_list(f->s, &q, fail_cb, NULL, NULL), SH_ENOMEM);
	assert_int_equal(store_link_list(f->s, &q, reenter_cb, f->s, NULL), 0);
}

static int ref_len_cb(const sh_visit *v, int64_t id, void *ud)
{
	(void)id;
	*(size_t *)ud = v->referer ? strlen(v->referer) : 0;
	return 0;
}

/* a referer longer than SH_VISIT_FIELD_MAX is cut, at a character */
static void test_visit_truncation(void **state)
{
	fx *f = *state;
	char big[SH_VISIT_FIELD_MAX * 2];
	size_t len = 0;
	sh_visit_query q = {.orphan = -1};
	sh_visit v = {.link_id = 1, .ts = 1, .referer = big};

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[SH_VISIT_FIELD_MAX - 1] = '\xc3'; /* a two-byte character across the cut */
	big[SH_VISIT_FIELD_MAX] = '\xa9';
	insert(f->s, 1, "https://one.example/", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_visits_add(f->s, &v, 1), 0);
	assert_int_equal(store_visits_list(f->s, &q, ref_len_cb, &len, NULL), 0);
	assert_int_equal(len, SH_VISIT_FIELD_MAX - 1);
}

#define TH_N 4
#define TH_LINKS 150

struct th_arg {
	const char *url;
	int idx;
	int failures;
};

/* One thread's connection: links and visits, every third in a transaction
 * holding a failed insert rolled back alone; every write waits its turn. */
static void *th_main(void *p)
{
	struct th_arg *a = p;
	store *s = NULL;
	int i;

	if (open_url(a->url, false, &s)) {
		a->failures++;
		return NULL;
	}
	for (i = 0; i < TH_LINKS; i++) {
		int64_t id = (int64_t)a->idx * 100000 + i + 1;
		sh_visit v = {.link_id = id, .ts = i};
		sh_link l, g = {0};

		mk_link(&l, id, "https://thread.example/", CODE_KIND_COUNTER, NULL);
		if (i % 3 == 0) {
			if (store_begin(s) || store_link_insert(s, &l) || store_savepoint(s) ||
			    store_link_insert(s, &l) != SH_ETAKEN || store_rollback_to(s) ||
			    store_release(s) || store_visits_add(s, &v, 1) || store_commit(s))
				a->failures++;
		} else if (store_link_insert(s, &l) || store_visits_add(s, &v, 1)) {
			a->failures++;
		}
		sh_link_clear(&l);
		if (store_link_get(s, id, &g) || g.visits != 1)
			a->failures++;
		sh_link_clear(&g);
	}
	store_close(s);
	return NULL;
}

static void test_threads(void **state)
{
	fx *f = *state;
	pthread_t th[TH_N];
	struct th_arg args[TH_N];
	sh_list_query q = base_query();
	sh_visit_totals lt;
	int64_t total = 0;
	int i;

	for (i = 0; i < TH_N; i++) {
		args[i] = (struct th_arg){.url = f->url, .idx = i};
		assert_int_equal(pthread_create(&th[i], NULL, th_main, &args[i]), 0);
	}
	for (i = 0; i < TH_N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	assert_int_equal(store_link_list(f->s, &q, NULL, NULL, &total), 0);
	assert_int_equal(total, TH_N * TH_LINKS);
	assert_int_equal(store_visits_totals(f->s, 0, &lt, NULL), 0);
	assert_int_equal(lt.total, TH_N * TH_LINKS);
}

/* ---- schema 1 -> 2 -------------------------------------------------------- */

/* A store as shorty 0.1 (schema version 1) made it: its DDL exactly as
 * migration 1 creates it, and rows as that release wrote them (the
 * counters in links, orphan visits with link_id NULL, visits_daily). */
static const char schema1_store[] =
    "CREATE TABLE links( id INTEGER PRIMARY KEY, code_kind INTEGER NOT NULL DEFAULT 0,"
    " url TEXT NOT NULL, url_hash INTEGER NOT NULL, title TEXT, created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL, valid_since INTEGER NOT NULL DEFAULT 0,"
    " expires_at INTEGER NOT NULL DEFAULT 0, max_visits INTEGER NOT NULL DEFAULT 0,"
    " visits INTEGER NOT NULL DEFAULT 0, bot_visits INTEGER NOT NULL DEFAULT 0,"
    " redirect_status INTEGER NOT NULL DEFAULT 302, forward_query INTEGER NOT NULL DEFAULT 1,"
    " crawlable INTEGER NOT NULL DEFAULT 0, disabled INTEGER NOT NULL DEFAULT 0,"
    " owner_key_id INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX links_url_hash ON links(url_hash);"
    "CREATE INDEX links_created ON links(created_at);"
    "CREATE TABLE codes( code TEXT COLLATE BINARY PRIMARY KEY,"
    " link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX codes_link ON codes(link_id);"
    "CREATE TABLE link_tags( link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,"
    " tag TEXT NOT NULL, PRIMARY KEY(link_id, tag)) WITHOUT ROWID;"
    "CREATE INDEX link_tags_tag ON link_tags(tag);"
    "CREATE TABLE visits( id INTEGER PRIMARY KEY,"
    " link_id INTEGER REFERENCES links(id) ON DELETE CASCADE, ts INTEGER NOT NULL,"
    " kind INTEGER NOT NULL, orphan_type INTEGER NOT NULL DEFAULT 0,"
    " referer TEXT, user_agent TEXT, visited_url TEXT, ip TEXT);"
    "CREATE INDEX visits_link ON visits(link_id, id);"
    "CREATE TABLE visits_daily( link_id INTEGER NOT NULL, day INTEGER NOT NULL,"
    " visits INTEGER NOT NULL DEFAULT 0, bots INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(link_id, day)) WITHOUT ROWID;"
    "CREATE TABLE visit_totals( kind INTEGER PRIMARY KEY, total INTEGER NOT NULL DEFAULT 0,"
    " bots INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO visit_totals(kind) VALUES (0), (1);"
    "CREATE TABLE api_keys( id INTEGER PRIMARY KEY, name TEXT NOT NULL, role INTEGER NOT NULL,"
    " hash BLOB NOT NULL UNIQUE, prefix TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " revoked_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    /* the data */
    "INSERT INTO links(id, code_kind, url, url_hash, title, created_at, updated_at,"
    " max_visits, visits, bot_visits, owner_key_id) VALUES"
    " (1, 0, 'https://one.example/', 11, 'One', 1700000001, 1700000001, 0, 3, 1, 0),"
    " (2, 1, 'https://two.example/', 22, NULL, 1700000002, 1700000002, 10, 1, 0, 1),"
    " (4, 2, 'https://four.example/', 44, NULL, 1700000004, 1700000004, 0, 0, 0, 1);"
    "INSERT INTO codes VALUES ('custom2', 2), ('rNd4', 4);"
    "INSERT INTO link_tags VALUES (1, 'news'), (2, 'news'), (2, 'work');"
    "INSERT INTO visits(id, link_id, ts, kind, orphan_type, referer, user_agent, visited_url,"
    " ip) VALUES"
    " (1, 1, 1700000100, 0, 0, 'https://ref.example/', 'UA', 'http://s/1', '10.0.0.0'),"
    " (2, 2, 1700000101, 0, 0, NULL, NULL, 'http://s/custom2', NULL),"
    " (3, NULL, 1700000102, 0, 1, NULL, NULL, 'http://s/', NULL),"
    " (4, 1, 1700000103, 1, 0, NULL, 'Googlebot', 'http://s/1', NULL),"
    " (5, 1, 1700000104, 2, 0, NULL, NULL, 'http://s/1', NULL),"
    " (6, 1, 1700000105, 0, 0, NULL, NULL, 'http://s/1', NULL),"
    " (7, NULL, 1700000106, 1, 2, NULL, NULL, 'http://s/nope', NULL);"
    "INSERT INTO visits_daily VALUES (1, 19675, 3, 1), (2, 19675, 1, 0), (0, 19675, 2, 1);"
    "UPDATE visit_totals SET total = 4, bots = 1 WHERE kind = 0;"
    "UPDATE visit_totals SET total = 2, bots = 1 WHERE kind = 1;"
    "INSERT INTO api_keys(id, name, role, hash, prefix, created_at, revoked_at) VALUES"
    " (1, 'ci', 1, zeroblob(32), 'abcdefgh', 1700000000, 0);"
    "INSERT INTO meta VALUES ('secret', 'c2VjcmV0'), ('id_hwm', '3');"
    "PRAGMA user_version=1;";

struct vseen {
	int n;
	int64_t id[16], link[16], ts[16];
	int kind[16];
	char ua[16][16];
};

static int see_visit(const sh_visit *v, int64_t visit_id, void *ud)
{
	struct vseen *c = ud;

	if (c->n < 16) {
		c->id[c->n] = visit_id;
		c->link[c->n] = v->link_id;
		c->ts[c->n] = v->ts;
		c->kind[c->n] = v->kind;
		snprintf(c->ua[c->n], sizeof(c->ua[0]), "%s", v->user_agent ? v->user_agent : "");
		c->n++;
	}
	return 0;
}

/* A store made by schema 1 migrates to the latest and keeps every link,
 * code, tag, key, setting, visit and count; and goes on working. */
static void test_migrate_schema1(void **state)
{
	fx *f = *state;
	char url[160];
	sqlite3 *db;
	store *s = NULL;
	sh_err err = {0};
	sh_link g = {0};
	sh_api_key k;
	sh_visit_totals lt, ot;
	sh_visit_query vq = {.orphan = -1};
	struct vseen c = {0};
	uint8_t zero[SH_KEY_HASH_BYTES] = {0};
	int curv = 0, latest = 0;
	int64_t id, deleted;
	char *v = NULL;

	if (cur->sqlite)
		snprintf(url, sizeof(url), "sqlite:%s/data/v1.db", f->dir);
	else
		snprintf(url, sizeof(url), "memory:v1s%d", fixture_seq);
	db = raw_open_url(url); /* kept open: a memory store lives while it is */
	assert_int_equal(sqlite3_exec(db, schema1_store, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(open_url(url, false, &s), 0);
	assert_int_equal(store_schema_version(s, &curv, &latest), 0);
	assert_int_equal(curv, 1);
	assert_int_equal(store_link_get(s, 1, &g), SH_ESCHEMA);
	assert_int_equal(store_migrate(s, &err), 0);
	assert_int_equal(store_schema_version(s, &curv, &latest), 0);
	assert_int_equal(curv, latest);

	/* links, codes, tags, counters */
	assert_int_equal(store_link_get(s, 1, &g), 0);
	assert_string_equal(g.url, "https://one.example/");
	assert_string_equal(g.title, "One");
	assert_int_equal(g.visits, 3);
	assert_int_equal(g.bot_visits, 1);
	assert_int_equal(g.ntags, 1);
	sh_link_clear(&g);
	assert_int_equal(store_link_get_by_code(s, "custom2", &g), 0);
	assert_int_equal(g.id, 2);
	assert_int_equal(g.visits, 1);
	assert_int_equal(g.max_visits, 10);
	assert_int_equal(g.owner_key_id, 1);
	assert_int_equal(g.ntags, 2);
	assert_string_equal(g.tags[1], "work");
	sh_link_clear(&g);
	assert_int_equal(store_link_get_by_code(s, "rNd4", &g), 0);
	assert_int_equal(g.visits, 0);
	sh_link_clear(&g);
	assert_int_equal(store_next_id(s, 1, &id), 0);
	assert_int_equal(id, 5);
	assert_int_equal(store_key_get_by_hash(s, zero, &k), 0);
	assert_string_equal(k.name, "ci");
	assert_int_equal(k.role, KEY_AUTHOR);
	assert_int_equal(store_meta_get(s, "secret", &v), 0);
	assert_string_equal(v, "c2VjcmV0");
	free(v);

	/* totals, and every visit with its fields, by link, tag, owner, orphan */
	assert_int_equal(store_visits_totals(s, 0, &lt, &ot), 0);
	assert_int_equal(lt.total, 4);
	assert_int_equal(lt.bots, 1);
	assert_int_equal(ot.total, 2);
	assert_int_equal(ot.bots, 1);
	assert_int_equal(store_visits_totals(s, 1, &lt, NULL), 0);
	assert_int_equal(lt.total, 1);
	expect_visits(s, &vq, 7, 7, 7, 6, 5, 4, 3, 2, 1);
	assert_int_equal(store_visits_list(s, &vq, see_visit, &c, NULL), 0);
	assert_int_equal(c.link[0], 0);
	assert_int_equal(c.kind[0], VISIT_BOT);
	assert_int_equal(c.ts[6], 1700000100);
	assert_string_equal(c.ua[3], "Googlebot");
	vq = (sh_visit_query){.link_id = 1, .orphan = 0};
	expect_visits(s, &vq, 4, 4, 6, 5, 4, 1);
	vq = (sh_visit_query){.tag = "work", .orphan = 0};
	expect_visits(s, &vq, 1, 1, 2);
	vq = (sh_visit_query){.owner_key_id = 1, .orphan = 0};
	expect_visits(s, &vq, 1, 1, 2);
	vq = (sh_visit_query){.orphan = 1};
	expect_visits(s, &vq, 2, 2, 7, 3);
	vq = (sh_visit_query){.orphan = 1, .orphan_type = ORPHAN_INVALID_SHORT_URL};
	expect_visits(s, &vq, 1, 1, 7);

	/* and it goes on: new visits add up, a link's delete takes its visits */
	{
		sh_visit nv = {.link_id = 2, .ts = 1700000200, .kind = VISIT_NORMAL};
		assert_int_equal(store_visits_add(s, &nv, 1), 0);
	}
	vq = (sh_visit_query){.link_id = 2, .orphan = 0};
	expect_visits(s, &vq, 2, 2, 8, 2);
	assert_int_equal(store_link_delete(s, 1), 0);
	vq = (sh_visit_query){.orphan = -1};
	expect_visits(s, &vq, 4, 4, 8, 7, 3, 2);
	assert_int_equal(store_visits_totals(s, 0, &lt, NULL), 0);
	assert_int_equal(lt.total, 2);
	assert_int_equal(store_visits_delete(s, 0, &deleted), 0);
	assert_int_equal(deleted, 2);
	store_close(s);
	sqlite3_close(db);
	if (cur->sqlite) {
		static const char *const sfx[] = {"", "-wal", "-shm"};
		for (int i = 0; i < 3; i++) {
			snprintf(url, sizeof(url), "%s/data/v1.db%s", f->dir, sfx[i]);
			unlink(url);
		}
	}
}

/* More visits than the unindexed tail holds: the writer indexes the tail by
 * link in bulk, and every per-link answer (lists, counts, deletes) is the
 * same across the indexed part and the tail. */
static void test_visits_indexed_in_bulk(void **state)
{
	fx *f = *state;
	/* > VINDEX_TAIL (131072) and > VINDEX_CHUNK (262144) in sqlite.c: the
	 * tail is indexed in two chunks, each sorted on its own */
	enum { N = 270000 };
	sh_visit *v = calloc(N, sizeof(*v));
	sh_visit_query vq;
	sh_visit_totals lt, ot;
	sh_link g = {0};
	int64_t deleted;
	char *upto = NULL;
	int i;

	assert_non_null(v);
	insert(f->s, 1, "https://one.example/", CODE_KIND_COUNTER, NULL);
	insert(f->s, 2, "https://two.example/", CODE_KIND_COUNTER, NULL);
	/* ids 1..N: link 1 on ids 4k+1, link 2 on 4k+2, orphans else */
	for (i = 0; i < N; i++)
		v[i] = (sh_visit){.link_id = i % 4 == 0   ? 1
		                             : i % 4 == 1 ? 2
		                                          : 0,
		                  .ts = 1700000000 + i,
		                  .orphan_type = ORPHAN_REGULAR_404};
	assert_int_equal(store_visits_add(f->s, v, N), 0);
	assert_int_equal(store_meta_get(f->s, "visits_indexed_upto", &upto), 0);
	assert_string_equal(upto, "270000"); /* merged */
	free(upto);
	/* the tail after the merge: ids N+1..N+8 */
	for (i = 0; i < 8; i++)
		v[i].ts = 1800000000 + i;
	assert_int_equal(store_visits_add(f->s, v, 8), 0);
	free(v);

	vq = (sh_visit_query){.link_id = 1, .orphan = 0, .limit = 3};
	/* newest first: ids N+5, N+1 (tail), then N-3 (indexed) */
	expect_visits(f->s, &vq, N / 4 + 2, 3, N + 5, N + 1, N - 3);
	vq.offset = N / 4;
	expect_visits(f->s, &vq, N / 4 + 2, 2, 5, 1);
	vq = (sh_visit_query){.orphan = 1, .limit = 1};
	expect_visits(f->s, &vq, N / 2 + 4, 1, N + 8);
	vq = (sh_visit_query){.link_id = 2, .orphan = 0, .start_date = 1800000000};
	expect_visits(f->s, &vq, 2, 2, N + 6, N + 2);
	assert_int_equal(store_link_get(f->s, 2, &g), 0);
	assert_int_equal(g.visits, N / 4 + 2);
	sh_link_clear(&g);

	assert_int_equal(store_visits_delete(f->s, 2, &deleted), 0);
	assert_int_equal(deleted, N / 4 + 2);
	vq = (sh_visit_query){.link_id = 2, .orphan = 0};
	expect_visits(f->s, &vq, 0, 0);
	assert_int_equal(store_link_delete(f->s, 1), 0);
	vq = (sh_visit_query){.orphan = -1, .limit = 1};
	expect_visits(f->s, &vq, N / 2 + 4, 1, N + 8);
	assert_int_equal(store_visits_totals(f->s, 0, &lt, &ot), 0);
	assert_int_equal(lt.total, 0);
	assert_int_equal(ot.total, N / 2 + 4);
}

/* The index merge takes the tail's (link, id) from what the writer noted as
 * it appended, unless something else touched the tail: the index then
 * holds exactly the log's rows either way. Batches of 50,000 over 7 links
 * and orphans: the merge after the third batch from the notes; a fourth
 * batch, a delete of one link's visits (some in the tail noted), two more
 * batches: the second merge reads the log. */
static void expect_index_is_log(sqlite3 *db, int64_t runs)
{
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT (SELECT count(*) FROM visit_runs),"
	                                    " (SELECT count(*) FROM visits_by_link),"
	                                    " (SELECT count(*) FROM visits WHERE id <= (SELECT"
	                                    "  max(run) FROM visit_runs)),"
	                                    " (SELECT count(*) FROM visits_by_link x JOIN visits v"
	                                    "  ON v.id = x.id AND v.link_id = x.link_id"
	                                    "  AND x.run = (SELECT min(run) FROM visit_runs r"
	                                    "  WHERE r.run >= v.id))",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), runs);
	/* as many index rows as indexed log rows, each matching its row and run */
	assert_int_equal(sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2));
	assert_int_equal(sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 2));
	assert_true(sqlite3_column_int64(st, 2) > 0);
	sqlite3_finalize(st);
}

static void test_visits_index_from_notes(void **state)
{
	fx *f = *state;
	enum { B = 50000 };
	sh_visit *v = calloc(B, sizeof(*v));
	sh_visit_query vq;
	sh_link g = {0};
	int64_t deleted, want[8] = {0};
	sqlite3 *db;
	int b, i, id;

	assert_non_null(v);
	for (id = 1; id <= 7; id++)
		insert(f->s, id, id == 1 ? "https://one.example/" : "https://more.example/",
		       CODE_KIND_COUNTER, NULL);
	db = raw_open_url(f->url);
	for (b = 0; b < 6; b++) {
		if (b == 4) { /* the tail noted holds rows deleted now */
			assert_int_equal(store_visits_delete(f->s, 3, &deleted), 0);
			assert_int_equal(deleted, want[3]);
			want[3] = 0;
		}
		for (i = 0; i < B; i++) {
			id = (i * 7 + b) % 8; /* 0: an orphan */
			v[i] = (sh_visit){.link_id = id, .ts = 1700000000 + b,
			                  .orphan_type = id ? ORPHAN_NONE : ORPHAN_REGULAR_404};
			want[id]++;
		}
		assert_int_equal(store_visits_add(f->s, v, B), 0);
		if (b == 2)
			expect_index_is_log(db, 1);
	}
	expect_index_is_log(db, 2);
	for (id = 0; id <= 7; id++) { /* 0: the orphans */
		int64_t total = -1;

		vq = (sh_visit_query){.link_id = id, .orphan = id ? 0 : 1};
		assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
		assert_int_equal(total, want[id]);
	}
	assert_int_equal(store_link_get(f->s, 5, &g), 0);
	assert_int_equal(g.visits, want[5]);
	sh_link_clear(&g);
	sqlite3_close(db);
	free(v);
}

/* A store of schema 5 (the log's index one tree sorted by (link, id))
 * migrates to runs (schema 6): what was indexed becomes one run, per-link
 * answers read it and the tail; and the log's newest indexed rows, once
 * deleted, never give their ids to new visits (SQLite would reuse them,
 * below the indexed mark, where no per-link query looks). */
static void test_migrate_schema5_runs(void **state)
{
	fx *f = *state;
	static const int64_t links[] = {1, 2, 1, 0, 0}; /* visits 1..5 */
	sh_visit v[5], nv[2];
	sh_visit_query vq;
	sh_err err = {0};
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t deleted;
	int curv = 0, latest = 0, i;

	insert(f->s, 1, "https://one.example/", CODE_KIND_COUNTER, NULL);
	insert(f->s, 2, "https://two.example/", CODE_KIND_COUNTER, NULL);
	for (i = 0; i < 5; i++)
		v[i] = (sh_visit){.link_id = links[i], .ts = 1700000000 + i,
		                  .orphan_type = links[i] ? ORPHAN_NONE : ORPHAN_REGULAR_404};
	assert_int_equal(store_visits_add(f->s, v, 5), 0);
	db = raw_open_url(f->url); /* kept open: a memory store lives while it is */
	store_close(f->s);
	f->s = NULL;
	/* schema 5's shape, visits 1..4 indexed */
	assert_int_equal(sqlite3_exec(db,
	                              "DROP TABLE visit_runs; DROP TABLE visits_by_link;"
	                              "CREATE TABLE visits_by_link(link_id INTEGER NOT NULL,"
	                              " id INTEGER NOT NULL, PRIMARY KEY(link_id, id)) WITHOUT ROWID;"
	                              "INSERT INTO visits_by_link VALUES (1, 1), (2, 2), (1, 3), (0, 4);"
	                              "INSERT INTO meta(key, value) VALUES ('visits_indexed_upto', '4')"
	                              " ON CONFLICT(key) DO UPDATE SET value = excluded.value;"
	                              "PRAGMA user_version = 5;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(open_url(f->url, false, &f->s), 0);
	assert_int_equal(store_schema_version(f->s, &curv, &latest), 0);
	assert_int_equal(curv, 5);
	assert_int_equal(store_migrate(f->s, &err), 0);
	assert_int_equal(store_schema_version(f->s, &curv, &latest), 0);
	assert_int_equal(curv, 6);
	assert_int_equal(latest, 6);
	/* one run, keyed by the last indexed id, holding the four rows */
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT group_concat(run || ':' || link_id || ':' || id, ' ')"
	                                    " FROM (SELECT * FROM visits_by_link ORDER BY run, link_id, id)",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "4:0:4 4:1:1 4:1:3 4:2:2");
	sqlite3_finalize(st);

	vq = (sh_visit_query){.link_id = 1, .orphan = 0};
	expect_visits(f->s, &vq, 2, 2, 3, 1);
	vq = (sh_visit_query){.link_id = 2, .orphan = 0};
	expect_visits(f->s, &vq, 1, 1, 2);
	vq = (sh_visit_query){.orphan = 1};
	expect_visits(f->s, &vq, 2, 2, 5, 4); /* 5 in the tail, 4 indexed */

	/* the orphans go, with the log's newest ids (4 indexed, 5 not): the
	 * next visits get 5 and 6, above the mark, and are found */
	assert_int_equal(store_visits_delete(f->s, 0, &deleted), 0);
	assert_int_equal(deleted, 2);
	nv[0] = (sh_visit){.link_id = 1, .ts = 1700000100};
	nv[1] = (sh_visit){.link_id = 0, .ts = 1700000101, .orphan_type = ORPHAN_REGULAR_404};
	assert_int_equal(store_visits_add(f->s, nv, 2), 0);
	vq = (sh_visit_query){.link_id = 1, .orphan = 0};
	expect_visits(f->s, &vq, 3, 3, 5, 3, 1);
	vq = (sh_visit_query){.orphan = 1};
	expect_visits(f->s, &vq, 1, 1, 6);
	vq = (sh_visit_query){.orphan = -1};
	expect_visits(f->s, &vq, 5, 5, 6, 5, 3, 2, 1);
	sqlite3_close(db);
}

/* The counters are added a stretch of links a statement: a batch over 300
 * links, deleted links on both sides of each statement's boundary and in
 * the middle, HEAD-only links, a link visited once and one visited many
 * times. The first 150 links have the ids 1..150 (one dense stretch, an
 * UPDATE over the id range), the next 150 ids 10 apart (after the range
 * stretch ends among them, 64 links an IN list). Link number i is
 * LINK_OF(i). */
#define LINK_OF(i) ((i) <= 150 ? (int64_t)(i) : (int64_t)150 + 10 * ((int64_t)(i)-150))
static void test_visits_counted_in_chunks(void **state)
{
	fx *f = *state;
	enum { L = 300 };
	static const int64_t gone[] = {1, 64, 65, 128, 129, 200, 300};
	sh_visit v[3 * L + 40];
	int64_t want_v[L + 1] = {0}, want_b[L + 1] = {0}, logged[L + 1] = {0}, id;
	sh_visit_query vq;
	sh_visit_totals lt, ot;
	sh_link g = {0};
	char url[64];
	size_t n = 0, k;
	int64_t total, sum_v = 0, sum_b = 0;
	bool dead;

	for (id = 1; id <= L; id++) {
		snprintf(url, sizeof(url), "https://example.com/c%d", (int)id);
		insert(f->s, LINK_OF(id), url, CODE_KIND_COUNTER, NULL);
	}
	for (k = 0; k < sizeof(gone) / sizeof(gone[0]); k++)
		assert_int_equal(store_link_delete(f->s, LINK_OF(gone[k])), 0);
	memset(v, 0, sizeof(v));
	/* link id visited (id % 3) + 1 times, newest link first; kinds by id:
	 * every 5th link only HEADs, every 7th a bot first */
	for (id = L; id >= 1; id--) {
		for (int j = 0; j <= id % 3; j++) {
			int kind = id % 5 == 0               ? VISIT_HEAD
			           : (id % 7 == 0 && j == 0) ? VISIT_BOT
			                                     : VISIT_NORMAL;

			v[n++] =
			    (sh_visit){.link_id = LINK_OF(id), .ts = 1700000000 + (int64_t)n, .kind = kind};
			dead = false;
			for (k = 0; k < sizeof(gone) / sizeof(gone[0]); k++)
				dead |= gone[k] == id;
			if (dead)
				continue;
			logged[id]++;
			want_v[id] += kind != VISIT_HEAD;
			want_b[id] += kind == VISIT_BOT;
		}
	}
	for (k = 0; k < 30; k++) /* one link visited 30 times */
		v[n++] =
		    (sh_visit){.link_id = LINK_OF(77), .ts = 1700001000 + (int64_t)k, .kind = VISIT_NORMAL};
	want_v[77] += 30;
	logged[77] += 30;
	assert_int_equal(store_visits_add(f->s, v, n), 0);

	for (id = 1; id <= L; id++) {
		memset(&vq, 0, sizeof(vq));
		vq.link_id = LINK_OF(id);
		total = -1;
		assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
		assert_int_equal(total, logged[id]);
		if (!link_exists(f->s, LINK_OF(id)))
			continue;
		assert_int_equal(store_link_get(f->s, LINK_OF(id), &g), 0);
		assert_int_equal(g.visits, want_v[id]);
		assert_int_equal(g.bot_visits, want_b[id]);
		sh_link_clear(&g);
		sum_v += want_v[id];
		sum_b += want_b[id];
	}
	assert_int_equal(store_visits_totals(f->s, 0, &lt, &ot), 0);
	assert_int_equal(lt.total, sum_v);
	assert_int_equal(lt.bots, sum_b);
	assert_int_equal(ot.total, 0);
}

/* The queries the Shlink API asks of every backend (issue 9): excluded
 * tags (any, all), a key's name, a search that finds a tag, orders by the
 * code itself and of tags by count, findIfExists's match, redirect rules
 * and visit locations stored and read back, HEAD rows left out and keyset
 * paging of visits. */
static void test_shlink_queries(void **state)
{
	fx *f = *state;
	static const char *a_tag[] = {"a"}, *ab[] = {"a", "b"}, *bc[] = {"b", "c"},
	                  *b_tag[] = {"b"};
	sh_api_key k;
	sh_link l, g = {0};
	sh_list_query q;
	sh_link_match m;
	sh_tag_query tq;
	struct tagrows r = {0};
	sh_visit v[3];
	sh_visit_query vq;
	struct vcheck c = {0};
	int64_t total = -1, newest;
	struct ids ids = {0};

	mk_key(&k, "ci", KEY_AUTHOR, 7);
	assert_int_equal(store_key_insert(f->s, &k), 0);
	mk_link(&l, 1, "https://a.example/", CODE_KIND_CUSTOM, "zeta");
	add_tag(&l, "a");
	add_tag(&l, "b");
	l.owner_key_id = k.id;
	l.redirect_rules = strdup("[{\"priority\":1}]");
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);
	mk_link(&l, 2, "https://b.example/", CODE_KIND_CUSTOM, "alpha");
	add_tag(&l, "b");
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);
	mk_link(&l, 3, "https://c.example/", CODE_KIND_CUSTOM, "mid");
	add_tag(&l, "c");
	add_tag(&l, "findme");
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);

	memset(&q, 0, sizeof(q));
	q.order = LIST_CREATED_ASC;
	q.exclude_tags = a_tag;
	q.nexclude = 1;
	expect_list(f->s, &q, 2, 2, 2, 3);
	q.exclude_tags = ab;
	q.nexclude = 2;
	q.exclude_all = true; /* only a link with both goes */
	expect_list(f->s, &q, 2, 2, 2, 3);
	q.exclude_tags = bc;
	expect_list(f->s, &q, 3, 3, 1, 2, 3);
	q.exclude_tags = b_tag;
	q.nexclude = 1;
	q.exclude_all = false;
	expect_list(f->s, &q, 1, 1, 3);
	memset(&q, 0, sizeof(q));
	q.order = LIST_CREATED_ASC;
	q.owner_key_name = "ci";
	expect_list(f->s, &q, 1, 1, 1);
	q.owner_key_name = "nobody";
	expect_list(f->s, &q, 0, 0);
	q.owner_key_name = NULL;
	q.search = "FindMe"; /* a tag of link 3 */
	expect_list(f->s, &q, 1, 1, 3);
	q.search = NULL;
	q.order = LIST_CODE_ASC; /* alpha, mid, zeta */
	expect_list(f->s, &q, 3, 3, 2, 3, 1);
	q.order = LIST_CODE_DESC;
	expect_list(f->s, &q, 3, 3, 1, 3, 2);

	memset(&tq, 0, sizeof(tq));
	tq.order = TAG_LINKS_DESC; /* b on two links, then by name */
	assert_int_equal(store_tags_stats(f->s, &tq, collect_tag, &r, &total), 0);
	assert_int_equal(total, 4);
	assert_int_equal(r.n, 4);
	assert_string_equal(r.t[0].tag, "b");
	assert_int_equal(r.t[0].links, 2);
	assert_string_equal(r.t[1].tag, "a");
	assert_string_equal(r.t[2].tag, "c");
	assert_string_equal(r.t[3].tag, "findme");
	tq.order = TAG_NAME_DESC;
	tq.limit = 1;
	r.n = 0;
	assert_int_equal(store_tags_stats(f->s, &tq, collect_tag, &r, NULL), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.t[0].tag, "findme");

	memset(&m, 0, sizeof(m));
	m.url = "https://a.example/";
	m.url_hash = 0x1234000000000000ull + strlen(m.url); /* mk_link's */
	m.code = "zeta";
	assert_int_equal(store_link_find_match(f->s, &m, &g), 0);
	assert_int_equal(g.id, 1);
	assert_string_equal(g.redirect_rules, "[{\"priority\":1}]");
	sh_link_clear(&g);
	m.code = "nope";
	assert_int_equal(store_link_find_match(f->s, &m, &g), SH_ENOTFOUND);
	m.code = NULL;
	m.tags = ab;
	m.ntags = 2;
	assert_int_equal(store_link_find_match(f->s, &m, &g), 0);
	assert_int_equal(g.id, 1);
	/* rules replaced by none */
	free(g.redirect_rules);
	g.redirect_rules = NULL;
	assert_int_equal(store_link_update(f->s, &g), 0);
	sh_link_clear(&g);
	assert_int_equal(store_link_get(f->s, 1, &g), 0);
	assert_null(g.redirect_rules);
	sh_link_clear(&g);
	m.tags = a_tag;
	m.ntags = 1;
	assert_int_equal(store_link_find_match(f->s, &m, &g), SH_ENOTFOUND);

	memset(v, 0, sizeof(v));
	v[0] = (sh_visit){.link_id = 2,
	                  .ts = 1700000100,
	                  .kind = VISIT_NORMAL,
	                  .location = "{\"countryCode\":\"ES\"}"};
	v[1] = (sh_visit){.link_id = 2, .ts = 1700000101, .kind = VISIT_HEAD};
	v[2] = (sh_visit){.link_id = 2, .ts = 1700000102, .kind = VISIT_BOT};
	assert_int_equal(store_visits_add(f->s, v, 3), 0);
	memset(&vq, 0, sizeof(vq));
	vq.link_id = 2;
	vq.exclude_head = true;
	assert_int_equal(store_visits_list(f->s, &vq, collect_visit, &ids, &total), 0);
	assert_int_equal(total, 2);
	assert_int_equal(ids.n, 2);
	newest = ids.id[0];
	vq.before_id = newest; /* the next page after the newest */
	assert_int_equal(store_visits_list(f->s, &vq, check_visit, &c, &total), 0);
	assert_int_equal(total, 1);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.kind[0], VISIT_NORMAL);
	assert_string_equal(c.location[0], "{\"countryCode\":\"ES\"}");
}

/* SHORTY_VISIT_RETENTION's step (issue 12 item 6): the details of visits
 * older than `before` go, oldest first, at most max_rows a call, stopping
 * at the first young visit; visits and counts stay. */
static void test_prune_details(void **state)
{
	fx *f = *state;
	sh_visit v[6];
	sh_visit_query vq;
	struct vcheck c = {0};
	sh_link g = {0};
	int64_t n = -1;
	int i;

	insert(f->s, 1, "https://one.example/", CODE_KIND_COUNTER, NULL);
	memset(v, 0, sizeof(v));
	/* ts 100, 200, 300, 1000 (young), 400 (old, behind a young one), 2000 */
	static const int64_t ts[6] = {100, 200, 300, 1000, 400, 2000};
	for (i = 0; i < 6; i++)
		v[i] = (sh_visit){.link_id = 1,
		                  .ts = ts[i],
		                  .kind = VISIT_NORMAL,
		                  .referer = "https://ref.example/",
		                  .user_agent = "UA",
		                  .visited_url = "http://s/x",
		                  .location = "{\"cityName\":\"X\"}"};
	assert_int_equal(store_visits_add(f->s, v, 6), 0);
	assert_int_equal(store_visits_prune_details(f->s, 500, 2, &n), 0);
	assert_int_equal(n, 2); /* bounded: the two oldest */
	assert_int_equal(store_visits_prune_details(f->s, 500, 100, &n), 0);
	assert_int_equal(n, 1); /* the third; stops at ts 1000 */
	assert_int_equal(store_visits_prune_details(f->s, 500, 100, &n), 0);
	assert_int_equal(n, 0); /* nothing until the young one is old */
	memset(&vq, 0, sizeof(vq));
	vq.link_id = 1;
	assert_int_equal(store_visits_list(f->s, &vq, check_visit, &c, NULL), 0);
	assert_int_equal(c.n, 6); /* newest first: 2000, 400, 1000, 300, 200, 100 */
	for (i = 0; i < 6; i++) {
		bool gone = i >= 3;
		assert_string_equal(c.referer[i], gone ? "" : "https://ref.example/");
		assert_string_equal(c.location[i], gone ? "" : "{\"cityName\":\"X\"}");
	}
	assert_int_equal(store_visits_prune_details(f->s, 1500, 100, &n), 0);
	assert_int_equal(n, 2); /* 1000 and 400 */
	assert_int_equal(store_link_get(f->s, 1, &g), 0);
	assert_int_equal(g.visits, 6); /* counts stay */
	sh_link_clear(&g);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_visits_list(f->s, &vq, check_visit, &c, NULL), 0);
	assert_int_equal(c.n, 6);
	assert_string_equal(c.referer[0], "https://ref.example/");
	for (i = 1; i < 6; i++)
		assert_string_equal(c.referer[i], "");
}

struct dom_seen {
	int n;
	int64_t id[8];
	char authority[8][SH_AUTHORITY_MAX + 1];
	char base[8][64];
};

static int collect_domain(const sh_domain *d, void *ud)
{
	struct dom_seen *c = ud;

	if (c->n == 8)
		return 1;
	c->id[c->n] = d->id;
	snprintf(c->authority[c->n], sizeof(c->authority[0]), "%s", d->authority);
	snprintf(c->base[c->n], sizeof(c->base[0]), "%s",
	         d->redirect[SH_REDIRECT_BASE_URL] ? d->redirect[SH_REDIRECT_BASE_URL] : "-");
	c->n++;
	return 0;
}

/* Domains (schema 4): rows made once per authority, codes unique per
 * (domain, code), every lookup and filter per domain. */
static void test_domains(void **state)
{
	fx *f = *state;
	struct dom_seen seen = {0};
	struct ids got = {0};
	sh_domain d;
	sh_link l, g;
	sh_list_query q;
	sh_visit_query vq;
	sh_visit v[3];
	int64_t a = 0, b = 0, again = 0, total = 0;
	bool ex;

	assert_int_equal(store_domain_add(f->s, "a.test", &a), 0);
	assert_int_equal(store_domain_add(f->s, "b.test:8080", &b), 0);
	assert_int_equal(store_domain_add(f->s, "a.test", &again), 0);
	assert_true(a > 0 && b > 0 && a != b);
	assert_int_equal(again, a);
	assert_int_equal(store_domain_add(f->s, "", &again), SH_EINVAL);

	/* one code on the default domain and on a; taken again on a: refused */
	insert(f->s, 1, "https://example.com/0", CODE_KIND_CUSTOM, "same");
	mk_link(&l, 2, "https://example.com/a", CODE_KIND_CUSTOM, "same");
	l.domain_id = a;
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);
	mk_link(&l, 3, "https://example.com/a2", CODE_KIND_CUSTOM, "same");
	l.domain_id = a;
	assert_int_equal(store_link_insert(f->s, &l), SH_ETAKEN);
	sh_link_clear(&l);
	assert_false(link_exists(f->s, 3));
	mk_link(&l, 4, "https://example.com/b", CODE_KIND_COUNTER, NULL);
	l.domain_id = b;
	assert_int_equal(store_link_insert(f->s, &l), 0);
	sh_link_clear(&l);

	assert_int_equal(store_link_get_by_code(f->s, "same", &g), 0);
	assert_int_equal(g.id, 1);
	assert_int_equal(g.domain_id, 0);
	assert_string_equal(g.domain, "");
	sh_link_clear(&g);
	assert_int_equal(store_link_get_by_code_in(f->s, a, "same", &g), 0);
	assert_int_equal(g.id, 2);
	assert_int_equal(g.domain_id, a);
	assert_string_equal(g.domain, "a.test");
	sh_link_clear(&g);
	assert_int_equal(store_link_get_by_code_in(f->s, b, "same", &g), SH_ENOTFOUND);
	assert_int_equal(store_code_exists_in(f->s, a, "same", &ex), 0);
	assert_true(ex);
	assert_int_equal(store_code_exists_in(f->s, b, "same", &ex), 0);
	assert_false(ex);
	assert_int_equal(store_link_get(f->s, 4, &g), 0);
	assert_int_equal(g.domain_id, b);
	assert_string_equal(g.domain, "b.test:8080");
	/* an update keeps the domain and the code on it */
	g.title = strdup("t");
	assert_int_equal(store_link_update(f->s, &g), 0);
	sh_link_clear(&g);
	assert_int_equal(store_link_get(f->s, 2, &g), 0);
	assert_int_equal(store_link_update(f->s, &g), 0);
	sh_link_clear(&g);
	assert_int_equal(store_link_get_by_code_in(f->s, a, "same", &g), 0);
	assert_int_equal(g.id, 2);
	sh_link_clear(&g);

	/* dedupe and findIfExists stay on their domain */
	insert(f->s, 5, "https://example.com/dd", CODE_KIND_COUNTER, NULL);
	mk_link(&l, 5, "https://example.com/dd", CODE_KIND_COUNTER, NULL);
	assert_int_equal(store_link_find_dup_in(f->s, a, l.url_hash, l.url, 0, &g), SH_ENOTFOUND);
	assert_int_equal(store_link_find_dup(f->s, l.url_hash, l.url, 0, &g), 0);
	assert_int_equal(g.id, 5);
	sh_link_clear(&g);
	{
		sh_link_match m = {.url_hash = l.url_hash, .url = l.url, .domain_id = a};
		assert_int_equal(store_link_find_match(f->s, &m, &g), SH_ENOTFOUND);
		m.domain_id = 0;
		assert_int_equal(store_link_find_match(f->s, &m, &g), 0);
		assert_int_equal(g.id, 5);
		sh_link_clear(&g);
	}
	sh_link_clear(&l);

	/* the list filter */
	memset(&q, 0, sizeof(q));
	q.order = LIST_CREATED_ASC;
	q.one_domain = true;
	q.domain_id = a;
	assert_int_equal(store_link_list(f->s, &q, collect_link, &got, &total), 0);
	assert_int_equal(total, 1);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.id[0], 2);
	q.domain_id = 0;
	got.n = 0;
	assert_int_equal(store_link_list(f->s, &q, collect_link, &got, &total), 0);
	assert_int_equal(total, 2);
	q.one_domain = false;
	assert_int_equal(store_link_list(f->s, &q, NULL, NULL, &total), 0);
	assert_int_equal(total, 4);

	/* visits of a domain's links */
	memset(v, 0, sizeof(v));
	v[0].link_id = 1;
	v[1].link_id = 2;
	v[2].link_id = 2;
	for (int i = 0; i < 3; i++)
		v[i].ts = 1700000100 + i;
	assert_int_equal(store_visits_add(f->s, v, 3), 0);
	memset(&vq, 0, sizeof(vq));
	vq.one_domain = true;
	vq.domain_id = a;
	assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
	assert_int_equal(total, 2);
	vq.domain_id = 0;
	assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
	assert_int_equal(total, 1);
	vq.domain_id = b;
	assert_int_equal(store_visits_list(f->s, &vq, NULL, NULL, &total), 0);
	assert_int_equal(total, 0);

	/* redirects: set (the row made when missing), replaced, listed */
	memset(&d, 0, sizeof(d));
	snprintf(d.authority, sizeof(d.authority), "a.test");
	d.redirect[SH_REDIRECT_BASE_URL] = "https://base.example/";
	assert_int_equal(store_domain_set_redirects(f->s, &d), 0);
	snprintf(d.authority, sizeof(d.authority), "c.test");
	d.redirect[SH_REDIRECT_BASE_URL] = NULL;
	d.redirect[SH_REDIRECT_REGULAR_404] = "https://404.example/";
	assert_int_equal(store_domain_set_redirects(f->s, &d), 0);
	assert_int_equal(store_domain_list(f->s, collect_domain, &seen), 0);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.id[0], a);
	assert_string_equal(seen.authority[0], "a.test");
	assert_string_equal(seen.base[0], "https://base.example/");
	assert_string_equal(seen.authority[1], "b.test:8080");
	assert_string_equal(seen.base[1], "-");
	assert_string_equal(seen.authority[2], "c.test");
	assert_string_equal(seen.base[2], "-");
	assert_int_equal(store_domain_add(f->s, "c.test", &again), 0);
	assert_int_equal(again, seen.id[2]);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_migrate_twice_and_version),
	    T(test_meta),
	    T(test_link_insert_get),
	    T(test_domains),
	    T(test_find_dup),
	    T(test_link_dedupe),
	    T(test_link_update),
	    T(test_link_delete_cascades),
	    T(test_ids_never_reused),
	    T(test_insert_with_visits),
	    T(test_link_list),
	    T(test_visits),
	    T(test_shlink_queries),
	    T(test_prune_details),
	    T(test_visits_counted_in_chunks),
	    T(test_visits_grouped_batch),
	    T(test_visits_by_tag_and_owner),
	    T(test_tags),
	    T(test_keys),
	    T(test_rollback),
	    T(test_savepoints),
	    T(test_two_connections),
	    T(test_persistence),
	    T(test_fault_injection),
	    T(test_error_counter),
	    T(test_open_errors),
	    T(test_schema_newer_or_missing),
	    T(test_memory_private_and_shared),
	    T(test_txn_isolation),
	    T(test_list_callbacks),
	    T(test_visit_truncation),
	    T(test_threads),
	    T(test_id_blocks),
	    T(test_meta_add),
	    T(test_group_mode),
	    T(test_ops_complete),
	    T(test_feed),
	    T(test_lookups),
	    /* SQLite's own file format: not run on PostgreSQL */
	    T(test_migrate_schema1),
	    T(test_visits_indexed_in_bulk),
	    T(test_migrate_schema5_runs),
	    T(test_visits_index_from_notes),
	};
	const size_t sqlite_only = 4; /* the last entries above */
	size_t i, n;
	int failed = 0;

	unsetenv("SHORTY_FAULT");
	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		cur = &backends[i];
		n = sizeof(tests) / sizeof(tests[0]);
		if (cur->pg) {
			if (!pgtest_required())
				return failed + 1;
			n -= sqlite_only;
		}
		print_message("store suite on backend: %s\n", cur->name);
		failed += _cmocka_run_group_tests(cur->name, tests, n, NULL, NULL);
	}
	return failed;
}

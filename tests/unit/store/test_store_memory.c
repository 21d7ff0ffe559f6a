/*
 * test_store_memory.c — unit tests of the in-memory store backend
 * (store/memory.c), reached through store_open("memory:...") and the
 * store_* wrappers as every caller reaches it: link CRUD and codes,
 * dedupe, transactions and savepoints, list filters / order / paging,
 * visits, tags, API keys, meta, shared databases and threads.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shorty/store.h"

static store *open_db(const char *url)
{
	store *s = NULL;
	sh_err err = {0};

	assert_int_equal(store_open(&s, url, NULL, &err), 0);
	assert_non_null(s);
	return s;
}

static int64_t g_now = 1700000000;

/* A link with a counter code; fields a test cares about are set after. */
static sh_link mk(int64_t id, const char *url)
{
	sh_link l;

	memset(&l, 0, sizeof l);
	l.id = id;
	snprintf(l.code, sizeof l.code, "c%lld", (long long)id);
	l.code_kind = CODE_KIND_COUNTER;
	l.url = (char *)url;
	l.url_hash = 0x1000u + (uint64_t)strlen(url);
	l.created_at = l.updated_at = g_now + id;
	l.redirect_status = 302;
	l.forward_query = true;
	return l;
}

static void add_tag(sh_link *l, const char *t)
{
	snprintf(l->tags[l->ntags++], SH_TAG_MAX + 1, "%s", t);
}

static void insert(store *s, sh_link l)
{
	assert_int_equal(store_link_insert(s, &l), 0);
}

/* ---- basics --------------------------------------------------------------- */

static void test_open_schema(void **state)
{
	(void)state;
	store *s = open_db("memory:");
	int cur = 0, latest = 0;
	sh_err err = {0};

	assert_string_equal(s->ops->name, "memory");
	assert_int_equal(s->ops->iVersion, 1);
	assert_string_equal(s->url, "memory:");
	assert_int_equal(store_migrate(s, &err), 0);
	assert_int_equal(store_schema_version(s, &cur, &latest), 0);
	assert_int_equal(cur, 1);
	assert_int_equal(latest, 1);
	assert_int_equal(store_ping(s), 0);
	store_close(s);
	store_close(NULL);
}

static void test_private_and_shared(void **state)
{
	(void)state;
	store *p1 = open_db("memory:"), *p2 = open_db("memory:");
	store *a = open_db("memory:shared"), *b = open_db("memory:shared");
	store *other = open_db("memory:other");
	sh_link out;
	int64_t id;

	insert(p1, mk(1, "https://p1.example/"));
	assert_int_equal(store_link_get(p2, 1, &out), SH_ENOTFOUND);

	insert(a, mk(7, "https://shared.example/"));
	assert_int_equal(store_link_get(b, 7, &out), 0);
	assert_string_equal(out.url, "https://shared.example/");
	sh_link_clear(&out);
	assert_int_equal(store_link_get(other, 7, &out), SH_ENOTFOUND);
	assert_int_equal(store_next_id(b, &id), 0);
	assert_int_equal(id, 8);

	/* alive while one handle remains, gone after the last closes */
	store_close(a);
	assert_int_equal(store_link_get(b, 7, &out), 0);
	sh_link_clear(&out);
	store_close(b);
	a = open_db("memory:shared");
	assert_int_equal(store_link_get(a, 7, &out), SH_ENOTFOUND);
	store_close(a);
	store_close(other);
	store_close(p1);
	store_close(p2);
}

static void test_meta(void **state)
{
	(void)state;
	store *s = open_db("memory:");
	char *v = (char *)"junk";

	assert_int_equal(store_meta_get(s, "secret", &v), SH_ENOTFOUND);
	assert_null(v);
	assert_int_equal(store_meta_set(s, "secret", "abc"), 0);
	assert_int_equal(store_meta_get(s, "secret", &v), 0);
	assert_string_equal(v, "abc");
	free(v);
	assert_int_equal(store_meta_set(s, "secret", "def"), 0);
	assert_int_equal(store_meta_set(s, "other", ""), 0);
	assert_int_equal(store_meta_get(s, "secret", &v), 0);
	assert_string_equal(v, "def");
	free(v);
	assert_int_equal(store_meta_get(s, "other", &v), 0);
	assert_string_equal(v, "");
	free(v);
	store_close(s);
}

/* ---- links ---------------------------------------------------------------- */

static void test_link_crud(void **state)
{
	(void)state;
	store *s = open_db("memory:");
	sh_link l = mk(5, "https://example.com/a"), out;
	int64_t id;
	bool ex;

	assert_int_equal(store_next_id(s, &id), 0);
	assert_int_equal(id, 1);

	l.title = (char *)"A title";
	l.expires_at = 99;
	l.max_visits = 3;
	l.owner_key_id = 4;
	l.crawlable = true;
	l.redirect_status = 308;
	add_tag(&l, "zeta");
	add_tag(&l, "alpha");
	add_tag(&l, "zeta"); /* duplicate: stored once */
	assert_int_equal(store_link_insert(s, &l), 0);
	insert(s, mk(2, "https://example.com/b"));

	assert_int_equal(store_next_id(s, &id), 0);
	assert_int_equal(id, 6);

	assert_int_equal(store_link_get(s, 5, &out), 0);
	assert_int_equal(out.id, 5);
	assert_string_equal(out.code, ""); /* generated codes are derived, not stored */
	assert_string_equal(out.url, "https://example.com/a");
	assert_ptr_not_equal(out.url, l.url); /* a copy */
	assert_string_equal(out.title, "A title");
	assert_int_equal(out.expires_at, 99);
	assert_int_equal(out.max_visits, 3);
	assert_int_equal(out.owner_key_id, 4);
	assert_int_equal(out.redirect_status, 308);
	assert_true(out.crawlable);
	assert_true(out.forward_query);
	assert_int_equal(out.url_hash, l.url_hash);
	assert_int_equal(out.ntags, 2);
	assert_string_equal(out.tags[0], "alpha");
	assert_string_equal(out.tags[1], "zeta");
	sh_link_clear(&out);

	assert_int_equal(store_link_get(s, 3, &out), SH_ENOTFOUND);
	/* same id again */
	l = mk(5, "https://example.com/dup");
	assert_int_equal(store_link_insert(s, &l), SH_ETAKEN);
	/* bad input */
	l = mk(0, "https://x/");
	assert_int_equal(store_link_insert(s, &l), SH_EINVAL);
	l = mk(9, "https://x/");
	l.url = NULL;
	assert_int_equal(store_link_insert(s, &l), SH_EINVAL);
	l = mk(9, "https://x/");
	l.code_kind = CODE_KIND_CUSTOM;
	l.code[0] = '\0'; /* a stored kind needs its code */
	assert_int_equal(store_link_insert(s, &l), SH_EINVAL);
	l = mk(9, "https://x/");
	l.code_kind = 7;
	assert_int_equal(store_link_insert(s, &l), SH_EINVAL);
	l = mk(9, "https://x/");
	l.ntags = SH_MAX_TAGS + 1;
	assert_int_equal(store_link_insert(s, &l), SH_EINVAL);
	assert_int_equal(store_link_get(s, 9, &out), SH_ENOTFOUND);

	/* titles are cut to SH_TITLE_MAX bytes */
	char longtitle[SH_TITLE_MAX + 50];
	memset(longtitle, 't', sizeof longtitle - 1);
	longtitle[sizeof longtitle - 1] = '\0';
	l = mk(9, "https://x/");
	l.title = longtitle;
	insert(s, l);
	assert_int_equal(store_link_get(s, 9, &out), 0);
	assert_int_equal(strlen(out.title), SH_TITLE_MAX);
	sh_link_clear(&out);

	/* counter codes are not in the codes table */
	assert_int_equal(store_code_exists(s, "c5", &ex), 0);
	assert_false(ex);
	assert_int_equal(store_link_get_by_code(s, "c5", &out), SH_ENOTFOUND);

	/* custom code: in the codes table, unique */
	l = mk(10, "https://example.com/custom");
	snprintf(l.code, sizeof l.code, "My-Code");
	l.code_kind = CODE_KIND_CUSTOM;
	insert(s, l);
	assert_int_equal(store_code_exists(s, "My-Code", &ex), 0);
	assert_true(ex);
	assert_int_equal(store_code_exists(s, "my-code", &ex), 0); /* case-sensitive */
	assert_false(ex);
	assert_int_equal(store_link_get_by_code(s, "My-Code", &out), 0);
	assert_int_equal(out.id, 10);
	assert_int_equal(out.code_kind, CODE_KIND_CUSTOM);
	sh_link_clear(&out);
	l = mk(11, "https://example.com/other");
	snprintf(l.code, sizeof l.code, "My-Code");
	l.code_kind = CODE_KIND_RANDOM;
	assert_int_equal(store_link_insert(s, &l), SH_ETAKEN);
	assert_int_equal(store_link_get(s, 11, &out), SH_ENOTFOUND);

	/* delete frees the code */
	assert_int_equal(store_link_delete(s, 10), 0);
	assert_int_equal(store_link_delete(s, 10), SH_ENOTFOUND);
	assert_int_equal(store_code_exists(s, "My-Code", &ex), 0);
	assert_false(ex);
	assert_int_equal(store_link_insert(s, &l), 0);
	assert_int_equal(store_link_get_by_code(s, "My-Code", &out), 0);
	assert_int_equal(out.id, 11);
	sh_link_clear(&out);
	store_close(s);
}

static void test_link_update(void **state)
{
	(void)state;
	store *s = open_db("memory:");
	sh_link l = mk(1, "https://example.com/a"), out;
	sh_visit v = {.link_id = 1, .ts = g_now, .kind = VISIT_NORMAL};

	add_tag(&l, "one");
	insert(s, l);
	l = mk(2, "https://example.com/b");
	l.code_kind = CODE_KIND_CUSTOM;
	snprintf(l.code, sizeof l.code, "taken");
	insert(s, l);
	assert_int_equal(store_visits_add(s, &v, 1), 0);

	assert_int_equal(store_link_get(s, 1, &out), 0);
	free(out.url);
	out.url = strdup("https://example.com/new");
	out.title = strdup("New");
	out.max_visits = 10;
	out.disabled = true;
	out.visits = 1000; /* counters are the visit log's, not the caller's */
	out.ntags = 0;
	add_tag(&out, "two");
	add_tag(&out, "three");
	assert_int_equal(store_link_update(s, &out), 0);
	sh_link_clear(&out);

	assert_int_equal(store_link_get(s, 1, &out), 0);
	assert_string_equal(out.url, "https://example.com/new");
	assert_string_equal(out.title, "New");
	assert_int_equal(out.max_visits, 10);
	assert_true(out.disabled);
	assert_int_equal(out.visits, 1);
	assert_int_equal(out.ntags, 2);
	assert_string_equal(out.tags[0], "three");
	assert_string_equal(out.tags[1], "two");

	/* taking another link's stored code */
	out.code_kind = CODE_KIND_CUSTOM;
	snprintf(out.code, sizeof out.code, "taken");
	assert_int_equal(store_link_update(s, &out), SH_ETAKEN);
	/* keeping its own stored code is fine */
	sh_link_clear(&out);
	assert_int_equal(store_link_get(s, 2, &out), 0);
	free(out.title);
	out.title = strdup("b");
	assert_int_equal(store_link_update(s, &out), 0);
	out.id = 99;
	assert_int_equal(store_link_update(s, &out), SH_ENOTFOUND);
	sh_link_clear(&out);
	store_close(s);
}

static void test_find_dup(void **state)
{
	(void)state;
	store *s = open_db("memory:");
	const char *u = "https://example.com/dup";
	sh_link l, out;

	l = mk(1, u);
	insert(s, l);
	l = mk(2, u); /* newer: wins */
	insert(s, l);
	l = mk(3, u);
	l.expires_at = 5;
	insert(s, l);
	l = mk(4, u);
	l.max_visits = 5;
	insert(s, l);
	l = mk(5, u);
	l.disabled = true;
	insert(s, l);
	l = mk(6, u);
	l.code_kind = CODE_KIND_CUSTOM;
	insert(s, l);
	l = mk(7, u);
	l.owner_key_id = 3;
	insert(s, l);
	l = mk(9, u);
	l.code_kind = CODE_KIND_HASH; /* generated too: a dup of another owner */
	snprintf(l.code, sizeof l.code, "h4sh");
	l.owner_key_id = 11;
	insert(s, l);
	l = mk(8, "https://example.com/dup2"); /* other url, same hash */
	l.url_hash = mk(1, u).url_hash;
	insert(s, l);

	assert_int_equal(store_link_find_dup(s, mk(1, u).url_hash, u, 0, &out), 0);
	assert_int_equal(out.id, 2);
	sh_link_clear(&out);
	assert_int_equal(store_link_find_dup(s, mk(1, u).url_hash, u, 3, &out), 0);
	assert_int_equal(out.id, 7);
	sh_link_clear(&out);
	assert_int_equal(store_link_find_dup(s, mk(1, u).url_hash, u, 11, &out), 0);
	assert_int_equal(out.id, 9);
	assert_string_equal(out.code, "h4sh");
	sh_link_clear(&out);
	assert_int_equal(store_link_find_dup(s, mk(1, u).url_hash, u, 12, &out), SH_ENOTFOUND);
	assert_int_equal(store_link_find_dup(s, 12345, u, 0, &out), SH_ENOTFOUND);
	assert_int_equal(store_link_delete(s, 2), 0);
	assert_int_equal(store_link_delete(s, 1), 0);
	assert_int_equal(store_link_find_dup(s, mk(1, u).url_hash, u, 0, &out), SH_ENOTFOUND);
	store_close(s);
}

/* ---- transactions --------------------------------------------------------- */

static void test_txn(void **state)
{
	(void)state;
	store *s = open_db("memory:txn");
	sh_link out;
	int64_t id;

	assert_false(store_in_txn(s));
	assert_int_equal(store_commit(s), SH_EINVAL);
	assert_int_equal(store_rollback(s), 0); /* nothing open: nothing to undo */
	assert_int_equal(store_savepoint(s), SH_EINVAL);

	assert_int_equal(store_begin(s), 0);
	assert_true(store_in_txn(s));
	assert_int_equal(store_begin(s), SH_EINVAL);
	insert(s, mk(1, "https://a/"));
	assert_int_equal(store_commit(s), 0);
	assert_false(store_in_txn(s));

	assert_int_equal(store_begin(s), 0);
	insert(s, mk(2, "https://b/"));
	assert_int_equal(store_meta_set(s, "k", "v"), 0);
	assert_int_equal(store_link_delete(s, 1), 0);
	assert_int_equal(store_rollback(s), 0);
	assert_false(store_in_txn(s));
	assert_int_equal(store_link_get(s, 2, &out), SH_ENOTFOUND);
	assert_int_equal(store_link_get(s, 1, &out), 0);
	sh_link_clear(&out);
	char *v = NULL;
	assert_int_equal(store_meta_get(s, "k", &v), SH_ENOTFOUND);
	assert_int_equal(store_next_id(s, &id), 0);
	assert_int_equal(id, 2);

	/* savepoints: one failed step rolled back alone (group commit) */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_release(s), SH_EINVAL); /* none open */
	assert_int_equal(store_rollback_to(s), SH_EINVAL);
	assert_int_equal(store_savepoint(s), 0);
	insert(s, mk(10, "https://ten/"));
	assert_int_equal(store_release(s), 0);
	assert_int_equal(store_savepoint(s), 0);
	insert(s, mk(11, "https://eleven/"));
	assert_int_equal(store_savepoint(s), 0); /* nested */
	insert(s, mk(12, "https://twelve/"));
	assert_int_equal(store_rollback_to(s), 0); /* undoes 12, keeps the savepoint */
	assert_int_equal(store_link_get(s, 12, &out), SH_ENOTFOUND);
	insert(s, mk(13, "https://thirteen/"));
	assert_int_equal(store_rollback_to(s), 0); /* again: undoes 13 */
	assert_int_equal(store_release(s), 0);
	assert_int_equal(store_rollback_to(s), 0); /* outer: undoes 11 */
	assert_int_equal(store_link_get(s, 11, &out), SH_ENOTFOUND);
	assert_int_equal(store_release(s), 0);
	insert(s, mk(14, "https://fourteen/"));
	assert_int_equal(store_savepoint(s), 0); /* left open: commit drops it */
	assert_int_equal(store_commit(s), 0);
	for (int64_t i = 10; i <= 14; i++) {
		int rc = store_link_get(s, i, &out);
		assert_int_equal(rc, (i == 10 || i == 14) ? 0 : SH_ENOTFOUND);
		sh_link_clear(&out);
	}

	/* closing inside a transaction rolls it back */
	store *t = open_db("memory:txn");
	assert_int_equal(store_begin(t), 0);
	insert(t, mk(20, "https://twenty/"));
	store_close(t);
	assert_int_equal(store_link_get(s, 20, &out), SH_ENOTFOUND);
	store_close(s);
}

static void test_txn_isolation(void **state)
{
	(void)state;
	store_options o;
	store *w = NULL, *r = NULL;
	sh_err err = {0};
	sh_link out;

	store_options_default(&o);
	o.busy_timeout_ms = 20;
	assert_int_equal(store_open(&w, "memory:iso", &o, &err), 0);
	assert_int_equal(store_open(&r, "memory:iso", &o, &err), 0);
	insert(w, mk(1, "https://committed/"));

	assert_int_equal(store_begin(w), 0);
	insert(w, mk(2, "https://uncommitted/"));
	assert_int_equal(store_link_delete(w, 1), 0);
	/* the other handle reads the committed state ... */
	assert_int_equal(store_link_get(r, 2, &out), SH_ENOTFOUND);
	assert_int_equal(store_link_get(r, 1, &out), 0);
	sh_link_clear(&out);
	assert_false(store_in_txn(r));
	/* ... and cannot write until the transaction ends */
	sh_link l = mk(3, "https://blocked/");
	assert_int_equal(store_link_insert(r, &l), SH_EBUSY);
	assert_int_equal(store_begin(r), SH_EBUSY);
	assert_int_equal(store_commit(r), SH_EINVAL);
	assert_int_equal(store_commit(w), 0);
	assert_int_equal(store_link_get(r, 2, &out), 0);
	sh_link_clear(&out);
	assert_int_equal(store_link_get(r, 1, &out), SH_ENOTFOUND);
	assert_int_equal(store_link_insert(r, &l), 0);
	store_close(r);

	/* a read-only connection refuses writes */
	o.read_only = true;
	assert_int_equal(store_open(&r, "memory:iso", &o, &err), 0);
	assert_int_equal(store_link_get(r, 3, &out), 0);
	sh_link_clear(&out);
	l = mk(4, "https://ro/");
	assert_int_equal(store_link_insert(r, &l), SH_ESTORE);
	assert_int_equal(store_begin(r), SH_ESTORE);
	store_close(r);
	store_close(w);
}

/* ---- list ----------------------------------------------------------------- */

struct ids {
	int64_t id[64];
	int n;
	int stop_after;
};

static int collect(const sh_link *l, void *ud)
{
	struct ids *c = ud;
	assert_non_null(l->url);
	c->id[c->n++] = l->id;
	return c->stop_after && c->n >= c->stop_after;
}

static struct ids list(store *s, const sh_list_query *q, int64_t *total)
{
	struct ids c = {.n = 0};
	assert_int_equal(store_link_list(s, q, collect, &c, total), 0);
	return c;
}

#define ASSERT_IDS(c, ...)                                                                         \
	do {                                                                                       \
		int64_t want_[] = {__VA_ARGS__};                                                   \
		int nw_ = (int)(sizeof want_ / sizeof want_[0]);                                   \
		assert_int_equal((c).n, nw_);                                                      \
		for (int i_ = 0; i_ < nw_; i_++)                                                   \
			assert_int_equal((c).id[i_], want_[i_]);                                   \
	} while (0)

static store *list_fixture(void)
{
	store *s = open_db("memory:");
	sh_link l;

	l = mk(1, "https://alpha.example/x");
	l.title = (char *)"Zebra";
	l.created_at = 100;
	add_tag(&l, "red");
	insert(s, l);

	l = mk(2, "https://beta.example/100%");
	l.created_at = 200;
	add_tag(&l, "red");
	add_tag(&l, "blue");
	l.max_visits = 2;
	l.owner_key_id = 7;
	insert(s, l);

	l = mk(3, "https://gamma.example/");
	l.title = (char *)"apple PIE";
	l.created_at = 200; /* tie with 2 */
	l.expires_at = 150;
	add_tag(&l, "blue");
	insert(s, l);

	l = mk(4, "https://delta.example/Under_score");
	l.created_at = 400;
	l.expires_at = 10000;
	l.owner_key_id = 7;
	snprintf(l.code, sizeof l.code, "AAA");
	l.code_kind = CODE_KIND_CUSTOM;
	insert(s, l);

	/* visits: 2 gets 2 (1 bot), 4 gets 3 (0 bots), 1 gets 1 bot */
	sh_visit v[] = {
	    {.link_id = 2, .ts = 1, .kind = VISIT_NORMAL},
	    {.link_id = 2, .ts = 2, .kind = VISIT_BOT},
	    {.link_id = 4, .ts = 3, .kind = VISIT_NORMAL},
	    {.link_id = 4, .ts = 4, .kind = VISIT_NORMAL},
	    {.link_id = 4, .ts = 5, .kind = VISIT_NORMAL},
	    {.link_id = 1, .ts = 6, .kind = VISIT_BOT},
	};
	assert_int_equal(store_visits_add(s, v, sizeof v / sizeof v[0]), 0);
	return s;
}

static void test_list_order(void **state)
{
	(void)state;
	store *s = list_fixture();
	sh_list_query q = {.limit = 50};
	struct ids c;
	int64_t total = -1;

	c = list(s, &q, &total);
	ASSERT_IDS(c, 4, 3, 2, 1); /* created desc, ties by id desc */
	assert_int_equal(total, 4);
	q.order = LIST_CREATED_ASC; /* ties by id asc */
	ASSERT_IDS(list(s, &q, NULL), 1, 2, 3, 4);
	q.order = LIST_CODE_ASC; /* generated codes sort as "" */
	ASSERT_IDS(list(s, &q, NULL), 1, 2, 3, 4);
	q.order = LIST_CODE_DESC;
	ASSERT_IDS(list(s, &q, NULL), 4, 3, 2, 1);
	q.order = LIST_URL_ASC;
	ASSERT_IDS(list(s, &q, NULL), 1, 2, 4, 3);
	q.order = LIST_URL_DESC;
	ASSERT_IDS(list(s, &q, NULL), 3, 4, 2, 1);
	q.order = LIST_TITLE_ASC; /* NULL first, then binary: "Zebra" < "apple" */
	ASSERT_IDS(list(s, &q, NULL), 2, 4, 1, 3);
	q.order = LIST_TITLE_DESC;
	ASSERT_IDS(list(s, &q, NULL), 3, 1, 4, 2);
	q.order = LIST_VISITS_ASC; /* 3:0, 1:1, 2:2, 4:3 */
	ASSERT_IDS(list(s, &q, NULL), 3, 1, 2, 4);
	q.order = LIST_VISITS_DESC;
	ASSERT_IDS(list(s, &q, NULL), 4, 2, 1, 3);
	q.order = LIST_NONBOT_VISITS_ASC; /* 3:0, 1:0, 2:1, 4:3 */
	ASSERT_IDS(list(s, &q, NULL), 1, 3, 2, 4);
	q.order = LIST_NONBOT_VISITS_DESC;
	ASSERT_IDS(list(s, &q, NULL), 4, 2, 3, 1);
	q.order = 99;
	assert_int_equal(store_link_list(s, &q, collect, &c, NULL), SH_EINVAL);
	store_close(s);
}

static void test_list_filters(void **state)
{
	(void)state;
	store *s = list_fixture();
	sh_list_query q = {.limit = 50};
	const char *red[] = {"red"}, *redblue[] = {"red", "blue"}, *none[] = {"nope"};
	int64_t total;

	q.search = "EXAMPLE";
	ASSERT_IDS(list(s, &q, NULL), 4, 3, 2, 1);
	q.search = "100%"; /* literal, not a LIKE wildcard */
	ASSERT_IDS(list(s, &q, NULL), 2);
	q.search = "%";
	ASSERT_IDS(list(s, &q, NULL), 2);
	q.search = "a_p"; /* '_' literal too: LIKE would match "alpha" */
	ASSERT_IDS(list(s, &q, &total));
	assert_int_equal(total, 0);
	q.search = "der_sc";
	ASSERT_IDS(list(s, &q, NULL), 4);
	q.search = "pie"; /* title, case-insensitive */
	ASSERT_IDS(list(s, &q, NULL), 3);
	q.search = "aaa"; /* code */
	ASSERT_IDS(list(s, &q, NULL), 4);
	q.search = "";
	ASSERT_IDS(list(s, &q, NULL), 4, 3, 2, 1);
	q.search = NULL;

	q.tags = red;
	q.ntags = 1;
	ASSERT_IDS(list(s, &q, NULL), 2, 1);
	q.tags = redblue;
	q.ntags = 2;
	ASSERT_IDS(list(s, &q, NULL), 3, 2, 1);
	q.tags_all = true;
	ASSERT_IDS(list(s, &q, NULL), 2);
	q.tags = none;
	q.ntags = 1;
	ASSERT_IDS(list(s, &q, NULL));
	q.tags = NULL;
	q.ntags = 0;
	q.tags_all = false;

	q.start_date = 200;
	ASSERT_IDS(list(s, &q, NULL), 4, 3, 2);
	q.end_date = 200;
	ASSERT_IDS(list(s, &q, NULL), 3, 2);
	q.start_date = 0;
	ASSERT_IDS(list(s, &q, NULL), 3, 2, 1);
	q.end_date = 0;

	q.exclude_max_visits_reached = true; /* 2: max 2, visits 2 */
	ASSERT_IDS(list(s, &q, NULL), 4, 3, 1);
	q.exclude_max_visits_reached = false;
	q.exclude_past_valid_until = true;
	q.now = 150; /* 3 expires at 150: past (<= now) */
	ASSERT_IDS(list(s, &q, NULL), 4, 2, 1);
	q.now = 149;
	ASSERT_IDS(list(s, &q, NULL), 4, 3, 2, 1);
	q.now = 20000;
	ASSERT_IDS(list(s, &q, NULL), 2, 1);
	q.exclude_past_valid_until = false;

	q.owner_key_id = 7;
	ASSERT_IDS(list(s, &q, NULL), 4, 2);
	q.owner_key_id = 0;

	/* combined: owner 7 and tag red */
	q.owner_key_id = 7;
	q.tags = red;
	q.ntags = 1;
	ASSERT_IDS(list(s, &q, &total), 2);
	assert_int_equal(total, 1);
	store_close(s);
}

static void test_list_paging(void **state)
{
	(void)state;
	store *s = open_db("memory:");
	sh_list_query q = {.limit = 3};
	int64_t total = 0;
	struct ids c;

	for (int64_t i = 1; i <= 10; i++) {
		sh_link l = mk(i, "https://page.example/");
		l.created_at = 1000 + i;
		insert(s, l);
	}
	c = list(s, &q, &total);
	ASSERT_IDS(c, 10, 9, 8);
	assert_int_equal(total, 10);
	q.offset = 3;
	ASSERT_IDS(list(s, &q, &total), 7, 6, 5);
	assert_int_equal(total, 10);
	q.offset = 9;
	ASSERT_IDS(list(s, &q, &total), 1);
	q.offset = 50;
	ASSERT_IDS(list(s, &q, &total));
	assert_int_equal(total, 10);
	/* keyset paging */
	q.offset = 0;
	q.before_id = 8;
	ASSERT_IDS(list(s, &q, &total), 7, 6, 5);
	assert_int_equal(total, 7);
	q.before_id = 5;
	ASSERT_IDS(list(s, &q, &total), 4, 3, 2);
	q.before_id = 2;
	ASSERT_IDS(list(s, &q, &total), 1);
	q.before_id = 0;

	/* a callback that stops */
	c = (struct ids){.stop_after = 2};
	q.limit = 10;
	assert_int_equal(store_link_list(s, &q, collect, &c, &total), 0);
	assert_int_equal(c.n, 2);
	/* total only */
	assert_int_equal(store_link_list(s, &q, NULL, NULL, &total), 0);
	assert_int_equal(total, 10);
	store_close(s);
}

static int fail_cb(const sh_link *l, void *ud)
{
	return SH_ENOMEM;
}

/* a callback may call back into the store: the lock is not held */
static int reenter_cb(const sh_link *l, void *ud)
{
	sh_link out;
	int rc = store_link_get(ud, l->id, &out);
	sh_link_clear(&out);
	return rc;
}

static void test_list_callbacks(void **state)
{
	(void)state;
	store *s = open_db("memory:");
	sh_list_query q = {.limit = 10};

	insert(s, mk(1, "https://a/"));
	insert(s, mk(2, "https://b/"));
	assert_int_equal(store_link_list(s, &q, fail_cb, NULL, NULL), SH_ENOMEM);
	assert_int_equal(store_link_list(s, &q, reenter_cb, s, NULL), 0);
	store_close(s);
}

/* ---- visits --------------------------------------------------------------- */

struct vrow {
	int64_t vid[32], link[32], ts[32];
	int kind[32];
	char ref[32][16];
	int n;
};

static int vcollect(const sh_visit *v, int64_t visit_id, void *ud)
{
	struct vrow *r = ud;
	r->vid[r->n] = visit_id;
	r->link[r->n] = v->link_id;
	r->ts[r->n] = v->ts;
	r->kind[r->n] = v->kind;
	snprintf(r->ref[r->n], sizeof r->ref[0], "%s", v->referer ? v->referer : "-");
	r->n++;
	return 0;
}

static struct vrow vlist(store *s, const sh_visit_query *q, int64_t *total)
{
	struct vrow r = {.n = 0};
	assert_int_equal(store_visits_list(s, q, vcollect, &r, total), 0);
	return r;
}

static void test_visits(void **state)
{
	(void)state;
	store *s = open_db("memory:");
	sh_link l, out;
	char longref[SH_VISIT_FIELD_MAX + 100];
	sh_visit_totals lt, ot;
	int64_t total, n;
	struct vrow r;

	l = mk(1, "https://one/");
	add_tag(&l, "t1");
	l.owner_key_id = 5;
	insert(s, l);
	insert(s, mk(2, "https://two/"));

	memset(longref, 'r', sizeof longref - 1);
	longref[sizeof longref - 1] = '\0';
	sh_visit v[] = {
	    {.link_id = 1,
	     .ts = 10,
	     .kind = VISIT_NORMAL,
	     .referer = "ref-a",
	     .user_agent = "UA",
	     .visited_url = "http://s/c1",
	     .ip = "10.0.0.0"},
	    {.link_id = 1, .ts = 20, .kind = VISIT_BOT, .referer = longref},
	    {.link_id = 1, .ts = 30, .kind = VISIT_HEAD},
	    {.link_id = 2, .ts = 15, .kind = VISIT_NORMAL},
	    {.link_id = 99, .ts = 16, .kind = VISIT_NORMAL}, /* no such link: dropped */
	    {.link_id = 0,
	     .ts = 17,
	     .kind = VISIT_NORMAL,
	     .orphan_type = ORPHAN_INVALID_SHORT_URL,
	     .visited_url = "http://s/nope"},
	    {.link_id = 0, .ts = 18, .kind = VISIT_BOT, .orphan_type = ORPHAN_BASE_URL},
	    {.link_id = 0, .ts = 19, .kind = VISIT_HEAD, .orphan_type = ORPHAN_REGULAR_404},
	};
	assert_int_equal(store_visits_add(s, v, sizeof v / sizeof v[0]), 0);
	assert_int_equal(store_visits_add(s, NULL, 0), 0);

	assert_int_equal(store_link_get(s, 1, &out), 0);
	assert_int_equal(out.visits, 2); /* HEAD not counted */
	assert_int_equal(out.bot_visits, 1);
	sh_link_clear(&out);

	/* one link's visits, newest first */
	sh_visit_query q = {.link_id = 1, .orphan = 0};
	r = vlist(s, &q, &total);
	assert_int_equal(r.n, 3);
	assert_int_equal(total, 3);
	assert_int_equal(r.ts[0], 30);
	assert_int_equal(r.ts[2], 10);
	assert_string_equal(r.ref[2], "ref-a");
	assert_true(r.vid[0] > r.vid[1] && r.vid[1] > r.vid[2]);
	q.exclude_bots = true;
	r = vlist(s, &q, &total);
	assert_int_equal(total, 2);
	q.exclude_bots = false;
	q.start_date = 15;
	q.end_date = 20;
	r = vlist(s, &q, &total);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ts[0], 20);
	q = (sh_visit_query){.link_id = 1, .limit = 1, .offset = 1};
	r = vlist(s, &q, &total);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ts[0], 20);
	assert_int_equal(total, 3);

	/* non-orphan, orphan, both */
	q = (sh_visit_query){.orphan = 0};
	vlist(s, &q, &total);
	assert_int_equal(total, 4);
	q.orphan = 1;
	r = vlist(s, &q, &total);
	assert_int_equal(total, 3);
	assert_int_equal(r.ts[0], 19);
	assert_int_equal(r.link[0], 0);
	q.orphan_type = ORPHAN_INVALID_SHORT_URL;
	vlist(s, &q, &total);
	assert_int_equal(total, 1);
	q = (sh_visit_query){.orphan = -1};
	r = vlist(s, &q, &total);
	assert_int_equal(total, 7);
	assert_int_equal(r.ts[0], 19); /* newest = last added */
	assert_int_equal(r.ts[6], 10);
	/* by tag, by owner */
	q = (sh_visit_query){.tag = "t1", .orphan = 0};
	vlist(s, &q, &total);
	assert_int_equal(total, 3);
	q = (sh_visit_query){.owner_key_id = 5, .orphan = -1};
	vlist(s, &q, &total);
	assert_int_equal(total, 3);
	q = (sh_visit_query){.owner_key_id = 6, .orphan = -1};
	vlist(s, &q, &total);
	assert_int_equal(total, 0);

	/* totals: HEAD excluded; an owner sees its links, no orphans */
	assert_int_equal(store_visits_totals(s, 0, &lt, &ot), 0);
	assert_int_equal(lt.total, 3);
	assert_int_equal(lt.bots, 1);
	assert_int_equal(ot.total, 2);
	assert_int_equal(ot.bots, 1);
	assert_int_equal(store_visits_totals(s, 5, &lt, &ot), 0);
	assert_int_equal(lt.total, 2);
	assert_int_equal(lt.bots, 1);
	assert_int_equal(ot.total, 0);
	assert_int_equal(store_visits_totals(s, 0, NULL, &ot), 0);

	/* delete a link's visits: rows and counters */
	assert_int_equal(store_visits_delete(s, 1, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_link_get(s, 1, &out), 0);
	assert_int_equal(out.visits, 0);
	assert_int_equal(out.bot_visits, 0);
	sh_link_clear(&out);
	assert_int_equal(store_visits_delete(s, 0, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_visits_delete(s, 0, NULL), 0);
	q = (sh_visit_query){.orphan = -1};
	vlist(s, &q, &total);
	assert_int_equal(total, 1);
	/* deleting a link takes its visits along */
	assert_int_equal(store_link_delete(s, 2), 0);
	vlist(s, &q, &total);
	assert_int_equal(total, 0);
	/* and later visits of it are dropped */
	sh_visit late = {.link_id = 2, .ts = 50};
	assert_int_equal(store_visits_add(s, &late, 1), 0);
	vlist(s, &q, &total);
	assert_int_equal(total, 0);
	/* link_id < 0 is an orphan visit; an unknown kind fails the batch */
	sh_visit odd[] = {{.link_id = -1, .ts = 60, .orphan_type = ORPHAN_REGULAR_404},
	                  {.link_id = 1, .ts = 61, .kind = 7}};
	assert_int_equal(store_visits_add(s, odd, 2), SH_EINVAL);
	vlist(s, &q, &total);
	assert_int_equal(total, 0);
	assert_int_equal(store_visits_add(s, odd, 1), 0);
	q.orphan = 1;
	r = vlist(s, &q, &total);
	assert_int_equal(total, 1);
	assert_int_equal(r.link[0], 0);
	store_close(s);
}

static int ref_len_cb(const sh_visit *v, int64_t id, void *ud)
{
	*(size_t *)ud = v->referer ? strlen(v->referer) : 0;
	return 0;
}

static void test_visit_truncation(void **state)
{
	(void)state;
	store *s = open_db("memory:");
	char big[SH_VISIT_FIELD_MAX * 2];
	size_t len = 0;
	sh_visit_query q = {.orphan = -1};

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	insert(s, mk(1, "https://one/"));
	sh_visit v = {.link_id = 1, .ts = 1, .referer = big};
	assert_int_equal(store_visits_add(s, &v, 1), 0);
	assert_int_equal(store_visits_list(s, &q, ref_len_cb, &len, NULL), 0);
	assert_int_equal(len, SH_VISIT_FIELD_MAX);
	store_close(s);
}

/* ---- tags ----------------------------------------------------------------- */

struct tagrows {
	sh_tag_stats t[16];
	int n;
};

/* Every tag, unpaged (the old shape of the call). */
static int tags_all(store *s, int64_t owner, const char *search, sh_tag_cb cb, void *ud)
{
	sh_tag_query q = {.owner_key_id = owner, .search = search};

	return store_tags_stats(s, &q, cb, ud, NULL);
}

static int tcollect(const sh_tag_stats *t, void *ud)
{
	struct tagrows *r = ud;
	r->t[r->n++] = *t;
	return 0;
}

static void test_tags(void **state)
{
	(void)state;
	store *s = list_fixture(); /* 1:red  2:red,blue (owner 7)  3:blue */
	struct tagrows r = {.n = 0};
	sh_link out;

	assert_int_equal(tags_all(s, 0, NULL, tcollect, &r), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.t[0].tag, "blue");
	assert_int_equal(r.t[0].links, 2);
	assert_int_equal(r.t[0].visits, 2);
	assert_int_equal(r.t[0].bot_visits, 1);
	assert_string_equal(r.t[1].tag, "red");
	assert_int_equal(r.t[1].links, 2);
	assert_int_equal(r.t[1].visits, 3);
	assert_int_equal(r.t[1].bot_visits, 2);

	r.n = 0;
	assert_int_equal(tags_all(s, 0, "RE", tcollect, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.t[0].tag, "red");
	r.n = 0;
	assert_int_equal(tags_all(s, 7, NULL, tcollect, &r), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.t[0].links, 1);
	assert_int_equal(r.t[1].links, 1);

	assert_int_equal(store_tag_rename(s, "nope", "x"), SH_ENOTFOUND);
	assert_int_equal(store_tag_rename(s, "red", "blue"), SH_ETAKEN);
	assert_int_equal(store_tag_rename(s, "red", "red"), 0);
	assert_int_equal(store_tag_rename(s, "red", "aaa"), 0);
	assert_int_equal(store_link_get(s, 2, &out), 0);
	assert_int_equal(out.ntags, 2);
	assert_string_equal(out.tags[0], "aaa"); /* still sorted */
	assert_string_equal(out.tags[1], "blue");
	sh_link_clear(&out);

	assert_int_equal(store_tag_delete(s, "red"), SH_ENOTFOUND);
	assert_int_equal(store_tag_delete(s, "aaa"), 0);
	assert_int_equal(store_link_get(s, 2, &out), 0);
	assert_int_equal(out.ntags, 1);
	assert_string_equal(out.tags[0], "blue");
	sh_link_clear(&out);
	r.n = 0;
	assert_int_equal(tags_all(s, 0, NULL, tcollect, &r), 0);
	assert_int_equal(r.n, 1);
	store_close(s);
}

/* ---- keys ----------------------------------------------------------------- */

static int kcollect(const sh_api_key *k, void *ud)
{
	struct ids *c = ud;
	c->id[c->n++] = k->id;
	return 0;
}

static void test_keys(void **state)
{
	(void)state;
	store *s = open_db("memory:");
	sh_api_key k, out;
	int64_t n = -1;
	struct ids c = {.n = 0};

	assert_int_equal(store_key_count(s, &n), 0);
	assert_int_equal(n, 0);
	for (int i = 0; i < 3; i++) {
		memset(&k, 0, sizeof k);
		snprintf(k.name, sizeof k.name, "key%d", i);
		k.role = i;
		memset(k.hash, 'a' + i, sizeof k.hash);
		snprintf(k.prefix, sizeof k.prefix, "pfx%d", i);
		k.created_at = 100 + i;
		assert_int_equal(store_key_insert(s, &k), 0);
		assert_int_equal(k.id, i + 1);
	}
	assert_int_equal(store_key_insert(s, &k), SH_ETAKEN); /* same hash */
	assert_int_equal(store_key_count(s, &n), 0);
	assert_int_equal(n, 3);

	uint8_t h[SH_KEY_HASH_BYTES];
	memset(h, 'b', sizeof h);
	assert_int_equal(store_key_get_by_hash(s, h, &out), 0);
	assert_int_equal(out.id, 2);
	assert_string_equal(out.name, "key1");
	assert_string_equal(out.prefix, "pfx1");
	assert_int_equal(out.role, KEY_AUTHOR);
	assert_int_equal(out.revoked_at, 0);

	assert_int_equal(store_key_revoke(s, 2, 500), 0);
	assert_int_equal(store_key_revoke(s, 42, 500), SH_ENOTFOUND);
	assert_int_equal(store_key_get_by_hash(s, h, &out), 0); /* still found */
	assert_int_equal(out.revoked_at, 500);
	assert_int_equal(store_key_count(s, &n), 0);
	assert_int_equal(n, 2);
	memset(h, 'z', sizeof h);
	assert_int_equal(store_key_get_by_hash(s, h, &out), SH_ENOTFOUND);

	assert_int_equal(store_key_list(s, kcollect, &c), 0);
	ASSERT_IDS(c, 1, 2, 3);
	store_close(s);
}

/* ---- threads -------------------------------------------------------------- */

#define TH_N 6
#define TH_LINKS 300

struct th_arg {
	int idx;
	int failures;
};

static void *th_main(void *p)
{
	struct th_arg *a = p;
	store *s = NULL;
	sh_err err = {0};
	store_options o;

	store_options_default(&o);
	if (store_open(&s, "memory:threads", &o, &err)) {
		a->failures++;
		return NULL;
	}
	for (int i = 0; i < TH_LINKS; i++) {
		int64_t id = (int64_t)a->idx * 100000 + i + 1;
		sh_link l = mk(id, "https://thread.example/");
		sh_visit v = {.link_id = id, .ts = i};
		sh_link out;

		if (i % 3 == 0) {
			/* a transaction with a failed step rolled back alone */
			if (store_begin(s) || store_link_insert(s, &l) || store_savepoint(s) ||
			    store_link_insert(s, &l) != SH_ETAKEN || store_rollback_to(s) ||
			    store_release(s) || store_visits_add(s, &v, 1) || store_commit(s))
				a->failures++;
		} else {
			if (store_link_insert(s, &l) || store_visits_add(s, &v, 1))
				a->failures++;
		}
		if (store_link_get(s, id, &out) || out.visits != 1)
			a->failures++;
		sh_link_clear(&out);
	}
	store_close(s);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	store *keep = open_db("memory:threads");
	pthread_t th[TH_N];
	struct th_arg args[TH_N];
	sh_list_query q = {.limit = 1};
	sh_visit_totals lt;
	int64_t total = 0;

	for (int i = 0; i < TH_N; i++) {
		args[i] = (struct th_arg){.idx = i};
		assert_int_equal(pthread_create(&th[i], NULL, th_main, &args[i]), 0);
	}
	for (int i = 0; i < TH_N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	assert_int_equal(store_link_list(keep, &q, NULL, NULL, &total), 0);
	assert_int_equal(total, TH_N * TH_LINKS);
	assert_int_equal(store_visits_totals(keep, 0, &lt, NULL), 0);
	assert_int_equal(lt.total, TH_N * TH_LINKS);
	store_close(keep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_schema), cmocka_unit_test(test_private_and_shared),
	    cmocka_unit_test(test_meta),        cmocka_unit_test(test_link_crud),
	    cmocka_unit_test(test_link_update), cmocka_unit_test(test_find_dup),
	    cmocka_unit_test(test_txn),         cmocka_unit_test(test_txn_isolation),
	    cmocka_unit_test(test_list_order),  cmocka_unit_test(test_list_filters),
	    cmocka_unit_test(test_list_paging), cmocka_unit_test(test_list_callbacks),
	    cmocka_unit_test(test_visits),      cmocka_unit_test(test_visit_truncation),
	    cmocka_unit_test(test_tags),        cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

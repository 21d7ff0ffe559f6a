/*
 * test_writer.c — unit tests of the service's writer (service/writer.c)
 * over a real SQLite file in a temporary directory, with a second, read-only
 * connection standing for an HTTP worker: a group of N units is one
 * transaction (no savepoint on the way), a failing unit (even one that wrote
 * half of itself) costs nothing to the others of its group, the cache
 * entries the group changed are forgotten after its commit, a failed commit
 * fails every unit of its group, and the thread: submitted units complete
 * through their callback, visit buffers are flushed at stop, nothing is
 * taken after it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shorty/service.h"
#include "shorty/store.h"
#include "../pgtest.h"

#define N 40

typedef struct fx {
	sh_config cfg;
	store *ws, *rs; /* the writer's connection, a reader's */
	svc *v;
	svc_writer *w;
	svc_target *t;
	char dir[64];
	char schema[64]; /* PostgreSQL: the test's schema */
} fx;

/* on SQLite (a file) or, with pg, on PostgreSQL (a fresh schema) */
static int setup_on(void **state, bool pg)
{
	fx *f = calloc(1, sizeof *f);
	char url[320];
	store_options o;
	sh_err err = {0};

	assert_non_null(f);
	if (pg) {
		assert_true(pgtest_open_schema("wr", f->schema, url, sizeof url));
	} else {
		snprintf(f->dir, sizeof f->dir, "/tmp/shorty-writer-XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		snprintf(url, sizeof url, "sqlite:%s/t.db", f->dir);
	}
	f->cfg.base_url = (char *)"http://localhost:8000";
	f->cfg.cache_entries = 1000;
	f->cfg.code_length = 6;
	f->cfg.code_strategy = CODE_COUNTER;
	f->cfg.redirect_status = 302;
	f->cfg.max_url_length = 8192;
	f->cfg.allowed_schemes = (char *)"http,https";
	store_options_default(&o);
	o.create = true;
	assert_int_equal(store_open(&f->ws, url, &o, &err), 0);
	assert_int_equal(store_migrate(f->ws, &err), 0);
	o.create = false;
	o.read_only = true;
	assert_int_equal(store_open(&f->rs, url, &o, &err), 0);
	assert_int_equal(svc_open(&f->v, &f->cfg, f->ws, &err), 0);
	assert_int_equal(svc_writer_create(&f->w, f->v, f->ws, NULL, NULL, &err), 0);
	f->t = malloc(svc_target_size(f->v));
	assert_non_null(f->t);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_on(state, false);
}

static int setup_pg(void **state)
{
	return setup_on(state, true);
}

static int teardown(void **state)
{
	fx *f = *state;
	const char *sfx[] = {"", "-wal", "-shm", "-journal"};
	char path[128];

	store_fault_clear();
	svc_writer_free(f->w);
	svc_close(f->v);
	store_close(f->rs);
	store_close(f->ws);
	if (f->schema[0])
		pgtest_drop_schema(f->schema);
	for (size_t i = 0; f->dir[0] && i < 4; i++) {
		snprintf(path, sizeof path, "%s/t.db%s", f->dir, sfx[i]);
		unlink(path);
	}
	if (f->dir[0])
		rmdir(f->dir);
	free(f->t);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

/* Links as a reader sees them (committed only). */
static int64_t committed_links(fx *f)
{
	sh_list_query q;
	int64_t total = -1;

	memset(&q, 0, sizeof q);
	q.limit = 1;
	assert_int_equal(store_link_list(f->rs, &q, NULL, NULL, &total), 0);
	return total;
}

static void create_unit(svc_unit *u, const char *url)
{
	svc_unit_init(u, SVC_UNIT_CREATE);
	u->create.url = url;
	u->create.now = 1700000000;
}

/* The URL a redirect of code would go to now, through the cache. */
static const char *resolved(fx *f, const char *code)
{
	assert_int_equal(svc_resolve(f->v, f->rs, code, strlen(code), f->t, 1700000001), 0);
	return f->t->url;
}

struct seen {
	fx *f;
	int64_t links_seen; /* committed links a reader saw from inside the group */
	bool in_txn;
	int calls;
};

static int look_from_inside(svc *v, store *ws, void *ud, sh_err *err)
{
	struct seen *s = ud;

	(void)v;
	(void)err;
	s->calls++;
	s->in_txn = store_in_txn(ws);
	s->links_seen = committed_links(s->f);
	return 0;
}

/* A unit that writes a link, then fails: the writer must undo its half. */
static int half_then_fail(svc *v, store *ws, void *ud, sh_err *err)
{
	svc_create_req r;
	sh_link l = {0};

	svc_create_req_init(&r);
	r.url = ud;
	r.now = 1700000000;
	assert_int_equal(svc_shorten(v, ws, &r, &l, NULL, err), 0);
	sh_link_clear(&l);
	return SH_EINVAL;
}

static void count_done(svc_unit *u, void *ud)
{
	(void)u;
	(*(int *)ud)++;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_group_commit(void **state)
{
	fx *f = *state;
	svc_unit u[N + 1], *up[N + 1];
	char urls[N][64];
	struct seen seen = {f, -1, false, 0};
	int done = 0;
	uint64_t created0 = svc_links_created(f->v);

	for (int i = 0; i < N; i++) {
		snprintf(urls[i], sizeof urls[i], "https://example.com/g/%d", i);
		create_unit(&u[i], urls[i]);
		u[i].done = count_done;
		u[i].done_ud = &done;
		up[i] = &u[i];
	}
	svc_unit_init(&u[N], SVC_UNIT_CALL);
	u[N].call = look_from_inside;
	u[N].call_ud = &seen;
	up[N] = &u[N];
	/* the common path takes no savepoint: one armed for ever changes nothing */
	store_fault_set("savepoint", 0, -1, SH_ESTORE);
	assert_int_equal(svc_writer_run(f->w, up, N + 1), 0);
	store_fault_clear();

	/* the last unit ran inside the one transaction: nothing committed yet */
	assert_int_equal(seen.calls, 1);
	assert_true(seen.in_txn);
	assert_int_equal(seen.links_seen, 0);
	/* then one commit made all of them visible */
	assert_int_equal(committed_links(f), N);
	assert_false(store_in_txn(f->ws));
	assert_int_equal(done, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(u[i].rc, 0);
		assert_false(u[i].existed);
		assert_string_equal(u[i].link.url, urls[i]);
		assert_string_equal(resolved(f, u[i].link.code), urls[i]);
		svc_unit_clear(&u[i]);
	}
	assert_int_equal(svc_links_created(f->v) - created0, N);
}

static void test_failing_unit_costs_only_itself(void **state)
{
	fx *f = *state;
	svc_unit u[6], *up[6];

	create_unit(&u[0], "https://example.com/a");
	svc_unit_init(&u[1], SVC_UNIT_CALL); /* writes half, then fails */
	u[1].call = half_then_fail;
	u[1].call_ud = (void *)"https://example.com/half";
	create_unit(&u[2], "https://example.com/b");
	create_unit(&u[3], "not a url"); /* fails again in the replay's savepoints */
	create_unit(&u[4], "https://example.com/c");
	svc_unit_init(&u[5], SVC_UNIT_CALL); /* fails in the replay: only itself */
	u[5].call = half_then_fail;
	u[5].call_ud = (void *)"https://example.com/half2";
	for (int i = 0; i < 6; i++)
		up[i] = &u[i];

	assert_int_equal(svc_writer_run(f->w, up, 6), SH_EINVAL);
	assert_int_equal(u[0].rc, 0);
	assert_int_equal(u[1].rc, SH_EINVAL);
	assert_int_equal(u[2].rc, 0);
	assert_int_equal(u[3].rc, SH_EINVAL);
	assert_string_equal(u[3].err.field, "url");
	assert_int_equal(u[4].rc, 0);
	assert_int_equal(u[5].rc, SH_EINVAL);
	assert_false(store_in_txn(f->ws));

	/* the three good ones, whole; nothing of the failed ones */
	assert_int_equal(committed_links(f), 3);
	assert_string_equal(resolved(f, u[0].link.code), "https://example.com/a");
	assert_string_equal(resolved(f, u[2].link.code), "https://example.com/b");
	assert_string_equal(resolved(f, u[4].link.code), "https://example.com/c");
	/* the replay gave the good ones the ids a group without the failed
	 * units gives: consecutive */
	assert_int_equal(u[2].link.id, u[0].link.id + 1);
	assert_int_equal(u[4].link.id, u[2].link.id + 1);
	for (int i = 0; i < 6; i++)
		svc_unit_clear(&u[i]);
}

struct peek {
	fx *f;
	const char *code;
	const char *url; /* what a reader resolved from inside the group */
};

static int resolve_from_inside(svc *v, store *ws, void *ud, sh_err *err)
{
	struct peek *p = ud;

	(void)v;
	(void)ws;
	(void)err;
	p->url = resolved(p->f, p->code); /* caches the committed (old) state */
	return 0;
}

static void test_cache_forgotten_after_commit(void **state)
{
	fx *f = *state;
	svc_unit c, u[2], *up[2], *cp = &c;
	struct peek p = {f, NULL, NULL};
	char code[CODE_MAX + 1];

	create_unit(&c, "https://example.com/old");
	assert_int_equal(svc_writer_run(f->w, &cp, 1), 0);
	snprintf(code, sizeof code, "%s", c.link.code);
	svc_unit_clear(&c);
	assert_string_equal(resolved(f, code), "https://example.com/old");

	/* an update, and a reader that caches the link between the update and
	 * the commit (as an HTTP worker may) */
	svc_unit_init(&u[0], SVC_UNIT_UPDATE);
	snprintf(u[0].code, sizeof u[0].code, "%s", code);
	u[0].update.has_url = true;
	u[0].update.url = "https://example.com/new";
	svc_unit_init(&u[1], SVC_UNIT_CALL);
	u[1].call = resolve_from_inside;
	u[1].call_ud = &p;
	p.code = code;
	up[0] = &u[0];
	up[1] = &u[1];
	assert_int_equal(svc_writer_run(f->w, up, 2), 0);
	assert_string_equal(p.url, "https://example.com/old");
	assert_string_equal(u[0].link.url, "https://example.com/new");
	/* the stale entry went with the commit */
	assert_string_equal(resolved(f, code), "https://example.com/new");
	svc_unit_clear(&u[0]);

	/* a delete: the code answers "not found" at once */
	svc_unit_init(&u[0], SVC_UNIT_DELETE);
	snprintf(u[0].code, sizeof u[0].code, "%s", code);
	up[0] = &u[0];
	assert_int_equal(svc_writer_run(f->w, up, 2), 0);
	assert_string_equal(p.url, "https://example.com/new");
	assert_int_equal(svc_resolve(f->v, f->rs, code, strlen(code), f->t, 1700000001),
	                 SH_ENOTFOUND);
}

static void test_failed_commit_fails_the_group(void **state)
{
	fx *f = *state;
	svc_unit u[3], *up[3];
	int done = 0;
	uint64_t created0 = svc_links_created(f->v);

	create_unit(&u[0], "https://example.com/x");
	create_unit(&u[1], "https://example.com/y");
	svc_unit_init(&u[2], SVC_UNIT_KEY_CREATE);
	u[2].key_name = "k";
	u[2].key_role = KEY_ADMIN;
	for (int i = 0; i < 3; i++) {
		u[i].done = count_done;
		u[i].done_ud = &done;
		up[i] = &u[i];
	}
	store_fault_set("commit", 0, 1, SH_EBUSY);
	assert_int_equal(svc_writer_run(f->w, up, 3), SH_EBUSY);
	assert_int_equal(done, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(u[i].rc, SH_EBUSY);
	assert_false(store_in_txn(f->ws));
	assert_int_equal(committed_links(f), 0);
	assert_int_equal(svc_links_created(f->v), created0);

	/* and the next group works */
	for (int i = 0; i < 3; i++)
		svc_unit_clear(&u[i]);
	create_unit(&u[0], "https://example.com/x");
	assert_int_equal(svc_writer_run(f->w, up, 1), 0);
	assert_int_equal(committed_links(f), 1);
	svc_unit_clear(&u[0]);
}

/* ---- the thread ---------------------------------------------------------------- */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

static void signal_done(svc_unit *u, void *ud)
{
	struct waiter *wt = ud;

	(void)u;
	pthread_mutex_lock(&wt->mu);
	wt->done++;
	pthread_cond_signal(&wt->cv);
	pthread_mutex_unlock(&wt->mu);
}

static void test_thread(void **state)
{
	fx *f = *state;
	svc_unit u[N];
	char urls[N][64];
	struct waiter wt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	sh_err err = {0};
	visitbuf *vb;
	sh_visit vis;
	sh_link l;

	assert_int_equal(svc_writer_submit(f->w, &u[0]), SH_EBUSY); /* not started */
	vb = svc_writer_visitbuf(f->w);
	assert_non_null(vb);
	assert_int_equal(svc_writer_start(f->w, &err), 0);
	for (int i = 0; i < N; i++) {
		snprintf(urls[i], sizeof urls[i], "https://example.com/t/%d", i);
		create_unit(&u[i], urls[i]);
		u[i].done = signal_done;
		u[i].done_ud = &wt;
		assert_int_equal(svc_writer_submit(f->w, &u[i]), 0);
	}
	pthread_mutex_lock(&wt.mu);
	while (wt.done < N)
		pthread_cond_wait(&wt.cv, &wt.mu);
	pthread_mutex_unlock(&wt.mu);
	for (int i = 0; i < N; i++)
		assert_int_equal(u[i].rc, 0);
	assert_int_equal(committed_links(f), N);

	/* a visit recorded in the buffer is in the store after the stop */
	memset(&vis, 0, sizeof vis);
	vis.link_id = u[0].link.id;
	vis.ts = 1700000002;
	assert_int_equal(visitbuf_add(vb, &vis), 0);
	svc_writer_stop(f->w);
	assert_int_equal(visitbuf_pending(vb), 0);
	memset(&l, 0, sizeof l);
	assert_int_equal(svc_get(f->v, f->rs, u[0].link.code, 0, &l), 0);
	assert_int_equal(l.visits, 1);
	sh_link_clear(&l);
	/* stopped: nothing more is taken */
	assert_int_equal(svc_writer_submit(f->w, &u[1]), SH_EBUSY);
	for (int i = 0; i < N; i++)
		svc_unit_clear(&u[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failing_unit_costs_only_itself, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_forgotten_after_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_commit_fails_the_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_thread, setup, teardown),
	};
	/* the same writer on PostgreSQL */
	const struct CMUnitTest pg_tests[] = {
	    cmocka_unit_test_setup_teardown(test_group_commit, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_failing_unit_costs_only_itself, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_forgotten_after_commit, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_commit_fails_the_group, setup_pg, teardown),
	    cmocka_unit_test_setup_teardown(test_thread, setup_pg, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	if (!pgtest_required())
		return failed + 1;
	return failed + cmocka_run_group_tests(pg_tests, NULL, NULL);
}

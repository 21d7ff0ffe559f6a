/*
 * test_alloc_fail.c — allocation failure at the Nth allocation (SQLite's OOM
 * tests; F10 of research/reliability-security.md §6).
 *
 * Every allocation goes through one counting allocator that fails the Nth
 * call, in two modes as SQLite runs them: once (the N-th call fails, later
 * ones succeed) and persistently (the N-th and every later call fail):
 *   - shorty's own code: linked with -Wl,--wrap=malloc,calloc,realloc,
 *     strdup,strndup (tests/faults/faults.cmake), so the static layer
 *     libraries call __wrap_malloc and friends below;
 *   - SQLite: sqlite3_config(SQLITE_CONFIG_MALLOC) with the same counter;
 *   - jansson: json_set_alloc_funcs.
 * For N = 1, 2, ... until the operation completes without meeting the
 * failure, each operation must end in 0 or an error code (no crash), leak
 * nothing (LeakSanitizer, at exit), and leave no half-written link: the
 * store holds 0 or 1 link and, when 1, it is complete (its code resolves to
 * its URL); a retry with no failure then works.
 *
 * Operations: svc_shorten (counter and random codes, dedupe on) on a real
 * SQLite file and on memory:; a redirect (svc_resolve, then the visit
 * buffered and flushed) on both.
 *
 * The HTTP layer (libmicrohttpd, a shared library, in the server process) is
 * not covered here; see docs/reliability.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "shorty/service.h"
#include "shorty/store.h"
#include "failalloc.h"

/* the counting allocator: tests/faults/failalloc.c */

/* ---- fixture ---------------------------------------------------------------- */

typedef struct fx {
	sh_config cfg;
	store *s;
	svc *v;
	svc_target *t;
	char dir[64];
	char url[128];
} fx;

static void cfg_defaults(sh_config *c, int strategy)
{
	memset(c, 0, sizeof *c);
	c->base_url = (char *)"http://localhost:8000";
	c->cache_entries = 1000;
	c->code_length = 6;
	c->code_strategy = strategy;
	c->redirect_status = 302;
	c->max_url_length = 8192;
	c->allowed_schemes = (char *)"http,https";
}

/* A fresh store (sqlite file or memory) and service, opened with no fault. */
static void fx_open(fx *f, int sqlite, int strategy)
{
	store_options o;
	sh_err err = {0};
	static int seq;

	memset(f, 0, sizeof *f);
	cfg_defaults(&f->cfg, strategy);
	if (sqlite) {
		snprintf(f->dir, sizeof f->dir, "/tmp/shorty-oom-XXXXXX");
		assert_non_null(mkdtemp(f->dir));
		snprintf(f->url, sizeof f->url, "sqlite:%s/t.db", f->dir);
	} else {
		snprintf(f->url, sizeof f->url, "memory:oom%d", seq++);
	}
	store_options_default(&o);
	o.create = true;
	o.synchronous = "off"; /* thousands of fresh stores: no fsync wanted here */
	if (store_open(&f->s, f->url, &o, &err) || store_migrate(f->s, &err))
		fail_msg("store %s: %s", f->url, err.msg);
	if (svc_open(&f->v, &f->cfg, f->s, &err))
		fail_msg("svc_open: %s", err.msg);
	f->t = malloc(svc_target_size(f->v));
	assert_non_null(f->t);
}

static void fx_close(fx *f)
{
	char path[128];
	const char *sfx[] = {"", "-wal", "-shm", "-journal"};

	failalloc_disarm();
	svc_close(f->v);
	free(f->t);
	store_close(f->s);
	if (f->dir[0]) {
		for (size_t i = 0; i < 4; i++) {
			snprintf(path, sizeof path, "%s/t.db%s", f->dir, sfx[i]);
			unlink(path);
		}
		rmdir(f->dir);
	}
}

/* Every stored link: count, and the last one's code and URL. */
struct scan {
	int n;
	char code[CODE_MAX + 1];
	char url[256];
};

static int scan_cb(const sh_link *l, void *ud)
{
	struct scan *sc = ud;

	sc->n++;
	snprintf(sc->code, sizeof sc->code, "%s", l->code);
	snprintf(sc->url, sizeof sc->url, "%s", l->url ? l->url : "");
	return 0;
}

static struct scan stored(fx *f)
{
	struct scan sc = {0};
	sh_list_query q = {0};

	q.limit = 100;
	assert_int_equal(svc_list(f->v, f->s, NULL, &q, scan_cb, &sc, NULL), 0); /* fills counter codes */
	return sc;
}

/* The link (when stored) is whole: its code resolves to its URL. */
static void assert_whole(fx *f, const struct scan *sc, const char *url)
{
	int rc;

	assert_string_equal(sc->url, url);
	rc = svc_resolve(f->v, f->s, sc->code, strlen(sc->code), f->t, 1700000000);
	assert_int_equal(rc, 0);
	assert_int_equal(f->t->gone, SH_GONE_NONE);
	assert_int_equal(f->t->url_len, strlen(url));
	assert_memory_equal(f->t->url, url, strlen(url));
}

static int do_shorten(fx *f, const char *url, sh_link *out)
{
	svc_create_req req;
	bool existed = false;
	sh_err err = {0};

	svc_create_req_init(&req);
	req.url = url;
	req.now = 1700000000;
	memset(out, 0, sizeof *out);
	return svc_shorten(f->v, f->s, &req, out, &existed, &err);
}

/* ---- create ------------------------------------------------------------------ */

static void oom_create(int sqlite, int strategy, int pers)
{
	const char *url = "https://oom.example/path?q=1";
	long n, errors = 0;

	for (n = 1;; n++) {
		fx f;
		sh_link l;
		struct scan sc;
		int rc;

		fx_open(&f, sqlite, strategy);
		store_fault_clear();
		failalloc_arm(n, pers);
		rc = do_shorten(&f, url, &l);
		failalloc_disarm();
		long failed = failalloc_failed();
		sh_link_clear(&l);
		if (rc == 0 && failed == 0) { /* ran to the end without meeting it */
			sc = stored(&f);
			assert_int_equal(sc.n, 1);
			assert_whole(&f, &sc, url);
			fx_close(&f);
			break;
		}
		if (rc != 0) {
			errors++;
			/* an allocation failure is ENOMEM (or the store's error) */
			if (rc != SH_ENOMEM && rc != SH_ESTORE)
				fail_msg("N=%ld: svc_shorten returned %d (%s)", n, rc, sh_strerror(rc));
		}
		sc = stored(&f);
		if (sc.n > 1)
			fail_msg("N=%ld: %d links stored for one create", n, sc.n);
		if (rc == 0 && sc.n != 1)
			fail_msg("N=%ld: create reported success but stored nothing", n);
		if (sc.n == 1)
			assert_whole(&f, &sc, url);
		/* a retry with no failure works (and dedupes onto a stored one) */
		rc = do_shorten(&f, url, &l);
		if (rc)
			fail_msg("N=%ld: retry after the fault failed: %d", n, rc);
		sh_link_clear(&l);
		sc = stored(&f);
		assert_int_equal(sc.n, 1);
		assert_whole(&f, &sc, url);
		fx_close(&f);
		if (n > 100000)
			fail_msg("no end in sight");
	}
	print_message("create %s %s %s: N = 1..%ld, %ld ended in an error, 0 half-written\n",
	              sqlite ? "sqlite" : "memory", strategy == CODE_RANDOM ? "random" : "counter",
	              pers ? "persistent" : "once", n, errors);
}

static void create_sqlite_once(void **st)
{
	(void)st;
	oom_create(1, CODE_COUNTER, 0);
}

static void create_sqlite_persistent(void **st)
{
	(void)st;
	oom_create(1, CODE_COUNTER, 1);
}

static void create_sqlite_random_once(void **st)
{
	(void)st;
	oom_create(1, CODE_RANDOM, 0);
}

static void create_memory_once(void **st)
{
	(void)st;
	oom_create(0, CODE_COUNTER, 0);
}

static void create_memory_persistent(void **st)
{
	(void)st;
	oom_create(0, CODE_COUNTER, 1);
}

/* ---- redirect: resolve (cache miss, then the cache) and the visit ------------- */

static void oom_redirect(int sqlite, int pers)
{
	const char *url = "https://oom.example/redirect";
	long n, errors = 0;

	for (n = 1;; n++) {
		fx f;
		sh_link l;
		sh_visit vis = {0};
		visitbuf *vb;
		size_t flushed = 0;
		int rc, rc2 = 0, rc3 = 0, rc4 = 0;
		char code[CODE_MAX + 1];

		fx_open(&f, sqlite, CODE_COUNTER);
		assert_int_equal(do_shorten(&f, url, &l), 0);
		snprintf(code, sizeof code, "%s", l.code);
		int64_t id = l.id;
		sh_link_clear(&l);
		/* a fresh service: the first resolve misses the cache */
		svc_close(f.v);
		{
			sh_err err = {0};
			assert_int_equal(svc_open(&f.v, &f.cfg, f.s, &err), 0);
		}
		vb = visitbuf_create(16);
		assert_non_null(vb);

		failalloc_arm(n, pers);
		rc = svc_resolve(f.v, f.s, code, strlen(code), f.t, 1700000000);
		if (rc == 0) {
			if (f.t->url_len != strlen(url) || memcmp(f.t->url, url, f.t->url_len))
				fail_msg("N=%ld: resolved to the wrong URL", n);
			rc2 = svc_resolve(f.v, f.s, code, strlen(code), f.t, 1700000000); /* cached */
			vis.link_id = f.t->link_id;
			vis.ts = 1700000000;
			vis.referer = "https://ref.example/";
			vis.user_agent = "Mozilla/5.0";
			vis.visited_url = "http://localhost:8000/x";
			vis.ip = "192.0.2.0";
			rc3 = visitbuf_add(vb, &vis);
			rc4 = svc_visits_flush(f.v, f.s, &vb, 1, &flushed);
		}
		failalloc_disarm();
		long failed = failalloc_failed();
		if (rc && rc != SH_ENOMEM && rc != SH_ESTORE)
			fail_msg("N=%ld: resolve returned %d", n, rc);
		if (rc2 && rc2 != SH_ENOMEM && rc2 != SH_ESTORE)
			fail_msg("N=%ld: cached resolve returned %d", n, rc2);
		if (rc || rc2 || rc3 || rc4)
			errors++;
		if (rc2 == 0 && rc == 0 &&
		    (f.t->url_len != strlen(url) || memcmp(f.t->url, url, f.t->url_len)))
			fail_msg("N=%ld: cached resolve gave the wrong URL", n);
		/* the link itself is untouched; a visit flush either counted or
		 * kept the visit (a later flush with no failure writes it) */
		rc = svc_visits_flush(f.v, f.s, &vb, 1, &flushed);
		assert_int_equal(rc, 0);
		assert_int_equal(visitbuf_pending(vb), 0);
		{
			sh_link got = {0};
			assert_int_equal(store_link_get(f.s, id, &got), 0);
			assert_string_equal(got.url, url);
			if (got.visits > 1)
				fail_msg("N=%ld: one visit counted %lld times (resolve %d, add %d, flush %d)",
				         n, (long long)got.visits, rc, rc3, rc4);
			if (rc3 == 0 && failed == 0)
				assert_int_equal(got.visits, 1);
			sh_link_clear(&got);
		}
		/* and a redirect with no failure works */
		assert_int_equal(svc_resolve(f.v, f.s, code, strlen(code), f.t, 1700000000), 0);
		assert_int_equal(f.t->url_len, strlen(url));
		visitbuf_destroy(vb);
		fx_close(&f);
		if (failed == 0)
			break;
		if (n > 100000)
			fail_msg("no end in sight");
	}
	print_message("redirect %s %s: N = 1..%ld, %ld ended in an error, no crash\n",
	              sqlite ? "sqlite" : "memory", pers ? "persistent" : "once", n, errors);
}

static void redirect_sqlite_once(void **st)
{
	(void)st;
	oom_redirect(1, 0);
}

static void redirect_sqlite_persistent(void **st)
{
	(void)st;
	oom_redirect(1, 1);
}

static void redirect_memory_once(void **st)
{
	(void)st;
	oom_redirect(0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(create_sqlite_once),   cmocka_unit_test(create_sqlite_persistent),
	    cmocka_unit_test(create_sqlite_random_once), cmocka_unit_test(create_memory_once),
	    cmocka_unit_test(create_memory_persistent), cmocka_unit_test(redirect_sqlite_once),
	    cmocka_unit_test(redirect_sqlite_persistent), cmocka_unit_test(redirect_memory_once),
	};

	if (failalloc_install() != 0) {
		fprintf(stderr, "sqlite3_config(SQLITE_CONFIG_MALLOC) failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_service.c — unit tests of the service layer (service/links.c,
 * keys.c, visits.c, linkjson.c) over the in-memory store, and a few over a
 * real SQLite file in a temporary directory: codes and their strategies,
 * dedupe, validation with field names, atomicity on failure, the redirect
 * rules and the cache, update and delete, API keys, visit buffers and their
 * flush (including failed flushes), and the JSON shapes.
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

#include "shorty/codec.h"
#include "shorty/linkjson.h"
#include "shorty/service.h"
#include "shorty/store.h"
#include "../pgtest.h"
#include "shorty/timeutil.h"

#define NOW 1700000000

typedef struct fx {
	sh_config cfg;
	store *s;
	svc *v;
	svc_target *t;
	char dir[64]; /* sqlite fixtures: the temporary directory */
	char url[320];
	char schema[64]; /* postgres fixtures: the test's schema */
} fx;

static void cfg_defaults(sh_config *c)
{
	memset(c, 0, sizeof *c);
	c->base_url = (char *)"http://localhost:8000";
	c->cache_entries = 1000;
	c->code_length = 6;
	c->code_strategy = CODE_COUNTER;
	c->redirect_status = 302;
	c->max_url_length = 8192;
	c->allowed_schemes = (char *)"http,https";
}

static void fx_open_svc(fx *f)
{
	sh_err err = {0};
	int rc = svc_open(&f->v, &f->cfg, f->s, &err);

	if (rc)
		fail_msg("svc_open: %d %s", rc, err.msg);
	f->t = malloc(svc_target_size(f->v));
	assert_non_null(f->t);
}

static fx *fx_new(const char *url)
{
	fx *f = calloc(1, sizeof *f);
	store_options o;
	sh_err err = {0};
	int rc;

	assert_non_null(f);
	cfg_defaults(&f->cfg);
	store_options_default(&o);
	o.create = true;
	rc = store_open(&f->s, url, &o, &err);
	if (rc)
		fail_msg("store_open(%s): %d %s", url, rc, err.msg);
	rc = store_migrate(f->s, &err);
	if (rc)
		fail_msg("store_migrate: %d %s", rc, err.msg);
	return f;
}

static void fx_close_svc(fx *f)
{
	svc_close(f->v);
	free(f->t);
	f->v = NULL;
	f->t = NULL;
}

static int setup_mem(void **state)
{
	fx *f = fx_new("memory:");

	fx_open_svc(f);
	*state = f;
	return 0;
}

static int setup_sqlite(void **state)
{
	fx *f;
	char dir[] = "/tmp/shorty-svc-XXXXXX";
	char url[128];

	assert_non_null(mkdtemp(dir));
	snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
	f = fx_new(url);
	snprintf(f->dir, sizeof f->dir, "%s", dir);
	snprintf(f->url, sizeof f->url, "%s", url);
	fx_open_svc(f);
	*state = f;
	return 0;
}

/* PostgreSQL (SHORTY_TEST_PG, tests/unit/pgtest.h): a fresh schema */
static int setup_pg(void **state)
{
	fx *f;
	char schema[64], url[320];

	assert_true(pgtest_open_schema("svc", schema, url, sizeof url));
	f = fx_new(url);
	snprintf(f->schema, sizeof f->schema, "%s", schema);
	snprintf(f->url, sizeof f->url, "%s", url);
	fx_open_svc(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	char path[128];

	store_fault_clear();
	fx_close_svc(f);
	store_close(f->s);
	if (f->dir[0]) {
		const char *sfx[] = {"", "-wal", "-shm", "-journal"};
		for (size_t i = 0; i < 4; i++) {
			snprintf(path, sizeof path, "%s/t.db%s", f->dir, sfx[i]);
			unlink(path);
		}
		rmdir(f->dir);
	}
	if (f->schema[0])
		pgtest_drop_schema(f->schema);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static int shorten_url(fx *f, const char *url, sh_link *out, bool *existed)
{
	svc_create_req r;
	sh_err err = {0};
	bool ex = false;

	svc_create_req_init(&r);
	r.url = url;
	r.now = NOW;
	memset(out, 0, sizeof *out);
	return svc_shorten(f->v, f->s, &r, out, existed ? existed : &ex, &err);
}

static void must_shorten(fx *f, const char *url, sh_link *out)
{
	int rc = shorten_url(f, url, out, NULL);

	if (rc)
		fail_msg("shorten %s: %d", url, rc);
}

static int64_t count_links(fx *f)
{
	sh_list_query q;
	int64_t total = -1;

	memset(&q, 0, sizeof q);
	q.limit = 1;
	assert_int_equal(store_link_list(f->s, &q, NULL, NULL, &total), 0);
	return total;
}

static int noop_cb(const sh_link *l, void *ud)
{
	(void)l;
	(void)ud;
	return 0;
}

/* Runs a create that must fail with code rc on field `field`. */
static void expect_fail(fx *f, svc_create_req *r, int rc, const char *field)
{
	sh_link out;
	sh_err err = {0};
	bool ex = false;

	memset(&out, 0, sizeof out);
	assert_int_equal(svc_shorten(f->v, f->s, r, &out, &ex, &err), rc);
	assert_int_equal(err.code, rc);
	assert_true(err.msg[0] != '\0');
	if (field) {
		assert_non_null(err.field);
		assert_string_equal(err.field, field);
	}
	assert_null(out.url);
}

/* ---- shorten -------------------------------------------------------------- */

static void test_shorten_resolves(void **state)
{
	fx *f = *state;
	sh_link l;
	bool ex = true;

	assert_int_equal(shorten_url(f, "  HTTP://Example.COM:80/a/../b?x=%7e ", &l, &ex), 0);
	assert_false(ex);
	assert_int_equal(strlen(l.code), 6);
	assert_int_equal(l.code_kind, CODE_KIND_COUNTER);
	assert_string_equal(l.url, "http://example.com/b?x=~");
	assert_int_equal(l.redirect_status, 302);
	assert_true(l.forward_query);
	assert_false(l.crawlable);

	assert_int_equal(svc_resolve(f->v, f->s, l.code, strlen(l.code), f->t, NOW), 0);
	assert_int_equal(f->t->gone, SH_GONE_NONE);
	assert_string_equal(f->t->url, "http://example.com/b?x=~");
	assert_int_equal(f->t->url_len, strlen("http://example.com/b?x=~"));
	assert_int_equal(f->t->status, 302);
	assert_int_equal(f->t->link_id, l.id);
	/* a second time from the cache: same answer */
	assert_int_equal(svc_resolve(f->v, f->s, l.code, strlen(l.code), f->t, NOW), 0);
	assert_string_equal(f->t->url, "http://example.com/b?x=~");
	assert_int_equal(f->t->link_id, l.id);

	char buf[128], want[128];
	snprintf(want, sizeof want, "http://localhost:8000/%s", l.code);
	assert_string_equal(svc_short_url(f->v, l.code, buf, sizeof buf), want);
	/* too small a buffer gives an empty string, never a cut URL */
	assert_string_equal(svc_short_url(f->v, l.code, buf, 10), "");
	sh_link_clear(&l);
}

static void test_dedupe(void **state)
{
	fx *f = *state;
	sh_link a, b, c;
	bool ex = false;
	svc_create_req r;
	sh_err err = {0};

	must_shorten(f, "https://example.com/x", &a);
	assert_int_equal(shorten_url(f, "https://EXAMPLE.com/x", &b, &ex), 0);
	assert_true(ex);
	assert_string_equal(a.code, b.code);
	assert_int_equal(a.id, b.id);

	svc_create_req_init(&r);
	r.url = "https://example.com/x";
	r.find_if_exists = false;
	memset(&c, 0, sizeof c);
	assert_int_equal(svc_shorten(f->v, f->s, &r, &c, &ex, &err), 0);
	assert_false(ex);
	assert_string_not_equal(a.code, c.code);
	sh_link_clear(&c);

	/* a link with a limit is never a dedupe target nor deduped */
	r.find_if_exists = true;
	r.max_visits = 5;
	assert_int_equal(svc_shorten(f->v, f->s, &r, &c, &ex, &err), 0);
	assert_false(ex);
	assert_string_not_equal(a.code, c.code);
	sh_link_clear(&c);
	assert_int_equal(count_links(f), 3);

	/* a link not yet valid is not the answer to a plain create */
	svc_create_req_init(&r);
	r.url = "https://example.com/later";
	r.valid_since = NOW + 3600;
	assert_int_equal(svc_shorten(f->v, f->s, &r, &c, &ex, &err), 0);
	sh_link d;
	assert_int_equal(shorten_url(f, "https://example.com/later", &d, &ex), 0);
	assert_false(ex);
	assert_string_not_equal(c.code, d.code);
	sh_link_clear(&c);
	sh_link_clear(&d);
	sh_link_clear(&a);
	sh_link_clear(&b);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Shlink's findIfExists (find_matching): one create request, answered. */
static int find_req(fx *f, const char *url, const char *slug, const char *const *tags,
                    int ntags, int64_t max_visits, int64_t owner, sh_link *out, bool *ex)
{
	svc_create_req r;
	sh_err err = {0};

	svc_create_req_init(&r);
	r.url = url;
	r.custom_code = slug;
	r.tags = tags;
	r.ntags = ntags;
	r.max_visits = max_visits;
	r.find_matching = true;
	r.find_owner = owner;
	r.owner_key_id = owner;
	r.now = NOW;
	memset(out, 0, sizeof *out);
	return svc_shorten(f->v, f->s, &r, out, ex, &err);
}

static void test_find_matching(void **state)
{
	fx *f = *state;
	const char *ta[] = {"a"}, *tb[] = {"b"}, *tab[] = {"a", "b"};
	sh_link first, second, l;
	bool ex = true;

	/* without find_matching nothing dedupes: two links of one URL */
	assert_int_equal(find_req(f, "https://example.com/m", NULL, ta, 1, 0, 0, &first, &ex), 0);
	assert_false(ex);
	svc_create_req r;
	sh_err err = {0};
	svc_create_req_init(&r);
	r.url = "https://example.com/m";
	r.find_if_exists = false;
	memset(&second, 0, sizeof second);
	assert_int_equal(svc_shorten(f->v, f->s, &r, &second, &ex, &err), 0);
	assert_false(ex);
	assert_string_not_equal(first.code, second.code);

	/* the URL alone: the oldest match, whatever its tags */
	assert_int_equal(find_req(f, "https://example.com/m", NULL, NULL, 0, 0, 0, &l, &ex), 0);
	assert_true(ex);
	assert_string_equal(l.code, first.code);
	sh_link_clear(&l);
	/* tags given: exactly that set */
	assert_int_equal(find_req(f, "https://example.com/m", NULL, ta, 1, 0, 0, &l, &ex), 0);
	assert_true(ex);
	assert_string_equal(l.code, first.code);
	sh_link_clear(&l);
	assert_int_equal(find_req(f, "https://example.com/m", NULL, tab, 2, 0, 0, &l, &ex), 0);
	assert_false(ex);
	sh_link_clear(&l);
	assert_int_equal(find_req(f, "https://example.com/m", NULL, tb, 1, 0, 0, &l, &ex), 0);
	assert_false(ex);
	sh_link_clear(&l);
	/* a limit given: only a link with that limit */
	assert_int_equal(find_req(f, "https://example.com/m", NULL, NULL, 0, 5, 0, &l, &ex), 0);
	assert_false(ex);
	assert_int_equal(l.max_visits, 5);
	sh_link_clear(&l);
	assert_int_equal(find_req(f, "https://example.com/m", NULL, NULL, 0, 5, 0, &l, &ex), 0);
	assert_true(ex);
	assert_int_equal(l.max_visits, 5);
	sh_link_clear(&l);
	/* another owner's link is not the answer of an author */
	assert_int_equal(find_req(f, "https://example.com/m", NULL, NULL, 0, 0, 7, &l, &ex), 0);
	assert_false(ex);
	assert_int_equal(l.owner_key_id, 7);
	sh_link_clear(&l);

	/* a custom slug: the same slug and URL is the answer, not "taken" */
	assert_int_equal(find_req(f, "https://example.com/q", "q1", NULL, 0, 0, 0, &l, &ex), 0);
	assert_false(ex);
	sh_link_clear(&l);
	assert_int_equal(find_req(f, "https://example.com/q", "q1", NULL, 0, 0, 0, &l, &ex), 0);
	assert_true(ex);
	assert_string_equal(l.code, "q1");
	sh_link_clear(&l);
	/* the slug on another URL is still taken */
	assert_int_equal(find_req(f, "https://example.com/other", "q1", NULL, 0, 0, 0, &l, &ex),
	                 SH_ETAKEN);
	sh_link_clear(&l);
	/* and the URL with another slug is a new link */
	assert_int_equal(find_req(f, "https://example.com/q", "q2", NULL, 0, 0, 0, &l, &ex), 0);
	assert_false(ex);
	assert_string_equal(l.code, "q2");
	sh_link_clear(&l);
	sh_link_clear(&first);
	sh_link_clear(&second);
}

static void test_thousand_codes(void **state)
{
	fx *f = *state;
	enum { N = 1000 };
	char **codes = calloc(N, sizeof *codes);
	char url[64];
	sh_link l;
	int i, ascending = 0;

	assert_non_null(codes);
	for (i = 0; i < N; i++) {
		snprintf(url, sizeof url, "https://example.com/page/%d", i);
		must_shorten(f, url, &l);
		assert_int_equal(strlen(l.code), 6);
		codes[i] = strdup(l.code);
		sh_link_clear(&l);
	}
	/* order unrelated to creation: about half of neighbours ascend */
	for (i = 1; i < N; i++)
		if (strcmp(codes[i - 1], codes[i]) < 0)
			ascending++;
	assert_in_range(ascending, N * 35 / 100, N * 65 / 100);
	qsort(codes, N, sizeof *codes, cmp_str);
	for (i = 1; i < N; i++)
		assert_string_not_equal(codes[i - 1], codes[i]);
	/* each still resolves to its own URL */
	for (i = 0; i < N; i += 97) {
		assert_int_equal(svc_resolve(f->v, f->s, codes[i], 6, f->t, NOW), 0);
		assert_non_null(strstr(f->t->url, "https://example.com/page/"));
	}
	for (i = 0; i < N; i++)
		free(codes[i]);
	free(codes);
	assert_int_equal(count_links(f), N);
}

static void test_custom_codes(void **state)
{
	fx *f = *state;
	svc_create_req r;
	sh_link l, g;
	sh_err err = {0};
	bool ex = false;

	svc_create_req_init(&r);
	r.url = "https://example.com/custom";
	r.custom_code = "my-Link_1";
	memset(&l, 0, sizeof l);
	assert_int_equal(svc_shorten(f->v, f->s, &r, &l, &ex, &err), 0);
	assert_string_equal(l.code, "my-Link_1");
	assert_int_equal(l.code_kind, CODE_KIND_CUSTOM);
	assert_int_equal(svc_resolve(f->v, f->s, "my-Link_1", 9, f->t, NOW), 0);
	assert_string_equal(f->t->url, "https://example.com/custom");
	/* case-sensitive: another code */
	assert_int_equal(svc_resolve(f->v, f->s, "my-link_1", 9, f->t, NOW), SH_ENOTFOUND);

	/* a custom code is never deduped onto */
	r.custom_code = NULL;
	memset(&g, 0, sizeof g);
	assert_int_equal(svc_shorten(f->v, f->s, &r, &g, &ex, &err), 0);
	assert_false(ex);
	assert_string_not_equal(g.code, "my-Link_1");

	r.url = "https://example.com/other";
	r.custom_code = "my-Link_1";
	expect_fail(f, &r, SH_ETAKEN, "customSlug");

	/* the code of an existing generated link is taken too */
	r.custom_code = g.code;
	expect_fail(f, &r, SH_ETAKEN, "customSlug");

	r.custom_code = "health";
	expect_fail(f, &r, SH_ERESERVED, "customSlug");
	r.custom_code = "API";
	expect_fail(f, &r, SH_ERESERVED, "customSlug");
	r.custom_code = "a b";
	expect_fail(f, &r, SH_EINVAL, "customSlug");
	r.custom_code = "";
	expect_fail(f, &r, SH_EINVAL, "customSlug");
	r.custom_code = "x/y";
	expect_fail(f, &r, SH_EINVAL, "customSlug");
	char longc[CODE_MAX + 2];
	memset(longc, 'a', sizeof longc - 1);
	longc[sizeof longc - 1] = '\0';
	r.custom_code = longc;
	expect_fail(f, &r, SH_EINVAL, "customSlug");
	longc[CODE_MAX] = '\0';
	sh_link_clear(&l);
	assert_int_equal(svc_shorten(f->v, f->s, &r, &l, &ex, &err), 0);
	assert_int_equal(strlen(l.code), CODE_MAX);
	sh_link_clear(&l);
	sh_link_clear(&g);
	assert_int_equal(count_links(f), 3);
}

static void test_custom_equal_to_next_generated(void **state)
{
	fx *f = *state;
	sh_link a, d1, d2, cu, n;
	svc_create_req r;
	sh_err err = {0};
	bool ex;
	char cc[CODE_MAX + 1];

	must_shorten(f, "https://example.com/1", &a);
	/* learn the codes of the next two ids without using them: ids are never
	 * reused after a delete, but a rolled-back create leaves no trace */
	assert_int_equal(store_begin(f->s), 0);
	must_shorten(f, "https://example.com/2", &d1);
	must_shorten(f, "https://example.com/3", &d2);
	assert_int_equal(store_rollback(f->s), 0);
	snprintf(cc, sizeof cc, "%s", d2.code);

	/* a custom code equal to the code of the id after next */
	svc_create_req_init(&r);
	r.url = "https://example.com/custom";
	r.custom_code = cc;
	memset(&cu, 0, sizeof cu);
	assert_int_equal(svc_shorten(f->v, f->s, &r, &cu, &ex, &err), 0);
	/* custom links take the next id too; on PostgreSQL the rolled-back
	 * ids were handed out once and are gone (a leased block) */
	if (f->schema[0])
		assert_true(cu.id > d2.id);
	else
		assert_int_equal(cu.id, d1.id);

	/* the generator reaches d2's id, whose code is taken: it skips it */
	must_shorten(f, "https://example.com/4", &n);
	assert_int_equal(n.code_kind, CODE_KIND_COUNTER);
	assert_string_not_equal(n.code, cc);
	assert_true(n.id > d2.id);
	assert_int_equal(svc_resolve(f->v, f->s, cc, strlen(cc), f->t, NOW), 0);
	assert_string_equal(f->t->url, "https://example.com/custom");
	assert_int_equal(svc_resolve(f->v, f->s, n.code, strlen(n.code), f->t, NOW), 0);
	assert_string_equal(f->t->url, "https://example.com/4");
	sh_link_clear(&a);
	sh_link_clear(&d1);
	sh_link_clear(&d2);
	sh_link_clear(&cu);
	sh_link_clear(&n);
}

static void test_random_strategy(void **state)
{
	fx *f = *state;
	svc_create_req r;
	sh_link l, m;
	sh_err err = {0};
	bool ex;

	f->cfg.code_strategy = CODE_RANDOM;
	must_shorten(f, "https://example.com/r", &l);
	assert_int_equal(l.code_kind, CODE_KIND_RANDOM);
	assert_int_equal(strlen(l.code), 6);
	assert_int_equal(svc_resolve(f->v, f->s, l.code, 6, f->t, NOW), 0);
	assert_string_equal(f->t->url, "https://example.com/r");

	/* a requested length gives a random code of that length, any strategy */
	f->cfg.code_strategy = CODE_COUNTER;
	svc_create_req_init(&r);
	r.url = "https://example.com/len";
	r.code_length = 9;
	memset(&m, 0, sizeof m);
	assert_int_equal(svc_shorten(f->v, f->s, &r, &m, &ex, &err), 0);
	assert_int_equal(strlen(m.code), 9);
	assert_int_equal(m.code_kind, CODE_KIND_RANDOM);
	sh_link g;
	assert_int_equal(svc_get(f->v, f->s, m.code, NULL, &g), 0);
	assert_int_equal(g.id, m.id);
	sh_link_clear(&g);
	r.code_length = 3;
	expect_fail(f, &r, SH_EINVAL, "shortCodeLength");
	r.code_length = CODE_MAX + 1;
	expect_fail(f, &r, SH_EINVAL, "shortCodeLength");
	sh_link_clear(&l);
	sh_link_clear(&m);
}

static void test_hash_strategy(void **state)
{
	fx *f = *state;
	svc_create_req r;
	sh_link a, b, c, d;
	sh_err err = {0};
	bool ex = false;

	f->cfg.code_strategy = CODE_HASH;
	must_shorten(f, "https://example.com/h", &a);
	assert_int_equal(a.code_kind, CODE_KIND_HASH);
	assert_int_equal(strlen(a.code), 6);
	assert_int_equal(shorten_url(f, "https://example.com/h", &b, &ex), 0);
	assert_true(ex);
	assert_string_equal(a.code, b.code);
	must_shorten(f, "https://example.com/h2", &c);
	assert_string_not_equal(a.code, c.code);

	/* not deduping: the same URL is rehashed to a new code */
	svc_create_req_init(&r);
	r.url = "https://example.com/h";
	r.find_if_exists = false;
	memset(&d, 0, sizeof d);
	assert_int_equal(svc_shorten(f->v, f->s, &r, &d, &ex, &err), 0);
	assert_false(ex);
	assert_string_not_equal(a.code, d.code);
	assert_int_equal(d.code_kind, CODE_KIND_HASH);
	assert_int_equal(svc_resolve(f->v, f->s, d.code, strlen(d.code), f->t, NOW), 0);
	assert_string_equal(f->t->url, "https://example.com/h");
	sh_link_clear(&a);
	sh_link_clear(&b);
	sh_link_clear(&c);
	sh_link_clear(&d);
}

static void test_validation_fields(void **state)
{
	fx *f = *state;
	svc_create_req r;
	char title[SH_TITLE_MAX + 2];
	const char *bad_tag[] = {"Bad Tag"};
	const char *many[17] = {"a", "b", "c", "d", "e", "f", "g", "h", "i",
	                        "j", "k", "l", "m", "n", "o", "p", "q"};
	const char *dup[] = {"x", "x", "y"};

	svc_create_req_init(&r);
	r.url = "javascript:alert(1)";
	expect_fail(f, &r, SH_EINVAL, "url");
	r.url = "/relative";
	expect_fail(f, &r, SH_EINVAL, "url");
	r.url = "http://localhost:8000/loop";
	expect_fail(f, &r, SH_EBLOCKED, "url");

	r.url = "https://example.com/v";
	memset(title, 'a', sizeof title - 1);
	title[sizeof title - 1] = '\0';
	r.title = title;
	expect_fail(f, &r, SH_EINVAL, "title");
	r.title = "bell\a";
	expect_fail(f, &r, SH_EINVAL, "title");
	r.title = "bad \xc3\x28 utf8";
	expect_fail(f, &r, SH_EINVAL, "title");
	r.title = NULL;

	r.tags = bad_tag;
	r.ntags = 1;
	expect_fail(f, &r, SH_EINVAL, "tags");
	r.tags = many;
	r.ntags = 17;
	expect_fail(f, &r, SH_EINVAL, "tags");
	r.tags = NULL;
	r.ntags = 0;

	r.max_visits = -1;
	expect_fail(f, &r, SH_EINVAL, "maxVisits");
	r.max_visits = 0;
	r.valid_since = NOW + 100;
	r.expires_at = NOW + 100;
	expect_fail(f, &r, SH_EINVAL, "validUntil");
	r.valid_since = -5;
	r.expires_at = 0;
	expect_fail(f, &r, SH_EINVAL, "validSince");
	r.valid_since = 0;
	r.redirect_status = 303;
	expect_fail(f, &r, SH_EINVAL, "redirectStatus");
	r.redirect_status = 0;
	r.code_length = 2;
	expect_fail(f, &r, SH_EINVAL, "shortCodeLength");
	r.code_length = 0;

	/* nothing stored by any of them */
	assert_int_equal(count_links(f), 0);

	/* and the good request works, duplicates among tags removed */
	sh_link l;
	sh_err err = {0};
	bool ex;
	r.tags = dup;
	r.ntags = 3;
	r.title = "Caf\xc3\xa9 \xe2\x82\xac";
	r.redirect_status = 301;
	memset(&l, 0, sizeof l);
	assert_int_equal(svc_shorten(f->v, f->s, &r, &l, &ex, &err), 0);
	assert_int_equal(l.ntags, 2);
	assert_int_equal(l.redirect_status, 301);
	assert_string_equal(l.title, "Caf\xc3\xa9 \xe2\x82\xac");
	sh_link_clear(&l);
}

static void test_store_failure_leaves_nothing(void **state)
{
	fx *f = *state;
	sh_link l;
	svc_create_req r;
	sh_err err = {0};
	bool ex;

	store_fault_set("link_insert", 0, 1, SH_ESTORE);
	svc_create_req_init(&r);
	r.url = "https://example.com/f";
	memset(&l, 0, sizeof l);
	assert_int_equal(svc_shorten(f->v, f->s, &r, &l, &ex, &err), SH_ESTORE);
	assert_int_equal(err.code, SH_ESTORE);
	assert_non_null(strstr(err.msg, "the store failed"));
	assert_null(l.url);
	assert_false(store_in_txn(f->s));
	assert_int_equal(count_links(f), 0);

	/* inside a caller's transaction (the writer's group): no savepoint of
	 * its own; the transaction stays open for the caller, who decides (a
	 * failure before any write, as here, leaves it as it was) */
	assert_int_equal(store_begin(f->s), 0);
	must_shorten(f, "https://example.com/ok", &l);
	sh_link_clear(&l);
	store_fault_set("link_insert", 0, 1, SH_EBUSY);
	assert_int_equal(shorten_url(f, "https://example.com/bad", &l, NULL), SH_EBUSY);
	assert_true(store_in_txn(f->s));
	must_shorten(f, "https://example.com/ok2", &l);
	sh_link_clear(&l);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(count_links(f), 2);

	/* and after a failure the next create works */
	must_shorten(f, "https://example.com/f", &l);
	sh_link_clear(&l);
	assert_int_equal(count_links(f), 3);
}

/* ---- get / resolve ---------------------------------------------------------- */

static void make_link(fx *f, svc_create_req *r, sh_link *l)
{
	sh_err err = {0};
	bool ex;

	memset(l, 0, sizeof *l);
	if (svc_shorten(f->v, f->s, r, l, &ex, &err))
		fail_msg("shorten: %s", err.msg);
}

static void test_resolve_rules(void **state)
{
	fx *f = *state;
	svc_create_req r;
	sh_link l;

	svc_create_req_init(&r);
	r.url = "https://example.com/exp";
	r.expires_at = NOW + 10;
	make_link(f, &r, &l);
	assert_int_equal(svc_resolve(f->v, f->s, l.code, strlen(l.code), f->t, NOW), 0);
	assert_int_equal(f->t->gone, SH_GONE_NONE);
	assert_int_equal(svc_resolve(f->v, f->s, l.code, strlen(l.code), f->t, NOW + 10), 0);
	assert_int_equal(f->t->gone, SH_GONE_EXPIRED);
	sh_link_clear(&l);

	svc_create_req_init(&r);
	r.url = "https://example.com/soon";
	r.valid_since = NOW + 60;
	make_link(f, &r, &l);
	assert_int_equal(svc_resolve(f->v, f->s, l.code, strlen(l.code), f->t, NOW), 0);
	assert_int_equal(f->t->gone, SH_GONE_NOT_YET);
	assert_int_equal(svc_resolve(f->v, f->s, l.code, strlen(l.code), f->t, NOW + 60), 0);
	assert_int_equal(f->t->gone, SH_GONE_NONE);
	sh_link_clear(&l);

	/* max visits: two counted visits reach the limit of 2 */
	svc_create_req_init(&r);
	r.url = "https://example.com/max";
	r.max_visits = 2;
	r.redirect_status = 307;
	make_link(f, &r, &l);
	visitbuf *vb = visitbuf_create(16);
	sh_visit vis = {.link_id = l.id, .ts = NOW, .kind = VISIT_NORMAL};
	assert_int_equal(visitbuf_add(vb, &vis), 0);
	assert_int_equal(visitbuf_add(vb, &vis), 0);
	size_t flushed = 0;
	assert_int_equal(svc_visits_flush(f->v, f->s, &vb, 1, &flushed), 0);
	assert_int_equal(flushed, 2);
	assert_int_equal(svc_resolve(f->v, f->s, l.code, strlen(l.code), f->t, NOW), 0);
	assert_int_equal(f->t->gone, SH_GONE_MAX_VISITS);
	assert_int_equal(f->t->status, 307);
	visitbuf_destroy(vb);

	/* disabled wins over everything, at once even though cached */
	svc_update_req u;
	sh_err err = {0};
	memset(&u, 0, sizeof u);
	u.has_disabled = true;
	u.disabled = true;
	assert_int_equal(svc_update(f->v, f->s, l.code, &u, NULL, &err), 0);
	assert_int_equal(svc_resolve(f->v, f->s, l.code, strlen(l.code), f->t, NOW), 0);
	assert_int_equal(f->t->gone, SH_GONE_DISABLED);
	sh_link_clear(&l);
}

static void test_resolve_unknown_and_negative_cache(void **state)
{
	fx *f = *state;
	char val[8];
	size_t len = 0;
	sh_link l;
	svc_create_req r;
	sh_err err = {0};
	bool ex;

	assert_int_equal(svc_resolve(f->v, f->s, "zzzzzz", 6, f->t, NOW), SH_ENOTFOUND);
	assert_int_equal(lru_get(svc_cache(f->v), "zzzzzz", 6, val, sizeof val, &len,
	                         sh_mono_ns() / 1000000),
	                 LRU_NEGATIVE);
	/* invalid codes never reach the store (a fault would show it) */
	store_fault_set(NULL, 0, -1, SH_ESTORE);
	assert_int_equal(svc_resolve(f->v, f->s, "a/b", 3, f->t, NOW), SH_ENOTFOUND);
	assert_int_equal(svc_resolve(f->v, f->s, "", 0, f->t, NOW), SH_ENOTFOUND);
	assert_int_equal(svc_resolve(f->v, f->s, "zzzzzz", 6, f->t, NOW), SH_ENOTFOUND);
	store_fault_clear();

	/* creating the code drops the negative entry */
	svc_create_req_init(&r);
	r.url = "https://example.com/neg";
	r.custom_code = "zzzzzz";
	memset(&l, 0, sizeof l);
	assert_int_equal(svc_shorten(f->v, f->s, &r, &l, &ex, &err), 0);
	assert_int_equal(svc_resolve(f->v, f->s, "zzzzzz", 6, f->t, NOW), 0);
	assert_string_equal(f->t->url, "https://example.com/neg");
	sh_link_clear(&l);

	/* a store error is not cached as "unknown" */
	store_fault_set("link_get", 0, -1, SH_ESTORE);
	assert_int_equal(svc_resolve(f->v, f->s, "yyyyyy", 6, f->t, NOW), SH_ESTORE);
	store_fault_clear();
	assert_int_equal(lru_get(svc_cache(f->v), "yyyyyy", 6, val, sizeof val, &len,
	                         sh_mono_ns() / 1000000),
	                 LRU_MISS);
}

static void test_delete_at_once(void **state)
{
	fx *f = *state;
	sh_link l;
	sh_err err = {0};

	must_shorten(f, "https://example.com/del", &l);
	assert_int_equal(svc_resolve(f->v, f->s, l.code, strlen(l.code), f->t, NOW), 0);
	assert_int_equal(svc_delete(f->v, f->s, l.code, 0, &err), 0);
	assert_int_equal(svc_resolve(f->v, f->s, l.code, strlen(l.code), f->t, NOW), SH_ENOTFOUND);
	sh_link g;
	assert_int_equal(svc_get(f->v, f->s, l.code, NULL, &g), SH_ENOTFOUND);
	assert_int_equal(svc_delete(f->v, f->s, l.code, 0, &err), SH_ENOTFOUND);
	assert_int_equal(err.code, SH_ENOTFOUND);
	assert_int_equal(svc_delete(f->v, f->s, "nope!", 0, &err), SH_ENOTFOUND);
	assert_false(store_in_txn(f->s));
	sh_link_clear(&l);
}

static void test_owner_filter(void **state)
{
	fx *f = *state;
	svc_create_req r;
	sh_link l, g;
	sh_err err = {0};
	svc_update_req u;

	svc_create_req_init(&r);
	r.url = "https://example.com/own";
	r.owner_key_id = 7;
	make_link(f, &r, &l);
	/* the role rule: an author key sees its own links only; admin all */
	svc_caller author7 = {7, KEY_AUTHOR, false}, author8 = {8, KEY_AUTHOR, false};
	svc_caller admin8 = {8, KEY_ADMIN, false}, ro7 = {7, KEY_READ_ONLY, false};
	assert_int_equal(svc_get(f->v, f->s, l.code, &author7, &g), 0);
	assert_string_equal(g.code, l.code);
	sh_link_clear(&g);
	assert_int_equal(svc_get(f->v, f->s, l.code, NULL, &g), 0);
	sh_link_clear(&g);
	assert_int_equal(svc_get(f->v, f->s, l.code, &author8, &g), SH_ENOTFOUND);
	assert_int_equal(svc_get(f->v, f->s, l.code, &admin8, &g), 0);
	sh_link_clear(&g);
	assert_int_equal(svc_get(f->v, f->s, l.code, &ro7, &g), 0); /* reads all */
	sh_link_clear(&g);
	assert_false(svc_caller_can_write(&ro7));
	assert_true(svc_caller_can_write(&author8));
	assert_false(svc_caller_is_admin(&author7));
	assert_true(svc_caller_is_admin(&admin8));
	memset(&u, 0, sizeof u);
	u.has_title = true;
	u.title = "x";
	u.owner_key_id = 8;
	assert_int_equal(svc_update(f->v, f->s, l.code, &u, NULL, &err), SH_ENOTFOUND);
	assert_int_equal(svc_delete(f->v, f->s, l.code, 8, &err), SH_ENOTFOUND);
	assert_int_equal(svc_delete(f->v, f->s, l.code, 7, &err), 0);
	sh_link_clear(&l);
}

static void test_update(void **state)
{
	fx *f = *state;
	sh_link l, o;
	svc_update_req u;
	sh_err err = {0};
	const char *tags[] = {"new", "new", "two"};

	must_shorten(f, "https://example.com/old", &l);
	assert_int_equal(svc_resolve(f->v, f->s, l.code, strlen(l.code), f->t, NOW), 0);

	memset(&u, 0, sizeof u);
	u.has_url = true;
	u.url = "https://Example.com/new/./x";
	u.has_title = true;
	u.title = "New";
	u.has_tags = true;
	u.tags = tags;
	u.ntags = 3;
	u.has_redirect_status = true;
	u.redirect_status = 308;
	u.has_max_visits = true;
	u.max_visits = 10;
	u.has_expires_at = true;
	u.expires_at = NOW + 1000;
	u.now = NOW + 5;
	memset(&o, 0, sizeof o);
	assert_int_equal(svc_update(f->v, f->s, l.code, &u, &o, &err), 0);
	assert_string_equal(o.code, l.code);
	assert_string_equal(o.url, "https://example.com/new/x");
	assert_string_equal(o.title, "New");
	assert_int_equal(o.ntags, 2);
	assert_int_equal(o.redirect_status, 308);
	assert_int_equal(o.updated_at, NOW + 5);
	sh_link_clear(&o);
	/* the redirect sees it at once */
	assert_int_equal(svc_resolve(f->v, f->s, l.code, strlen(l.code), f->t, NOW), 0);
	assert_string_equal(f->t->url, "https://example.com/new/x");
	assert_int_equal(f->t->status, 308);

	/* dedupe uses the new URL's hash: a link with limits is not a target */
	sh_link d;
	bool ex = true;
	assert_int_equal(shorten_url(f, "https://example.com/new/x", &d, &ex), 0);
	assert_false(ex);
	sh_link_clear(&d);

	/* invalid changes leave the link as it was */
	memset(&u, 0, sizeof u);
	u.has_valid_since = true;
	u.valid_since = NOW + 2000; /* after the stored expiry */
	assert_int_equal(svc_update(f->v, f->s, l.code, &u, NULL, &err), SH_EINVAL);
	assert_string_equal(err.field, "validUntil");
	memset(&u, 0, sizeof u);
	u.has_url = true;
	u.url = "ftp://example.com/";
	assert_int_equal(svc_update(f->v, f->s, l.code, &u, NULL, &err), SH_EINVAL);
	assert_string_equal(err.field, "url");
	u.has_url = false;
	u.has_redirect_status = true;
	u.redirect_status = 200;
	assert_int_equal(svc_update(f->v, f->s, l.code, &u, NULL, &err), SH_EINVAL);
	assert_string_equal(err.field, "redirectStatus");
	assert_int_equal(svc_get(f->v, f->s, l.code, NULL, &o), 0);
	assert_string_equal(o.url, "https://example.com/new/x");
	assert_int_equal(o.valid_since, 0);
	/* clearing the title with a present NULL */
	sh_link_clear(&o);
	memset(&u, 0, sizeof u);
	u.has_title = true;
	assert_int_equal(svc_update(f->v, f->s, l.code, &u, &o, &err), 0);
	assert_null(o.title);
	sh_link_clear(&o);

	memset(&u, 0, sizeof u);
	assert_int_equal(svc_update(f->v, f->s, "unknown1", &u, NULL, &err), SH_ENOTFOUND);
	assert_false(store_in_txn(f->s));
	sh_link_clear(&l);
}

struct list_seen {
	int n;
	bool all_coded;
};

static int list_cb(const sh_link *l, void *ud)
{
	struct list_seen *s = ud;

	s->n++;
	if (strlen(l->code) == 0)
		s->all_coded = false;
	return 0;
}

static void test_list_fills_codes(void **state)
{
	fx *f = *state;
	sh_link l;
	sh_list_query q;
	struct list_seen seen = {0, true};
	int64_t total = 0;
	char url[64];

	for (int i = 0; i < 5; i++) {
		snprintf(url, sizeof url, "https://example.com/l%d", i);
		must_shorten(f, url, &l);
		sh_link_clear(&l);
	}
	memset(&q, 0, sizeof q);
	q.limit = 10;
	assert_int_equal(svc_list(f->v, f->s, NULL, &q, list_cb, &seen, &total), 0);
	assert_int_equal(seen.n, 5);
	assert_int_equal(total, 5);
	assert_true(seen.all_coded);
	assert_int_equal(svc_list(f->v, f->s, NULL, &q, noop_cb, NULL, NULL), 0);
}

/* ---- open ------------------------------------------------------------------- */

static void test_open_blocklist(void **state)
{
	fx *f = *state;
	char dir[] = "/tmp/shorty-bl-XXXXXX";
	char path[96];
	FILE *fp;
	svc *v2 = NULL;
	sh_err err = {0};
	sh_config cfg;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/missing.txt", dir);
	cfg_defaults(&cfg);
	cfg.blocklist_file = path;
	assert_int_equal(svc_open(&v2, &cfg, f->s, &err), SH_EINVAL);
	assert_null(v2);
	assert_non_null(strstr(err.msg, path));

	snprintf(path, sizeof path, "%s/block.txt", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("# bad hosts\n\nEvil.example  # comment\n  spam.test\n", fp);
	fclose(fp);
	assert_int_equal(svc_open(&v2, &cfg, f->s, &err), 0);
	svc_create_req r;
	sh_link l;
	bool ex;
	svc_create_req_init(&r);
	r.url = "https://www.evil.example/x";
	memset(&l, 0, sizeof l);
	assert_int_equal(svc_shorten(v2, f->s, &r, &l, &ex, &err), SH_EBLOCKED);
	assert_string_equal(err.field, "url");
	r.url = "https://spam.test/";
	assert_int_equal(svc_shorten(v2, f->s, &r, &l, &ex, &err), SH_EBLOCKED);
	r.url = "https://fine.example/";
	assert_int_equal(svc_shorten(v2, f->s, &r, &l, &ex, &err), 0);
	/* the same secret: both services give the same code for the link */
	sh_link g;
	assert_int_equal(svc_get(f->v, f->s, l.code, NULL, &g), 0);
	assert_int_equal(g.id, l.id);
	sh_link_clear(&g);
	sh_link_clear(&l);
	svc_close(v2);
	unlink(path);
	rmdir(dir);

	/* scheme list and a bad code length */
	cfg_defaults(&cfg);
	cfg.allowed_schemes = (char *)" HTTPS , ";
	assert_int_equal(svc_open(&v2, &cfg, f->s, &err), 0);
	svc_create_req_init(&r);
	r.url = "http://example.com/";
	assert_int_equal(svc_shorten(v2, f->s, &r, &l, &ex, &err), SH_EINVAL);
	svc_close(v2);
	cfg.allowed_schemes = (char *)",";
	assert_int_equal(svc_open(&v2, &cfg, f->s, &err), SH_EINVAL);
	cfg_defaults(&cfg);
	cfg.code_length = 0;
	assert_int_equal(svc_open(&v2, &cfg, f->s, &err), SH_EINVAL);
	/* no cache */
	cfg_defaults(&cfg);
	cfg.cache_entries = 0;
	assert_int_equal(svc_open(&v2, &cfg, f->s, &err), 0);
	assert_null(svc_cache(v2));
	must_shorten(f, "https://example.com/nocache", &l);
	svc_target *t = malloc(svc_target_size(v2));
	assert_int_equal(svc_resolve(v2, f->s, l.code, strlen(l.code), t, NOW), 0);
	assert_string_equal(t->url, "https://example.com/nocache");
	assert_int_equal(svc_resolve(v2, f->s, "qqqqqq", 6, t, NOW), SH_ENOTFOUND);
	free(t);
	sh_link_clear(&l);
	svc_close(v2);
}

/* ---- keys ------------------------------------------------------------------- */

static void test_keys(void **state)
{
	fx *f = *state;
	char key[SH_KEY_TEXT_MAX], key2[SH_KEY_TEXT_MAX];
	sh_api_key k, got;
	sh_err err = {0};

	assert_int_equal(svc_key_create(f->s, "ci bot", KEY_AUTHOR, key, &k, &err), 0);
	assert_int_equal(strlen(key), 50);
	assert_memory_equal(key, "shorty_", 7);
	assert_true(k.id > 0);
	assert_int_equal(k.role, KEY_AUTHOR);
	assert_memory_equal(k.prefix, key + 7, 8);
	assert_string_equal(k.name, "ci bot");
	for (const char *p = key + 7; *p; p++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));

	memset(&got, 0, sizeof got);
	assert_int_equal(svc_key_verify(f->s, key, strlen(key), &got), 0);
	assert_int_equal(got.id, k.id);
	assert_int_equal(got.role, KEY_AUTHOR);

	assert_int_equal(svc_key_create(f->s, NULL, KEY_ADMIN, key2, &k, &err), 0);
	assert_string_not_equal(key, key2);

	/* wrong keys */
	char wrong[SH_KEY_TEXT_MAX];
	snprintf(wrong, sizeof wrong, "%s", key);
	wrong[20] = wrong[20] == 'A' ? 'B' : 'A';
	assert_int_equal(svc_key_verify(f->s, wrong, strlen(wrong), &got), SH_EAUTH);
	assert_int_equal(svc_key_verify(f->s, key, strlen(key) - 1, &got), SH_EAUTH);
	assert_int_equal(svc_key_verify(f->s, "", 0, &got), SH_EAUTH);
	char *huge = malloc(5000);
	memset(huge, 'a', 5000);
	assert_int_equal(svc_key_verify(f->s, huge, 5000, &got), SH_EAUTH);
	free(huge);

	/* revoke */
	assert_int_equal(svc_key_verify(f->s, key, strlen(key), &got), 0);
	assert_int_equal(svc_key_revoke(f->s, got.id, &err), 0);
	assert_int_equal(svc_key_verify(f->s, key, strlen(key), &got), SH_EAUTH);
	assert_int_equal(svc_key_verify(f->s, key2, strlen(key2), &got), 0);
	assert_int_equal(svc_key_revoke(f->s, 999999, &err), SH_ENOTFOUND);

	/* bad inputs */
	assert_int_equal(svc_key_create(f->s, "x", 7, key, &k, &err), SH_EINVAL);
	assert_int_equal(svc_key_create(f->s, "tab\there", KEY_ADMIN, key, &k, &err), SH_EINVAL);
	char longname[SH_KEY_NAME_MAX + 2];
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_int_equal(svc_key_create(f->s, longname, KEY_ADMIN, key, &k, &err), SH_EINVAL);

	assert_int_equal(svc_role_parse("admin"), KEY_ADMIN);
	assert_int_equal(svc_role_parse("author"), KEY_AUTHOR);
	assert_int_equal(svc_role_parse("read-only"), KEY_READ_ONLY);
	assert_int_equal(svc_role_parse("root"), -1);
	assert_int_equal(svc_role_parse(NULL), -1);
	assert_string_equal(svc_role_name(KEY_READ_ONLY), "read-only");
	assert_null(svc_role_name(9));
}

/* ---- visits ----------------------------------------------------------------- */

static void get_counts(fx *f, const char *code, int64_t *visits, int64_t *bots)
{
	sh_link l;

	assert_int_equal(svc_get(f->v, f->s, code, NULL, &l), 0);
	*visits = l.visits;
	*bots = l.bot_visits;
	sh_link_clear(&l);
}

static void test_visits_flush(void **state)
{
	fx *f = *state;
	sh_link a, b;
	visitbuf *bufs[2];
	size_t flushed = 0;
	int64_t n, bots;
	char longua[2000];

	must_shorten(f, "https://example.com/va", &a);
	must_shorten(f, "https://example.com/vb", &b);
	bufs[0] = visitbuf_create(100);
	bufs[1] = visitbuf_create(100);
	memset(longua, 'u', sizeof longua - 1);
	longua[sizeof longua - 1] = '\0';

	sh_visit v = {.link_id = a.id, .ts = NOW, .kind = VISIT_NORMAL,
	              .referer = "https://ref.example/", .user_agent = longua,
	              .visited_url = "http://localhost:8000/x", .ip = "192.0.2.0"};
	assert_int_equal(visitbuf_add(bufs[0], &v), 0);
	v.kind = VISIT_BOT;
	assert_int_equal(visitbuf_add(bufs[0], &v), 0);
	v.kind = VISIT_HEAD;
	assert_int_equal(visitbuf_add(bufs[1], &v), 0);
	v.kind = VISIT_NORMAL;
	v.link_id = b.id;
	v.referer = NULL;
	assert_int_equal(visitbuf_add(bufs[1], &v), 0);
	v.link_id = 0;
	v.orphan_type = ORPHAN_INVALID_SHORT_URL;
	assert_int_equal(visitbuf_add(bufs[1], &v), 0);
	assert_int_equal(visitbuf_pending(bufs[0]), 2);
	assert_int_equal(visitbuf_pending(bufs[1]), 3);

	assert_int_equal(svc_visits_flush(f->v, f->s, bufs, 2, &flushed), 0);
	assert_int_equal(flushed, 5);
	assert_int_equal(visitbuf_pending(bufs[0]), 0);
	assert_int_equal(visitbuf_pending(bufs[1]), 0);
	get_counts(f, a.code, &n, &bots);
	assert_int_equal(n, 2); /* the HEAD is not a visit */
	assert_int_equal(bots, 1);
	get_counts(f, b.code, &n, &bots);
	assert_int_equal(n, 1);
	assert_int_equal(bots, 0);

	/* a flush with nothing pending is a no-op */
	assert_int_equal(svc_visits_flush(f->v, f->s, bufs, 2, &flushed), 0);
	assert_int_equal(flushed, 0);

	/* the user agent was truncated to SH_VISIT_FIELD_MAX */
	sh_visit_totals lt, ot;
	assert_int_equal(store_visits_totals(f->s, 0, &lt, &ot), 0);
	assert_int_equal(lt.total, 3);
	assert_int_equal(ot.total, 1);

	visitbuf_destroy(bufs[0]);
	visitbuf_destroy(bufs[1]);
	sh_link_clear(&a);
	sh_link_clear(&b);
}

/* Which user agents count as bots (svc_visit_record's one-pass matcher):
 * a known name anywhere, in any case; nothing that only comes close. */
static void test_bot_user_agents(void **state)
{
	fx *f = *state;
	static const struct {
		const char *ua;
		bool bot;
	} cases[] = {
	    {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true},
	    {"facebookexternalhit/1.1", true},
	    {"FACEBOOKEXTERNALHIT", true},
	    {"xx Slack-ImgProxy", true},           /* at the very end */
	    {"Google-InspectionTool/1.0", true},   /* the longest name */
	    {"gGooglebot", true},                  /* right after a byte that also starts it */
	    {"TwitterbotTwitterbot", true},
	    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36", false},
	    {"Googlebo", false},                   /* cut short at the end */
	    {"Google bot", false},
	    {"curl/8.0", false},
	    {"", false},
	    {"G", false},
	    {NULL, false},
	};
	sh_link a;
	visitbuf *buf = visitbuf_create(100);
	size_t flushed = 0;
	int64_t n, bots, was = 0;

	must_shorten(f, "https://example.com/bots", &a);
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		svc_visit_in in = {.link_id = a.id, .user_agent = cases[i].ua,
		                   .visited_url = "http://localhost:8000/x", .ip = "192.0.2.1",
		                   .now = NOW};
		assert_int_equal(svc_visit_record(buf, &in), 0);
		assert_int_equal(svc_visits_flush(f->v, f->s, &buf, 1, &flushed), 0);
		get_counts(f, a.code, &n, &bots);
		if (bots - was != (cases[i].bot ? 1 : 0))
			fail_msg("user agent \"%s\": bot %d, expected %d", cases[i].ua ? cases[i].ua : "(none)",
			         (int)(bots - was), cases[i].bot);
		was = bots;
	}
	assert_int_equal(n, sizeof(cases) / sizeof(*cases));
	visitbuf_destroy(buf);
	sh_link_clear(&a);
}

static void test_visits_overflow_keeps_counts(void **state)
{
	fx *f = *state;
	sh_link a;
	visitbuf *b = visitbuf_create(4);
	size_t flushed = 0;
	int64_t n, bots;
	int i;

	must_shorten(f, "https://example.com/over", &a);
	sh_visit v = {.link_id = a.id, .ts = NOW, .kind = VISIT_NORMAL, .user_agent = "ua"};
	for (i = 0; i < 30; i++) {
		v.kind = i % 3 == 0 ? VISIT_BOT : VISIT_NORMAL;
		assert_int_equal(visitbuf_add(b, &v), 0);
	}
	v.kind = VISIT_HEAD; /* past the limit: dropped, never counted anyway */
	assert_int_equal(visitbuf_add(b, &v), 0);
	assert_int_equal(visitbuf_pending(b), 30);
	assert_int_equal(svc_visits_flush(f->v, f->s, &b, 1, &flushed), 0);
	assert_int_equal(flushed, 30);
	get_counts(f, a.code, &n, &bots);
	assert_int_equal(n, 30);
	assert_int_equal(bots, 10);
	visitbuf_destroy(b);
	sh_link_clear(&a);
}

static void test_visits_failed_flush(void **state)
{
	fx *f = *state;
	sh_link a;
	visitbuf *b = visitbuf_create(8);
	size_t flushed = 0;
	int64_t n, bots;
	int i;

	must_shorten(f, "https://example.com/fail", &a);
	sh_visit v = {.link_id = a.id, .ts = NOW, .kind = VISIT_NORMAL, .referer = "r"};
	for (i = 0; i < 5; i++)
		assert_int_equal(visitbuf_add(b, &v), 0);

	store_fault_set("visits_add", 0, 1, SH_ESTORE);
	assert_int_equal(svc_visits_flush(f->v, f->s, &b, 1, &flushed), SH_ESTORE);
	assert_int_equal(flushed, 0);
	assert_int_equal(visitbuf_pending(b), 5);
	assert_false(store_in_txn(f->s));
	get_counts(f, a.code, &n, &bots);
	assert_int_equal(n, 0);

	/* more visits arrive; the next flush fails too (held + new get merged,
	 * past the buffer's limit some only counted) */
	for (i = 0; i < 7; i++)
		assert_int_equal(visitbuf_add(b, &v), 0);
	store_fault_set("visits_add", 0, 1, SH_EBUSY);
	assert_int_equal(svc_visits_flush(f->v, f->s, &b, 1, &flushed), SH_EBUSY);
	assert_int_equal(visitbuf_pending(b), 12);

	/* a failure in the middle of a multi-chunk write rolls back all of it
	 * (a flush writes at most WRITE_CHUNK visits per store call, see
	 * src/service/visits.c: 65536) */
	for (i = 0; i < 65536 + 600; i++)
		assert_int_equal(visitbuf_add(b, &v), 0);
	store_fault_set("visits_add", 1, 1, SH_ESTORE);
	assert_int_equal(svc_visits_flush(f->v, f->s, &b, 1, &flushed), SH_ESTORE);
	get_counts(f, a.code, &n, &bots);
	assert_int_equal(n, 0);
	assert_int_equal(visitbuf_pending(b), 65536 + 612);

	assert_int_equal(svc_visits_flush(f->v, f->s, &b, 1, &flushed), 0);
	assert_int_equal(flushed, 65536 + 612);
	assert_int_equal(visitbuf_pending(b), 0);
	get_counts(f, a.code, &n, &bots);
	assert_int_equal(n, 65536 + 612);

	/* inside the caller's transaction, a failure leaves it open for the
	 * caller and the visits buffered for the next flush */
	assert_int_equal(visitbuf_add(b, &v), 0);
	assert_int_equal(store_begin(f->s), 0);
	store_fault_set("visits_add", 0, 1, SH_ESTORE);
	assert_int_equal(svc_visits_flush(f->v, f->s, &b, 1, &flushed), SH_ESTORE);
	assert_true(store_in_txn(f->s));
	assert_int_equal(svc_visits_flush(f->v, f->s, &b, 1, &flushed), 0);
	assert_int_equal(store_commit(f->s), 0);
	get_counts(f, a.code, &n, &bots);
	assert_int_equal(n, 65536 + 613);

	visitbuf_destroy(b);
	sh_link_clear(&a);
}

/* ---- linkjson --------------------------------------------------------------- */

static void test_linkjson_shape(void **state)
{
	fx *f = *state;
	svc_create_req r;
	sh_link l;
	const char *tags[] = {"b", "a"};
	json_t *j, *m, *vs;

	svc_create_req_init(&r);
	r.url = "https://example.com/j";
	r.title = "T";
	r.tags = tags;
	r.ntags = 2;
	r.max_visits = 9;
	r.expires_at = 1800000000;
	r.valid_since = 1600000000;
	r.redirect_status = 301;
	r.crawlable = 1;
	r.forward_query = 0;
	r.now = NOW;
	make_link(f, &r, &l);
	l.visits = 5;
	l.bot_visits = 2;
	j = linkjson_short_url(f->v, &l);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "shortCode")), l.code);
	char su[128];
	snprintf(su, sizeof su, "http://localhost:8000/%s", l.code);
	assert_string_equal(json_string_value(json_object_get(j, "shortUrl")), su);
	assert_string_equal(json_string_value(json_object_get(j, "longUrl")), "https://example.com/j");
	assert_string_equal(json_string_value(json_object_get(j, "dateCreated")),
	                    "2023-11-14T22:13:20+00:00");
	vs = json_object_get(j, "visitsSummary");
	assert_int_equal(json_integer_value(json_object_get(vs, "total")), 5);
	assert_int_equal(json_integer_value(json_object_get(vs, "nonBots")), 3);
	assert_int_equal(json_integer_value(json_object_get(vs, "bots")), 2);
	assert_int_equal(json_array_size(json_object_get(j, "tags")), 2);
	m = json_object_get(j, "meta");
	assert_string_equal(json_string_value(json_object_get(m, "validSince")),
	                    "2020-09-13T12:26:40+00:00");
	assert_string_equal(json_string_value(json_object_get(m, "validUntil")),
	                    "2027-01-15T08:00:00+00:00");
	assert_int_equal(json_integer_value(json_object_get(m, "maxVisits")), 9);
	assert_true(json_is_null(json_object_get(j, "domain")));
	assert_string_equal(json_string_value(json_object_get(j, "title")), "T");
	assert_true(json_is_true(json_object_get(j, "crawlable")));
	assert_true(json_is_false(json_object_get(j, "forwardQuery")));
	assert_true(json_is_false(json_object_get(j, "hasRedirectRules")));
	assert_int_equal(json_integer_value(json_object_get(j, "redirectStatus")), 301);
	assert_null(json_object_get(j, "disabled"));
	json_decref(j);
	sh_link_clear(&l);

	/* unset fields are null */
	must_shorten(f, "https://example.com/plain", &l);
	j = linkjson_short_url(f->v, &l);
	m = json_object_get(j, "meta");
	assert_true(json_is_null(json_object_get(m, "validSince")));
	assert_true(json_is_null(json_object_get(m, "validUntil")));
	assert_true(json_is_null(json_object_get(m, "maxVisits")));
	assert_true(json_is_null(json_object_get(j, "title")));
	assert_int_equal(json_array_size(json_object_get(j, "tags")), 0);
	assert_int_equal(json_object_size(j), 13);
	json_decref(j);
	sh_link_clear(&l);
}

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);

	if (!j)
		fail_msg("bad test JSON: %s", e.text);
	return j;
}

static void expect_create_field(const char *text, const char *field)
{
	json_t *j = parse(text);
	svc_create_req r;
	const char *tv[SH_MAX_TAGS];
	sh_err err = {0};

	assert_int_equal(linkjson_parse_create(j, &r, tv, &err), SH_EINVAL);
	if (field) {
		assert_non_null(err.field);
		assert_string_equal(err.field, field);
	}
	json_decref(j);
}

/* Every bad field, from the body's types and from the service's checks. */
static void test_create_every_bad_field(void **state)
{
	fx *f = *state;
	json_t *j = parse("{\"longUrl\":\"ftp://e.x/\",\"customSlug\":\"api\","
	                  "\"maxVisits\":\"x\",\"tags\":[\"OK\"],\"title\":7,"
	                  "\"shortCodeLength\":3,\"redirectStatus\":200}");
	const char *tv[SH_MAX_TAGS], *bad[12];
	svc_create_req r;
	sh_err err = {0};
	int n = 0, m = 0;

	/* the types: maxVisits and title; the first one's sentence */
	assert_int_equal(linkjson_parse_create_all(j, &r, tv, &err, bad, 12, &n), SH_EINVAL);
	assert_int_equal(n, 2);
	assert_string_equal(bad[0], "maxVisits");
	assert_string_equal(bad[1], "title");
	assert_string_equal(err.field, "maxVisits");
	/* the meanings: URL scheme, reserved slug, length, tags, status */
	memset(&err, 0, sizeof err);
	assert_int_equal(svc_create_check(f->v, &r, bad, 12, &m, &err), SH_EINVAL);
	assert_int_equal(m, 5);
	assert_string_equal(bad[0], "url");
	assert_string_equal(bad[1], "customSlug");
	assert_string_equal(bad[2], "shortCodeLength");
	assert_string_equal(bad[3], "tags");
	assert_string_equal(bad[4], "redirectStatus");
	assert_string_equal(err.field, "url");
	/* at most max */
	assert_int_equal(svc_create_check(f->v, &r, bad, 2, &m, &err), SH_EINVAL);
	assert_int_equal(m, 2);
	/* a good request: nothing */
	svc_create_req_init(&r);
	r.url = "https://example.com/good";
	assert_int_equal(svc_create_check(f->v, &r, bad, 12, &m, &err), 0);
	assert_int_equal(m, 0);
	assert_int_equal(count_links(f), 0); /* and nothing stored */
	json_decref(j);
}

static void test_linkjson_parse(void **state)
{
	fx *f = *state;
	json_t *j;
	svc_create_req r;
	svc_update_req u;
	const char *tv[SH_MAX_TAGS];
	sh_err err = {0};

	j = parse("{\"longUrl\":\"https://example.com/p\",\"customSlug\":\"abc\","
	          "\"findIfExists\":false,\"shortCodeLength\":8,"
	          "\"validSince\":\"2026-01-01T00:00:00Z\",\"validUntil\":null,"
	          "\"maxVisits\":\"12\",\"tags\":[\"x\",\"y\"],\"title\":\"Hi\","
	          "\"crawlable\":true,\"forwardQuery\":false,\"redirectStatus\":301,"
	          "\"domain\":null,\"validateUrl\":true}");
	assert_int_equal(linkjson_parse_create(j, &r, tv, &err), 0);
	assert_string_equal(r.url, "https://example.com/p");
	assert_string_equal(r.custom_code, "abc");
	assert_false(r.find_if_exists);
	assert_false(r.find_matching);
	assert_int_equal(r.code_length, 8);
	assert_int_equal(r.valid_since, 1767225600);
	assert_int_equal(r.expires_at, 0);
	assert_int_equal(r.max_visits, 12);
	assert_int_equal(r.ntags, 2);
	assert_string_equal(r.tags[1], "y");
	assert_string_equal(r.title, "Hi");
	assert_int_equal(r.crawlable, 1);
	assert_int_equal(r.forward_query, 0);
	assert_int_equal(r.redirect_status, 301);
	json_decref(j);

	/* defaults: Shlink's, a new link every time */
	j = parse("{\"longUrl\":\"https://example.com/d\"}");
	assert_int_equal(linkjson_parse_create(j, &r, tv, &err), 0);
	assert_false(r.find_if_exists);
	assert_false(r.find_matching);
	assert_null(r.custom_code);
	assert_int_equal(r.crawlable, -1);
	assert_int_equal(r.forward_query, -1);
	/* and it goes through the service */
	sh_link l;
	bool ex;
	memset(&l, 0, sizeof l);
	assert_int_equal(svc_shorten(f->v, f->s, &r, &l, &ex, &err), 0);
	sh_link_clear(&l);
	json_decref(j);

	expect_create_field("{}", "longUrl");
	expect_create_field("[]", NULL);
	expect_create_field("{\"longUrl\":5}", "longUrl");
	expect_create_field("{\"longUrl\":null}", "longUrl");
	expect_create_field("{\"longUrl\":\"https://e.x\",\"customSlug\":1}", "customSlug");
	expect_create_field("{\"longUrl\":\"https://e.x\",\"findIfExists\":\"yes\"}",
	                    "findIfExists");
	expect_create_field("{\"longUrl\":\"https://e.x\",\"shortCodeLength\":1.5}",
	                    "shortCodeLength");
	expect_create_field("{\"longUrl\":\"https://e.x\",\"validSince\":\"tomorrow\"}",
	                    "validSince");
	expect_create_field("{\"longUrl\":\"https://e.x\",\"validUntil\":17}", "validUntil");
	expect_create_field("{\"longUrl\":\"https://e.x\",\"maxVisits\":\"-3\"}", "maxVisits");
	expect_create_field("{\"longUrl\":\"https://e.x\",\"tags\":\"a\"}", "tags");
	expect_create_field("{\"longUrl\":\"https://e.x\",\"tags\":[1]}", "tags");
	expect_create_field("{\"longUrl\":\"https://e.x\",\"title\":[]}", "title");
	expect_create_field("{\"longUrl\":\"https://e.x\",\"crawlable\":1}", "crawlable");
	expect_create_field("{\"longUrl\":\"https://e.x\",\"forwardQuery\":null}", "forwardQuery");
	expect_create_field("{\"longUrl\":\"https://e.x\",\"redirectStatus\":\"x\"}",
	                    "redirectStatus");
	expect_create_field("{\"longUrl\":\"https://e\\u0000x\"}", "longUrl");

	/* update: present members only; null clears */
	j = parse("{\"validUntil\":null,\"maxVisits\":null,\"title\":null,\"tags\":[],"
	          "\"forwardQuery\":true,\"disabled\":true}");
	assert_int_equal(linkjson_parse_update(j, &u, tv, &err), 0);
	assert_false(u.has_url);
	assert_false(u.has_valid_since);
	assert_true(u.has_expires_at);
	assert_int_equal(u.expires_at, 0);
	assert_true(u.has_max_visits);
	assert_int_equal(u.max_visits, 0);
	assert_true(u.has_title);
	assert_null(u.title);
	assert_true(u.has_tags);
	assert_int_equal(u.ntags, 0);
	assert_true(u.has_forward_query);
	assert_true(u.forward_query);
	assert_true(u.has_disabled);
	assert_false(u.has_redirect_status);
	json_decref(j);
	j = parse("{\"longUrl\":null}");
	assert_int_equal(linkjson_parse_update(j, &u, tv, &err), SH_EINVAL);
	assert_string_equal(err.field, "longUrl");
	json_decref(j);
	j = parse("{\"redirectStatus\":null}");
	assert_int_equal(linkjson_parse_update(j, &u, tv, &err), SH_EINVAL);
	assert_string_equal(err.field, "redirectStatus");
	json_decref(j);
}

/* ---- sqlite ----------------------------------------------------------------- */

static void test_sqlite_roundtrip(void **state)
{
	fx *f = *state;
	sh_link a, b, c;
	bool ex = false;
	sh_err err = {0};
	store_options o;

	must_shorten(f, "https://example.com/sq", &a);
	assert_int_equal(strlen(a.code), 6);
	assert_int_equal(shorten_url(f, "https://example.com/sq", &b, &ex), 0);
	assert_true(ex);
	assert_string_equal(a.code, b.code);
	sh_link_clear(&b);
	assert_int_equal(svc_resolve(f->v, f->s, a.code, strlen(a.code), f->t, NOW), 0);
	assert_string_equal(f->t->url, "https://example.com/sq");

	/* reopen: the secret was saved, so the code still decodes to the link */
	fx_close_svc(f);
	store_close(f->s);
	store_options_default(&o);
	assert_int_equal(store_open(&f->s, f->url, &o, &err), 0);
	fx_open_svc(f);
	assert_int_equal(svc_resolve(f->v, f->s, a.code, strlen(a.code), f->t, NOW), 0);
	assert_string_equal(f->t->url, "https://example.com/sq");
	must_shorten(f, "https://example.com/sq2", &c);
	assert_string_not_equal(a.code, c.code);
	assert_int_equal(c.id, a.id + 1);
	sh_link_clear(&a);
	sh_link_clear(&c);
	assert_int_equal(count_links(f), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shorten_resolves, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_dedupe, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_find_matching, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_create_every_bad_field, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_thousand_codes, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_custom_codes, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_custom_equal_to_next_generated, setup_mem,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_random_strategy, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_hash_strategy, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_validation_fields, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_store_failure_leaves_nothing, setup_mem,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_resolve_rules, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_unknown_and_negative_cache, setup_mem,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_delete_at_once, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_owner_filter, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_update, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_list_fills_codes, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_open_blocklist, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_visits_flush, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_bot_user_agents, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_visits_overflow_keeps_counts, setup_mem,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_visits_failed_flush, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_linkjson_shape, setup_mem, teardown),
		cmocka_unit_test_setup_teardown(test_linkjson_parse, setup_mem, teardown),
		/* the same rules over a real SQLite file */
		cmocka_unit_test_setup_teardown(test_shorten_resolves, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_dedupe, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_find_matching, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_custom_equal_to_next_generated, setup_sqlite,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_store_failure_leaves_nothing, setup_sqlite,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_resolve_rules, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_update, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_visits_failed_flush, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_roundtrip, setup_sqlite, teardown),
	};
	/* every rule again on PostgreSQL */
	const struct CMUnitTest pg_tests[] = {
		cmocka_unit_test_setup_teardown(test_shorten_resolves, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_dedupe, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_find_matching, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_thousand_codes, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_custom_codes, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_custom_equal_to_next_generated, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_random_strategy, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_hash_strategy, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_validation_fields, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_store_failure_leaves_nothing, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_rules, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_unknown_and_negative_cache, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_delete_at_once, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_owner_filter, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_update, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_list_fills_codes, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_open_blocklist, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_visits_flush, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_visits_overflow_keeps_counts, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_visits_failed_flush, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_linkjson_shape, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(test_linkjson_parse, setup_pg, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	if (!pgtest_required())
		return failed + 1;
	return failed + cmocka_run_group_tests(pg_tests, NULL, NULL);
}

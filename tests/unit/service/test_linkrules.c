/*
 * test_linkrules.c — unit tests of a link's redirect rules in the service
 * (service/linkrules.c) and of exact visit limits (service/limits.c), over
 * the in-memory store: rules stored with the link and read back, the
 * caller's role rules, the redirect path's pick (and that a replacement is
 * seen at once through the cache), and N threads against a limit of M.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "shorty/service.h"
#include "shorty/store.h"
#include "service/internal.h"

typedef struct fx {
	sh_config cfg;
	store *s;
	svc *v;
	svc_target *t;
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	store_options o;
	sh_err err = {0};

	assert_non_null(f);
	f->cfg.base_url = (char *)"http://localhost:8000";
	f->cfg.cache_entries = 1000;
	f->cfg.code_length = 6;
	f->cfg.code_strategy = CODE_COUNTER;
	f->cfg.redirect_status = 302;
	f->cfg.max_url_length = 8192;
	f->cfg.allowed_schemes = (char *)"http,https";
	store_options_default(&o);
	o.create = true;
	assert_int_equal(store_open(&f->s, "memory:", &o, &err), 0);
	assert_int_equal(store_migrate(f->s, &err), 0);
	assert_int_equal(svc_open(&f->v, &f->cfg, f->s, &err), 0);
	f->t = malloc(svc_target_size(f->v));
	assert_non_null(f->t);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;

	svc_close(f->v);
	store_close(f->s);
	free(f->t);
	free(f);
	return 0;
}

static void make(fx *f, const char *code, int64_t owner, int64_t max_visits)
{
	svc_create_req req;
	sh_link l;
	sh_err err = {0};

	svc_create_req_init(&req);
	req.url = "https://default.example/";
	req.custom_code = code;
	req.owner_key_id = owner;
	req.max_visits = max_visits;
	assert_int_equal(svc_shorten(f->v, f->s, &req, &l, NULL, &err), 0);
	sh_link_clear(&l);
}

static rules_set *compile(fx *f, const char *body)
{
	json_t *j = json_loads(body, 0, NULL);
	rules_set *rs = NULL;
	sh_err err = {0};

	assert_non_null(j);
	assert_int_equal(rules_from_body(j, svc_url_policy(f->v), &rs, &err), 0);
	json_decref(j);
	return rs;
}

static int set(fx *f, const char *code, const svc_caller *who, const char *body)
{
	rules_set *rs = compile(f, body);
	sh_err err = {0};
	int rc = svc_rules_set(f->v, f->s, code, who, rs, NULL, &err);

	rules_free(rs);
	if (rc == 0)
		svc_cache_forget(f->v, code); /* as the writer does after its commit */
	return rc;
}

/* Where a redirect of code goes for this User-Agent. */
static const char *go(fx *f, const char *code, const char *ua)
{
	rules_request rq = {.user_agent = ua, .now = 1780000000};

	assert_int_equal(svc_resolve(f->v, f->s, code, strlen(code), f->t, 0), 0);
	assert_int_equal(svc_rules_pick(f->v, f->s, f->t, &rq), 0);
	return f->t->url;
}

#define ANDROID "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/116.0 Mobile Safari/537.36"
#define ANDROID_RULE                                                                               \
	"{\"redirectRules\":[{\"longUrl\":\"https://a.example/\",\"conditions\":"                 \
	"[{\"type\":\"device\",\"matchValue\":\"android\"}]}]}"

static void test_stored_and_read_back(void **state)
{
	fx *f = *state;
	rules_set *rs = NULL;
	sh_link l;
	sh_err err = {0};
	json_t *j;

	make(f, "rr1", 0, 0);
	assert_int_equal(svc_rules_get(f->v, f->s, "rr1", NULL, &l, &rs, &err), 0);
	assert_null(rs);
	assert_null(l.redirect_rules);
	sh_link_clear(&l);
	assert_int_equal(set(f, "rr1", NULL, ANDROID_RULE), 0);
	assert_int_equal(svc_rules_get(f->v, f->s, "rr1", NULL, &l, &rs, &err), 0);
	assert_int_equal(rules_count(rs), 1);
	assert_string_equal(l.redirect_rules,
	                    "[{\"longUrl\":\"https://a.example/\",\"priority\":1,\"conditions\":"
	                    "[{\"type\":\"device\",\"matchKey\":null,\"matchValue\":\"android\"}]}]");
	j = rules_answer(rs, l.url);
	assert_string_equal(json_string_value(json_object_get(j, "defaultLongUrl")),
	                    "https://default.example/");
	json_decref(j);
	rules_free(rs);
	sh_link_clear(&l);
	/* an empty list removes them: NULL again, not "[]" */
	assert_int_equal(set(f, "rr1", NULL, "{\"redirectRules\":[]}"), 0);
	assert_int_equal(svc_get(f->v, f->s, "rr1", NULL, &l), 0);
	assert_null(l.redirect_rules);
	sh_link_clear(&l);
	assert_int_equal(svc_rules_get(f->v, f->s, "nope", NULL, &l, &rs, &err), SH_ENOTFOUND);
}

static void test_role_rules(void **state)
{
	fx *f = *state;
	svc_caller author = {.key_id = 7, .role = KEY_AUTHOR};
	svc_caller other = {.key_id = 8, .role = KEY_AUTHOR};
	svc_caller ro = {.key_id = 9, .role = KEY_READ_ONLY};
	rules_set *rs = NULL;
	sh_link l;
	sh_err err = {0};

	make(f, "mine", 7, 0);
	assert_int_equal(set(f, "mine", &author, ANDROID_RULE), 0);
	assert_int_equal(set(f, "mine", &other, ANDROID_RULE), SH_ENOTFOUND);
	assert_int_equal(set(f, "mine", &ro, ANDROID_RULE), SH_EFORBIDDEN);
	assert_int_equal(svc_rules_get(f->v, f->s, "mine", &other, &l, &rs, &err), SH_ENOTFOUND);
	assert_int_equal(svc_rules_get(f->v, f->s, "mine", &ro, &l, &rs, &err), 0);
	assert_int_equal(rules_count(rs), 1);
	rules_free(rs);
	sh_link_clear(&l);
}

static void test_pick_on_the_redirect_path(void **state)
{
	fx *f = *state;

	make(f, "plain", 0, 0);
	assert_string_equal(go(f, "plain", ANDROID), "https://default.example/");
	assert_int_equal(f->t->rules_hash, 0);
	make(f, "ruled", 0, 0);
	assert_int_equal(set(f, "ruled", NULL, ANDROID_RULE), 0);
	assert_string_equal(go(f, "ruled", ANDROID), "https://a.example/");
	assert_int_not_equal(f->t->rules_hash, 0);
	assert_string_equal(go(f, "ruled", "curl/8"), "https://default.example/");
	assert_int_equal(f->t->url_len, strlen("https://default.example/"));
	/* replaced: the next redirect sees the new rules, not the compiled old ones */
	assert_int_equal(set(f, "ruled", NULL,
	                     "{\"redirectRules\":[{\"longUrl\":\"https://b.example/\",\"conditions\":"
	                     "[{\"type\":\"device\",\"matchValue\":\"android\"}]}]}"),
	                 0);
	assert_string_equal(go(f, "ruled", ANDROID), "https://b.example/");
	assert_string_equal(go(f, "ruled", ANDROID), "https://b.example/"); /* cached now */
	assert_int_equal(set(f, "ruled", NULL, "{\"redirectRules\":[]}"), 0);
	assert_string_equal(go(f, "ruled", ANDROID), "https://default.example/");
}

struct admit_run {
	fx *f;
	int admitted;
};

static void *admit_thread(void *p)
{
	struct admit_run *a = p;

	for (int i = 0; i < 200; i++)
		if (svc_visit_admit(a->f->v, a->f->t))
			a->admitted++;
	return NULL;
}

static void test_visit_limit_exact_across_threads(void **state)
{
	fx *f = *state;
	struct admit_run runs[8];
	pthread_t th[8];
	int total = 0;

	make(f, "limited", 0, 5);
	assert_int_equal(svc_resolve(f->v, f->s, "limited", 7, f->t, 0), 0);
	assert_int_equal(f->t->max_visits, 5);
	for (int i = 0; i < 8; i++) {
		runs[i] = (struct admit_run){.f = f};
		assert_int_equal(pthread_create(&th[i], NULL, admit_thread, &runs[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		total += runs[i].admitted;
	}
	assert_int_equal(total, 5);
	/* its visits deleted: counted again from the stored count */
	svc__limits_forget(f->v, f->t->link_id);
	f->t->visits = 3;
	assert_true(svc_visit_admit(f->v, f->t));
	assert_true(svc_visit_admit(f->v, f->t));
	assert_false(svc_visit_admit(f->v, f->t));
	/* no limit: always, and nothing counted */
	make(f, "free", 0, 0);
	assert_int_equal(svc_resolve(f->v, f->s, "free", 4, f->t, 0), 0);
	for (int i = 0; i < 100; i++)
		assert_true(svc_visit_admit(f->v, f->t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stored_and_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_role_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pick_on_the_redirect_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_visit_limit_exact_across_threads, setup,
		                                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * redirect_rules.c — what redirect rules cost on the service's redirect
 * path, end to end below HTTP: svc_resolve (the cache hit a redirect takes)
 * then the rules step redirect.c runs, for a link without rules (one
 * compare: no rules hash) and for a link with 10 rules (the compiled rules
 * of the per-link cache, matched against a mix of realistic requests).
 * Built with the project (bench_redirect_rules), run by hand, never by
 * `make test`:
 *
 *   build/release/bench_redirect_rules [ROUNDS]      (default 1000000)
 *
 * Prints nanoseconds per redirect for: resolve alone; resolve + the rules
 * step of a link without rules; resolve + the rules step of a link with 10
 * rules. The difference of the first two is what links without rules pay
 * (docs/benchmarks.md, "Redirect rules on the redirect path").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shorty/config.h"
#include "shorty/service.h"

/* The rules and requests of bench/rules_sample.h (country and city given,
 * as a located request has them: the GeoIP lookup is not part of this
 * figure). */
#include "rules_sample.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_redirect_rules: %s: %s\n", what, msg ? msg : "");
	exit(1);
}

/* One link with this code, and these rules (NULL: none). */
static void make_link(svc *v, store *s, const char *code, const char *rules)
{
	svc_create_req req;
	sh_link l;
	sh_err err = {0};
	rules_set *rs = NULL;
	json_t *body;

	svc_create_req_init(&req);
	req.url = "https://example.com/default";
	req.custom_code = code;
	req.find_if_exists = false;
	if (svc_shorten(v, s, &req, &l, NULL, &err) != 0)
		die("create", err.msg);
	sh_link_clear(&l);
	if (!rules)
		return;
	body = json_loads(rules, 0, NULL);
	if (!body || rules_from_body(body, svc_url_policy(v), &rs, &err) != 0)
		die("rules", err.msg);
	json_decref(body);
	if (svc_rules_set(v, s, code, NULL, rs, NULL, &err) != 0)
		die("set rules", err.msg);
	rules_free(rs);
}

/* n redirects of code: resolve, then (with_rules) the rules step as
 * redirect.c takes it. Returns ns per redirect. */
static double run(svc *v, store *s, svc_target *t, const char *code, long n, bool with_rules,
                  long *sum)
{
	size_t len = strlen(code);
	double t0 = now_ns();

	for (long i = 0; i < n; i++) {
		if (svc_resolve(v, s, code, len, t, 1780000000) != 0)
			die("resolve", code);
		if (with_rules && t->rules_hash)
			svc_rules_pick(v, s, t, &REQS[(size_t)i % NREQS]);
		*sum += (long)t->url_len;
	}
	return (now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000, sum = 0;
	sh_config cfg;
	sh_err err = {0};
	store *s = NULL;
	svc *v = NULL;
	svc_target *t;

	if (n <= 0) {
		fprintf(stderr, "usage: bench_redirect_rules [ROUNDS]\n");
		return 2;
	}
	if (cfg_init(&cfg, &err) != 0)
		die("config", err.msg);
	if (svc_store_open(&s, "memory:", &cfg, SVC_STORE_CREATE, &err) != 0 ||
	    svc_store_migrate(s, &err) != 0)
		die("store", err.msg);
	if (svc_open(&v, &cfg, s, &err) != 0)
		die("service", err.msg);
	make_link(v, s, "plain", NULL);
	make_link(v, s, "ruled", RULES);
	t = malloc(svc_target_size(v));
	if (!t)
		die("target", "out of memory");

	run(v, s, t, "plain", n / 10 + 1, true, &sum); /* warm up: caches filled */
	run(v, s, t, "ruled", n / 10 + 1, true, &sum);
	double alone = run(v, s, t, "plain", n, false, &sum);
	double plain = run(v, s, t, "plain", n, true, &sum);
	double ruled = run(v, s, t, "ruled", n, true, &sum);
	printf("resolve alone (cache hit):                   %6.0f ns per redirect\n", alone);
	printf("resolve + rules step, link without rules:    %6.0f ns per redirect\n", plain);
	printf("resolve + rules step, link with 10 rules:    %6.0f ns per redirect\n", ruled);
	printf("(%ld redirects each; %zu request kinds; checksum %ld)\n", n, NREQS, sum);
	free(t);
	svc_close(v);
	svc_store_close(s);
	cfg_free(&cfg);
	return 0;
}

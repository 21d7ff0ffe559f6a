/*
 * rules_bench.c — the cost of redirect rules on the redirect path
 * (service/rules.c): rules_match() over a link with 10 rules, for a mix of
 * realistic requests, and the cost for a link without rules. Built with the
 * project (bench_rules), run by hand, never by `make test`:
 *
 *   build/release/bench_rules [EVALUATIONS]      (default 2000000)
 *
 * Prints nanoseconds per evaluation. For instruction counts that do not
 * depend on the machine's load, run it under callgrind with two counts and
 * divide the difference (docs/benchmarks.md, "Redirect rules").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "shorty/rules.h"

#include "rules_sample.h"

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Runs n evaluations over rs; returns ns per evaluation. `hits` keeps the
 * result alive so that the compiler cannot drop the calls. */
static double run(const rules_set *rs, long n, long *hits)
{
	double t0 = now_ns();

	for (long i = 0; i < n; i++)
		*hits += rules_match(rs, &REQS[(size_t)i % NREQS]) != NULL;
	return (now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000000;
	url_policy policy;
	rules_set *rs = NULL;
	sh_err err = {0};
	long hits = 0;

	if (n <= 0) {
		fprintf(stderr, "usage: bench_rules [EVALUATIONS]\n");
		return 2;
	}
	url_policy_default(&policy);
	json_t *body = json_loads(RULES, 0, NULL);
	if (!body || rules_from_body(body, &policy, &rs, &err) != 0) {
		fprintf(stderr, "bench_rules: the benchmark's rules do not compile: %s\n", err.msg);
		return 1;
	}
	json_decref(body);

	run(rs, n / 10 + 1, &hits); /* warm up */
	double with = run(rs, n, &hits);
	double without = run(NULL, n, &hits);
	printf("rules_match, 10 rules (15 conditions), %zu request kinds: %.0f ns per evaluation\n",
	       NREQS, with);
	printf("rules_match, link without rules: %.1f ns per evaluation\n", without);
	printf("(%ld evaluations each; %ld matched)\n", n, hits);
	rules_free(rs);
	return 0;
}

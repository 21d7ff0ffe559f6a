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

/* Ten rules of every kind, none of which matches the requests below until
 * the last ones: each evaluation walks (nearly) all ten. */
static const char *const RULES =
    "{\"redirectRules\":["
    "{\"longUrl\":\"https://example.com/1\",\"conditions\":["
    "  {\"type\":\"device\",\"matchValue\":\"ios\"},"
    "  {\"type\":\"language\",\"matchValue\":\"ja\"}]},"
    "{\"longUrl\":\"https://example.com/2\",\"conditions\":["
    "  {\"type\":\"query-param\",\"matchKey\":\"utm_source\",\"matchValue\":\"newsletter\"}]},"
    "{\"longUrl\":\"https://example.com/3\",\"conditions\":["
    "  {\"type\":\"ip-address\",\"matchValue\":\"10.0.0.0/8\"}]},"
    "{\"longUrl\":\"https://example.com/4\",\"conditions\":["
    "  {\"type\":\"geolocation-country-code\",\"matchValue\":\"JP\"}]},"
    "{\"longUrl\":\"https://example.com/5\",\"conditions\":["
    "  {\"type\":\"browser\",\"matchValue\":\"opera\"}]},"
    "{\"longUrl\":\"https://example.com/6\",\"conditions\":["
    "  {\"type\":\"language\",\"matchValue\":\"pt-BR\"},"
    "  {\"type\":\"device\",\"matchValue\":\"android\"}]},"
    "{\"longUrl\":\"https://example.com/7\",\"conditions\":["
    "  {\"type\":\"valueless-query-param\",\"matchKey\":\"beta\"}]},"
    "{\"longUrl\":\"https://example.com/8\",\"conditions\":["
    "  {\"type\":\"ip-address\",\"matchValue\":\"192.168.*.*\"},"
    "  {\"type\":\"geolocation-city-name\",\"matchValue\":\"Osaka\"}]},"
    "{\"longUrl\":\"https://example.com/9\",\"conditions\":["
    "  {\"type\":\"after-date\",\"matchValue\":\"2030-01-01\"}]},"
    "{\"longUrl\":\"https://example.com/10\",\"conditions\":["
    "  {\"type\":\"device\",\"matchValue\":\"desktop\"},"
    "  {\"type\":\"language\",\"matchValue\":\"en\"}]}"
    "]}";

static const rules_request REQS[] = {
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/146.0.0.0 Safari/537.36",
     "en-US,en;q=0.9,de;q=0.8", "utm_source=twitter&utm_medium=social", 36, "203.0.113.7", "US",
     "Boston", 1780000000},
    {"Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/109.0.5414.86 Mobile Safari/537.36",
     "fr-FR,fr;q=0.9,en;q=0.5", "", 0, "198.51.100.23", "FR", "Paris", 1780000000},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 16_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/16.2 Mobile/15E148 Safari/604.1",
     "de-DE", "ref=home", 8, "2001:db8::42", "DE", "Berlin", 1780000000},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.4 Safari/605.1.15",
     "en-GB,en;q=0.9", NULL, 0, "192.0.2.1", "GB", "London", 1780000000},
};
#define NREQS (sizeof REQS / sizeof REQS[0])

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

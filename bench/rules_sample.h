/*
 * rules_sample.h — the rules and requests both rules benchmarks use
 * (bench/rules_bench.c: rules_match alone; bench/redirect_rules.c: the
 * service's redirect path): ten rules of every kind, and four realistic
 * requests that match none of them or only the last ones.
 */
#ifndef SHORTY_BENCH_RULES_SAMPLE_H
#define SHORTY_BENCH_RULES_SAMPLE_H

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

#endif

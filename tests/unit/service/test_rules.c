/*
 * test_rules.c — unit tests of service/rules.c: what Shlink 5.1 sees in a
 * User-Agent, each condition type against requests (tables, many taken
 * from Shlink's own RedirectConditionTest), the priority order, every kind
 * of bad input with the element it names, and the JSON round trip.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "shorty/rules.h"
#include "shorty/timeutil.h"

/* Shlink's test user agents (config/test/constants.php) and a few more. */
#define UA_ANDROID                                                                                 \
	"Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) "                  \
	"Chrome/109.0.5414.86 Mobile Safari/537.36"
#define UA_IOS                                                                                     \
	"Mozilla/5.0 (iPhone; CPU iPhone OS 16_2 like Mac OS X) AppleWebKit/605.1.15 "             \
	"(KHTML, like Gecko) FxiOS/109.0 Mobile/15E148 Safari/605.1.15"
#define UA_WINDOWS                                                                                 \
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "        \
	"Chrome/138.0.0.0 Safari/537.36 Edg/138.0.3351.95"
#define UA_LINUX                                                                                   \
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "                  \
	"HeadlessChrome/81.0.4044.113 Safari/537.36"
#define UA_MACOS                                                                                   \
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "   \
	"Version/18.4 Safari/605.1.15"
#define UA_CHROMEOS                                                                                \
	"Mozilla/5.0 (X11; CrOS x86_64 16181.61.0) AppleWebKit/537.36 (KHTML, like Gecko) "        \
	"Chrome/134.0.6998.198 Safari/537.36"
#define UA_CHROME                                                                                  \
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "        \
	"Chrome/146.0.0.0 Safari/537.36"
#define UA_FIREFOX                                                                                 \
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:148.0) Gecko/20100101 Firefox/148.0"
#define UA_EDGE UA_CHROME " Edg/146.0.3856.62"
#define UA_SAFARI                                                                                  \
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 15_7_4) AppleWebKit/605.1.15 "                     \
	"(KHTML, like Gecko) Version/26.0 Safari/605.1.15"
#define UA_OPERA UA_CHROME " OPR/128.0.0.0"
#define UA_ANDROID_STOCK                                                                           \
	"Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebKit/534.30 "  \
	"(KHTML, like Gecko) Version/4.0 Mobile Safari/534.30"

#define NOW 1780000000 /* 2026-05-28 */

static url_policy policy;

static int setup(void **state)
{
	url_policy_default(&policy);
	return 0;
}

/* Compiles a rule list from JSON text (the POST body); fails the test if
 * it does not compile. */
static rules_set *compile(const char *body)
{
	json_error_t jerr;
	json_t *j = json_loads(body, 0, &jerr);
	rules_set *rs = NULL;
	sh_err err = {0};

	if (!j)
		fail_msg("bad test JSON: %s: %s", jerr.text, body);
	int rc = rules_from_body(j, &policy, &rs, &err);
	json_decref(j);
	if (rc)
		fail_msg("did not compile (%d): %s\n  %s", rc, err.msg, body);
	return rs;
}

/* One rule with one condition. */
static rules_set *one(const char *type, const char *key, const char *value)
{
	char body[1024];
	char k[256], v[256];

	if (key)
		snprintf(k, sizeof k, "\"%s\"", key);
	else
		snprintf(k, sizeof k, "null");
	if (value)
		snprintf(v, sizeof v, "\"%s\"", value);
	else
		snprintf(v, sizeof v, "null");
	snprintf(body, sizeof body,
	         "{\"redirectRules\":[{\"longUrl\":\"https://example.com/hit\",\"conditions\":"
	         "[{\"type\":\"%s\",\"matchKey\":%s,\"matchValue\":%s}]}]}",
	         type, k, v);
	return compile(body);
}

static void expect(const char *type, const char *key, const char *value, const rules_request *rq,
                   bool hit)
{
	rules_set *rs = one(type, key, value);
	const char *got = rules_match(rs, rq);

	if (hit && (!got || strcmp(got, "https://example.com/hit") != 0))
		fail_msg("%s %s=%s: expected a match", type, key ? key : "-", value ? value : "-");
	if (!hit && got)
		fail_msg("%s %s=%s: expected no match, got %s", type, key ? key : "-",
		         value ? value : "-", got);
	rules_free(rs);
}

/* --- the User-Agent -------------------------------------------------- */

static void test_user_agent(void **state)
{
	static const struct {
		const char *ua;
		unsigned devices;
		enum rules_browser browser;
	} cases[] = {
	    {UA_ANDROID, RULES_DEV_ANDROID | RULES_DEV_MOBILE, RULES_BROWSER_CHROME},
	    {UA_IOS, RULES_DEV_IOS | RULES_DEV_MOBILE, RULES_BROWSER_SAFARI},
	    {UA_WINDOWS, RULES_DEV_WINDOWS | RULES_DEV_DESKTOP, RULES_BROWSER_EDGE},
	    {UA_LINUX, RULES_DEV_LINUX | RULES_DEV_DESKTOP, RULES_BROWSER_NONE},
	    {UA_MACOS, RULES_DEV_MACOS | RULES_DEV_DESKTOP, RULES_BROWSER_SAFARI},
	    {UA_CHROMEOS, RULES_DEV_CHROMEOS | RULES_DEV_DESKTOP, RULES_BROWSER_CHROME},
	    {UA_CHROME, RULES_DEV_WINDOWS | RULES_DEV_DESKTOP, RULES_BROWSER_CHROME},
	    {UA_FIREFOX, RULES_DEV_WINDOWS | RULES_DEV_DESKTOP, RULES_BROWSER_FIREFOX},
	    {UA_EDGE, RULES_DEV_WINDOWS | RULES_DEV_DESKTOP, RULES_BROWSER_EDGE},
	    {UA_SAFARI, RULES_DEV_MACOS | RULES_DEV_DESKTOP, RULES_BROWSER_SAFARI},
	    {UA_OPERA, RULES_DEV_WINDOWS | RULES_DEV_DESKTOP, RULES_BROWSER_OPERA},
	    {UA_ANDROID_STOCK, RULES_DEV_ANDROID | RULES_DEV_MOBILE, RULES_BROWSER_ANDROID},
	    {"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
	     RULES_DEV_LINUX | RULES_DEV_DESKTOP, RULES_BROWSER_FIREFOX},
	    {"Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
	     "Gecko) Version/12.1 Mobile/15E148 Safari/604.1",
	     RULES_DEV_IOS | RULES_DEV_MOBILE, RULES_BROWSER_SAFARI},
	    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
	     "like Gecko) CriOS/117.0.5938.117 Mobile/15E148 Safari/604.1",
	     RULES_DEV_IOS | RULES_DEV_MOBILE, RULES_BROWSER_CHROME},
	    {"Opera/9.80 (Windows NT 6.1) Presto/2.12.388 Version/12.16",
	     RULES_DEV_WINDOWS | RULES_DEV_DESKTOP, RULES_BROWSER_OPERA},
	    /* Internet Explorer 11: Windows, not one of Shlink's browsers */
	    {"Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko",
	     RULES_DEV_WINDOWS | RULES_DEV_DESKTOP, RULES_BROWSER_NONE},
	    /* Samsung Internet names Chrome too; the parser picks Samsung */
	    {"Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) "
	     "SamsungBrowser/21.0 Chrome/110.0.5481.154 Mobile Safari/537.36",
	     RULES_DEV_ANDROID | RULES_DEV_MOBILE, RULES_BROWSER_NONE},
	    /* Windows Phone outranks Android, and is no Shlink device */
	    {"Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) "
	     "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 "
	     "Edge/15.14977",
	     0, RULES_BROWSER_EDGE},
	    /* a Kindle's Silk browser makes the platform "Kindle Fire" */
	    {"Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
	     "Silk/108.5.1 like Chrome/108.0.5359.220 Safari/537.36",
	     0, RULES_BROWSER_NONE},
	    /* robots */
	    {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0,
	     RULES_BROWSER_NONE},
	    {"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
	     "like Gecko) Chrome/41.0.2272.96 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
	     "+http://www.google.com/bot.html)",
	     RULES_DEV_ANDROID | RULES_DEV_MOBILE, RULES_BROWSER_NONE},
	    /* no parentheses: no platform, unless "Android/" appears */
	    {"curl/8.5.0", 0, RULES_BROWSER_NONE},
	    {"Dalvik Android/13 okhttp/4", RULES_DEV_ANDROID | RULES_DEV_MOBILE,
	     RULES_BROWSER_NONE},
	    {"Wget/1.21.3 (linux-gnu)", RULES_DEV_LINUX | RULES_DEV_DESKTOP, RULES_BROWSER_NONE},
	    {"unknown", 0, RULES_BROWSER_NONE},
	    {"", 0, RULES_BROWSER_NONE},
	    {NULL, 0, RULES_BROWSER_NONE},
	    /* an unclosed parenthesis, a lone name */
	    {"Mozilla/5.0 (Windows NT 10.0", 0, RULES_BROWSER_NONE},
	    {"Chrome", 0, RULES_BROWSER_NONE},
	    {"Chrome/", 0, RULES_BROWSER_CHROME},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned dev;
		enum rules_browser br;

		rules_user_agent(cases[i].ua, &dev, &br);
		if (dev != cases[i].devices || br != cases[i].browser)
			fail_msg("case %zu (%s): devices %#x browser %d, want %#x %d", i,
			         cases[i].ua ? cases[i].ua : "NULL", dev, br, cases[i].devices,
			         cases[i].browser);
	}
}

/* --- each condition type -------------------------------------------- */

/* A table of user agents against one-condition rules of `type`. */
struct ua_case {
	const char *ua, *value;
	bool hit;
};

static void ua_cases(const char *type, const struct ua_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rules_request rq = {.user_agent = cases[i].ua, .now = NOW};
		expect(type, NULL, cases[i].value, &rq, cases[i].hit);
	}
}

static void test_device(void **state)
{
	static const struct ua_case cases[] = {
	    /* Shlink's RedirectConditionTest::matchesDevice */
	    {NULL, "android", false},          {"unknown", "android", false},
	    {UA_ANDROID, "android", true},     {UA_WINDOWS, "desktop", true},
	    {UA_LINUX, "desktop", true},       {UA_MACOS, "desktop", true},
	    {UA_CHROMEOS, "desktop", true},    {UA_WINDOWS, "windows", true},
	    {UA_LINUX, "linux", true},         {UA_MACOS, "macos", true},
	    {UA_CHROMEOS, "chromeos", true},   {UA_IOS, "ios", true},
	    {UA_IOS, "mobile", true},          {UA_ANDROID, "mobile", true},
	    {UA_IOS, "android", false},        {UA_WINDOWS, "ios", false},
	    {UA_LINUX, "windows", false},      {UA_ANDROID, "desktop", false},
	    {UA_CHROMEOS, "linux", false},     {UA_MACOS, "ios", false},
	};

	ua_cases("device", cases, sizeof cases / sizeof cases[0]);
}

static void test_browser(void **state)
{
	static const struct ua_case cases[] = {
	    {NULL, "chrome", false},         {"unknown", "chrome", false},
	    {UA_CHROME, "chrome", true},     {UA_FIREFOX, "firefox", true},
	    {UA_EDGE, "edge", true},         {UA_SAFARI, "safari", true},
	    {UA_OPERA, "opera", true},       {UA_ANDROID_STOCK, "android_browser", true},
	    {UA_EDGE, "chrome", false},      {UA_OPERA, "chrome", false},
	    {UA_CHROME, "safari", false},    {UA_ANDROID, "android_browser", false},
	};

	ua_cases("browser", cases, sizeof cases / sizeof cases[0]);
}

static void test_language(void **state)
{
	static const struct {
		const char *accept, *lang;
		bool hit;
	} cases[] = {
	    /* Shlink's RedirectConditionTest::matchesLanguage */
	    {NULL, "en", false},
	    {"", "en", false},
	    {"*", "en", false},
	    {"en", "en", true},
	    {"es, en,fr", "en", true},
	    {"es, en-US,fr", "EN", true},
	    {"es_ES", "es-ES", true},
	    {"en-US,es-ES;q=0.6", "es-ES", false},
	    {"en-US,es-ES;q=0.9", "es-ES", true},
	    {"en-UK", "en-uk", true},
	    {"en-UK", "en", true},
	    {"es-AR", "en", false},
	    {"fr", "fr-FR", false},
	    /* more */
	    {"fr-FR;q=0.95", "fr_fr", true},
	    {"fr-FR; q=0.89", "fr", false},
	    {"de;q=1.0, *;q=0.5", "de", true},
	    {"*, de", "de", true},
	    {"de-CH-1996", "de-ch", true},
	    {"de;q=abc", "de", false},   /* no number: quality 0 */
	    {"de;level=1", "de", true},  /* no q: quality 1 */
	    {"  en-gb  ", "en-GB", true},
	    {"english", "en", false},
	    {"en-US", "en-GB", false},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rules_request rq = {.accept_language = cases[i].accept, .now = NOW};
		expect("language", NULL, cases[i].lang, &rq, cases[i].hit);
	}
}

static void test_query(void **state)
{
	static const struct {
		const char *type, *key, *value, *query;
		bool hit;
	} cases[] = {
	    /* Shlink's matchesQueryParams / AnyValue / Valueless */
	    {"query-param", "foo", "bar", "nop=", false},
	    {"query-param", "foo", "bar", "foo=not-bar", false},
	    {"query-param", "foo", "bar", "foo=bar", true},
	    {"any-value-query-param", "foo", NULL, "nop=", false},
	    {"any-value-query-param", "foo", NULL, "foo=", true},
	    {"any-value-query-param", "foo", NULL, "foo=something", true},
	    {"any-value-query-param", "foo", NULL, "foo=something%20else", true},
	    {"valueless-query-param", "foo", NULL, "nop=", false},
	    {"valueless-query-param", "foo", NULL, "foo=", true},
	    {"valueless-query-param", "foo", NULL, "foo", true},
	    {"valueless-query-param", "foo", NULL, "foo=something", false},
	    /* decoding, several pairs, the last pair of a key wins */
	    {"query-param", "foo", "a b", "x=1&foo=a+b", true},
	    {"query-param", "foo", "a b", "foo=a%20b&y", true},
	    {"query-param", "f o", "é", "f%20o=%C3%A9", true},
	    {"query-param", "foo", "bar", "foo=bar&foo=baz", false},
	    {"query-param", "foo", "baz", "foo=bar&foo=baz", true},
	    {"query-param", "foo", "bar", "foo=ba", false},
	    {"query-param", "foo", "bar", "foo=barr", false},
	    {"query-param", "foo", "100%", "foo=100%", true},
	    {"query-param", "foo", "bar", "", false},
	    {"query-param", "foo", "bar", NULL, false},
	    {"any-value-query-param", "foo", NULL, "a=1&&foo", true},
	    {"any-value-query-param", "foo", NULL, "foobar=1", false},
	    {"any-value-query-param", "foo", NULL, "=foo", false},
	    {"valueless-query-param", "foo", NULL, "foo&foo=1", false},
	    {"valueless-query-param", "foo", NULL, "foo=1&foo", true},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rules_request rq = {.query = cases[i].query,
		                    .query_len = cases[i].query ? strlen(cases[i].query) : 0,
		                    .now = NOW};
		expect(cases[i].type, cases[i].key, cases[i].value, &rq, cases[i].hit);
	}
}

static void test_ip_address(void **state)
{
	static const struct {
		const char *client, *pattern;
		bool hit;
	} cases[] = {
	    /* Shlink's matchesRemoteIpAddress */
	    {NULL, "1.2.3.4", false},
	    {"1.2.3.4", "1.2.3.4", true},
	    {"4.3.2.1", "1.2.3.4", false},
	    {"192.168.1.35", "192.168.1.0/24", true},
	    {"1.2.3.4", "192.168.1.0/24", false},
	    {"192.168.1.35", "192.168.1.*", true},
	    {"1.2.3.4", "192.168.1.*", false},
	    /* more */
	    {"192.168.7.1", "192.168.*.*", true},
	    {"192.169.7.1", "192.168.*.*", false},
	    {"1.9.3.4", "1.*.3.4", true},
	    {"1.9.3.5", "1.*.3.4", false},
	    {"8.8.8.8", "*.*.*.*", true},
	    {"10.1.2.3", "10.0.0.0/8", true},
	    {"11.1.2.3", "10.0.0.0/8", false},
	    {"10.1.2.3", "10.1.2.77/25", true}, /* host bits in the block are ignored */
	    {"10.1.2.200", "10.1.2.77/25", false},
	    {"5.6.7.8", "0.0.0.0/0", true},
	    {"::ffff:192.168.1.35", "192.168.1.0/24", true},
	    {"2001:db8::1", "2001:db8::/32", true},
	    {"2001:db9::1", "2001:db8::/32", false},
	    {"2001:db8::1", "2001:db8::1", true},
	    {"2001:db8::1", "192.168.1.*", false},
	    {"192.168.1.1", "2001:db8::/32", false},
	    {"not an address", "1.2.3.4", false},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rules_request rq = {.client_ip = cases[i].client, .now = NOW};
		expect("ip-address", NULL, cases[i].pattern, &rq, cases[i].hit);
	}
}

static void test_geolocation(void **state)
{
	static const struct {
		const char *type, *value, *country, *city;
		bool hit;
	} cases[] = {
	    {"geolocation-country-code", "US", "US", NULL, true},
	    {"geolocation-country-code", "US", "us", NULL, true},
	    {"geolocation-country-code", "US", "FR", NULL, false},
	    {"geolocation-country-code", "US", NULL, NULL, false},
	    {"geolocation-country-code", "US", "USA", NULL, false},
	    {"geolocation-city-name", "Madrid", NULL, "madrid", true},
	    {"geolocation-city-name", "New York", "US", "NEW YORK", true},
	    {"geolocation-city-name", "Madrid", "ES", "Barcelona", false},
	    {"geolocation-city-name", "Madrid", "ES", NULL, false},
	    {"geolocation-city-name", "Madrid", "ES", "Madrid2", false},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rules_request rq = {.country_code = cases[i].country, .city = cases[i].city,
		                    .now = NOW};
		expect(cases[i].type, NULL, cases[i].value, &rq, cases[i].hit);
	}
}

static void test_dates(void **state)
{
	int64_t t;

	assert_int_equal(sh_time_parse("2026-05-28T10:00:00+02:00", &t), 0);
	static const struct {
		const char *type, *value;
		int64_t now;
		bool hit;
	} cases[] = {
	    {"before-date", "2026-05-28T10:00:00+02:00", 0, false},
	    {"before-date", "2026-05-28T10:00:00+02:00", -1, true},
	    {"before-date", "2026-05-28T10:00:00+02:00", 1, false},
	    {"before-date", "2026-05-28T08:00:00Z", 1, false},
	    {"after-date", "2026-05-28T10:00:00+02:00", 0, false},
	    {"after-date", "2026-05-28T10:00:00+02:00", 1, true},
	    {"after-date", "2026-05-28T10:00:00+02:00", 2, true},
	    {"after-date", "2026-05-28T10:00:00+02:00", -100, false},
	    {"after-date", "2026-05-28", 0, true}, /* midnight UTC */
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		/* now is t, t-1, t+1, ...: the instant itself is neither before nor after */
		rules_request rq = {.now = t + cases[i].now};
		expect(cases[i].type, NULL, cases[i].value, &rq, cases[i].hit);
	}
}

/* --- several rules and conditions ------------------------------------ */

static void test_priority(void **state)
{
	rules_set *rs = compile(
	    "{\"redirectRules\":["
	    "{\"longUrl\":\"https://example.com/android-en\",\"priority\":9,\"conditions\":["
	    "  {\"type\":\"device\",\"matchKey\":null,\"matchValue\":\"android\"},"
	    "  {\"type\":\"language\",\"matchKey\":null,\"matchValue\":\"en\"}]},"
	    "{\"longUrl\":\"https://example.com/never\",\"conditions\":[]},"
	    "{\"longUrl\":\"https://example.com/android\",\"conditions\":["
	    "  {\"type\":\"device\",\"matchValue\":\"android\"}]},"
	    "{\"longUrl\":\"https://example.com/fr\",\"conditions\":["
	    "  {\"type\":\"language\",\"matchValue\":\"fr\"}]},"
	    "{\"longUrl\":\"https://example.com/mobile-fr\",\"conditions\":["
	    "  {\"type\":\"device\",\"matchValue\":\"mobile\"},"
	    "  {\"type\":\"language\",\"matchValue\":\"fr\"}]}"
	    "]}");
	static const struct {
		const char *ua, *al, *want;
	} cases[] = {
	    {UA_ANDROID, "en-US", "https://example.com/android-en"},
	    {UA_ANDROID, "fr", "https://example.com/android"}, /* before the later mobile-fr */
	    {UA_IOS, "fr", "https://example.com/fr"},
	    {UA_IOS, "en", NULL},
	    {NULL, NULL, NULL},
	};

	assert_int_equal(rules_count(rs), 5);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rules_request rq = {.user_agent = cases[i].ua, .accept_language = cases[i].al,
		                    .now = NOW};
		const char *got = rules_match(rs, &rq);
		if (cases[i].want)
			assert_non_null(got);
		if (!cases[i].want ? got != NULL : strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: got %s, want %s", i, got ? got : "none",
			         cases[i].want ? cases[i].want : "none");
	}
	rules_free(rs);

	/* no rules at all: none match, and the empty set writes back as [] */
	rules_request rq = {.user_agent = UA_ANDROID, .now = NOW};
	rs = compile("{\"redirectRules\":[]}");
	assert_int_equal(rules_count(rs), 0);
	assert_null(rules_match(rs, &rq));
	json_t *j = rules_to_json(rs);
	assert_true(json_is_array(j) && json_array_size(j) == 0);
	json_decref(j);
	rules_free(rs);
	assert_null(rules_match(NULL, &rq));
	assert_int_equal(rules_count(NULL), 0);
	rules_free(NULL);
}

/* --- bad input ---------------------------------------------------- */

static void test_bad_input(void **state)
{
	static const struct {
		const char *body;
		int rc;
		const char *msg; /* the start of the message */
	} cases[] = {
	    {"[]", SH_EINVAL, "the body must be an object"},
	    {"{}", SH_EINVAL, "redirectRules: is required"},
	    {"{\"redirectRules\":\"x\"}", SH_EINVAL, "redirectRules: must be an array"},
	    {"{\"redirectRules\":[\"foo\"]}", SH_EINVAL, "redirectRules[0]: must be an object"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\"}]}", SH_EINVAL,
	     "redirectRules[0].conditions: is required"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":\"foo\"}]}",
	     SH_EINVAL, "redirectRules[0].conditions: is required"},
	    {"{\"redirectRules\":[{\"conditions\":[]}]}", SH_EINVAL,
	     "redirectRules[0].longUrl: is required"},
	    {"{\"redirectRules\":[{\"longUrl\":\"invalid\",\"conditions\":[]}]}", SH_EINVAL,
	     "redirectRules[0].longUrl: "},
	    {"{\"redirectRules\":[{\"longUrl\":\"ftp://a.example/\",\"conditions\":[]}]}",
	     SH_EINVAL, "redirectRules[0].longUrl: "},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":[]},"
	     "{\"longUrl\":\"https://a.example\",\"conditions\":[1]}]}",
	     SH_EINVAL, "redirectRules[1].conditions[0]: must be an object"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":[{}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].type: is required, one of device, language"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"invalid\",\"matchKey\":null,\"matchValue\":\"foo\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].type: unknown condition type \"invalid\""},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"device\",\"matchValue\":\"invalid-device\"}]}]}",
	     SH_EINVAL,
	     "redirectRules[0].conditions[0].matchValue: unknown device \"invalid-device\"; one of "
	     "android, ios, mobile, windows, macos, linux, chromeos, desktop"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"device\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is required"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"browser\",\"matchValue\":\"netscape\"}]}]}",
	     SH_EINVAL,
	     "redirectRules[0].conditions[0].matchValue: unknown browser \"netscape\"; one of "
	     "chrome, firefox, edge, safari, opera, android_browser"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"ip-address\",\"matchValue\":\"not an IP address\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not an IP address"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"ip-address\",\"matchValue\":\"10.0.0.0/33\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not an IP address"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"ip-address\",\"matchValue\":\"10.0.0.0/\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not an IP address"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"ip-address\",\"matchValue\":\"256.1.*.*\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not an IP address"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"ip-address\",\"matchValue\":\"1.2.*\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not an IP address"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"ip-address\",\"matchValue\":\"1.2.3*.4\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not an IP address"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"ip-address\",\"matchValue\":\"2001:db8::*\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not an IP address"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"geolocation-country-code\",\"matchValue\":\"not a country code\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not an ISO 3166-1"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"geolocation-country-code\",\"matchValue\":\"XX\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not an ISO 3166-1"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"geolocation-city-name\",\"matchValue\":\"\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is required"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"before-date\",\"matchValue\":\"tomorrow\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not a date-time"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"after-date\",\"matchValue\":\"2026-13-01\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not a date-time"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"language\",\"matchValue\":\"en US\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not a language tag"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"language\",\"matchValue\":\"en-\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is not a language tag"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"query-param\",\"matchKey\":\"foo\",\"matchValue\":\"\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: is required"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"query-param\",\"matchValue\":\"bar\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchKey: is required"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"valueless-query-param\",\"matchKey\":\"\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchKey: is required"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"any-value-query-param\",\"matchKey\":7}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchKey: must be a string or null"},
	    {"{\"redirectRules\":[{\"longUrl\":\"https://a.example\",\"conditions\":["
	     "{\"type\":\"geolocation-city-name\",\"matchValue\":\"a\\u0000b\"}]}]}",
	     SH_EINVAL, "redirectRules[0].conditions[0].matchValue: must not contain a NUL"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *j = json_loads(cases[i].body, JSON_ALLOW_NUL, NULL);
		rules_set *rs = (rules_set *)1;
		sh_err err = {0};

		assert_non_null(j);
		int rc = rules_from_body(j, &policy, &rs, &err);
		json_decref(j);
		if (rc != cases[i].rc || strncmp(err.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
			fail_msg("case %zu: rc %d msg \"%s\", want %d \"%s...\"", i, rc, err.msg,
			         cases[i].rc, cases[i].msg);
		assert_null(rs);
		assert_string_equal(err.field, "redirectRules");
	}
}

static void test_limits(void **state)
{
	json_t *list = json_array(), *conds = json_array();
	rules_set *rs;
	sh_err err = {0};
	char big[RULES_MAX_VALUE + 2];

	for (int i = 0; i <= RULES_MAX_RULES; i++)
		json_array_append_new(list, json_pack("{s:s, s:[]}", "longUrl", "https://a.example/",
		                                      "conditions"));
	assert_int_equal(rules_from_list(list, &policy, &rs, &err), SH_ETOOBIG);
	assert_string_equal(err.msg, "redirectRules: more than 100 rules");
	json_array_remove(list, 0);
	assert_int_equal(rules_from_list(list, &policy, &rs, &err), 0);
	assert_int_equal(rules_count(rs), RULES_MAX_RULES);
	rules_free(rs);
	json_decref(list);

	for (int i = 0; i <= RULES_MAX_CONDITIONS; i++)
		json_array_append_new(conds, json_pack("{s:s, s:s}", "type", "device", "matchValue",
		                                       "ios"));
	list = json_pack("[{s:s, s:O}]", "longUrl", "https://a.example/", "conditions", conds);
	assert_int_equal(rules_from_list(list, &policy, &rs, &err), SH_ETOOBIG);
	assert_string_equal(err.msg, "redirectRules[0].conditions: more than 20 conditions");
	json_decref(list);
	json_decref(conds);

	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	list = json_pack("[{s:s, s:[{s:s, s:s}]}]", "longUrl", "https://a.example/", "conditions",
	                 "type", "geolocation-city-name", "matchValue", big);
	assert_int_equal(rules_from_list(list, &policy, &rs, &err), SH_ETOOBIG);
	assert_string_equal(err.msg,
	                    "redirectRules[0].conditions[0].matchValue: longer than 1024 bytes");
	json_decref(list);
}

/* --- JSON round trip -------------------------------------------------- */

static void test_round_trip(void **state)
{
	/* every type once; keys and values come back as given, long URLs
	 * normalized, priorities from the order */
	const char *in =
	    "{\"redirectRules\":["
	    "{\"longUrl\":\"HTTPS://Example.com/a\",\"priority\":7,\"conditions\":["
	    "  {\"type\":\"device\",\"matchKey\":null,\"matchValue\":\"android\"},"
	    "  {\"type\":\"language\",\"matchKey\":null,\"matchValue\":\"en-US\"},"
	    "  {\"type\":\"query-param\",\"matchKey\":\"foo\",\"matchValue\":\"bar\"},"
	    "  {\"type\":\"any-value-query-param\",\"matchKey\":\"a\",\"matchValue\":null},"
	    "  {\"type\":\"valueless-query-param\",\"matchKey\":\"v\"}]},"
	    "{\"longUrl\":\"https://example.com/b\",\"conditions\":["
	    "  {\"type\":\"ip-address\",\"matchKey\":null,\"matchValue\":\"1.2.*.4\"},"
	    "  {\"type\":\"geolocation-country-code\",\"matchKey\":null,\"matchValue\":\"US\"},"
	    "  {\"type\":\"geolocation-city-name\",\"matchKey\":null,\"matchValue\":\"Boston\"},"
	    "  {\"type\":\"before-date\",\"matchKey\":null,\"matchValue\":\"2030-01-01T00:00:00+00:00\"},"
	    "  {\"type\":\"after-date\",\"matchKey\":null,\"matchValue\":\"2020-01-01\"},"
	    "  {\"type\":\"browser\",\"matchKey\":null,\"matchValue\":\"firefox\"}]},"
	    "{\"longUrl\":\"https://example.com/c\",\"conditions\":[]}"
	    "]}";
	const char *want =
	    "[{\"longUrl\":\"https://example.com/a\",\"priority\":1,\"conditions\":["
	    "  {\"type\":\"device\",\"matchKey\":null,\"matchValue\":\"android\"},"
	    "  {\"type\":\"language\",\"matchKey\":null,\"matchValue\":\"en-US\"},"
	    "  {\"type\":\"query-param\",\"matchKey\":\"foo\",\"matchValue\":\"bar\"},"
	    "  {\"type\":\"any-value-query-param\",\"matchKey\":\"a\",\"matchValue\":null},"
	    "  {\"type\":\"valueless-query-param\",\"matchKey\":\"v\",\"matchValue\":null}]},"
	    "{\"longUrl\":\"https://example.com/b\",\"priority\":2,\"conditions\":["
	    "  {\"type\":\"ip-address\",\"matchKey\":null,\"matchValue\":\"1.2.*.4\"},"
	    "  {\"type\":\"geolocation-country-code\",\"matchKey\":null,\"matchValue\":\"US\"},"
	    "  {\"type\":\"geolocation-city-name\",\"matchKey\":null,\"matchValue\":\"Boston\"},"
	    "  {\"type\":\"before-date\",\"matchKey\":null,\"matchValue\":\"2030-01-01T00:00:00+00:00\"},"
	    "  {\"type\":\"after-date\",\"matchKey\":null,\"matchValue\":\"2020-01-01\"},"
	    "  {\"type\":\"browser\",\"matchKey\":null,\"matchValue\":\"firefox\"}]},"
	    "{\"longUrl\":\"https://example.com/c\",\"priority\":3,\"conditions\":[]}]";
	rules_set *rs = compile(in), *rs2 = NULL;
	json_t *out = rules_to_json(rs), *exp = json_loads(want, 0, NULL), *out2;
	sh_err err = {0};

	assert_non_null(out);
	assert_non_null(exp);
	if (!json_equal(out, exp)) {
		char *d = json_dumps(out, 0);
		fail_msg("got %s", d);
	}
	/* Shlink's key order, as its jsonSerialize writes them */
	char *text = json_dumps(json_array_get(out, 0), 0);
	assert_non_null(strstr(text, "{\"longUrl\": \"https://example.com/a\", \"priority\": 1, "
	                             "\"conditions\": [{\"type\": \"device\", \"matchKey\": null, "
	                             "\"matchValue\": \"android\"}"));
	free(text);

	/* what rules_to_json writes compiles to the same rules */
	assert_int_equal(rules_from_list(out, &policy, &rs2, &err), 0);
	out2 = rules_to_json(rs2);
	assert_true(json_equal(out, out2));
	rules_request rq = {.client_ip = "1.2.3.4", .country_code = "US", .city = "boston",
	                    .user_agent = UA_FIREFOX, .now = NOW};
	assert_string_equal(rules_match(rs2, &rq), "https://example.com/b");
	assert_string_equal(rules_match(rs, &rq), "https://example.com/b");

	/* the GET answer */
	json_t *ans = rules_answer(rs, "https://example.com/default");
	assert_string_equal(json_string_value(json_object_get(ans, "defaultLongUrl")),
	                    "https://example.com/default");
	assert_true(json_equal(json_object_get(ans, "redirectRules"), exp));

	json_decref(ans);
	json_decref(out);
	json_decref(out2);
	json_decref(exp);
	rules_free(rs);
	rules_free(rs2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_user_agent), cmocka_unit_test(test_device),
	    cmocka_unit_test(test_browser),    cmocka_unit_test(test_language),
	    cmocka_unit_test(test_query),      cmocka_unit_test(test_ip_address),
	    cmocka_unit_test(test_geolocation), cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_priority),   cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_limits),     cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}

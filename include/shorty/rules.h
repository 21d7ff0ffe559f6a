/*
 * rules.h — Shlink 5.1 redirect rules of one link (service/rules.c).
 *
 * A link may carry an ordered list of rules; each rule has a long URL and one
 * or more conditions, all of which must hold. The redirect goes to the long
 * URL of the first rule (lowest priority number) whose conditions all match
 * the request, or to the link's own long URL when none does.
 *
 * Life of a rule list:
 *   - rules_from_body() checks the body of POST /short-urls/{code}/redirect-
 *     rules (Shlink's shape: {"redirectRules":[{"longUrl":..., "conditions":
 *     [{"type":..., "matchKey":..., "matchValue":...}]}]}) and compiles it;
 *     rules_from_list() does the same for the bare array (what rules_to_json()
 *     writes, for the store and export/import);
 *   - rules_to_json() / rules_answer() give back Shlink's GET answer;
 *   - rules_match() runs on the redirect path: no allocation, no lock (a
 *     rules_set is immutable once built, so threads share it freely).
 *
 * Condition types and their values are Shlink 5.1's (RedirectConditionType):
 * device, language, query-param, any-value-query-param, valueless-query-param,
 * ip-address, geolocation-country-code, geolocation-city-name, before-date,
 * after-date, browser. Where shorty differs from Shlink, rules.c says so at
 * the place it does.
 */
#ifndef SHORTY_RULES_H
#define SHORTY_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "shorty/err.h"
#include "shorty/url.h"

/* Limits on one rule list (every list is bounded; over a limit is SH_ETOOBIG). */
#define RULES_MAX_RULES 100      /* rules per link */
#define RULES_MAX_CONDITIONS 20  /* conditions per rule */
#define RULES_MAX_VALUE 1024     /* bytes of a matchKey or matchValue */

/* A compiled, immutable rule list. */
typedef struct rules_set rules_set;

/* What rules_match() looks at, all from one request. Every pointer may be
 * NULL (header absent, location unknown); strings are NUL-terminated except
 * the query, which is query_len bytes. Nothing is kept after the call. */
typedef struct rules_request {
	const char *user_agent;      /* User-Agent header */
	const char *accept_language; /* Accept-Language header */
	const char *query;           /* raw query string, without the '?' */
	size_t query_len;
	const char *client_ip;       /* client address as text, IPv4 or IPv6 */
	const char *country_code;    /* ISO 3166-1 alpha-2 of the client (GeoIP) */
	const char *city;            /* city name of the client (GeoIP) */
	int64_t now;                 /* Unix seconds */
} rules_request;

/*
 * Checks and compiles the body of a POST .../redirect-rules: an object with
 * a "redirectRules" array (other members, such as a rule's "priority", are
 * ignored: the order is the priority, as in Shlink). Long URLs go through
 * url_normalize() with `policy`. On success *out is a new set (possibly with
 * no rules), owned by the caller (rules_free). On failure returns SH_EINVAL
 * (or SH_ETOOBIG over a limit, SH_EBLOCKED for a blocked long URL, SH_ENOMEM)
 * with err->field = "redirectRules" and a message naming the bad element
 * ("redirectRules[1].conditions[0].matchValue: ...") and what is allowed;
 * *out = NULL.
 */
int rules_from_body(const json_t *body, const url_policy *policy, rules_set **out,
                    sh_err *err);

/* The same for the bare array of rules (rules_to_json()'s output). */
int rules_from_list(const json_t *list, const url_policy *policy, rules_set **out,
                    sh_err *err);

/* Shlink's JSON array of the rules: [{"longUrl", "priority" (1, 2, ...),
 * "conditions": [{"type", "matchKey", "matchValue"}]}], with the keys and
 * values as they were given (long URLs normalized). New reference, NULL when
 * out of memory. rs may be NULL (no rules: an empty array). */
json_t *rules_to_json(const rules_set *rs);

/* Shlink's answer to GET and POST .../redirect-rules:
 * {"defaultLongUrl": default_long_url, "redirectRules": rules_to_json(rs)}. */
json_t *rules_answer(const rules_set *rs, const char *default_long_url);

/* Number of rules in rs (0 for NULL). */
size_t rules_count(const rules_set *rs);

/* Whether some condition of rs needs the client's location (geolocation-
 * country-code, geolocation-city-name): only then is it looked up. */
bool rules_uses_location(const rules_set *rs);

/* The long URL of the first rule whose conditions all match req, or NULL
 * when none does (or rs is NULL): then the link's own long URL applies.
 * The string belongs to rs. Allocation-free and thread-safe. */
const char *rules_match(const rules_set *rs, const rules_request *req);

/* Frees rs (NULL is fine). */
void rules_free(rules_set *rs);

/*
 * What rules_match() sees in a User-Agent, exposed for tests and for visit
 * records: the device bits (RULES_DEV_*) and the browser (RULES_BROWSER_*),
 * detected the way Shlink 5.1 does (donatj/phpuseragentparser's platform and
 * browser). ua may be NULL.
 */
enum {
	RULES_DEV_ANDROID = 1 << 0,
	RULES_DEV_IOS = 1 << 1,
	RULES_DEV_MOBILE = 1 << 2,
	RULES_DEV_WINDOWS = 1 << 3,
	RULES_DEV_MACOS = 1 << 4,
	RULES_DEV_LINUX = 1 << 5,
	RULES_DEV_CHROMEOS = 1 << 6,
	RULES_DEV_DESKTOP = 1 << 7,
};
enum rules_browser {
	RULES_BROWSER_NONE = 0,
	RULES_BROWSER_CHROME,
	RULES_BROWSER_FIREFOX,
	RULES_BROWSER_EDGE,
	RULES_BROWSER_SAFARI,
	RULES_BROWSER_OPERA,
	RULES_BROWSER_ANDROID,
};
void rules_user_agent(const char *ua, unsigned *devices, enum rules_browser *browser);

#endif

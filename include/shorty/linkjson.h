/*
 * linkjson.h — the JSON shape of a link, shared by the CLI (`--json`) and the
 * REST API (service/linkjson.c), built on jansson.
 *
 * One place turns an sh_link into Shlink v3's ShortUrl object and one place
 * reads Shlink's create / edit bodies into service requests, so both fronts
 * speak exactly the same JSON. Nothing here knows HTTP: a parse failure is
 * SH_EINVAL with err->field naming the offending member (Shlink's
 * invalidElements) and a sentence saying what was expected.
 */
#ifndef SHORTY_LINKJSON_H
#define SHORTY_LINKJSON_H

#include <jansson.h>
#include "shorty/err.h"
#include "shorty/service.h"
#include "shorty/store.h"

/*
 * The Shlink v3 ShortUrl object of l (a new reference, NULL on ENOMEM):
 *
 *   {"shortCode", "shortUrl", "longUrl", "dateCreated",
 *    "visitsSummary": {"total", "nonBots", "bots"}, "tags": [...],
 *    "meta": {"validSince", "validUntil", "maxVisits"},   (null when unset)
 *    "domain": null, "title" (null when unset), "crawlable", "forwardQuery",
 *    "hasRedirectRules": false, "redirectStatus"}
 *
 * Dates are ISO 8601 with offset ("2026-11-22T00:07:09+00:00"). shorty also
 * adds "disabled" only when the link is disabled (an extra optional field).
 */
json_t *linkjson_short_url(const svc *v, const sh_link *l);

/*
 * Reads a Shlink create body (POST /rest/v3/short-urls) into req, which the
 * function first resets with svc_create_req_init(). Members: longUrl
 * (required string), customSlug, findIfExists (default true in shorty),
 * shortCodeLength, validSince, validUntil (ISO 8601 strings or null),
 * maxVisits, tags, title, crawlable, forwardQuery, redirectStatus. Unknown
 * members are ignored (Shlink clients send domain, validateUrl, ...).
 *
 * Strings in req point into obj (and tags into tagv, filled here): obj must
 * outlive req. Values are only type-checked and converted here; the service
 * checks their meaning (URL rules, tag syntax, ranges).
 * Returns 0, or SH_EINVAL with err->field = the JSON member name.
 */
int linkjson_parse_create(const json_t *obj, svc_create_req *req,
                          const char *tagv[SH_MAX_TAGS], sh_err *err);
/* The same, going on after a bad member: the name of every bad member
 * into fields (at most max, *n of them), the first one's sentence into err;
 * req holds the members that were good. */
int linkjson_parse_create_all(const json_t *obj, svc_create_req *req,
                              const char *tagv[SH_MAX_TAGS], sh_err *err, const char **fields,
                              int max, int *n);

/*
 * Reads a Shlink edit body (PATCH /rest/v3/short-urls/<code>) into req
 * (zeroed first): each member present sets its has_* flag; null clears the
 * nullable ones (validSince, validUntil, maxVisits, title). Members:
 * longUrl, validSince, validUntil, maxVisits, tags, title, crawlable,
 * forwardQuery, redirectStatus, and shorty's own "disabled".
 * Same ownership and errors as linkjson_parse_create.
 */
int linkjson_parse_update(const json_t *obj, svc_update_req *req,
                          const char *tagv[SH_MAX_TAGS], sh_err *err);

/*
 * Depth of the deepest nesting of objects and arrays in the JSON text
 * s[0..n) (strings skipped), counted before parsing so that a body nested
 * 100,000 deep is refused without ever reaching the parser. Stops counting
 * once past limit (returns a value > limit then). The text need not be
 * valid JSON.
 */
int linkjson_depth(const char *s, size_t n, int limit);

/*
 * jansson 2.14 does not always fail a parse when it runs out of memory: its
 * lexer ignores a failed append to its string buffer and goes on without
 * the byte (found by injecting allocation failures: a create stored
 * "https://oom.exmple/..." and answered 200). So every parse of input is
 * bracketed: linkjson_watch_begin() before json_load*(), and when
 * linkjson_watch_oom() says an allocation of jansson's failed on this thread
 * meanwhile, the result must be thrown away as an out-of-memory failure,
 * even if jansson returned a value. The first call installs jansson's
 * allocator hooks (plain malloc/free plus the watch).
 */
void linkjson_watch_begin(void);
bool linkjson_watch_oom(void);

#endif

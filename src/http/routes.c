/*
 * routes.c — the route table and the router.
 *
 * The router works on the raw path (as received, before %-decoding), so a
 * code or tag segment can never smuggle a '/' or a NUL through decoding.
 * It answers itself: 404 (no route), 405 (route, wrong method; with Allow),
 * the CORS preflight for /rest, 415 (a body that is not JSON), 401 (REST
 * without a valid key). Handlers see only requests they can serve.
 */
#define _GNU_SOURCE /* strcasestr */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/internal.h"

#define ANY_GET (HTTP_GET | HTTP_HEAD)

const http_route http_routes[] = {
    /* public */
    {"/", ANY_GET, 0, page_index, "index"},
    {"/health", ANY_GET, 0, page_health, "health"},
    {"/ready", ANY_GET, ROUTE_STORE, page_ready, "ready"},
    {"/metrics", ANY_GET, 0, http_metrics_handler, "metrics"},
    {"/robots.txt", ANY_GET, ROUTE_STORE, page_robots, "robots"},
    {"/api/shorten", HTTP_POST, ROUTE_JSON_BODY | ROUTE_FORM_BODY | ROUTE_STORE, page_shorten, "shorten"},
    {"/yourls-api.php", ANY_GET | HTTP_POST, ROUTE_FORM_BODY | ROUTE_STORE, http_yourls, "yourls"},
    {"/admin", ANY_GET, 0, page_admin, "admin"},
    {"/admin/**", ANY_GET, 0, page_admin, "admin"},

    /* REST, Shlink v3 (v1 and v2 are mapped onto these) */
    {"/rest/health", ANY_GET, ROUTE_REST | ROUTE_STORE | ROUTE_NOAUTH, rest_health, "rest_health"},
    {"/rest/v3/health", ANY_GET, ROUTE_REST | ROUTE_STORE | ROUTE_NOAUTH, rest_health, "rest_health"},
    {"/rest/v3/short-urls", ANY_GET | HTTP_POST, ROUTE_REST | ROUTE_STORE | ROUTE_JSON_BODY, rest_short_urls,
     "rest_short_urls"},
    {"/rest/v3/short-urls/shorten", ANY_GET, ROUTE_REST | ROUTE_STORE | ROUTE_QUERY_KEY, rest_shorten_legacy,
     "rest_shorten"},
    {"/rest/v3/short-urls/*", ANY_GET | HTTP_PATCH | HTTP_DELETE, ROUTE_REST | ROUTE_STORE | ROUTE_JSON_BODY,
     rest_short_url, "rest_short_url"},
    {"/rest/v3/short-urls/*/visits", ANY_GET | HTTP_DELETE, ROUTE_REST | ROUTE_STORE, rest_short_url_visits,
     "rest_short_url_visits"},
    {"/rest/v3/short-urls/*/redirect-rules", ANY_GET | HTTP_POST, ROUTE_REST | ROUTE_STORE | ROUTE_JSON_BODY,
     rest_redirect_rules, "rest_redirect_rules"},
    {"/rest/v3/visits", ANY_GET, ROUTE_REST | ROUTE_STORE, rest_visits_summary, "rest_visits"},
    {"/rest/v3/visits/orphan", ANY_GET | HTTP_DELETE, ROUTE_REST | ROUTE_STORE, rest_visits_orphan,
     "rest_visits_orphan"},
    {"/rest/v3/visits/non-orphan", ANY_GET, ROUTE_REST | ROUTE_STORE, rest_visits_non_orphan,
     "rest_visits_non_orphan"},
    {"/rest/v3/tags", ANY_GET | HTTP_PUT | HTTP_DELETE, ROUTE_REST | ROUTE_STORE | ROUTE_JSON_BODY, rest_tags,
     "rest_tags"},
    {"/rest/v3/tags/stats", ANY_GET, ROUTE_REST | ROUTE_STORE, rest_tags_stats, "rest_tags_stats"},
    {"/rest/v3/tags/*/visits", ANY_GET, ROUTE_REST | ROUTE_STORE, rest_tag_visits, "rest_tag_visits"},
    {"/rest/v3/domains", ANY_GET, ROUTE_REST | ROUTE_STORE, rest_domains, "rest_domains"},
    {"/rest/v3/domains/redirects", HTTP_PATCH, ROUTE_REST | ROUTE_STORE | ROUTE_JSON_BODY, rest_domains,
     "rest_domain_redirects"},
    {"/rest/v3/domains/*/visits", ANY_GET, ROUTE_REST | ROUTE_STORE, rest_domain_visits,
     "rest_domain_visits"},
    {"/rest/v3/mercure-info", ANY_GET, ROUTE_REST, rest_mercure, "rest_mercure"},

    /* links: last, so that every fixed path above wins */
    {"/*/track", ANY_GET, ROUTE_STORE, http_track, "track"},
    {"/*/qr-code", ANY_GET, ROUTE_STORE, http_qr, "qr"},
    {"/*", ANY_GET, 0, http_redirect, "redirect"},
};
const size_t http_nroutes = sizeof(http_routes) / sizeof(http_routes[0]);
_Static_assert(sizeof(http_routes) / sizeof(http_routes[0]) <= 64,
               "route_by_byte holds one bit per route");

/* Which routes a path may match, by the path's second byte (bit i:
 * http_routes[i]): a pattern whose second byte is a literal other than the
 * path's cannot. Built once. A redirect walks the 6 routes that can match
 * "/a..." instead of all of them (docs/benchmarks.md, "The own engine's
 * hot path"). */
static uint64_t route_by_byte[256];
static pthread_once_t route_once = PTHREAD_ONCE_INIT;

static void route_index(void)
{
	for (size_t i = 0; i < http_nroutes; i++) {
		const char *pt = http_routes[i].pattern;
		for (unsigned b = 0; b < 256; b++)
			if (pt[0] == '*' || pt[1] == '*' || (unsigned char)pt[1] == b)
				route_by_byte[b] |= 1ull << i;
	}
}

/* Matches path against pattern; a '*' takes one non-empty segment (no '/'),
 * copied into arg; a final "**" takes the rest of the path, whatever it is
 * (not copied: the handler reads r->path). */
static bool match(const char *pat, const char *path, char *arg, size_t argsz, size_t *arglen)
{
	while (*pat) {
		if (pat[0] == '*' && pat[1] == '*' && pat[2] == '\0')
			return true;
		if (*pat == '*') {
			size_t n = strcspn(path, "/");
			if (n == 0 || n >= argsz)
				return false;
			memcpy(arg, path, n);
			arg[n] = '\0';
			*arglen = n;
			path += n;
			pat++;
			continue;
		}
		if (*pat != *path)
			return false;
		pat++;
		path++;
	}
	return *path == '\0';
}

static void allow_text(unsigned methods, char *buf, size_t sz)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
	    {HTTP_GET, "GET"},         {HTTP_HEAD, "HEAD"},   {HTTP_POST, "POST"},
	    {HTTP_PUT, "PUT"},         {HTTP_PATCH, "PATCH"}, {HTTP_DELETE, "DELETE"},
	    {HTTP_OPTIONS, "OPTIONS"},
	};
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(methods & names[i].bit))
			continue;
		int n = snprintf(buf + o, sz - o, "%s%s", o ? ", " : "", names[i].name);
		if (n < 0 || (size_t)n >= sz - o)
			break;
		o += (size_t)n;
	}
}

bool http_wants_json(http_req *r)
{
	const char *acc;

	if (r->is_rest)
		return true;
	acc = http_header(r, "Accept");
	return acc && (strstr(acc, "application/json") || strstr(acc, "+json"));
}

int http_reply_not_found(http_req *r)
{
	static const char html[] = "<!doctype html><meta charset=utf-8><title>Not found</title>"
	                           "<h1>Not found</h1><p>There is no link here.</p>\n";

	if (http_wants_json(r))
		return http_reply_problem(r, 404, "not-found", "Not found",
		                          "Requested route does not exist.", NULL);
	return http_reply_html(r, 404, html, sizeof(html) - 1);
}

/* A JSON body in another charset than UTF-8 is refused (415): JSON is
 * UTF-8 (RFC 8259 8.1). */
static bool charset_ok(http_req *r)
{
	const char *ct = http_header(r, "Content-Type");
	const char *cs = ct ? strcasestr(ct, "charset=") : NULL;
	char v[16];
	size_t n;

	if (!cs)
		return true;
	cs += 8;
	if (*cs == '"')
		cs++;
	n = strcspn(cs, "\" ;");
	if (n >= sizeof(v))
		return false;
	memcpy(v, cs, n);
	v[n] = '\0';
	return strcasecmp(v, "utf-8") == 0 || strcasecmp(v, "utf8") == 0;
}

static int preflight(http_req *r)
{
	http_add_header(r, "Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE");
	http_add_header(r, "Access-Control-Allow-Headers",
	                "X-Api-Key, Content-Type, Authorization");
	http_add_header(r, "Access-Control-Max-Age", "3600");
	return http_reply_empty(r, 204);
}

/* The route found (r->route): the REST key check, then its handler. */
static int route_run(http_req *r)
{
	const http_route *hit = &http_routes[r->route];

	if ((hit->flags & ROUTE_REST) && !(hit->flags & ROUTE_NOAUTH)) {
		int answered = 0;
		if (rest_authenticate(r, (hit->flags & ROUTE_QUERY_KEY) != 0, &answered))
			return answered;
	}
	return hit->fn(r);
}

int http_dispatch(http_req *r)
{
	char path[HTTP_REQUEST_LINE_MAX + 16];
	const char *p = r->path;
	unsigned allowed = 0;
	const http_route *hit = NULL;
	char arg[sizeof(r->arg)];
	size_t arglen = 0;
	uint64_t routes;

	r->route = ROUTE_LABEL_OTHER;
	/* /rest/v1/... and /rest/v2/... answer as /rest/v3/... */
	if (strncmp(p, "/rest/", 6) == 0) {
		r->is_rest = true;
		if ((p[6] == 'v') && (p[7] >= '1' && p[7] <= '3') &&
		    (p[8] == '/' || p[8] == '\0')) {
			r->api_version = p[7] - '0';
			snprintf(path, sizeof(path), "/rest/v3%s", p + 8);
			p = path;
		}
	}
	pthread_once(&route_once, route_index);
	routes = p[0] ? route_by_byte[(unsigned char)p[1]] : ~0ull >> (64 - http_nroutes);
	for (uint64_t m = routes; m; m &= m - 1) {
		size_t i = (size_t)__builtin_ctzll(m);
		const http_route *rt = &http_routes[i];
		size_t al = 0;
		char a[sizeof(r->arg)];

		if (!match(rt->pattern, p, a, sizeof(a), &al))
			continue;
		if (!hit || !(hit->methods & r->meth)) {
			if (!hit || (rt->methods & r->meth)) {
				hit = rt;
				memcpy(arg, a, al + 1);
				arglen = al;
				r->route = (int)i;
			}
		}
		allowed |= rt->methods;
		if (rt->methods & r->meth)
			break;
	}
	if (!hit) {
		if (r->is_rest && r->meth == HTTP_OPTIONS)
			return preflight(r);
		if (!r->is_rest) {
			int answered = 0;
			http_record_orphan(r, ORPHAN_REGULAR_404);
			if (http_domain_redirect(r, SH_REDIRECT_REGULAR_404, &answered))
				return answered;
		}
		return http_reply_not_found(r);
	}
	memcpy(r->arg, arg, arglen + 1);
	r->arg_len = arglen;
	if (hit->flags & ROUTE_REST)
		r->is_rest = true;
	if (r->meth == HTTP_OPTIONS) {
		if (r->is_rest)
			return preflight(r);
		char allow[96];
		allow_text(allowed | HTTP_OPTIONS, allow, sizeof(allow));
		http_add_header(r, "Allow", allow);
		return http_reply_empty(r, 204);
	}
	if (!(hit->methods & r->meth)) {
		char allow[96], detail[160];
		allow_text(allowed, allow, sizeof(allow));
		http_add_header(r, "Allow", allow);
		snprintf(detail, sizeof(detail), "Method %s is not allowed here; allowed: %s.",
		         r->meth == HTTP_OTHER ? "(this one)" : r->method, allow);
		return http_reply_problem(r, 405, NULL, "Method Not Allowed", detail, NULL);
	}
	if ((r->meth & (HTTP_POST | HTTP_PUT | HTTP_PATCH)) &&
	    (hit->flags & (ROUTE_JSON_BODY | ROUTE_FORM_BODY))) {
		bool ok = false;
		if ((hit->flags & ROUTE_JSON_BODY) && http_content_type_is(r, "application/json") &&
		    charset_ok(r))
			ok = true;
		if ((hit->flags & ROUTE_FORM_BODY) &&
		    (http_content_type_is(r, "application/x-www-form-urlencoded") ||
		     http_content_type_is(r, "multipart/form-data")))
			ok = true;
		/* a body-less POST to a form route is still a form (YOURLS GET-like POSTs) */
		if (!ok && (hit->flags & ROUTE_FORM_BODY) && !(hit->flags & ROUTE_JSON_BODY) &&
		    r->body_len == 0)
			ok = true;
		if (!ok)
			return http_reply_problem(r, 415, NULL, "Unsupported Media Type",
			                          (hit->flags & ROUTE_JSON_BODY)
			                              ? "Send the body as application/json."
			                              : "Send the body as a form.",
			                          NULL);
	}
	/* on PostgreSQL what reads the store runs on a store thread: the key
	 * check too (a key the cache does not hold is a query) */
	if ((hit->flags & ROUTE_STORE) && http_offload(r, route_run))
		return MHD_YES;
	return route_run(r);
}

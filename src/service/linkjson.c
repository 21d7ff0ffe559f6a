/*
 * linkjson.c — a link as Shlink v3 JSON, and Shlink's create / edit bodies
 * read into service requests (see shorty/linkjson.h).
 *
 * Shared by the CLI and the REST API so that both print and accept exactly
 * the same shapes. Parsing here is only about JSON types: a member of the
 * wrong type is SH_EINVAL naming that member; what the values mean (URL
 * rules, tag syntax, ranges) is checked once, by the service.
 */
#include <stdint.h>
#include <string.h>

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>

#include "shorty/linkjson.h"
#include "shorty/timeutil.h"

/* jansson's setters return -1 on failure; we keep building and report one
 * failure at the end, so the object is always released on ENOMEM. */
static void put(json_t *o, const char *k, json_t *v, int *bad)
{
	if (!v || json_object_set_new(o, k, v) != 0)
		*bad = 1;
}

static json_t *time_or_null(int64_t t)
{
	char buf[SH_TIME_BUF];

	if (t == 0)
		return json_null();
	return json_string(sh_time_format(t, buf));
}

json_t *linkjson_short_url(const svc *v, const sh_link *l)
{
	char sbuf[4096];
	char tbuf[SH_TIME_BUF];
	json_t *o, *summary, *tags, *meta;
	int bad = 0;
	int i;

	o = json_object();
	if (!o)
		return NULL;
	put(o, "shortCode", json_string(l->code), &bad);
	put(o, "shortUrl", json_string(svc_link_short_url(v, l, sbuf, sizeof sbuf)), &bad);
	put(o, "longUrl", json_string(l->url ? l->url : ""), &bad);
	put(o, "dateCreated", json_string(sh_time_format(l->created_at, tbuf)), &bad);

	summary = json_object();
	if (summary) {
		put(summary, "total", json_integer(l->visits), &bad);
		put(summary, "nonBots", json_integer(l->visits - l->bot_visits), &bad);
		put(summary, "bots", json_integer(l->bot_visits), &bad);
	}
	put(o, "visitsSummary", summary, &bad);

	tags = json_array();
	if (tags) {
		for (i = 0; i < l->ntags && i < SH_MAX_TAGS; i++)
			if (json_array_append_new(tags, json_string(l->tags[i])) != 0)
				bad = 1;
	}
	put(o, "tags", tags, &bad);

	meta = json_object();
	if (meta) {
		put(meta, "validSince", time_or_null(l->valid_since), &bad);
		put(meta, "validUntil", time_or_null(l->expires_at), &bad);
		put(meta, "maxVisits", l->max_visits ? json_integer(l->max_visits) : json_null(),
		    &bad);
	}
	put(o, "meta", meta, &bad);

	put(o, "domain", l->domain[0] ? json_string(l->domain) : json_null(), &bad);
	put(o, "title", l->title ? json_string(l->title) : json_null(), &bad);
	put(o, "crawlable", json_boolean(l->crawlable), &bad);
	put(o, "forwardQuery", json_boolean(l->forward_query), &bad);
	put(o, "hasRedirectRules", json_boolean(l->redirect_rules != NULL), &bad);
	put(o, "redirectStatus", json_integer(l->redirect_status), &bad);
	if (l->disabled)
		put(o, "disabled", json_true(), &bad);

	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- parsing ------------------------------------------------------------ */

static int bad_type(sh_err *err, const char *field, const char *what)
{
	return sh_err_set(err, SH_EINVAL, field, "%s must be %s", field, what);
}

/* A string member; *present says whether it was there (null counts as
 * present with *out = NULL when nullable). */
static int get_string(const json_t *obj, const char *name, bool nullable, bool *present,
                      const char **out, sh_err *err)
{
	const json_t *j = json_object_get(obj, name);

	*present = j != NULL;
	*out = NULL;
	if (!j)
		return 0;
	if (json_is_null(j) && nullable)
		return 0;
	if (!json_is_string(j))
		return bad_type(err, name, nullable ? "a string or null" : "a string");
	/* a NUL inside a JSON string would silently cut it short in C */
	if (strlen(json_string_value(j)) != json_string_length(j))
		return sh_err_set(err, SH_EINVAL, name, "%s must not contain a NUL character",
		                  name);
	*out = json_string_value(j);
	return 0;
}

static int get_bool(const json_t *obj, const char *name, bool *present, bool *out,
                    sh_err *err)
{
	const json_t *j = json_object_get(obj, name);

	*present = j != NULL;
	if (!j)
		return 0;
	if (!json_is_boolean(j))
		return bad_type(err, name, "true or false");
	*out = json_is_true(j);
	return 0;
}

/* An integer member; Shlink also accepts a string of decimal digits, so do
 * we (form-encoded clients send numbers as text). null is "unset" when
 * nullable (*isnull = true). */
static int get_int(const json_t *obj, const char *name, bool nullable, bool *present,
                   bool *isnull, int64_t *out, sh_err *err)
{
	const json_t *j = json_object_get(obj, name);
	const char *p;
	int64_t v = 0;

	*present = j != NULL;
	*isnull = false;
	if (!j)
		return 0;
	if (json_is_null(j) && nullable) {
		*isnull = true;
		*out = 0;
		return 0;
	}
	if (json_is_integer(j)) {
		*out = json_integer_value(j);
		return 0;
	}
	if (json_is_string(j) && json_string_length(j) > 0 && json_string_length(j) <= 18) {
		for (p = json_string_value(j); *p; p++) {
			if (*p < '0' || *p > '9')
				goto bad;
			v = v * 10 + (*p - '0');
		}
		if ((size_t)(p - json_string_value(j)) != json_string_length(j))
			goto bad;
		*out = v;
		return 0;
	}
bad:
	return bad_type(err, name, nullable ? "an integer or null" : "an integer");
}

/* A date member: an ISO 8601 string, or null (= none). */
static int get_time(const json_t *obj, const char *name, bool *present, int64_t *out,
                    sh_err *err)
{
	const char *s;
	int rc;

	rc = get_string(obj, name, true, present, &s, err);
	if (rc)
		return rc;
	*out = 0;
	if (!s)
		return 0;
	if (sh_time_parse(s, out) != 0)
		return sh_err_set(err, SH_EINVAL, name,
		                  "%s must be an ISO 8601 date-time such as "
		                  "2026-11-22T00:07:09+00:00, or null",
		                  name);
	return 0;
}

static int get_tags(const json_t *obj, bool *present, const char *tagv[SH_MAX_TAGS],
                    int *ntags, sh_err *err)
{
	const json_t *j = json_object_get(obj, "tags");
	const json_t *t;
	size_t i;

	*present = j != NULL;
	*ntags = 0;
	if (!j)
		return 0;
	if (json_is_null(j))
		return 0;
	if (!json_is_array(j))
		return bad_type(err, "tags", "an array of strings");
	if (json_array_size(j) > SH_MAX_TAGS)
		return sh_err_set(err, SH_EINVAL, "tags", "a link has at most %d tags",
		                  SH_MAX_TAGS);
	json_array_foreach(j, i, t) {
		if (!json_is_string(t) || strlen(json_string_value(t)) != json_string_length(t))
			return bad_type(err, "tags", "an array of strings");
		tagv[(*ntags)++] = json_string_value(t);
	}
	return 0;
}

/* Where a parse reports: the first bad member into err; with bad, every
 * bad member's name (and the parse goes on). */
typedef struct bad_list {
	sh_err *err;
	const char **bad;
	int max, n, first;
} bad_list;

/* One member's result; true: stop (the first one when not collecting). */
static bool bad_member(bad_list *b, int rc, const sh_err *e)
{
	if (rc == 0)
		return false;
	if (!b->first) {
		b->first = rc;
		*b->err = *e;
	}
	if (!b->bad || rc != SH_EINVAL)
		return true;
	if (b->n < b->max)
		b->bad[b->n++] = e->field ? e->field : "body";
	return false;
}

static int parse_create(const json_t *obj, svc_create_req *req, const char *tagv[SH_MAX_TAGS],
                        bad_list *b)
{
	bool present, isnull, bv;
	int64_t n;
	sh_err e = {0};
	int rc;

	svc_create_req_init(req);
	if (!json_is_object(obj)) {
		sh_err_set(&e, SH_EINVAL, NULL, "the body must be a JSON object");
		b->first = SH_EINVAL;
		*b->err = e;
		return SH_EINVAL;
	}
	rc = get_string(obj, "longUrl", false, &present, &req->url, &e);
	if (rc == 0 && !present)
		rc = sh_err_set(&e, SH_EINVAL, "longUrl", "longUrl is required: the URL to shorten");
	if (bad_member(b, rc, &e))
		return b->first;
	rc = get_string(obj, "customSlug", true, &present, &req->custom_code, &e);
	if (bad_member(b, rc, &e))
		return b->first;
	/* Shlink's rule: a new link unless findIfExists asks for a match */
	req->find_if_exists = false;
	rc = get_bool(obj, "findIfExists", &present, &bv, &e);
	if (bad_member(b, rc, &e))
		return b->first;
	req->find_matching = rc == 0 && present && bv;
	rc = get_int(obj, "shortCodeLength", true, &present, &isnull, &n, &e);
	if (rc == 0 && present && !isnull) {
		if (n < 0 || n > INT32_MAX)
			rc = sh_err_set(&e, SH_EINVAL, "shortCodeLength",
			                "shortCodeLength must be between 4 and %d", CODE_MAX);
		else
			req->code_length = (int)n;
	}
	if (bad_member(b, rc, &e) ||
	    bad_member(b, get_time(obj, "validSince", &present, &req->valid_since, &e), &e) ||
	    bad_member(b, get_time(obj, "validUntil", &present, &req->expires_at, &e), &e) ||
	    bad_member(b, get_int(obj, "maxVisits", true, &present, &isnull, &req->max_visits, &e),
	               &e) ||
	    bad_member(b, get_tags(obj, &present, tagv, &req->ntags, &e), &e) ||
	    bad_member(b, get_string(obj, "title", true, &present, &req->title, &e), &e) ||
	    bad_member(b, get_string(obj, "domain", true, &present, &req->domain, &e), &e))
		return b->first;
	req->tags = req->ntags ? tagv : NULL;
	rc = get_bool(obj, "crawlable", &present, &bv, &e);
	if (rc == 0 && present)
		req->crawlable = bv;
	if (bad_member(b, rc, &e))
		return b->first;
	rc = get_bool(obj, "forwardQuery", &present, &bv, &e);
	if (rc == 0 && present)
		req->forward_query = bv;
	if (bad_member(b, rc, &e))
		return b->first;
	rc = get_int(obj, "redirectStatus", true, &present, &isnull, &n, &e);
	if (rc == 0 && present && !isnull) {
		if (n < 0 || n > 999)
			rc = sh_err_set(&e, SH_EINVAL, "redirectStatus",
			                "redirectStatus must be 301, 302, 307 or 308");
		else
			req->redirect_status = (int)n;
	}
	bad_member(b, rc, &e);
	return b->first;
}

int linkjson_parse_create(const json_t *obj, svc_create_req *req,
                          const char *tagv[SH_MAX_TAGS], sh_err *err)
{
	bad_list b = {.err = err};

	return parse_create(obj, req, tagv, &b);
}

int linkjson_parse_create_all(const json_t *obj, svc_create_req *req,
                              const char *tagv[SH_MAX_TAGS], sh_err *err, const char **fields,
                              int max, int *n)
{
	bad_list b = {.err = err, .bad = fields, .max = max};
	int rc = parse_create(obj, req, tagv, &b);

	*n = b.n;
	return rc;
}

int linkjson_parse_update(const json_t *obj, svc_update_req *req,
                          const char *tagv[SH_MAX_TAGS], sh_err *err)
{
	bool isnull;
	int64_t n;
	int rc;

	memset(req, 0, sizeof *req);
	if (!json_is_object(obj))
		return sh_err_set(err, SH_EINVAL, NULL, "the body must be a JSON object");

	rc = get_string(obj, "longUrl", false, &req->has_url, &req->url, err);
	if (rc)
		return rc;
	rc = get_time(obj, "validSince", &req->has_valid_since, &req->valid_since, err);
	if (rc)
		return rc;
	rc = get_time(obj, "validUntil", &req->has_expires_at, &req->expires_at, err);
	if (rc)
		return rc;
	rc = get_int(obj, "maxVisits", true, &req->has_max_visits, &isnull, &req->max_visits,
	             err);
	if (rc)
		return rc;
	rc = get_tags(obj, &req->has_tags, tagv, &req->ntags, err);
	if (rc)
		return rc;
	req->tags = req->ntags ? tagv : NULL;
	rc = get_string(obj, "title", true, &req->has_title, &req->title, err);
	if (rc)
		return rc;
	rc = get_bool(obj, "crawlable", &req->has_crawlable, &req->crawlable, err);
	if (rc)
		return rc;
	rc = get_bool(obj, "forwardQuery", &req->has_forward_query, &req->forward_query, err);
	if (rc)
		return rc;
	rc = get_int(obj, "redirectStatus", false, &req->has_redirect_status, &isnull, &n, err);
	if (rc)
		return rc;
	if (req->has_redirect_status) {
		if (n < 0 || n > 999)
			return sh_err_set(err, SH_EINVAL, "redirectStatus",
			                  "redirectStatus must be 301, 302, 307 or 308");
		req->redirect_status = (int)n;
	}
	rc = get_bool(obj, "disabled", &req->has_disabled, &req->disabled, err);
	if (rc)
		return rc;
	return 0;
}

int linkjson_depth(const char *s, size_t n, int limit)
{
	int depth = 0, max = 0;
	bool in_str = false;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
			if (max > limit)
				return max;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return max;
}

/* ---- watching jansson's allocations (see linkjson.h) ---------------------- */

static __thread bool jansson_oom;
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;

static void *watched_malloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		jansson_oom = true;
	return p;
}

static void watch_install(void)
{
	json_set_alloc_funcs(watched_malloc, free);
}

void linkjson_watch_begin(void)
{
	pthread_once(&watch_once, watch_install);
	jansson_oom = false;
}

bool linkjson_watch_oom(void)
{
	return jansson_oom;
}

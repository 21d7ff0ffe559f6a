/*
 * rest.c — the REST API under /rest, compatible with Shlink's REST API v3
 * (SPEC §2; the reference for shapes is Shlink's OpenAPI document).
 *
 * Reads run on the worker with its read connection; writes (create, edit,
 * delete, tag rename/delete, visit deletion) are jobs for the writer thread
 * (http_defer) and are answered after their commit. The ShortUrl object and
 * the create/edit bodies come from shorty/linkjson.h, shared with the CLI.
 *
 * Roles (the rule itself is the service's: svc_caller_*): admin may do
 * everything; author sees and changes only the links it created; read-only
 * may not write (403).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shorty/linkjson.h"
#include "shorty/timeutil.h"
#include "http/internal.h"

/*
 * The Shlink version whose API we report in /rest/health. Shlink's web
 * client turns features on by this number (shlink-web-component's
 * feature table): redirect rules with every condition type, up to the date
 * conditions gated at 5.0.0 (ip-address 4.2.0, geolocation 4.3.0, the
 * query-param and desktop conditions 4.5.0), are implemented; so are the
 * short URL list filters gated at 4.3.0 and 4.6.0 (domain, excluded tags)
 * and the per-domain visits (4.6.0).
 */
#define SHLINK_API_VERSION "5.0.0"

#define PAGE_MAX_ITEMS 1000
#define SEARCH_MAX 512

/* ---- small helpers ---------------------------------------------------------- */

static int invalid(http_req *r, const char *field, const char *detail)
{
	json_t *x = json_pack("{s:[s]}", "invalidElements", field);
	return http_reply_problem(r, 400, "invalid-data", "Invalid data", detail, x);
}

/* Every bad query parameter of a request, so that invalidElements names
 * them all (Shlink's answer) and detail says what is wrong with each. */
typedef struct bad_fields {
	json_t *names;   /* NULL until the first bad field */
	char detail[600];
	bool oom;
} bad_fields;

static void bad_add(bad_fields *b, const char *field, const char *detail)
{
	size_t n = strlen(b->detail);

	if (!b->names && !(b->names = json_array())) {
		b->oom = true;
		return;
	}
	json_array_append_new(b->names, json_string(field));
	if (detail) /* NULL: named, but the first detail says enough */
		snprintf(b->detail + n, sizeof(b->detail) - n, "%s%s", n ? " " : "", detail);
}

/* Answers 400 naming every bad field and returns 1, or returns 0 when
 * there is none (*answered holds the reply). */
static int bad_reply(http_req *r, bad_fields *b, int *answered)
{
	if (b->oom) {
		json_decref(b->names);
		*answered = http_reply_error(r, SH_ENOMEM, NULL);
		return 1;
	}
	if (!b->names)
		return 0;
	*answered = http_reply_problem(r, 400, "invalid-data", "Invalid data", b->detail,
	                               json_pack("{s:o}", "invalidElements", b->names));
	return 1;
}

static int forbidden(http_req *r, const char *detail)
{
	return http_reply_problem(r, 403, NULL, "Forbidden", detail, NULL);
}

/* Shlink's 404 for a short URL, naming the domain when one was asked for. */
static int short_url_not_found(http_req *r, const char *domain)
{
	char d[600];

	if (!domain)
		return http_reply_error(r, SH_ENOTFOUND, NULL);
	snprintf(d, sizeof(d), "No URL found with short code \"%s\" for domain \"%.255s\"", r->arg,
	         domain);
	return http_reply_problem(r, 404, "short-url-not-found", "Short URL not found", d,
	                          json_pack("{s:s,s:s}", "shortCode", r->arg, "domain", domain));
}

/* The link of the request's code on its ?domain=, or the answer (*answered). */
static int get_link(http_req *r, sh_link *l, int *answered)
{
	const char *domain = http_query_domain(r);
	sh_err e = {0};
	int rc;

	memset(l, 0, sizeof(*l));
	rc = svc_get_on(r->v, r->w->rs, domain, r->arg, &r->caller, l, &e);
	if (rc == SH_ENOTFOUND || rc == SH_EINVAL) /* a bad domain has no link (Shlink) */
		*answered = short_url_not_found(r, domain);
	else if (rc < 0)
		*answered = http_reply_error(r, rc, NULL);
	return rc < 0;
}

static bool parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s || strlen(s) > 19)
		return false;
	v = strtoll(s, &end, 10);
	if (*end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* "true"/"false"/"1"/"0"; absent = def. Returns false on anything else. */
static bool parse_bool(const char *s, bool def, bool *out)
{
	if (!s) {
		*out = def;
		return true;
	}
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0 || *s == '\0')
		*out = false;
	else
		return false;
	return true;
}

typedef struct paging {
	int64_t page, per;
} paging;

/* page (1-based, default 1), itemsPerPage (default 10, -1 = all, at most
 * PAGE_MAX_ITEMS); each bad one is named in b. */
static void paging_check(http_req *r, paging *p, bad_fields *b)
{
	const char *ps = http_query(r, "page"), *is = http_query(r, "itemsPerPage");

	p->page = 1;
	p->per = 10;
	if (ps && !parse_int(ps, 0, 1000000000, &p->page)) {
		p->page = 1;
		bad_add(b, "page", "page must be a whole number from 1.");
	}
	if (p->page == 0)
		p->page = 1; /* as Shlink: page 0 is the first page */
	if (is) {
		if (!parse_int(is, -1, 1000000000, &p->per))
			bad_add(b, "itemsPerPage", "itemsPerPage must be a whole number (-1 for all).");
		if (p->per <= 0 || p->per > PAGE_MAX_ITEMS)
			p->per = PAGE_MAX_ITEMS;
	}
}

/* paging_check alone: returns 0, or answers 400 and returns 1. */
static int parse_paging(http_req *r, paging *p, int *answered)
{
	bad_fields b = {0};

	paging_check(r, p, &b);
	return bad_reply(r, &b, answered);
}

static json_t *pagination(const paging *p, int64_t total, size_t in_page)
{
	int64_t pages = p->per > 0 ? (total + p->per - 1) / p->per : 0;

	return json_pack("{s:I,s:I,s:I,s:I,s:I}", "currentPage", (json_int_t)p->page, "pagesCount",
	                 (json_int_t)pages, "itemsPerPage", (json_int_t)p->per,
	                 "itemsInCurrentPage", (json_int_t)in_page, "totalItems",
	                 (json_int_t)total);
}

/* {"data": data, "pagination": {...}}: a page of a Shlink list (owns data). */
static json_t *page_of(json_t *data, const paging *p, int64_t total)
{
	return json_pack("{s:o,s:o}", "data", data, "pagination",
	                 pagination(p, total, json_array_size(data)));
}

/* An ISO 8601 date query value into *out (absent or empty: 0). */
static bool parse_date(const char *s, int64_t *out)
{
	*out = 0;
	if (!s || !*s)
		return true;
	return strlen(s) <= 64 && sh_time_parse(s, out) >= 0;
}

static int parse_date_param(http_req *r, const char *name, int64_t *out, int *answered)
{
	if (!parse_date(http_query(r, name), out)) {
		char d[160];
		snprintf(d, sizeof(d),
		         "%s must be an ISO 8601 date, e.g. 2024-01-31T00:00:00+00:00.", name);
		*answered = invalid(r, name, d);
		return 1;
	}
	return 0;
}

/* Collects every "tags[]" (or "tags") query value, or those of `key` and
 * `key`[] when key is set ("excludeTags"). */
struct tag_collect {
	const char *v[SH_MAX_TAGS];
	int n;
	bool overflow;
	const char *key;
};

static bool is_tags_key(const char *key, const char *name)
{
	size_t n = strlen(name);

	return strncmp(key, name, n) == 0 && (key[n] == '\0' || strcmp(key + n, "[]") == 0);
}

static int collect_tag(void *cls, const char *key, const char *value)
{
	struct tag_collect *t = cls;

	if (!value || !is_tags_key(key, t->key ? t->key : "tags"))
		return 0;
	if (t->n >= SH_MAX_TAGS) {
		t->overflow = true;
		return 0;
	}
	t->v[t->n++] = value;
	return 0;
}

static json_t *visits_summary(int64_t total, int64_t bots)
{
	return json_pack("{s:I,s:I,s:I}", "total", (json_int_t)total, "nonBots",
	                 (json_int_t)(total - bots), "bots", (json_int_t)bots);
}

/* ---- authentication -------------------------------------------------------------- */

int rest_authenticate(http_req *r, bool query_key, int *answered)
{
	const char *k = http_header(r, "X-Api-Key");
	int rc;

	if (!k) {
		const char *a = http_header(r, "Authorization");
		if (a && strncasecmp(a, "Bearer ", 7) == 0) {
			k = a + 7;
			while (*k == ' ')
				k++;
		}
	}
	if (!k && query_key)
		k = http_query(r, "apiKey");
	if (!k || !*k) {
		*answered =
		    http_reply_problem(r, 401, "missing-authentication", "Invalid authorization",
		                       "Expected one of the following authentication headers, "
		                       "[\"X-Api-Key\"], but none were provided",
		                       NULL);
		return 1;
	}
	if (!r->w->rs) {
		*answered = http_reply_error(r, SH_ESTORE, NULL);
		return 1;
	}
	rc = svc_key_check(r->v, r->w->rs, k, strlen(k), &r->key);
	if (rc == SH_EAUTH || rc == SH_ENOTFOUND || rc == SH_EINVAL) {
		*answered =
		    http_reply_problem(r, 401, "invalid-api-key", "Invalid API key",
		                       "Provided API key does not exist or is invalid.", NULL);
		return 1;
	}
	if (rc < 0) {
		*answered = http_reply_error(r, rc, NULL);
		return 1;
	}
	r->has_key = true;
	r->caller = svc_caller_of_key(&r->key);
	return 0;
}

/* ---- health, domains, mercure ----------------------------------------------------- */

int rest_health(http_req *r)
{
	bool ok = r->w->rs && svc_store_ping(r->w->rs, NULL) == 0;
	json_t *j = json_pack("{s:s,s:s,s:{s:s,s:s}}", "status", ok ? "pass" : "fail", "version",
	                      SHLINK_API_VERSION, "links", "about", "https://shlink.io", "project",
	                      "https://github.com/shlinkio/shlink");
	char *text;
	int ret;

	if (!j)
		return http_reply_error(r, SH_ENOMEM, NULL);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text && linkjson_watch_oom()) { /* jansson may have lost bytes */
		free(text);
		text = NULL;
	}
	if (!text)
		return http_reply_error(r, SH_ENOMEM, NULL);
	ret = http_reply(r, ok ? 200 : 503, "application/health+json", text, strlen(text));
	free(text);
	return ret;
}

int rest_mercure(http_req *r)
{
	return http_reply_problem(
	    r, 501, "mercure-not-configured", "Mercure integration not configured",
	    "This Shlink instance is not integrated with a mercure hub.", NULL);
}

/* ---- jobs: the writes, as units of the service's writer ------------------------------ */

typedef struct rest_job {
	svc_unit u;  /* what the writer runs; its input points into the fields below */
	json_t *body; /* keeps the JSON strings of the unit's input alive */
	const char *tagv[SH_MAX_TAGS];
	char old_tag[SH_TAG_MAX * 4 + 1], new_tag[SH_TAG_MAX * 4 + 1];
	struct tag_collect tags;
	bool legacy_txt;
	sh_domain dom; /* PATCH /domains/redirects: what was asked for */
} rest_job;

static void rest_job_free(void *p)
{
	rest_job *j = p;

	if (!j)
		return;
	json_decref(j->body);
	svc_unit_clear(&j->u);
	free(j);
}

static rest_job *job_new(http_req *r, svc_unit_kind kind)
{
	rest_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	svc_unit_init(&j->u, kind);
	r->ud = j;
	r->ud_free = rest_job_free;
	return j;
}

static int job_reply(http_req *r, int rc);
static json_t *domain_redirects(const sh_domain *d);

static int job_submit(http_req *r, rest_job *j)
{
	return http_defer(r, &j->u, job_reply);
}

static int job_reply(http_req *r, int rc)
{
	rest_job *j = r->ud;
	char d[400];

	switch (j->u.kind) {
	case SVC_UNIT_CREATE:
		if (rc < 0)
			return http_reply_error(r, rc, &j->u.err);
		if (j->legacy_txt) {
			char shortu[CODE_MAX + 600];
			svc_short_url(r->v, j->u.link.code, shortu, sizeof(shortu));
			return http_reply_text(r, 200, shortu);
		}
		return http_reply_json(r, 200, linkjson_short_url(r->v, &j->u.link));
	case SVC_UNIT_UPDATE:
		if (rc == SH_ENOTFOUND || (rc == SH_EINVAL && j->u.err.field &&
		                           strcmp(j->u.err.field, "domain") == 0))
			return short_url_not_found(r, j->u.update.domain);
		if (rc < 0)
			return http_reply_error(r, rc, &j->u.err);
		return http_reply_json(r, 200, linkjson_short_url(r->v, &j->u.link));
	case SVC_UNIT_DELETE:
		if (rc == SH_ENOTFOUND || rc == SH_EINVAL)
			return short_url_not_found(r, j->u.domain);
		if (rc < 0)
			return http_reply_error(r, rc, &j->u.err);
		return http_reply_empty(r, 204);
	case SVC_UNIT_DOMAIN_REDIRECTS:
		if (rc == SH_EFORBIDDEN)
			return http_reply_problem(r, 400, "invalid-domain", "Invalid domain",
			                          j->u.err.msg, NULL);
		if (rc == SH_EINVAL && j->u.err.field)
			return invalid(r, j->u.err.field, j->u.err.msg);
		if (rc < 0)
			return http_reply_error(r, rc, &j->u.err);
		return http_reply_json(r, 200, domain_redirects(&j->u.dom));
	case SVC_UNIT_VISITS_DELETE:
		if (rc < 0)
			return http_reply_error(r, rc, NULL);
		return http_reply_json(r, 200,
		                       json_pack("{s:I}", "deletedVisits", (json_int_t)j->u.deleted));
	case SVC_UNIT_TAG_RENAME:
		if (rc == SH_ENOTFOUND) {
			snprintf(d, sizeof(d), "Tag with name \"%s\" could not be found",
			         j->old_tag);
			return http_reply_problem(r, 404, "tag-not-found", "Tag not found", d,
			                          json_pack("{s:s}", "tag", j->old_tag));
		}
		if (rc == SH_ETAKEN) {
			snprintf(d, sizeof(d),
			         "You cannot rename tag %s to %s, because it already exists",
			         j->old_tag, j->new_tag);
			return http_reply_problem(
			    r, 409, "tag-conflict", "Tag conflict", d,
			    json_pack("{s:s,s:s}", "oldName", j->old_tag, "newName", j->new_tag));
		}
		if (rc < 0)
			return http_reply_error(r, rc, NULL);
		return http_reply_empty(r, 204);
	case SVC_UNIT_TAGS_DELETE:
		if (rc < 0)
			return http_reply_error(r, rc, NULL);
		return http_reply_empty(r, 204);
	default:
		break;
	}
	return http_reply_error(r, SH_ESTORE, NULL);
}

/* ---- domains ------------------------------------------------------------------------- */

static json_t *jstr_or_null(const char *s);

/* A domain's redirects as Shlink shows them (null: none). */
static json_t *domain_redirects(const sh_domain *d)
{
	return json_pack("{s:o,s:o,s:o}", "baseUrlRedirect",
	                 jstr_or_null(d->redirect[SH_REDIRECT_BASE_URL]), "regular404Redirect",
	                 jstr_or_null(d->redirect[SH_REDIRECT_REGULAR_404]),
	                 "invalidShortUrlRedirect",
	                 jstr_or_null(d->redirect[SH_REDIRECT_INVALID_SHORT_URL]));
}

struct domains_ctx {
	json_t *data, *defaults;
};

static int domains_cb(const sh_domain *d, void *ud)
{
	struct domains_ctx *c = ud;
	json_t *o;

	if (d->id == 0) /* the default domain: its redirects are the defaults */
		c->defaults = domain_redirects(d);
	o = json_pack("{s:s,s:b,s:o}", "domain", d->authority, "isDefault", d->id == 0,
	              "redirects", domain_redirects(d));
	if (!o || json_array_append_new(c->data, o) != 0)
		return SH_ENOMEM;
	return 0;
}

/* GET /domains: the default domain, then every other one a link or a
 * redirect named (Shlink lists the domains in use). */
static int list_domains(http_req *r)
{
	struct domains_ctx c = {json_array(), NULL};
	int rc;

	if (!c.data)
		return http_reply_error(r, SH_ENOMEM, NULL);
	rc = svc_domain_list(r->v, r->w->rs, domains_cb, &c);
	if (rc < 0 || !c.defaults) {
		json_decref(c.data);
		json_decref(c.defaults);
		return http_reply_error(r, rc < 0 ? rc : SH_ENOMEM, NULL);
	}
	return http_reply_json(r, 200, json_pack("{s:{s:o,s:o}}", "domains", "data", c.data,
	                                         "defaultRedirects", c.defaults));
}

static const char *const redirect_fields[SH_REDIRECTS] = {
    [SH_REDIRECT_BASE_URL] = "baseUrlRedirect",
    [SH_REDIRECT_REGULAR_404] = "regular404Redirect",
    [SH_REDIRECT_INVALID_SHORT_URL] = "invalidShortUrlRedirect",
};

/* PATCH /domains/redirects {"domain", and any of the three redirects: a URL
 * or null}; what is absent stays (Shlink). */
static int edit_domain_redirects(http_req *r)
{
	bad_fields bad = {0};
	json_t *x;
	rest_job *j;
	int answered = 0, k;

	if (!svc_caller_is_admin(&r->caller))
		return forbidden(r, "Only admin API keys can change domain redirects.");
	j = job_new(r, SVC_UNIT_DOMAIN_REDIRECTS);
	if (!j)
		return http_reply_error(r, SH_ENOMEM, NULL);
	j->body = http_body_json(r, &answered);
	if (!j->body)
		return answered;
	if (!json_is_object(j->body))
		return http_reply_problem(r, 400, "invalid-data", "Invalid data",
		                          "The body must be a JSON object.",
		                          json_pack("{s:[]}", "invalidElements"));
	x = json_object_get(j->body, "domain");
	if (!json_is_string(x) || !*json_string_value(x) ||
	    strlen(json_string_value(x)) > SH_AUTHORITY_MAX)
		bad_add(&bad, "domain", "domain is required: the authority (host[:port]) of a domain.");
	else
		snprintf(j->dom.authority, sizeof(j->dom.authority), "%s", json_string_value(x));
	for (k = 0; k < SH_REDIRECTS; k++) {
		x = json_object_get(j->body, redirect_fields[k]);
		if (!x)
			continue;
		j->u.given |= 1u << k;
		if (json_is_string(x))
			j->dom.redirect[k] = (char *)json_string_value(x); /* the body's: not freed */
		else if (!json_is_null(x))
			bad_add(&bad, redirect_fields[k], "A redirect is a URL or null.");
	}
	if (bad_reply(r, &bad, &answered))
		return answered;
	j->u.domain_in = &j->dom;
	j->u.caller = r->caller;
	return job_submit(r, j);
}

int rest_domains(http_req *r)
{
	if (r->meth == HTTP_PATCH)
		return edit_domain_redirects(r);
	return list_domains(r);
}

/* ---- short URLs ------------------------------------------------------------------------ */

/* orderBy values: "field-ASC" / "field-DESC" (a bare field is ascending). */
typedef struct order_field {
	const char *field;
	int asc, desc;
} order_field;

static const order_field link_orders[] = {
    {"dateCreated", LIST_CREATED_ASC, LIST_CREATED_DESC},
    {"shortCode", LIST_CODE_ASC, LIST_CODE_DESC},
    {"longUrl", LIST_URL_ASC, LIST_URL_DESC},
    {"title", LIST_TITLE_ASC, LIST_TITLE_DESC},
    {"visits", LIST_VISITS_ASC, LIST_VISITS_DESC},
    {"nonBotVisits", LIST_NONBOT_VISITS_ASC, LIST_NONBOT_VISITS_DESC},
    {NULL, 0, 0},
};

/* /tags orders by name only; /tags/stats by any of its numbers too. */
static const order_field tag_orders[] = {
    {"tag", TAG_NAME_ASC, TAG_NAME_DESC},
    {"shortUrlsCount", TAG_LINKS_ASC, TAG_LINKS_DESC},
    {"visits", TAG_VISITS_ASC, TAG_VISITS_DESC},
    {"nonBotVisits", TAG_NONBOT_VISITS_ASC, TAG_NONBOT_VISITS_DESC},
    {NULL, 0, 0},
};

/* s (NULL or "" = def) into *out; the first nfields of fields. */
static bool parse_order(const order_field *fields, size_t nfields, const char *s, int def,
                        int *out)
{
	const char *dash;
	size_t fl;

	*out = def;
	if (!s || !*s)
		return true;
	dash = strrchr(s, '-');
	fl = dash ? (size_t)(dash - s) : strlen(s);
	for (size_t i = 0; i < nfields && fields[i].field; i++) {
		if (strlen(fields[i].field) != fl || strncmp(s, fields[i].field, fl) != 0)
			continue;
		if (!dash || strcasecmp(dash + 1, "ASC") == 0)
			*out = fields[i].asc;
		else if (strcasecmp(dash + 1, "DESC") == 0)
			*out = fields[i].desc;
		else
			return false;
		return true;
	}
	return false;
}

struct list_ctx {
	svc *v;
	json_t *arr;
};

static int list_cb(const sh_link *l, void *ud)
{
	struct list_ctx *c = ud;
	json_t *o = linkjson_short_url(c->v, l);

	if (!o)
		return 1;
	json_array_append_new(c->arr, o);
	return 0;
}

/* "any" (the default) or "all"; false on anything else. */
static bool parse_mode(const char *s, bool *all)
{
	*all = s && strcmp(s, "all") == 0;
	return !s || !*s || strcmp(s, "any") == 0 || *all;
}

/* Shlink's GET /short-urls filters into q; every bad one is named in b. */
static void short_urls_filters(http_req *r, sh_list_query *q, struct tag_collect *tags,
                               struct tag_collect *xtags, bad_fields *b)
{
	const char *search = http_query(r, "searchTerm"), *key = http_query(r, "apiKeyName");
	bool v;

	if (!parse_order(link_orders, SIZE_MAX, http_query(r, "orderBy"), LIST_CREATED_DESC,
	                 &q->order))
		bad_add(b, "orderBy",
		        "orderBy must be one of dateCreated, shortCode, longUrl, title, visits, "
		        "nonBotVisits, with -ASC or -DESC.");
	http_query_each(r, collect_tag, tags);
	if (tags->overflow)
		bad_add(b, "tags", "At most 16 tags can be given.");
	if (!parse_mode(http_query(r, "tagsMode"), &v))
		bad_add(b, "tagsMode", "tagsMode must be any or all.");
	q->tags_all = v;
	xtags->key = "excludeTags";
	http_query_each(r, collect_tag, xtags);
	if (xtags->overflow)
		bad_add(b, "excludeTags", "At most 16 excluded tags can be given.");
	if (!parse_mode(http_query(r, "excludeTagsMode"), &v))
		bad_add(b, "excludeTagsMode", "excludeTagsMode must be any or all.");
	q->exclude_all = v;
	if (search && strlen(search) > SEARCH_MAX)
		bad_add(b, "searchTerm", "searchTerm is longer than 512 bytes.");
	if (key && strlen(key) > SH_KEY_NAME_MAX)
		bad_add(b, "apiKeyName", "apiKeyName is longer than 128 bytes.");
	if (!parse_date(http_query(r, "startDate"), &q->start_date))
		bad_add(b, "startDate",
		        "startDate must be an ISO 8601 date, e.g. 2024-01-31T00:00:00+00:00.");
	if (!parse_date(http_query(r, "endDate"), &q->end_date))
		bad_add(b, "endDate",
		        "endDate must be an ISO 8601 date, e.g. 2024-01-31T00:00:00+00:00.");
	if (!parse_bool(http_query(r, "excludeMaxVisitsReached"), false, &v))
		bad_add(b, "excludeMaxVisitsReached",
		        "excludeMaxVisitsReached must be true or false.");
	q->exclude_max_visits_reached = v;
	if (!parse_bool(http_query(r, "excludePastValidUntil"), false, &v))
		bad_add(b, "excludePastValidUntil", "excludePastValidUntil must be true or false.");
	q->exclude_past_valid_until = v;
	q->search = search && *search && strlen(search) <= SEARCH_MAX ? search : NULL;
	q->tags = tags->n ? tags->v : NULL;
	q->ntags = tags->n;
	q->exclude_tags = xtags->n ? xtags->v : NULL;
	q->nexclude = xtags->n;
	/* Shlink: a non-admin key's own name is no filter beyond its role's */
	q->owner_key_name = key && *key && svc_caller_is_admin(&r->caller) ? key : NULL;
}

static int list_short_urls(http_req *r)
{
	sh_list_query q;
	paging p;
	struct tag_collect tags = {0}, xtags = {0};
	bad_fields bad = {0};
	struct list_ctx c;
	int64_t total = 0;
	int answered = 0, rc;

	memset(&q, 0, sizeof(q));
	paging_check(r, &p, &bad);
	short_urls_filters(r, &q, &tags, &xtags, &bad);
	if (bad_reply(r, &bad, &answered))
		return answered;
	q.limit = p.per;
	q.offset = (p.page - 1) * p.per;
	q.now = sh_now();
	c.v = r->v;
	c.arr = json_array();
	if (!c.arr)
		return http_reply_error(r, SH_ENOMEM, NULL);
	/* one domain: DEFAULT or an authority (one no link is on: none) */
	rc = http_query_domain_id(r, &q.one_domain, &q.domain_id);
	if (rc == SH_ENOTFOUND)
		rc = 0; /* no such domain: no links */
	else if (rc == 0)
		rc = svc_list(r->v, r->w->rs, &r->caller, &q, list_cb, &c, &total);
	if (rc < 0) {
		json_decref(c.arr);
		return http_reply_error(r, rc, NULL);
	}
	return http_reply_json(r, 200, json_pack("{s:o}", "shortUrls", page_of(c.arr, &p, total)));
}

/* Checks the whole create body before it is queued, so that a bad one is
 * answered with every bad field (Shlink's invalidElements), not only the
 * first. Returns 0, or 1 with the answer in *answered. */
static int create_invalid(http_req *r, rest_job *j, int *answered)
{
	const char *names[24];
	bad_fields bad = {0};
	sh_err first = {0}, e = {0};
	int n = 0, m = 0, rc, rc2;

	rc = linkjson_parse_create_all(j->body, &j->u.create, j->tagv, &first, names, 12, &n);
	if (rc < 0 && n == 0) { /* not an object, or no input's fault */
		*answered = http_reply_error(r, rc, &first);
		return 1;
	}
	rc2 = svc_create_check(r->v, &j->u.create, names + n, 12, &m, &e);
	if (rc2 < 0 && m == 0 && rc2 != SH_EINVAL) { /* out of memory */
		*answered = http_reply_error(r, rc2, &e);
		return 1;
	}
	if (rc == 0 && rc2 == 0)
		return 0;
	if (n + m == 1) { /* one field: the answer it always had (reserved, taken, ...) */
		*answered = http_reply_error(r, rc ? rc : rc2, rc ? &first : &e);
		return 1;
	}
	for (int i = 0; i < n + m; i++) {
		const char *f = strcmp(names[i], "url") == 0 ? "longUrl" : names[i];
		bool seen = false;

		for (int k = 0; k < i; k++)
			seen |= strcmp(f, strcmp(names[k], "url") == 0 ? "longUrl" : names[k]) == 0;
		if (!seen)
			bad_add(&bad, f, i == 0 ? (rc ? first.msg : e.msg) : NULL);
	}
	return bad_reply(r, &bad, answered);
}

static int create_short_url(http_req *r)
{
	rest_job *j;
	int answered = 0;

	if (!svc_caller_can_write(&r->caller))
		return forbidden(r, "This API key is read-only; it cannot create short URLs.");
	j = job_new(r, SVC_UNIT_CREATE);
	if (!j)
		return http_reply_error(r, SH_ENOMEM, NULL);
	j->body = http_body_json(r, &answered);
	if (!j->body)
		return answered;
	if (create_invalid(r, j, &answered))
		return answered;
	j->u.caller = r->caller;
	if (j->u.create.custom_code)
		snprintf(r->arg, sizeof(r->arg), "%s", j->u.create.custom_code);
	return job_submit(r, j);
}

int rest_short_urls(http_req *r)
{
	if (r->meth == HTTP_POST)
		return create_short_url(r);
	return list_short_urls(r);
}

int rest_shorten_legacy(http_req *r)
{
	const char *url = http_query(r, "longUrl");
	const char *fmt = http_query(r, "format");
	rest_job *j;

	if (!svc_caller_can_write(&r->caller))
		return forbidden(r, "This API key is read-only; it cannot create short URLs.");
	if (!url || !*url)
		return invalid(r, "longUrl", "longUrl is required.");
	if (fmt && strcmp(fmt, "txt") != 0 && strcmp(fmt, "json") != 0)
		return invalid(r, "format", "format must be txt or json.");
	j = job_new(r, SVC_UNIT_CREATE);
	if (!j)
		return http_reply_error(r, SH_ENOMEM, NULL);
	j->u.create.url = url; /* MHD keeps query values for the request's life */
	j->u.create.find_if_exists = false; /* as Shlink: always a new link */
	j->u.caller = r->caller;
	j->legacy_txt = fmt && strcmp(fmt, "txt") == 0;
	return job_submit(r, j);
}

int rest_short_url(http_req *r)
{
	rest_job *j;
	sh_link l;
	int rc, answered = 0;

	if (!codec_custom_valid(r->arg, r->arg_len))
		return http_reply_error(r, SH_ENOTFOUND, NULL);
	if (r->meth == HTTP_GET || r->meth == HTTP_HEAD) {
		if (get_link(r, &l, &answered))
			return answered;
		json_t *o = linkjson_short_url(r->v, &l);
		sh_link_clear(&l);
		return http_reply_json(r, 200, o);
	}
	if (!svc_caller_can_write(&r->caller))
		return forbidden(r, "This API key is read-only; it cannot change short URLs.");
	j = job_new(r, r->meth == HTTP_PATCH ? SVC_UNIT_UPDATE : SVC_UNIT_DELETE);
	if (!j)
		return http_reply_error(r, SH_ENOMEM, NULL);
	memcpy(j->u.code, r->arg, r->arg_len + 1);
	j->u.caller = r->caller;
	j->u.domain = http_query_domain(r); /* MHD keeps it for the request's life */
	if (r->meth == HTTP_PATCH) {
		j->body = http_body_json(r, &answered);
		if (!j->body)
			return answered;
		rc = linkjson_parse_update(j->body, &j->u.update, j->tagv, &j->u.err);
		if (rc < 0)
			return http_reply_error(r, rc, &j->u.err);
		j->u.update.now = sh_now();
		j->u.update.domain = j->u.domain;
	}
	return job_submit(r, j);
}

/* ---- visits ------------------------------------------------------------------------------ */

struct visit_ctx {
	json_t *arr;
	http_req *r;
	const char *redirect_url; /* known for one link's visits */
	int64_t cached_id;        /* last link looked up for redirectUrl */
	char *cached_url;
	bool orphan;
	int64_t rows, last_id;    /* rows handed over, the last one's id */
};

static const char *orphan_type_name(int t)
{
	switch (t) {
	case ORPHAN_BASE_URL:
		return "base_url";
	case ORPHAN_INVALID_SHORT_URL:
		return "invalid_short_url";
	case ORPHAN_REGULAR_404:
		return "regular_404";
	default:
		return NULL;
	}
}

static json_t *jstr_or_null(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

/* Shlink's visitLocation of a stored visit (JSON kept by the flush), null
 * when the visit was not located (no GeoIP database, an unknown address). */
static json_t *visit_location(const char *text)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;

	return json_is_object(j) ? j : (json_decref(j), json_null());
}

static int visit_cb(const sh_visit *v, int64_t visit_id, void *ud)
{
	struct visit_ctx *c = ud;
	char when[SH_TIME_BUF];
	const char *redirect = c->redirect_url;
	json_t *o;

	c->rows++;
	c->last_id = visit_id;
	if (v->kind == VISIT_HEAD)
		return 0; /* logged apart by the store, not a visit (see report) */
	if (!redirect && v->link_id > 0) {
		if (c->cached_id != v->link_id) {
			sh_link l;
			memset(&l, 0, sizeof(l));
			free(c->cached_url);
			c->cached_url = NULL;
			c->cached_id = v->link_id;
			if (svc_get_by_id(c->r->v, c->r->w->rs, v->link_id, &l) == 0) {
				c->cached_url = l.url;
				l.url = NULL;
			}
			sh_link_clear(&l);
		}
		redirect = c->cached_url;
	}
	o = json_object();
	if (!o)
		return 1;
	json_object_set_new(o, "referer", jstr_or_null(v->referer ? v->referer : ""));
	json_object_set_new(o, "date", json_string(sh_time_format(v->ts, when)));
	json_object_set_new(o, "userAgent", jstr_or_null(v->user_agent ? v->user_agent : ""));
	json_object_set_new(o, "potentialBot", json_boolean(v->kind == VISIT_BOT));
	json_object_set_new(o, "visitedUrl", jstr_or_null(v->visited_url));
	json_object_set_new(o, "redirectUrl", jstr_or_null(redirect));
	json_object_set_new(o, "visitLocation", visit_location(v->location));
	if (c->orphan && orphan_type_name(v->orphan_type))
		json_object_set_new(o, "type", json_string(orphan_type_name(v->orphan_type)));
	json_array_append_new(c->arr, o);
	return 0;
}

/*
 * Every visit of a list (itemsPerPage absent, as Shlink answers it) is
 * streamed: read from the store STREAM_CHUNK visits at a time, newest first,
 * each chunk after the last id sent (keyset: visits flushed meanwhile are
 * newer, so they are not in this answer, and a page never shifts), turned
 * into JSON and sent; the pagination comes last, from what was sent. The
 * answer's memory is a chunk, whatever the number of visits.
 */
#define STREAM_CHUNK 500

struct visit_stream {
	http_req *r;          /* lives until the answer is sent */
	struct visit_ctx c;
	sh_visit_query q;
	char *redirect_url;   /* c.redirect_url's own copy */
	char *text;           /* what is not sent yet: text[off..len) */
	size_t len, off;
	int64_t count;
	int state;            /* 0: the opening, 1: visits, 2: the pagination, 3: done */
};

static void visit_stream_free(void *p)
{
	struct visit_stream *st = p;

	free(st->c.cached_url);
	free(st->redirect_url);
	free(st->text);
	free(st);
}

/* The next piece of the answer into st->text; false on a failure. */
static bool visit_stream_next(struct visit_stream *st)
{
	json_t *arr;
	size_t i;
	sbuf b;

	free(st->text);
	st->text = NULL;
	st->len = st->off = 0;
	sbuf_init(&b, SIZE_MAX);
	if (st->state == 0) {
		sbuf_adds(&b, "{\"visits\":{\"data\":[");
		st->state = 1; /* and the first visits with it */
	}
	if (st->state == 1) {
		arr = json_array();
		if (!arr)
			return false;
		st->c.arr = arr;
		st->c.rows = 0;
		st->q.limit = STREAM_CHUNK;
		st->q.before_id = st->c.last_id;
		if (svc_visits_list(st->r->v, st->r->w->rs, &st->r->caller, &st->q, visit_cb,
		                    &st->c, NULL) < 0 || !st->r->w->rs) {
			json_decref(arr);
			sbuf_free(&b);
			return false;
		}
		for (i = 0; i < json_array_size(arr); i++) {
			char *one = json_dumps(json_array_get(arr, i), JSON_COMPACT);
			if (!one) {
				b.err = true;
				break;
			}
			if (st->count++)
				sbuf_adds(&b, ",");
			sbuf_adds(&b, one);
			free(one);
		}
		json_decref(arr);
		st->c.arr = NULL;
		if (st->c.rows < STREAM_CHUNK)
			st->state = 2;
	} else if (st->state == 2) {
		sbuf_printf(&b,
		            "],\"pagination\":{\"currentPage\":1,\"pagesCount\":%d,"
		            "\"itemsPerPage\":%lld,\"itemsInCurrentPage\":%lld,\"totalItems\":%lld}}}",
		            st->count > 0 ? 1 : 0, (long long)(st->count > 0 ? st->count : 1),
		            (long long)st->count, (long long)st->count);
		st->state = 3;
	}
	if (b.err) {
		sbuf_free(&b);
		return false;
	}
	st->text = b.p;
	st->len = b.len;
	return true;
}

static ssize_t visit_stream_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
	struct visit_stream *st = ctx;
	size_t n;

	(void)pos;
	while (st->off == st->len) {
		if (st->state == 3)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (!st->r->w->rs || !visit_stream_next(st))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = st->len - st->off < max ? st->len - st->off : max;
	memcpy(buf, st->text + st->off, n);
	st->off += n;
	return (ssize_t)n;
}

static int stream_visits(http_req *r, const sh_visit_query *q, const char *redirect_url)
{
	struct visit_stream *st = calloc(1, sizeof *st);

	if (!st)
		return http_reply_error(r, SH_ENOMEM, NULL);
	st->r = r;
	st->q = *q;
	st->c.r = r;
	st->c.orphan = q->orphan == 1;
	if (redirect_url && !(st->redirect_url = strdup(redirect_url))) {
		free(st);
		return http_reply_error(r, SH_ENOMEM, NULL);
	}
	st->c.redirect_url = st->redirect_url;
	/* a store failure before anything is sent is still a clean 503 */
	if (!visit_stream_next(st)) {
		visit_stream_free(st);
		return http_reply_error(r, SH_ESTORE, NULL);
	}
	return http_reply_stream(r, 200, "application/json", visit_stream_read, st,
	                         visit_stream_free);
}

/* Answers the visits of q (link/tag/orphan filters already set): a page,
 * or every one of them (streamed) when no page size is asked for. */
static int reply_visits(http_req *r, sh_visit_query *q, const char *redirect_url)
{
	paging p;
	struct visit_ctx c;
	int64_t total = 0;
	int answered = 0, rc;
	bool b, all;
	const char *ipp;

	if (parse_paging(r, &p, &answered))
		return answered;
	/* ?domain= on the lists of many links' visits (tag, non-orphan): only
	 * the visits of that domain's links; a domain no link is on has none */
	if (!q->one_domain && q->link_id == 0 && q->orphan == 0) {
		rc = http_query_domain_id(r, &q->one_domain, &q->domain_id);
		if (rc < 0 && rc != SH_ENOTFOUND)
			return http_reply_error(r, rc, NULL);
	}
	/* as Shlink: every visit unless a page size is asked for */
	ipp = http_query(r, "itemsPerPage");
	all = !ipp || strcmp(ipp, "-1") == 0 || strcmp(ipp, "0") == 0;
	if (parse_date_param(r, "startDate", &q->start_date, &answered) ||
	    parse_date_param(r, "endDate", &q->end_date, &answered))
		return answered;
	if (!parse_bool(http_query(r, "excludeBots"), false, &b))
		return invalid(r, "excludeBots", "excludeBots must be true or false.");
	q->exclude_bots = b;
	if (all)
		return stream_visits(r, q, redirect_url);
	q->limit = p.per;
	q->offset = (p.page - 1) * p.per;
	memset(&c, 0, sizeof(c));
	c.arr = json_array();
	c.r = r;
	c.redirect_url = redirect_url;
	c.orphan = q->orphan == 1;
	if (!c.arr)
		return http_reply_error(r, SH_ENOMEM, NULL);
	rc = svc_visits_list(r->v, r->w->rs, &r->caller, q, visit_cb, &c, &total);
	free(c.cached_url);
	if (rc < 0) {
		json_decref(c.arr);
		return http_reply_error(r, rc, NULL);
	}
	return http_reply_json(r, 200, json_pack("{s:o}", "visits", page_of(c.arr, &p, total)));
}

int rest_short_url_visits(http_req *r)
{
	sh_link l;
	sh_visit_query q;
	int answered = 0, ret;

	if (!codec_custom_valid(r->arg, r->arg_len))
		return http_reply_error(r, SH_ENOTFOUND, NULL);
	if (get_link(r, &l, &answered))
		return answered;
	if (r->meth == HTTP_DELETE) {
		rest_job *j;
		int64_t id = l.id;
		sh_link_clear(&l); /* zeroes l */
		if (!svc_caller_can_write(&r->caller))
			return forbidden(r, "This API key is read-only; it cannot delete visits.");
		j = job_new(r, SVC_UNIT_VISITS_DELETE);
		if (!j)
			return http_reply_error(r, SH_ENOMEM, NULL);
		j->u.link_id = id;
		return job_submit(r, j);
	}
	memset(&q, 0, sizeof(q));
	q.link_id = l.id;
	q.orphan = 0;
	ret = reply_visits(r, &q, l.url);
	sh_link_clear(&l);
	return ret;
}

int rest_visits_summary(http_req *r)
{
	sh_visit_totals links = {0}, orphans = {0};
	int rc = svc_visits_totals(r->v, r->w->rs, &r->caller, &links, &orphans);

	if (rc < 0)
		return http_reply_error(r, rc, NULL);
	return http_reply_json(r, 200,
	                       json_pack("{s:{s:o,s:o,s:I,s:I}}", "visits", "nonOrphanVisits",
	                                 visits_summary(links.total, links.bots), "orphanVisits",
	                                 visits_summary(orphans.total, orphans.bots), "visitsCount",
	                                 (json_int_t)links.total, "orphanVisitsCount",
	                                 (json_int_t)orphans.total));
}

int rest_visits_orphan(http_req *r)
{
	sh_visit_query q;
	const char *type = http_query(r, "type");

	if (!svc_caller_is_admin(&r->caller))
		return forbidden(r, "Only admin API keys can see or delete orphan visits.");
	if (r->meth == HTTP_DELETE) {
		rest_job *j = job_new(r, SVC_UNIT_VISITS_DELETE);
		if (!j)
			return http_reply_error(r, SH_ENOMEM, NULL);
		j->u.link_id = 0;
		return job_submit(r, j);
	}
	memset(&q, 0, sizeof(q));
	q.orphan = 1;
	if (type) {
		if (strcmp(type, "base_url") == 0)
			q.orphan_type = ORPHAN_BASE_URL;
		else if (strcmp(type, "invalid_short_url") == 0)
			q.orphan_type = ORPHAN_INVALID_SHORT_URL;
		else if (strcmp(type, "regular_404") == 0)
			q.orphan_type = ORPHAN_REGULAR_404;
		else
			return invalid(r, "type",
			               "type must be base_url, invalid_short_url or regular_404.");
	}
	return reply_visits(r, &q, NULL);
}

/* GET /domains/{domain}/visits: the visits of the domain's links; the
 * default domain is DEFAULT or its authority. */
int rest_domain_visits(http_req *r)
{
	sh_visit_query q;
	sh_err e = {0};
	char d[400];
	int rc = 0;

	memset(&q, 0, sizeof(q));
	q.orphan = 0;
	q.one_domain = true;
	if (strcmp(r->arg, "DEFAULT") != 0)
		rc = svc_domain_id(r->v, r->w->rs, r->arg, false, &q.domain_id, &e);
	if (rc == SH_ENOTFOUND || rc == SH_EINVAL) {
		snprintf(d, sizeof d, "Domain with authority \"%.255s\" could not be found", r->arg);
		return http_reply_problem(r, 404, "domain-not-found", "Domain not found", d,
		                          json_pack("{s:s}", "authority", r->arg));
	}
	if (rc < 0)
		return http_reply_error(r, rc, NULL);
	return reply_visits(r, &q, NULL);
}

int rest_visits_non_orphan(http_req *r)
{
	sh_visit_query q;

	memset(&q, 0, sizeof(q));
	q.orphan = 0;
	return reply_visits(r, &q, NULL);
}

/* ---- tags ----------------------------------------------------------------------------------- */

struct tags_ctx {
	json_t *names, *stats;
	bool found;
};

static int tags_cb(const sh_tag_stats *t, void *ud)
{
	struct tags_ctx *c = ud;

	c->found = true;
	if (!c->names)
		return 0;
	json_array_append_new(c->names, json_string(t->tag));
	json_array_append_new(c->stats,
	                      json_pack("{s:s,s:I,s:o,s:I}", "tag", t->tag, "shortUrlsCount",
	                                (json_int_t)t->links, "visitsSummary",
	                                visits_summary(t->visits, t->bot_visits), "visitsCount",
	                                (json_int_t)t->visits));
	return 0;
}

/* The store reads only the page asked for and counts the total apart
 * (issue 12 item 3: building every tag to slice one page cost 260 ms at
 * 100,000 tags). */
static int list_tags(http_req *r, bool stats_only)
{
	struct tags_ctx c = {0};
	const char *search = http_query(r, "searchTerm");
	sh_tag_query q = {0};
	bad_fields bad = {0};
	paging p;
	int rc, answered = 0;
	bool with_stats = false;
	int64_t total = 0;
	json_t *tags;

	paging_check(r, &p, &bad);
	if (!http_query(r, "itemsPerPage"))
		p.per = PAGE_MAX_ITEMS; /* tags: all unless asked (as Shlink), at most a page */
	if (!parse_bool(http_query(r, "withStats"), false, &with_stats))
		bad_add(&bad, "withStats", "withStats must be true or false.");
	if (search && strlen(search) > SEARCH_MAX)
		bad_add(&bad, "searchTerm", "searchTerm is longer than 512 bytes.");
	/* Shlink: /tags orders by name only, /tags/stats by its counts too */
	if (!parse_order(tag_orders, stats_only ? SIZE_MAX : 1, http_query(r, "orderBy"),
	                 TAG_NAME_ASC, &q.order))
		bad_add(&bad, "orderBy",
		        stats_only ? "orderBy must be one of tag, shortUrlsCount, visits, "
		                     "nonBotVisits, with -ASC or -DESC."
		                   : "orderBy must be tag-ASC or tag-DESC.");
	if (bad_reply(r, &bad, &answered))
		return answered;
	c.names = json_array();
	c.stats = json_array();
	if (!c.names || !c.stats) {
		json_decref(c.names);
		json_decref(c.stats);
		return http_reply_error(r, SH_ENOMEM, NULL);
	}
	q.search = search && *search ? search : NULL;
	q.limit = p.per;
	q.offset = (p.page - 1) * p.per;
	rc = svc_tags_stats(r->v, r->w->rs, &r->caller, &q, tags_cb, &c, &total);
	if (rc < 0) {
		json_decref(c.names);
		json_decref(c.stats);
		return http_reply_error(r, rc, NULL);
	}
	tags = page_of(json_incref(stats_only ? c.stats : c.names), &p, total);
	if (tags && !stats_only && with_stats)
		json_object_set(tags, "stats", c.stats);
	json_decref(c.names);
	json_decref(c.stats);
	return http_reply_json(r, 200, json_pack("{s:o}", "tags", tags));
}

static int rename_tag(http_req *r)
{
	rest_job *j;
	json_t *o, *n;
	int answered = 0;

	if (!svc_caller_is_admin(&r->caller))
		return http_reply_problem(r, 403, "forbidden-tag-operation",
		                          "Forbidden tag operation",
		                          "You are not allowed to rename tags", NULL);
	j = job_new(r, SVC_UNIT_TAG_RENAME);
	if (!j)
		return http_reply_error(r, SH_ENOMEM, NULL);
	j->body = http_body_json(r, &answered);
	if (!j->body)
		return answered;
	o = json_object_get(j->body, "oldName");
	n = json_object_get(j->body, "newName");
	if (!json_is_string(o) || !json_is_string(n)) {
		json_t *x = json_pack("{s:[]}", "invalidElements");
		if (!json_is_string(o))
			json_array_append_new(json_object_get(x, "invalidElements"),
			                      json_string("oldName"));
		if (!json_is_string(n))
			json_array_append_new(json_object_get(x, "invalidElements"),
			                      json_string("newName"));
		return http_reply_problem(r, 400, "invalid-data", "Invalid data",
		                          "Provide oldName and newName as strings.", x);
	}
	if (json_string_length(o) >= sizeof(j->old_tag) ||
	    strlen(json_string_value(o)) != json_string_length(o)) {
		char d[120];
		snprintf(d, sizeof(d), "Tag with name \"%s\" could not be found", "(too long)");
		return http_reply_problem(r, 404, "tag-not-found", "Tag not found", d, NULL);
	}
	if (!svc_tag_valid(json_string_value(n)))
		return invalid(r, "newName", "A tag is 1 to 32 characters of a-z, 0-9, _ and -.");
	snprintf(j->old_tag, sizeof(j->old_tag), "%s", json_string_value(o));
	snprintf(j->new_tag, sizeof(j->new_tag), "%s", json_string_value(n));
	j->u.tag = j->old_tag;
	j->u.new_tag = j->new_tag;
	return job_submit(r, j);
}

static int delete_tags(http_req *r)
{
	rest_job *j;

	if (!svc_caller_is_admin(&r->caller))
		return http_reply_problem(r, 403, "forbidden-tag-operation",
		                          "Forbidden tag operation",
		                          "You are not allowed to delete tags", NULL);
	j = job_new(r, SVC_UNIT_TAGS_DELETE);
	if (!j)
		return http_reply_error(r, SH_ENOMEM, NULL);
	http_query_each(r, collect_tag, &j->tags);
	if (j->tags.overflow)
		return invalid(r, "tags", "At most 16 tags can be deleted at once.");
	if (j->tags.n == 0)
		return http_reply_empty(r, 204); /* as Shlink: nothing to delete */
	j->u.tags = j->tags.v;
	j->u.ntags = j->tags.n;
	return job_submit(r, j);
}

int rest_tags(http_req *r)
{
	if (r->meth == HTTP_PUT)
		return rename_tag(r);
	if (r->meth == HTTP_DELETE)
		return delete_tags(r);
	return list_tags(r, false);
}

int rest_tags_stats(http_req *r)
{
	return list_tags(r, true);
}

int rest_tag_visits(http_req *r)
{
	struct tags_ctx c = {0}; /* no arrays: only whether the tag is there */
	sh_tag_query tq = {0};
	sh_visit_query q;
	char d[200];
	int rc;

	tq.exact = r->arg;
	tq.limit = 1;
	if (svc_tag_valid(r->arg)) {
		rc = svc_tags_stats(r->v, r->w->rs, &r->caller, &tq, tags_cb, &c, NULL);
		if (rc < 0)
			return http_reply_error(r, rc, NULL);
	}
	if (!c.found) {
		snprintf(d, sizeof(d), "Tag with name \"%.64s\" could not be found", r->arg);
		return http_reply_problem(r, 404, "tag-not-found", "Tag not found", d,
		                          json_pack("{s:s}", "tag", r->arg));
	}
	memset(&q, 0, sizeof(q));
	q.tag = r->arg;
	q.orphan = 0;
	return reply_visits(r, &q, NULL);
}

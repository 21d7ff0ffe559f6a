/*
 * pages.c — the public, non-API routes: the page at /, anonymous creation
 * (POST /api/shorten), /health, /ready and /robots.txt.
 *
 * The page is web/index.html (a template, see template.c), plain HTML that
 * works without JavaScript: a form that POSTs to /api/shorten (the URL, and
 * behind "More options" a custom code, an expiry date and a visit limit)
 * and gets back the page with the short link, its QR code and a copy
 * button, or with the error next to the field it is about. The same
 * endpoint answers JSON to a JSON body ({"url": "..."} -> ShortUrl), for
 * scripts. Anonymous creation is on unless SHORTY_ANONYMOUS_CREATE=false,
 * and rate-limited per client address (429 with Retry-After). On the Host
 * of another domain (one shorty has links or redirects on), the page makes
 * the link on that domain; an unknown Host is the default domain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shorty/linkjson.h"
#include "shorty/log.h"
#include "shorty/timeutil.h"
#include "http/internal.h"

/* The page template (web/index.html), embedded by cmake/embed.cmake. */
struct web_asset {
	const char *name;
	const unsigned char *data;
	size_t len;
};
extern const struct web_asset web_assets[];

static int shorten_page(http_req *r, int status, const char *field, const char *err_text,
                        const sh_link *l);

int page_index(http_req *r)
{
	int answered = 0;

	http_record_orphan(r, ORPHAN_BASE_URL); /* as Shlink: a visit of the base URL */
	if (http_domain_redirect(r, SH_REDIRECT_BASE_URL, &answered))
		return answered;
	return shorten_page(r, 200, NULL, NULL, NULL);
}

int page_health(http_req *r)
{
	static const char ok[] = "{\"status\":\"ok\"}";
	return http_reply(r, 200, "application/json", ok, sizeof(ok) - 1);
}

int page_ready(http_req *r)
{
	int cur = 0, latest = 0;
	const char *why = NULL;
	sh_err perr = {0};

	if (http_stopping())
		why = "shutting down";
	else if (!r->w->rs)
		why = "the store cannot be opened";
	else if (svc_store_ping(r->w->rs, &perr) < 0) {
		/* the reason (a file removed, replaced or read-only) names paths:
		 * it goes to the log, not to anonymous callers */
		log_msg(SH_LOG_WARN, "not ready: %s", perr.msg);
		why = "the store does not answer or cannot be written; see the log";
		/* this worker opens the store again on a later request: a file
		 * replaced under us is then the one read, as it is the one the
		 * writer writes once its commit found the change (a PostgreSQL
		 * connection is kept: it reconnects by itself) */
		if (!svc_store_reconnects(r->w->rs)) {
			svc_store_close(r->w->rs);
			r->w->rs = NULL;
		}
	}
	else if (svc_store_schema(r->w->rs, &cur, &latest) < 0)
		why = "the store's schema version cannot be read";
	else if (cur != latest)
		why = "the store's schema is not current";
	if (why) {
		json_t *j = json_pack("{s:s,s:s}", "status", "unavailable", "detail", why);
		http_add_header(r, "Retry-After", "5");
		return http_reply_json(r, 503, j);
	}
	return http_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
}

/* ---- robots.txt -------------------------------------------------------------- */

/* The body is the service's, cached and bounded (svc_robots): this route is
 * anonymous and not rate limited, so it must cost no more than a copy. */
int page_robots(http_req *r)
{
	char *body;
	size_t len;
	int ret;

	if (svc_robots(r->v, r->w->rs, &body, &len) < 0)
		return http_reply_error(r, SH_ENOMEM, NULL);
	ret = http_reply(r, 200, "text/plain; charset=utf-8", body, len);
	free(body);
	return ret;
}

/* ---- POST /api/shorten ------------------------------------------------------- */

typedef struct shorten_job {
	svc_unit u;   /* the create the writer runs */
	json_t *body; /* keeps the JSON strings alive */
	char *url;    /* or the form's URL */
	char *code;   /* and its custom code */
	/* the Host's domain (create.domain) */
	char domain[SH_AUTHORITY_MAX + 1];
	bool json;
} shorten_job;

static void shorten_job_free(void *p)
{
	shorten_job *j = p;

	if (!j)
		return;
	json_decref(j->body);
	free(j->url);
	free(j->code);
	svc_unit_clear(&j->u);
	free(j);
}

/* What the user sent is kept in the fields of an error page only up to this
 * size: escaped (6 bytes a byte at most) it fits the page's 128 KiB. */
#define PAGE_ECHO_MAX 16384

/* The form's fields that an error can be about, and the names the service
 * gives them in its errors (sh_err.field). */
static const struct {
	const char *field, *svc1, *svc2;
} page_fields[] = {
    {"url", "url", NULL},
    {"code", "customSlug", NULL},
    {"expires", "validUntil", "validSince"},
    {"max_visits", "maxVisits", NULL},
};
#define PAGE_NFIELDS (sizeof(page_fields) / sizeof(page_fields[0]))

/* The form field an error of the service is about ("url" when unsure). */
static const char *page_field_of(const char *svc_field)
{
	for (size_t i = 0; svc_field && i < PAGE_NFIELDS; i++)
		if ((page_fields[i].svc1 && strcmp(svc_field, page_fields[i].svc1) == 0) ||
		    (page_fields[i].svc2 && strcmp(svc_field, page_fields[i].svc2) == 0))
			return page_fields[i].field;
	return "url";
}

/* The page (web/index.html): with the short link of l, or with err_text next
 * to `field` (a page_fields[] name) and the form keeping what was sent, or
 * the empty form (both NULL). When anonymous creation is off, no form: a
 * link to /admin instead. */
static int shorten_page(http_req *r, int status, const char *field, const char *err_text,
                        const sh_link *l)
{
	tpl_value v[8 + 4 * PAGE_NFIELDS];
	char shortu[CODE_MAX + 600], qr[CODE_MAX + 16], names[PAGE_NFIELDS][3][32];
	bool more = false;
	int n = 0;
	sbuf b;
	int ret;

#define SET(nm, val, ln) (v[n++] = (tpl_value){(nm), (val), (ln)})
#define SETS(nm, val) SET((nm), (val), strlen(val))
	if (l) {
		svc_link_short_url(r->v, l, shortu, sizeof(shortu));
		snprintf(qr, sizeof(qr), "/%s/qr-code", l->code);
		SETS("short", shortu);
		SETS("long", l->url);
		SETS("qr", qr);
	}
	if (!r->cfg->anonymous_create) {
		SETS("closed", "1");
	} else {
		SETS("form", "1");
		for (size_t i = 0; i < PAGE_NFIELDS; i++) {
			const char *f = page_fields[i].field, *val = NULL;
			size_t len = 0;
			bool bad = err_text && field && strcmp(field, f) == 0;
			if (!l)
				val = http_param(r, f, &len);
			if (val && len > PAGE_ECHO_MAX)
				val = NULL;
			if (val && len) {
				SET(f, val, len);
				more |= i > 0;
			}
			snprintf(names[i][0], sizeof(names[i][0]), "%s_err", f);
			snprintf(names[i][1], sizeof(names[i][1]), "%s_invalid", f);
			snprintf(names[i][2], sizeof(names[i][2]), "%s_focus", f);
			if (bad) {
				SETS(names[i][0], err_text);
				more |= i > 0;
			}
			SETS(names[i][1], bad ? "true" : "false");
			/* the focus: on the field in error, else on the URL of an empty form */
			if (bad || (i == 0 && !l && !err_text))
				SETS(names[i][2], "autofocus");
		}
		if (more)
			SETS("more", "open");
	}
#undef SET
#undef SETS
	sbuf_init(&b, 128 * 1024);
	for (const struct web_asset *a = web_assets; a->name; a++)
		if (strcmp(a->name, "index.html") == 0)
			tpl_render(&b, (const char *)a->data, a->len, v, n);
	if (b.err) {
		sbuf_free(&b);
		return http_reply_error(r, SH_ENOMEM, NULL);
	}
	ret = http_reply_html(r, status, b.p, b.len);
	sbuf_free(&b);
	return ret;
}

/* What an anonymous creator may see of its link: the short link and the URL
 * it sent. A deduped link was made by another anonymous creator, so no
 * date, counts or settings (issue 12 item 9). */
static json_t *public_link_json(const svc *v, const sh_link *l)
{
	char su[CODE_MAX + 600];

	return json_pack("{s:s, s:s, s:s}", "shortCode", l->code, "shortUrl",
	                 svc_link_short_url(v, l, su, sizeof su), "longUrl", l->url ? l->url : "");
}

static int shorten_reply(http_req *r, int rc)
{
	shorten_job *j = r->ud;

	if (j->json) {
		if (rc < 0)
			return http_reply_error(r, rc, &j->u.err);
		return http_reply_json(r, 200, public_link_json(r->v, &j->u.link));
	}
	if (rc < 0) {
		int status = 400;
		const char *msg = j->u.err.msg[0] ? j->u.err.msg : sh_strerror(rc);
		if (rc == SH_ESTORE || rc == SH_EBUSY || rc == SH_EFULL || rc == SH_ENOMEM ||
		    rc == SH_ESCHEMA) {
			status = 503;
			msg = "The service cannot store links right now; retry shortly.";
		}
		return shorten_page(r, status, page_field_of(j->u.err.field), msg, NULL);
	}
	return shorten_page(r, 200, NULL, NULL, &j->u.link);
}

/* The form's options (all optional): code (a custom code, checked by the
 * service), expires (a date: the link works through that day, UTC; or
 * anything `shorty add --expires` takes) and max_visits (1 or more) into
 * j->u.create. -1 with *field and *why for the user, or -1 with *why NULL when
 * out of memory. */
static int form_options(http_req *r, shorten_job *j, const char **field, const char **why)
{
	size_t n = 0;
	const char *c = http_param(r, "code", &n);
	char buf[64];
	int64_t now = sh_now();

	if (c && n) {
		*field = "code";
		if (strlen(c) != n) {
			*why = "A custom code is letters, digits, _ and -.";
			return -1;
		}
		j->code = strdup(c);
		if (!j->code)
			return -1;
		j->u.create.custom_code = j->code;
	}
	c = http_param(r, "expires", &n);
	if (c && n) {
		int64_t t;
		*field = "expires";
		if (n >= sizeof(buf) || strlen(c) != n) {
			*why = "Enter the expiry as a date, like 2026-12-31.";
			return -1;
		}
		memcpy(buf, c, n + 1);
		if (sh_when_parse(buf, now, &t) < 0) {
			*why = "Enter the expiry as a date, like 2026-12-31.";
			return -1;
		}
		if (n == 10) /* a plain date: the link works through that whole day */
			t += 24 * 3600;
		if (t <= now) {
			*why = "That expiry date has passed; choose a later one.";
			return -1;
		}
		j->u.create.expires_at = t;
	}
	c = http_param(r, "max_visits", &n);
	if (c && n) {
		char *end = NULL;
		long long v;
		*field = "max_visits";
		*why = "Enter the visit limit as a whole number, 1 or more.";
		if (n > 12 || strspn(c, "0123456789") != n)
			return -1;
		v = strtoll(c, &end, 10);
		if (v < 1 || *end)
			return -1;
		j->u.create.max_visits = v;
		*why = NULL;
	}
	return 0;
}

int page_shorten(http_req *r)
{
	shorten_job *j;
	bool json = http_content_type_is(r, "application/json");
	int wait;

	if (!r->cfg->anonymous_create) {
		if (json)
			return http_reply_problem(r, 403, NULL, "Forbidden",
			                          "Anonymous link creation is turned off; use the "
			                          "REST API with an API key.",
			                          NULL);
		return shorten_page(r, 403, NULL, NULL, NULL);
	}
	wait = ratelimit_take(RL_CREATE, r->ip);
	if (wait > 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", wait);
		http_add_header(r, "Retry-After", ra);
		if (json)
			return http_reply_problem(
			    r, 429, NULL, "Too Many Requests",
			    "Too many links created from this address; wait and retry.", NULL);
		return shorten_page(r, 429, "url",
		                    "Too many links created from this address; wait a minute.",
		                    NULL);
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return http_reply_error(r, SH_ENOMEM, NULL);
	r->ud = j;
	r->ud_free = shorten_job_free;
	j->json = json;
	svc_unit_init(&j->u, SVC_UNIT_CREATE);
	j->u.caller.anonymous = true; /* owner SH_OWNER_ANONYMOUS */
	/* on another domain's Host, the link is that domain's (NULL: the default) */
	j->u.create.domain = http_host_authority(r, j->domain);
	if (json) {
		int answered = 0;
		json_t *u;
		j->body = http_body_json(r, &answered);
		if (!j->body)
			return answered;
		u = json_object_get(j->body, "url");
		if (!u)
			u = json_object_get(j->body, "longUrl");
		if (!json_is_string(u))
			return http_reply_problem(r, 400, "invalid-data", "Invalid data",
			                          "Send {\"url\": \"https://...\"}.",
			                          json_pack("{s:[s]}", "invalidElements", "url"));
		j->u.create.url = json_string_value(u);
		j->u.create.url_len = json_string_length(u);
	} else {
		size_t n = 0;
		const char *u = http_param(r, "url", &n), *field = NULL, *why = NULL;
		if (!u || n == 0)
			return shorten_page(r, 400, "url", "Enter the URL to shorten.", NULL);
		j->url = malloc(n + 1);
		if (!j->url)
			return http_reply_error(r, SH_ENOMEM, NULL);
		memcpy(j->url, u, n);
		j->url[n] = '\0';
		j->u.create.url = j->url;
		j->u.create.url_len = n;
		if (form_options(r, j, &field, &why) < 0)
			return why ? shorten_page(r, 400, field, why, NULL)
			           : http_reply_error(r, SH_ENOMEM, NULL);
	}
	return http_defer(r, &j->u, shorten_reply);
}

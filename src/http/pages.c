/*
 * pages.c — the public, non-API routes: the page at /, anonymous creation
 * (POST /api/shorten), /health, /ready and /robots.txt.
 *
 * The page is plain HTML that works without JavaScript: a form that POSTs
 * to /api/shorten and gets back a page with the short link. The same
 * endpoint answers JSON to a JSON body ({"url": "..."} -> ShortUrl), for
 * scripts. Anonymous creation is on unless SHORTY_ANONYMOUS_CREATE=false,
 * and rate-limited per client address (429 with Retry-After).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shorty/linkjson.h"
#include "shorty/timeutil.h"
#include "http/internal.h"

#define PAGE_HEAD                                                                                  \
	"<!doctype html><html lang=en><meta charset=utf-8>"                                        \
	"<meta name=viewport content=\"width=device-width\"><title>shorty</title>"                 \
	"<style>body{font:16px system-ui,sans-serif;max-width:40em;margin:2em auto;"               \
	"padding:0 1em}input[type=url]{width:100%;font-size:1em;padding:.4em;box-sizing:"          \
	"border-box}button{font-size:1em;margin-top:.5em;padding:.4em 1em}"                        \
	".err{color:#a00}code,a{word-break:break-all}</style>"

/* PAGE_FORM_OPEN, then optionally value="<escaped>", then PAGE_FORM_CLOSE */
#define PAGE_FORM_OPEN                                                                             \
	"<form method=post action=\"/api/shorten\">"                                               \
	"<label for=url>Long URL</label><br>"                                                      \
	"<input type=url id=url name=url required maxlength=8192 "                                 \
	"placeholder=\"https://example.com/a/long/path\" autofocus"
#define PAGE_FORM_CLOSE "><br><button type=submit>Shorten</button></form>"
#define PAGE_FORM PAGE_FORM_OPEN PAGE_FORM_CLOSE

int page_index(http_req *r)
{
	static const char page[] = PAGE_HEAD "<h1>shorty</h1>" PAGE_FORM "</html>\n";
	static const char closed[] =
	    PAGE_HEAD "<h1>shorty</h1><p>Anonymous link creation is turned off on this "
	              "server; use the REST API with an API key.</p></html>\n";

	if (r->cfg->anonymous_create)
		return http_reply_html(r, 200, page, sizeof(page) - 1);
	return http_reply_html(r, 200, closed, sizeof(closed) - 1);
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

	if (http_stopping())
		why = "shutting down";
	else if (!r->w->rs)
		why = "the store cannot be opened";
	else if (svc_store_ping(r->w->rs) < 0)
		why = "the store does not answer";
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
	bool json;
} shorten_job;

static void shorten_job_free(void *p)
{
	shorten_job *j = p;

	if (!j)
		return;
	json_decref(j->body);
	free(j->url);
	svc_unit_clear(&j->u);
	free(j);
}

/* The URL sent is kept in the field of an error page only up to this size:
 * escaped (6 bytes a byte at most) it fits the page's 128 KiB. */
#define PAGE_ECHO_MAX 16384

/* The result page: the short link of l, or err_text with the form keeping
 * `value` (the URL the user sent, to correct; NULL for none). */
static int shorten_page(http_req *r, int status, const char *err_text, const sh_link *l,
                        const char *value, size_t value_len)
{
	sbuf b;
	int ret;
	char shortu[CODE_MAX + 600];

	sbuf_init(&b, 128 * 1024);
	sbuf_adds(&b, PAGE_HEAD "<h1>shorty</h1>");
	if (l) {
		svc_short_url(r->v, l->code, shortu, sizeof(shortu));
		sbuf_adds(&b, "<p>Your short link:</p><p><a id=short href=\"");
		sbuf_html(&b, shortu, strlen(shortu));
		sbuf_adds(&b, "\">");
		sbuf_html(&b, shortu, strlen(shortu));
		sbuf_adds(&b, "</a></p><p>It leads to <code>");
		sbuf_html(&b, l->url, strlen(l->url));
		sbuf_adds(&b, "</code></p>");
	} else {
		sbuf_adds(&b, "<p class=err role=alert>");
		sbuf_html(&b, err_text, strlen(err_text));
		sbuf_adds(&b, "</p>");
	}
	sbuf_adds(&b, PAGE_FORM_OPEN);
	if (!l && value && value_len && value_len <= PAGE_ECHO_MAX) {
		sbuf_adds(&b, " value=\"");
		sbuf_html(&b, value, value_len);
		sbuf_adds(&b, "\"");
	}
	sbuf_adds(&b, PAGE_FORM_CLOSE "</html>\n");
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
	                 svc_short_url(v, l->code, su, sizeof su), "longUrl", l->url ? l->url : "");
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
		return shorten_page(r, status, msg, NULL, j->u.create.url, j->u.create.url_len);
	}
	return shorten_page(r, 200, NULL, &j->u.link, NULL, 0);
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
		return shorten_page(r, 403, "Anonymous link creation is turned off on this server.",
		                    NULL, NULL, 0);
	}
	wait = ratelimit_take(RL_CREATE, r->ip);
	if (wait > 0) {
		char ra[16];
		size_t n = 0;
		const char *u;
		snprintf(ra, sizeof(ra), "%d", wait);
		http_add_header(r, "Retry-After", ra);
		if (json)
			return http_reply_problem(
			    r, 429, NULL, "Too Many Requests",
			    "Too many links created from this address; wait and retry.", NULL);
		u = http_param(r, "url", &n);
		return shorten_page(r, 429,
		                    "Too many links created from this address; wait a minute.",
		                    NULL, u, u ? n : 0);
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return http_reply_error(r, SH_ENOMEM, NULL);
	r->ud = j;
	r->ud_free = shorten_job_free;
	j->json = json;
	svc_unit_init(&j->u, SVC_UNIT_CREATE);
	j->u.caller.anonymous = true; /* owner SH_OWNER_ANONYMOUS */
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
		const char *u = http_param(r, "url", &n);
		if (!u || n == 0)
			return shorten_page(r, 400, "Enter the URL to shorten.", NULL, NULL, 0);
		j->url = malloc(n + 1);
		if (!j->url)
			return http_reply_error(r, SH_ENOMEM, NULL);
		memcpy(j->url, u, n);
		j->url[n] = '\0';
		j->u.create.url = j->url;
		j->u.create.url_len = n;
	}
	return http_defer(r, &j->u, shorten_reply);
}

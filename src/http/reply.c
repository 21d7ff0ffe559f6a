/*
 * reply.c — answering a request: the response helpers of internal.h (every
 * answer gets a Content-Type and nosniff; /rest answers get the CORS
 * header; problem+json for errors) and HTML escaping. Reading the request
 * is in params.c, the string builder in sbuf.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shorty/linkjson.h"
#include "shorty/log.h"
#include "http/engine.h"
#include "http/internal.h"

#define SHLINK_ERROR_BASE "https://shlink.io/api/error/"

/* ---- answering ---------------------------------------------------------------- */

/* No control byte but HTAB in v. A redirect checks its Location (the
 * stored URL) with it: a byte at a time it was 5% of a cached redirect's
 * instructions, so eight bytes at a time first (no library call says
 * "any byte below 0x20 or 0x7f"); a word with a suspect byte (a tab too)
 * and the tail go byte by byte. */
static bool header_value_ok(const char *v)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	size_t n = strlen(v), i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x, del;
		memcpy(&x, v + i, 8);
		del = x ^ 0x7f7f7f7f7f7f7f7fULL; /* 0x7f bytes become 0 */
		/* "has a byte below 0x20" | "has a zero byte" (of del), the
		 * usual bit tricks: exact as a yes/no */
		if ((((x - 0x20 * ones) & ~x) | ((del - ones) & ~del)) & highs)
			break;
	}
	for (const unsigned char *p = (const unsigned char *)v + i; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

int http_add_header(http_req *r, const char *name, const char *value)
{
	if (r->nextra >= HTTP_EXTRA_HEADERS_MAX)
		return SH_ETOOBIG;
	if (!header_value_ok(name) || !header_value_ok(value))
		return SH_EINVAL;
	r->extra[r->nextra].name = strdup(name);
	r->extra[r->nextra].value = strdup(value);
	if (!r->extra[r->nextra].name || !r->extra[r->nextra].value) {
		free(r->extra[r->nextra].name);
		free(r->extra[r->nextra].value);
		return SH_ENOMEM;
	}
	r->extra[r->nextra++].borrowed = false;
	return 0;
}

int http_add_header_ref(http_req *r, const char *name, const char *value)
{
	if (r->nextra >= HTTP_EXTRA_HEADERS_MAX)
		return SH_ETOOBIG;
	if (!header_value_ok(name) || !header_value_ok(value))
		return SH_EINVAL;
	r->extra[r->nextra].name = (char *)name;
	r->extra[r->nextra].value = (char *)value;
	r->extra[r->nextra++].borrowed = true;
	return 0;
}

/* The headers every answer gets, into h (HTTP_EXTRA_HEADERS_MAX + 3 of
 * them at most); returns their count. */
#define REPLY_HEADERS_MAX (HTTP_EXTRA_HEADERS_MAX + 3)
static int reply_headers(http_req *r, const char *content_type, eng_hdr *h)
{
	int n = 0;

	h[n++] = (eng_hdr){MHD_HTTP_HEADER_CONTENT_TYPE, content_type};
	h[n++] = (eng_hdr){"X-Content-Type-Options", "nosniff"};
	if (r->is_rest && r->cfg)
		h[n++] = (eng_hdr){"Access-Control-Allow-Origin",
		                   r->cfg->cors_origin ? r->cfg->cors_origin : "*"};
	for (int i = 0; i < r->nextra; i++)
		h[n++] = (eng_hdr){r->extra[i].name, r->extra[i].value};
	return n;
}

/* Queues resp (taken) with the headers every answer carries (libmicrohttpd). */
static int reply_queue(http_req *r, int status, const char *content_type,
                       struct MHD_Response *resp)
{
	enum MHD_Result ret;
	eng_hdr h[REPLY_HEADERS_MAX];
	int n;

	if (!resp)
		return MHD_NO;
	n = reply_headers(r, content_type, h);
	for (int i = 0; i < n; i++)
		MHD_add_response_header(resp, h[i].name, h[i].value);
	/* a request we could not parse or a body we refused: do not try to
	 * read another request from this connection */
	if (r->early_status && r->early_status == status && (status == 400 || status == 413))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (http_reply_staged(r, status, resp)) /* on a store thread */
		return MHD_YES;
	ret = MHD_queue_response(r->conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	r->status = status;
	return ret;
}

/* The same answer through the engine of our own (engine.c): body copied,
 * or streamed by fn. */
static int reply_own(http_req *r, int status, const char *content_type, const void *body,
                     size_t len, http_stream_fn fn, void *ctx, void (*ctx_free)(void *ctx))
{
	eng_hdr h[REPLY_HEADERS_MAX];
	int n = reply_headers(r, content_type, h);

	return eng_reply(r, status, h, n, body, len, fn, ctx, ctx_free);
}

static int reply_buffer(http_req *r, int status, const char *content_type, const void *body,
                        size_t len, enum MHD_ResponseMemoryMode mode)
{
	if (r->ec)
		return reply_own(r, status, content_type, body, len, NULL, NULL, NULL);
	/* an empty body (every redirect) needs no copy */
	return reply_queue(r, status, content_type,
	                   len ? MHD_create_response_from_buffer(len, (void *)body, mode)
	                       : MHD_create_response_from_buffer(0, (void *)"",
	                                                         MHD_RESPMEM_PERSISTENT));
}

int http_reply_stream(http_req *r, int status, const char *content_type, http_stream_fn fn,
                      void *ctx, void (*ctx_free)(void *ctx))
{
	struct MHD_Response *resp;

	if (r->ec)
		return reply_own(r, status, content_type, NULL, 0, fn, ctx, ctx_free);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, fn, ctx,
	                                         ctx_free);
	if (!resp) {
		ctx_free(ctx);
		return http_reply_error(r, SH_ENOMEM, NULL);
	}
	return reply_queue(r, status, content_type, resp);
}

int http_reply(http_req *r, int status, const char *content_type, const void *body, size_t len)
{
	return reply_buffer(r, status, content_type, body, len, MHD_RESPMEM_MUST_COPY);
}

int http_reply_static(http_req *r, int status, const char *content_type, const void *body,
                      size_t len)
{
	return reply_buffer(r, status, content_type, body, len, MHD_RESPMEM_PERSISTENT);
}

int http_reply_text(http_req *r, int status, const char *text)
{
	return http_reply(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

int http_reply_html(http_req *r, int status, const char *html, size_t len)
{
	return http_reply(r, status, "text/html; charset=utf-8", html, len);
}

int http_reply_empty(http_req *r, int status)
{
	return http_reply(r, status, "text/plain; charset=utf-8", "", 0);
}

static int reply_json_as(http_req *r, int status, json_t *j, const char *ctype)
{
	char *text;
	int ret;

	if (!j)
		return http_reply_text(r, 503, "out of memory\n");
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	/* jansson may lose bytes instead of failing when an allocation fails
	 * (linkjson.h): whatever it built or wrote since the request began
	 * cannot be trusted then */
	if (text && linkjson_watch_oom()) {
		free(text);
		text = NULL;
	}
	if (!text)
		return http_reply_text(r, 503, "out of memory\n");
	ret = http_reply(r, status, ctype, text, strlen(text));
	free(text);
	return ret;
}

int http_reply_json(http_req *r, int status, json_t *j)
{
	return reply_json_as(r, status, j, "application/json");
}

int http_reply_problem(http_req *r, int status, const char *type, const char *title,
                       const char *detail, json_t *extra)
{
	json_t *j = json_object();
	char tbuf[160];

	if (!j) {
		json_decref(extra);
		return http_reply_text(r, status, detail ? detail : "error");
	}
	if (!type)
		snprintf(tbuf, sizeof(tbuf), "about:blank");
	else if (strchr(type, ':'))
		snprintf(tbuf, sizeof(tbuf), "%s", type);
	else
		snprintf(tbuf, sizeof(tbuf), SHLINK_ERROR_BASE "%s", type);
	json_object_set_new(j, "type", json_string(tbuf));
	json_object_set_new(j, "title", json_string(title ? title : "Error"));
	json_object_set_new(j, "status", json_integer(status));
	/* detail may quote input: jansson refuses invalid UTF-8, so fall back */
	json_t *d = json_string(detail ? detail : "");
	json_object_set_new(j, "detail",
	                    d ? d : json_string("(detail not shown: not valid UTF-8)"));
	if (extra) {
		json_object_update(j, extra);
		json_decref(extra);
	}
	return reply_json_as(r, status, j, "application/problem+json");
}

int http_reply_error(http_req *r, int code, const sh_err *err)
{
	const char *detail = err && err->msg[0] ? err->msg : sh_strerror(code);
	const char *field = err && err->field ? err->field : NULL;

	/* the service names the URL "url"; Shlink's clients know it as longUrl */
	if (r->is_rest && field && strcmp(field, "url") == 0)
		field = "longUrl";

	switch (code) {
	case SH_EINVAL:
	case SH_ETOOBIG:
	case SH_EBLOCKED:
	case SH_ERESERVED: {
		json_t *x = json_pack("{s:[s]}", "invalidElements", field ? field : "body");
		return http_reply_problem(r, 400, "invalid-data", "Invalid data", detail, x);
	}
	case SH_ETAKEN: {
		json_t *x = json_pack("{s:s}", "customSlug", r->arg);
		char d[200];
		snprintf(d, sizeof(d), "Provided slug \"%s\" is already in use.", r->arg);
		return http_reply_problem(r, 400, "non-unique-slug", "Invalid custom slug",
		                          err && err->msg[0] ? detail : d, x);
	}
	case SH_ENOTFOUND: {
		char d[200];
		json_t *x = json_pack("{s:s}", "shortCode", r->arg);
		snprintf(d, sizeof(d), "No URL found with short code \"%s\"", r->arg);
		return http_reply_problem(r, 404, "short-url-not-found", "Short URL not found", d,
		                          x);
	}
	case SH_EAUTH:
		return http_reply_problem(r, 401, "invalid-api-key", "Invalid API key",
		                          "Provided API key does not exist or is invalid.", NULL);
	case SH_EFORBIDDEN:
		return http_reply_problem(r, 403, NULL, "Forbidden",
		                          "This API key's role does not allow this operation.",
		                          NULL);
	case SH_EGONE:
		return http_reply_problem(r, 410, NULL, "Gone", detail, NULL);
	case SH_EFULL:
		/* the detail says what an operator must do; nothing was stored */
		http_add_header(r, "Retry-After", "30");
		return http_reply_problem(r, 503, NULL, "Service Unavailable",
		                          "The store's disk is full: nothing was saved. Retry "
		                          "once space has been freed.",
		                          NULL);
	case SH_EBUSY:
		http_add_header(r, "Retry-After", "1");
		return http_reply_problem(r, 503, NULL, "Service Unavailable",
		                          "The store is locked by another writer for longer than "
		                          "its busy timeout: nothing was saved. Retry shortly.",
		                          NULL);
	case SH_EUNAVAIL:
		/* a library this feature loads when first used is not installed
		 * (shorty/dynlib.h): the detail names it; retrying will not help
		 * until an operator installs it, so no Retry-After */
		return http_reply_problem(r, 503, NULL, "Service Unavailable", detail, NULL);
	default:
		http_add_header(r, "Retry-After", "1");
		return http_reply_problem(r, 503, NULL, "Service Unavailable",
		                          "The store is unavailable or busy; retry shortly.", NULL);
	}
}

size_t http_html_escape(char *dst, size_t dstsz, const char *s, size_t n)
{
	size_t o = 0;

	if (dstsz == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const char *rep = NULL;
		char one[2] = {s[i], 0};
		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		case '\0':
			rep = "";
			break;
		default:
			rep = one;
			break;
		}
		size_t l = strlen(rep);
		if (o + l + 1 > dstsz)
			break;
		memcpy(dst + o, rep, l);
		o += l;
	}
	dst[o] = '\0';
	return o;
}

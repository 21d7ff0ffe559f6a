/*
 * redirect.c — the hot path: GET|HEAD /<code>, and its relatives /<code>+
 * (preview page) and /<code>/track (tracking pixel).
 *
 * A redirect costs: a code check, svc_resolve (sharded cache, the worker's
 * own read connection on a miss), building Location in the worker's
 * scratch buffer, one svc_visit_record into the worker's own buffer, and
 * the response. No lock shared by all workers, no store write, nothing
 * allocated that outlives the request.
 *
 * Location is the stored URL byte for byte, plus — when the link forwards
 * the query — the request's raw query, re-encoded so that no byte below
 * 0x21, no 0x7f, no non-ASCII byte and no stray '%' can reach the header.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shorty/timeutil.h"
#include "http/internal.h"

/* The visit of this request, recorded by the service's rules (bots, the
 * anonymized address) into this worker's own buffer. visited_url: what was
 * asked for, base URL + path. */
static void record_visit_of(http_req *r, int64_t link_id, int orphan_type, int64_t now,
                            const char *path, size_t plen)
{
	char visited[CODE_MAX + 600];
	const char *base = r->cfg->base_url ? r->cfg->base_url : "";
	size_t blen = strnlen(base, 512);
	svc_visit_in in = {
	    .link_id = link_id,
	    .orphan_type = orphan_type,
	    .head = r->meth == HTTP_HEAD,
	    .user_agent = http_header(r, "User-Agent"),
	    .referer = http_header(r, "Referer"),
	    .visited_url = visited,
	    .ip = r->ip,
	    .now = now,
	};

	/* The detail brake (issue 12 item 6): past SHORTY_VISIT_DETAIL_LIMIT
	 * visits a minute from one address, its visits are counted and logged
	 * without the text a client chooses (referrer, user agent, visited
	 * URL) nor a location, so one client cannot grow the store by 1 KiB a
	 * redirect. The lock-free check first: a braked address costs no lock. */
	if (ratelimit_blocked(RL_VISIT_DETAIL, r->ip) || ratelimit_take(RL_VISIT_DETAIL, r->ip)) {
		in.no_details = true;
		http_metrics_detail_braked(r->w->m);
	}
	/* base "/" path, as "%.512s/%s" would print it */
	if (plen > sizeof(visited) - blen - 2)
		plen = sizeof(visited) - blen - 2;
	memcpy(visited, base, blen);
	visited[blen] = '/';
	memcpy(visited + blen + 1, path, plen);
	visited[blen + 1 + plen] = '\0';
	svc_visit_record(r->w->vb, &in);
}

static void record_visit(http_req *r, int64_t link_id, int orphan_type, int64_t now)
{
	record_visit_of(r, link_id, orphan_type, now, r->arg, r->arg_len);
}

void http_record_orphan(http_req *r, int orphan_type)
{
	const char *p = r->path ? r->path : "/";

	/* as Shlink: a GET is a visit; HEAD, OPTIONS and the rest are not */
	if (r->meth != HTTP_GET || !r->w || !r->w->vb)
		return;
	while (*p == '/')
		p++;
	record_visit_of(r, 0, orphan_type, sh_now(), p, strlen(p));
}

static const char *gone_reason(int gone)
{
	switch (gone) {
	case SH_GONE_EXPIRED:
		return "This link has expired.";
	case SH_GONE_NOT_YET:
		return "This link is not active yet.";
	case SH_GONE_MAX_VISITS:
		return "This link has reached its visit limit.";
	case SH_GONE_DISABLED:
		return "This link has been disabled.";
	default:
		return "This link is no longer available.";
	}
}

static int reply_gone(http_req *r, int gone)
{
	const char *why = gone_reason(gone);
	char html[400];
	int n;

	if (http_wants_json(r))
		return http_reply_problem(r, 410, NULL, "Gone", why, NULL);
	n = snprintf(html, sizeof(html),
	             "<!doctype html><meta charset=utf-8><title>Link gone</title>"
	             "<h1>Link gone</h1><p>%s</p>\n",
	             why);
	return http_reply_html(r, 410, html, (size_t)n);
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Appends q[0..n) to out (at o, cap bytes) encoded as described above.
 * Returns the new length, or 0 if it does not fit. */
static size_t append_query(char *out, size_t o, size_t cap, const char *q, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)q[i];
		bool enc = c < 0x21 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' ||
		           c == '^' || c == '`' || c == '{' || c == '|' || c == '}' || c == '#';
		if (c == '%' && !(i + 2 < n && is_hex(q[i + 1]) && is_hex(q[i + 2])))
			enc = true;
		if (enc) {
			if (o + 3 >= cap)
				return 0;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			if (o + 1 >= cap)
				return 0;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return o;
}

/* Writes the Location for target t into the worker's scratch buffer. */
static const char *build_location(http_req *r, const svc_target *t)
{
	http_worker *w = r->w;
	const char *q = r->raw_query;
	size_t qn = q ? strlen(q) : 0;
	size_t need = t->url_len + 3 * qn + 4;
	const char *hash;
	size_t base_len, o;

	if (!t->forward_query || qn == 0)
		return t->url; /* the common case: exactly as stored, no copy */
	if (need > w->loc_cap) {
		char *p = realloc(w->loc, need);
		if (!p)
			return t->url;
		w->loc = p;
		w->loc_cap = need;
	}
	/* the query goes before the stored URL's fragment, if any */
	hash = memchr(t->url, '#', t->url_len);
	base_len = hash ? (size_t)(hash - t->url) : t->url_len;
	memcpy(w->loc, t->url, base_len);
	o = base_len;
	if (o > 0 && w->loc[o - 1] != '?' && w->loc[o - 1] != '&')
		w->loc[o++] = memchr(t->url, '?', base_len) ? '&' : '?';
	o = append_query(w->loc, o, w->loc_cap, q, qn);
	if (o == 0)
		return t->url;
	if (hash) {
		size_t fl = t->url_len - base_len;
		if (o + fl + 1 > w->loc_cap)
			return t->url;
		memcpy(w->loc + o, hash, fl);
		o += fl;
	}
	w->loc[o] = '\0';
	return w->loc;
}

static int preview(http_req *r);

/* The link's redirect rules choose the long URL from what this request is
 * (svc_rules_pick); only links with rules come here. */
static void pick_by_rules(http_req *r, svc_target *t, int64_t now)
{
	const char *q = r->raw_query;
	rules_request rq = {
	    .user_agent = http_header(r, "User-Agent"),
	    .accept_language = http_header(r, "Accept-Language"),
	    .query = q,
	    .query_len = q ? strlen(q) : 0,
	    .client_ip = r->ip,
	    .now = now,
	};

	(void)svc_rules_pick(r->v, r->w->rs, t, &rq);
}

/*
 * The enumeration brake (catalogue G3): every unknown code an address asks
 * for takes a token of RL_NOTFOUND; once its bucket is empty the address is
 * blocked, and while it is, every code lookup from it (known codes too, or
 * the answer would still tell real codes from unknown ones) gets 429 with
 * Retry-After. Other addresses are not affected; the check on the hot path
 * is lock-free (ratelimit.c).
 */
int http_reply_unknown_blocked(http_req *r)
{
	char ra[16];
	int wait = ratelimit_blocked(RL_NOTFOUND, r->ip);

	snprintf(ra, sizeof(ra), "%d", wait > 0 ? wait : 1);
	http_add_header(r, "Retry-After", ra);
	return http_reply_problem(r, 429, NULL, "Too Many Requests",
	                          "Too many unknown short codes were asked for from this "
	                          "address; wait before trying again.",
	                          NULL);
}


bool http_domain_redirect(http_req *r, int kind, int *answered)
{
	char url[2048];
	const char *u;

	if (!r->w || (r->meth != HTTP_GET && r->meth != HTTP_HEAD))
		return false;
	u = svc_domain_redirect(r->v, r->w->rs, http_host_domain(r), kind, url, sizeof(url));
	if (!u)
		return false;
	if (http_add_header(r, "Location", u) < 0)
		*answered = http_reply_error(r, SH_ENOMEM, NULL);
	else
		*answered = http_reply_empty(r, 302);
	return true;
}

int http_reply_unknown_code(http_req *r)
{
	if (ratelimit_take(RL_NOTFOUND, r->ip) > 0)
		return http_reply_unknown_blocked(r);
	return http_reply_not_found(r);
}

/* The answer to a redirect whose lookup gave rc (the worker's target
 * filled when 0). */
static int redirect_answer(http_req *r, int rc, int64_t now)
{
	http_worker *w = r->w;
	svc_target *t = w->target;
	const char *loc;

	if (rc == SH_ENOTFOUND) {
		int answered = 0;
		if (r->meth == HTTP_GET)
			record_visit(r, 0, ORPHAN_INVALID_SHORT_URL, now);
		if (ratelimit_take(RL_NOTFOUND, r->ip) > 0)
			return http_reply_unknown_blocked(r);
		if (http_domain_redirect(r, SH_REDIRECT_INVALID_SHORT_URL, &answered))
			return answered;
		return http_reply_not_found(r);
	}
	if (rc < 0)
		return http_reply_error(r, rc, NULL);
	if (t->gone == SH_GONE_NONE && r->meth == HTTP_GET && !svc_visit_admit(r->v, t))
		t->gone = SH_GONE_MAX_VISITS; /* the limit's last visits went to others */
	if (t->gone != SH_GONE_NONE) {
		/* as Shlink: a link that serves no more is an invalid short URL */
		int answered = 0;
		if (r->meth == HTTP_GET)
			record_visit(r, 0, ORPHAN_INVALID_SHORT_URL, now);
		if (http_domain_redirect(r, SH_REDIRECT_INVALID_SHORT_URL, &answered))
			return answered;
		return reply_gone(r, t->gone);
	}
	if (t->rules_hash)
		pick_by_rules(r, t, now);
	loc = build_location(r, t);
	/* the answer's headers must fit in the connection's pool beside the
	 * request (else libmicrohttpd closes the connection without a word):
	 * only a long stored URL plus a long forwarded query and large request
	 * headers come near it */
	if (strlen(loc) + r->req_bytes + HTTP_ANSWER_OVERHEAD > HTTP_CONN_MEMORY) {
		if (loc != t->url)
			return http_reply_problem(r, 414, NULL, "URI Too Long",
			                          "With this query the redirect target would be "
			                          "too long to send; retry with a shorter query.",
			                          NULL);
		return http_reply_problem(r, 431, NULL, "Request Header Fields Too Large",
		                          "The request headers leave no room for this link's "
		                          "long target; retry with smaller headers.",
		                          NULL);
	}
	rc = http_add_header_ref(r, "Location", loc); /* loc lives until the answer */
	if (rc < 0)
		return http_reply_problem(r, 500, NULL, "Internal Server Error",
		                          "The stored URL cannot be sent in a header.", NULL);
	record_visit(r, t->link_id, ORPHAN_NONE, now);
	http_metrics_redirect(w->m);
	return http_reply_empty(r, t->status);
}

/* A miss answered by the lookup connection (http_miss_done). */
static int redirect_later(http_req *r, int rc)
{
	return redirect_answer(r, rc, sh_now());
}

/* A redirect whose miss waits for the store: on a store thread
 * (http_offload), or here where a miss costs microseconds (SQLite). */
static int redirect_waiting(http_req *r)
{
	int64_t now = sh_now();
	/* without a reader connection (the store cannot be reached) the
	 * cache still answers what it holds: svc_resolve takes a NULL store */
	int rc = svc_resolve_on(r->v, r->w->rs, http_host_domain(r), r->arg, r->arg_len,
	                        r->w->target, now);
	return redirect_answer(r, rc, now);
}

int http_redirect(http_req *r)
{
	svc_misses *m = http_misses(r);
	int64_t now;
	int rc;

	if (r->arg_len > 1 && r->arg[r->arg_len - 1] == '+') {
		r->arg[--r->arg_len] = '\0';
		if (http_offload(r, preview))
			return MHD_YES;
		return preview(r);
	}
	if (ratelimit_blocked(RL_NOTFOUND, r->ip))
		return http_reply_unknown_blocked(r);
	if (!codec_custom_valid(r->arg, r->arg_len))
		return http_reply_unknown_code(r);
	if (!m && !http_can_offload(r)) /* SQLite: a miss costs microseconds */
		return redirect_waiting(r);
	/* a miss waits on the loop's lookup connection, not in this thread;
	 * one that cannot goes to a store thread */
	now = sh_now();
	rc = svc_resolve_later(r->v, m, http_host_domain(r), r->arg, r->arg_len, r->w->target, now,
	                       http_miss_done, r);
	if (rc == SVC_PENDING) {
		http_miss_wait(r, redirect_later);
		return MHD_YES;
	}
	if (rc != SVC_WOULD_WAIT)
		return redirect_answer(r, rc, now);
	if (http_offload(r, redirect_waiting))
		return MHD_YES;
	return redirect_waiting(r);
}

/* A transparent 1x1 GIF. */
static const unsigned char pixel_gif[] = {
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
};

int http_track(http_req *r)
{
	int64_t now;
	int rc;

	if (ratelimit_blocked(RL_NOTFOUND, r->ip))
		return http_reply_unknown_blocked(r);
	if (!codec_custom_valid(r->arg, r->arg_len))
		return http_reply_unknown_code(r);
	if (!r->w->rs)
		return http_reply_error(r, SH_ESTORE, NULL);
	now = sh_now();
	rc = svc_resolve_on(r->v, r->w->rs, http_host_domain(r), r->arg, r->arg_len, r->w->target,
	                    now);
	if (rc == SH_ENOTFOUND)
		return http_reply_unknown_code(r);
	if (rc < 0)
		return http_reply_error(r, rc, NULL);
	if (r->w->target->gone == SH_GONE_NONE &&
	    (r->meth != HTTP_GET || svc_visit_admit(r->v, r->w->target)))
		record_visit(r, r->w->target->link_id, ORPHAN_NONE, now);
	http_add_header(r, "Cache-Control", "no-store, max-age=0");
	return http_reply(r, 200, "image/gif", pixel_gif, sizeof(pixel_gif));
}

/* /<code>+ : where the link goes, without going there. */
static int preview(http_req *r)
{
	sh_link l;
	sbuf b;
	char when[SH_TIME_BUF], shortu[CODE_MAX + 600];
	int rc, ret;

	if (ratelimit_blocked(RL_NOTFOUND, r->ip))
		return http_reply_unknown_blocked(r);
	if (!codec_custom_valid(r->arg, r->arg_len))
		return http_reply_unknown_code(r);
	if (!r->w->rs)
		return http_reply_error(r, SH_ESTORE, NULL);
	memset(&l, 0, sizeof(l));
	rc = http_host_link(r, NULL, r->arg, &l); /* the Host's domain, as the redirect */
	if (rc == SH_ENOTFOUND)
		return http_reply_unknown_code(r);
	if (rc < 0)
		return http_reply_error(r, rc, NULL);
	svc_link_short_url(r->v, &l, shortu, sizeof(shortu));
	sbuf_init(&b, 256 * 1024);
	sbuf_adds(&b, "<!doctype html><html lang=en><meta charset=utf-8>"
	              "<meta name=viewport content=\"width=device-width\">"
	              "<meta name=robots content=noindex><title>Preview: ");
	sbuf_html(&b, l.code, strlen(l.code));
	sbuf_adds(
	    &b, "</title><style>body{font:16px system-ui,sans-serif;max-width:40em;margin:2em auto;"
	        "padding:0 1em}code,a{word-break:break-all}</style>"
	        "<h1>Where this link goes</h1>");
	if (l.title) {
		sbuf_adds(&b, "<p><strong>");
		sbuf_html(&b, l.title, strlen(l.title));
		sbuf_adds(&b, "</strong></p>");
	}
	sbuf_adds(&b, "<p><code>");
	sbuf_html(&b, shortu, strlen(shortu));
	sbuf_adds(&b, "</code> leads to:</p><p><a rel=\"noopener noreferrer nofollow\" href=\"");
	sbuf_html(&b, l.url, strlen(l.url));
	sbuf_adds(&b, "\">");
	sbuf_html(&b, l.url, strlen(l.url));
	sbuf_adds(&b, "</a></p>");
	sbuf_printf(&b, "<p>Visits: %lld. Created %s.</p>", (long long)(l.visits - l.bot_visits),
	            sh_time_format(l.created_at, when));
	if (l.disabled)
		sbuf_adds(&b, "<p><strong>This link has been disabled.</strong></p>");
	else if (l.expires_at && l.expires_at <= sh_now())
		sbuf_adds(&b, "<p><strong>This link has expired.</strong></p>");
	else if (l.max_visits && l.visits - l.bot_visits >= l.max_visits)
		sbuf_adds(&b, "<p><strong>This link has reached its visit limit.</strong></p>");
	sbuf_adds(&b, "<p><img alt=\"QR code\" width=150 height=150 src=\"/");
	sbuf_html(&b, l.code, strlen(l.code));
	sbuf_adds(&b, "/qr-code?size=150\"></p></html>\n");
	sh_link_clear(&l);
	if (b.err) {
		sbuf_free(&b);
		return http_reply_error(r, SH_ENOMEM, NULL);
	}
	ret = http_reply_html(r, 200, b.p, b.len);
	sbuf_free(&b);
	return ret;
}

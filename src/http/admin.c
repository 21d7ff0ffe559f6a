/*
 * admin.c — /admin: Shlink's web component (admin/, bundled by
 * admin/build.mjs and embedded as admin_assets[]) served from the binary.
 *
 *   /admin/assets/<name>-<hash>.<ext>  the file, cached for a year
 *                                      (immutable: a new build has new names)
 *   /admin and every other /admin/...  index.html, not cached (it names the
 *                                      current assets); the page routes in
 *                                      the browser
 *
 * Each file is also embedded gzip-compressed (at build time) and sent so
 * when the client's Accept-Encoding allows it. Every answer carries a
 * Content-Security-Policy that allows this origin only: no inline script,
 * no remote origin, API calls to 'self' -- and to shorty's other domains
 * (the same server under other names): the component's domain list asks
 * each domain's /rest/health whether it is set up.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "http/admin_assets.h"
#include "http/internal.h"

/* style-src: the bundle's stylesheet, and the one inline <style> of the
 * component (its QR code dialog renders "#qr-code-canvas-container canvas
 * { max-width: 100% }"), allowed by its hash alone: no other inline style.
 * A new component version with another rule shows as a CSP error in the
 * browser tests (tests/browser). */
#define ADMIN_STYLE_HASH "'sha256-/6bgAn6kQFTFl0NDjh76WiaknWT5TlBnLlVSsSxdKY8='"
#define ADMIN_CSP_HEAD                                                                             \
	"default-src 'none'; script-src 'self'; style-src 'self' " ADMIN_STYLE_HASH "; "           \
	"img-src 'self' data: blob:; font-src 'self'; base-uri 'none'; form-action 'self'; "       \
	"frame-ancestors 'none'; connect-src 'self'"
#define ADMIN_CSP_MAX 4096 /* the header's size at most: domains beyond it are left out */

#define ASSETS_PREFIX "/admin/assets/"

/* True if Accept-Encoding lets us send gzip: "gzip" or "*" with a q-value
 * above 0, and gzip not refused by name (RFC 9110 12.5.3). Hand-written:
 * libmicrohttpd has no content negotiation, and this is a few lines. */
static bool accepts_gzip(const char *ae)
{
	bool named = false, named_ok = false, star_ok = false;

	while (ae && *ae) {
		size_t n, tok;
		bool zero = false;

		ae += strspn(ae, " \t,");
		n = strcspn(ae, ",");
		tok = strcspn(ae, " \t;,");
		if (tok > n)
			tok = n;
		/* a q-value of 0 (q=0, q=0.0, q=0.000) refuses the coding */
		for (const char *q = ae + tok; q < ae + n; q++) {
			if ((*q == 'q' || *q == 'Q') && q[1] == '=') {
				const char *v = q + 2;
				zero = *v == '0';
				for (v++; zero && v < ae + n && *v != ' ' && *v != ';'; v++)
					zero = *v == '.' || *v == '0';
				break;
			}
		}
		if (tok == 4 && strncasecmp(ae, "gzip", 4) == 0) {
			named = true;
			named_ok = !zero;
		} else if (tok == 1 && *ae == '*') {
			star_ok = !zero;
		}
		ae += n;
	}
	return named ? named_ok : star_ok;
}

/* A host-source of CSP (host[:port], RFC 3986 reg-name characters only: an
 * IPv6 literal has no host-source form). The service checked the name; this
 * keeps anything else out of the header all the same. */
static bool csp_host(const char *a)
{
	return *a && strspn(a, "abcdefghijklmnopqrstuvwxyz0123456789.-:") == strlen(a);
}

static int csp_domain_cb(const sh_domain *d, void *ud)
{
	sbuf *b = ud;

	if (d->id == 0 || !csp_host(d->authority)) /* the default one: 'self' */
		return 0;
	if (b->len + strlen(d->authority) + 1 >= ADMIN_CSP_MAX)
		return 1;
	sbuf_printf(b, " %s", d->authority);
	return 0;
}

/* The Content-Security-Policy (see the top) of asset a into b: the page's
 * names the domains (a store read); the assets' is the same without them
 * (a browser applies only the document's). */
static void admin_csp(http_req *r, const struct admin_asset *a, sbuf *b)
{
	sbuf_adds(b, ADMIN_CSP_HEAD);
	if (!a->immutable && r->w && r->w->rs) /* without the store: 'self' alone */
		svc_domain_list(r->v, r->w->rs, csp_domain_cb, b);
}

static const struct admin_asset *find(const char *url)
{
	for (const struct admin_asset *a = admin_assets; a->url; a++)
		if (strcmp(a->url, url) == 0)
			return a;
	return NULL;
}

int page_admin(http_req *r)
{
	const struct admin_asset *a;
	sbuf csp;
	bool gz;
	int rc;

	if (strncmp(r->path, ASSETS_PREFIX, sizeof(ASSETS_PREFIX) - 1) == 0) {
		a = find(r->path);
		if (!a)
			return http_reply_not_found(r);
	} else {
		a = find("/admin/");
		if (!a) /* the build always makes index.html */
			return http_reply_not_found(r);
	}
	gz = a->gz && accepts_gzip(http_header(r, "Accept-Encoding"));
	sbuf_init(&csp, ADMIN_CSP_MAX);
	admin_csp(r, a, &csp);
	rc = csp.err ? SH_ENOMEM : http_add_header(r, "Content-Security-Policy", csp.p);
	sbuf_free(&csp);
	if (rc < 0 ||
	    http_add_header(r, "Cache-Control",
	                    a->immutable ? "public, max-age=31536000, immutable" : "no-cache") <
	        0 ||
	    http_add_header(r, "Referrer-Policy", "same-origin") < 0 ||
	    (a->gz && http_add_header(r, "Vary", "Accept-Encoding") < 0) ||
	    (gz && http_add_header(r, "Content-Encoding", "gzip") < 0))
		return http_reply_error(r, SH_ENOMEM, NULL);
	return gz ? http_reply_static(r, 200, a->type, a->gz, a->gz_len)
	          : http_reply_static(r, 200, a->type, a->data, a->len);
}

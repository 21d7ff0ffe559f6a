/*
 * hostdomain.c — which domain a request is about (Shlink's multi-domain),
 * in one place for every front of src/http:
 *
 *   ?domain=  the REST API's: on one short URL (get, edit, delete, visits,
 *             redirect rules) and as a filter of the lists
 *   Host      the public routes': a redirect, its preview page and QR code,
 *             the page at / and YOURLS answer for the domain the request's
 *             Host names, and an unknown host is the default domain
 *
 * The names are checked and looked up by the service (svc_domain_*); this
 * file only reads them off the request.
 */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"

const char *http_query_domain(http_req *r)
{
	const char *d = http_query(r, "domain");

	return d && *d && strcmp(d, "DEFAULT") != 0 ? d : NULL;
}

int http_query_domain_id(http_req *r, bool *one, int64_t *id)
{
	const char *d = http_query(r, "domain");
	sh_err e = {0};
	int rc;

	*one = false;
	*id = 0;
	if (!d || !*d)
		return 0;
	*one = true;
	if (strcmp(d, "DEFAULT") == 0)
		return 0;
	rc = svc_domain_id(r->v, r->w->rs, d, false, id, &e);
	if (rc == SH_EINVAL) /* a name that is no domain has no links either */
		rc = SH_ENOTFOUND;
	if (rc == SH_ENOTFOUND)
		*id = -1; /* no domain has this id: a query of it matches nothing */
	return rc;
}

int64_t http_host_domain(http_req *r)
{
	return svc_domain_of_host(r->v, r->w->rs, http_header(r, "Host"));
}

const char *http_host_authority(http_req *r, char out[SH_AUTHORITY_MAX + 1])
{
	sh_err e = {0};

	if (!r->w || http_host_domain(r) == 0)
		return NULL;
	/* the same check svc_domain_of_host made: Host, lower-cased */
	if (svc_domain_check(http_header(r, "Host"), out, &e) != 0)
		return NULL;
	return out;
}

const char *http_host_short_url(http_req *r, const char *code, char *buf, size_t n)
{
	sh_link l;

	memset(&l, 0, sizeof l);
	if (!http_host_authority(r, l.domain))
		l.domain[0] = '\0';
	snprintf(l.code, sizeof l.code, "%s", code);
	return svc_link_short_url(r->v, &l, buf, n);
}

int http_host_link(http_req *r, const svc_caller *who, const char *code, sh_link *out)
{
	char a[SH_AUTHORITY_MAX + 1];
	const char *dom = http_host_authority(r, a);
	sh_err e = {0};
	int rc = SH_ENOTFOUND;

	if (dom)
		rc = svc_get_on(r->v, r->w->rs, dom, code, who, out, &e);
	if (rc == SH_ENOTFOUND) { /* Shlink's domain fallback, as a redirect has it */
		sh_link_clear(out);
		rc = svc_get(r->v, r->w->rs, code, who, out);
	}
	return rc;
}

/*
 * rest_rules.c — GET and POST /rest/v3/short-urls/{shortCode}/redirect-rules,
 * as Shlink 5.1's OpenAPI document has them:
 *
 *   GET   -> 200 {"defaultLongUrl": ..., "redirectRules": [{"longUrl",
 *            "priority", "conditions": [{"type", "matchKey", "matchValue"}]}]}
 *   POST  {"redirectRules": [...]} -> 200, the same answer for the rules now
 *            stored (an empty list removes them all)
 *   400 invalid-data (the detail names the bad element and what is allowed),
 *   404 short-url-not-found, 403 for a read-only key's POST.
 *
 * The body is checked and compiled here, on the worker (a bad body never
 * reaches the writer); the store write is a unit of the writer
 * (SVC_UNIT_RULES_SET), answered after its commit. The rules of who may
 * see and change which link are the service's (an author key: its own).
 */
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

typedef struct rules_job {
	svc_unit u;
	rules_set *rs; /* the unit's input */
} rules_job;

static void rules_job_free(void *p)
{
	rules_job *j = p;

	if (!j)
		return;
	rules_free(j->rs);
	svc_unit_clear(&j->u);
	free(j);
}

/* The answer for a link and its compiled rules. */
static int reply_rules(http_req *r, const sh_link *l, const rules_set *rs)
{
	return http_reply_json(r, 200, rules_answer(rs, l->url));
}

static int set_reply(http_req *r, int rc)
{
	rules_job *j = r->ud;

	if (rc < 0)
		return http_reply_error(r, rc, &j->u.err);
	return reply_rules(r, &j->u.link, j->rs);
}

static int get_rules(http_req *r)
{
	sh_link l;
	rules_set *rs = NULL;
	sh_err err = {0};
	int rc, ret;

	rc = svc_rules_get_on(r->v, r->w->rs, http_query_domain(r), r->arg, &r->caller, &l, &rs, &err);
	if (rc < 0)
		return http_reply_error(r, rc == SH_EINVAL ? SH_ESTORE : rc, &err);
	ret = reply_rules(r, &l, rs);
	rules_free(rs);
	sh_link_clear(&l);
	return ret;
}

static int set_rules(http_req *r)
{
	rules_job *j;
	json_t *body;
	int answered = 0, rc;

	if (!svc_caller_can_write(&r->caller))
		return http_reply_problem(r, 403, NULL, "Forbidden",
		                          "This API key is read-only; it cannot change redirect "
		                          "rules.",
		                          NULL);
	j = calloc(1, sizeof *j);
	if (!j)
		return http_reply_error(r, SH_ENOMEM, NULL);
	svc_unit_init(&j->u, SVC_UNIT_RULES_SET);
	r->ud = j;
	r->ud_free = rules_job_free;
	body = http_body_json(r, &answered);
	if (!body)
		return answered;
	rc = rules_from_body(body, svc_url_policy(r->v), &j->rs, &j->u.err);
	json_decref(body);
	if (rc < 0)
		return http_reply_error(r, rc, &j->u.err);
	memcpy(j->u.code, r->arg, r->arg_len + 1);
	j->u.caller = r->caller;
	j->u.domain = http_query_domain(r); /* MHD keeps it for the request's life */
	j->u.rules = j->rs;
	return http_defer(r, &j->u, set_reply);
}

int rest_redirect_rules(http_req *r)
{
	if (!codec_custom_valid(r->arg, r->arg_len))
		return http_reply_error(r, SH_ENOTFOUND, NULL);
	if (r->meth == HTTP_POST)
		return set_rules(r);
	return get_rules(r);
}

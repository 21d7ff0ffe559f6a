/*
 * edit.c — changing a link (svc_update: only the fields asked for, each
 * checked before the store is touched) and deleting one (svc_delete); the
 * cache entries of the code are forgotten after the commit, so no reader
 * can cache the old link again.
 */
#include <stdlib.h>
#include <string.h>

#include "shorty/service.h"
#include "shorty/timeutil.h"
#include "service/handle.h"

/* ---- update / delete -------------------------------------------------- */


int svc_update(svc *v, store *s, const char *code, const svc_update_req *req, sh_link *out,
               sh_err *err)
{
	sh_link l;
	char tags[SH_MAX_TAGS][SH_TAG_MAX + 1];
	char *url = NULL, *title = NULL, key[SVC_CACHE_KEY_MAX];
	bool nested = false, open = false;
	int64_t dom = 0;
	int ntags = 0, rc;

	memset(&l, 0, sizeof l);
	/* validate the inputs before touching the store */
	if (req->has_url) {
		if (!req->url) {
			rc = sh_err_set(err, SH_EINVAL, "url", "the URL cannot be removed");
			goto out;
		}
		rc = url_normalize(svc_url_policy(v), req->url, strlen(req->url), &url, err);
		if (rc)
			goto out;
	}
	if (req->has_title) {
		rc = svc__check_title(req->title, err);
		if (rc)
			goto out;
		if (req->title && req->title[0]) {
			title = strdup(req->title);
			if (!title) {
				rc = sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
				goto out;
			}
		}
	}
	if (req->has_tags) {
		rc = svc__check_tags(req->tags, req->ntags, tags, &ntags, err);
		if (rc)
			goto out;
	}
	if (req->has_redirect_status) {
		rc = svc__check_status(req->redirect_status, err);
		if (rc)
			goto out;
	}
	if (req->has_max_visits) {
		rc = svc__check_max_visits(req->max_visits, err);
		if (rc)
			goto out;
	}

	rc = svc__tx_begin(s, &nested);
	if (rc) {
		svc__store_err(s, rc, err);
		goto out;
	}
	open = true;
	rc = svc_domain_id(v, s, req->domain, false, &dom, err);
	if (rc == 0)
		rc = svc__get_owned(v, s, dom, code, req->owner_key_id, &l);
	if (rc) {
		if (rc == SH_ENOTFOUND)
			svc__not_found(code, err);
		else if (rc != SH_EINVAL)
			svc__store_err(s, rc, err);
		goto out;
	}
	if (req->has_url) {
		free(l.url);
		l.url = url;
		url = NULL;
		l.url_hash = svc__url_hash(v, l.url);
	}
	if (req->has_title) {
		free(l.title);
		l.title = title;
		title = NULL;
	}
	if (req->has_tags) {
		memcpy(l.tags, tags, sizeof tags);
		l.ntags = ntags;
	}
	if (req->has_valid_since)
		l.valid_since = req->valid_since;
	if (req->has_expires_at)
		l.expires_at = req->expires_at;
	if (req->has_max_visits)
		l.max_visits = req->max_visits;
	if (req->has_crawlable)
		l.crawlable = req->crawlable;
	if (req->has_forward_query)
		l.forward_query = req->forward_query;
	if (req->has_redirect_status)
		l.redirect_status = req->redirect_status;
	if (req->has_disabled)
		l.disabled = req->disabled;
	/* checked on the result, so changing one bound is judged against the
	 * other one as stored */
	rc = svc__check_times(l.valid_since, l.expires_at, err);
	if (rc)
		goto out;
	l.updated_at = req->now ? req->now : sh_now();
	/* an edited link is no longer what a deduplicating create made: its
	 * claim would stand in the way of its new URL's (claim_dedupe) */
	rc = store_link_dedupe(s, l.id, false);
	if (rc == 0)
		rc = store_link_update(s, &l);
	if (rc) {
		if (rc == SH_ENOTFOUND)
			svc__not_found(code, err);
		else
			svc__store_err(s, rc, err);
		goto out;
	}
	open = false;
	rc = svc__tx_end(s, nested, 0);
	if (rc) {
		svc__store_err(s, rc, err);
		goto out;
	}
	svc_cache_forget(v, svc_cache_key(dom, l.code, key));
	if (strcmp(l.code, code) != 0)
		svc_cache_forget(v, svc_cache_key(dom, code, key));
	if (out) {
		*out = l;
		memset(&l, 0, sizeof l);
	}
out:
	if (open)
		svc__tx_end(s, nested, rc);
	free(url);
	free(title);
	sh_link_clear(&l);
	return rc;
}

int svc_delete(svc *v, store *s, const char *code, int64_t owner_key_id, sh_err *err)
{
	return svc_delete_on(v, s, NULL, code, owner_key_id, err);
}

int svc_delete_on(svc *v, store *s, const char *domain, const char *code, int64_t owner_key_id,
                  sh_err *err)
{
	char key[SVC_CACHE_KEY_MAX];
	sh_link l;
	int64_t dom = 0;
	bool nested = false;
	int rc;

	memset(&l, 0, sizeof l);
	rc = svc__tx_begin(s, &nested);
	if (rc)
		return svc__store_err(s, rc, err);
	rc = svc_domain_id(v, s, domain, false, &dom, err);
	if (rc == 0)
		rc = svc__get_owned(v, s, dom, code, owner_key_id, &l);
	if (rc == 0)
		rc = store_link_delete(s, l.id);
	rc = svc__tx_end(s, nested, rc);
	if (rc == SH_ENOTFOUND)
		svc__not_found(code, err);
	else if (rc == SH_EINVAL)
		; /* err says which domain */
	else if (rc)
		svc__store_err(s, rc, err);
	else
		/* drop the entry after the commit, so no reader can re-cache the
		 * link from a store that still has it */
		svc_cache_forget(v, svc_cache_key(dom, code, key));
	sh_link_clear(&l);
	return rc;
}

/*
 * linkrules.c — a link's Shlink redirect rules: reading and replacing them
 * (GET / POST /short-urls/{code}/redirect-rules, through the writer), and
 * applying them on the redirect path (see shorty/service.h).
 *
 * A link keeps its rules as the JSON array rules_to_json() writes
 * (sh_link.redirect_rules, NULL for none). The redirect cache's record of a
 * link carries only a hash of that text (svc_target.rules_hash, 0 = no
 * rules), so a link without rules pays one compare. A link with rules needs
 * them compiled: the compiled sets live in a fixed table of RC_SLOTS slots,
 * one link per slot (by link id), each slot naming the text's hash it was
 * compiled from; a slot that holds another link or another hash is
 * recompiled from the store once. A compiled set is immutable and
 * reference-counted, so a worker matches against it with no lock held and
 * a replacement never frees it under a reader.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shorty/geoip.h"
#include "shorty/service.h"
#include "service/internal.h"

#define RC_SLOTS 4096  /* links with rules whose compiled form is kept */
#define RC_STRIPES 64  /* locks over the slots */

struct rc_ref {
	rules_set *rs;
	bool geo;          /* rules_uses_location(rs) */
	atomic_int refs;   /* the slot's own, plus one per reader */
};

struct rc_slot {
	int64_t link_id;
	uint64_t hash;
	struct rc_ref *ref;
};

struct rules_cache {
	pthread_mutex_t mu[RC_STRIPES];
	struct rc_slot slot[RC_SLOTS];
};

uint64_t svc__rules_hash(const char *text)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a: a cache key, not a defence */

	if (!text)
		return 0;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h ? h : 1;
}

rules_cache *svc__rules_cache_new(void)
{
	rules_cache *c = calloc(1, sizeof *c);
	int i;

	if (!c)
		return NULL;
	for (i = 0; i < RC_STRIPES; i++)
		if (pthread_mutex_init(&c->mu[i], NULL) != 0)
			break;
	if (i < RC_STRIPES) {
		while (i-- > 0)
			pthread_mutex_destroy(&c->mu[i]);
		free(c);
		return NULL;
	}
	return c;
}

static void ref_release(struct rc_ref *r)
{
	if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
		rules_free(r->rs);
		free(r);
	}
}

void svc__rules_cache_free(rules_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < RC_SLOTS; i++)
		ref_release(c->slot[i].ref);
	for (int i = 0; i < RC_STRIPES; i++)
		pthread_mutex_destroy(&c->mu[i]);
	free(c);
}

static size_t slot_of(int64_t link_id)
{
	return (size_t)(((uint64_t)link_id * 0x9e3779b97f4a7c15ull) >> 52) & (RC_SLOTS - 1);
}

/* The compiled rules of (link_id, hash) with a reference for the caller,
 * or NULL when the slot holds something else. */
static struct rc_ref *cache_get(rules_cache *c, int64_t link_id, uint64_t hash)
{
	size_t i = slot_of(link_id);
	pthread_mutex_t *mu = &c->mu[i % RC_STRIPES];
	struct rc_ref *r = NULL;

	pthread_mutex_lock(mu);
	if (c->slot[i].ref && c->slot[i].link_id == link_id && c->slot[i].hash == hash) {
		r = c->slot[i].ref;
		atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(mu);
	return r;
}

/* Puts r (whose one reference becomes the slot's) in its slot. */
static void cache_put(rules_cache *c, int64_t link_id, uint64_t hash, struct rc_ref *r)
{
	size_t i = slot_of(link_id);
	pthread_mutex_t *mu = &c->mu[i % RC_STRIPES];
	struct rc_ref *old;

	pthread_mutex_lock(mu);
	old = c->slot[i].ref;
	c->slot[i].link_id = link_id;
	c->slot[i].hash = hash;
	c->slot[i].ref = r;
	pthread_mutex_unlock(mu);
	ref_release(old);
}

/* Compiles a link's stored rules text (NULL or "[]": *out = NULL). */
static int compile_text(svc *v, const char *text, rules_set **out, sh_err *err)
{
	json_error_t jerr;
	json_t *list;
	int rc;

	*out = NULL;
	if (!text)
		return 0;
	list = json_loads(text, 0, &jerr);
	if (!list)
		return sh_err_set(err, SH_ESTORE, "redirectRules",
		                  "the stored redirect rules are not JSON: %s", jerr.text);
	rc = rules_from_list(list, svc_url_policy(v), out, err);
	json_decref(list);
	return rc;
}

/* A compiled entry for link (read from s), put in the cache; NULL when
 * the link is gone, has no rules any more or its rules do not compile. */
static struct rc_ref *cache_load(svc *v, store *s, int64_t link_id)
{
	struct rc_ref *r;
	rules_set *rs = NULL;
	sh_err err = {0};
	sh_link l;
	uint64_t hash;

	if (svc_get_by_id(v, s, link_id, &l) != 0)
		return NULL;
	hash = svc__rules_hash(l.redirect_rules);
	if (compile_text(v, l.redirect_rules, &rs, &err) != 0 || !rs) {
		sh_link_clear(&l);
		return NULL;
	}
	sh_link_clear(&l);
	r = calloc(1, sizeof *r);
	if (!r) {
		rules_free(rs);
		return NULL;
	}
	r->rs = rs;
	r->geo = rules_uses_location(rs);
	atomic_init(&r->refs, 2); /* the slot's and the caller's */
	cache_put(svc__rules(v), link_id, hash, r);
	return r;
}

int svc_rules_pick(svc *v, store *s, svc_target *t, const rules_request *req)
{
	rules_request rq;
	geoip_location loc;
	struct rc_ref *r;
	const char *url;
	size_t n;

	if (!t->rules_hash)
		return 0;
	r = cache_get(svc__rules(v), t->link_id, t->rules_hash);
	if (!r)
		r = cache_load(v, s, t->link_id);
	if (!r)
		return 0; /* no usable rules: the link's own URL */
	rq = *req;
	/* the client's place only when a condition asks for it */
	if (r->geo && !rq.country_code && !rq.city &&
	    geoip_lookup(svc__geoip(v), rq.client_ip, &loc) == 0) {
		rq.country_code = loc.country_code[0] ? loc.country_code : NULL;
		rq.city = loc.city_name[0] ? loc.city_name : NULL;
	}
	url = rules_match(r->rs, &rq);
	if (url) {
		n = strlen(url);
		/* rule URLs passed the same length policy as the link's own */
		if (n < svc_target_size(v) - sizeof(svc_target)) {
			memcpy(t->url, url, n + 1);
			t->url_len = n;
		}
	}
	ref_release(r);
	return 0;
}

int svc_rules_get(svc *v, store *s, const char *code, const svc_caller *who, sh_link *link,
                  rules_set **out, sh_err *err)
{
	return svc_rules_get_on(v, s, NULL, code, who, link, out, err);
}

int svc_rules_get_on(svc *v, store *s, const char *domain, const char *code,
                     const svc_caller *who, sh_link *link, rules_set **out, sh_err *err)
{
	sh_err e = {0};
	int rc;

	*out = NULL;
	rc = svc_get_on(v, s, domain, code, who, link, &e);
	if (rc == SH_EINVAL)
		rc = SH_ENOTFOUND; /* a bad domain has no link */
	if (rc == SH_ENOTFOUND)
		return sh_err_set(err, rc, NULL, "no link has the code %.64s", code);
	if (rc)
		return svc__store_err(s, rc, err);
	rc = compile_text(v, link->redirect_rules, out, err);
	if (rc)
		sh_link_clear(link);
	return rc;
}

int svc_rules_set(svc *v, store *s, const char *code, const svc_caller *who,
                  const rules_set *rs, sh_link *out, sh_err *err)
{
	return svc_rules_set_on(v, s, NULL, code, who, rs, out, err);
}

int svc_rules_set_on(svc *v, store *s, const char *domain, const char *code,
                     const svc_caller *who, const rules_set *rs, sh_link *out, sh_err *err)
{
	sh_err e = {0};
	sh_link l;
	json_t *list = NULL;
	char *text = NULL;
	bool nested = false;
	int rc;

	memset(&l, 0, sizeof l);
	if (!svc_caller_can_write(who))
		return sh_err_set(err, SH_EFORBIDDEN, NULL,
		                  "this API key is read-only; it cannot change redirect rules");
	if (rules_count(rs) > 0) {
		list = rules_to_json(rs);
		text = list ? json_dumps(list, JSON_COMPACT) : NULL;
		json_decref(list);
		if (!text)
			return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	}
	rc = svc__tx_begin(s, &nested);
	if (rc) {
		free(text);
		return svc__store_err(s, rc, err);
	}
	rc = svc_get_on(v, s, domain, code, who, &l, &e);
	if (rc == SH_EINVAL)
		rc = SH_ENOTFOUND; /* a bad domain has no link */
	if (rc == 0) {
		free(l.redirect_rules);
		l.redirect_rules = text; /* NULL: no rules */
		text = NULL;
		rc = store_link_update(s, &l);
	}
	rc = svc__tx_end(s, nested, rc);
	free(text);
	if (rc == SH_ENOTFOUND) {
		sh_link_clear(&l);
		return sh_err_set(err, rc, NULL, "no link has the code %.64s", code);
	}
	if (rc) {
		sh_link_clear(&l);
		return svc__store_err(s, rc, err);
	}
	if (out)
		*out = l;
	else
		sh_link_clear(&l);
	return 0;
}

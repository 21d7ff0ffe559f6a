/*
 * create.c — making a link (svc_shorten): every check of the request (all
 * of them, for the list of bad fields: svc_create_check), Shlink's
 * findIfExists and the dedupe of a plain create, and the three code
 * strategies.
 *
 * Codes: a COUNTER link has no row in the codes table; its code is the keyed
 * permutation of its id (core/codec), so a generated code is found by
 * decoding it to an id. Every other kind (custom, random, hash) has a codes
 * row. A code is therefore "taken" when it is in the codes table OR when it
 * decodes to the id of an existing COUNTER link; both checks run inside the
 * write transaction that inserts, so two writers (server and CLI) never hand
 * out the same code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shorty/codec.h"
#include "shorty/service.h"
#include "shorty/timeutil.h"
#include "service/handle.h"
#include "service/internal.h"

#define COUNTER_SKIP_MAX 1000 /* custom codes in the generator's way, in a row */
#define PICK_RACES 8          /* generated codes lost to other instances, in a row */
#define RANDOM_TRIES 8        /* per length, before trying a longer code */

/* ---- create ----------------------------------------------------------- */

void svc_create_req_init(svc_create_req *req)
{
	memset(req, 0, sizeof *req);
	req->find_if_exists = true;
	req->crawlable = -1;
	req->forward_query = -1;
}

void svc_create_req_clear(svc_create_req *req)
{
	free(req->url_normal);
	req->url_normal = NULL;
}

/* Is code in use on domain dom: a codes row, or the code of an existing
 * COUNTER link of that domain? */
static int code_taken(svc *v, store *s, int64_t dom, const char *code, bool *taken)
{
	sh_link l;
	int64_t id;
	bool exists = false;
	int rc;

	*taken = false;
	rc = store_code_exists_in(s, dom, code, &exists);
	if (rc)
		return rc;
	if (exists) {
		*taken = true;
		return 0;
	}
	if (codec_decode_id(&v->codec, code, strlen(code), &id) != 0)
		return 0;
	memset(&l, 0, sizeof l);
	rc = store_link_get(s, id, &l);
	if (rc == SH_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	*taken = l.code_kind == CODE_KIND_COUNTER && l.domain_id == dom;
	sh_link_clear(&l);
	return 0;
}

/* counter: the next id, skipping ids whose code a custom code has taken.
 * On a store whose unique key holds generated codes too (PostgreSQL) the
 * insert finds that out itself (SH_ETAKEN: svc_shorten picks again), which
 * saves a round trip per create (issue 8: creates >= 10,000/s). */
static int pick_counter(svc *v, store *s, sh_link *l)
{
	bool keyed = (store_caps(s) & STORE_CAP_CODE_KEY) != 0;
	int64_t id, first;
	bool taken = false;
	int i, rc;

	first = codec_first_id(v->cfg->code_length);
	rc = store_next_id(s, first, &id);
	if (rc)
		return rc;
	for (i = 0; i < COUNTER_SKIP_MAX; i++, id++) {
		if (codec_len_of_id(id) < 0 ||
		    codec_encode_id(&v->codec, id, l->code, sizeof l->code) != 0)
			return SH_EFULL;
		if (codec_reserved(l->code, strlen(l->code)))
			continue;
		rc = keyed ? 0 : store_code_exists_in(s, l->domain_id, l->code, &taken);
		if (rc)
			return rc;
		if (!taken) {
			l->id = id;
			l->code_kind = CODE_KIND_COUNTER;
			return 0;
		}
	}
	return SH_ESTORE;
}

static int pick_random(svc *v, store *s, int len, sh_link *l)
{
	bool taken;
	int i, rc;

	for (; len <= CODE_MAX; len++) {
		for (i = 0; i < RANDOM_TRIES; i++) {
			codec_random_code(len, l->code);
			if (codec_reserved(l->code, (size_t)len))
				continue;
			rc = code_taken(v, s, l->domain_id, l->code, &taken);
			if (rc)
				return rc;
			if (!taken) {
				l->code_kind = CODE_KIND_RANDOM;
				return store_next_id(s, 1, &l->id);
			}
		}
	}
	return SH_EFULL;
}

/* hash: the same URL gives the same code on every instance; a code taken by
 * another link is resolved deterministically by rehashing with a counter,
 * and after RANDOM_TRIES attempts at one length the code grows by one. When
 * the code is already the same URL's (same owner, no limits) and the caller
 * dedupes, that link is the answer (*found filled). */
static int pick_hash(svc *v, store *s, int len, bool dedupe, sh_link *l, sh_link *found,
                     bool *have_found)
{
	uint32_t attempt;
	bool taken;
	int rc;

	for (attempt = 0; len <= CODE_MAX; attempt++) {
		if (attempt > 0 && attempt % RANDOM_TRIES == 0)
			len++;
		if (len > CODE_MAX)
			break;
		codec_hash_code(&v->codec, l->url, strlen(l->url), attempt, len, l->code);
		if (codec_reserved(l->code, (size_t)len))
			continue;
		if (dedupe) {
			rc = store_link_get_by_code_in(s, l->domain_id, l->code, found);
			if (rc && rc != SH_ENOTFOUND)
				return rc;
			if (rc == 0 && found->code_kind == CODE_KIND_HASH &&
			    found->owner_key_id == l->owner_key_id && !found->disabled &&
			    !found->expires_at && !found->valid_since && !found->max_visits &&
			    found->url && strcmp(found->url, l->url) == 0) {
				*have_found = true;
				return 0;
			}
			sh_link_clear(found);
		}
		rc = code_taken(v, s, l->domain_id, l->code, &taken);
		if (rc)
			return rc;
		if (!taken) {
			l->code_kind = CODE_KIND_HASH;
			return store_next_id(s, 1, &l->id);
		}
	}
	return SH_EFULL;
}

static int pick_custom(svc *v, store *s, const char *code, sh_link *l, sh_err *err)
{
	bool taken;
	int rc;

	rc = code_taken(v, s, l->domain_id, code, &taken);
	if (rc)
		return svc__store_err(s, rc, err);
	if (taken)
		return sh_err_set(err, SH_ETAKEN, "customSlug",
		                  "the code %s is already taken; choose another", code);
	snprintf(l->code, sizeof l->code, "%s", code);
	l->code_kind = CODE_KIND_CUSTOM;
	rc = store_next_id(s, 1, &l->id);
	if (rc)
		return svc__store_err(s, rc, err);
	return 0;
}

/* ---- the checks of a create, one field each --------------------------------- */

static int check_custom(const char *code, sh_err *err)
{
	size_t n = code ? strlen(code) : 0;

	if (!code)
		return 0;
	if (!codec_custom_valid(code, n))
		return sh_err_set(err, SH_EINVAL, "customSlug",
		                  "a custom code is 1–64 characters of A–Z, a–z, 0–9, '_' "
		                  "and '-'");
	if (codec_reserved(code, n))
		return sh_err_set(err, SH_ERESERVED, "customSlug",
		                  "the code %s is reserved for the service's own pages; "
		                  "choose another",
		                  code);
	return 0;
}

static int check_code_length(int len, sh_err *err)
{
	if (len != 0 && (len < 4 || len > CODE_MAX))
		return sh_err_set(err, SH_EINVAL, "shortCodeLength",
		                  "shortCodeLength must be between 4 and %d", CODE_MAX);
	return 0;
}

static int check_visits(int64_t n, sh_err *err)
{
	if (n < 0)
		return sh_err_set(err, SH_EINVAL, "visits", "a visit count is a whole number >= 0");
	return 0;
}

/* Where check_create reports: the first failure into err; with bad, every
 * bad field's name too (and the checks go on after a bad input). */
typedef struct checks {
	sh_err *err;
	const char **bad;
	int max, n;
	int first;
} checks;

static bool input_error(int rc)
{
	return rc == SH_EINVAL || rc == SH_ETOOBIG || rc == SH_EBLOCKED || rc == SH_ERESERVED;
}

/* One check's result; true: stop (the first failure when not collecting,
 * or a failure that is no input's fault, such as out of memory). */
static bool failed(checks *c, int rc, const sh_err *e)
{
	if (rc == 0)
		return false;
	if (!c->first || !input_error(rc)) {
		c->first = rc;
		*c->err = *e;
	}
	if (!c->bad || !input_error(rc))
		return true;
	if (c->n < c->max)
		c->bad[c->n++] = e->field ? e->field : "body";
	return false;
}

/* Every check of a create request, in order; l gets what they make (the
 * normalized URL, the tags, the redirect status). */
static int check_create(svc *v, const svc_create_req *req, sh_link *l, checks *c)
{
	const sh_config *cfg = v->cfg;
	sh_err e = {0};
	int rc;

	l->redirect_status = req->redirect_status ? req->redirect_status
	                     : svc__status_valid(cfg->redirect_status) ? cfg->redirect_status : 302;
	if (req->url_normal) /* svc_create_check normalized it before */
		rc = (l->url = strdup(req->url_normal)) ? 0
		                                         : sh_err_set(&e, SH_ENOMEM, NULL, "out of memory");
	else if (req->url)
		rc = url_normalize(svc_url_policy(v), req->url,
		                   req->url_len ? req->url_len : strlen(req->url), &l->url, &e);
	else
		rc = sh_err_set(&e, SH_EINVAL, "url", "the URL to shorten is missing");
	/* each stops the chain only when it must (failed) */
	(void)(failed(c, rc, &e) || failed(c, check_custom(req->custom_code, &e), &e) ||
	       failed(c, check_code_length(req->code_length, &e), &e) ||
	       failed(c, svc__check_title(req->title, &e), &e) ||
	       failed(c, svc__check_tags(req->tags, req->ntags, l->tags, &l->ntags, &e), &e) ||
	       failed(c, svc__check_status(l->redirect_status, &e), &e) ||
	       failed(c, svc__check_max_visits(req->max_visits, &e), &e) ||
	       failed(c, svc__check_times(req->valid_since, req->expires_at, &e), &e) ||
	       failed(c, check_visits(req->visits, &e), &e) ||
	       failed(c, req->domain && *req->domain ? svc_domain_check(req->domain, l->domain, &e) : 0, &e));
	return c->first;
}

int svc_create_check(svc *v, svc_create_req *req, const char **fields, int max, int *n,
                     sh_err *err)
{
	checks c = {.err = err, .bad = fields, .max = max};
	sh_link l;
	int rc;

	memset(&l, 0, sizeof l);
	svc_create_req_clear(req);
	rc = check_create(v, req, &l, &c);
	if (rc == 0) {
		req->url_normal = l.url;
		l.url = NULL;
	}
	sh_link_clear(&l);
	*n = c.n;
	return rc;
}

/* Shlink's findIfExists (sh_link_match): l holds the validated request. */
static int find_matching(svc *v, store *s, const svc_create_req *req, const sh_link *l,
                         sh_link *found)
{
	const char *tags[SH_MAX_TAGS];
	sh_link_match m;
	int i, rc;

	memset(&m, 0, sizeof m);
	m.url_hash = l->url_hash;
	m.url = l->url;
	m.owner_key_id = req->find_owner;
	m.code = req->custom_code;
	for (i = 0; i < l->ntags; i++)
		tags[i] = l->tags[i];
	m.tags = tags;
	m.ntags = l->ntags;
	m.valid_since = req->valid_since;
	m.expires_at = req->expires_at;
	m.max_visits = req->max_visits;
	m.domain_id = l->domain_id;
	rc = store_link_find_match(s, &m, found);
	if (rc == 0)
		svc__fill_code(v, found);
	return rc;
}

/* A deduplicating create (a plain one, or Shlink's findIfExists) claims
 * its URL under the database's unique key (store_link_dedupe), which two
 * instances shortening the same URL at once cannot both hold. When another
 * link holds it, ours is taken back and the other is looked for again as
 * the create looks (findIfExists: find_matching; plain: a link that still
 * serves plainly, store_link_find_dup): found, it is the answer (*found);
 * if not (its URL only shares the hash, it was changed, or its fields do
 * not match findIfExists's), ours is made again, unclaimed. */
static int claim_dedupe(svc *v, store *s, const svc_create_req *req, const sh_link *l,
                        sh_link *found, bool *have_found)
{
	int rc = store_link_dedupe(s, l->id, true);

	if (rc != SH_ETAKEN)
		return rc;
	if ((rc = store_link_delete(s, l->id)))
		return rc;
	if (req->find_matching) {
		rc = find_matching(v, s, req, l, found);
	} else {
		rc = store_link_find_dup_in(s, l->domain_id, l->url_hash, l->url, l->owner_key_id,
		                            found);
		if (rc == 0 && found->valid_since != 0)
			rc = SH_ENOTFOUND; /* not yet live: never a plain create's answer */
		else if (rc == 0)
			svc__fill_code(v, found);
	}
	if (rc == 0) {
		*have_found = true;
		return 0;
	}
	sh_link_clear(found);
	if (rc && rc != SH_ENOTFOUND)
		return rc;
	return store_link_insert(s, l);
}

int svc_shorten(svc *v, store *s, const svc_create_req *req, sh_link *out, bool *existed,
                sh_err *err)
{
	const sh_config *cfg = v->cfg;
	checks c = {.err = err};
	sh_link l, found;
	bool dedupe, claim, nested = false, open = false, have_found = false;
	int len, rc, races = 0;

	memset(&l, 0, sizeof l);
	memset(&found, 0, sizeof found);
	if (existed)
		*existed = false;

	/* ---- validate everything before touching the store ---- */
	rc = check_create(v, req, &l, &c);
	if (rc)
		goto out;
	l.visits = req->visits; /* the store adds them to the totals */
	if (req->title && req->title[0]) {
		l.title = strdup(req->title);
		if (!l.title) {
			rc = sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
			goto out;
		}
	}
	l.url_hash = svc__url_hash(v, l.url);
	l.created_at = l.updated_at = req->now ? req->now : sh_now();
	l.valid_since = req->valid_since;
	l.expires_at = req->expires_at;
	l.max_visits = req->max_visits;
	l.forward_query = req->forward_query < 0 ? true : req->forward_query != 0;
	l.crawlable = req->crawlable > 0;
	l.owner_key_id = req->owner_key_id;
	dedupe = !req->find_matching && req->find_if_exists && !req->custom_code &&
	         !req->valid_since && !req->expires_at && !req->max_visits;
	/* findIfExists makes a link a plain create would find: it takes the
	 * same claim (two instances answering findIfExists at once make one) */
	claim = (dedupe || req->find_matching) && !req->custom_code && !req->valid_since &&
	        !req->expires_at && !req->max_visits;

	/* ---- one unit of work: dedupe, pick a code, insert ---- */
	rc = svc__tx_begin(s, &nested);
	if (rc) {
		svc__store_err(s, rc, err);
		goto out;
	}
	open = true;
	/* the domain's row, made on its first link (in this transaction) */
	rc = svc_domain_id(v, s, req->domain, true, &l.domain_id, err);
	if (rc)
		goto out;
	if (l.domain_id == 0)
		l.domain[0] = '\0';
	if (req->find_matching) {
		rc = find_matching(v, s, req, &l, &found);
		if (rc == 0) {
			have_found = true;
			goto commit;
		}
		if (rc != SH_ENOTFOUND) {
			svc__store_err(s, rc, err);
			goto out;
		}
	}
	if (dedupe) {
		rc = store_link_find_dup_in(s, l.domain_id, l.url_hash, l.url, l.owner_key_id,
		                            &found);
		if (rc == 0 && found.valid_since != 0) {
			/* not yet live: never the answer to a plain create */
			sh_link_clear(&found);
			rc = SH_ENOTFOUND;
		}
		if (rc == 0) {
			have_found = true;
			svc__fill_code(v, &found);
			goto commit;
		}
		if (rc != SH_ENOTFOUND) {
			svc__store_err(s, rc, err);
			goto out;
		}
	}
pick:
	if (req->custom_code) {
		rc = pick_custom(v, s, req->custom_code, &l, err);
	} else {
		len = req->code_length ? req->code_length : cfg->code_length;
		if (req->code_length || cfg->code_strategy == CODE_RANDOM)
			rc = pick_random(v, s, len, &l);
		else if (cfg->code_strategy == CODE_HASH)
			rc = pick_hash(v, s, len, dedupe, &l, &found, &have_found);
		else
			rc = pick_counter(v, s, &l);
		if (rc == SH_EFULL)
			sh_err_set(err, rc, NULL,
			           "no free short code was found; try a longer shortCodeLength");
		else if (rc)
			svc__store_err(s, rc, err);
	}
	if (rc)
		goto out;
	if (have_found)
		goto commit;
	rc = store_link_insert(s, &l);
	if (rc == SH_ETAKEN && !req->custom_code &&
	    ++races < (l.code_kind == CODE_KIND_COUNTER ? COUNTER_SKIP_MAX : PICK_RACES)) {
		/* another instance on the same store (PostgreSQL) took this
		 * generated code or id between the checks and the insert, or a
		 * custom code holds the counter's code (pick_counter): the
		 * database's unique keys decided, so pick again */
		goto pick;
	}
	if (rc == SH_ETAKEN) {
		/* a custom code: taken by someone else meanwhile */
		sh_err_set(err, rc, "customSlug", "the code %s is already taken; choose another",
		           l.code);
		goto out;
	}
	if (rc == 0 && claim)
		rc = claim_dedupe(v, s, req, &l, &found, &have_found);
	if (rc) {
		svc__store_err(s, rc, err);
		goto out;
	}
commit:
	open = false;
	rc = svc__tx_end(s, nested, 0);
	if (rc) {
		svc__store_err(s, rc, err);
		goto out;
	}
	if (have_found) {
		*out = found;
		memset(&found, 0, sizeof found);
		if (existed)
			*existed = true;
	} else {
		/* a negative entry may say this code does not exist (a positive
		 * one cannot: a deleted link's code was forgotten at its delete).
		 * Only the negative entries: forgetting every entry would also
		 * keep a redirect that read another link meanwhile from caching
		 * it (the forget slot it shares), which under a create load left
		 * links uncached (test_crash_under_create_load) */
		char key[SVC_CACHE_KEY_MAX];
		svc__cache_forget_negative(v, svc_cache_key(l.domain_id, l.code, key));
		*out = l;
		memset(&l, 0, sizeof l);
	}
out:
	if (open)
		svc__tx_end(s, nested, rc);
	sh_link_clear(&found);
	sh_link_clear(&l);
	return rc;
}

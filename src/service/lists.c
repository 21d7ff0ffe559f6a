/*
 * lists.c — lists of links and tags as a caller may see them: an owner's
 * own links only, counter codes shown (and sorted and searched) as codes,
 * and the count of every tag cached for the admin's unsearched tag list.
 */
#include <pthread.h>
#include <string.h>

#include "shorty/service.h"
#include "shorty/timeutil.h"
#include "service/handle.h"

#define TAGS_COUNT_TTL_NS 1000000000LL /* the cached count of every tag */

/* ---- lists ------------------------------------------------------------ */

struct list_ctx {
	svc *v;
	sh_link_cb cb;
	void *ud;
};

static int list_fill(const sh_link *l, void *ud)
{
	struct list_ctx *c = ud;
	sh_link copy;

	if (l->code_kind != CODE_KIND_COUNTER)
		return c->cb(l, c->ud);
	/* a shallow copy: url and title still belong to the store */
	copy = *l;
	svc__fill_code(c->v, &copy);
	return c->cb(&copy, c->ud);
}

int svc_list(svc *v, store *s, const svc_caller *who, const sh_list_query *q, sh_link_cb cb,
             void *ud, int64_t *total)
{
	struct list_ctx c = {v, cb, ud};
	sh_list_query mine = *q;

	mine.owner_key_id = svc_caller_owner(who);
	mine.code_key = &v->codec; /* counter codes sort and match as shown */
	return store_link_list(s, &mine, list_fill, &c, total);
}

int svc_tags_stats(svc *v, store *s, const svc_caller *who, const sh_tag_query *q,
                   sh_tag_cb cb, void *ud, int64_t *total)
{
	sh_tag_query mine = *q;
	int64_t now = sh_mono_ns();
	uint64_t gen = svc__links_gen(v);
	bool cached;
	int rc;

	mine.owner_key_id = svc_caller_owner(who);
	if (!total || mine.owner_key_id || mine.search || mine.exact)
		return store_tags_stats(s, &mine, cb, ud, total);
	/* every tag: the count as read at most a second ago, or since the last
	 * commit, so that a page costs its page and not the number of tags */
	pthread_mutex_lock(&v->tags_mu);
	cached = v->tags_valid && v->tags_gen == gen && now - v->tags_at_ns < TAGS_COUNT_TTL_NS;
	if (cached)
		*total = v->tags_total;
	pthread_mutex_unlock(&v->tags_mu);
	rc = store_tags_stats(s, &mine, cb, ud, cached ? NULL : total);
	if (rc == 0 && !cached) {
		pthread_mutex_lock(&v->tags_mu);
		v->tags_valid = true;
		v->tags_total = *total;
		v->tags_at_ns = now;
		v->tags_gen = gen;
		pthread_mutex_unlock(&v->tags_mu);
	}
	return rc;
}

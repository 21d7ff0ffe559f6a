/*
 * limits.c — visit limits (maxVisits) kept exact under parallel redirects
 * (svc_visit_admit, see shorty/service.h).
 *
 * The count in the redirect cache's record is the store's at load time,
 * and visits reach the store about a second after they are served: judged
 * on it alone, N parallel redirects of a link limited to 2 all passed. So
 * the process counts, per limited link, the visits it let through: the
 * first redirect of a link starts from the stored count, each next one
 * takes a visit under the link's stripe lock, and past the limit it is
 * refused. The count only ever grows with served visits; it is forgotten
 * when the link's visits are deleted (the writer, after the commit), and
 * the next redirect starts again from the store. Links without a limit
 * never come here.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "shorty/service.h"
#include "service/internal.h"

#define LIM_STRIPES 64
#define LIM_MIN 16 /* slots of a stripe's first table */

struct lim_entry {
	int64_t link_id; /* 0 = empty */
	int64_t taken;   /* visits let through (stored + served since) */
};

struct lim_stripe {
	pthread_mutex_t mu;
	struct lim_entry *e; /* open addressing, cap a power of two */
	size_t cap, used;
};

struct visit_limits {
	struct lim_stripe s[LIM_STRIPES];
};

static uint64_t lim_hash(int64_t id)
{
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

visit_limits *svc__limits_new(void)
{
	visit_limits *l = calloc(1, sizeof *l);
	int i;

	if (!l)
		return NULL;
	for (i = 0; i < LIM_STRIPES; i++)
		if (pthread_mutex_init(&l->s[i].mu, NULL) != 0)
			break;
	if (i < LIM_STRIPES) {
		while (i-- > 0)
			pthread_mutex_destroy(&l->s[i].mu);
		free(l);
		return NULL;
	}
	return l;
}

void svc__limits_free(visit_limits *l)
{
	if (!l)
		return;
	for (int i = 0; i < LIM_STRIPES; i++) {
		free(l->s[i].e);
		pthread_mutex_destroy(&l->s[i].mu);
	}
	free(l);
}

static struct lim_stripe *stripe_of(visit_limits *l, int64_t id)
{
	return &l->s[lim_hash(id) % LIM_STRIPES];
}

/* The slot of id in s (its own or the empty one where it would go). */
static struct lim_entry *slot(struct lim_stripe *s, int64_t id)
{
	size_t i = (size_t)(lim_hash(id) / LIM_STRIPES) & (s->cap - 1);

	while (s->e[i].link_id && s->e[i].link_id != id)
		i = (i + 1) & (s->cap - 1);
	return &s->e[i];
}

static bool grow(struct lim_stripe *s)
{
	struct lim_stripe n = {.cap = s->cap ? s->cap * 2 : LIM_MIN};

	n.e = calloc(n.cap, sizeof *n.e);
	if (!n.e)
		return false;
	for (size_t i = 0; i < s->cap; i++)
		if (s->e[i].link_id)
			*slot(&n, s->e[i].link_id) = s->e[i];
	free(s->e);
	s->e = n.e;
	s->cap = n.cap;
	return true;
}

bool svc_visit_admit(svc *v, const svc_target *t)
{
	struct lim_stripe *s;
	struct lim_entry *e;
	bool ok;

	if (t->max_visits <= 0)
		return true;
	s = stripe_of(svc__limits(v), t->link_id);
	pthread_mutex_lock(&s->mu);
	if ((s->used + 1) * 2 > s->cap && !grow(s)) {
		/* out of memory: judge on the loaded count alone, as before */
		pthread_mutex_unlock(&s->mu);
		return t->visits < t->max_visits;
	}
	e = slot(s, t->link_id);
	if (!e->link_id) {
		e->link_id = t->link_id;
		e->taken = t->visits;
		s->used++;
	}
	ok = e->taken < t->max_visits;
	if (ok)
		e->taken++;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

void svc__limits_forget(svc *v, int64_t link_id)
{
	struct lim_stripe *s = stripe_of(svc__limits(v), link_id);
	struct lim_entry *e;
	size_t i, j;

	pthread_mutex_lock(&s->mu);
	if (!s->cap)
		goto out;
	e = slot(s, link_id);
	if (!e->link_id)
		goto out;
	/* delete from a linear-probing table: move later entries of the run
	 * back so that none becomes unreachable */
	i = (size_t)(e - s->e);
	s->e[i].link_id = 0;
	s->used--;
	for (j = (i + 1) & (s->cap - 1); s->e[j].link_id; j = (j + 1) & (s->cap - 1)) {
		struct lim_entry moved = s->e[j];
		s->e[j].link_id = 0;
		*slot(s, moved.link_id) = moved;
	}
out:
	pthread_mutex_unlock(&s->mu);
}

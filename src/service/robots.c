/*
 * robots.c — the body of /robots.txt, cached (issue 12 item 3).
 *
 * /robots.txt is anonymous and not rate limited, so building it on every
 * request (a walk of every link) let any client make the server do
 * unbounded work. Here the body is built from the store at most once every
 * ROBOTS_REBUILD_S seconds, and only when it may be out of date: a write
 * the writer committed since (svc__links_changed), or older than
 * ROBOTS_TTL_S (expiries, writes of another process such as the CLI).
 * Every other request copies the cached body. A build is bounded too: the
 * store filters crawlable links itself and hands over at most
 * SVC_ROBOTS_MAX of them, newest first. One build runs at a time; the
 * others serve the previous body meanwhile.
 */
#define _GNU_SOURCE /* open_memstream */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "shorty/timeutil.h"

#define ROBOTS_REBUILD_S 1
#define ROBOTS_TTL_S 60
#define NS 1000000000LL

#define ROBOTS_HEAD "# Only links marked crawlable may be indexed.\nUser-agent: *\n"
#define ROBOTS_TAIL "Disallow: /\n"

struct robots_cache {
	pthread_mutex_t mu;
	char *body;         /* NULL until the first build */
	size_t len;
	int64_t built_ns;   /* sh_mono_ns() of the build that made body */
	int64_t tried_ns;   /* of the last build started, 0 = none */
	uint64_t built_gen; /* svc__links_gen() when that build started */
	bool building;
};

robots_cache *svc__robots_new(void)
{
	robots_cache *r = calloc(1, sizeof *r);

	if (r && pthread_mutex_init(&r->mu, NULL) != 0) {
		free(r);
		r = NULL;
	}
	return r;
}

void svc__robots_free(robots_cache *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->body);
	free(r);
}

static int allow_line(const sh_link *l, void *ud)
{
	return fprintf(ud, "Allow: /%s\n", l->code) < 0 ? SH_ENOMEM : 0;
}

/* A new body from the store: the newest SVC_ROBOTS_MAX crawlable links. */
static int build(svc *v, store *s, char **out, size_t *len)
{
	sh_list_query q;
	FILE *f;
	int rc;

	*out = NULL;
	if (!s)
		return SH_ESTORE; /* the worker has no store yet */
	f = open_memstream(out, len);
	if (!f)
		return SH_ENOMEM;
	memset(&q, 0, sizeof q);
	q.limit = SVC_ROBOTS_MAX;
	q.order = LIST_CREATED_DESC;
	q.crawlable_only = true;
	fputs(ROBOTS_HEAD, f);
	rc = svc_list(v, s, NULL, &q, allow_line, f, NULL);
	fputs(ROBOTS_TAIL, f);
	if (ferror(f) && rc == 0)
		rc = SH_ENOMEM;
	if (fclose(f) != 0 && rc == 0)
		rc = SH_ENOMEM;
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

static int copy_out(const char *body, size_t n, char **out, size_t *len)
{
	*out = malloc(n + 1);
	if (!*out)
		return SH_ENOMEM;
	memcpy(*out, body, n);
	(*out)[n] = '\0';
	*len = n;
	return 0;
}

int svc_robots(svc *v, store *s, char **out, size_t *len)
{
	robots_cache *r = svc__robots(v);
	int64_t now = sh_mono_ns();
	uint64_t gen;
	char *nb = NULL;
	size_t nlen = 0;
	bool stale, may;
	int rc;

	*out = NULL;
	*len = 0;
	pthread_mutex_lock(&r->mu);
	gen = svc__links_gen(v);
	stale = !r->body || gen != r->built_gen || now - r->built_ns >= ROBOTS_TTL_S * NS;
	may = !r->building && (!r->tried_ns || now - r->tried_ns >= ROBOTS_REBUILD_S * NS);
	if (stale && may) {
		r->building = true;
		r->tried_ns = now;
		pthread_mutex_unlock(&r->mu);
		rc = build(v, s, &nb, &nlen);
		pthread_mutex_lock(&r->mu);
		r->building = false;
		if (rc == 0) {
			free(r->body);
			r->body = nb;
			r->len = nlen;
			r->built_ns = now;
			r->built_gen = gen;
		}
	}
	/* the body as last built; none yet (the first build failed or runs
	 * in another thread): every link disallowed, which is never wrong */
	if (r->body)
		rc = copy_out(r->body, r->len, out, len);
	else
		rc = copy_out(ROBOTS_HEAD ROBOTS_TAIL, sizeof ROBOTS_HEAD ROBOTS_TAIL - 1, out, len);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/*
 * feed.c — the other instances' changes, for the redirect cache (issue 8
 * item 5). Several instances on one PostgreSQL each cache links; a change
 * committed by one (an update, a delete, a create where "no such code" may
 * be cached) must reach the others' caches at once, not after the TTL.
 *
 * The writer sends one message per committed group (writer.c: the codes the
 * group changed, or "*"); here one thread per instance listens
 * (store_feed_*, a connection of its own with a heartbeat) and forgets the
 * entries named. While it is not listening (the connection lost, or silent
 * past the heartbeat's deadline) changes would go unseen: the cache is
 * bypassed (redirects read the store; a cached entry answers only when the
 * store cannot, so cached redirects keep answering while PostgreSQL is
 * away) until it listens again, then cleared (what was read meanwhile may
 * predate a change it missed): the negative entries go, the positive ones
 * stay only for the next outage, answering when the store cannot (a feed
 * that reconnected once must not leave a later outage with an empty
 * cache). The TTLs stay as the backstop.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shorty/log.h"
#include "shorty/service.h"
#include "service/internal.h"

#define FEED_WAIT_MS 200 /* how often the thread looks at `stop` */

struct svc_feed {
	svc *v;
	store_feed *feed;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool first;  /* the first try to listen is over (svc__feed_start waits) */
	char self[SVC_FEED_TAG_MAX + 1]; /* our writer's tag: its messages are not news */
};

/* One message: "TAG CODES", CODES separated by commas, or "*". Our own
 * writer's (TAG = ours) are skipped: it forgot those entries at its
 * commit, and forgetting them again here would drop what a redirect has
 * cached since. */
static void on_msg(const char *msg, void *ud)
{
	svc_feed *f = ud;
	svc *v = f->v;
	char code[SVC_CACHE_KEY_MAX]; /* a cache key: the code, or "domain:code" */
	const char *p = strchr(msg, ' ');
	size_t n;

	if (p && (size_t)(p - msg) == strlen(f->self) && memcmp(msg, f->self, p - msg) == 0)
		return;
	p = p ? p + 1 : msg;
	msg = p;
	if (strcmp(msg, SVC_FEED_ALL) == 0) {
		svc__cache_clear(v);
		return;
	}
	while (*p) {
		bool created = *p == SVC_FEED_CREATED;
		p += created;
		n = strcspn(p, ",");
		if (n > 0 && n < SVC_CACHE_KEY_MAX) {
			memcpy(code, p, n);
			code[n] = '\0';
			if (created) /* what is cached of it was read after */
				svc__cache_forget_negative(v, code);
			else
				svc_cache_forget(v, code);
		}
		p += n + (p[n] == ',');
	}
}

static bool stopping(svc_feed *f)
{
	bool s;

	pthread_mutex_lock(&f->mu);
	s = f->stop;
	pthread_mutex_unlock(&f->mu);
	return s;
}

static void first_done(svc_feed *f)
{
	pthread_mutex_lock(&f->mu);
	f->first = true;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void *feed_main(void *arg)
{
	svc_feed *f = arg;
	bool listening = false;

	pthread_setname_np(pthread_self(), "feed"); /* as the writer's */

	while (!stopping(f)) {
		int r = store_feed_wait(f->feed, FEED_WAIT_MS, on_msg, f);
		if (r == FEED_BACK)
			svc__cache_bypass(f->v, false);
		if (r != FEED_OK)
			first_done(f);
		if (r == FEED_BACK) {
			if (listening)
				continue;
			listening = true;
			log_msg(SH_LOG_INFO, "cache: listening to the other instances' changes");
		} else if (r == FEED_LOST && listening) {
			listening = false;
			svc__cache_bypass(f->v, true);
			log_msg(SH_LOG_WARN, "cache: not listening to the other instances' changes "
			                     "(store unreachable): cache bypassed until it is back");
		}
	}
	return NULL;
}

int svc__feed_start(svc_feed **out, svc *v, const char *url, const char *self, sh_err *err)
{
	svc_feed *f;
	store_feed *feed = NULL;
	int rc;

	*out = NULL;
	rc = store_feed_open(&feed, url, err);
	if (rc || !feed)
		return rc; /* no feed: one process writes this store */
	f = calloc(1, sizeof *f);
	if (!f) {
		store_feed_close(feed);
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	}
	f->v = v;
	f->feed = feed;
	snprintf(f->self, sizeof f->self, "%s", self);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	/* not listening yet: the cache waits for the feed */
	svc__cache_bypass(v, true);
	svc__keys_enable(v); /* a revoke anywhere is told now (keycache.c) */
	if (pthread_create(&f->thread, NULL, feed_main, f) != 0) {
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		store_feed_close(feed);
		free(f);
		return sh_err_set(err, SH_ENOMEM, NULL, "cannot start the change feed thread");
	}
	/* serve once the first try to listen is over (a connect deadline at
	 * most): what is cached before would be emptied when it listens */
	pthread_mutex_lock(&f->mu);
	while (!f->first)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
	*out = f;
	return 0;
}

void svc__feed_stop(svc_feed *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	store_feed_close(f->feed);
	free(f);
}

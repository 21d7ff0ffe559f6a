/*
 * writer.c — the one writer: every write of every front end, as units of
 * work run in group commits on one store connection, and the visit flush.
 *
 * DESIGN.md "Threads and the path of a request": writes go to one writer
 * through a queue; it takes everything queued, runs it in ONE transaction,
 * commits (one fsync for many creates), then completes each unit. The HTTP
 * server starts the thread and only suspends a connection until its unit's
 * `done` resumes it; the CLI runs its units on its own thread with
 * svc_writer_run. Either way the same code below opens, replays and commits
 * the group, forgets the cache entries and counts the created links.
 *
 * No savepoint on the common path: a savepoint per unit costs a statement
 * and a journal record each. When a unit fails (it may have written half),
 * the group is rolled back and run again without it, each unit now in a
 * savepoint so that a second failure costs only itself.
 *
 * Visits: each HTTP worker records into a visit buffer of its own, made
 * here (svc_writer_visitbuf) and flushed by the writer about once a second
 * and when it stops, in a transaction of its own; a unit that reads or
 * deletes visits has them flushed first, so it sees every visit served
 * before it.
 *
 * Memory after a load spike (issue 12: 435 MB stayed): the second quiet
 * flush period (no unit, no visit) after a busy one gives freed heap back
 * to the system with glibc's malloc_trim; by then both visit batches of
 * each buffer are freed too (a quiet flush frees the one it swapped out,
 * visits.c). Freed memory otherwise stays in malloc's arenas, and a spike
 * leaves the process at its peak; one trim per spike costs a walk of the
 * arenas, nothing on the hot path.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shorty/log.h"
#include "shorty/service.h"
#include "shorty/timeutil.h"
#include "service/internal.h"

#define WRITER_FLUSH_NS 1000000000LL /* visit flush period */
#define VISITBUF_MAX 65536           /* visits kept per buffer between flushes */

struct svc_writer {
	svc *v;
	store *ws;         /* the write connection; NULL after a failed reopen */
	char *reopen_url;  /* NULL: ws is borrowed and never reopened */
	store_options o;

	pthread_mutex_t qlock; /* the queue */
	pthread_cond_t qcond;
	svc_unit *qhead, *qtail;
	bool running, stop;
	pthread_t thread;

	svc_feed *feed;        /* the other instances' changes (serve on PostgreSQL) */
	char tag[SVC_FEED_TAG_MAX + 1]; /* starts our messages to them */

	pthread_mutex_t vlock; /* the visit buffers */
	visitbuf **bufs;
	size_t nbufs, capbufs;

	svc__titles *titles; /* page titles of new links (titles.c), or NULL */

	bool busy;      /* a unit ran or visits were flushed this flush period */
	unsigned quiet; /* flush periods without either since */
};

/* ---- units ------------------------------------------------------------------ */

void svc_unit_init(svc_unit *u, svc_unit_kind kind)
{
	memset(u, 0, sizeof *u);
	u->kind = kind;
	svc_create_req_init(&u->create);
}

void svc_unit_clear(svc_unit *u)
{
	svc_create_req_clear(&u->create);
	sh_link_clear(&u->link);
	sh_domain_clear(&u->dom);
}

static void forget_add(svc_unit *u, const char *code)
{
	for (int i = 0; i < 2; i++) {
		if (u->forget[i][0] == '\0') {
			snprintf(u->forget[i], sizeof u->forget[i], "%s", code);
			return;
		}
		if (strcmp(u->forget[i], code) == 0)
			return;
	}
}

/* Outputs back to "not run" before a (re)run. */
static void unit_reset(svc_unit *u)
{
	sh_link_clear(&u->link);
	sh_domain_clear(&u->dom);
	memset(&u->err, 0, sizeof u->err);
	u->existed = false;
	u->domains_changed = false;
	u->created = false;
	u->deleted = 0;
	u->forget[0][0] = u->forget[1][0] = '\0';
	u->rc = 0;
}

/* One unit, inside the group's transaction. */
static int unit_run(svc_writer *w, svc_unit *u)
{
	char key[SVC_CACHE_KEY_MAX];
	svc *v = w->v;
	store *s = w->ws;
	int rc = 0;

	switch (u->kind) {
	case SVC_UNIT_CREATE:
		/* the creator's key; anonymous links have an owner of their own */
		u->create.owner_key_id =
		    u->caller.anonymous ? SH_OWNER_ANONYMOUS : u->caller.key_id;
		/* findIfExists sees what the caller may see (Shlink: the key's rule) */
		u->create.find_owner =
		    u->caller.anonymous ? SH_OWNER_ANONYMOUS : svc_caller_owner(&u->caller);
		rc = svc_shorten(v, s, &u->create, &u->link, &u->existed, &u->err);
		if (rc == 0 && !u->existed) {
			u->created = true;
			/* a reader may have cached "no such code" meanwhile */
			forget_add(u, svc_cache_key(u->link.domain_id, u->link.code, key));
			u->domains_changed = u->link.domain_id != 0;
		}
		return rc;
	case SVC_UNIT_UPDATE:
		u->update.owner_key_id = svc_caller_owner(&u->caller);
		rc = svc_update(v, s, u->code, &u->update, &u->link, &u->err);
		forget_add(u, rc == 0 ? svc_cache_key(u->link.domain_id, u->code, key) : u->code);
		return rc;
	case SVC_UNIT_DELETE: {
		int64_t dom = 0;
		sh_err e = {0};
		rc = svc_delete_on(v, s, u->domain, u->code, svc_caller_owner(&u->caller), &u->err);
		if (svc_domain_id(v, s, u->domain, false, &dom, &e) == 0)
			forget_add(u, svc_cache_key(dom, u->code, key));
		return rc;
	}
	case SVC_UNIT_VISITS_DELETE:
		rc = store_visits_delete(s, u->link_id, &u->deleted);
		if (rc == 0 && u->link_id > 0) {
			/* its cached count is stale now (a visit limit counts again) */
			sh_link l;
			if (svc_get_by_id(v, s, u->link_id, &l) == 0)
				forget_add(u, svc_cache_key(l.domain_id, l.code, key));
			sh_link_clear(&l);
		}
		return rc;
	case SVC_UNIT_RULES_SET:
		rc = svc_rules_set_on(v, s, u->domain, u->code, &u->caller, u->rules, &u->link,
		                      &u->err);
		if (rc == 0)
			forget_add(u, svc_cache_key(u->link.domain_id, u->link.code, key));
		else
			forget_add(u, u->code);
		return rc;
	case SVC_UNIT_TAG_RENAME:
		return store_tag_rename(s, u->tag, u->new_tag);
	case SVC_UNIT_TAGS_DELETE:
		for (int i = 0; i < u->ntags && rc >= 0; i++) {
			rc = store_tag_delete(s, u->tags[i]);
			if (rc == SH_ENOTFOUND)
				rc = 0; /* as Shlink: deleting a missing tag is fine */
		}
		return rc;
	case SVC_UNIT_KEY_CREATE:
		return svc_key_create(s, u->key_name, u->key_role, u->key_text, &u->key, &u->err);
	case SVC_UNIT_KEY_REVOKE:
		forget_add(u, SVC_FEED_KEYS); /* every instance's key cache, at the commit */
		return svc_key_revoke(s, u->key_id, &u->err);
	case SVC_UNIT_CALL:
		return u->call(v, s, u->call_ud, &u->err);
	case SVC_UNIT_DOMAIN_REDIRECTS:
		if (!u->domain_in)
			return SH_EINVAL;
		rc = svc_domain_set_redirects(v, s, u->domain_in, u->given, &u->dom, &u->err);
		u->domains_changed = rc == 0;
		return rc;
	}
	return SH_EINVAL;
}

/* The same unit in a savepoint of its own (the replay after a failure). */
static int unit_run_isolated(svc_writer *w, svc_unit *u)
{
	int rc = store_savepoint(w->ws);

	if (rc < 0)
		return rc;
	rc = unit_run(w, u);
	if (rc < 0) {
		/* ROLLBACK TO keeps the savepoint open: release it after */
		(void)store_rollback_to(w->ws);
		(void)store_release(w->ws);
		return rc;
	}
	return store_release(w->ws);
}

/* ---- the connection --------------------------------------------------------- */

/*
 * After an I/O error on commit the writer's connection is not trusted with
 * another write: PostgreSQL's fsync lesson (research §3.2) is that after a
 * failed fsync the state of the file is unknown and a retry may "succeed"
 * over lost data. So the connection is closed and a new one opened before
 * the next write (after a failed visit flush too); nothing is retried. If
 * the open fails, w->ws stays NULL and every group tries again (its units
 * fail with SH_ESTORE meanwhile).
 */
static int writer_reopen(svc_writer *w)
{
	sh_err err = {0};

	if (!w->reopen_url)
		return w->ws ? 0 : SH_ESTORE;
	/* a store whose data lives only as long as its handles: keep it */
	if (w->ws && !(store_caps(w->ws) & STORE_CAP_REOPEN))
		return 0;
	/* a connection that reconnects by itself does so with its backoff: a
	 * new one here would wait a whole connect deadline per failure while
	 * the server is away (a frozen PostgreSQL: every unit queued behind) */
	if (w->ws && (store_caps(w->ws) & STORE_CAP_RECONNECT))
		return 0;
	if (w->ws)
		store_close(w->ws);
	w->ws = NULL;
	if (store_open(&w->ws, w->reopen_url, &w->o, &err) < 0) {
		w->ws = NULL;
		log_msg(SH_LOG_ERROR, "writer: cannot reopen the store: %s", err.msg);
		return SH_ESTORE;
	}
	log_msg(SH_LOG_WARN, "writer: reopened the store connection after an I/O error");
	return 0;
}

/* ---- visits ----------------------------------------------------------------- */

visitbuf *svc_writer_visitbuf(svc_writer *w)
{
	visitbuf *b = visitbuf_create(VISITBUF_MAX);

	if (!b)
		return NULL;
	pthread_mutex_lock(&w->vlock);
	if (w->nbufs == w->capbufs) {
		size_t cap = w->capbufs ? w->capbufs * 2 : 16;
		visitbuf **nb = realloc(w->bufs, cap * sizeof *nb);
		if (!nb) {
			pthread_mutex_unlock(&w->vlock);
			visitbuf_destroy(b);
			return NULL;
		}
		w->bufs = nb;
		w->capbufs = cap;
	}
	w->bufs[w->nbufs++] = b;
	pthread_mutex_unlock(&w->vlock);
	return b;
}

/* Flushes every registered buffer, in a transaction of its own. */
static int flush_visits(svc_writer *w)
{
	visitbuf **bufs;
	size_t n, flushed = 0;
	int rc;

	/* a copy of the list: a worker may register meanwhile (realloc) */
	pthread_mutex_lock(&w->vlock);
	n = w->nbufs;
	bufs = n ? malloc(n * sizeof *bufs) : NULL;
	if (bufs)
		memcpy(bufs, w->bufs, n * sizeof *bufs);
	pthread_mutex_unlock(&w->vlock);
	if (!bufs)
		return n ? SH_ENOMEM : 0;
	if (!w->ws) { /* no write connection (a reopen failed): keep them */
		free(bufs);
		return SH_ESTORE;
	}
	rc = svc_visits_flush(w->v, w->ws, bufs, n, &flushed);
	if (flushed)
		w->busy = true;
	if (rc < 0)
		log_msg(SH_LOG_WARN, "visit flush failed (%s); kept for the next flush",
		        sh_strerror(rc));
	if (rc == SH_ESTORE)
		writer_reopen(w);
	free(bufs);
	return rc;
}

/* ---- a group ---------------------------------------------------------------- */

static void fail_rest(svc_unit *list, int rc)
{
	for (svc_unit *u = list; u; u = u->next)
		if (!u->failed) {
			u->rc = rc;
			u->failed = true;
		}
}

/*
 * A COMMIT that failed because the connection was lost on the way (a
 * server restart, a cut connection) may have committed all the same: the
 * store cannot tell. Each create of the group is then looked up by its id
 * on the new connection; one that is there with its URL and code was made,
 * and succeeds after all, rather than being refused and made again by the
 * client's retry (a duplicate). A create that is not there failed for sure.
 * On SQLite a failed commit is rolled back, and nothing is found.
 */
static void resolve_commit(svc_writer *w, svc_unit *list)
{
	for (svc_unit *u = list; w->ws && u; u = u->next) {
		sh_link l;
		if (u->kind != SVC_UNIT_CREATE || !u->created || u->link.id <= 0 || !u->link.url)
			continue;
		memset(&l, 0, sizeof l);
		if (store_link_get(w->ws, u->link.id, &l) == 0 && l.url &&
		    strcmp(l.url, u->link.url) == 0 && (!l.code[0] || strcmp(l.code, u->link.code) == 0)) {
			log_msg(SH_LOG_WARN, "writer: the create of %s was committed after all",
			        u->link.code);
			u->rc = 0;
			u->failed = false;
			memset(&u->err, 0, sizeof u->err);
			svc__count_created(w->v);
		}
		sh_link_clear(&l);
	}
}

/* Tells the other instances (their feeds, feed.c) which cache entries
 * the group makes wrong: ONE message per group, sent with the commit, its
 * codes comma-separated, or "*" when they do not fit. Nothing when the
 * group changed no code. */
static int notify_group(svc_writer *w, svc_unit *list)
{
	char msg[STORE_NOTIFY_MAX + 1];
	size_t n, start = strlen(w->tag) + 1, len = start;

	for (svc_unit *u = list; u; u = u->next) {
		if (u->failed)
			continue;
		for (int i = 0; i < 2; i++) {
			if (!u->forget[i][0])
				continue;
			n = strlen(u->forget[i]);
			if (len + n + 2 >= sizeof msg) {
				snprintf(msg, sizeof msg, "%s %s", w->tag, SVC_FEED_ALL);
				return store_notify(w->ws, msg);
			}
			if (len > start)
				msg[len++] = ',';
			if (u->created)
				msg[len++] = SVC_FEED_CREATED;
			memcpy(msg + len, u->forget[i], n);
			len += n;
		}
	}
	if (len == start)
		return 0;
	memcpy(msg, w->tag, start - 1);
	msg[start - 1] = ' ';
	msg[len] = '\0';
	return store_notify(w->ws, msg);
}

/* A unit failed (it may have written half of itself): undo the group, to
 * run it again with each unit in a savepoint (and every op in its own:
 * store_rollback ends group mode). */
static int replay_begin(svc_writer *w, svc_unit *list)
{
	int rc;

	(void)store_rollback(w->ws);
	rc = store_begin(w->ws);
	if (rc < 0)
		fail_rest(list, rc);
	return rc;
}

/* Runs the units of list in one transaction and completes each. Returns
 * the first failed unit's rc (read before done may free it), or 0. */
static int run_group(svc_writer *w, svc_unit *list)
{
	svc_unit *u, *next;
	bool flush = false, retry = false, domains = false;
	int rc, first = 0;

	for (u = list; u; u = u->next) {
		u->failed = false;
		unit_reset(u);
		flush |= u->kind == SVC_UNIT_VISITS_DELETE;
	}
	rc = w->ws ? 0 : writer_reopen(w);
	/* in a transaction of their own, before the group's: a replay of the
	 * group must not lose the visits */
	if (rc == 0 && flush)
		(void)flush_visits(w);
	if (rc == 0)
		rc = w->ws ? store_begin(w->ws) : SH_ESTORE;
	if (rc < 0) {
		fail_rest(list, rc);
		goto complete;
	}
	/* no savepoint per op: a failure anywhere replays the group */
	store_group_begin(w->ws);
again:
	for (u = list; u; u = u->next) {
		if (u->failed)
			continue;
		unit_reset(u);
		u->rc = retry ? unit_run_isolated(w, u) : unit_run(w, u);
		/* in group mode an op that failed inside a unit that went on
		 * (a failure it takes as an answer) may have left part of its
		 * writes: the unit is replayed, not failed */
		if (u->rc >= 0 && !store_group_failed(w->ws))
			continue;
		if (u->rc < 0) {
			/* a queued write's failure found now may be an earlier
			 * unit's: the replay tells whose */
			if (retry || !store_group_deferred(w->ws))
				u->failed = true;
			if (retry)
				continue;
		}
		if ((rc = replay_begin(w, list)) < 0)
			goto complete;
		retry = true;
		goto again;
	}
	rc = notify_group(w, list);
	if (rc == 0)
		rc = store_commit(w->ws);
	if (rc < 0 && !retry && store_group_deferred(w->ws)) {
		/* a queued write failed (found by the NOTIFY or the COMMIT):
		 * not an outage; the replay finds the unit */
		if ((rc = replay_begin(w, list)) < 0)
			goto complete;
		retry = true;
		goto again;
	}
	if (rc < 0) {
		log_msg(SH_LOG_ERROR, "group commit failed: %s",
		        w->ws->last_err.msg[0] ? w->ws->last_err.msg : sh_strerror(rc));
		(void)store_rollback(w->ws);
		/* the group's own codes may be cached in a state the commit was to
		 * change (if it did commit after all: a lost connection), so they
		 * are forgotten; every other entry was read from committed data
		 * (readers have connections of their own) and stays: a store
		 * outage must not take the cached redirects with it */
		for (u = list; u; u = u->next)
			for (int i = 0; i < 2; i++)
				if (u->forget[i][0])
					svc_cache_forget(w->v, u->forget[i]);
		fail_rest(list, rc);
		/* I/O error (not busy/full): new connection first */
		if (rc == SH_ESTORE && writer_reopen(w) == 0)
			resolve_commit(w, list);
		goto complete;
	}
	svc__links_changed(w->v);
	for (u = list; u; u = u->next) {
		if (u->failed)
			continue;
		if (u->created) {
			svc__count_created(w->v);
			svc__titles_want(w->titles, &u->link); /* untitled: fetch its title */
		}
		/* a reader may have cached the old state between the unit's
		 * own cache update and the commit (of a created code, only "no
		 * such code" can be old) */
		for (int i = 0; i < 2; i++)
			if (u->forget[i][0] && u->created)
				svc__cache_forget_negative(w->v, u->forget[i]);
			else if (u->forget[i][0])
				svc_cache_forget(w->v, u->forget[i]);
		if (u->kind == SVC_UNIT_VISITS_DELETE && u->link_id > 0)
			svc__limits_forget(w->v, u->link_id);
		domains |= u->domains_changed;
	}
	if (domains) { /* before any answer: the next request sees them */
		svc__domains_changed(w->v);
		svc__domains_refresh(w->v, w->ws, true);
	}
complete:
	for (u = list; u && first == 0; u = u->next)
		first = u->rc < 0 ? u->rc : 0;
	for (u = list; u; u = next) {
		next = u->next; /* done may free u */
		u->next = NULL;
		if (u->done)
			u->done(u, u->done_ud);
	}
	return first;
}

int svc_writer_run(svc_writer *w, svc_unit *const *units, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		units[i]->next = i + 1 < n ? units[i + 1] : NULL;
	return run_group(w, units[0]);
}

/* ---- the thread ------------------------------------------------------------- */

/* At each flush tick: the second quiet period after a busy one returns what
 * the spike freed. */
static void trim_when_quiet(svc_writer *w)
{
	if (w->busy) {
		w->busy = false;
		w->quiet = 0;
		return;
	}
	if (w->quiet < 2 && ++w->quiet == 2) {
#ifdef __GLIBC__
		malloc_trim(0);
#endif
	}
}

static void *writer_main(void *arg)
{
	svc_writer *w = arg;
	int64_t next_flush = sh_mono_ns() + WRITER_FLUSH_NS;

	/* named for top -H, perf and scripts/bench's CPU split by thread */
	pthread_setname_np(pthread_self(), "writer");

	for (;;) {
		svc_unit *list;
		bool stop;

		pthread_mutex_lock(&w->qlock);
		while (!w->qhead && !w->stop) {
			int64_t now = sh_mono_ns();
			if (now >= next_flush)
				break;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			int64_t wait = next_flush - now;
			ts.tv_sec += wait / 1000000000LL;
			ts.tv_nsec += wait % 1000000000LL;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&w->qcond, &w->qlock, &ts);
		}
		list = w->qhead;
		w->qhead = w->qtail = NULL;
		stop = w->stop;
		pthread_mutex_unlock(&w->qlock);

		if (list) {
			(void)run_group(w, list);
			w->busy = true;
		}
		if (stop || sh_mono_ns() >= next_flush) {
			(void)flush_visits(w);
			trim_when_quiet(w);
			/* the details past SHORTY_VISIT_RETENTION, a bounded step per
			 * flush (issue 12 item 6) */
			if (!stop && w->ws && svc_visits_prune(w->v, w->ws, sh_now()) < 0)
				log_msg(SH_LOG_WARN, "dropping old visit details failed: %s",
				        w->ws->last_err.msg);
			/* domains another process made or changed */
			svc__domains_refresh(w->v, w->ws, false);
			next_flush = sh_mono_ns() + WRITER_FLUSH_NS;
		}
		if (stop) {
			pthread_mutex_lock(&w->qlock);
			bool empty = w->qhead == NULL;
			pthread_mutex_unlock(&w->qlock);
			if (empty)
				break;
		}
	}
	return NULL;
}

int svc_writer_submit(svc_writer *w, svc_unit *u)
{
	pthread_mutex_lock(&w->qlock);
	if (!w->running || w->stop) {
		pthread_mutex_unlock(&w->qlock);
		return SH_EBUSY;
	}
	u->next = NULL;
	if (w->qtail)
		w->qtail->next = u;
	else
		w->qhead = u;
	w->qtail = u;
	pthread_cond_signal(&w->qcond);
	pthread_mutex_unlock(&w->qlock);
	return 0;
}

/* ---- life cycle ------------------------------------------------------------- */

int svc_writer_create(svc_writer **out, svc *v, store *ws, const char *reopen_url,
                      const store_options *o, sh_err *err)
{
	svc_writer *w = calloc(1, sizeof *w);

	*out = NULL;
	if (!w)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	w->v = v;
	w->ws = ws;
	if (o) {
		w->o = *o;
	} else {
		/* the service's own durability setting, as the store was opened */
		store_options_default(&w->o);
		if (svc_config(v) && svc_config(v)->synchronous)
			w->o.synchronous = svc_config(v)->synchronous;
	}
	if (reopen_url) {
		w->reopen_url = strdup(reopen_url);
		if (!w->reopen_url) {
			free(w);
			return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
		}
	}
	pthread_mutex_init(&w->qlock, NULL);
	pthread_cond_init(&w->qcond, NULL);
	pthread_mutex_init(&w->vlock, NULL);
	*out = w;
	return 0;
}

int svc_writer_start(svc_writer *w, sh_err *err)
{
	int rc;

	/* a server on a store other instances share: listen to their changes */
	{
		uint64_t t = (uint64_t)sh_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)w;
		snprintf(w->tag, sizeof w->tag, "%016llx", (unsigned long long)t);
	}
	if (w->reopen_url &&
	    (rc = svc__feed_start(&w->feed, w->v, w->reopen_url, w->tag, err)) < 0)
		return rc;
	if (svc_config(w->v)->resolve_titles &&
	    (rc = svc__titles_start(&w->titles, w->v, w, err)) < 0) {
		svc__feed_stop(w->feed);
		w->feed = NULL;
		return rc;
	}
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		svc__feed_stop(w->feed);
		w->feed = NULL;
		return sh_err_set(err, SH_ENOMEM, NULL, "cannot start the writer thread");
	}
	pthread_mutex_lock(&w->qlock);
	w->running = true;
	pthread_mutex_unlock(&w->qlock);
	return 0;
}

void svc_writer_stop(svc_writer *w)
{
	bool running;

	if (!w)
		return;
	svc__titles_stop(w->titles); /* before the writer: it takes their units */
	pthread_mutex_lock(&w->qlock);
	running = w->running && !w->stop;
	w->stop = true;
	pthread_cond_signal(&w->qcond);
	pthread_mutex_unlock(&w->qlock);
	if (running)
		pthread_join(w->thread, NULL); /* flushes the visits last */
	svc__feed_stop(w->feed);
	w->feed = NULL;
}

void svc_writer_free(svc_writer *w)
{
	if (!w)
		return;
	svc_writer_stop(w);
	svc__titles_free(w->titles);
	for (size_t i = 0; i < w->nbufs; i++)
		visitbuf_destroy(w->bufs[i]);
	free(w->bufs);
	if (w->reopen_url && w->ws)
		store_close(w->ws);
	free(w->reopen_url);
	pthread_cond_destroy(&w->qcond);
	pthread_mutex_destroy(&w->qlock);
	pthread_mutex_destroy(&w->vlock);
	free(w);
}

const char *svc_writer_store_name(const svc_writer *w)
{
	return w->ws ? w->ws->ops->name : "-";
}

bool svc_writer_store_remote(const svc_writer *w)
{
	return w->ws && svc_store_reconnects(w->ws);
}

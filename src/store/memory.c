/*
 * memory.c — the in-process store backend ("memory:" and "memory:NAME").
 *
 * Implements every member of store_ops (shorty/store.h) over plain arrays,
 * with the same answers the SQLite backend gives, so unit tests of the
 * service and the shared store suite can run without a file. It is built
 * for correctness and clarity, not speed: lookups are linear or binary
 * searches, lists copy and sort.
 *
 * Databases. "memory:" (empty name) is a private database owned by the one
 * handle. "memory:NAME" databases live in a global registry (under
 * mem_registry_mu) with a reference count: every handle opened on the same
 * NAME shares one database until the last handle closes. Each database has
 * its own mutex; every op takes it, so handles on one database can be used
 * from different threads (a single handle, like any store handle, is used
 * by one thread at a time).
 *
 * Transactions. begin takes the database's one write transaction (as
 * SQLite's BEGIN IMMEDIATE): another handle's begin or write waits up to
 * busy_timeout_ms for it to end, then fails with SH_EBUSY. begin pushes a
 * deep copy of the data (snaps[0]); each savepoint pushes another copy.
 *   rollback     restores snaps[0] and ends the transaction;
 *   rollback_to  restores the newest savepoint and KEEPS it (SQL's ROLLBACK
 *                TO semantics: pair it with release, or let commit drop it);
 *   release      drops the newest savepoint, keeping the changes;
 *   commit       drops every copy, keeping the live data.
 * begin inside a transaction, and commit/savepoint outside one, fail
 * with SH_EINVAL (rollback outside one is a no-op); release/rollback_to
 * with no savepoint fail with SH_EINVAL too. While a
 * transaction is open, the other handles read snaps[0] — the committed
 * state — so they never see uncommitted changes (what WAL readers see).
 * Closing a handle inside a transaction rolls it back.
 *
 * Ownership. Everything handed out is a copy: sh_link url/title are
 * malloc'ed for the caller (sh_link_clear), meta values are malloc'ed, and
 * list callbacks run after the lock is dropped on private copies, so a
 * callback may call back into the store.
 *
 * Answers kept the same as sqlite.c's (the shared suite checks both):
 *   - generated ("counter") codes are not stored: such links come back with
 *     code "" (the service derives the code from the id); only custom,
 *     random and hash codes are in the "codes table", are searched and
 *     sorted on, and must be unique;
 *   - titles are cut to SH_TITLE_MAX bytes, visit fields to
 *     SH_VISIT_FIELD_MAX (ip to 64);
 *   - tags of a link are kept sorted by name and without duplicates;
 *   - link_update replaces every field and the tags but not the visit
 *     counters (visits, bot_visits), which only visits_add/visits_delete
 *     change; SH_ETAKEN if a new stored code belongs to another link;
 *   - visits_delete of a link also resets its counters;
 *   - link totals come from the links' counters, orphan totals from the
 *     orphan log; an owner filter (owner_key_id != 0) sees no orphans;
 *   - tags exist only on links: a tag whose last link goes away is gone;
 *   - meta_get of a missing key: SH_ENOTFOUND and *val = NULL;
 *   - a callback's negative return is passed back, a positive one just
 *     stops the iteration (result 0);
 *   - limit <= 0 in a list query means no limit; list order ties are
 *     broken by id in the order's direction; visits list newest (highest
 *     visit id) first;
 *   - link_find_dup matches any generated kind (counter, random, hash);
 *   - a visit with link_id <= 0 is an orphan visit; an unknown kind fails
 *     the whole batch with SH_EINVAL;
 *   - rollback outside a transaction is a no-op (0), as in sqlite.c where
 *     SQLite may already have rolled back on its own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shorty/store.h"
#include "shorty/timeutil.h"

#define MEM_IP_MAX 64

/* ---- data ----------------------------------------------------------------- */

struct mem_visit {
	int64_t id;
	int64_t link_id; /* 0 = orphan */
	int64_t ts;
	int kind, orphan_type;
	char *referer, *user_agent, *visited_url, *ip; /* NULL or owned */
};

struct mem_meta {
	char *key, *val;
};

struct memdata {
	sh_link *links; /* sorted by id; url/title owned */
	size_t nlinks, caplinks;
	struct mem_visit *visits; /* ascending id */
	size_t nvisits, capvisits;
	struct mem_meta *meta;
	size_t nmeta, capmeta;
	sh_api_key *keys; /* ascending id */
	size_t nkeys, capkeys;
	int64_t next_visit_id;
	int64_t id_hwm; /* highest id ever deleted: ids are never reused */
};

struct memstore;

struct memdb {
	char *name; /* NULL: private */
	int refs;
	pthread_mutex_t mu;
	pthread_cond_t txn_done; /* broadcast when a transaction ends */
	struct memdata live;
	struct memstore *owner; /* handle holding the write transaction */
	struct memdata *snaps;  /* [0] = at begin, then one per savepoint */
	size_t nsnaps, capsnaps;
	struct memdb *next; /* registry */
};

struct memstore {
	store base; /* must stay first */
	struct memdb *db;
	int busy_timeout_ms;
	bool read_only;
};

static pthread_mutex_t mem_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct memdb *mem_registry;

static const store_ops memory_ops;

/* ---- small helpers -------------------------------------------------------- */

static int mem_grow(void **arr, size_t *cap, size_t need, size_t elsize)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 8;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * elsize);
	if (!p)
		return SH_ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

#define MEM_GROW(arr, cap, need) mem_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

/* strdup that keeps NULL and bounds the copy to max bytes (0 = no bound). */
static int mem_dup(char **dst, const char *src, size_t max)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = max ? strndup(src, max) : strdup(src);
	return *dst ? 0 : SH_ENOMEM;
}

static int mem_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Literal, ASCII case-insensitive substring test (SQLite LIKE folds ASCII). */
static bool mem_icontains(const char *hay, const char *needle)
{
	size_t n;

	if (!needle || !*needle)
		return true;
	if (!hay)
		return false;
	n = strlen(needle);
	for (; *hay; hay++) {
		size_t i = 0;
		while (i < n && hay[i] &&
		       mem_lower((unsigned char)hay[i]) == mem_lower((unsigned char)needle[i]))
			i++;
		if (i == n)
			return true;
	}
	return false;
}

static void mem_link_free(sh_link *l)
{
	free(l->url);
	free(l->title);
	l->url = l->title = NULL;
}

/* Deep copy of a link (url, title duplicated). dst is overwritten. */
static int mem_link_copy(sh_link *dst, const sh_link *src)
{
	*dst = *src;
	dst->url = dst->title = NULL;
	if (mem_dup(&dst->url, src->url, 0) || mem_dup(&dst->title, src->title, SH_TITLE_MAX)) {
		mem_link_free(dst);
		return SH_ENOMEM;
	}
	return 0;
}

static int mem_tag_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Tags: bounded, NUL-terminated, sorted, no duplicates. */
static void mem_tags_normalize(sh_link *l)
{
	int i, j;

	for (i = 0; i < l->ntags; i++)
		l->tags[i][SH_TAG_MAX] = '\0';
	qsort(l->tags, (size_t)l->ntags, sizeof l->tags[0], mem_tag_cmp);
	for (i = 0, j = 0; i < l->ntags; i++) {
		if (j > 0 && strcmp(l->tags[j - 1], l->tags[i]) == 0)
			continue;
		if (j != i)
			memcpy(l->tags[j], l->tags[i], sizeof l->tags[0]);
		j++;
	}
	for (i = j; i < l->ntags; i++)
		memset(l->tags[i], 0, sizeof l->tags[0]);
	l->ntags = j;
}

static bool mem_link_has_tag(const sh_link *l, const char *tag)
{
	for (int i = 0; i < l->ntags; i++)
		if (strcmp(l->tags[i], tag) == 0)
			return true;
	return false;
}

static void mem_visit_free(struct mem_visit *v)
{
	free(v->referer);
	free(v->user_agent);
	free(v->visited_url);
	free(v->ip);
}

static int mem_visit_copy(struct mem_visit *dst, const struct mem_visit *src)
{
	*dst = *src;
	dst->referer = dst->user_agent = dst->visited_url = dst->ip = NULL;
	if (mem_dup(&dst->referer, src->referer, 0) ||
	    mem_dup(&dst->user_agent, src->user_agent, 0) ||
	    mem_dup(&dst->visited_url, src->visited_url, 0) || mem_dup(&dst->ip, src->ip, 0)) {
		mem_visit_free(dst);
		return SH_ENOMEM;
	}
	return 0;
}

/* ---- whole-database copies (transactions) --------------------------------- */

static void memdata_free(struct memdata *d)
{
	size_t i;

	for (i = 0; i < d->nlinks; i++)
		mem_link_free(&d->links[i]);
	for (i = 0; i < d->nvisits; i++)
		mem_visit_free(&d->visits[i]);
	for (i = 0; i < d->nmeta; i++) {
		free(d->meta[i].key);
		free(d->meta[i].val);
	}
	free(d->links);
	free(d->visits);
	free(d->meta);
	free(d->keys);
	memset(d, 0, sizeof *d);
}

static int memdata_copy(struct memdata *dst, const struct memdata *src)
{
	size_t i;

	memset(dst, 0, sizeof *dst);
	dst->next_visit_id = src->next_visit_id;
	dst->id_hwm = src->id_hwm;
	if (MEM_GROW(dst->links, dst->caplinks, src->nlinks) ||
	    MEM_GROW(dst->visits, dst->capvisits, src->nvisits) ||
	    MEM_GROW(dst->meta, dst->capmeta, src->nmeta) ||
	    MEM_GROW(dst->keys, dst->capkeys, src->nkeys))
		goto fail;
	for (i = 0; i < src->nlinks; i++, dst->nlinks++)
		if (mem_link_copy(&dst->links[i], &src->links[i]))
			goto fail;
	for (i = 0; i < src->nvisits; i++, dst->nvisits++)
		if (mem_visit_copy(&dst->visits[i], &src->visits[i]))
			goto fail;
	for (i = 0; i < src->nmeta; i++, dst->nmeta++) {
		struct mem_meta *m = &dst->meta[i];
		if (mem_dup(&m->key, src->meta[i].key, 0))
			goto fail;
		if (mem_dup(&m->val, src->meta[i].val, 0)) {
			free(m->key);
			goto fail;
		}
	}
	if (src->nkeys)
		memcpy(dst->keys, src->keys, src->nkeys * sizeof *src->keys);
	dst->nkeys = src->nkeys;
	return 0;
fail:
	memdata_free(dst);
	return SH_ENOMEM;
}

/* ---- locking -------------------------------------------------------------- */

static struct memstore *mem_of(store *s)
{
	return (struct memstore *)s;
}

/* Locks the database; returns what this handle reads: the live data, or the
 * committed copy while another handle holds a transaction. */
static const struct memdata *mem_lock_read(struct memstore *ms)
{
	struct memdb *db = ms->db;

	pthread_mutex_lock(&db->mu);
	if (db->owner && db->owner != ms)
		return &db->snaps[0];
	return &db->live;
}

/* Waits (lock held) until no other handle holds the write transaction. */
static int mem_wait_txn(struct memstore *ms)
{
	struct memdb *db = ms->db;
	struct timespec deadline;
	long ms_left = ms->busy_timeout_ms;

	if (!db->owner || db->owner == ms)
		return 0;
	if (ms_left <= 0)
		return SH_EBUSY;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms_left / 1000;
	deadline.tv_nsec += (ms_left % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (db->owner && db->owner != ms)
		if (pthread_cond_timedwait(&db->txn_done, &db->mu, &deadline) == ETIMEDOUT &&
		    db->owner && db->owner != ms)
			return SH_EBUSY;
	return 0;
}

/* Locks the database for a write. On success *d is the live data and the
 * lock is held; on failure the lock is released. */
static int mem_lock_write(struct memstore *ms, struct memdata **d)
{
	struct memdb *db = ms->db;
	int rc;

	if (ms->read_only)
		return sh_err_set(&ms->base.last_err, SH_ESTORE, NULL,
		                  "this store connection is read-only");
	pthread_mutex_lock(&db->mu);
	rc = mem_wait_txn(ms);
	if (rc) {
		pthread_mutex_unlock(&db->mu);
		return sh_err_set(&ms->base.last_err, rc, NULL,
		                  "the in-memory store is locked by another transaction");
	}
	*d = &db->live;
	return 0;
}

static void mem_unlock(struct memstore *ms)
{
	pthread_mutex_unlock(&ms->db->mu);
}

/* ---- open / close --------------------------------------------------------- */

static struct memdb *memdb_new(const char *name)
{
	struct memdb *db = calloc(1, sizeof *db);

	if (!db)
		return NULL;
	if (name && mem_dup(&db->name, name, 0)) {
		free(db);
		return NULL;
	}
	pthread_mutex_init(&db->mu, NULL);
	pthread_cond_init(&db->txn_done, NULL);
	db->live.next_visit_id = 1;
	return db;
}

static void memdb_free(struct memdb *db)
{
	for (size_t i = 0; i < db->nsnaps; i++)
		memdata_free(&db->snaps[i]);
	free(db->snaps);
	memdata_free(&db->live);
	pthread_cond_destroy(&db->txn_done);
	pthread_mutex_destroy(&db->mu);
	free(db->name);
	free(db);
}

int store_memory_open(store **out, const char *name, const store_options *o, sh_err *err)
{
	struct memstore *ms;
	struct memdb *db = NULL;

	*out = NULL;
	if (name && strncmp(name, "memory:", 7) == 0)
		name += 7;
	if (name && !*name)
		name = NULL;
	ms = calloc(1, sizeof *ms);
	if (!ms)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory opening the store");
	ms->base.ops = &memory_ops;
	ms->busy_timeout_ms = o ? o->busy_timeout_ms : 5000;
	ms->read_only = o ? o->read_only : false;

	if (!name) {
		db = memdb_new(NULL);
		if (!db)
			goto nomem;
		db->refs = 1;
	} else {
		pthread_mutex_lock(&mem_registry_mu);
		for (db = mem_registry; db; db = db->next)
			if (strcmp(db->name, name) == 0)
				break;
		if (!db) {
			db = memdb_new(name);
			if (db) {
				db->next = mem_registry;
				mem_registry = db;
			}
		}
		if (db)
			db->refs++;
		pthread_mutex_unlock(&mem_registry_mu);
		if (!db)
			goto nomem;
	}
	ms->db = db;
	*out = &ms->base;
	return 0;
nomem:
	free(ms);
	return sh_err_set(err, SH_ENOMEM, NULL, "out of memory opening the store");
}

static void mem_end_txn(struct memdb *db, bool restore);

static void mem_close(store *s)
{
	struct memstore *ms = mem_of(s);
	struct memdb *db = ms->db;
	bool last;

	pthread_mutex_lock(&db->mu);
	if (db->owner == ms)
		mem_end_txn(db, true);
	pthread_mutex_unlock(&db->mu);

	if (db->name) {
		pthread_mutex_lock(&mem_registry_mu);
		last = --db->refs == 0;
		if (last) {
			struct memdb **pp = &mem_registry;
			while (*pp != db)
				pp = &(*pp)->next;
			*pp = db->next;
		}
		pthread_mutex_unlock(&mem_registry_mu);
	} else {
		last = true;
	}
	if (last)
		memdb_free(db);
	free(ms);
}

/* ---- schema --------------------------------------------------------------- */

static int mem_migrate(store *s, sh_err *err)
{
	return 0;
}

static int mem_schema_version(store *s, int *current, int *latest)
{
	if (current)
		*current = 1;
	if (latest)
		*latest = 1;
	return 0;
}

static int mem_ping(store *s)
{
	return 0;
}

/* ---- transactions --------------------------------------------------------- */

/* Ends the transaction (lock held): restore = roll back to snaps[0]. */
static void mem_end_txn(struct memdb *db, bool restore)
{
	size_t i;

	if (restore && db->nsnaps > 0) {
		memdata_free(&db->live);
		db->live = db->snaps[0];
		memset(&db->snaps[0], 0, sizeof db->snaps[0]);
	}
	for (i = 0; i < db->nsnaps; i++)
		memdata_free(&db->snaps[i]);
	db->nsnaps = 0;
	db->owner = NULL;
	pthread_cond_broadcast(&db->txn_done);
}

/* Pushes a copy of the live data (lock held). */
static int mem_push_snap(struct memdb *db)
{
	if (MEM_GROW(db->snaps, db->capsnaps, db->nsnaps + 1))
		return SH_ENOMEM;
	if (memdata_copy(&db->snaps[db->nsnaps], &db->live))
		return SH_ENOMEM;
	db->nsnaps++;
	return 0;
}

static int mem_begin(store *s)
{
	struct memstore *ms = mem_of(s);
	struct memdb *db = ms->db;
	int rc;

	if (ms->read_only)
		return sh_err_set(&s->last_err, SH_ESTORE, NULL,
		                  "this store connection is read-only");
	pthread_mutex_lock(&db->mu);
	if (db->owner == ms) {
		rc = sh_err_set(&s->last_err, SH_EINVAL, NULL, "a transaction is already open");
		goto out;
	}
	rc = mem_wait_txn(ms);
	if (rc) {
		sh_err_set(&s->last_err, rc, NULL,
		           "the in-memory store is locked by another transaction");
		goto out;
	}
	rc = mem_push_snap(db);
	if (rc == 0)
		db->owner = ms;
out:
	pthread_mutex_unlock(&db->mu);
	return rc;
}

static int mem_txn_op(store *s, int what)
{
	struct memstore *ms = mem_of(s);
	struct memdb *db = ms->db;
	int rc = 0;

	pthread_mutex_lock(&db->mu);
	if (db->owner != ms) {
		if (what != 'r') /* rollback with nothing open: nothing to undo */
			rc = sh_err_set(&s->last_err, SH_EINVAL, NULL, "no transaction is open");
		goto out;
	}
	switch (what) {
	case 'c': /* commit */
		mem_end_txn(db, false);
		break;
	case 'r': /* rollback */
		mem_end_txn(db, true);
		break;
	case 's': /* savepoint */
		rc = mem_push_snap(db);
		break;
	case 'R': /* release */
	case 't': /* rollback_to */
		if (db->nsnaps < 2) {
			rc = sh_err_set(&s->last_err, SH_EINVAL, NULL, "no savepoint is open");
			break;
		}
		if (what == 'R') {
			memdata_free(&db->snaps[--db->nsnaps]);
		} else {
			struct memdata copy;
			rc = memdata_copy(&copy, &db->snaps[db->nsnaps - 1]);
			if (rc == 0) {
				memdata_free(&db->live);
				db->live = copy;
			}
		}
		break;
	}
out:
	pthread_mutex_unlock(&db->mu);
	return rc;
}

static int mem_commit(store *s)
{
	return mem_txn_op(s, 'c');
}

static int mem_rollback(store *s)
{
	return mem_txn_op(s, 'r');
}

static int mem_savepoint(store *s)
{
	return mem_txn_op(s, 's');
}

static int mem_release(store *s)
{
	return mem_txn_op(s, 'R');
}

static int mem_rollback_to(store *s)
{
	return mem_txn_op(s, 't');
}

static bool mem_in_txn(store *s)
{
	struct memstore *ms = mem_of(s);
	bool in;

	pthread_mutex_lock(&ms->db->mu);
	in = ms->db->owner == ms;
	pthread_mutex_unlock(&ms->db->mu);
	return in;
}

/* ---- meta ----------------------------------------------------------------- */

static struct mem_meta *mem_meta_find(const struct memdata *d, const char *key)
{
	for (size_t i = 0; i < d->nmeta; i++)
		if (strcmp(d->meta[i].key, key) == 0)
			return &d->meta[i];
	return NULL;
}

static int mem_meta_get(store *s, const char *key, char **val)
{
	struct memstore *ms = mem_of(s);
	const struct memdata *d;
	struct mem_meta *m;
	int rc;

	*val = NULL;
	if (!key)
		return SH_EINVAL;
	d = mem_lock_read(ms);
	m = mem_meta_find(d, key);
	rc = m ? mem_dup(val, m->val, 0) : SH_ENOTFOUND;
	mem_unlock(ms);
	return rc;
}

static int mem_meta_set(store *s, const char *key, const char *val)
{
	struct memstore *ms = mem_of(s);
	struct memdata *d;
	struct mem_meta *m;
	char *nk = NULL, *nv = NULL;
	int rc;

	if (!key || !val)
		return SH_EINVAL;
	if (mem_dup(&nk, key, 0) || mem_dup(&nv, val, 0)) {
		rc = SH_ENOMEM;
		goto out_free;
	}
	rc = mem_lock_write(ms, &d);
	if (rc)
		goto out_free;
	m = mem_meta_find(d, key);
	if (m) {
		free(m->val);
		m->val = nv;
		nv = NULL;
	} else if (MEM_GROW(d->meta, d->capmeta, d->nmeta + 1)) {
		rc = SH_ENOMEM;
	} else {
		d->meta[d->nmeta++] = (struct mem_meta){.key = nk, .val = nv};
		nk = nv = NULL;
	}
	mem_unlock(ms);
out_free:
	free(nk);
	free(nv);
	return rc;
}

/* ---- links ---------------------------------------------------------------- */

/* Index of id in the sorted links, or where it would go (*found false). */
static size_t mem_link_pos(const struct memdata *d, int64_t id, bool *found)
{
	size_t lo = 0, hi = d->nlinks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->links[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < d->nlinks && d->links[lo].id == id;
	return lo;
}

static sh_link *mem_link_find(const struct memdata *d, int64_t id)
{
	bool found;
	size_t i = mem_link_pos(d, id, &found);

	return found ? &d->links[i] : NULL;
}

/* The link whose stored code (codes table: non-counter kinds) is code. */
static sh_link *mem_code_find(const struct memdata *d, const char *code)
{
	for (size_t i = 0; i < d->nlinks; i++)
		if (d->links[i].code_kind != CODE_KIND_COUNTER &&
		    strcmp(d->links[i].code, code) == 0)
			return &d->links[i];
	return NULL;
}

static int mem_link_check(store *s, const sh_link *l)
{
	const char *why = NULL;

	if (!l || !l->url)
		why = "link: url is required";
	else if (l->id <= 0)
		why = "link: id must be > 0";
	else if (l->code_kind < CODE_KIND_COUNTER || l->code_kind > CODE_KIND_HASH)
		why = "link: unknown code kind";
	else if (l->code_kind != CODE_KIND_COUNTER && !l->code[0])
		why = "link: a stored code is required for this kind";
	else if (strnlen(l->code, sizeof l->code) > CODE_MAX)
		why = "link: code too long";
	else if (l->ntags < 0 || l->ntags > SH_MAX_TAGS)
		why = "link: too many tags";
	if (why)
		return sh_err_set(&s->last_err, SH_EINVAL, NULL, "%s", why);
	return 0;
}

/* The stored form of a caller's link: a copy, counter codes not kept. */
static int mem_link_stored(sh_link *dst, const sh_link *src)
{
	if (mem_link_copy(dst, src))
		return SH_ENOMEM;
	if (dst->code_kind == CODE_KIND_COUNTER)
		memset(dst->code, 0, sizeof dst->code);
	mem_tags_normalize(dst);
	return 0;
}

static int mem_next_id(store *s, int64_t *id)
{
	struct memstore *ms = mem_of(s);
	const struct memdata *d = mem_lock_read(ms);

	*id = d->nlinks ? d->links[d->nlinks - 1].id : 0;
	if (d->id_hwm > *id)
		*id = d->id_hwm;
	(*id)++;
	mem_unlock(ms);
	return 0;
}

static int mem_link_insert(store *s, const sh_link *l)
{
	struct memstore *ms = mem_of(s);
	struct memdata *d;
	sh_link copy;
	size_t pos;
	bool found;
	int rc;

	rc = mem_link_check(s, l);
	if (rc)
		return rc;
	if (mem_link_stored(&copy, l))
		return SH_ENOMEM;
	rc = mem_lock_write(ms, &d);
	if (rc)
		goto fail;
	pos = mem_link_pos(d, l->id, &found);
	if (found || (l->code_kind != CODE_KIND_COUNTER && mem_code_find(d, l->code))) {
		rc = SH_ETAKEN;
	} else if (MEM_GROW(d->links, d->caplinks, d->nlinks + 1)) {
		rc = SH_ENOMEM;
	} else {
		memmove(&d->links[pos + 1], &d->links[pos], (d->nlinks - pos) * sizeof *d->links);
		d->links[pos] = copy;
		d->nlinks++;
	}
	mem_unlock(ms);
	if (rc == 0)
		return 0;
fail:
	mem_link_free(&copy);
	return rc;
}

/* Copies a found link out (lock held), or SH_ENOTFOUND. */
static int mem_link_out(const sh_link *l, sh_link *out)
{
	if (!l)
		return SH_ENOTFOUND;
	return mem_link_copy(out, l);
}

static int mem_link_get(store *s, int64_t id, sh_link *out)
{
	struct memstore *ms = mem_of(s);
	const struct memdata *d = mem_lock_read(ms);
	int rc = mem_link_out(mem_link_find(d, id), out);

	mem_unlock(ms);
	return rc;
}

static int mem_link_get_by_code(store *s, const char *code, sh_link *out)
{
	struct memstore *ms = mem_of(s);
	const struct memdata *d;
	int rc;

	if (!code)
		return SH_EINVAL;
	d = mem_lock_read(ms);
	rc = mem_link_out(mem_code_find(d, code), out);
	mem_unlock(ms);
	return rc;
}

static int mem_code_exists(store *s, const char *code, bool *exists)
{
	struct memstore *ms = mem_of(s);
	const struct memdata *d;

	if (!code)
		return SH_EINVAL;
	d = mem_lock_read(ms);
	*exists = mem_code_find(d, code) != NULL;
	mem_unlock(ms);
	return 0;
}

static int mem_link_find_dup(store *s, uint64_t url_hash, const char *url, int64_t owner_key_id,
                             sh_link *out)
{
	struct memstore *ms = mem_of(s);
	const struct memdata *d;
	const sh_link *best = NULL;
	int rc;

	if (!url)
		return SH_EINVAL;
	d = mem_lock_read(ms);
	/* ids ascend, so the last match is the newest */
	for (size_t i = 0; i < d->nlinks; i++) {
		const sh_link *l = &d->links[i];
		if (l->url_hash == url_hash && l->owner_key_id == owner_key_id &&
		    l->code_kind != CODE_KIND_CUSTOM && l->expires_at == 0 && l->max_visits == 0 &&
		    !l->disabled && strcmp(l->url, url) == 0)
			best = l;
	}
	rc = mem_link_out(best, out);
	mem_unlock(ms);
	return rc;
}

static int mem_link_update(store *s, const sh_link *l)
{
	struct memstore *ms = mem_of(s);
	struct memdata *d;
	sh_link copy, *cur, *other;
	int rc;

	rc = mem_link_check(s, l);
	if (rc)
		return rc;
	if (mem_link_stored(&copy, l))
		return SH_ENOMEM;
	rc = mem_lock_write(ms, &d);
	if (rc)
		goto fail;
	cur = mem_link_find(d, l->id);
	other = l->code_kind != CODE_KIND_COUNTER ? mem_code_find(d, l->code) : NULL;
	if (!cur) {
		rc = SH_ENOTFOUND;
	} else if (other && other != cur) {
		rc = SH_ETAKEN;
	} else {
		copy.visits = cur->visits;
		copy.bot_visits = cur->bot_visits;
		mem_link_free(cur);
		*cur = copy;
	}
	mem_unlock(ms);
	if (rc == 0)
		return 0;
fail:
	mem_link_free(&copy);
	return rc;
}

/* Removes the visit rows of link_id (0: the orphan log); returns how many. */
static int64_t mem_visits_remove(struct memdata *d, int64_t link_id)
{
	size_t i, j;
	int64_t n = 0;

	for (i = 0, j = 0; i < d->nvisits; i++) {
		if (d->visits[i].link_id == link_id) {
			mem_visit_free(&d->visits[i]);
			n++;
			continue;
		}
		if (j != i)
			d->visits[j] = d->visits[i];
		j++;
	}
	d->nvisits = j;
	return n;
}

static int mem_link_delete(store *s, int64_t id)
{
	struct memstore *ms = mem_of(s);
	struct memdata *d;
	size_t pos;
	bool found;
	int rc;

	if (id <= 0)
		return SH_ENOTFOUND;
	rc = mem_lock_write(ms, &d);
	if (rc)
		return rc;
	pos = mem_link_pos(d, id, &found);
	if (!found) {
		rc = SH_ENOTFOUND;
	} else {
		mem_link_free(&d->links[pos]);
		memmove(&d->links[pos], &d->links[pos + 1],
		        (d->nlinks - pos - 1) * sizeof *d->links);
		d->nlinks--;
		mem_visits_remove(d, id);
		if (id > d->id_hwm)
			d->id_hwm = id;
	}
	mem_unlock(ms);
	return rc;
}

/* -- link_list -- */

struct mem_sorted_link {
	const sh_link *l;
	int order;
};

static int mem_cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

/* NULL sorts first, as SQLite sorts NULL before any text. */
static int mem_cmp_str(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

/* LIST_CREATED_DESC is 0; after the CREATED pair every *_DESC value is odd. */
static bool mem_order_desc(int order)
{
	return order == LIST_CREATED_DESC || (order > LIST_CREATED_ASC && (order & 1));
}

static int mem_link_order_cmp(const void *pa, const void *pb)
{
	const struct mem_sorted_link *x = pa, *y = pb;
	const sh_link *a = x->l, *b = y->l;
	int c = 0;

	switch (x->order) {
	case LIST_CREATED_DESC:
	case LIST_CREATED_ASC:
		c = mem_cmp_i64(a->created_at, b->created_at);
		break;
	case LIST_CODE_ASC:
	case LIST_CODE_DESC:
		c = strcmp(a->code, b->code);
		break;
	case LIST_URL_ASC:
	case LIST_URL_DESC:
		c = mem_cmp_str(a->url, b->url);
		break;
	case LIST_TITLE_ASC:
	case LIST_TITLE_DESC:
		c = mem_cmp_str(a->title, b->title);
		break;
	case LIST_VISITS_ASC:
	case LIST_VISITS_DESC:
		c = mem_cmp_i64(a->visits, b->visits);
		break;
	case LIST_NONBOT_VISITS_ASC:
	case LIST_NONBOT_VISITS_DESC:
		c = mem_cmp_i64(a->visits - a->bot_visits, b->visits - b->bot_visits);
		break;
	}
	if (c == 0)
		c = mem_cmp_i64(a->id, b->id); /* ties: by id, same direction */
	return mem_order_desc(x->order) ? -c : c;
}

static bool mem_link_matches(const sh_link *l, const sh_list_query *q, int64_t now)
{
	if (q->owner_key_id && l->owner_key_id != q->owner_key_id)
		return false;
	if (q->crawlable_only && (!l->crawlable || l->disabled))
		return false;
	if (q->before_id > 0 && l->id >= q->before_id)
		return false;
	if (q->start_date && l->created_at < q->start_date)
		return false;
	if (q->end_date && l->created_at > q->end_date)
		return false;
	if (q->exclude_max_visits_reached && l->max_visits > 0 && l->visits >= l->max_visits)
		return false;
	if (q->exclude_past_valid_until && l->expires_at != 0 && l->expires_at <= now)
		return false;
	if (q->search && *q->search && !mem_icontains(l->url, q->search) &&
	    !mem_icontains(l->code, q->search) && !mem_icontains(l->title, q->search))
		return false;
	if (q->tags && q->ntags > 0) {
		int have = 0;
		for (int i = 0; i < q->ntags; i++)
			if (q->tags[i] && mem_link_has_tag(l, q->tags[i]))
				have++;
		if (q->tags_all ? have < q->ntags : have == 0)
			return false;
	}
	return true;
}

/* Start and count of the page [offset, offset + limit) of n rows. */
static void mem_page(size_t n, int64_t limit, int64_t offset, size_t *start, size_t *count)
{
	size_t off = offset > 0 ? (size_t)offset : 0;

	*start = off < n ? off : n;
	*count = n - *start;
	if (limit > 0 && (uint64_t)limit < *count)
		*count = (size_t)limit;
}

static int mem_cb_result(int r)
{
	return r < 0 ? r : 0;
}

static int mem_link_list(store *s, const sh_list_query *q, sh_link_cb cb, void *ud, int64_t *total)
{
	struct memstore *ms = mem_of(s);
	const struct memdata *d;
	struct mem_sorted_link *m = NULL;
	sh_link *page = NULL;
	size_t n = 0, start, count = 0, i, copied = 0;
	int64_t now = 0;
	int rc = 0;

	if (!q || q->order < LIST_CREATED_DESC || q->order > LIST_NONBOT_VISITS_DESC)
		return sh_err_set(&s->last_err, SH_EINVAL, NULL, "link list: unknown order");
	if (q->ntags < 0 || q->ntags > SH_MAX_TAGS || (q->ntags && !q->tags))
		return sh_err_set(&s->last_err, SH_EINVAL, NULL, "link list: too many tags");
	if (q->exclude_past_valid_until)
		now = q->now ? q->now : sh_now();
	d = mem_lock_read(ms);
	if (d->nlinks && !(m = malloc(d->nlinks * sizeof *m))) {
		rc = SH_ENOMEM;
		goto unlock;
	}
	for (i = 0; i < d->nlinks; i++)
		if (mem_link_matches(&d->links[i], q, now))
			m[n++] = (struct mem_sorted_link){.l = &d->links[i], .order = q->order};
	if (n > 1)
		qsort(m, n, sizeof *m, mem_link_order_cmp);
	if (total)
		*total = (int64_t)n;
	mem_page(n, q->limit, q->offset, &start, &count);
	if (count && !(page = calloc(count, sizeof *page))) {
		rc = SH_ENOMEM;
		goto unlock;
	}
	for (; copied < count; copied++) {
		rc = mem_link_copy(&page[copied], m[start + copied].l);
		if (rc)
			break;
	}
unlock:
	mem_unlock(ms);
	for (i = 0; rc == 0 && cb && i < count; i++) {
		int r = cb(&page[i], ud);
		if (r) {
			rc = mem_cb_result(r);
			break;
		}
	}
	for (i = 0; i < copied; i++)
		mem_link_free(&page[i]);
	free(page);
	free(m);
	return rc;
}

/* ---- visits --------------------------------------------------------------- */

static int mem_visits_add(store *s, const sh_visit *v, size_t n)
{
	struct memstore *ms = mem_of(s);
	struct memdata *d;
	int rc;

	if (n && !v)
		return SH_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (v[i].kind < VISIT_NORMAL || v[i].kind > VISIT_HEAD)
			return sh_err_set(&s->last_err, SH_EINVAL, NULL,
			                  "visits add: unknown visit kind");
	if (n == 0)
		return 0;
	rc = mem_lock_write(ms, &d);
	if (rc)
		return rc;
	if (MEM_GROW(d->visits, d->capvisits, d->nvisits + n)) {
		rc = SH_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const sh_visit *x = &v[i];
		struct mem_visit *row = &d->visits[d->nvisits];
		int64_t link_id = x->link_id > 0 ? x->link_id : 0;
		sh_link *l = NULL;

		if (link_id && !(l = mem_link_find(d, link_id)))
			continue; /* the link is gone: drop its visit */
		*row = (struct mem_visit){.link_id = link_id,
		                          .ts = x->ts,
		                          .kind = x->kind,
		                          .orphan_type = link_id ? ORPHAN_NONE : x->orphan_type};
		if (mem_dup(&row->referer, x->referer, SH_VISIT_FIELD_MAX) ||
		    mem_dup(&row->user_agent, x->user_agent, SH_VISIT_FIELD_MAX) ||
		    mem_dup(&row->visited_url, x->visited_url, SH_VISIT_FIELD_MAX) ||
		    mem_dup(&row->ip, x->ip, MEM_IP_MAX)) {
			mem_visit_free(row);
			rc = SH_ENOMEM;
			goto out;
		}
		row->id = d->next_visit_id++;
		d->nvisits++;
		if (l && x->kind != VISIT_HEAD) {
			l->visits++;
			if (x->kind == VISIT_BOT)
				l->bot_visits++;
		}
	}
out:
	mem_unlock(ms);
	return rc;
}

static bool mem_visit_matches(const struct memdata *d, const struct mem_visit *r,
                              const sh_visit_query *q)
{
	const sh_link *l = NULL;

	if (q->link_id > 0 && r->link_id != q->link_id)
		return false;
	if (r->link_id == 0) {
		if (q->orphan == 0 || q->link_id > 0 || q->tag || q->owner_key_id)
			return false;
		if (q->orphan == 1 && q->orphan_type && r->orphan_type != q->orphan_type)
			return false;
	} else if (q->orphan == 1) {
		return false;
	}
	if (q->start_date && r->ts < q->start_date)
		return false;
	if (q->end_date && r->ts > q->end_date)
		return false;
	if (q->exclude_bots && r->kind == VISIT_BOT)
		return false;
	if (r->link_id && (q->tag || q->owner_key_id)) {
		l = mem_link_find(d, r->link_id);
		if (!l)
			return false;
		if (q->tag && !mem_link_has_tag(l, q->tag))
			return false;
		if (q->owner_key_id && l->owner_key_id != q->owner_key_id)
			return false;
	}
	return true;
}

static int mem_visits_list(store *s, const sh_visit_query *q, sh_visit_cb cb, void *ud,
                           int64_t *total)
{
	struct memstore *ms = mem_of(s);
	const struct memdata *d;
	const struct mem_visit **m = NULL;
	struct mem_visit *page = NULL;
	size_t n = 0, start, count = 0, i, copied = 0;
	int rc = 0;

	if (!q)
		return SH_EINVAL;
	d = mem_lock_read(ms);
	if (d->nvisits && !(m = malloc(d->nvisits * sizeof *m))) {
		rc = SH_ENOMEM;
		goto unlock;
	}
	/* newest first: the log is in ascending visit id, walk it backwards */
	for (i = d->nvisits; i-- > 0;)
		if (mem_visit_matches(d, &d->visits[i], q))
			m[n++] = &d->visits[i];
	if (total)
		*total = (int64_t)n;
	mem_page(n, q->limit, q->offset, &start, &count);
	if (count && !(page = calloc(count, sizeof *page))) {
		rc = SH_ENOMEM;
		goto unlock;
	}
	for (; copied < count; copied++) {
		rc = mem_visit_copy(&page[copied], m[start + copied]);
		if (rc)
			break;
	}
unlock:
	mem_unlock(ms);
	for (i = 0; rc == 0 && cb && i < count; i++) {
		const struct mem_visit *r = &page[i];
		sh_visit v = {.link_id = r->link_id,
		              .ts = r->ts,
		              .kind = r->kind,
		              .orphan_type = r->orphan_type,
		              .referer = r->referer,
		              .user_agent = r->user_agent,
		              .visited_url = r->visited_url,
		              .ip = r->ip};
		int cr = cb(&v, r->id, ud);
		if (cr) {
			rc = mem_cb_result(cr);
			break;
		}
	}
	for (i = 0; i < copied; i++)
		mem_visit_free(&page[i]);
	free(page);
	free(m);
	return rc;
}

static int mem_visits_totals(store *s, int64_t owner_key_id, sh_visit_totals *links,
                             sh_visit_totals *orphans)
{
	struct memstore *ms = mem_of(s);
	const struct memdata *d = mem_lock_read(ms);
	sh_visit_totals lt = {0, 0}, ot = {0, 0};
	size_t i;

	for (i = 0; i < d->nlinks; i++) {
		const sh_link *l = &d->links[i];
		if (owner_key_id && l->owner_key_id != owner_key_id)
			continue;
		lt.total += l->visits;
		lt.bots += l->bot_visits;
	}
	for (i = 0; owner_key_id == 0 && i < d->nvisits; i++) {
		const struct mem_visit *r = &d->visits[i];
		if (r->link_id != 0 || r->kind == VISIT_HEAD)
			continue;
		ot.total++;
		if (r->kind == VISIT_BOT)
			ot.bots++;
	}
	mem_unlock(ms);
	if (links)
		*links = lt;
	if (orphans)
		*orphans = ot;
	return 0;
}

static int mem_visits_delete(store *s, int64_t link_id, int64_t *deleted)
{
	struct memstore *ms = mem_of(s);
	struct memdata *d;
	sh_link *l;
	int64_t n;
	int rc;

	if (link_id < 0)
		return SH_EINVAL;
	rc = mem_lock_write(ms, &d);
	if (rc)
		return rc;
	n = mem_visits_remove(d, link_id);
	if (link_id > 0 && (l = mem_link_find(d, link_id)) != NULL)
		l->visits = l->bot_visits = 0;
	mem_unlock(ms);
	if (deleted)
		*deleted = n;
	return 0;
}

/* ---- tags ----------------------------------------------------------------- */

static int mem_tag_stats_cmp(const void *a, const void *b)
{
	return strcmp(((const sh_tag_stats *)a)->tag, ((const sh_tag_stats *)b)->tag);
}

static int mem_tags_stats(store *s, const sh_tag_query *q, sh_tag_cb cb, void *ud,
                          int64_t *total)
{
	int64_t owner_key_id = q->owner_key_id;
	const char *search = q->search;
	size_t from, to;
	struct memstore *ms = mem_of(s);
	const struct memdata *d;
	sh_tag_stats *t = NULL;
	size_t nt = 0, capt = 0, i, k;
	int rc = 0;

	d = mem_lock_read(ms);
	for (i = 0; i < d->nlinks; i++) {
		const sh_link *l = &d->links[i];
		if (owner_key_id && l->owner_key_id != owner_key_id)
			continue;
		for (int j = 0; j < l->ntags; j++) {
			const char *tag = l->tags[j];
			if ((search && !mem_icontains(tag, search)) ||
			    (q->exact && strcmp(tag, q->exact) != 0))
				continue;
			for (k = 0; k < nt; k++)
				if (strcmp(t[k].tag, tag) == 0)
					break;
			if (k == nt) {
				if (MEM_GROW(t, capt, nt + 1)) {
					rc = SH_ENOMEM;
					goto unlock;
				}
				memset(&t[nt], 0, sizeof t[nt]);
				memcpy(t[nt].tag, tag, strnlen(tag, SH_TAG_MAX));
				nt++;
			}
			t[k].links++;
			t[k].visits += l->visits;
			t[k].bot_visits += l->bot_visits;
		}
	}
unlock:
	mem_unlock(ms);
	if (rc == 0 && nt > 1)
		qsort(t, nt, sizeof *t, mem_tag_stats_cmp);
	if (rc == 0 && total)
		*total = (int64_t)nt;
	/* the page: the test double builds every tag, the SQLite store does not */
	from = q->offset > 0 ? (size_t)q->offset : 0;
	to = q->limit > 0 ? from + (size_t)q->limit : nt;
	for (i = from; rc == 0 && cb && i < nt && i < to; i++) {
		int r = cb(&t[i], ud);
		if (r) {
			rc = mem_cb_result(r);
			break;
		}
	}
	free(t);
	return rc;
}

static bool mem_tag_exists(const struct memdata *d, const char *tag)
{
	for (size_t i = 0; i < d->nlinks; i++)
		if (mem_link_has_tag(&d->links[i], tag))
			return true;
	return false;
}

static int mem_tag_rename(store *s, const char *from, const char *to)
{
	struct memstore *ms = mem_of(s);
	struct memdata *d;
	size_t tolen;
	int rc;

	if (!from || !to)
		return SH_EINVAL;
	tolen = strlen(to);
	if (tolen == 0 || tolen > SH_TAG_MAX)
		return sh_err_set(&s->last_err, SH_EINVAL, "tags", "a tag is 1 to %d characters",
		                  SH_TAG_MAX);
	rc = mem_lock_write(ms, &d);
	if (rc)
		return rc;
	if (!mem_tag_exists(d, from)) {
		rc = SH_ENOTFOUND;
	} else if (strcmp(from, to) != 0 && mem_tag_exists(d, to)) {
		rc = SH_ETAKEN;
	} else {
		for (size_t i = 0; i < d->nlinks; i++) {
			sh_link *l = &d->links[i];
			for (int j = 0; j < l->ntags; j++)
				if (strcmp(l->tags[j], from) == 0) {
					memset(l->tags[j], 0, sizeof l->tags[j]);
					memcpy(l->tags[j], to, tolen);
					mem_tags_normalize(l);
					break;
				}
		}
	}
	mem_unlock(ms);
	return rc;
}

static int mem_tag_delete(store *s, const char *tag)
{
	struct memstore *ms = mem_of(s);
	struct memdata *d;
	bool found = false;
	int rc;

	if (!tag)
		return SH_EINVAL;
	rc = mem_lock_write(ms, &d);
	if (rc)
		return rc;
	for (size_t i = 0; i < d->nlinks; i++) {
		sh_link *l = &d->links[i];
		for (int j = 0; j < l->ntags; j++)
			if (strcmp(l->tags[j], tag) == 0) {
				/* tags are sorted: shifting keeps them sorted */
				memmove(l->tags[j], l->tags[j + 1],
				        (size_t)(l->ntags - j - 1) * sizeof l->tags[0]);
				l->ntags--;
				memset(l->tags[l->ntags], 0, sizeof l->tags[0]);
				found = true;
				break;
			}
	}
	mem_unlock(ms);
	return found ? 0 : SH_ENOTFOUND;
}

/* ---- API keys ------------------------------------------------------------- */

static int mem_key_insert(store *s, sh_api_key *k)
{
	struct memstore *ms = mem_of(s);
	struct memdata *d;
	int rc;

	if (!k)
		return SH_EINVAL;
	rc = mem_lock_write(ms, &d);
	if (rc)
		return rc;
	for (size_t i = 0; i < d->nkeys; i++)
		if (memcmp(d->keys[i].hash, k->hash, SH_KEY_HASH_BYTES) == 0) {
			rc = SH_ETAKEN;
			goto out;
		}
	if (MEM_GROW(d->keys, d->capkeys, d->nkeys + 1)) {
		rc = SH_ENOMEM;
		goto out;
	}
	k->id = d->nkeys ? d->keys[d->nkeys - 1].id + 1 : 1;
	d->keys[d->nkeys] = *k;
	d->keys[d->nkeys].name[SH_KEY_NAME_MAX] = '\0';
	d->keys[d->nkeys].prefix[sizeof k->prefix - 1] = '\0';
	d->nkeys++;
out:
	mem_unlock(ms);
	return rc;
}

static int mem_key_get_by_hash(store *s, const uint8_t hash[SH_KEY_HASH_BYTES], sh_api_key *out)
{
	struct memstore *ms = mem_of(s);
	const struct memdata *d = mem_lock_read(ms);
	int rc = SH_ENOTFOUND;

	for (size_t i = 0; i < d->nkeys; i++)
		if (memcmp(d->keys[i].hash, hash, SH_KEY_HASH_BYTES) == 0) {
			*out = d->keys[i];
			rc = 0;
			break;
		}
	mem_unlock(ms);
	return rc;
}

static int mem_key_list(store *s, sh_key_cb cb, void *ud)
{
	struct memstore *ms = mem_of(s);
	const struct memdata *d = mem_lock_read(ms);
	sh_api_key *copy = NULL;
	size_t n = d->nkeys;
	int rc = 0;

	if (n && !(copy = malloc(n * sizeof *copy)))
		rc = SH_ENOMEM;
	else if (n)
		memcpy(copy, d->keys, n * sizeof *copy);
	mem_unlock(ms);
	for (size_t i = 0; rc == 0 && cb && i < n; i++) {
		int r = cb(&copy[i], ud);
		if (r) {
			rc = mem_cb_result(r);
			break;
		}
	}
	free(copy);
	return rc;
}

static int mem_key_revoke(store *s, int64_t id, int64_t when)
{
	struct memstore *ms = mem_of(s);
	struct memdata *d;
	int rc;

	rc = mem_lock_write(ms, &d);
	if (rc)
		return rc;
	rc = SH_ENOTFOUND;
	for (size_t i = 0; i < d->nkeys; i++)
		if (d->keys[i].id == id) {
			if (d->keys[i].revoked_at == 0)
				d->keys[i].revoked_at = when;
			rc = 0;
			break;
		}
	mem_unlock(ms);
	return rc;
}

static int mem_key_count(store *s, int64_t *n)
{
	struct memstore *ms = mem_of(s);
	const struct memdata *d = mem_lock_read(ms);
	int64_t c = 0;

	for (size_t i = 0; i < d->nkeys; i++)
		if (d->keys[i].revoked_at == 0)
			c++;
	mem_unlock(ms);
	*n = c;
	return 0;
}

/* ---- the table ------------------------------------------------------------ */

static const store_ops memory_ops = {
    .iVersion = 1,
    .name = "memory",
    .close = mem_close,
    .migrate = mem_migrate,
    .schema_version = mem_schema_version,
    .ping = mem_ping,
    .begin = mem_begin,
    .commit = mem_commit,
    .rollback = mem_rollback,
    .savepoint = mem_savepoint,
    .release = mem_release,
    .rollback_to = mem_rollback_to,
    .in_txn = mem_in_txn,
    .meta_get = mem_meta_get,
    .meta_set = mem_meta_set,
    .next_id = mem_next_id,
    .link_insert = mem_link_insert,
    .link_get = mem_link_get,
    .link_get_by_code = mem_link_get_by_code,
    .code_exists = mem_code_exists,
    .link_find_dup = mem_link_find_dup,
    .link_update = mem_link_update,
    .link_delete = mem_link_delete,
    .link_list = mem_link_list,
    .visits_add = mem_visits_add,
    .visits_list = mem_visits_list,
    .visits_totals = mem_visits_totals,
    .visits_delete = mem_visits_delete,
    .tags_stats = mem_tags_stats,
    .tag_rename = mem_tag_rename,
    .tag_delete = mem_tag_delete,
    .key_insert = mem_key_insert,
    .key_get_by_hash = mem_key_get_by_hash,
    .key_list = mem_key_list,
    .key_revoke = mem_key_revoke,
    .key_count = mem_key_count,
};

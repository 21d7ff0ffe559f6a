/*
 * store.c — the thin wrappers every caller goes through to reach a backend.
 *
 * store_open() picks the backend from the URL ("sqlite:PATH" or a bare path,
 * "memory:[NAME]", "postgres://"), and every store_* function below
 * calls the backend's op through one macro. That makes this file the single
 * place for the things that must hold for every backend alike:
 *
 *   - the error counter (shorty_store_errors_total): SH_ENOTFOUND and
 *     SH_ETAKEN are answers, not failures, and are not counted;
 *   - fault injection (like SQLite's test VFS): store_fault_set() or the
 *     SHORTY_FAULT environment variable makes the next matching calls fail
 *     with a chosen code *without reaching the backend*, so tests can check
 *     that a failed insert leaves nothing behind and that callers recover.
 *
 * Ownership of the base struct: the backend allocates the handle and fills
 * base.ops; store_open() sets base.url (a copy of the URL) and store_close()
 * frees it before calling the backend's close. Backends leave base.url alone.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shorty/store.h"
#include "store/feed.h"
#include "store/lookups.h"
#include "store/pqload.h"

static atomic_uint_fast64_t store_errors;

void sh_link_clear(sh_link *l)
{
	if (!l)
		return;
	free(l->url);
	free(l->title);
	free(l->redirect_rules);
	memset(l, 0, sizeof(*l));
}

void sh_domain_clear(sh_domain *d)
{
	if (!d)
		return;
	for (int i = 0; i < SH_REDIRECTS; i++)
		free(d->redirect[i]);
	memset(d, 0, sizeof(*d));
}

void store_options_default(store_options *o)
{
	memset(o, 0, sizeof(*o));
	o->synchronous = "full";
	o->busy_timeout_ms = 5000;
	o->read_only = false;
	o->create = false;
}

uint64_t store_error_count(void)
{
	return atomic_load(&store_errors);
}

/* ---- fault injection ------------------------------------------------------
 * Global, because a test arms it once and the call it targets may run on any
 * handle. `armed` is read without the lock on every call so that an unarmed
 * build pays one atomic load; the rest is under the mutex. */

#define FAULT_OP_MAX 64

static atomic_bool fault_armed;
static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char op[FAULT_OP_MAX]; /* "" = every op */
	int after;             /* matching calls still let through */
	int count;             /* matching calls still to fail; < 0 = forever */
	int code;
} fault;
static char fault_env_seen[256]; /* last SHORTY_FAULT value applied */

void store_fault_set(const char *op_substr, int after, int count, int code)
{
	pthread_mutex_lock(&fault_mu);
	snprintf(fault.op, sizeof(fault.op), "%s", op_substr ? op_substr : "");
	fault.after = after < 0 ? 0 : after;
	fault.count = count;
	fault.code = code < 0 ? code : SH_ESTORE;
	atomic_store(&fault_armed, count != 0);
	pthread_mutex_unlock(&fault_mu);
}

void store_fault_clear(void)
{
	pthread_mutex_lock(&fault_mu);
	memset(&fault, 0, sizeof(fault));
	atomic_store(&fault_armed, false);
	pthread_mutex_unlock(&fault_mu);
}

/* Returns 0 to let the call through, or the code it must fail with. */
static int fault_check(const char *op)
{
	int rc = 0;

	if (!atomic_load_explicit(&fault_armed, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&fault_mu);
	if (fault.count == 0 || (fault.op[0] && !strstr(op, fault.op)))
		goto out;
	if (fault.after > 0) {
		fault.after--;
		goto out;
	}
	rc = fault.code;
	if (fault.count > 0 && --fault.count == 0)
		atomic_store(&fault_armed, false);
out:
	pthread_mutex_unlock(&fault_mu);
	return rc;
}

static const struct {
	const char *name;
	int code;
} code_names[] = {
    {"ENOMEM", SH_ENOMEM}, {"EINVAL", SH_EINVAL},   {"ENOTFOUND", SH_ENOTFOUND},
    {"ETAKEN", SH_ETAKEN}, {"ESTORE", SH_ESTORE},   {"EBUSY", SH_EBUSY},
    {"EFULL", SH_EFULL},   {"ESCHEMA", SH_ESCHEMA},
};

static int parse_int(const char *s, size_t n, long *out)
{
	char buf[32], *end;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	*out = strtol(buf, &end, 10);
	if (errno || *end || *out < -1000000000L || *out > 1000000000L)
		return -1;
	return 0;
}

/* SHORTY_FAULT="op:after:count:code"; code is a number (-9) or a name
 * (EFULL, SH_EFULL). Applied when the value changes, so that opening a
 * second connection does not re-arm a fault that has already fired; an
 * unset variable forgets the last value. */
static int fault_from_env(sh_err *err)
{
	const char *v = getenv("SHORTY_FAULT");
	const char *f[4];
	size_t len[4];
	long after, count, code;
	const char *p;
	int i, changed;

	if (!v || !*v) {
		/* forget the last value, so setting it again re-arms it */
		pthread_mutex_lock(&fault_mu);
		fault_env_seen[0] = '\0';
		pthread_mutex_unlock(&fault_mu);
		return 0;
	}
	pthread_mutex_lock(&fault_mu);
	changed = strcmp(v, fault_env_seen) != 0;
	pthread_mutex_unlock(&fault_mu);
	if (!changed)
		return 0;

	p = v;
	for (i = 0; i < 4; i++) {
		const char *c = i < 3 ? strchr(p, ':') : p + strlen(p);
		if (!c)
			goto bad;
		f[i] = p;
		len[i] = (size_t)(c - p);
		p = c + 1;
	}
	if (len[0] >= FAULT_OP_MAX || parse_int(f[1], len[1], &after) ||
	    parse_int(f[2], len[2], &count))
		goto bad;
	if (parse_int(f[3], len[3], &code)) {
		const char *name = f[3];
		size_t n = len[3];
		if (n > 3 && strncasecmp(name, "SH_", 3) == 0)
			name += 3, n -= 3;
		for (i = 0; i < (int)(sizeof(code_names) / sizeof(code_names[0])); i++)
			if (strlen(code_names[i].name) == n &&
			    strncasecmp(code_names[i].name, name, n) == 0)
				break;
		if (i == (int)(sizeof(code_names) / sizeof(code_names[0])))
			goto bad;
		code = code_names[i].code;
	}
	if (code >= 0)
		goto bad;

	{
		char op[FAULT_OP_MAX];
		memcpy(op, f[0], len[0]);
		op[len[0]] = '\0';
		store_fault_set(op, (int)after, (int)count, (int)code);
	}
	pthread_mutex_lock(&fault_mu);
	snprintf(fault_env_seen, sizeof(fault_env_seen), "%s", v);
	pthread_mutex_unlock(&fault_mu);
	return 0;
bad:
	return sh_err_set(err, SH_EINVAL, NULL,
	                  "SHORTY_FAULT=\"%.64s\" is not op:after:count:code "
	                  "(for example \"link_insert:0:1:EFULL\")",
	                  v);
}

/* ---- open / close -------------------------------------------------------- */

/* "scheme:" where scheme is [A-Za-z][A-Za-z0-9+.-]*: length of the scheme,
 * or 0 when url does not start with one (a bare path). */
static size_t scheme_len(const char *url)
{
	size_t i = 0;

	if (!isalpha((unsigned char)url[0]))
		return 0;
	while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '.' || url[i] == '-')
		i++;
	return url[i] == ':' ? i : 0;
}

/* sqlite:PATH, sqlite:///abs/path, sqlite://rel/path (read as URLs do) */
static int open_sqlite_url(store **out, const char *url, const char *rest, const store_options *o,
                           sh_err *err)
{
	if (rest[0] == '/' && rest[1] == '/')
		rest += 2;
	if (!*rest)
		return sh_err_set(err, SH_EINVAL, "db",
		                  "\"%s\" names no file: use sqlite:PATH, "
		                  "for example sqlite:./data/shorty.db",
		                  url);
	return store_sqlite_open(out, rest, o, err);
}

static int open_memory_url(store **out, const char *url, const char *rest, const store_options *o,
                           sh_err *err)
{
	(void)url;
	return store_memory_open(out, rest, o, err);
}

static int open_postgres_url(store **out, const char *url, const char *rest, const store_options *o,
                             sh_err *err)
{
	int rc;

	(void)rest;
	/* libpq is loaded by the first postgres:// store (store/pqload.h) */
	rc = sh_pq_load(err);
	if (rc < 0)
		return rc;
	return store_postgres_open(out, url, o, err);
}

/* The backends, by URL scheme (a bare path is the first entry's). Each
 * open function gets the whole URL and what follows "scheme:". caps are
 * what the layers above may ask of a store (store_caps). */
static const struct backend {
	const char *scheme;
	int (*open)(store **out, const char *url, const char *rest, const store_options *o,
	            sh_err *err);
	unsigned caps;
	const store_lookup_ops *lookups; /* NULL: none (store_lookups_open gives NULL) */
	const store_feed_ops *feed;      /* NULL: none (store_feed_open gives NULL) */
} backends[] = {
    {"sqlite", open_sqlite_url, STORE_CAP_REOPEN, NULL, NULL},
    /* lives only as long as its handles: closing the last one loses it */
    {"memory", open_memory_url, 0, NULL, NULL},
    {"postgres", open_postgres_url, STORE_CAP_REOPEN | STORE_CAP_RECONNECT | STORE_CAP_CODE_KEY,
     &store_pg_lookup_ops, &store_pg_feed_ops},
    {"postgresql", open_postgres_url, STORE_CAP_REOPEN | STORE_CAP_RECONNECT | STORE_CAP_CODE_KEY,
     &store_pg_lookup_ops, &store_pg_feed_ops},
};
#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

/* The backend of url (a bare path: the first), or NULL for an unknown scheme. */
static const struct backend *backend_of(const char *url)
{
	size_t sl = scheme_len(url);

	if (sl == 0)
		return &backends[0];
	for (size_t i = 0; i < NBACKENDS; i++)
		if (strlen(backends[i].scheme) == sl && strncasecmp(url, backends[i].scheme, sl) == 0)
			return &backends[i];
	return NULL;
}

int store_open(store **out, const char *url, const store_options *o, sh_err *err)
{
	store_options def;
	const struct backend *b;
	store *s = NULL;
	size_t sl;
	int rc;

	*out = NULL;
	if (!o) {
		store_options_default(&def);
		o = &def;
	}
	if (!url || !*url)
		return sh_err_set(err, SH_EINVAL, "db",
		                  "no store given: use --db sqlite:PATH, a file path, "
		                  "or memory:");
	rc = fault_from_env(err);
	if (rc)
		return rc;

	b = backend_of(url);
	sl = scheme_len(url);
	if (!b)
		return sh_err_set(err, SH_EINVAL, "db",
		                  "unknown store \"%.*s:\": use sqlite:PATH (or a bare "
		                  "file path), memory:[NAME] or postgres://USER@HOST/DB",
		                  (int)(sl > 32 ? 32 : sl), url);
	if (sl == 0)
		rc = store_sqlite_open(&s, url, o, err);
	else
		rc = b->open(&s, url, url + sl + 1, o, err);
	if (rc)
		return rc;
	s->url = strdup(url);
	if (!s->url) {
		s->ops->close(s);
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory opening the store");
	}
	*out = s;
	return 0;
}

void store_close(store *s)
{
	if (!s)
		return;
	free(s->url);
	s->url = NULL;
	s->ops->close(s);
}

/* ---- wrappers ------------------------------------------------------------ */

static int counted(int rc)
{
	if (rc < 0 && rc != SH_ENOTFOUND && rc != SH_ETAKEN)
		atomic_fetch_add(&store_errors, 1);
	return rc;
}

/* A fault fails the call before the backend sees it; its detail goes where
 * the backend's would (last_err), so callers that report it still can. */
static int injected(store *s, const char *op, int code)
{
	sh_err_set(&s->last_err, code, NULL, "injected fault in store %s", op);
	return counted(code);
}

#define WRAP(op, ...)                                                                              \
	do {                                                                                       \
		int frc_ = fault_check(#op);                                                       \
		if (frc_)                                                                          \
			return injected(s, #op, frc_);                                             \
		return counted(s->ops->op(s, ##__VA_ARGS__));                                      \
	} while (0)

int store_migrate(store *s, sh_err *err)
{
	int frc = fault_check("migrate");
	if (frc) {
		injected(s, "migrate", frc);
		return sh_err_set(err, frc, NULL, "injected fault in store migrate");
	}
	return counted(s->ops->migrate(s, err));
}

int store_schema_version(store *s, int *current, int *latest)
{
	WRAP(schema_version, current, latest);
}

int store_ping(store *s)
{
	WRAP(ping);
}

int store_begin(store *s)
{
	s->group_deferred = false;
	WRAP(begin);
}

int store_commit(store *s)
{
	s->group = s->group_failed = false;
	WRAP(commit);
}

int store_rollback(store *s)
{
	s->group = s->group_failed = false;
	WRAP(rollback);
}

int store_savepoint(store *s)
{
	WRAP(savepoint);
}

int store_release(store *s)
{
	WRAP(release);
}

int store_rollback_to(store *s)
{
	WRAP(rollback_to);
}

bool store_in_txn(store *s)
{
	return s->ops->in_txn(s);
}

void store_group_begin(store *s)
{
	s->group = true;
	s->group_failed = s->group_deferred = false;
}

bool store_group_failed(const store *s)
{
	return s->group_failed;
}

bool store_group_deferred(const store *s)
{
	return s->group_deferred;
}

int store_meta_get(store *s, const char *key, char **val)
{
	WRAP(meta_get, key, val);
}

int store_meta_set(store *s, const char *key, const char *val)
{
	WRAP(meta_set, key, val);
}

int store_meta_add(store *s, const char *key, const char *val, char **stored)
{
	WRAP(meta_add, key, val, stored);
}

int store_next_id(store *s, int64_t min, int64_t *id)
{
	WRAP(next_id, min, id);
}

int store_link_insert(store *s, const sh_link *l)
{
	WRAP(link_insert, l);
}

int store_link_get(store *s, int64_t id, sh_link *out)
{
	WRAP(link_get, id, out);
}

int store_link_get_by_code(store *s, const char *code, sh_link *out)
{
	WRAP(link_get_by_code, 0, code, out);
}

int store_code_exists(store *s, const char *code, bool *exists)
{
	WRAP(code_exists, 0, code, exists);
}

int store_link_find_dup(store *s, uint64_t url_hash, const char *url, int64_t owner_key_id,
                        sh_link *out)
{
	WRAP(link_find_dup, 0, url_hash, url, owner_key_id, out);
}

int store_link_get_by_code_in(store *s, int64_t domain_id, const char *code, sh_link *out)
{
	WRAP(link_get_by_code, domain_id, code, out);
}

int store_code_exists_in(store *s, int64_t domain_id, const char *code, bool *exists)
{
	WRAP(code_exists, domain_id, code, exists);
}

int store_link_find_dup_in(store *s, int64_t domain_id, uint64_t url_hash, const char *url,
                           int64_t owner_key_id, sh_link *out)
{
	WRAP(link_find_dup, domain_id, url_hash, url, owner_key_id, out);
}

int store_domain_list(store *s, sh_domain_cb cb, void *ud)
{
	WRAP(domain_list, cb, ud);
}

int store_domain_add(store *s, const char *authority, int64_t *id)
{
	WRAP(domain_add, authority, id);
}

int store_domain_set_redirects(store *s, const sh_domain *d)
{
	WRAP(domain_set_redirects, d);
}

int store_link_find_match(store *s, const sh_link_match *m, sh_link *out)
{
	WRAP(link_find_match, m, out);
}

int store_link_update(store *s, const sh_link *l)
{
	WRAP(link_update, l);
}

int store_link_dedupe(store *s, int64_t id, bool on)
{
	WRAP(link_dedupe, id, on);
}

int store_link_delete(store *s, int64_t id)
{
	WRAP(link_delete, id);
}

int store_link_list(store *s, const sh_list_query *q, sh_link_cb cb, void *ud, int64_t *total)
{
	WRAP(link_list, q, cb, ud, total);
}

int store_visits_add(store *s, const sh_visit *v, size_t n)
{
	WRAP(visits_add, v, n);
}

int store_visits_list(store *s, const sh_visit_query *q, sh_visit_cb cb, void *ud, int64_t *total)
{
	WRAP(visits_list, q, cb, ud, total);
}

int store_visits_totals(store *s, int64_t owner_key_id, sh_visit_totals *links,
                        sh_visit_totals *orphans)
{
	WRAP(visits_totals, owner_key_id, links, orphans);
}

int store_visits_delete(store *s, int64_t link_id, int64_t *deleted)
{
	WRAP(visits_delete, link_id, deleted);
}

int store_visits_prune_details(store *s, int64_t before, int64_t max_rows, int64_t *pruned)
{
	WRAP(visits_prune_details, before, max_rows, pruned);
}

int store_tags_stats(store *s, const sh_tag_query *q, sh_tag_cb cb, void *ud, int64_t *total)
{
	WRAP(tags_stats, q, cb, ud, total);
}

int store_tag_rename(store *s, const char *from, const char *to)
{
	WRAP(tag_rename, from, to);
}

int store_tag_delete(store *s, const char *tag)
{
	WRAP(tag_delete, tag);
}

int store_key_insert(store *s, sh_api_key *k)
{
	WRAP(key_insert, k);
}

int store_key_get_by_hash(store *s, const uint8_t hash[SH_KEY_HASH_BYTES], sh_api_key *out)
{
	WRAP(key_get_by_hash, hash, out);
}

int store_key_list(store *s, sh_key_cb cb, void *ud)
{
	WRAP(key_list, cb, ud);
}

int store_key_revoke(store *s, int64_t id, int64_t when)
{
	WRAP(key_revoke, id, when);
}

int store_key_count(store *s, int64_t *n)
{
	WRAP(key_count, n);
}

int store_notify(store *s, const char *msg)
{
	WRAP(notify, msg);
}

/* ---- copying a whole store (store.h: sh_copy_table) ----------------------- */

const sh_copy_def sh_copy_tables[COPY_NTABLES] = {
    [COPY_META] = {"settings", "tt"},
    [COPY_DOMAINS] = {"domains", "ittt" "t"},
    [COPY_KEYS] = {"API keys", "itibtii"},
    [COPY_LINKS] = {"links", "iitit" "iiiii" "iiiii" "tii"},
    [COPY_CODES] = {"codes", "itii"},
    [COPY_TAGS] = {"tags", "it"},
    [COPY_COUNTS] = {"visit counts", "iii"},
    [COPY_VISITS] = {"visits", "iiiii" "ttttt"},
    [COPY_TOTALS] = {"visit totals", "iii"},
};

int store_copy_rows(store *s, int table, sh_row_cb cb, void *ud)
{
	WRAP(copy_rows, table, cb, ud);
}

int store_copy_put(store *s, int table, const sh_cell *row)
{
	WRAP(copy_put, table, row);
}

int store_copy_count(store *s, int64_t *rows)
{
	WRAP(copy_count, rows);
}

int store_copy_finish(store *s)
{
	WRAP(copy_finish);
}

/* ---- the feed of changes, through the backend's table (store.h) --------- */

int store_feed_open(store_feed **out, const char *url, sh_err *err)
{
	const struct backend *b = url ? backend_of(url) : NULL;

	*out = NULL;
	if (!b || !b->feed)
		return 0;
	return b->feed->open(out, url, err);
}

int store_feed_wait(store_feed *f, int timeout_ms, store_feed_cb cb, void *ud)
{
	return f->ops->wait(f, timeout_ms, cb, ud);
}

void store_feed_close(store_feed *f)
{
	if (f)
		f->ops->close(f);
}

/* ---- lookups that do not wait (store.h), through the backend's table ---- */

static atomic_uint_fast64_t lookups_sent;

int store_lookups_open(store_lookups **out, const char *url, store_lookup_cb cb, sh_err *err)
{
	const struct backend *b = url ? backend_of(url) : NULL;

	*out = NULL;
	if (!b || !b->lookups)
		return 0;
	return b->lookups->open(out, url, cb, err);
}

int store_lookup_send(store_lookups *q, int64_t domain_id, int64_t id, const char *code, void *ud)
{
	int rc = q->ops->send(q, domain_id, id, code, ud);

	if (rc == 0)
		atomic_fetch_add_explicit(&lookups_sent, 1, memory_order_relaxed);
	return rc;
}

uint64_t store_lookups_sent_count(void)
{
	return atomic_load(&lookups_sent);
}

int store_lookups_reconnect(store_lookups *q)
{
	return q->ops->reconnect(q);
}

void store_lookups_run(store_lookups *q)
{
	q->ops->run(q);
}

int store_lookups_fd(const store_lookups *q)
{
	return q->ops->fd(q);
}

int store_lookups_timeout_ms(const store_lookups *q)
{
	return q->ops->timeout_ms(q);
}

unsigned store_lookups_inflight(const store_lookups *q)
{
	return q->ops->inflight(q);
}

void store_lookups_close(store_lookups *q)
{
	if (q)
		q->ops->close(q);
}

/* ==== capabilities and locations ==========================================
 * What the layers above may ask about a store without naming its backend
 * (the writer's reopen after an I/O error, the server's shared URL for its
 * threads, the CLI's "no store at X"). Kept together at the end of the file. */

/* The file behind a SQLite URL ("sqlite:PATH", "sqlite://PATH", a bare
 * PATH), or NULL for any other store. */
static const char *sqlite_file(const char *url)
{
	if (!url || !*url || backend_of(url) != &backends[0])
		return NULL;
	if (scheme_len(url) == 0)
		return url;
	url += 7;
	return url[0] == '/' && url[1] == '/' ? url + 2 : url;
}

unsigned store_caps(const store *s)
{
	const struct backend *b = s->url ? backend_of(s->url) : NULL;

	return b ? b->caps : 0;
}

char *store_url_shared(const char *url)
{
	/* an unnamed in-memory store is private to one handle; a name makes
	 * every handle of the process see the same data */
	if (url && strcasecmp(url, "memory:") == 0)
		return strdup("memory:shorty-serve");
	return url ? strdup(url) : NULL;
}

int store_locate(const char *url, char *where, size_t wsz, bool *exists)
{
	const char *path = sqlite_file(url);
	int n;

	if (!url)
		return SH_EINVAL;
	n = snprintf(where, wsz, "%s", path ? path : url);
	if (n < 0 || (size_t)n >= wsz)
		return SH_ETOOBIG;
	/* only a file can be looked at without opening; the others exist
	 * as far as we can tell */
	*exists = !path || access(path, F_OK) == 0;
	return 0;
}

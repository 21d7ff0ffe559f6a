/*
 * domains.c — Shlink's multi-domain (issue 9 item 2): which domain a name
 * or a request's Host means, each domain's "not found" redirects, and the
 * cache that keeps the redirect path from asking the store.
 *
 * The default domain is the base URL's authority (host[:port]): id 0, no
 * row, its redirects from the configuration (as Shlink's DEFAULT_*_REDIRECT
 * variables). Every other domain is a row of the store (sh_domain), made
 * the first time a link or a redirect names it, never deleted; its id and
 * authority never change, so the cache may keep them for ever. Only the
 * redirects change, and other processes (the CLI, another instance on the
 * same PostgreSQL) may add domains: the writer thread reads the cache again
 * right after it committed a change of domains and every DOMAINS_TTL_MS
 * (svc__domains_refresh).
 *
 * The redirect path asks for the domain of every request's Host and never
 * reads the store for it (a store that is down must not cost a cached
 * redirect anything): the default authority and "no domain exists" are
 * answered without a lock (atomics); only a store with domains takes the
 * cache's mutex. Names a client gives (REST ?domain=, the CLI) read the
 * store when the cache does not know them.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "shorty/service.h"
#include "service/internal.h"

#define DOMAINS_TTL_MS 2000
#define DOMAINS_MAX 10000 /* rows the cache keeps (more are read from the store) */

struct domain_cache {
	pthread_mutex_t mu;
	sh_domain *v;           /* n rows, owned */
	size_t n;
	/* atomics, read without the mutex */
	uint64_t ndomains;      /* rows at the last load */
	int64_t loaded_ms;      /* 0 = never */
	uint64_t loaded_gen;    /* svc__domains_gen at the last load */
	uint64_t gen;           /* bumped by svc__domains_changed */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1; /* never 0 */
}

domain_cache *svc__domains_new(void)
{
	domain_cache *c = calloc(1, sizeof(*c));

	if (c && pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

static void rows_free(domain_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		sh_domain_clear(&c->v[i]);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

void svc__domains_free(domain_cache *c)
{
	if (!c)
		return;
	rows_free(c);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void svc__domains_changed(svc *v)
{
	__atomic_add_fetch(&svc__domains(v)->gen, 1, __ATOMIC_RELEASE);
}

static int reload(domain_cache *c, store *s);
static bool fresh(domain_cache *c, int64_t now);

void svc__domains_refresh(svc *v, store *s, bool now)
{
	domain_cache *c = svc__domains(v);

	if (!s || (!now && fresh(c, mono_ms())))
		return;
	pthread_mutex_lock(&c->mu);
	(void)reload(c, s); /* a failure keeps the last rows, tried again next time */
	pthread_mutex_unlock(&c->mu);
}

static bool fresh(domain_cache *c, int64_t now)
{
	int64_t at = __atomic_load_n(&c->loaded_ms, __ATOMIC_ACQUIRE);

	return at != 0 && now - at < DOMAINS_TTL_MS &&
	       __atomic_load_n(&c->loaded_gen, __ATOMIC_ACQUIRE) ==
	           __atomic_load_n(&c->gen, __ATOMIC_ACQUIRE);
}

struct load_ctx {
	sh_domain *v;
	size_t n, cap;
	bool oom;
};

static int load_row(const sh_domain *d, void *ud)
{
	struct load_ctx *l = ud;
	sh_domain *x;

	if (l->n == DOMAINS_MAX)
		return 1;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		sh_domain *nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv) {
			l->oom = true;
			return SH_ENOMEM;
		}
		l->v = nv;
		l->cap = cap;
	}
	x = &l->v[l->n];
	memset(x, 0, sizeof(*x));
	x->id = d->id;
	memcpy(x->authority, d->authority, sizeof(x->authority));
	l->n++;
	for (int i = 0; i < SH_REDIRECTS; i++)
		if (d->redirect[i] && !(x->redirect[i] = strdup(d->redirect[i]))) {
			l->oom = true;
			return SH_ENOMEM;
		}
	return 0;
}

/* Reads every row again (c->mu held). A failure keeps the old rows. */
static int reload(domain_cache *c, store *s)
{
	uint64_t gen = __atomic_load_n(&c->gen, __ATOMIC_ACQUIRE);
	struct load_ctx l = {0};
	int rc;

	if (!s)
		return SH_ESTORE;
	rc = store_domain_list(s, load_row, &l);
	if (rc == 0 && l.oom)
		rc = SH_ENOMEM;
	if (rc) {
		for (size_t i = 0; i < l.n; i++)
			sh_domain_clear(&l.v[i]);
		free(l.v);
		return rc;
	}
	rows_free(c);
	c->v = l.v;
	c->n = l.n;
	__atomic_store_n(&c->ndomains, (uint64_t)l.n, __ATOMIC_RELEASE);
	__atomic_store_n(&c->loaded_gen, gen, __ATOMIC_RELEASE);
	__atomic_store_n(&c->loaded_ms, mono_ms(), __ATOMIC_RELEASE);
	return 0;
}

/* The row of authority (or, authority NULL, of id) into out (copied, the
 * caller clears it). sure: the cache is read again first when it is stale,
 * and on a miss (a name a client gave, which another process may have just
 * made); else (the redirect path) the cache alone answers. SH_ENOTFOUND
 * when there is none. */
static int find_row(svc *v, store *s, const char *authority, int64_t id, bool sure,
                    sh_domain *out)
{
	domain_cache *c = svc__domains(v);
	bool again = sure;
	int rc = SH_ENOTFOUND;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->mu);
	if (sure && !fresh(c, mono_ms())) {
		(void)reload(c, s); /* a failed read answers from the last one */
		again = false;
	}
look:
	for (size_t i = 0; i < c->n; i++) {
		const sh_domain *d = &c->v[i];
		if (authority ? strcmp(d->authority, authority) != 0 : d->id != id)
			continue;
		rc = 0;
		out->id = d->id;
		memcpy(out->authority, d->authority, sizeof(out->authority));
		for (int k = 0; k < SH_REDIRECTS && rc == 0; k++)
			if (d->redirect[k] && !(out->redirect[k] = strdup(d->redirect[k])))
				rc = SH_ENOMEM;
		break;
	}
	if (rc == SH_ENOTFOUND && again && reload(c, s) == 0) {
		again = false;
		goto look;
	}
	pthread_mutex_unlock(&c->mu);
	if (rc)
		sh_domain_clear(out);
	return rc;
}

/* ---- names ----------------------------------------------------------------- */

/* host[:port] as Shlink's HostAndPortValidator takes it: a host name of
 * letters, digits, '-' and '.', or an IPv4 address, and a port of 1..65535;
 * lower-cased into out. */
int svc_domain_check(const char *name, char out[SH_AUTHORITY_MAX + 1], sh_err *err)
{
	size_t n = name ? strlen(name) : 0, i, host;
	const char *colon;
	long port;

	if (n == 0 || n > SH_AUTHORITY_MAX)
		goto bad;
	colon = strchr(name, ':');
	host = colon ? (size_t)(colon - name) : n;
	if (host == 0 || name[0] == '.' || name[0] == '-' || name[host - 1] == '.' ||
	    name[host - 1] == '-')
		goto bad;
	for (i = 0; i < host; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (!isalnum(ch) && ch != '-' && ch != '.')
			goto bad;
		if (ch == '.' && name[i + 1] == '.')
			goto bad;
		out[i] = (char)tolower(ch);
	}
	if (colon) {
		char *end;
		if (!isdigit((unsigned char)colon[1]) || strlen(colon + 1) > 5)
			goto bad;
		port = strtol(colon + 1, &end, 10);
		if (*end || port < 1 || port > 65535)
			goto bad;
	}
	memcpy(out + host, name + host, n - host);
	out[n] = '\0';
	return 0;
bad:
	return sh_err_set(err, SH_EINVAL, "domain",
	                  "domain must be a host name with an optional port, such as "
	                  "s.example.com or s.example.com:8080");
}

int svc_domain_id(svc *v, store *s, const char *name, bool create, int64_t *id, sh_err *err)
{
	char a[SH_AUTHORITY_MAX + 1];
	sh_domain d;
	int rc;

	*id = 0;
	if (!name || !*name || strcasecmp(name, svc_domain_default(v)) == 0)
		return 0;
	if ((rc = svc_domain_check(name, a, err)))
		return rc;
	if (strcmp(a, svc_domain_default(v)) == 0)
		return 0;
	if (create) { /* the writer: the store decides, in the caller's transaction */
		rc = store_domain_add(s, a, id);
		return rc ? svc__store_err(s, rc, err) : 0;
	}
	rc = find_row(v, s, a, 0, true, &d);
	if (rc == SH_ENOTFOUND)
		return sh_err_set(err, rc, "domain", "Domain with authority \"%s\" could not be found",
		                  a);
	if (rc)
		return sh_err_set(err, rc, NULL, "out of memory");
	*id = d.id;
	sh_domain_clear(&d);
	return 0;
}

int64_t svc_domain_of_host(svc *v, store *s, const char *host)
{
	domain_cache *c = svc__domains(v);
	char a[SH_AUTHORITY_MAX + 1];
	sh_err e = {0};
	sh_domain d;
	int64_t id = 0;

	if (!host || !*host || strcasecmp(host, svc_domain_default(v)) == 0)
		return 0;
	/* no domain in the store: every host is the default one (no lock) */
	if (__atomic_load_n(&c->ndomains, __ATOMIC_ACQUIRE) == 0)
		return 0;
	if (svc_domain_check(host, a, &e) != 0 || strcmp(a, svc_domain_default(v)) == 0)
		return 0;
	if (find_row(v, s, a, 0, false, &d) == 0) /* unknown: the default domain */
		id = d.id;
	sh_domain_clear(&d);
	return id;
}

/* ---- redirects --------------------------------------------------------------- */

static const char *config_redirect(const svc *v, int kind)
{
	const sh_config *cfg = svc_config(v);
	const char *u = kind == SH_REDIRECT_BASE_URL       ? cfg->base_url_redirect
	                : kind == SH_REDIRECT_REGULAR_404 ? cfg->regular_404_redirect
	                                                   : cfg->invalid_short_url_redirect;

	return u && *u ? u : NULL;
}

const char *svc_domain_redirect(svc *v, store *s, int64_t id, int kind, char *buf, size_t n)
{
	const char *u = NULL;
	sh_domain d;

	if (kind < 0 || kind >= SH_REDIRECTS || n == 0)
		return NULL;
	if (id == 0) {
		u = config_redirect(v, kind);
	} else if (find_row(v, s, NULL, id, false, &d) == 0) {
		/* a domain without its own redirect: the default ones (Shlink) */
		u = d.redirect[kind] ? d.redirect[kind] : config_redirect(v, kind);
		if (u && (size_t)snprintf(buf, n, "%s", u) >= n)
			u = NULL;
		else if (u)
			u = buf;
		sh_domain_clear(&d);
		return u;
	}
	if (!u || (size_t)snprintf(buf, n, "%s", u) >= n)
		return NULL;
	return buf;
}

int svc_domain_list(svc *v, store *s, sh_domain_cb cb, void *ud)
{
	domain_cache *c = svc__domains(v);
	sh_domain def;
	int rc;

	memset(&def, 0, sizeof(def));
	snprintf(def.authority, sizeof(def.authority), "%s", svc_domain_default(v));
	for (int k = 0; k < SH_REDIRECTS; k++)
		def.redirect[k] = (char *)config_redirect(v, k); /* read only */
	if ((rc = cb(&def, ud)) != 0)
		return rc < 0 ? rc : 0;
	/* the store's rows as they are now (the list is no hot path) */
	pthread_mutex_lock(&c->mu);
	rc = reload(c, s);
	pthread_mutex_unlock(&c->mu);
	if (rc)
		return rc;
	return store_domain_list(s, cb, ud);
}

/* A redirect target must be a URL the policy accepts (the service's own
 * host too: a domain may send its base URL to the default one's page). */
static int check_redirect(svc *v, const char *u, const char *field, char **out, sh_err *err)
{
	url_policy p = *svc_url_policy(v);
	int rc;

	*out = NULL;
	if (!u)
		return 0;
	p.self_host = NULL;
	p.self_names = NULL;
	rc = url_normalize(&p, u, strlen(u), out, err);
	if (rc) {
		err->field = field;
		return rc == SH_EBLOCKED ? SH_EINVAL : rc;
	}
	return 0;
}

struct row_of {
	const char *authority;
	sh_domain *out;
	int rc;
};

static int row_of_cb(const sh_domain *d, void *ud)
{
	struct row_of *r = ud;

	if (strcmp(d->authority, r->authority) != 0)
		return 0;
	for (int k = 0; k < SH_REDIRECTS && r->rc == 0; k++)
		if (d->redirect[k] && !(r->out->redirect[k] = strdup(d->redirect[k])))
			r->rc = SH_ENOMEM;
	return 1;
}

int svc_domain_set_redirects(svc *v, store *s, const sh_domain *d, unsigned given, sh_domain *out,
                             sh_err *err)
{
	static const char *const fields[SH_REDIRECTS] = {"baseUrlRedirect", "regular404Redirect",
	                                                 "invalidShortUrlRedirect"};
	char a[SH_AUTHORITY_MAX + 1];
	struct row_of now = {.authority = a, .out = out};
	int rc, k;

	memset(out, 0, sizeof(*out));
	if ((rc = svc_domain_check(d->authority, a, err)))
		return rc;
	if (strcmp(a, svc_domain_default(v)) == 0)
		return sh_err_set(err, SH_EFORBIDDEN, "domain",
		                  "You cannot configure default domain's redirects this way. Use the "
		                  "configuration or env vars.");
	memcpy(out->authority, a, sizeof(out->authority));
	/* what is not given stays as it is (Shlink) */
	rc = store_domain_list(s, row_of_cb, &now);
	if (rc == 0)
		rc = now.rc;
	if (rc) {
		svc__store_err(s, rc, err);
		goto fail;
	}
	for (k = 0; k < SH_REDIRECTS; k++) {
		if (!(given & (1u << k)))
			continue;
		free(out->redirect[k]);
		if ((rc = check_redirect(v, d->redirect[k], fields[k], &out->redirect[k], err)))
			goto fail;
	}
	if ((rc = store_domain_set_redirects(s, out)) ||
	    (rc = store_domain_add(s, out->authority, &out->id))) {
		svc__store_err(s, rc, err);
		goto fail;
	}
	return 0;
fail:
	sh_domain_clear(out);
	return rc;
}

/* ---- what a link is shown with ------------------------------------------------- */

const char *svc_link_short_url(const svc *v, const sh_link *l, char *buf, size_t bufsz)
{
	const char *base = svc__base(v), *p;
	size_t scheme;

	if (!l->domain[0])
		return svc_short_url(v, l->code, buf, bufsz);
	p = strstr(base, "://");
	scheme = p ? (size_t)(p - base) : 0;
	if (bufsz == 0)
		return buf;
	if ((size_t)snprintf(buf, bufsz, "%.*s://%s/%s", (int)scheme, base, l->domain, l->code) >=
	    bufsz)
		buf[0] = '\0';
	return buf;
}

const char *svc_cache_key(int64_t domain_id, const char *code, char buf[SVC_CACHE_KEY_MAX])
{
	/* '@' is never in a code: "code@7" cannot be another domain's code */
	if (domain_id == 0)
		snprintf(buf, SVC_CACHE_KEY_MAX, "%.*s", CODE_MAX, code);
	else
		snprintf(buf, SVC_CACHE_KEY_MAX, "%.*s@%lld", CODE_MAX, code, (long long)domain_id);
	return buf;
}

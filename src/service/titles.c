/*
 * titles.c — page titles, like Shlink's AUTO_RESOLVE_TITLES: with
 * SHORTY_RESOLVE_TITLES=true, a link created without a title gets the
 * <title> of its long URL's page.
 *
 * Off the request path: the writer answers the create at once and, after
 * the commit, hands the new link here (svc__titles_want); one titles thread
 * fetches the page and sets the title through the writer (a unit of work,
 * so the write is serialized with every other), only if the link still has
 * no title and the same long URL by then.
 *
 * The fetch is libcurl with a 3 s deadline for everything (DNS, connect,
 * redirects, body), a 512 KiB cap on the (decoded) body, http and https
 * only (redirects too), no proxy from the environment, and never a
 * connection to a loopback, private, link-local, multicast, reserved or
 * cloud-metadata address: the check runs in CURLOPT_OPENSOCKETFUNCTION, on
 * the very address curl is about to connect to, after curl resolved the
 * name, and again for every redirect's connection (no window between the
 * check and the connect). The page is parsed with libxml2's HTML parser
 * (it copes with any HTML a browser copes with, and with the page's
 * charset); the first <title> outside an <svg> is the title.
 *
 * Tests only: SHORTY_TEST_ONLY_TITLES_RESOLVE="NAME:PORT:ADDR" (curl's
 * CURLOPT_RESOLVE syntax) makes NAME:PORT resolve to ADDR and lets the
 * fetch connect to ADDR even when it is a loopback address, so that a test
 * can serve pages from its own 127.0.0.1 server. Only that one address is
 * let through; the start logs a warning naming it (docs/security.md).
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "shorty/log.h"
#include "shorty/service.h"
#include "shorty/timeutil.h"
#include "shorty/url.h"
#include "shorty/utf8.h"
#include "service/internal.h"
#include "service/xmlload.h" /* libxml2 loaded when first used */

#define TITLE_DEADLINE_MS 3000L
#define TITLE_BODY_MAX (512 * 1024)
#define TITLE_REDIRECTS_MAX 5L
#define TITLE_QUEUE_MAX 1024 /* links waiting for a fetch; more are dropped */
#define TEST_RESOLVE_ENV "SHORTY_TEST_ONLY_TITLES_RESOLVE"

typedef struct title_job {
	struct title_job *next;
	int64_t link_id;
	char *url;
} title_job;

struct svc__titles {
	svc *v;
	svc_writer *w;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	title_job *head, *tail;
	size_t queued;
	int stop; /* atomic: also read by a fetch in progress, to abort it */
	struct curl_slist *test_resolve;
	struct sockaddr_storage test_addr; /* the one address a test may use */
	bool has_test_addr;
	bool joined; /* the thread has ended */
	uint64_t dropped; /* links that got no title: the queue was full */
};

/* ---- which addresses a fetch may connect to ------------------------------ */

/* Public IPv4 (a in host order): none of the special-purpose blocks of
 * RFC 6890 that are not globally reachable, nor the metadata address. */
static bool v4_public(uint32_t a)
{
	static const struct {
		uint32_t net, mask;
	} deny[] = {
	    {0x00000000u, 0xff000000u}, /* 0/8 "this network" */
	    {0x0a000000u, 0xff000000u}, /* 10/8 private */
	    {0x64400000u, 0xffc00000u}, /* 100.64/10 carrier-grade NAT */
	    {0x7f000000u, 0xff000000u}, /* 127/8 loopback */
	    {0xa9fe0000u, 0xffff0000u}, /* 169.254/16 link-local, 169.254.169.254 metadata */
	    {0xac100000u, 0xfff00000u}, /* 172.16/12 private */
	    {0xc0000000u, 0xffffff00u}, /* 192.0.0/24 protocol assignments */
	    {0xc0000200u, 0xffffff00u}, /* 192.0.2/24 documentation */
	    {0xc0a80000u, 0xffff0000u}, /* 192.168/16 private */
	    {0xc6120000u, 0xfffe0000u}, /* 198.18/15 benchmarking */
	    {0xc6336400u, 0xffffff00u}, /* 198.51.100/24 documentation */
	    {0xcb007100u, 0xffffff00u}, /* 203.0.113/24 documentation */
	    {0xe0000000u, 0xe0000000u}, /* 224/3 multicast, reserved, broadcast */
	};

	for (size_t i = 0; i < sizeof deny / sizeof deny[0]; i++)
		if ((a & deny[i].mask) == deny[i].net)
			return false;
	return true;
}

static uint32_t v4_at(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Public IPv6: not loopback/unspecified/IPv4-compatible (::/96), not
 * unique-local (fc00::/7, fd00:ec2::254 is a metadata address there),
 * link- or site-local (fe80::/9), multicast (ff00::/8), documentation
 * (2001:db8::/32) or Teredo (2001::/32); an IPv4 address inside it
 * (::ffff:0:0/96 mapped, 64:ff9b::/96 NAT64, 2002::/16 6to4) must be public. */
static bool v6_public(const unsigned char *b)
{
	static const unsigned char zero[12] = {0};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};

	if (memcmp(b, zero, 12) == 0)
		return false;
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
		return v4_public(v4_at(b + 12));
	if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0x80)) || b[0] == 0xff)
		return false;
	if (b[0] == 0x20 && b[1] == 0x01 && ((b[2] == 0x0d && b[3] == 0xb8) || (!b[2] && !b[3])))
		return false;
	if (b[0] == 0x20 && b[1] == 0x02)
		return v4_public(v4_at(b + 2));
	return true;
}

static bool same_addr(const struct sockaddr *a, const struct sockaddr_storage *t)
{
	if (a->sa_family != t->ss_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)t)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	              &((const struct sockaddr_in6 *)t)->sin6_addr, 16) == 0;
}

static bool addr_allowed(const svc__titles *t, const struct sockaddr *a)
{
	if (t->has_test_addr && same_addr(a, &t->test_addr))
		return true;
	if (a->sa_family == AF_INET)
		return v4_public(ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr));
	if (a->sa_family == AF_INET6)
		return v6_public(((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr);
	return false;
}

/* ---- one fetch ------------------------------------------------------------ */

typedef struct fetch {
	svc__titles *t;
	char *body;
	size_t len;
	bool refused; /* an address was not allowed */
} fetch;

/* curl calls this for every connection, with the resolved address: the
 * one place where the address is checked, and then used */
static curl_socket_t open_checked(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	fetch *f = ud;

	if (purpose != CURLSOCKTYPE_IPCXN || !addr_allowed(f->t, &a->addr)) {
		f->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

/* Keeps the first TITLE_BODY_MAX bytes; then stops the transfer (the title
 * is near the top, and what came is parsed). */
static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	fetch *f = ud;
	size_t want = size * n, room = TITLE_BODY_MAX - f->len;

	if (want > room)
		want = room;
	memcpy(f->body + f->len, p, want);
	f->len += want;
	return f->len == TITLE_BODY_MAX ? 0 : size * n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	fetch *f = ud;

	(void)dt, (void)dn, (void)ut, (void)un;
	return __atomic_load_n(&f->t->stop, __ATOMIC_RELAXED) ? 1 : 0; /* shutting down */
}

/* "text/html; charset=X" -> X into cs (empty when absent). */
static void charset_of(const char *ctype, char *cs, size_t sz)
{
	const char *p = ctype ? strcasestr(ctype, "charset=") : NULL;
	size_t n;

	cs[0] = '\0';
	if (!p)
		return;
	p += 8;
	if (*p == '"')
		p++;
	n = strcspn(p, "\"; \t");
	if (n == 0 || n >= sz)
		return;
	memcpy(cs, p, n);
	cs[n] = '\0';
}

/* The first <title> element, not one inside an <svg> (SVG has its own). */
static xmlNode *find_title(xmlNode *n)
{
	for (; n; n = n->next) {
		xmlNode *in;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (strcasecmp((const char *)n->name, "title") == 0)
			return n;
		if (strcasecmp((const char *)n->name, "svg") == 0)
			continue;
		if ((in = find_title(n->children)))
			return in;
	}
	return NULL;
}

/* The text as a title: runs of white space and control characters become
 * one space, noncharacters and broken bytes go, no space at either end,
 * cut at a character boundary to fit out (at most SH_TITLE_MAX bytes). */
static void clean_title(const char *s, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), len, o = 0;
	bool space = false;
	uint32_t cp;

	if (outsz > SH_TITLE_MAX + 1)
		outsz = SH_TITLE_MAX + 1;
	for (; n > 0; p += len, n -= len) {
		len = sh_utf8_next(p, n, &cp);
		if (len == 0) {
			len = 1;
			continue;
		}
		if (cp <= 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xa0) {
			space = o > 0;
			continue;
		}
		if (sh_unicode_nonchar(cp))
			continue;
		if (o + (space ? 1 : 0) + len >= outsz)
			break;
		if (space)
			out[o++] = ' ';
		space = false;
		memcpy(out + o, p, len);
		o += len;
	}
	out[o] = '\0';
}

static void parse_title(const fetch *f, const char *url, const char *ctype, char *out,
                        size_t outsz)
{
	const int opts = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
	                 HTML_PARSE_NONET | HTML_PARSE_COMPACT;
	char cs[64];
	htmlDocPtr doc;
	xmlNode *title;
	xmlChar *text;

	charset_of(ctype, cs, sizeof cs);
	doc = htmlReadMemory(f->body, (int)f->len, url, cs[0] ? cs : NULL, opts);
	if (!doc && cs[0]) /* a charset libxml2 does not know: let it sniff */
		doc = htmlReadMemory(f->body, (int)f->len, url, NULL, opts);
	if (!doc)
		return;
	title = find_title(xmlDocGetRootElement(doc));
	text = title ? xmlNodeGetContent(title) : NULL;
	if (text)
		clean_title((const char *)text, out, outsz);
	xmlFree(text);
	xmlFreeDoc(doc);
}

/* The title of url's page into out ("" when there is none, or the page
 * could not or may not be read). */
static void fetch_title(svc__titles *t, const char *url, char *out, size_t outsz)
{
	fetch f = {.t = t};
	CURL *c;
	CURLcode rc;
	long status = 0;
	char *ctype = NULL;

	out[0] = '\0';
	f.body = url_transfer_init() == 0 ? malloc(TITLE_BODY_MAX) : NULL;
	c = f.body ? curl_easy_init() : NULL;
	if (!c) {
		free(f.body);
		return;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, TITLE_REDIRECTS_MAX);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TITLE_DEADLINE_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never a proxy from the environment */
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* the cap counts decoded bytes */
	curl_easy_setopt(c, CURLOPT_USERAGENT, "shorty/" SHORTY_VERSION " (page title)");
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_checked);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &f);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &f);
	if (t->test_resolve)
		curl_easy_setopt(c, CURLOPT_RESOLVE, t->test_resolve);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
	if (f.refused) {
		log_msg(SH_LOG_INFO, "page title of %.200s: not fetched (a private, loopback or "
		                     "reserved address)", url);
	} else if ((rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && f.len == TITLE_BODY_MAX)) &&
	           status >= 200 && status < 300 &&
	           (!ctype || strncasecmp(ctype, "text/html", 9) == 0 ||
	            strncasecmp(ctype, "application/xhtml+xml", 21) == 0)) {
		parse_title(&f, url, ctype, out, outsz);
	} else {
		log_msg(SH_LOG_DEBUG, "page title of %.200s: none (%s, status %ld)", url,
		        curl_easy_strerror(rc), status);
	}
	curl_easy_cleanup(c);
	free(f.body);
}

/* ---- setting it, through the writer ---------------------------------------- */

typedef struct title_unit {
	svc_unit u;
	int64_t link_id;
	char *url;
	char title[SH_TITLE_MAX + 1];
} title_unit;

static void title_unit_free(svc_unit *u, void *ud)
{
	title_unit *tu = ud;

	(void)u;
	svc_unit_clear(&tu->u);
	free(tu->url);
	free(tu);
}

/* The unit's call, on the writer's thread: the title only if the link is
 * still there, still untitled and still of the URL that was fetched. */
static int set_title(svc *v, store *ws, void *ud, sh_err *err)
{
	title_unit *tu = ud;
	svc_update_req req;
	sh_link l, out;
	int rc;

	memset(&l, 0, sizeof l);
	memset(&out, 0, sizeof out);
	rc = svc_get_by_id(v, ws, tu->link_id, &l);
	if (rc == SH_ENOTFOUND)
		return 0;
	if (rc)
		return svc__store_err(ws, rc, err);
	if (!l.title && l.url && strcmp(l.url, tu->url) == 0) {
		memset(&req, 0, sizeof req);
		req.has_title = true;
		req.title = tu->title;
		req.now = sh_now();
		req.domain = l.domain[0] ? l.domain : NULL;
		rc = svc_update(v, ws, l.code, &req, &out, err);
		sh_link_clear(&out);
	}
	sh_link_clear(&l);
	return rc;
}

static void submit_title(svc__titles *t, const title_job *j, const char *title)
{
	title_unit *tu = calloc(1, sizeof *tu);

	if (!tu)
		return;
	svc_unit_init(&tu->u, SVC_UNIT_CALL);
	tu->link_id = j->link_id;
	tu->url = strdup(j->url);
	snprintf(tu->title, sizeof tu->title, "%s", title);
	tu->u.call = set_title;
	tu->u.call_ud = tu;
	tu->u.done = title_unit_free;
	tu->u.done_ud = tu;
	if (!tu->url || svc_writer_submit(t->w, &tu->u) < 0) /* stopping: dropped */
		title_unit_free(&tu->u, tu);
}

/* ---- the thread and its queue ------------------------------------------------ */

static void *titles_main(void *arg)
{
	svc__titles *t = arg;
	char title[SH_TITLE_MAX + 1];
	title_job *j;

	pthread_setname_np(pthread_self(), "titles"); /* as the writer's */

	for (;;) {
		pthread_mutex_lock(&t->lock);
		while (!t->head && !__atomic_load_n(&t->stop, __ATOMIC_RELAXED))
			pthread_cond_wait(&t->cond, &t->lock);
		if (__atomic_load_n(&t->stop, __ATOMIC_RELAXED)) {
			pthread_mutex_unlock(&t->lock);
			break;
		}
		j = t->head;
		t->head = j->next;
		if (!t->head)
			t->tail = NULL;
		t->queued--;
		pthread_mutex_unlock(&t->lock);

		fetch_title(t, j->url, title, sizeof title);
		if (title[0])
			submit_title(t, j, title);
		free(j->url);
		free(j);
	}
	return NULL;
}

void svc__titles_want(svc__titles *t, const sh_link *l)
{
	title_job *j;

	if (!t || l->title || !l->url || __atomic_load_n(&t->stop, __ATOMIC_RELAXED))
		return;
	j = calloc(1, sizeof *j);
	if (!j || !(j->url = strdup(l->url))) {
		free(j);
		return;
	}
	j->link_id = l->id;
	pthread_mutex_lock(&t->lock);
	if (t->queued >= TITLE_QUEUE_MAX) {
		uint64_t n = ++t->dropped;

		pthread_mutex_unlock(&t->lock);
		if ((n & (n - 1)) == 0) /* the 1st, 2nd, 4th, ...: a burst is one line or a few */
			log_msg(SH_LOG_WARN,
			        "page titles: %d links wait already; %llu links got no title so far",
			        TITLE_QUEUE_MAX, (unsigned long long)n);
		free(j->url);
		free(j);
		return;
	}
	if (t->tail)
		t->tail->next = j;
	else
		t->head = j;
	t->tail = j;
	t->queued++;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

/* The test-only resolve entry "NAME:PORT:ADDR": curl's list, and ADDR as
 * the one address let through. */
static int test_resolve(svc__titles *t, const char *entry, sh_err *err)
{
	const char *addr = strrchr(entry, ':');
	struct sockaddr_in *a4 = (struct sockaddr_in *)&t->test_addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&t->test_addr;
	char host[64];

	if (!addr || addr == entry || strlen(addr + 1) >= sizeof host)
		return sh_err_set(err, SH_EINVAL, TEST_RESOLVE_ENV, "%s must be NAME:PORT:ADDR",
		                  TEST_RESOLVE_ENV);
	snprintf(host, sizeof host, "%s", addr + 1);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1)
		t->test_addr.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1)
		t->test_addr.ss_family = AF_INET6;
	else
		return sh_err_set(err, SH_EINVAL, TEST_RESOLVE_ENV, "%s: %s is not an IP address",
		                  TEST_RESOLVE_ENV, host);
	t->test_resolve = curl_slist_append(NULL, entry);
	if (!t->test_resolve)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	t->has_test_addr = true;
	log_msg(SH_LOG_WARN, "TEST ONLY: %s=%s lets page-title fetches connect to %s", TEST_RESOLVE_ENV,
	        entry, host);
	return 0;
}

int svc__titles_start(svc__titles **out, svc *v, svc_writer *w, sh_err *err)
{
	const char *entry = getenv(TEST_RESOLVE_ENV);
	svc__titles *t;
	int rc;

	*out = NULL;
	t = calloc(1, sizeof *t);
	if (!t)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	t->v = v;
	t->w = w;
	if ((entry && *entry && (rc = test_resolve(t, entry, err)) < 0) ||
	    (rc = sh_xml_load(err)) < 0) {
		curl_slist_free_all(t->test_resolve);
		free(t);
		return rc;
	}
	xmlInitParser(); /* once, here: libxml2's global set-up is not thread-safe */
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	if (pthread_create(&t->thread, NULL, titles_main, t) != 0) {
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->cond);
		curl_slist_free_all(t->test_resolve);
		free(t);
		return sh_err_set(err, SH_ENOMEM, NULL, "cannot start the page-title thread");
	}
	*out = t;
	return 0;
}

void svc__titles_stop(svc__titles *t)
{
	if (!t || t->joined)
		return;
	pthread_mutex_lock(&t->lock);
	__atomic_store_n(&t->stop, 1, __ATOMIC_RELAXED);
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL); /* a fetch in progress aborts (on_progress) */
	t->joined = true;
}

void svc__titles_free(svc__titles *t)
{
	title_job *j;

	if (!t)
		return;
	svc__titles_stop(t);
	while ((j = t->head)) {
		t->head = j->next;
		free(j->url);
		free(j);
	}
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	curl_slist_free_all(t->test_resolve);
	free(t);
}

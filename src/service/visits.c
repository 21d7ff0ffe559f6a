/*
 * visits.c — per-worker visit buffers and their flush into the store, the
 * rules of recording a visit (bots, the anonymized address), and the visit
 * reads of the fronts (see shorty/service.h).
 *
 * A redirect must not wait for a write, so each HTTP worker records its
 * visits in its own visitbuf; the flusher (the writer thread, about once a
 * second and at shutdown) moves them into the store in one transaction.
 *
 * Each visitbuf has three batches and one small mutex that only its worker
 * and the flusher take:
 *   active  — the worker appends here (visitbuf_add);
 *   spare   — empty; a flush swaps it with active under the mutex (O(1)),
 *             then writes the swapped-out batch without holding the lock;
 *   held    — visits whose flush failed, retried first by the next flush.
 * A batch keeps `max` visits with their details (strings copied into the
 * batch's own arena, truncated to SH_VISIT_FIELD_MAX). Past that, visits of
 * links are still counted per (link, orphan type) in a small hash map and
 * written later without details, so the link counters never lose them;
 * only a HEAD past the limit (logged, never counted) is dropped whole.
 *
 * Only one flush may run at a time (the writer thread is the only caller).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shorty/geoip.h"
#include "shorty/service.h"
#include "service/internal.h"

#define NFIELDS 5 /* referer, user agent, visited URL, ip, client ip (locating) */
#define NO_STR UINT32_MAX
#define ARENA_MIN (16 * 1024)
#define MAP_MIN 64
#define MAP_MAX (1u << 16) /* distinct (link, orphan type) pairs past the limit */
/* Visits per store_visits_add call, across all the workers' batches of a
 * flush: the store counts each distinct link (and link, day) of a call once,
 * so a larger call saves more counter updates. 65536 visits take 3.5 MiB
 * for the length of a flush; if that cannot be had, 256 at a time. */
#define WRITE_CHUNK 65536
#define WRITE_CHUNK_MIN 256

struct vrec {
	int64_t link_id, ts;
	int32_t kind, orphan_type;
	uint32_t off[NFIELDS]; /* arena offsets */
};

struct vcount {
	int64_t link_id;
	int64_t ts;            /* latest visit counted here */
	int32_t orphan_type;
	int32_t used;
	uint64_t normal, bots;
};

struct vbatch {
	struct vrec *recs;     /* max entries, allocated on first use */
	size_t n;
	char *arena;
	size_t used, cap;
	struct vcount *map;    /* open addressing, mcap a power of two */
	size_t mcap, mused;
	uint64_t counted;      /* visits in map */
};

struct visitbuf {
	pthread_mutex_t mu;
	size_t max;
	struct vbatch *active; /* under mu */
	struct vbatch *spare;  /* under mu; flusher-owned during a flush */
	struct vbatch *held;   /* flusher-owned */
	struct vbatch b[3];
	atomic_size_t pending;
	atomic_uint_fast64_t dropped_details;
	atomic_uint_fast64_t lost;
};

/* ---- a batch -------------------------------------------------------------- */

static void batch_reset(struct vbatch *b)
{
	b->n = 0;
	b->used = 0;
	if (b->map && b->mused)
		memset(b->map, 0, b->mcap * sizeof *b->map);
	b->mused = 0;
	b->counted = 0;
}

static void batch_free(struct vbatch *b)
{
	free(b->recs);
	free(b->arena);
	free(b->map);
	memset(b, 0, sizeof *b);
}

static size_t batch_total(const struct vbatch *b)
{
	return b->n + (size_t)b->counted;
}

/* Bytes a field takes in the arena once truncated: cut at SH_VISIT_FIELD_MAX,
 * backing up to the start of a UTF-8 sequence so the text stays valid. */
static size_t field_len(const char *s)
{
	size_t n;

	if (!s)
		return 0;
	n = strnlen(s, SH_VISIT_FIELD_MAX + 1);
	if (n > SH_VISIT_FIELD_MAX) {
		n = SH_VISIT_FIELD_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return n;
}

static bool arena_reserve(struct vbatch *b, size_t need)
{
	size_t cap;
	char *na;

	if (b->used + need <= b->cap)
		return true;
	cap = b->cap ? b->cap : ARENA_MIN;
	while (cap < b->used + need)
		cap *= 2;
	if (cap >= NO_STR)
		return false;
	na = realloc(b->arena, cap);
	if (!na)
		return false;
	b->arena = na;
	b->cap = cap;
	return true;
}

static uint32_t arena_put(struct vbatch *b, const char *s)
{
	size_t n;
	uint32_t off;

	if (!s)
		return NO_STR;
	n = field_len(s);
	off = (uint32_t)b->used;
	memcpy(b->arena + b->used, s, n);
	b->arena[b->used + n] = '\0';
	b->used += n + 1;
	return off;
}

static size_t map_slot(int64_t link_id, int32_t orphan_type, size_t mcap)
{
	uint64_t h = (uint64_t)link_id * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uint32_t)orphan_type;

	return (size_t)(h >> 17 ^ h) & (mcap - 1);
}

static bool map_grow(struct vbatch *b)
{
	struct vcount *old = b->map, *nm;
	size_t oldcap = b->mcap, cap = oldcap ? oldcap * 2 : MAP_MIN, i, j;

	if (cap > MAP_MAX * 2)
		return false;
	nm = calloc(cap, sizeof *nm);
	if (!nm)
		return false;
	for (i = 0; i < oldcap; i++) {
		if (!old[i].used)
			continue;
		for (j = map_slot(old[i].link_id, old[i].orphan_type, cap); nm[j].used;
		     j = (j + 1) & (cap - 1))
			;
		nm[j] = old[i];
	}
	free(old);
	b->map = nm;
	b->mcap = cap;
	return true;
}

/* Counts visits without details. False when the map cannot take a new key. */
static bool map_bump(struct vbatch *b, int64_t link_id, int32_t orphan_type, int64_t ts,
                     uint64_t normal, uint64_t bots)
{
	size_t i;

	/* load factor <= 1/2 keeps the probe sequences short */
	if ((b->mused + 1) * 2 > b->mcap && !map_grow(b)) {
		if (!b->mcap)
			return false;
		/* full: still fine if the key is already there */
	}
	for (i = map_slot(link_id, orphan_type, b->mcap); b->map[i].used; i = (i + 1) & (b->mcap - 1))
		if (b->map[i].link_id == link_id && b->map[i].orphan_type == orphan_type)
			goto found;
	if ((b->mused + 1) * 2 > b->mcap)
		return false;
	b->map[i].used = 1;
	b->map[i].link_id = link_id;
	b->map[i].orphan_type = orphan_type;
	b->mused++;
found:
	b->map[i].normal += normal;
	b->map[i].bots += bots;
	if (ts > b->map[i].ts)
		b->map[i].ts = ts;
	b->counted += normal + bots;
	return true;
}

/* Adds one visit. Returns 0 (kept with details), 1 (counted only, or a HEAD
 * dropped past the limit) or SH_ENOMEM (lost). */
static int batch_add(struct vbatch *b, size_t max, const sh_visit *v)
{
	const char *f[NFIELDS] = {v->referer, v->user_agent, v->visited_url, v->ip, v->client_ip};
	struct vrec *r;
	size_t need = 0;
	int i;

	for (i = 0; i < NFIELDS; i++)
		if (f[i])
			need += field_len(f[i]) + 1;
	if (!b->recs && max > 0)
		b->recs = malloc(max * sizeof *b->recs);
	if (b->recs && b->n < max && arena_reserve(b, need)) {
		r = &b->recs[b->n++];
		r->link_id = v->link_id;
		r->ts = v->ts;
		r->kind = v->kind;
		r->orphan_type = v->orphan_type;
		for (i = 0; i < NFIELDS; i++)
			r->off[i] = arena_put(b, f[i]);
		return 0;
	}
	if (v->kind == VISIT_HEAD)
		return 1;
	if (!map_bump(b, v->link_id, v->orphan_type, v->ts, v->kind == VISIT_BOT ? 0 : 1,
	              v->kind == VISIT_BOT ? 1 : 0))
		return SH_ENOMEM;
	return 1;
}

static const char *arena_str(const struct vbatch *b, uint32_t off)
{
	return off == NO_STR ? NULL : b->arena + off;
}

static void rec_visit(const struct vbatch *b, const struct vrec *r, sh_visit *v)
{
	v->link_id = r->link_id;
	v->ts = r->ts;
	v->kind = r->kind;
	v->orphan_type = r->orphan_type;
	v->referer = arena_str(b, r->off[0]);
	v->user_agent = arena_str(b, r->off[1]);
	v->visited_url = arena_str(b, r->off[2]);
	v->ip = arena_str(b, r->off[3]);
	v->client_ip = arena_str(b, r->off[4]);
	v->location = NULL;
}

/* Moves every visit of src into dst (after a failed flush). Returns how many
 * could not be kept. */
static size_t batch_merge(struct vbatch *dst, size_t max, const struct vbatch *src)
{
	sh_visit v;
	size_t i, lost = 0;
	int r;

	for (i = 0; i < src->n; i++) {
		rec_visit(src, &src->recs[i], &v);
		r = batch_add(dst, max, &v);
		/* a HEAD past the limit is dropped whole: not kept either */
		if (r < 0 || (r == 1 && v.kind == VISIT_HEAD))
			lost++;
	}
	for (i = 0; i < src->mcap; i++) {
		const struct vcount *c = &src->map[i];

		if (c->used && !map_bump(dst, c->link_id, c->orphan_type, c->ts, c->normal, c->bots))
			lost += (size_t)(c->normal + c->bots);
	}
	return lost;
}

/* Collects the visits of a flush into calls of up to cap visits. */
struct vwriter {
	store *s;
	const geoip *geo;  /* NULL: visits are not located */
	sh_visit *c;
	size_t k, cap;
	char **locs;       /* the locations of c[0..k) (JSON), freed per call */
	size_t nlocs, lcap;
};

/* Shlink's visitLocation of the client address, as JSON kept in w until
 * the visits are written; NULL when it is not known (no database, no
 * record, out of memory: the visit is written without it). Looked up
 * here, on the writer's thread, not on the redirect's. */
static const char *vw_locate(struct vwriter *w, const char *ip)
{
	geoip_location loc;
	json_t *j;
	char *text, **nl;

	if (!w->geo || !ip || geoip_lookup(w->geo, ip, &loc) != 0 || geoip_location_empty(&loc))
		return NULL;
	if (w->nlocs == w->lcap) {
		size_t cap = w->lcap ? w->lcap * 2 : 64;
		nl = realloc(w->locs, cap * sizeof *nl);
		if (!nl)
			return NULL;
		w->locs = nl;
		w->lcap = cap;
	}
	j = geoip_location_json(&loc);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text || strlen(text) > SH_VISIT_LOCATION_MAX) {
		free(text);
		return NULL;
	}
	w->locs[w->nlocs++] = text;
	return text;
}

static void vw_free_locs(struct vwriter *w)
{
	for (size_t i = 0; i < w->nlocs; i++)
		free(w->locs[i]);
	w->nlocs = 0;
}

static int vw_put(struct vwriter *w, const sh_visit *v)
{
	int rc;

	w->c[w->k] = *v;
	w->c[w->k].location = vw_locate(w, v->client_ip);
	w->c[w->k++].client_ip = NULL;
	if (w->k < w->cap)
		return 0;
	rc = store_visits_add(w->s, w->c, w->k);
	vw_free_locs(w);
	w->k = 0;
	return rc;
}

static int vw_end(struct vwriter *w)
{
	int rc = w->k ? store_visits_add(w->s, w->c, w->k) : 0;

	vw_free_locs(w);
	w->k = 0;
	return rc;
}

/* Writes a batch: the detailed visits, then the counted ones as visits
 * without details. */
static int batch_write(struct vwriter *w, const struct vbatch *b)
{
	sh_visit v;
	size_t i;
	uint64_t j;
	int rc;

	for (i = 0; i < b->n; i++) {
		rec_visit(b, &b->recs[i], &v);
		if ((rc = vw_put(w, &v)))
			return rc;
	}
	for (i = 0; i < b->mcap; i++) {
		const struct vcount *c = &b->map[i];

		if (!c->used)
			continue;
		for (j = 0; j < c->normal + c->bots; j++) {
			memset(&v, 0, sizeof v);
			v.link_id = c->link_id;
			v.ts = c->ts;
			v.orphan_type = c->orphan_type;
			v.kind = j < c->normal ? VISIT_NORMAL : VISIT_BOT;
			if ((rc = vw_put(w, &v)))
				return rc;
		}
	}
	return 0;
}

/* ---- the buffer --------------------------------------------------------- */

visitbuf *visitbuf_create(size_t max)
{
	visitbuf *b = calloc(1, sizeof *b);

	if (!b)
		return NULL;
	if (pthread_mutex_init(&b->mu, NULL) != 0) {
		free(b);
		return NULL;
	}
	b->max = max;
	b->active = &b->b[0];
	b->spare = &b->b[1];
	b->held = &b->b[2];
	atomic_init(&b->pending, 0);
	atomic_init(&b->dropped_details, 0);
	atomic_init(&b->lost, 0);
	return b;
}

void visitbuf_destroy(visitbuf *b)
{
	int i;

	if (!b)
		return;
	for (i = 0; i < 3; i++)
		batch_free(&b->b[i]);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

int visitbuf_add(visitbuf *b, const sh_visit *v)
{
	int rc;

	pthread_mutex_lock(&b->mu);
	rc = batch_add(b->active, b->max, v);
	pthread_mutex_unlock(&b->mu);
	if (rc == 0) {
		atomic_fetch_add_explicit(&b->pending, 1, memory_order_relaxed);
		return 0;
	}
	atomic_fetch_add_explicit(&b->dropped_details, 1, memory_order_relaxed);
	if (rc == 1) {
		if (v->kind != VISIT_HEAD)
			atomic_fetch_add_explicit(&b->pending, 1, memory_order_relaxed);
		return 0;
	}
	atomic_fetch_add_explicit(&b->lost, 1, memory_order_relaxed);
	return rc;
}

size_t visitbuf_pending(visitbuf *b)
{
	return atomic_load_explicit(&b->pending, memory_order_relaxed);
}

int svc_visits_flush(svc *v, store *s, visitbuf *const *bufs, size_t n, size_t *flushed)
{
	struct vbatch *t;
	struct vwriter w;
	sh_visit small[WRITE_CHUNK_MIN];
	size_t i, total = 0, mine, lost;
	bool nested = false;
	int rc;

	if (flushed)
		*flushed = 0;
	/* take every buffer's active batch: a pointer swap under its mutex; the
	 * worker goes on at once with the (empty) spare */
	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&bufs[i]->mu);
		t = bufs[i]->active;
		bufs[i]->active = bufs[i]->spare;
		bufs[i]->spare = t;
		pthread_mutex_unlock(&bufs[i]->mu);
		total += batch_total(bufs[i]->held) + batch_total(bufs[i]->spare);
	}
	if (total == 0) {
		/* a quiet second: the batches just swapped out (and the held ones)
		 * are empty and the flusher's, so their buffers, grown to what a
		 * load spike needed, go back (they grow again on the next visit;
		 * the other batch goes on the next quiet flush) */
		for (i = 0; i < n; i++) {
			batch_free(bufs[i]->spare);
			batch_free(bufs[i]->held);
		}
		return 0;
	}

	/* all of it in one transaction (or savepoint), so a failure leaves
	 * nothing half-counted and everything can be retried */
	memset(&w, 0, sizeof w);
	w.s = s;
	w.geo = v ? svc__geoip(v) : NULL;
	w.cap = total < WRITE_CHUNK ? total : WRITE_CHUNK;
	w.c = malloc(w.cap * sizeof(*w.c));
	if (!w.c) {
		w.c = small;
		w.cap = WRITE_CHUNK_MIN;
	}
	rc = svc__tx_begin(s, &nested);
	if (rc == 0) {
		for (i = 0; rc == 0 && i < n; i++) {
			rc = batch_write(&w, bufs[i]->held);
			if (rc == 0)
				rc = batch_write(&w, bufs[i]->spare);
		}
		if (rc == 0)
			rc = vw_end(&w);
		rc = svc__tx_end(s, nested, rc);
	}
	if (w.c != small)
		free(w.c);
	vw_free_locs(&w);
	free(w.locs);

	for (i = 0; i < n; i++) {
		visitbuf *b = bufs[i];

		if (rc == 0) {
			mine = batch_total(b->held) + batch_total(b->spare);
			atomic_fetch_sub_explicit(&b->pending, mine, memory_order_relaxed);
			batch_reset(b->held);
			batch_reset(b->spare);
			continue;
		}
		/* keep them for the next try: held takes the swapped-out batch (a
		 * swap when held is empty, else a merge, done here in the flusher,
		 * never on a worker's path) */
		if (batch_total(b->held) == 0) {
			t = b->held;
			b->held = b->spare;
			b->spare = t;
			batch_reset(b->spare);
		} else {
			lost = batch_merge(b->held, b->max, b->spare);
			if (lost) {
				atomic_fetch_add_explicit(&b->lost, lost, memory_order_relaxed);
				atomic_fetch_sub_explicit(&b->pending, lost, memory_order_relaxed);
			}
			batch_reset(b->spare);
		}
	}
	if (rc)
		return rc;
	if (flushed)
		*flushed = total;
	return 0;
}

/* ---- recording a visit: what counts as a bot, what is kept of the address ---- */

/*
 * User agents of link-preview fetchers and crawlers: a redirect served to
 * one of them is recorded as VISIT_BOT (counted apart, not as a person's
 * visit; dub#2309). Matched as case-insensitive substrings. curl, wget and
 * HTTP libraries are NOT here: they are tools people use on purpose.
 */
static const char *const bot_agents[] = {
    "facebookexternalhit",
    "Facebot",
    "Twitterbot",
    "Slackbot",
    "Slack-ImgProxy",
    "Discordbot",
    "TelegramBot",
    "WhatsApp",
    "LinkedInBot",
    "Googlebot",
    "AdsBot-Google",
    "bingbot",
    "BingPreview",
    "Applebot",
    "redditbot",
    "Pinterestbot",
    "SkypeUriPreview",
    "Embedly",
    "Iframely",
    "vkShare",
    "YandexBot",
    "DuckDuckBot",
    "Baiduspider",
    "Mastodon",
    "Bluesky",
    "MicrosoftPreview",
    "Google-InspectionTool",
    NULL,
};

#define BOT_AGENTS (sizeof(bot_agents) / sizeof(*bot_agents) - 1)
_Static_assert(BOT_AGENTS <= 32, "bot_first/bot_second hold one bit per name");

/* Which names have this byte (either case) first, and second: one bit per
 * name of bot_agents. Built once (pthread_once). */
static uint32_t bot_first[256], bot_second[256];
static size_t bot_len[BOT_AGENTS];
static pthread_once_t bot_once = PTHREAD_ONCE_INIT;

static void bot_index(void)
{
	for (size_t k = 0; k < BOT_AGENTS; k++) {
		const unsigned char *a = (const unsigned char *)bot_agents[k];
		bot_len[k] = strlen(bot_agents[k]);
		bot_first[tolower(a[0])] |= 1u << k;
		bot_first[toupper(a[0])] |= 1u << k;
		bot_second[tolower(a[1])] |= 1u << k;
		bot_second[toupper(a[1])] |= 1u << k;
	}
}

/* One pass over the agent: at each byte only the names whose first two
 * letters match there are compared. It was a strcasestr per name, 27 scans
 * of the agent: a fifth of a redirect's instructions (docs/benchmarks.md,
 * "The own engine's hot path"). No library does a case-insensitive
 * multi-substring search for us (Aho-Corasick would be one; 27 names do not
 * need it). */
static bool is_bot(const char *ua)
{
	const unsigned char *u = (const unsigned char *)ua;

	if (!ua)
		return false;
	pthread_once(&bot_once, bot_index);
	for (size_t i = 0; u[i] && u[i + 1]; i++) {
		uint32_t m = bot_first[u[i]] & bot_second[u[i + 1]];
		while (m) {
			int k = __builtin_ctz(m);
			m &= m - 1;
			if (strncasecmp(ua + i, bot_agents[k], bot_len[k]) == 0)
				return true;
		}
	}
	return false;
}

size_t svc_ip4_format(const unsigned char a[4], char *out)
{
	size_t o = 0;

	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100)
			out[o++] = (char)('0' + v / 100);
		if (v >= 10)
			out[o++] = (char)('0' + v / 10 % 10);
		out[o++] = (char)('0' + v % 10);
		out[o++] = i < 3 ? '.' : '\0';
	}
	return o - 1;
}

/* The client address with the host part cleared (IPv4 /24, IPv6 /48). */
static void anonymize_ip(const char *ip, char *out, size_t outsz)
{
	unsigned char a[16];

	out[0] = '\0';
	if (!ip)
		return;
	if (inet_pton(AF_INET, ip, a) == 1) {
		a[3] = 0;
		svc_ip4_format(a, out);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		memset(a + 6, 0, 10);
		inet_ntop(AF_INET6, a, out, (socklen_t)outsz);
	}
}

/* The last address this thread anonymized: the visits of a keep-alive
 * connection all come from one address, and parsing it again (inet_pton)
 * for each was 3% of a cached redirect's instructions. */
static _Thread_local struct {
	char ip[INET6_ADDRSTRLEN], anon[INET6_ADDRSTRLEN];
} anon_memo;

static void anonymize_ip_memo(const char *ip, char out[INET6_ADDRSTRLEN])
{
	if (ip && anon_memo.ip[0] && strcmp(ip, anon_memo.ip) == 0) {
		memcpy(out, anon_memo.anon, sizeof anon_memo.anon);
		return;
	}
	anonymize_ip(ip, out, INET6_ADDRSTRLEN);
	if (ip && strlen(ip) < sizeof anon_memo.ip && out[0]) {
		memcpy(anon_memo.ip, ip, strlen(ip) + 1);
		memcpy(anon_memo.anon, out, sizeof anon_memo.anon);
	}
}

int svc_visit_record(visitbuf *b, const svc_visit_in *in)
{
	sh_visit v;
	char ipbuf[INET6_ADDRSTRLEN];

	memset(&v, 0, sizeof(v));
	v.link_id = in->link_id;
	v.ts = in->now;
	v.kind = in->head ? VISIT_HEAD : is_bot(in->user_agent) ? VISIT_BOT : VISIT_NORMAL;
	v.orphan_type = in->orphan_type;
	anonymize_ip_memo(in->ip, ipbuf);
	v.ip = ipbuf[0] ? ipbuf : NULL;
	if (!in->no_details) {
		v.referer = in->referer;
		v.user_agent = in->user_agent;
		v.visited_url = in->visited_url;
		v.client_ip = ipbuf[0] ? in->ip : NULL; /* located at the flush, then dropped */
	}
	return visitbuf_add(b, &v);
}

int svc_visits_prune(svc *v, store *s, int64_t now)
{
	const sh_config *cfg = v ? svc_config(v) : NULL;
	int64_t n = 0;
	int rc;

	if (!cfg || cfg->visit_retention <= 0)
		return 0;
	rc = store_visits_prune_details(s, now - cfg->visit_retention, SVC_PRUNE_ROWS, &n);
	if (rc == 0 && n > 0)
		svc__count_pruned(v, n);
	return rc;
}

/* ---- reading visits --------------------------------------------------------- */

int svc_visits_list(svc *v, store *s, const svc_caller *who, const sh_visit_query *q,
                    sh_visit_cb cb, void *ud, int64_t *total)
{
	sh_visit_query mine = *q;

	(void)v;
	mine.owner_key_id = svc_caller_owner(who);
	mine.exclude_head = true; /* a HEAD is no visit: pages and totals agree */
	return store_visits_list(s, &mine, cb, ud, total);
}

int svc_visits_totals(svc *v, store *s, const svc_caller *who, sh_visit_totals *links,
                      sh_visit_totals *orphans)
{
	int64_t owner = svc_caller_owner(who);
	int rc;

	(void)v;
	rc = store_visits_totals(s, owner, links, orphans);
	if (rc == 0 && owner != 0)
		memset(orphans, 0, sizeof *orphans); /* orphan visits belong to no author */
	return rc;
}

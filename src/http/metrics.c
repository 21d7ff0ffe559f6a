/*
 * metrics.c — counters of the HTTP service and GET /metrics (Prometheus
 * text format 0.0.4, the SPEC §5 names).
 *
 * Each worker thread owns a struct http_metrics and is the only writer of
 * it (relaxed atomic stores, no read-modify-write shared with anyone), so
 * the hot path never contends on a counter. A scrape sums every worker's
 * counters under the worker registry lock. Cache, store and visit numbers
 * come from their modules at scrape time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shorty/lru.h"
#include "shorty/store.h"
#include "http/internal.h"

#define MAX_ROUTES 64
static const int status_codes[] = {200, 201, 204, 301, 302, 304, 307, 308, 400, 401, 403, 404,
                                   405, 409, 410, 413, 414, 415, 422, 429, 431, 500, 501, 503};
#define NSTATUS (sizeof(status_codes) / sizeof(status_codes[0]) + 1) /* + "other" */
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct http_metrics {
	uint64_t req[MAX_ROUTES + 1][NSTATUS];
	uint64_t hist[NBUCKETS + 1];
	uint64_t sum_ns;
	uint64_t count;
	uint64_t redirects;
	uint64_t detail_braked; /* visits stored without details (the brake) */
};

static int64_t bucket_ns[NBUCKETS];

#define BUMP(x, by)                                                                                \
	__atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + (by), __ATOMIC_RELAXED)
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

int http_metrics_init(void)
{
	for (size_t i = 0; i < NBUCKETS; i++)
		bucket_ns[i] = (int64_t)(buckets[i] * 1e9);
	return 0;
}

void http_metrics_free(void)
{
}

struct http_metrics *http_metrics_create(void)
{
	return calloc(1, sizeof(struct http_metrics));
}

static size_t status_index(int status)
{
	for (size_t i = 0; i < NSTATUS - 1; i++)
		if (status_codes[i] == status)
			return i;
	return NSTATUS - 1;
}

void http_metrics_request(struct http_metrics *m, int route, int status, int64_t ns)
{
	size_t ri = (route >= 0 && route < MAX_ROUTES) ? (size_t)route : MAX_ROUTES;
	size_t b = 0;

	if (!m)
		return;
	BUMP(m->req[ri][status_index(status)], 1);
	while (b < NBUCKETS && ns > bucket_ns[b])
		b++;
	BUMP(m->hist[b], 1);
	BUMP(m->sum_ns, (uint64_t)(ns > 0 ? ns : 0));
	BUMP(m->count, 1);
}

void http_metrics_redirect(struct http_metrics *m)
{
	if (m)
		BUMP(m->redirects, 1);
}

void http_metrics_detail_braked(struct http_metrics *m)
{
	if (m)
		BUMP(m->detail_braked, 1);
}

struct sum {
	struct http_metrics t;
	uint64_t pending;
};

static void add_worker(http_worker *w, void *ud)
{
	struct sum *s = ud;
	struct http_metrics *m = w->m;

	for (size_t i = 0; i <= MAX_ROUTES; i++)
		for (size_t j = 0; j < NSTATUS; j++)
			s->t.req[i][j] += LOAD(m->req[i][j]);
	for (size_t b = 0; b <= NBUCKETS; b++)
		s->t.hist[b] += LOAD(m->hist[b]);
	s->t.sum_ns += LOAD(m->sum_ns);
	s->t.count += LOAD(m->count);
	s->t.redirects += LOAD(m->redirects);
	s->t.detail_braked += LOAD(m->detail_braked);
	s->pending += visitbuf_pending(w->vb);
}

static const char *route_label(size_t i)
{
	return i < http_nroutes && i < MAX_ROUTES ? http_routes[i].label : "other";
}

static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

int http_metrics_handler(http_req *r)
{
	struct sum *s = calloc(1, sizeof(*s));
	lru_stats ls = {0};
	lru *cache = svc_cache(r->v);
	sbuf b;
	int ret;

	if (!s)
		return http_reply_text(r, 503, "out of memory\n");
	http_workers_each(add_worker, s);
	if (cache)
		lru_get_stats(cache, &ls);
	sbuf_init(&b, 1 << 20);

	sbuf_adds(&b,
	          "# HELP shorty_http_requests_total HTTP requests answered, by route and status.\n"
	          "# TYPE shorty_http_requests_total counter\n");
	for (size_t i = 0; i <= MAX_ROUTES; i++) {
		const char *label = route_label(i);
		/* several table lines may share a label: print each label once */
		bool first = true;
		for (size_t k = 0; k < i && k <= MAX_ROUTES; k++)
			if (strcmp(route_label(k), label) == 0)
				first = false;
		if (!first)
			continue;
		for (size_t j = 0; j < NSTATUS; j++) {
			uint64_t n = 0;
			for (size_t k = i; k <= MAX_ROUTES; k++)
				if (strcmp(route_label(k), label) == 0)
					n += s->t.req[k][j];
			if (!n)
				continue;
			if (j < NSTATUS - 1)
				sbuf_printf(
				    &b,
				    "shorty_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
				    label, status_codes[j], (unsigned long long)n);
			else
				sbuf_printf(&b,
				            "shorty_http_requests_total{route=\"%s\",status="
				            "\"other\"} %llu\n",
				            label, (unsigned long long)n);
		}
	}
	sbuf_adds(&b, "# HELP shorty_http_request_duration_seconds Time from the request line to "
	              "the answer.\n"
	              "# TYPE shorty_http_request_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += s->t.hist[i];
		sbuf_printf(&b, "shorty_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
		            buckets[i], (unsigned long long)cum);
	}
	cum += s->t.hist[NBUCKETS];
	sbuf_printf(&b, "shorty_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
	            (unsigned long long)cum);
	sbuf_printf(&b, "shorty_http_request_duration_seconds_sum %.9f\n",
	            (double)s->t.sum_ns / 1e9);
	sbuf_printf(&b, "shorty_http_request_duration_seconds_count %llu\n",
	            (unsigned long long)s->t.count);
	sbuf_printf(&b,
	            "# HELP shorty_redirects_total Redirects served.\n"
	            "# TYPE shorty_redirects_total counter\n"
	            "shorty_redirects_total %llu\n"
	            "# HELP shorty_links_created_total Links created through the HTTP service.\n"
	            "# TYPE shorty_links_created_total counter\n"
	            "shorty_links_created_total %llu\n"
	            "# HELP shorty_cache_hits_total Link cache hits (negative entries included).\n"
	            "# TYPE shorty_cache_hits_total counter\n"
	            "shorty_cache_hits_total %llu\n"
	            "# HELP shorty_cache_misses_total Link cache misses.\n"
	            "# TYPE shorty_cache_misses_total counter\n"
	            "shorty_cache_misses_total %llu\n"
	            "# HELP shorty_cache_entries Entries in the link cache.\n"
	            "# TYPE shorty_cache_entries gauge\n"
	            "shorty_cache_entries %llu\n"
	            "# HELP shorty_store_errors_total Failed store calls.\n"
	            "# TYPE shorty_store_errors_total counter\n"
	            "shorty_store_errors_total %llu\n"
	            "# HELP shorty_store_misses_pipelined_total Cache misses sent on a loop's "
	            "lookup connection (answered without blocking the loop).\n"
	            "# TYPE shorty_store_misses_pipelined_total counter\n"
	            "shorty_store_misses_pipelined_total %llu\n"
	            "# HELP shorty_visits_pending Visits buffered, not yet written to the store.\n"
	            "# TYPE shorty_visits_pending gauge\n"
	            "shorty_visits_pending %llu\n"
	            "# HELP shorty_visit_details_braked_total Visits stored without their details "
	            "(referrer, user agent, visited URL, location): their address passed "
	            "SHORTY_VISIT_DETAIL_LIMIT.\n"
	            "# TYPE shorty_visit_details_braked_total counter\n"
	            "shorty_visit_details_braked_total %llu\n"
	            "# HELP shorty_visit_details_pruned_total Visits whose details were dropped "
	            "after SHORTY_VISIT_RETENTION.\n"
	            "# TYPE shorty_visit_details_pruned_total counter\n"
	            "shorty_visit_details_pruned_total %llu\n"
	            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
	            "# TYPE process_resident_memory_bytes gauge\n"
	            "process_resident_memory_bytes %ld\n",
	            (unsigned long long)s->t.redirects, (unsigned long long)svc_links_created(r->v),
	            (unsigned long long)(ls.hits + ls.negative_hits), (unsigned long long)ls.misses,
	            (unsigned long long)ls.entries, (unsigned long long)svc_store_errors(),
	            (unsigned long long)svc_misses_sent(), (unsigned long long)s->pending,
	            (unsigned long long)s->t.detail_braked,
	            (unsigned long long)svc_visits_pruned(r->v), rss_bytes());
	free(s);
	if (b.err) {
		sbuf_free(&b);
		return http_reply_text(r, 503, "metrics too large\n");
	}
	ret = http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
	sbuf_free(&b);
	return ret;
}

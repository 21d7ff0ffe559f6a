/*
 * lru_get.c — the cache's get on its own (docs/benchmarks.md, "The cache's
 * get (issue 11)").
 *
 *   build/release/bench_lru_get [ENTRIES [THREADS [GETS [ROUNDS]]]]
 *
 * Fills a cache as `serve --cache-entries 200000` makes it (16 shards, room
 * for twice ENTRIES, so nothing is evicted) with ENTRIES (100,000) entries
 * of a 6-byte code and a 120-byte value (about a cached link record), then
 * THREADS (2, like the HTTP loops) read GETS (4,000,000) uniformly random
 * codes each, ROUNDS (5) times. Prints the process CPU time per get of each
 * round: what a cache-hot redirect spends in lru_get, without the HTTP and
 * kernel work around it that makes whole-server figures noisy. Random codes
 * over 100,000 entries are the case of `make bench`: nearly every get
 * misses the CPU caches on the bucket and the entry.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shorty/lru.h"

#define MAX_THREADS 64

struct worker {
	lru *c;
	unsigned entries;
	unsigned long gets;
	uint64_t seed;
	unsigned long hits;
};

static double cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A code per index, base62 like shorty's: 6 bytes. */
static void code_of(unsigned i, char out[6])
{
	static const char a[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull;

	for (int k = 0; k < 6; k++) {
		out[k] = a[x % 62];
		x /= 62;
	}
}

static void *reader(void *p)
{
	struct worker *w = p;
	uint64_t s = w->seed;
	char key[6], val[160];
	size_t len;

	for (unsigned long n = 0; n < w->gets; n++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		code_of((unsigned)(s % w->entries), key);
		if (lru_get(w->c, key, sizeof key, val, sizeof val, &len, 1) == LRU_HIT)
			w->hits++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned entries = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000;
	unsigned threads = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 2;
	unsigned long gets = argc > 3 ? strtoul(argv[3], NULL, 10) : 4000000;
	unsigned rounds = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 5;
	pthread_t th[MAX_THREADS];
	struct worker w[MAX_THREADS];
	char key[6], val[120];
	lru *c;

	if (entries == 0 || threads == 0 || threads > MAX_THREADS || gets == 0) {
		fprintf(stderr,
		        "usage: bench_lru_get [ENTRIES>0 [THREADS 1..64 [GETS [ROUNDS]]]]\n");
		return 2;
	}
	c = lru_create((size_t)entries * 2, 16);
	if (!c) {
		perror("lru_create");
		return 1;
	}
	memset(val, 'u', sizeof val);
	for (unsigned i = 0; i < entries; i++) {
		code_of(i, key);
		if (lru_put(c, key, sizeof key, val, sizeof val, 0, 0) != 0) {
			fprintf(stderr, "lru_put failed\n");
			return 1;
		}
	}
	for (unsigned r = 0; r < rounds; r++) {
		unsigned long hits = 0;
		double t0 = cpu_now();

		for (unsigned i = 0; i < threads; i++) {
			w[i] =
			    (struct worker){.c = c,
			                    .entries = entries,
			                    .gets = gets,
			                    .seed = 0x2545F4914F6CDD1Dull * (i + 1 + r * threads)};
			if (pthread_create(&th[i], NULL, reader, &w[i]) != 0) {
				perror("pthread_create");
				return 1;
			}
		}
		for (unsigned i = 0; i < threads; i++) {
			pthread_join(th[i], NULL);
			hits += w[i].hits;
		}
		double ns = (cpu_now() - t0) * 1e9 / ((double)gets * threads);
		printf(
		    "round %u: %.1f ns CPU per get (%u entries, %u threads, %lu gets, %lu hits)\n",
		    r + 1, ns, entries, threads, gets * threads, hits);
	}
	lru_destroy(c);
	return 0;
}

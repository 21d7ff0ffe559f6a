/*
 * failalloc.h — the counting, failing allocator of the allocation-failure
 * tests (tests/unit/service/test_alloc_fail.c, tests/unit/http/
 * test_http_alloc_fail.c). Linked with -Wl,--wrap=malloc,calloc,realloc,
 * strdup,strndup (tests/faults/faults.cmake), every allocation of shorty's
 * own code goes through it; failalloc_install() routes SQLite's and
 * jansson's through it too. Thread-safe: the counter is atomic.
 */
#ifndef SHORTY_FAILALLOC_H
#define SHORTY_FAILALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* From now on, the nth counted allocation fails (n >= 1); with persistent,
 * every later one too. Resets the counters. */
void failalloc_arm(long n, bool persistent);
void failalloc_disarm(void);

/* Failures handed out since the last failalloc_arm(). */
long failalloc_failed(void);

/* The real, uncounted malloc (for the test's own bookkeeping). */
void *__real_malloc(size_t n);

/* Installs SQLite's (SQLITE_CONFIG_MALLOC) and jansson's allocator hooks;
 * call once at the start of main. Returns 0, or -1 if SQLite refused. */
int failalloc_install(void);

#endif

/*
 * failalloc.c — the counting, failing allocator of the allocation-failure
 * tests (failalloc.h): shorty's own allocations through -Wl,--wrap, SQLite's
 * through SQLITE_CONFIG_MALLOC, jansson's through json_set_alloc_funcs.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "failalloc.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static long fail_at;   /* 0 = off; else the allocation number that fails */
static long nalloc;    /* allocations counted since arming */
static bool persistent; /* fail every allocation from fail_at on */
static long nfailed;   /* failures handed out */

static int should_fail(void)
{
	long n;

	if (__atomic_load_n(&fail_at, __ATOMIC_SEQ_CST) == 0)
		return 0;
	n = __atomic_add_fetch(&nalloc, 1, __ATOMIC_SEQ_CST);
	if (n == fail_at || (persistent && n > fail_at)) {
		__atomic_add_fetch(&nfailed, 1, __ATOMIC_SEQ_CST);
		return 1;
	}
	return 0;
}

void failalloc_arm(long n, bool pers)
{
	__atomic_store_n(&nalloc, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&nfailed, 0, __ATOMIC_SEQ_CST);
	persistent = pers;
	__atomic_store_n(&fail_at, n, __ATOMIC_SEQ_CST);
}

void failalloc_disarm(void)
{
	__atomic_store_n(&fail_at, 0, __ATOMIC_SEQ_CST);
}

void *__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
	return should_fail() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
	if (n && should_fail())
		return NULL;
	return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return should_fail() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return should_fail() ? NULL : __real_strndup(s, n);
}

/* SQLite's allocator: a 16-byte header holds the size (xSize). */
static void *sq_malloc(int n)
{
	size_t *p;

	if (should_fail())
		return NULL;
	p = __real_malloc((size_t)n + 16);
	if (!p)
		return NULL;
	p[0] = (size_t)n;
	return (char *)p + 16;
}

static void sq_free(void *p)
{
	if (p)
		free((char *)p - 16);
}

static int sq_size(void *p)
{
	return p ? (int)*(size_t *)((char *)p - 16) : 0;
}

static void *sq_realloc(void *p, int n)
{
	size_t *q;

	if (!p)
		return sq_malloc(n);
	if (should_fail())
		return NULL;
	q = __real_realloc((char *)p - 16, (size_t)n + 16);
	if (!q)
		return NULL;
	q[0] = (size_t)n;
	return (char *)q + 16;
}

static int sq_roundup(int n)
{
	return (n + 7) & ~7;
}

static int sq_init(void *x)
{
	(void)x;
	return SQLITE_OK;
}

static void sq_shutdown(void *x)
{
	(void)x;
}

static void *js_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}

long failalloc_failed(void)
{
	return __atomic_load_n(&nfailed, __ATOMIC_SEQ_CST);
}

int failalloc_install(void)
{
	static const sqlite3_mem_methods mem = {sq_malloc,  sq_free, sq_realloc, sq_size,
	                                        sq_roundup, sq_init, sq_shutdown, NULL};

	if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mem) != SQLITE_OK)
		return -1;
	json_set_alloc_funcs(js_malloc, free);
	return 0;
}

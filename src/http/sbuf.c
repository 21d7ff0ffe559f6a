/*
 * sbuf.c — a growing string with a size limit (pages, templates, CSV):
 * once an append would pass the limit or memory runs out, the buffer is
 * marked failed and later appends do nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

/* ---- sbuf ------------------------------------------------------------------------ */

void sbuf_init(sbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void sbuf_free(sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static bool sbuf_reserve(sbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->err)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	if (b->len + n + 1 > b->max) {
		b->err = true;
		return false;
	}
	cap = b->cap ? b->cap : 1024;
	while (cap < b->len + n + 1)
		cap *= 2;
	if (cap > b->max)
		cap = b->max;
	p = realloc(b->p, cap);
	if (!p) {
		b->err = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void sbuf_add(sbuf *b, const char *s, size_t n)
{
	if (!sbuf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sbuf_adds(sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void sbuf_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sbuf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sbuf_html(sbuf *b, const char *s, size_t n)
{
	char tmp[256];
	size_t i = 0;

	/* escape in slices: each byte grows to at most 6 */
	while (i < n) {
		size_t take = n - i > 40 ? 40 : n - i;
		size_t l = http_html_escape(tmp, sizeof(tmp), s + i, take);
		sbuf_add(b, tmp, l);
		i += take;
	}
}

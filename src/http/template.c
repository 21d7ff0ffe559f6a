/*
 * template.c — fills the page templates of web/ (embedded by
 * cmake/embed.cmake as web_assets[]) for pages.c.
 *
 * Two forms, nothing more:
 *   {{name}}                        the value `name`, HTML-escaped ("" when
 *                                   not given)
 *   <!--{name--> ... <!--name}-->   kept when the value `name` is not empty,
 *                                   else dropped with everything inside
 * Hand-written because it is these two rules: a template library would bring
 * loops, includes and its own escaping rules the pages do not need.
 */
#define _GNU_SOURCE /* memmem */
#include <string.h>

#include "http/internal.h"

static const tpl_value *lookup(const tpl_value *v, int n, const char *name, size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(v[i].name) == len && memcmp(v[i].name, name, len) == 0)
			return &v[i];
	return NULL;
}

static bool empty(const tpl_value *v)
{
	return !v || !v->value || v->len == 0;
}

/* The end of a "<!--name}-->" after p for the section `name`, or NULL. */
static const char *section_end(const char *p, const char *end, const char *name, size_t len)
{
	while ((p = memmem(p, (size_t)(end - p), "<!--", 4)) != NULL) {
		p += 4;
		if ((size_t)(end - p) >= len + 4 && memcmp(p, name, len) == 0 &&
		    memcmp(p + len, "}-->", 4) == 0)
			return p + len + 4;
	}
	return NULL;
}

void tpl_render(sbuf *b, const char *tpl, size_t n, const tpl_value *v, int nv)
{
	const char *p = tpl, *end = tpl + n;

	while (p < end) {
		const char *q = p;

		/* the next "{{" or "<!--" */
		while (q < end && !(q + 1 < end && q[0] == '{' && q[1] == '{') &&
		       !(q + 3 < end && memcmp(q, "<!--", 4) == 0))
			q++;
		sbuf_add(b, p, (size_t)(q - p));
		if (q >= end)
			break;
		if (q[0] == '{') {
			const char *name = q + 2,
			           *close = memmem(name, (size_t)(end - name), "}}", 2);
			const tpl_value *val;
			if (!close) { /* not a slot: copy as is */
				sbuf_add(b, q, 2);
				p = q + 2;
				continue;
			}
			val = lookup(v, nv, name, (size_t)(close - name));
			if (!empty(val))
				sbuf_html(b, val->value, val->len);
			p = close + 2;
			continue;
		}
		/* "<!--{name-->" opens a section, "<!--name}-->" closes one */
		{
			const char *name = q + 4,
			           *close = memmem(name, (size_t)(end - name), "-->", 3);
			size_t len;
			if (!close) {
				sbuf_add(b, q, (size_t)(end - q));
				break;
			}
			len = (size_t)(close - name);
			if (len >= 2 && name[0] == '{') {
				const tpl_value *val = lookup(v, nv, name + 1, len - 1);
				const char *after = section_end(close + 3, end, name + 1, len - 1);
				p = close + 3;
				if (empty(val) && after)
					p = after;
				continue;
			}
			if (len >= 2 && name[len - 1] == '}') {
				p = close + 3; /* the end of a kept section */
				continue;
			}
			sbuf_add(b, q, (size_t)(close + 3 - q)); /* a plain comment */
			p = close + 3;
		}
	}
}

/*
 * form.c — form bodies for the engine of our own: application/
 * x-www-form-urlencoded and multipart/form-data, read the way
 * libmicrohttpd's post processor reads them for the other engine ('+' is a
 * space, %XX decoded by MHD_http_unescape, a repeated name: the first
 * wins, a multipart part's name from its Content-Disposition). Written
 * here because libmicrohttpd's post processor needs one of its own
 * connections, and the body is already whole in memory (<= 64 KiB).
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/internal.h"

typedef int (*form_add_fn)(http_req *r, const char *key, const char *data, uint64_t off,
                           size_t size);

/* '+' to space, then %XX (libmicrohttpd's own decoder, as for the query) */
static size_t form_unescape(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '+')
			*p = ' ';
	return MHD_http_unescape(s);
}

static void parse_urlencoded(http_req *r, form_add_fn add)
{
	char *copy = malloc(r->body_len + 1), *p, *end;

	if (!copy)
		return;
	memcpy(copy, r->body, r->body_len);
	copy[r->body_len] = '\0';
	end = copy + strlen(copy); /* a NUL in the body ends the form */
	for (p = copy; p < end;) {
		char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
		if (amp)
			*amp = '\0';
		eq = strchr(p, '=');
		if (eq)
			*eq = '\0';
		if (*p) {
			form_unescape(p);
			if (eq) {
				size_t n = form_unescape(eq + 1);
				if (add(r, p, eq + 1, 0, n) < 0)
					break;
			} else if (add(r, p, "", 0, 0) < 0) {
				break;
			}
		}
		if (!amp)
			break;
		p = amp + 1;
	}
	free(copy);
}

/* The value of parameter `name` (boundary, name) in a header value such as
 * `form-data; name="x"; filename="y"`, into out (NUL-terminated). */
static bool header_param(const char *v, size_t vn, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i + nl < vn; i++) {
		if ((i == 0 || v[i - 1] == ';' || v[i - 1] == ' ' || v[i - 1] == '\t') &&
		    strncasecmp(v + i, name, nl) == 0 && v[i + nl] == '=') {
			size_t s = i + nl + 1, e, o = 0;
			if (s < vn && v[s] == '"') {
				s++;
				for (e = s; e < vn && v[e] != '"'; e++)
					;
			} else {
				for (e = s; e < vn && v[e] != ';' && v[e] != ' ' && v[e] != '\t'; e++)
					;
			}
			if (e - s + 1 > outsz)
				return false;
			for (; s < e; s++)
				out[o++] = v[s];
			out[o] = '\0';
			return o > 0;
		}
	}
	return false;
}

/* One part's head (up to the empty line): its field name. */
static bool part_name(const char *h, size_t hn, char *name, size_t namesz)
{
	static const char cd[] = "content-disposition:";

	for (size_t i = 0; i < hn;) {
		const char *eol = memchr(h + i, '\n', hn - i);
		size_t ln = eol ? (size_t)(eol - (h + i)) : hn - i;
		if (ln >= sizeof(cd) - 1 && strncasecmp(h + i, cd, sizeof(cd) - 1) == 0)
			return header_param(h + i + sizeof(cd) - 1, ln - (sizeof(cd) - 1), "name",
			                    name, namesz);
		i += ln + 1;
	}
	return false;
}

static void parse_multipart(http_req *r, form_add_fn add)
{
	const char *ct = http_header(r, "Content-Type");
	char boundary[200], delim[204], name[256];
	const char *b = r->body, *end = r->body + r->body_len, *p;
	size_t dl;

	if (!ct || !header_param(ct, strlen(ct), "boundary", boundary, sizeof(boundary)))
		return;
	dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	/* the first delimiter may open the body without its CRLF */
	if ((size_t)(end - b) >= dl - 2 && memcmp(b, delim + 2, dl - 2) == 0)
		p = b + dl - 2;
	else if ((p = memmem(b, (size_t)(end - b), delim, dl)) != NULL)
		p += dl;
	else
		return;
	for (;;) {
		const char *head, *hend, *data, *next;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return; /* the closing delimiter */
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return;
		head = p + 2;
		hend = memmem(head, (size_t)(end - head), "\r\n\r\n", 4);
		if (!hend)
			return;
		data = hend + 4;
		next = memmem(data, (size_t)(end - data), delim, dl);
		if (!next)
			return;
		if (part_name(head, (size_t)(hend + 2 - head), name, sizeof(name)) &&
		    add(r, name, data, 0, (size_t)(next - data)) < 0)
			return;
		p = next + dl;
	}
}

void http_form_parse_body(http_req *r, form_add_fn add)
{
	if (http_content_type_is(r, "application/x-www-form-urlencoded"))
		parse_urlencoded(r, add);
	else if (http_content_type_is(r, "multipart/form-data"))
		parse_multipart(r, add);
}

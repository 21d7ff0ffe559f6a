/*
 * params.c — looking at a request: headers, query and form parameters, the
 * strict JSON body reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shorty/linkjson.h"
#include "shorty/log.h"
#include "http/engine.h"
#include "http/internal.h"

/* ---- looking at the request ------------------------------------------------ */

const char *http_header(http_req *r, const char *name)
{
	if (r->ec)
		return eng_header(r, name);
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(http_req *r, const char *name)
{
	if (r->ec)
		return eng_query(r, name);
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_each {
	http_query_fn fn;
	void *ud;
};

static enum MHD_Result query_each_mhd(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
	struct query_each *q = cls;

	(void)kind;
	return q->fn(q->ud, key, value) == 0 ? MHD_YES : MHD_NO;
}

void http_query_each(http_req *r, http_query_fn fn, void *ud)
{
	struct query_each q = {fn, ud};

	if (r->ec)
		eng_query_each(r, fn, ud);
	else
		MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_each_mhd, &q);
}

bool http_content_type_is(http_req *r, const char *type)
{
	const char *ct = http_header(r, "Content-Type");
	size_t n = strlen(type);

	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, type, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static http_form_field *form_find(http_req *r, const char *name)
{
	for (int i = 0; i < r->nform; i++)
		if (strcmp(r->form[i].name, name) == 0)
			return &r->form[i];
	return NULL;
}

static int form_add(http_req *r, const char *key, const char *data, uint64_t off, size_t size);

static enum MHD_Result form_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *content_type,
                                 const char *transfer_encoding, const char *data, uint64_t off,
                                 size_t size)
{
	(void)kind;
	(void)filename;
	(void)content_type;
	(void)transfer_encoding;
	return form_add(cls, key, data, off, size) == 0 ? MHD_YES : MHD_NO;
}

/* A form field's piece (off: where it goes in the value; a repeated field:
 * the first wins). 0, or -1 to stop (out of memory, too large). */
static int form_add(http_req *r, const char *key, const char *data, uint64_t off, size_t size)
{
	http_form_field *f;
	char *v;

	if (!key)
		return 0;
	f = form_find(r, key);
	if (!f) {
		if (r->nform >= HTTP_FORM_FIELDS_MAX)
			return 0;
		f = &r->form[r->nform];
		f->name = strdup(key);
		f->value = calloc(1, 1);
		f->value_len = 0;
		if (!f->name || !f->value) {
			free((void *)f->name);
			free((void *)f->value);
			f->name = f->value = NULL;
			return -1;
		}
		r->nform++;
	} else if (off == 0 && f->value_len) {
		return 0; /* a repeated field: the first wins */
	}
	if (size == 0)
		return 0;
	if (f->value_len + size > HTTP_BODY_MAX)
		return -1;
	v = realloc((void *)f->value, f->value_len + size + 1);
	if (!v)
		return -1;
	memcpy(v + f->value_len, data, size);
	f->value_len += size;
	v[f->value_len] = '\0';
	f->value = v;
	return 0;
}

static void form_parse(http_req *r)
{
	struct MHD_PostProcessor *pp;

	r->form_parsed = true;
	if (!r->body || r->body_len == 0)
		return;
	if (!http_content_type_is(r, "application/x-www-form-urlencoded") &&
	    !http_content_type_is(r, "multipart/form-data"))
		return;
	if (r->ec) { /* no libmicrohttpd connection: form.c's parser */
		http_form_parse_body(r, form_add);
		return;
	}
	pp = MHD_create_post_processor(r->conn, 4096, form_iter, r);
	if (!pp)
		return;
	MHD_post_process(pp, r->body, r->body_len);
	MHD_destroy_post_processor(pp);
}

void http_form_free(http_req *r)
{
	for (int i = 0; i < r->nform; i++) {
		free((void *)r->form[i].name);
		free((void *)r->form[i].value);
	}
	r->nform = 0;
}

const char *http_param(http_req *r, const char *name, size_t *len)
{
	http_form_field *f;
	const char *q;

	if (r->meth == HTTP_POST && !r->form_parsed)
		form_parse(r);
	f = form_find(r, name);
	if (f) {
		if (len)
			*len = f->value_len;
		return f->value;
	}
	q = http_query(r, name);
	if (q && len)
		*len = strlen(q);
	return q;
}


json_t *http_body_json(http_req *r, int *answered)
{
	json_error_t je;
	json_t *j;
	char detail[300];

	if (!r->body || r->body_len == 0) {
		*answered =
		    http_reply_problem(r, 400, "invalid-data", "Invalid data",
		                       "The request body is empty; send a JSON object.", NULL);
		return NULL;
	}
	if (linkjson_depth(r->body, r->body_len, HTTP_JSON_DEPTH_MAX) > HTTP_JSON_DEPTH_MAX) {
		*answered = http_reply_problem(
		    r, 400, "malformed-request-body", "Malformed request body",
		    "The JSON body is nested too deeply (at most 32 levels).", NULL);
		return NULL;
	}
	linkjson_watch_begin();
	j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (j && linkjson_watch_oom()) { /* parsed, but maybe without some bytes */
		json_decref(j);
		j = NULL;
		je.text[0] = '\0';
	}
	if (!j && (linkjson_watch_oom() || json_error_code(&je) == json_error_out_of_memory ||
	           !je.text[0])) {
		/* jansson ran out of memory (its early failures leave no text) */
		*answered = http_reply_error(r, SH_ENOMEM, NULL);
		return NULL;
	}
	if (!j) {
		char esc[200];
		log_escape(esc, sizeof(esc), je.text, strlen(je.text));
		snprintf(detail, sizeof(detail), "The body is not valid JSON: %s (at byte %d).",
		         esc, je.position);
		*answered = http_reply_problem(r, 400, "malformed-request-body",
		                               "Malformed request body", detail, NULL);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*answered =
		    http_reply_problem(r, 400, "malformed-request-body", "Malformed request body",
		                       "The JSON body must be an object.", NULL);
		return NULL;
	}
	return j;
}

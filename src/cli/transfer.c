/*
 * transfer.c — `shorty import FILE` and `shorty export`: links in and out
 * as CSV or JSON.
 *
 * CSV columns: code,url,title,tags,created_at,expires_at,max_visits,
 * redirect_status,visits,domain (tags separated by spaces, times RFC 3339,
 * empty = none; domain empty: the default one). Import reads the header to find the columns (any order; Shlink's
 * "Short code" / "Long URL" spellings too; unknown columns ignored) and
 * streams the rows (csv.c). JSON: an array of Shlink ShortUrl objects, as
 * `export --format json` and `list --json` write them (Shlink create bodies
 * are accepted as well), read as a stream, one element at a time.
 *
 * Import is all or nothing: every row goes through svc_shorten (the same
 * validation as every other front, find_if_exists = false) inside ONE unit
 * of work of the service's writer (one transaction); the first bad row rolls
 * everything back and is named:
 * "line 12: ...; nothing was imported". Each row keeps its code (stored as
 * a custom code) and its created_at; a row without a code gets a generated
 * one. Visit counts are exported for reading but not imported: the new
 * store counts visits from zero. The exports of Shlink, YOURLS (CSV and the
 * SQL dump of yourls_url), Kutt and Bitly are read too (peers.c says which
 * column is which), with their visit counts. Limits: 64 KiB per CSV field, 1 MiB per
 * JSON element, 1,000,000 rows; memory stays flat whatever the file size.
 *
 * Redirect rules travel in JSON only: each exported ShortUrl carries its
 * "redirectRules" (Shlink's list, as GET .../redirect-rules answers it),
 * and an imported element's "redirectRules" is checked like a POST of them
 * and stored with its link (a bad rule names its line and nothing is
 * imported). CSV has no column for them.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "shorty/linkjson.h"
#include "shorty/timeutil.h"

#define IMPORT_MAX_ROWS 1000000L
#define PROGRESS_EVERY 10000L

/* enum import_col (cli.h): the columns every format is read into */
static const char *const col_names[NCOLS] = {
    "code",       "url",        "title",           "tags",   "created_at",
    "expires_at", "max_visits", "redirect_status", "visits",     "domain",
};

/* Header spellings, compared after lower-casing and dropping ' ', '_', '-'. */
static const struct {
	const char *name;
	int col;
} col_aliases[] = {
    {"code", COL_CODE},
    {"shortcode", COL_CODE},
    {"slug", COL_CODE},
    {"url", COL_URL},
    {"longurl", COL_URL},
    {"title", COL_TITLE},
    {"tags", COL_TAGS},
    {"createdat", COL_CREATED},
    {"datecreated", COL_CREATED},
    {"expiresat", COL_EXPIRES},
    {"validuntil", COL_EXPIRES},
    {"maxvisits", COL_MAX_VISITS},
    {"redirectstatus", COL_REDIRECT},
    {"visits", COL_VISITS},
    {"domain", COL_DOMAIN},
    {NULL, 0},
};

static int header_col(const char *h)
{
	char key[32];
	size_t n = 0;
	int i;

	for (; *h && n + 1 < sizeof key; h++) {
		if (*h == ' ' || *h == '_' || *h == '-')
			continue;
		key[n++] = (char)tolower((unsigned char)*h);
	}
	key[n] = '\0';
	for (i = 0; col_aliases[i].name; i++)
		if (strcmp(col_aliases[i].name, key) == 0)
			return col_aliases[i].col;
	return -1;
}

/* ---- import: one row, whatever the format ------------------------------ */

struct importer {
	cli *c;
	svc *v;
	store *ws; /* the writer's connection, inside its transaction */
	long rows;
	bool progress;
	char where[48]; /* "line 12" / "item 3" */
	const peer_format *peer; /* another shortener's export (peers.c), or NULL */
};

static void progress(struct importer *im, bool done)
{
	if (!im->progress)
		return;
	if (done)
		fprintf(stderr, "\rimported %ld rows\n", im->rows);
	else if (im->rows % PROGRESS_EVERY == 0)
		fprintf(stderr, "\rimporting: %ld rows", im->rows);
}

/* Reports a bad row and returns the exit status. */
static int row_error(struct importer *im, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int row_error(struct importer *im, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (im->progress)
		fputs("\n", stderr);
	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	return cli_error(status, "%s: %s; nothing was imported", im->where, msg);
}

/* Creates one link (with its redirect rules, rs may be NULL); returns 0 or
 * an exit status (reported). */
static int import_one(struct importer *im, svc_create_req *req, const rules_set *rs)
{
	sh_link l = {0};
	sh_err err = {0};
	char clean[160];
	int rc;

	if (im->rows >= IMPORT_MAX_ROWS)
		return row_error(im, CLI_USAGE, "more than %ld rows, the limit; split the file",
		                 IMPORT_MAX_ROWS);
	req->find_if_exists = false;
	req->find_matching = false;
	rc = svc_shorten(im->v, im->ws, req, &l, NULL, &err);
	if (rc == 0 && rules_count(rs) > 0)
		rc = svc_rules_set_on(im->v, im->ws, l.domain[0] ? l.domain : NULL, l.code, NULL, rs,
		                      NULL, &err);
	sh_link_clear(&l);
	if (rc == SH_ETAKEN && req->custom_code)
		return row_error(im, CLI_FAIL,
		                 "the code %s is already taken (in the store or "
		                 "earlier in the file)",
		                 cli_clean(req->custom_code, clean, sizeof clean));
	if (rc) {
		if (err.code == rc && err.msg[0])
			return row_error(im, cli_status(rc), "%s", err.msg);
		return row_error(im, cli_status(rc), "%s", sh_strerror(rc));
	}
	im->rows++;
	progress(im, false);
	return 0;
}

/* ---- import CSV ------------------------------------------------------- */

static int parse_time_cell(struct importer *im, const char *name, const char *s, int64_t *out)
{
	char clean[80];

	*out = 0;
	if (!*s)
		return 0;
	if (sh_time_parse(s, out) != 0)
		return row_error(im, CLI_USAGE,
		                 "%s '%s' is not an RFC 3339 time such as "
		                 "2026-11-22T00:07:09Z",
		                 name, cli_clean(s, clean, sizeof clean));
	return 0;
}

/* A first pass over a file that can be read twice: checks the CSV syntax
 * and the row limit before the store is touched, so a broken or oversized
 * file is refused in a moment instead of after its good rows. */
static int prescan_csv(struct importer *im, FILE *f)
{
	csv_reader *r = csv_open(f);
	long records = 0;
	int rc, status = CLI_OK;

	if (!r)
		return cli_error(CLI_FAIL, "out of memory");
	while ((rc = csv_next(r)) > 0) {
		if (++records > IMPORT_MAX_ROWS + 1) { /* + the header */
			snprintf(im->where, sizeof im->where, "line %ld", csv_line(r));
			status = row_error(im, CLI_USAGE,
			                   "more than %ld rows, the limit; split the "
			                   "file",
			                   IMPORT_MAX_ROWS);
			goto out;
		}
	}
	if (rc < 0) {
		snprintf(im->where, sizeof im->where, "line %ld", csv_line(r));
		status = row_error(im, cli_status(rc), "%s", csv_errmsg(r));
	}
out:
	csv_close(r);
	return status;
}

/* One row of any format, as shorty's cells (a peer's already turned into
 * them): validated and created by import_one. visits: the count the file
 * gives (peers), -1 for none. */
static int import_cells(struct importer *im, const char *const cell[NCOLS], int64_t visits)
{
	char tagbuf[SH_MAX_TAGS * (SH_TAG_MAX + 2) + 64];
	const char *tags[SH_MAX_TAGS];
	char clean[80];
	svc_create_req req;
	int64_t n;
	int ntags = 0;

	svc_create_req_init(&req);
	req.url = cell[COL_URL];
	req.custom_code = cell[COL_CODE][0] ? cell[COL_CODE] : NULL;
	req.title = cell[COL_TITLE][0] ? cell[COL_TITLE] : NULL;
	req.domain = cell[COL_DOMAIN][0] && strcmp(cell[COL_DOMAIN], "DEFAULT") != 0
	                 ? cell[COL_DOMAIN]
	                 : NULL;
	req.visits = visits > 0 ? visits : 0;
	if (parse_time_cell(im, "created_at", cell[COL_CREATED], &req.now) ||
	    parse_time_cell(im, "expires_at", cell[COL_EXPIRES], &req.expires_at))
		return CLI_USAGE;
	if (cell[COL_MAX_VISITS][0]) {
		if (cli_parse_i64(cell[COL_MAX_VISITS], 1, INT64_MAX, &n) != 0)
			return row_error(im, CLI_USAGE,
			                 "max_visits '%s' must be a whole "
			                 "number >= 1, or empty",
			                 cli_clean(cell[COL_MAX_VISITS], clean, sizeof clean));
		req.max_visits = n;
	}
	if (cell[COL_REDIRECT][0]) {
		if (cli_parse_i64(cell[COL_REDIRECT], 0, 999, &n) != 0)
			return row_error(im, CLI_USAGE,
			                 "redirect_status '%s' must be 301, "
			                 "302, 307 or 308, or empty",
			                 cli_clean(cell[COL_REDIRECT], clean, sizeof clean));
		req.redirect_status = (int)n;
	}
	if (cell[COL_TAGS][0]) {
		char *p;

		if (strlen(cell[COL_TAGS]) >= sizeof tagbuf)
			return row_error(im, CLI_USAGE,
			                 "the tags cell is too long; a link "
			                 "has at most %d tags of at most %d "
			                 "characters",
			                 SH_MAX_TAGS, SH_TAG_MAX);
		snprintf(tagbuf, sizeof tagbuf, "%s", cell[COL_TAGS]);
		/* split on spaces, in place */
		for (p = tagbuf; *p;) {
			while (*p == ' ')
				*p++ = '\0';
			if (!*p)
				break;
			if (ntags == SH_MAX_TAGS)
				return row_error(im, CLI_USAGE,
				                 "more than %d tags; a link has "
				                 "at most %d",
				                 SH_MAX_TAGS, SH_MAX_TAGS);
			tags[ntags++] = p;
			while (*p && *p != ' ')
				p++;
		}
		req.tags = ntags ? tags : NULL;
		req.ntags = ntags;
	}
	return import_one(im, &req, NULL);
}

/* A row of a peer's file (in the peer's columns) into import_cells. */
static int import_peer_row(struct importer *im, const char *const in[NCOLS])
{
	peer_row row;
	char why[160];

	if (peer_row_make(im->peer, in, &row, why, sizeof why) != 0)
		return row_error(im, CLI_USAGE, "%s", why);
	return import_cells(im, row.cell, row.visits);
}

/* The header: which field is which column, in shorty's spellings or, when
 * it is one, a peer's export's (peers.c). */
static int csv_header(struct importer *im, csv_reader *r, int cols[NCOLS], int *nhead)
{
	const char *head[CSV_FIELDS_MAX];
	int i;

	*nhead = csv_nfields(r);
	for (i = 0; i < NCOLS; i++)
		cols[i] = -1;
	for (i = 0; i < *nhead && i < CSV_FIELDS_MAX; i++)
		head[i] = csv_field(r, i, NULL);
	im->peer = peer_csv_detect(head, *nhead < CSV_FIELDS_MAX ? *nhead : CSV_FIELDS_MAX);
	for (i = 0; i < *nhead; i++) {
		int col = im->peer ? peer_header_col(im->peer, csv_field(r, i, NULL))
		                   : header_col(csv_field(r, i, NULL));

		if (col < 0)
			continue; /* an unknown column is ignored */
		if (cols[col] >= 0) {
			if (im->peer)
				continue; /* a peer's second spelling (Bitly's id, link) */
			snprintf(im->where, sizeof im->where, "line %ld", csv_line(r));
			return row_error(im, CLI_USAGE, "the header names the column %s twice",
			                 col_names[col]);
		}
		cols[col] = i;
	}
	if (cols[COL_URL] < 0) {
		snprintf(im->where, sizeof im->where, "line %ld", csv_line(r));
		return row_error(im, CLI_USAGE,
		                 "the first line must be a header with a url "
		                 "column: code,url,title,tags,created_at,"
		                 "expires_at,max_visits,redirect_status,visits");
	}
	return CLI_OK;
}

static int import_csv(struct importer *im, FILE *f)
{
	int cols[NCOLS], nhead = 0, i, rc, status = CLI_OK;
	csv_reader *r = csv_open(f);

	if (!r)
		return cli_error(CLI_FAIL, "out of memory");
	rc = csv_next(r);
	if (rc <= 0) {
		snprintf(im->where, sizeof im->where, "line %ld", csv_line(r));
		status = rc == 0 ? row_error(im, CLI_USAGE,
		                             "the file is empty; the first line "
		                             "must be a header such as code,url,"
		                             "title,tags")
		                 : row_error(im, cli_status(rc), "%s", csv_errmsg(r));
		goto out;
	}
	if ((status = csv_header(im, r, cols, &nhead)))
		goto out;

	for (;;) {
		const char *cell[NCOLS];

		rc = csv_next(r);
		snprintf(im->where, sizeof im->where, "line %ld", csv_line(r));
		if (rc == 0)
			break;
		if (rc < 0) {
			status = row_error(im, cli_status(rc), "%s", csv_errmsg(r));
			goto out;
		}
		if (csv_nfields(r) != nhead) {
			status = row_error(im, CLI_USAGE,
			                   "%d fields where the header has %d; quote "
			                   "fields that contain commas",
			                   csv_nfields(r), nhead);
			goto out;
		}
		for (i = 0; i < NCOLS; i++)
			cell[i] = cols[i] >= 0 ? csv_unneutralize(csv_field(r, cols[i], NULL)) : "";
		status = im->peer ? import_peer_row(im, cell) : import_cells(im, cell, -1);
		if (status)
			goto out;
	}
out:
	csv_close(r);
	return status;
}

/* ---- import YOURLS's SQL dump ------------------------------------------- */

static int sql_row(void *ud, const peer_format *p, const char *const cell[NCOLS], long line)
{
	struct importer *im = ud;

	im->peer = p;
	snprintf(im->where, sizeof im->where, "line %ld", line);
	return import_peer_row(im, cell);
}

static int import_sql(struct importer *im, FILE *f)
{
	char why[200] = "";
	long line = 0;
	int rc = peer_yourls_sql(f, sql_row, im, why, sizeof why, &line);

	if (rc >= 0)
		return rc; /* 0, or the bad row's status (reported) */
	snprintf(im->where, sizeof im->where, "line %ld", line);
	return row_error(im, cli_status(rc), "%s", why[0] ? why : sh_strerror(rc));
}

/* ---- import JSON ------------------------------------------------------ */

/* Turns a ShortUrl object (shortCode, meta.validUntil, ...) into a create
 * body (customSlug, validUntil, ...) that linkjson_parse_create reads; a
 * create body passes through. A new reference, or NULL on ENOMEM. */
static json_t *as_create_body(json_t *item)
{
	static const char *const meta_keys[] = {"validSince", "validUntil", "maxVisits", NULL};
	json_t *body = json_copy(item), *meta, *code;
	int i;

	if (!body)
		return NULL;
	code = json_object_get(item, "shortCode");
	if (code && !json_object_get(item, "customSlug") &&
	    json_object_set(body, "customSlug", code) != 0)
		goto fail;
	meta = json_object_get(item, "meta");
	if (json_is_object(meta))
		for (i = 0; meta_keys[i]; i++) {
			json_t *m = json_object_get(meta, meta_keys[i]);

			if (m && !json_object_get(item, meta_keys[i]) &&
			    json_object_set(body, meta_keys[i], m) != 0)
				goto fail;
		}
	return body;
fail:
	json_decref(body);
	return NULL;
}

/* Imports one array element. */
static int import_item(struct importer *im, json_t *item)
{
	const char *tagv[SH_MAX_TAGS];
	svc_create_req req;
	sh_err err = {0};
	json_t *body, *created, *rules;
	rules_set *rs = NULL;
	int64_t when = 0;
	int rc, status;

	if (!json_is_object(item))
		return row_error(im, CLI_USAGE, "each item must be a JSON object");
	created = json_object_get(item, "dateCreated");
	if (created && !json_is_null(created) &&
	    (!json_is_string(created) || sh_time_parse(json_string_value(created), &when)))
		return row_error(im, CLI_USAGE,
		                 "dateCreated must be an ISO 8601 time such as "
		                 "2026-11-22T00:07:09+00:00");
	rules = json_object_get(item, "redirectRules");
	if (rules && !json_is_null(rules) &&
	    (rc = rules_from_list(rules, svc_url_policy(im->v), &rs, &err)) != 0)
		return row_error(im, cli_status(rc), "%s", err.msg[0] ? err.msg : sh_strerror(rc));
	body = as_create_body(item);
	if (!body) {
		rules_free(rs);
		return cli_error(CLI_FAIL, "out of memory");
	}
	/* strings in req point into body: it lives until svc_shorten is done */
	rc = linkjson_parse_create(body, &req, tagv, &err);
	if (rc) {
		json_decref(body);
		rules_free(rs);
		return row_error(im, cli_status(rc), "%s", err.msg[0] ? err.msg : sh_strerror(rc));
	}
	req.now = when;
	status = import_one(im, &req, rs);
	json_decref(body);
	rules_free(rs);
	return status;
}

/*
 * The JSON file is read as a stream, one array element at a time, so its
 * length costs no memory: jansson parses each element from a callback that
 * hands it one byte at a time (so it never reads past the element's closing
 * brace) and refuses an element over JSON_ITEM_MAX bytes.
 */
#define JSON_ITEM_MAX (1024 * 1024)

struct jsrc {
	FILE *f;
	size_t used; /* bytes of the current element */
	bool too_big, read_err;
};

static size_t jsrc_cb(void *buf, size_t len, void *data)
{
	struct jsrc *js = data;
	int ch;

	if (len == 0)
		return 0;
	if (js->used >= JSON_ITEM_MAX) {
		js->too_big = true;
		return (size_t)-1;
	}
	ch = getc(js->f);
	if (ch == EOF) {
		if (ferror(js->f)) {
			js->read_err = true;
			return (size_t)-1;
		}
		return 0;
	}
	*(char *)buf = (char)ch;
	js->used++;
	return 1;
}

/* Next byte that is not JSON white space (EOF at the end). */
static int skip_ws(FILE *f)
{
	int ch;

	do
		ch = getc(f);
	while (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r');
	return ch;
}

static int import_json(struct importer *im, FILE *f)
{
	struct jsrc js = {f, 0, false, false};
	json_error_t jerr;
	size_t idx = 0;
	int ch, status = CLI_OK;

	snprintf(im->where, sizeof im->where, "the file");
	ch = getc(f);
	if (ch == 0xEF) { /* a UTF-8 BOM */
		if (getc(f) != 0xBB || getc(f) != 0xBF)
			return row_error(im, CLI_USAGE,
			                 "invalid JSON: it must be a JSON array of "
			                 "ShortUrl objects");
	} else if (ch != EOF) {
		ungetc(ch, f);
	}
	if (skip_ws(f) != '[')
		return row_error(im, CLI_USAGE,
		                 "it must be a JSON array of ShortUrl objects (as "
		                 "`shorty export --format json` writes)");
	ch = skip_ws(f);
	if (ch == ']')
		goto end;
	for (;;) {
		json_t *item;

		snprintf(im->where, sizeof im->where, "item %zu", idx + 1);
		if (ch != '{')
			return row_error(im, CLI_USAGE, "each item must be a JSON object");
		ungetc(ch, f);
		js.used = 0;
		linkjson_watch_begin();
		item = json_load_callback(jsrc_cb, &js,
		                          JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &jerr);
		if (linkjson_watch_oom()) { /* jansson may have dropped bytes */
			json_decref(item);
			return row_error(im, CLI_FAIL, "out of memory");
		}
		if (!item) {
			if (js.too_big)
				return row_error(im, CLI_USAGE,
				                 "the item is longer than %d bytes, the "
				                 "limit",
				                 JSON_ITEM_MAX);
			if (js.read_err)
				return row_error(im, CLI_FAIL, "cannot read the file");
			if (strstr(jerr.text, "\\u0000"))
				return row_error(im, CLI_USAGE,
				                 "invalid JSON: a NUL character "
				                 "(\\u0000) inside a string is not "
				                 "allowed");
			return row_error(im, CLI_USAGE, "invalid JSON: %s", jerr.text);
		}
		status = import_item(im, item);
		json_decref(item);
		if (status)
			return status;
		idx++;
		ch = skip_ws(f);
		if (ch == ']')
			break;
		if (ch != ',')
			return row_error(im, CLI_USAGE,
			                 "invalid JSON: expected , or ] after the "
			                 "item");
		ch = skip_ws(f);
	}
end:
	if (skip_ws(f) != EOF) {
		snprintf(im->where, sizeof im->where, "the file");
		return row_error(im, CLI_USAGE, "invalid JSON: text after the closing ]");
	}
	return CLI_OK;
}

/* ---- import: the command ---------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* The whole import, as the writer's unit: rows are read and created inside
 * its transaction; any bad row fails the unit, which rolls everything back. */
enum import_format { FMT_CSV, FMT_JSON, FMT_SQL };

struct import_job {
	struct importer im;
	FILE *f;
	const char *path;
	int format; /* enum import_format */
	bool ran;   /* the transaction began */
	int status; /* exit status of the rows (reported) */
};

static int import_run(svc *v, store *ws, void *ud, sh_err *err)
{
	struct import_job *ij = ud;
	struct importer *im = &ij->im;
	char clean[256];

	(void)err;
	ij->ran = true;
	im->v = v;
	im->ws = ws;
	if (ij->format == FMT_CSV && ij->f != stdin) {
		ij->status = prescan_csv(im, ij->f);
		if (ij->status)
			return SH_EINVAL;
		if (fseek(ij->f, 0, SEEK_SET) != 0) {
			ij->status = cli_error(CLI_FAIL, "cannot read %s twice: %s",
			                       cli_clean(ij->path, clean, sizeof clean),
			                       strerror(errno));
			return SH_EINVAL;
		}
		clearerr(ij->f);
	}
	ij->status = ij->format == FMT_JSON  ? import_json(im, ij->f)
	             : ij->format == FMT_SQL ? import_sql(im, ij->f)
	                                     : import_csv(im, ij->f);
	return ij->status ? SH_EINVAL : 0;
}

int cmd_import(cli *c)
{
	const char *path = c->args[0];
	const char *format = cli_opt_get(c, "format");
	struct import_job ij;
	svc_unit u;
	char clean[256];
	FILE *f;
	int fmt, rc, status;

	if (format) {
		if (strcasecmp(format, "csv") == 0)
			fmt = FMT_CSV;
		else if (strcasecmp(format, "json") == 0)
			fmt = FMT_JSON;
		else if (strcasecmp(format, "sql") == 0)
			fmt = FMT_SQL;
		else
			return cli_error(CLI_USAGE, "--format must be csv, json or sql, not '%.40s'",
			                 format);
	} else if (strcmp(path, "-") == 0 || ends_with(path, ".csv")) {
		fmt = FMT_CSV;
	} else if (ends_with(path, ".json")) {
		fmt = FMT_JSON;
	} else if (ends_with(path, ".sql")) {
		fmt = FMT_SQL;
	} else {
		return cli_error(CLI_USAGE,
		                 "cannot tell the format of %s from its name; add "
		                 "--format csv, --format json or --format sql",
		                 cli_clean(path, clean, sizeof clean));
	}
	if (strcmp(path, "-") == 0) {
		f = stdin;
	} else {
		f = fopen(path, "rb");
		if (!f)
			return cli_error(CLI_USAGE, "cannot open %s: %s",
			                 cli_clean(path, clean, sizeof clean), strerror(errno));
	}

	memset(&ij, 0, sizeof ij);
	ij.im.c = c;
	ij.im.progress = isatty(STDERR_FILENO) == 1;
	ij.f = f;
	ij.path = path;
	ij.format = fmt;
	svc_unit_init(&u, SVC_UNIT_CALL);
	u.call = import_run;
	u.call_ud = &ij;
	rc = cli_write(c, &u);
	if (ij.status) {
		status = ij.status; /* the bad row, reported */
	} else if (rc) {
		status = cli_report(rc, &c->st->last_err,
		                    ij.ran ? "cannot commit the import; nothing was imported"
		                           : "cannot start the import");
	} else {
		progress(&ij.im, true);
		if (ij.im.peer) /* which peer the file was read as */
			printf("imported %ld links from %s\n", ij.im.rows, peer_describe(ij.im.peer));
		else
			printf("imported %ld links\n", ij.im.rows);
		status = CLI_OK;
	}
	if (f != stdin)
		fclose(f);
	return status;
}

/* ---- export ----------------------------------------------------------- */

struct exporter {
	cli *c;
	bool json;
	int64_t n;
	int err;
};

static void put_time(FILE *f, int64_t t)
{
	char buf[SH_TIME_BUF];

	if (t)
		fputs(sh_time_format(t, buf), f);
}

/* One exported ShortUrl, with its redirect rules (compact, no newline). */
static int print_export_json(const svc *v, const sh_link *l)
{
	json_t *o = linkjson_short_url(v, l);
	json_t *rules = l->redirect_rules ? json_loads(l->redirect_rules, 0, NULL) : json_array();

	if (o && (!rules || json_object_set(o, "redirectRules", rules) != 0)) {
		json_decref(o);
		o = NULL;
	}
	json_decref(rules);
	return cli_print_json(o, true);
}

static int export_cb(const sh_link *l, void *ud)
{
	struct exporter *x = ud;
	char tags[SH_MAX_TAGS * (SH_TAG_MAX + 1) + 1], num[32];
	size_t o = 0;
	int i;

	if (x->json) {
		if (x->n)
			fputs(",\n", stdout);
		if (print_export_json(x->c->sv, l) != 0) {
			x->err = SH_ENOMEM;
			return 1;
		}
		x->n++;
		return 0;
	}
	tags[0] = '\0';
	for (i = 0; i < l->ntags && i < SH_MAX_TAGS; i++) {
		int w = snprintf(tags + o, sizeof tags - o, "%s%s", i ? " " : "", l->tags[i]);

		if (w < 0 || (size_t)w >= sizeof tags - o)
			break;
		o += (size_t)w;
	}
	csv_put(stdout, l->code, true);
	putchar(',');
	csv_put(stdout, l->url, true);
	putchar(',');
	csv_put(stdout, l->title, true);
	putchar(',');
	csv_put(stdout, tags, true);
	putchar(',');
	put_time(stdout, l->created_at);
	putchar(',');
	put_time(stdout, l->expires_at);
	putchar(',');
	if (l->max_visits) {
		snprintf(num, sizeof num, "%" PRId64, l->max_visits);
		fputs(num, stdout);
	}
	printf(",%d,%" PRId64 ",", l->redirect_status, l->visits);
	csv_put(stdout, l->domain, true);
	putchar('\n');
	x->n++;
	return 0;
}

int cmd_export(cli *c)
{
	const char *format = cli_opt_get(c, "format");
	struct exporter x = {0};
	sh_list_query q;
	int i, rc;

	if (format && strcasecmp(format, "csv") != 0 && strcasecmp(format, "json") != 0)
		return cli_error(CLI_USAGE, "--format must be csv or json, not '%.40s'", format);
	x.c = c;
	x.json = format && strcasecmp(format, "json") == 0;
	if (x.json) {
		fputs("[", stdout);
	} else {
		for (i = 0; i < NCOLS; i++)
			printf("%s%s", i ? "," : "", col_names[i]);
		putchar('\n');
	}
	/* Oldest first, so that an import recreates the links in their order.
	 * One streaming query (limit 0 = all). */
	memset(&q, 0, sizeof q);
	q.order = LIST_CREATED_ASC;
	q.now = sh_now();
	rc = svc_list(c->sv, c->st, NULL, &q, export_cb, &x, NULL);
	if (x.err)
		rc = x.err;
	if (x.json)
		fputs(x.n ? "\n]\n" : "]\n", stdout);
	if (rc)
		return cli_report(rc, &c->st->last_err, "cannot export the links");
	return CLI_OK;
}

/*
 * peers.c — the other shorteners' exports, for `shorty import` (issue 9
 * item 7): what each file calls its columns, and how its codes, tags and
 * counts are written. transfer.c reads the file (csv.c) and creates the
 * links, all or nothing, exactly as for shorty's own CSV; this file only
 * says which column is which and turns a peer's cells into shorty's.
 *
 *   Shlink   the web client's "Export" of the short URL list (CSV by
 *            papaparse): createdAt,domain,shortCode,shortUrl,longUrl,title,
 *            tags,visits; tags separated by "|".
 *   YOURLS   the Import/Export plugin's CSV: source,target,hits, the code
 *            written "/keyword/"; and the SQL dump (mysqldump, phpMyAdmin)
 *            of its yourls_url table: keyword,url,title,timestamp,ip,clicks.
 *   Kutt     the link objects of Kutt's API (GET /api/v2/links; Kutt has no
 *            export button) as CSV columns: address,target,description,
 *            visit_count,created_at,expire_in,link,...; counts may be
 *            written "1,234" (Kutt's pages format them so).
 *   Bitly    the Bitlink objects of Bitly's API v4 (its links_list export)
 *            as CSV columns: id or link (the bitlink), long_url, title,
 *            created_at, tags, and clicks when present; the code is the
 *            bitlink's back-half.
 *
 * Dates: every format's dates are ISO 8601 or "YYYY-MM-DD HH:MM:SS" (UTC),
 * both read by sh_time_parse. Tags: shorty's are [a-z0-9_-]{1,32}, so a
 * peer's tag is lower-cased, every other character becomes "-" and it is
 * cut to 32 characters ("Q1 Campaign" -> "q1-campaign").
 *
 * The SQL dump is read by a small hand-written reader: no C library reads
 * MySQL's dump syntax, and only INSERT statements into one table are
 * needed. It streams (one row in memory, each value at most CSV_FIELD_MAX
 * bytes) and skips everything else, comments and strings included.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

enum code_style {
	CODE_AS_IS,      /* the code itself */
	CODE_SLASHED,    /* "/keyword/" (YOURLS's plugin) */
	CODE_BACK_HALF,  /* a short link: the part after the last "/" */
};

/* a header cell of a peer's file, and the column it is */
typedef struct peer_col {
	const char *head;
	int col;
} peer_col;

struct peer_format {
	const char *what;               /* for messages */
	const char *const *signature;   /* header cells that identify it, all present */
	const peer_col *cols;           /* head NULL-terminated */
	const char *tag_seps;           /* separators between tags */
	int code_style;
	bool counts;                    /* COL_VISITS is imported */
};

#define SIG(...) ((const char *const[]){__VA_ARGS__, NULL})

static const peer_col shlink_cols[] = {{"shortCode", COL_CODE}, {"longUrl", COL_URL},   {"title", COL_TITLE},
                   {"tags", COL_TAGS},      {"createdAt", COL_CREATED}, {"visits", COL_VISITS},
                   {"domain", COL_DOMAIN}, {NULL, 0}},
  yourls_cols[] = {{"source", COL_CODE},  {"target", COL_URL}, {"hits", COL_VISITS},
                   {"keyword", COL_CODE}, {"url", COL_URL},    {"title", COL_TITLE},
                   {"timestamp", COL_CREATED}, {"clicks", COL_VISITS}, {NULL, 0}},
  kutt_cols[] = {{"address", COL_CODE},    {"target", COL_URL},        {"description", COL_TITLE},
                 {"created_at", COL_CREATED}, {"expire_in", COL_EXPIRES},
                 {"visit_count", COL_VISITS}, {NULL, 0}},
  bitly_cols[] = {{"id", COL_CODE},         {"link", COL_CODE},      {"long_url", COL_URL},
                  {"title", COL_TITLE},     {"created_at", COL_CREATED}, {"tags", COL_TAGS},
                  {"clicks", COL_VISITS},   {NULL, 0}};

static const peer_format peers[] = {
    {"a Shlink CSV export", SIG("shortCode", "shortUrl", "longUrl"), shlink_cols, "|",
     CODE_AS_IS, true},
    {"a YOURLS CSV export", SIG("source", "target", "hits"), yourls_cols, "", CODE_SLASHED,
     true},
    {"a Kutt export", SIG("address", "target"), kutt_cols, ",|", CODE_AS_IS, true},
    {"a Bitly export", SIG("long_url"), bitly_cols, ",|", CODE_BACK_HALF, true},
};
#define NPEERS (sizeof peers / sizeof peers[0])

/* the YOURLS SQL dump: its columns by name, in yourls_url's order */
static const peer_format yourls_sql = {
    "a YOURLS SQL dump", SIG("keyword", "url"), yourls_cols, "", CODE_AS_IS, true};
static const char *const yourls_sql_order[] = {"keyword", "url",  "title",
                                               "timestamp", "ip", "clicks"};

/* ---- CSV headers ------------------------------------------------------------- */

static bool has_head(const char *const *head, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (head[i] && strcasecmp(head[i], name) == 0)
			return true;
	return false;
}

const peer_format *peer_csv_detect(const char *const *head, int n)
{
	for (size_t i = 0; i < NPEERS; i++) {
		const char *const *s = peers[i].signature;

		while (*s && has_head(head, n, *s))
			s++;
		if (!*s)
			return &peers[i];
	}
	return NULL;
}

const char *peer_describe(const peer_format *p)
{
	return p->what;
}

int peer_header_col(const peer_format *p, const char *h)
{
	for (int i = 0; p->cols[i].head; i++)
		if (strcasecmp(p->cols[i].head, h) == 0)
			return p->cols[i].col;
	return -1;
}

/* ---- one row ---------------------------------------------------------------- */

/* A peer's tag as a shorty tag into out (SH_TAG_MAX + 1): lower case, any
 * other character than a-z 0-9 _ - becomes one "-", none at either end. */
static void shorty_tag(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o < SH_TAG_MAX; i++) {
		unsigned char ch = (unsigned char)tolower((unsigned char)s[i]);

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')
			out[o++] = (char)ch;
		else if (o > 0 && out[o - 1] != '-')
			out[o++] = '-';
	}
	while (o > 0 && out[o - 1] == '-')
		o--;
	out[o] = '\0';
}

/* tags split on seps (and white space when seps is empty or has no space),
 * each made a shorty tag, joined with spaces into row->tags */
static int peer_tags(const char *in, const char *seps, peer_row *row, char *why, size_t whysz)
{
	char tag[SH_TAG_MAX + 1];
	size_t o = 0;
	int n = 0;

	row->tags[0] = '\0';
	while (*in) {
		size_t len = strcspn(in, *seps ? seps : " ");

		shorty_tag(in, len, tag);
		in += len;
		if (*in)
			in++;
		if (!tag[0])
			continue;
		if (++n > SH_MAX_TAGS) {
			snprintf(why, whysz, "more than %d tags; a link has at most %d", SH_MAX_TAGS,
			         SH_MAX_TAGS);
			return SH_EINVAL;
		}
		o += (size_t)snprintf(row->tags + o, sizeof row->tags - o, "%s%s", o ? " " : "", tag);
	}
	return 0;
}

/* "1,234" or "1234" -> 1234; "" -> -1 */
static int peer_count(const char *s, int64_t *out, char *why, size_t whysz)
{
	int64_t v = 0;
	bool digits = false;

	*out = -1;
	for (const char *p = s; *p; p++) {
		if (*p == ',' && digits)
			continue;
		if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10) {
			snprintf(why, whysz, "the visit count '%.40s' is not a whole number", s);
			return SH_EINVAL;
		}
		v = v * 10 + (*p - '0');
		digits = true;
	}
	if (digits)
		*out = v;
	return 0;
}

static int peer_code(const peer_format *p, const char *s, peer_row *row, char *why,
                     size_t whysz)
{
	size_t n;

	if (p->code_style == CODE_SLASHED) {
		while (*s == '/')
			s++;
		n = strlen(s);
		while (n > 0 && s[n - 1] == '/')
			n--;
	} else if (p->code_style == CODE_BACK_HALF) {
		size_t start;

		n = strlen(s);
		while (n > 0 && s[n - 1] == '/') /* "bit.ly/abc/" */
			n--;
		for (start = n; start > 0 && s[start - 1] != '/'; start--)
			;
		s += start;
		n -= start;
	} else {
		n = strlen(s);
	}
	if (n > CODE_MAX) {
		snprintf(why, whysz, "the code '%.40s...' is longer than %d characters", s, CODE_MAX);
		return SH_EINVAL;
	}
	memcpy(row->code, s, n);
	row->code[n] = '\0';
	return 0;
}

int peer_row_make(const peer_format *p, const char *const in[NCOLS], peer_row *row, char *why,
                  size_t whysz)
{
	int rc;

	for (int i = 0; i < NCOLS; i++)
		row->cell[i] = in[i];
	if ((rc = peer_code(p, in[COL_CODE], row, why, whysz)) ||
	    (rc = peer_tags(in[COL_TAGS], p->tag_seps, row, why, whysz)) ||
	    (rc = peer_count(p->counts ? in[COL_VISITS] : "", &row->visits, why, whysz)))
		return rc;
	row->cell[COL_CODE] = row->code;
	row->cell[COL_TAGS] = row->tags;
	return 0;
}

/* ---- YOURLS's SQL dump ------------------------------------------------------ */

typedef struct sqlrd {
	FILE *f;
	long line;
	int peek; /* a character read ahead, or -2 */
	char *val[8];          /* the current row's values (NULL = SQL NULL) */
	size_t vlen[8], vcap[8];
	int nval;
	int map[8];            /* value i -> column, -1 = ignored */
	char *why;
	size_t whysz;
} sqlrd;

static int rd(sqlrd *r)
{
	int ch;

	if (r->peek != -2) {
		ch = r->peek;
		r->peek = -2;
	} else {
		ch = getc(r->f);
	}
	if (ch == '\n')
		r->line++;
	return ch;
}

static void unrd(sqlrd *r, int ch)
{
	if (ch == '\n')
		r->line--;
	r->peek = ch;
}

static int sql_fail(sqlrd *r, int rc, const char *msg)
{
	snprintf(r->why, r->whysz, "%s", msg);
	return rc;
}

/* Skips white space and comments (-- to the end of the line, # likewise,
 * C comments, which also hold mysqldump's version-guarded statements);
 * returns the next character. */
static int skip_space(sqlrd *r)
{
	int ch;

	for (;;) {
		ch = rd(r);
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
			continue;
		if (ch == '#') {
			while ((ch = rd(r)) != EOF && ch != '\n')
				;
			continue;
		}
		if (ch == '-') {
			int c2 = rd(r);

			if (c2 == '-') {
				while ((ch = rd(r)) != EOF && ch != '\n')
					;
				continue;
			}
			unrd(r, c2);
			return '-';
		}
		if (ch == '/') {
			int c2 = rd(r), prev = 0;

			if (c2 != '*') {
				unrd(r, c2);
				return '/';
			}
			while ((ch = rd(r)) != EOF && !(prev == '*' && ch == '/'))
				prev = ch;
			continue;
		}
		return ch;
	}
}

/* A word (letters, digits, _) or an identifier in backquotes, into buf
 * (cut to bufsz - 1). Returns the character after it. */
static int read_word(sqlrd *r, int ch, char *buf, size_t bufsz)
{
	size_t n = 0;

	if (ch == '`') {
		while ((ch = rd(r)) != EOF && ch != '`')
			if (n + 1 < bufsz)
				buf[n++] = (char)ch;
		buf[n] = '\0';
		return rd(r);
	}
	while (ch != EOF && (isalnum(ch) || ch == '_' || ch == '.')) {
		if (n + 1 < bufsz)
			buf[n++] = (char)ch;
		ch = rd(r);
	}
	buf[n] = '\0';
	return ch;
}

/* Skips to the end of the statement (the ';' outside strings). */
static int skip_statement(sqlrd *r, int ch)
{
	int q = 0;

	for (; ch != EOF; ch = rd(r)) {
		if (q) {
			if (ch == '\\')
				rd(r);
			else if (ch == q)
				q = 0;
		} else if (ch == '\'' || ch == '"' || ch == '`') {
			q = ch;
		} else if (ch == ';') {
			return 0;
		}
	}
	return q ? sql_fail(r, SH_EINVAL, "a string is not closed before the end of the file")
	         : 0;
}

static int val_put(sqlrd *r, int i, int ch)
{
	if (r->vlen[i] + 1 >= r->vcap[i]) {
		size_t cap = r->vcap[i] ? r->vcap[i] * 2 : 256;
		char *nv;

		if (cap > CSV_FIELD_MAX + 1)
			cap = CSV_FIELD_MAX + 1;
		if (r->vlen[i] + 1 >= cap)
			return sql_fail(r, SH_ETOOBIG, "a value is longer than 64 KiB, the limit");
		nv = realloc(r->val[i], cap);
		if (!nv)
			return sql_fail(r, SH_ENOMEM, "out of memory");
		r->val[i] = nv;
		r->vcap[i] = cap;
	}
	r->val[i][r->vlen[i]++] = (char)ch;
	r->val[i][r->vlen[i]] = '\0';
	return 0;
}

/* Empties value i (allocated, NUL-terminated). */
static int val_reset(sqlrd *r, int i)
{
	int rc;

	r->vlen[i] = 0;
	if (!r->val[i] && (rc = val_put(r, i, 'x')))
		return rc;
	r->vlen[i] = 0;
	r->val[i][0] = '\0';
	return 0;
}

/* One value of a row: 'string' (MySQL's escapes, '' too), a number, NULL. */
static int read_value(sqlrd *r, int i, bool *null)
{
	int ch = skip_space(r), rc;

	*null = false;
	if ((rc = val_reset(r, i)))
		return rc;
	if (ch == '\'' || ch == '"') {
		int q = ch;

		for (;;) {
			ch = rd(r);
			if (ch == EOF)
				return sql_fail(r, SH_EINVAL, "a string is not closed");
			if (ch == q) {
				int c2 = rd(r);

				if (c2 != q) {
					unrd(r, c2);
					return 0;
				}
			} else if (ch == '\\') {
				static const char from[] = "0bnrtZ", to[] = "\0\b\n\r\t\x1a";
				const char *e;

				ch = rd(r);
				if (ch == EOF)
					return sql_fail(r, SH_EINVAL, "a string is not closed");
				if (ch && (e = strchr(from, ch)))
					ch = to[e - from];
				if (ch == 0)
					return sql_fail(r, SH_EINVAL, "a NUL character (\\0) in a value");
			}
			if ((rc = val_put(r, i, ch)))
				return rc;
		}
	}
	while (ch != EOF && ch != ',' && ch != ')' && !isspace(ch)) {
		if ((rc = val_put(r, i, ch)))
			return rc;
		ch = rd(r);
	}
	unrd(r, ch);
	if (strcasecmp(r->val[i], "NULL") == 0) {
		*null = true;
		r->val[i][0] = '\0';
	} else if (!r->vlen[i]) {
		return sql_fail(r, SH_EINVAL, "a value is missing");
	}
	return 0;
}

/* "(`keyword`, `url`, ...)" after the table name: which value is which */
static int read_columns(sqlrd *r)
{
	char name[64];
	int ch, n = 0;

	for (int i = 0; i < 8; i++)
		r->map[i] = -1;
	for (;;) {
		ch = read_word(r, skip_space(r), name, sizeof name);
		if (!name[0])
			return sql_fail(r, SH_EINVAL, "a column name is missing in INSERT INTO (...)");
		if (n < 8)
			r->map[n] = peer_header_col(&yourls_sql, name);
		n++;
		if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r')
			ch = skip_space(r);
		if (ch == ')')
			return 0;
		if (ch != ',')
			return sql_fail(r, SH_EINVAL, "expected , or ) in the column list");
	}
}

/* The VALUES of one INSERT: rows until ';'. */
static int read_rows(sqlrd *r, peer_sql_cb cb, void *ud, long *line)
{
	const char *cell[NCOLS];
	int ch, rc;
	bool null;

	for (;;) {
		ch = skip_space(r);
		if (ch != '(')
			return sql_fail(r, SH_EINVAL, "expected ( to start a row of VALUES");
		*line = r->line;
		for (int i = 0; i < NCOLS; i++)
			cell[i] = "";
		for (int i = 0;; i++) {
			if (i >= 8)
				return sql_fail(r, SH_EINVAL, "a row has more than 8 values");
			if ((rc = read_value(r, i, &null)))
				return rc;
			if (r->map[i] >= 0)
				cell[r->map[i]] = r->val[i];
			ch = skip_space(r);
			if (ch == ')')
				break;
			if (ch != ',')
				return sql_fail(r, SH_EINVAL, "expected , or ) after a value");
		}
		if ((rc = cb(ud, &yourls_sql, cell, *line)))
			return rc;
		ch = skip_space(r);
		if (ch == ';' || ch == EOF)
			return 0;
		if (ch != ',')
			return sql_fail(r, SH_EINVAL, "expected , or ; after a row");
	}
}

/* yourls_url, or another prefix's (YOURLS_DB_PREFIX): a name ending in "url" */
static bool url_table(const char *name)
{
	size_t n = strlen(name);

	return n >= 3 && strcasecmp(name + n - 3, "url") == 0;
}

int peer_yourls_sql(FILE *f, peer_sql_cb cb, void *ud, char *why, size_t whysz, long *line)
{
	sqlrd r = {.f = f, .line = 1, .peek = -2, .why = why, .whysz = whysz};
	char word[128];
	int ch, rc = 0;
	bool seen = false;

	for (;;) {
		*line = r.line;
		ch = skip_space(&r);
		if (ch == EOF)
			break;
		ch = read_word(&r, ch, word, sizeof word);
		if (strcasecmp(word, "INSERT") != 0) {
			if ((rc = skip_statement(&r, ch)))
				break;
			continue;
		}
		unrd(&r, ch);
		ch = read_word(&r, skip_space(&r), word, sizeof word);
		if (strcasecmp(word, "IGNORE") == 0)
			ch = read_word(&r, skip_space(&r), word, sizeof word);
		if (strcasecmp(word, "INTO") != 0) {
			rc = sql_fail(&r, SH_EINVAL, "expected INTO after INSERT");
			break;
		}
		ch = read_word(&r, skip_space(&r), word, sizeof word);
		if (ch == '.') /* `database`.`table` */
			ch = read_word(&r, rd(&r), word, sizeof word);
		if (!url_table(word)) {
			if ((rc = skip_statement(&r, ch)))
				break;
			continue;
		}
		if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r')
			ch = skip_space(&r);
		if (ch == '(') {
			if ((rc = read_columns(&r)))
				break;
			ch = skip_space(&r);
		} else {
			for (int i = 0; i < 8; i++)
				r.map[i] = i < 6 ? peer_header_col(&yourls_sql, yourls_sql_order[i]) : -1;
		}
		ch = read_word(&r, ch, word, sizeof word);
		if (strcasecmp(word, "VALUES") != 0 && strcasecmp(word, "VALUE") != 0) {
			rc = sql_fail(&r, SH_EINVAL, "expected VALUES in INSERT INTO the url table");
			break;
		}
		unrd(&r, ch);
		seen = true;
		if ((rc = read_rows(&r, cb, ud, line)))
			break;
	}
	if (rc == 0 && !seen)
		rc = sql_fail(&r, SH_EINVAL,
		              "no INSERT INTO yourls_url in the file: is it a dump of YOURLS's "
		              "yourls_url table?");
	if (rc < 0) { /* the reader's own error (cb's are its exit statuses, > 0) */
		if (ferror(f))
			rc = sql_fail(&r, SH_ESTORE, "cannot read the file");
		*line = r.line;
	}
	for (int i = 0; i < 8; i++)
		free(r.val[i]);
	return rc;
}

/*
 * csv.c — a bounded, streaming RFC 4180 reader and writer for `shorty
 * import` and `shorty export`.
 *
 * The reader pulls 64 KiB at a time from a FILE and hands out one record at
 * a time, so a file of any length costs the memory of its longest record:
 * at most CSV_FIELDS_MAX fields of at most CSV_FIELD_MAX bytes, anything
 * larger is an error naming the line. Accepted: quoted fields with
 * embedded commas, doubled quotes and newlines; CRLF, LF (and a lone CR)
 * line ends; a UTF-8 byte-order mark at the start; blank lines (skipped).
 * Refused, with the line: an unclosed quote, text after a closing quote, a
 * quote inside an unquoted field, a NUL byte.
 *
 * Spreadsheet formulas: export writes a cell that starts with = + - @ TAB
 * or CR with a leading ' (OWASP CSV injection advice), and import strips
 * exactly that one ' again. So that the round trip is lossless for every
 * string, the rule covers values that already start with any number of '
 * before one of those (''=1+1 is written '''=1+1): export adds a ' to
 * exactly the values matching ^'*[=+\-@\t\r], import removes one from
 * exactly the values matching ^'+[=+\-@\t\r], and nothing export writes
 * unchanged matches the latter.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

struct csv_reader {
	FILE *f;
	unsigned char in[64 * 1024];
	size_t pos, len;
	bool eof, started;
	long line;     /* physical line being read, 1-based */
	long rec_line; /* line where the current record (or error) began */
	char *buf;     /* the record's fields, each NUL-terminated */
	size_t blen, bcap;
	size_t off[CSV_FIELDS_MAX], flen[CSV_FIELDS_MAX];
	int nf;
	char err[256];
};

csv_reader *csv_open(FILE *f)
{
	csv_reader *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->f = f;
	r->line = 1;
	return r;
}

void csv_close(csv_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

static int fill(csv_reader *r)
{
	if (r->eof)
		return 0;
	r->pos = 0;
	r->len = fread(r->in, 1, sizeof r->in, r->f);
	if (r->len == 0) {
		r->eof = true;
		return ferror(r->f) ? -1 : 0;
	}
	return 1;
}

/* Next byte, EOF at the end, -2 on a read error. */
static int rd(csv_reader *r)
{
	if (r->pos == r->len) {
		int rc = fill(r);

		if (rc < 0)
			return -2;
		if (rc == 0)
			return EOF;
	}
	return r->in[r->pos++];
}

static int peek(csv_reader *r)
{
	if (r->pos == r->len) {
		int rc = fill(r);

		if (rc <= 0)
			return EOF;
	}
	return r->in[r->pos];
}

static int fail(csv_reader *r, int code, const char *msg)
{
	snprintf(r->err, sizeof r->err, "%s", msg);
	return code;
}

/* Makes room for one more byte in buf. */
static int grow(csv_reader *r)
{
	size_t cap;
	char *nb;

	if (r->blen < r->bcap)
		return 0;
	cap = r->bcap ? r->bcap * 2 : 4096;
	nb = realloc(r->buf, cap);
	if (!nb)
		return fail(r, SH_ENOMEM, "out of memory");
	r->buf = nb;
	r->bcap = cap;
	return 0;
}

static int put(csv_reader *r, size_t *flen, char ch)
{
	if (*flen >= CSV_FIELD_MAX)
		return fail(r, SH_ETOOBIG,
		            "a field is longer than 65536 bytes (64 KiB), the "
		            "limit; shorten it");
	if (grow(r))
		return SH_ENOMEM;
	r->buf[r->blen++] = ch;
	(*flen)++;
	return 0;
}

static int read_record(csv_reader *r)
{
	size_t flen;
	int ch, rc;

again:
	r->nf = 0;
	r->blen = 0;
	r->rec_line = r->line;
	ch = rd(r);
	if (ch == -2)
		return fail(r, SH_ESTORE, "cannot read the file");
	if (ch == EOF)
		return 0;
	if (ch == '\n' || ch == '\r') { /* a blank line */
		if (ch == '\r' && peek(r) == '\n')
			rd(r);
		r->line++;
		goto again;
	}
	for (;;) {
		if (r->nf == CSV_FIELDS_MAX)
			return fail(r, SH_ETOOBIG, "more than 64 fields in a record");
		r->off[r->nf] = r->blen;
		flen = 0;
		if (ch == '"') {
			long opened = r->line;

			for (;;) {
				ch = rd(r);
				if (ch == -2)
					return fail(r, SH_ESTORE, "cannot read the file");
				if (ch == EOF) {
					r->rec_line = opened;
					return fail(r, SH_EINVAL,
					            "a quoted field is not closed; end it "
					            "with \" (write a quote inside as \"\")");
				}
				if (ch == '"') {
					if (peek(r) != '"')
						break;
					rd(r);
				} else if (ch == '\n') {
					r->line++;
				} else if (ch == 0) {
					return fail(r, SH_EINVAL,
					            "a NUL byte in the file; CSV is text");
				}
				rc = put(r, &flen, (char)ch);
				if (rc)
					return rc;
			}
			ch = rd(r);
			if (ch != ',' && ch != '\n' && ch != '\r' && ch != EOF) {
				r->rec_line = r->line;
				return fail(r, SH_EINVAL,
				            "text after a closing quote; a quote inside a "
				            "quoted field is written \"\"");
			}
		} else {
			while (ch != ',' && ch != '\n' && ch != '\r' && ch != EOF) {
				if (ch == -2)
					return fail(r, SH_ESTORE, "cannot read the file");
				if (ch == '"') {
					r->rec_line = r->line;
					return fail(r, SH_EINVAL,
					            "a quote inside an unquoted field; quote "
					            "the whole field and write the quote as "
					            "\"\"");
				}
				if (ch == 0) {
					r->rec_line = r->line;
					return fail(r, SH_EINVAL,
					            "a NUL byte in the file; CSV is text");
				}
				rc = put(r, &flen, (char)ch);
				if (rc)
					return rc;
				ch = rd(r);
			}
		}
		/* terminate the field (the NUL does not count against its limit) */
		if (grow(r))
			return SH_ENOMEM;
		r->buf[r->blen++] = '\0';
		r->flen[r->nf] = flen;
		r->nf++;
		if (ch == ',') {
			ch = rd(r);
			continue;
		}
		if (ch == '\r' && peek(r) == '\n')
			rd(r);
		if (ch == '\r' || ch == '\n')
			r->line++;
		return 1;
	}
}

int csv_next(csv_reader *r)
{
	r->err[0] = '\0';
	if (!r->started) {
		r->started = true;
		if (fill(r) < 0)
			return fail(r, SH_ESTORE, "cannot read the file");
		if (r->len >= 3 && r->in[0] == 0xEF && r->in[1] == 0xBB && r->in[2] == 0xBF)
			r->pos = 3;
	}
	return read_record(r);
}

int csv_nfields(const csv_reader *r)
{
	return r->nf;
}

const char *csv_field(const csv_reader *r, int i, size_t *len)
{
	if (i < 0 || i >= r->nf) {
		if (len)
			*len = 0;
		return "";
	}
	if (len)
		*len = r->flen[i];
	return r->buf + r->off[i];
}

long csv_line(const csv_reader *r)
{
	return r->rec_line;
}

const char *csv_errmsg(const csv_reader *r)
{
	return r->err;
}

static bool formula_start(char ch)
{
	return ch == '=' || ch == '+' || ch == '-' || ch == '@' || ch == '\t' || ch == '\r';
}

/* s matches ^'*[=+\-@\t\r]: a formula, or one behind any number of '. */
static bool quoted_formula(const char *s)
{
	while (*s == '\'')
		s++;
	return formula_start(*s);
}

void csv_put(FILE *f, const char *s, bool neutralize)
{
	bool quote = false;
	const char *p;

	if (!s)
		s = "";
	for (p = s; *p; p++)
		if (*p == ',' || *p == '"' || *p == '\r' || *p == '\n') {
			quote = true;
			break;
		}
	if (quote)
		putc('"', f);
	/* a value that already looks neutralized gets a ' too, so that import,
	 * which strips one, gives it back unchanged */
	if (neutralize && quoted_formula(s))
		putc('\'', f);
	for (p = s; *p; p++) {
		if (*p == '"')
			putc('"', f);
		putc(*p, f);
	}
	if (quote)
		putc('"', f);
}

const char *csv_unneutralize(const char *s)
{
	if (s[0] == '\'' && quoted_formula(s))
		return s + 1;
	return s;
}

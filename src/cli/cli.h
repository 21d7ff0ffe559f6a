/*
 * cli.h — private index of the command line (src/cli/).
 *
 * main.c calls cli_main(). commands.c holds the ONE command table (name,
 * usage, help, arity, options, handler) from which dispatch and every
 * `--help` come, parses global options (--db and every cfg_options[] entry)
 * before or after the command, opens the store and the service for the
 * handler and closes them after. The handlers live in links.c (add, resolve,
 * info, list, delete), transfer.c (import, export), keys.c (key ...) and
 * commands.c (migrate, serve). csv.c is a bounded RFC 4180 reader/writer.
 *
 * Exit statuses (SPEC §4): 0 done, 1 failed (not found, taken, store error),
 * 2 usage or invalid input. Every error is one line on stderr:
 * "shorty: <what went wrong and how to fix it>".
 */
#ifndef SHORTY_CLI_H
#define SHORTY_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shorty/config.h"
#include "shorty/err.h"
#include "shorty/service.h"
#include "shorty/store.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* A command's option: "--name VALUE" (metavar != NULL) or a flag "--name". */
typedef struct cli_opt {
	const char *name;
	const char *metavar; /* NULL: a flag without value */
	bool repeat;         /* may be given more than once */
	const char *help;
} cli_opt;

/* What a command needs opened before its handler runs. */
enum cli_needs {
	CLI_OPEN_NOTHING = 0, /* serve, help: the handler does it all */
	CLI_OPEN_EXISTING,    /* an existing, migrated store + service + writer */
	CLI_OPEN_CREATE,      /* store created if missing and migrated + service + writer */
	CLI_OPEN_MIGRATE,     /* store created if missing and migrated, no service (migrate) */
	CLI_OPEN_SELF,        /* the handler opens its stores (copy), quiet as the others */
};

struct cli;
typedef int (*cli_handler)(struct cli *c);

typedef struct cli_cmd {
	const char *name;  /* "add", or "key create" (two words) */
	const char *usage; /* after "shorty " */
	const char *help;  /* one line */
	int min_args, max_args;
	const cli_opt *opts; /* terminated by {NULL}; may be NULL */
	int needs;           /* enum cli_needs */
	cli_handler run;
} cli_cmd;

typedef struct cli_optval {
	const cli_opt *opt;
	const char *val; /* NULL for a flag */
} cli_optval;

/* The state of one invocation, handed to the handler. */
typedef struct cli {
	sh_config cfg;
	const cli_cmd *cmd;
	const char **args; /* positional arguments of the command */
	int nargs;
	cli_optval *opts; /* command options in the order given */
	int nopts;
	store *st; /* opened per cmd->needs, else NULL */
	svc *sv;
	svc_writer *wr; /* with sv: every write goes through it (cli_write) */
} cli;

/* Opens the store at db (c->cfg's options): with write, created if
 * missing and migrated; else it must exist at the current schema. Reports
 * a failure (one line) and returns its exit status, or 0. */
int cli_open_store(cli *c, const char *db, bool write, store **out);

/* Runs one unit of work through the service's writer, now, in a
 * transaction of its own. Returns u->rc. */
int cli_write(cli *c, svc_unit *u);

int cli_main(int argc, char **argv);

/* `shorty --check-libs` (libs.c): loads every library loaded when first
 * used; one line each on stdout, one error line each missing one on stderr.
 * CLI_OK when all load, else CLI_FAIL. */
int cli_check_libs(void);

/* The last value of option `name`, or NULL if not given. */
const char *cli_opt_get(const cli *c, const char *name);
/* True if flag `name` was given. */
bool cli_flag(const cli *c, const char *name);
/* Up to max values of a repeatable option, in order; returns how many
 * were given (may exceed max: the caller reports it). */
int cli_opt_all(const cli *c, const char *name, const char **out, int max);

/* Prints "shorty: <message>\n" on stderr as ONE line (control characters
 * escaped) and returns status. */
int cli_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Exit status for an SH_E* code: 0, 1 or 2. */
int cli_status(int rc);

/* Reports a failed service/store call: err->msg when set, else a sentence
 * built from rc and `what`. Returns the exit status. */
int cli_report(int rc, const sh_err *err, const char *what);

/* Parses a whole decimal integer in [min, max]; 0 or SH_EINVAL. */
int cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Copies s into dst (dstsz >= 1) with control characters escaped
 * (\n, \r, \t, \xNN), so untrusted text stays on one line. */
const char *cli_clean(const char *s, char *dst, size_t dstsz);

/* Prints l as one Shlink ShortUrl JSON object (compact or indented), no
 * newline. 0 or SH_ENOMEM. */
int cli_print_link_json(const svc *v, const sh_link *l, bool compact);
/* Prints o (taken: freed) as JSON without a newline; SH_ENOMEM for NULL. */
int cli_print_json(json_t *o, bool compact);

/* Handlers. */
int cmd_add(cli *c);
int cmd_resolve(cli *c);
int cmd_info(cli *c);
int cmd_list(cli *c);
int cmd_delete(cli *c);
int cmd_import(cli *c);
int cmd_export(cli *c);
int cmd_key_create(cli *c);
int cmd_key_list(cli *c);
int cmd_key_revoke(cli *c);
int cmd_copy(cli *c);

/* ---- CSV (csv.c): RFC 4180, bounded ---------------------------------- */

#define CSV_FIELD_MAX (64 * 1024) /* bytes per field */
#define CSV_FIELDS_MAX 64         /* fields per record */

typedef struct csv_reader csv_reader;

/* Reads records from f (not closed). A UTF-8 BOM at the start is skipped;
 * CRLF and LF both end a record; blank lines are skipped. */
csv_reader *csv_open(FILE *f);
void csv_close(csv_reader *r);

/* Reads the next record: 1 with csv_nfields()/csv_field() filled, 0 at
 * the end, SH_EINVAL / SH_ETOOBIG / SH_ESTORE (read error) with
 * csv_errmsg() saying what and where (without the line prefix). */
int csv_next(csv_reader *r);
int csv_nfields(const csv_reader *r);
const char *csv_field(const csv_reader *r, int i, size_t *len);
/* Physical line (1-based) where the current record, or the error, began. */
long csv_line(const csv_reader *r);
const char *csv_errmsg(const csv_reader *r);

/* Writes one field (quoted when it holds , " CR or LF). With neutralize, a
 * value starting with = + - @ TAB or CR is written with a leading ' so
 * spreadsheets do not run it as a formula (and a value starting with '
 * and one of those gets one more ', so the round trip is exact). */
void csv_put(FILE *f, const char *s, bool neutralize);

/* The import side of csv_put's neutralizing: if s starts with one or more
 * ' followed by one of = + - @ TAB CR, returns s + 1, else s (the exact
 * inverse of csv_put for every string). */
const char *csv_unneutralize(const char *s);

/* ---- the other shorteners' exports (peers.c), for `shorty import` ------ */

/* The columns of an imported link (transfer.c reads every format into these). */
enum import_col {
	COL_CODE,
	COL_URL,
	COL_TITLE,
	COL_TAGS,
	COL_CREATED,
	COL_EXPIRES,
	COL_MAX_VISITS,
	COL_REDIRECT,
	COL_VISITS,
	COL_DOMAIN, /* the link's domain, empty: the default one */
	NCOLS
};

typedef struct peer_format peer_format;

/* The peer whose CSV export has this header (Shlink, YOURLS, Kutt,
 * Bitly), or NULL: shorty's own columns. */
const peer_format *peer_csv_detect(const char *const *head, int n);
/* "a Shlink CSV export", for messages. */
const char *peer_describe(const peer_format *p);
/* The column a header cell of p's export holds, or -1 (ignored). */
int peer_header_col(const peer_format *p, const char *h);

/* One row of a peer, turned into shorty's cells: the code out of a short
 * URL or "/keyword/", tags split on the peer's separators and made shorty
 * tags (lower case, [a-z0-9_-], at most 32 characters), a count written
 * "1,234". The cells point into row or into the original strings. */
typedef struct peer_row {
	const char *cell[NCOLS];
	char code[CODE_MAX + 1];
	char tags[SH_MAX_TAGS * (SH_TAG_MAX + 1) + 1];
	int64_t visits; /* -1: the file has no count */
} peer_row;

/* Fills row from in (cells of p's columns, "" when absent). 0, or
 * SH_EINVAL with why (a sentence) filled. */
int peer_row_make(const peer_format *p, const char *const in[NCOLS], peer_row *row, char *why,
                  size_t whysz);

/* YOURLS's SQL dump (mysqldump or phpMyAdmin) of its yourls_url table:
 * calls cb with each row's cells (in p's columns, see peer_row_make) and
 * the line where the row begins; stops at cb's non-zero return (passed
 * back). Statements for other tables are skipped. Returns 0, cb's value,
 * or SH_EINVAL / SH_ETOOBIG / SH_ESTORE with why and *line filled. */
typedef int (*peer_sql_cb)(void *ud, const peer_format *p, const char *const cell[NCOLS],
                           long line);
int peer_yourls_sql(FILE *f, peer_sql_cb cb, void *ud, char *why, size_t whysz, long *line);

#endif

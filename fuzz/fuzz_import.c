/*
 * fuzz_import.c — libFuzzer harness for `shorty import` (cli/transfer.c,
 * cli/csv.c, cli/peers.c): CSV (shorty's and the other shorteners'), JSON
 * and YOURLS SQL dumps into a store, all or nothing.
 *
 * The first input byte picks the format (its value mod 3: 0 CSV, 1 JSON,
 * 2 SQL; the seeds start with '0', '1', '2'); the rest is the file. It is
 * written to a memfd and imported through the CLI's own cmd_import (with
 * --format), so the real path runs: the CSV prescan, the
 * second pass after fseek, the streamed JSON reader, svc_shorten for every
 * row in one transaction. Each input gets an empty in-memory store
 * ("memory:fuzz-import") with a fixed installation secret, so runs are
 * deterministic. The store is made and migrated once, at start-up, and its
 * connection is kept for every input; each input empties it first (every
 * table's rows; meta but the secret; the running totals back to zero, with
 * statements prepared once) and gets a service and a writer of its own over
 * it, as the CLI's one import does. Replaying every migration per input
 * cost 99% of the run under the sanitizers (56 inputs a second); a new
 * connection per input (SQLite reads the schema and prepares every
 * statement again) three quarters of what was left (292 a second).
 *
 * Invariants (abort on violation): a failed import leaves ZERO links; after
 * a successful one every link holds a normalized URL (url_normalize gives
 * it back unchanged) and its code resolves to exactly that URL.
 *
 * The CLI reports each refused file on stderr; stdio's stdout and stderr
 * are pointed at /dev/null during the import (the sanitizers write to the
 * descriptor, so their reports still show).
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/cli.h"
#include "shorty/config.h"
#include "shorty/service.h"
#include "shorty/store.h"
#include "shorty/url.h"

#define STORE_URL "memory:fuzz-import"
/* the memdb name store_memory_open gives it */
#define STORE_FILE "file:/shorty-fuzz-import?vfs=memdb"
#define SECRET_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sh_config cfg;
static FILE *devnull;
static store *keep;  /* kept open: a memdb lives while a connection does */
static sqlite3 *raw; /* a raw connection to it, to empty it */
static sqlite3_stmt *wipe[64]; /* its statements that empty the store */
static int nwipe;
static void wipe_prepare(void);
static const cli_opt format_opt = {"format", "FORMAT", false, "csv, json or sql"};
static const char *const formats[3] = {"csv", "json", "sql"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	sh_err err = {0};

	(void)argc;
	(void)argv;
	if (url_global_init() != 0 || cfg_init(&cfg, &err) != 0)
		abort();
	cfg.cache_entries = 64;
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	{
		store_options o;

		store_options_default(&o);
		o.create = true;
		if (store_open(&keep, STORE_URL, &o, &err) != 0 || store_migrate(keep, &err) != 0 ||
		    store_meta_set(keep, "secret", SECRET_HEX) != 0 ||
		    sqlite3_open_v2(STORE_FILE, &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI,
		                    NULL) != SQLITE_OK) {
			fprintf(stderr, "fuzz_import: cannot make the store: %s\n", err.msg);
			abort();
		}
		wipe_prepare();
	}
	return 0;
}

static void wipe_add(const char *sql)
{
	if (nwipe == 64 || sqlite3_prepare_v3(raw, sql, -1, SQLITE_PREPARE_PERSISTENT,
	                                      &wipe[nwipe++], NULL) != SQLITE_OK) {
		fprintf(stderr, "fuzz_import: cannot prepare %s: %s\n", sql, sqlite3_errmsg(raw));
		abort();
	}
}

/* Prepares, once, what empties the store to what a fresh one holds: no rows
 * in any table but the running totals (zero) and the secret. */
static void wipe_prepare(void)
{
	sqlite3_stmt *st;
	char sql[256];

	wipe_add("BEGIN");
	if (sqlite3_prepare_v2(
	        raw,
	        "SELECT name FROM sqlite_master WHERE type = 'table'"
	        " AND name NOT LIKE 'sqlite_%' AND name NOT IN ('meta', 'visit_totals')",
	        -1, &st, NULL) != SQLITE_OK)
		abort();
	while (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"", sqlite3_column_text(st, 0));
		wipe_add(sql);
	}
	sqlite3_finalize(st);
	wipe_add("DELETE FROM meta WHERE key <> 'secret'");
	wipe_add("UPDATE visit_totals SET total = 0, bots = 0");
	wipe_add("COMMIT");
}

/* Empties the store (the statements are prepared once: preparing them per
 * input cost a sixth of the run). */
static void empty_store(void)
{
	for (int i = 0; i < nwipe; i++) {
		int rc = sqlite3_step(wipe[i]);
		sqlite3_reset(wipe[i]);
		if (rc != SQLITE_DONE) {
			fprintf(stderr, "fuzz_import: cannot empty the store: %s\n",
			        sqlite3_errmsg(raw));
			abort();
		}
	}
}

struct check_ctx {
	svc *v;
	store *s;
	svc_target *t;
	int64_t n;
};

static void violation(const char *what, const char *a, const char *b)
{
	fprintf(stderr, "fuzz_import: %s: \"%s\" vs \"%s\"\n", what, a ? a : "(null)",
	        b ? b : "(null)");
	abort();
}

static int check_link(const sh_link *l, void *ud)
{
	struct check_ctx *c = ud;
	char *norm = NULL;
	sh_err err = {0};

	c->n++;
	if (!l->url ||
	    url_normalize(svc_url_policy(c->v), l->url, strlen(l->url), &norm, &err) != 0)
		violation("an imported URL is refused by url_normalize", l->url, err.msg);
	if (strcmp(norm, l->url) != 0)
		violation("an imported URL is not normalized", l->url, norm);
	free(norm);
	/* the read connection must see what the import committed */
	if (svc_resolve_on(c->v, c->s, l->domain_id, l->code, strlen(l->code), c->t, 1) != 0)
		violation("an imported code does not resolve", l->code, l->url);
	if (strcmp(c->t->url, l->url) != 0)
		violation("an imported code resolves to another URL", c->t->url, l->url);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	store *st = keep;
	svc *sv = NULL;
	svc_writer *wr = NULL;
	sh_err err = {0};
	char path[64];
	const char *args[1];
	cli_optval ov;
	cli c;
	sh_list_query q;
	struct check_ctx cc;
	int64_t total = -1;
	FILE *out, *errf;
	int fd, status;
	const char *fmt;

	if (size == 0)
		return 0;
	fmt = formats[data[0] % 3];
	fd = memfd_create("fuzz-import", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	empty_store();
	if (svc_open(&sv, &cfg, st, &err) != 0 ||
	    svc_writer_create(&wr, sv, st, NULL, NULL, &err) != 0) {
		fprintf(stderr, "fuzz_import: cannot open the store: %s\n", err.msg);
		abort();
	}

	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	args[0] = path;
	c.args = args;
	c.nargs = 1;
	ov.opt = &format_opt;
	ov.val = fmt;
	c.opts = &ov;
	c.nopts = 1;
	c.st = st;
	c.sv = sv;
	c.wr = wr; /* the import runs as one unit of the writer, as in the CLI */

	out = stdout;
	errf = stderr;
	stdout = devnull;
	stderr = devnull;
	status = cmd_import(&c);
	stdout = out;
	stderr = errf;
	close(fd);

	if (store_in_txn(st))
		violation("the import left a transaction open", "", "");
	memset(&q, 0, sizeof(q));
	q.limit = 1000000;
	memset(&cc, 0, sizeof(cc));
	cc.v = sv;
	cc.s = st;
	cc.t = malloc(svc_target_size(sv));
	if (!cc.t)
		abort();
	if (svc_list(sv, st, NULL, &q, check_link, &cc, &total) != 0)
		violation("cannot list the links after the import", "", "");
	if (status != CLI_OK && (total != 0 || cc.n != 0))
		violation("a failed import left links behind", fmt, "");
	if (total != cc.n)
		violation("the list total differs from the links listed", "", "");
	free(cc.t);
	svc_writer_free(wr);
	svc_close(sv);
	return 0;
}

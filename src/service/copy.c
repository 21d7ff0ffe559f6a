/*
 * copy.c — a whole store into another (`shorty copy`, issue 8 item 7):
 * SQLite to PostgreSQL and back, keeping every id and code.
 *
 * The stores hand over rows of the logical tables of store.h
 * (sh_copy_table), the same columns in every backend, table by table in
 * the order the references need (domains and keys before links, links
 * before their codes, tags, counts and visits). Everything goes into the
 * target in ONE transaction, so a failure leaves it as it was. A counter
 * code is its link's id through the keyed permutation: PostgreSQL keeps it
 * as a row too (marked generated, so that two instances can never hand it
 * out twice), SQLite does not. So the rows a source has for them are
 * dropped and made again here from each counter link, with the source's
 * secret (copied with the settings, so the codes stay the same).
 */
#include <inttypes.h>
#include <string.h>

#include "shorty/service.h"
#include "service/internal.h"

struct copy_ctx {
	svc *v;
	store *dst;
	int table;
	int64_t *rows;
	int put_rc; /* the target's failure (else the source's) */
};

/* a COPY_LINKS row: its id, code kind and domain */
enum { LINK_ID = 0, LINK_KIND = 1, LINK_DOMAIN = 16 };
enum { CODE_GENERATED = 3 };

static int put_row(struct copy_ctx *c, int table, const sh_cell *row)
{
	int rc = store_copy_put(c->dst, table, row);

	if (rc)
		c->put_rc = rc;
	else
		c->rows[table]++;
	return rc;
}

/* The counter code row of a COPY_LINKS row (none for other kinds). */
static int put_counter_code(struct copy_ctx *c, const sh_cell *link)
{
	char code[CODE_MAX + 1];
	sh_cell row[4];
	int rc;

	if (link[LINK_KIND].type != SH_CELL_INT || link[LINK_KIND].i != CODE_KIND_COUNTER)
		return 0;
	if ((rc = svc__counter_code(c->v, link[LINK_ID].i, code, sizeof code)))
		return rc;
	memset(row, 0, sizeof row);
	row[0] = link[LINK_DOMAIN];
	row[1] = (sh_cell){.type = SH_CELL_TEXT, .s = code, .n = strlen(code)};
	row[2] = link[LINK_ID];
	row[3] = (sh_cell){.type = SH_CELL_INT, .i = 1};
	return put_row(c, COPY_CODES, row);
}

static int on_row(const sh_cell *row, int ncols, void *ud)
{
	struct copy_ctx *c = ud;
	int rc;

	(void)ncols;
	if (c->table == COPY_CODES && row[CODE_GENERATED].type == SH_CELL_INT &&
	    row[CODE_GENERATED].i)
		return 0; /* made again from its link */
	rc = put_row(c, c->table, row);
	if (rc == 0 && c->table == COPY_LINKS)
		rc = put_counter_code(c, row);
	return rc;
}

static int copy_all(svc *v, store *src, store *dst, int64_t *rows, sh_err *err)
{
	struct copy_ctx c = {.v = v, .dst = dst, .rows = rows};
	int rc;

	for (c.table = 0; c.table < COPY_NTABLES; c.table++) {
		c.put_rc = 0;
		rc = store_copy_rows(src, c.table, on_row, &c);
		/* the target may have sent the rows without waiting for each */
		if (rc == 0 && (rc = store_copy_put(dst, c.table, NULL)))
			c.put_rc = rc;
		if (rc == 0)
			continue;
		store *bad = c.put_rc ? dst : src;
		return sh_err_set(err, rc, NULL, "cannot copy the %s (%s): %s; nothing was copied",
		                  sh_copy_tables[c.table].name,
		                  c.put_rc ? "writing the target" : "reading the source",
		                  bad->last_err.msg[0] ? bad->last_err.msg : sh_strerror(rc));
	}
	rc = store_copy_finish(dst);
	if (rc)
		return sh_err_set(err, rc, NULL, "cannot set the target's id sequences: %s; "
		                  "nothing was copied", dst->last_err.msg);
	return 0;
}

int svc_copy(svc *v, store *src, store *dst, int64_t rows[COPY_NTABLES], sh_err *err)
{
	int64_t mine[COPY_NTABLES], n = 0;
	int rc;

	if (!rows)
		rows = mine;
	memset(rows, 0, sizeof(int64_t) * COPY_NTABLES);
	if ((rc = store_copy_count(dst, &n)))
		return sh_err_set(err, rc, NULL, "cannot read the target store: %s",
		                  dst->last_err.msg);
	if (n > 0)
		return sh_err_set(err, SH_ETAKEN, NULL,
		                  "the target store is not empty (%" PRId64 " links, API keys, "
		                  "domains and visits): copy only into a new, empty store",
		                  n);
	if ((rc = store_begin(dst)))
		return sh_err_set(err, rc, NULL, "cannot begin writing the target store: %s",
		                  dst->last_err.msg);
	rc = copy_all(v, src, dst, rows, err);
	if (rc == 0 && (rc = store_commit(dst)))
		sh_err_set(err, rc, NULL, "cannot commit the copy: %s; nothing was copied",
		           dst->last_err.msg);
	if (rc) {
		(void)store_rollback(dst);
		memset(rows, 0, sizeof(int64_t) * COPY_NTABLES);
	}
	return rc;
}

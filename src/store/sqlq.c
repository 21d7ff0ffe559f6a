/*
 * sqlq.c — which SQL conditions and orders a store query's fields turn
 * into, written once for the SQL backends (sqlite.c, postgres.c); see
 * sqlq.h. Each backend runs what is built here with its own library
 * (sqlite3_bind_*, PQexecParams) and reads the rows itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shorty/codec.h"
#include "shorty/timeutil.h"
#include "store/sqlq.h"

#define sqlq_err(s, ...) sh_err_set(&(s)->last_err, SH_EINVAL, NULL, __VA_ARGS__)
#define sqlq_fail(s, code, ...) sh_err_set(&(s)->last_err, (code), NULL, __VA_ARGS__)

/* ---- the builder --------------------------------------------------------- */

sqlq *sqlq_new(store *s, const sqlq_dialect *d)
{
	sqlq *b = malloc(sizeof(*b)); /* 5 KiB: not on a worker's stack */

	if (!b) {
		sh_err_set(&s->last_err, SH_ENOMEM, NULL, "%s", "out of memory");
		return NULL;
	}
	sqlq_init(b, d);
	return b;
}

void sqlq_init(sqlq *b, const sqlq_dialect *d)
{
	memset(b, 0, offsetof(sqlq, b)); /* the values are set before they are read */
	b->d = d;
}

static void put(sqlq *b, const char *s, size_t n)
{
	if (b->len + n >= sizeof(b->sql)) {
		b->overflow = true;
		return;
	}
	memcpy(b->sql + b->len, s, n);
	b->len += n;
	b->sql[b->len] = '\0';
}

void sqlq_add(sqlq *b, const char *frag)
{
	char num[16];
	const char *q;

	if (!b->d->dollar) {
		put(b, frag, strlen(frag));
		return;
	}
	while ((q = strchr(frag, '?'))) {
		put(b, frag, (size_t)(q - frag));
		frag = q + 1;
		if (*frag >= '0' && *frag <= '9') /* ?n: the number stays */
			put(b, "$", 1);
		else
			put(b, num, (size_t)snprintf(num, sizeof(num), "$%d", ++b->nph));
	}
	put(b, frag, strlen(frag));
}

void sqlq_cond(sqlq *b, const char *frag)
{
	sqlq_add(b, b->where ? " AND " : " WHERE ");
	b->where = true;
	sqlq_add(b, frag);
}

static sqlq_val *next_val(sqlq *b)
{
	if (b->nb == SQLQ_BIND_MAX) {
		b->overflow = true;
		return NULL;
	}
	return &b->b[b->nb++];
}

void sqlq_int(sqlq *b, int64_t v)
{
	sqlq_val *x = next_val(b);

	if (x)
		*x = (sqlq_val){.text = false, .i = v};
}

void sqlq_text(sqlq *b, const char *s)
{
	sqlq_val *x = next_val(b);

	if (x)
		*x = (sqlq_val){.text = true, .s = s};
}

/* A condition with one `?`, and its value. */
static void cond_i(sqlq *b, const char *frag, int64_t v)
{
	sqlq_cond(b, frag);
	sqlq_int(b, v);
}

static void cond_s(sqlq *b, const char *frag, const char *v)
{
	sqlq_cond(b, frag);
	sqlq_text(b, v);
}

/* The values of LIMIT and OFFSET: limit <= 0 is none. */
static void limit_vals(sqlq *b, int64_t limit, int64_t offset)
{
	if (limit > 0)
		sqlq_int(b, limit);
	else if (b->d->null_limit)
		sqlq_text(b, NULL);
	else
		sqlq_int(b, -1);
	sqlq_int(b, offset > 0 ? offset : 0);
}

void sqlq_limit(sqlq *b, int64_t limit, int64_t offset)
{
	sqlq_add(b, " LIMIT ? OFFSET ?");
	limit_vals(b, limit, offset);
}

/* ---- links --------------------------------------------------------------- */

int sqlq_check_link(store *s, const sh_link *l)
{
	if (!l || !l->url)
		return sqlq_err(s, "%s", "link: url is required");
	if (l->id <= 0)
		return sqlq_err(s, "%s", "link: id must be > 0");
	if (l->code_kind < CODE_KIND_COUNTER || l->code_kind > CODE_KIND_HASH)
		return sqlq_err(s, "%s", "link: unknown code kind");
	if (l->code_kind != CODE_KIND_COUNTER && !l->code[0])
		return sqlq_err(s, "%s", "link: a stored code is required for this kind");
	if (strnlen(l->code, sizeof(l->code)) > CODE_MAX)
		return sqlq_err(s, "%s", "link: code too long");
	if (l->ntags < 0 || l->ntags > SH_MAX_TAGS)
		return sqlq_err(s, "%s", "link: too many tags");
	return 0;
}

/* The distinct strings of in[0..n) into out (so that "all of them" can
 * compare a count); returns how many. */
static int distinct_tags(const char *const *in, int n, const char **out)
{
	int i, j, k = 0;

	for (i = 0; i < n; i++) {
		for (j = 0; j < k && strcmp(out[j], in[i]) != 0; j++)
			;
		if (j == k)
			out[k++] = in[i];
	}
	return k;
}

/* A condition on how many of tags[0..n) (distinct) a link has: cmp is
 * "= ?" or "< ?" (compared with n), "> 0" or "= 0". */
static void tags_cond(sqlq *b, const char *const *tags, int n, const char *cmp)
{
	sqlq_cond(b, "(SELECT count(*) FROM link_tags t WHERE t.link_id = l.id AND t.tag IN (");
	for (int i = 0; i < n; i++) {
		sqlq_add(b, i ? ", ?" : "?");
		sqlq_text(b, tags[i]);
	}
	sqlq_add(b, ")) ");
	sqlq_add(b, cmp);
	if (cmp[2] == '?')
		sqlq_int(b, n);
}

int sqlq_link_match(store *s, sqlq *b, const sh_link_match *m)
{
	if (!m || !m->url || m->ntags < 0 || m->ntags > SH_MAX_TAGS || (m->ntags && !m->tags))
		return sqlq_err(s, "%s", "find match: bad query");
	sqlq_init(b, b->d);
	sqlq_add(b, b->d->link_select);
	sqlq_cond(b, "l.url_hash = ? AND l.url = ? AND l.disabled = 0 AND l.domain_id = ?");
	sqlq_int(b, (int64_t)m->url_hash);
	sqlq_text(b, m->url);
	sqlq_int(b, m->domain_id);
	if (m->owner_key_id)
		cond_i(b, "l.owner_key_id = ?", m->owner_key_id);
	if (m->code)
		cond_s(b, "c.code = ?", m->code);
	if (m->valid_since)
		cond_i(b, "l.valid_since = ?", m->valid_since);
	if (m->expires_at)
		cond_i(b, "l.expires_at = ?", m->expires_at);
	if (m->max_visits)
		cond_i(b, "l.max_visits = ?", m->max_visits);
	if (m->ntags > 0) {
		/* exactly these tags (the caller passes them distinct): as many
		 * tags as asked, and each of them among the link's */
		cond_i(b, "(SELECT count(*) FROM link_tags t WHERE t.link_id = l.id) = ?",
		       m->ntags);
		tags_cond(b, m->tags, m->ntags, "= ?");
	}
	sqlq_add(b, " ORDER BY l.id ASC LIMIT 1");
	return 0;
}

int sqlq_link_list_check(store *s, const sh_list_query *lq)
{
	if (!lq || lq->order < 0 || lq->order > LIST_NONBOT_VISITS_DESC)
		return sqlq_err(s, "%s", "link list: unknown order");
	if (lq->ntags < 0 || lq->ntags > SH_MAX_TAGS || (lq->ntags && !lq->tags) ||
	    lq->nexclude < 0 || lq->nexclude > SH_MAX_TAGS || (lq->nexclude && !lq->exclude_tags))
		return sqlq_err(s, "%s", "link list: too many tags");
	return 0;
}

/* "<instr>(lower(expr), lower(?)) > 0": expr holds the text, literally (no
 * LIKE wildcards to escape). */
static void contains(sqlq *b, const char *expr)
{
	sqlq_add(b, b->d->instr);
	sqlq_add(b, "(lower(");
	sqlq_add(b, expr);
	sqlq_add(b, "), lower(");
	sqlq_add(b, b->d->text_param);
	sqlq_add(b, ")) > 0");
}

/* the url, the code as shown, the title or a tag holds the text (Shlink's
 * searchTerm) */
static void search_cond(sqlq *b, const char *text)
{
	sqlq_cond(b, "(");
	contains(b, "l.url");
	sqlq_add(b, " OR ");
	contains(b, b->d->code_of);
	sqlq_add(b, " OR ");
	contains(b, "coalesce(l.title, '')");
	sqlq_add(b, " OR EXISTS (SELECT 1 FROM link_tags t WHERE t.link_id = l.id AND ");
	contains(b, "t.tag");
	sqlq_add(b, "))");
	for (int i = 0; i < 4; i++)
		sqlq_text(b, text);
}

/* The WHERE clause of link_list (the same for the rows and the count). */
static void list_where(sqlq *b, const sh_list_query *lq)
{
	const char *tags[SH_MAX_TAGS], *xtags[SH_MAX_TAGS];
	int ntags = distinct_tags(lq->tags, lq->ntags, tags);
	int nx = distinct_tags(lq->exclude_tags, lq->nexclude, xtags);

	if (lq->before_id > 0)
		cond_i(b, "l.id < ?", lq->before_id);
	if (lq->search)
		search_cond(b, lq->search);
	if (ntags > 0) /* all of them, or any */
		tags_cond(b, tags, ntags, lq->tags_all ? "= ?" : "> 0");
	if (nx > 0) /* excluded: not all of them, or none */
		tags_cond(b, xtags, nx, lq->exclude_all ? "< ?" : "= 0");
	if (lq->owner_key_name)
		cond_s(b, "l.owner_key_id IN (SELECT k.id FROM api_keys k WHERE k.name = ?)",
		       lq->owner_key_name);
	if (lq->start_date)
		cond_i(b, "l.created_at >= ?", lq->start_date);
	if (lq->end_date)
		cond_i(b, "l.created_at <= ?", lq->end_date);
	if (lq->exclude_max_visits_reached)
		sqlq_cond(b, "(l.max_visits = 0 OR coalesce(n.visits, 0) < l.max_visits)");
	if (lq->exclude_past_valid_until)
		cond_i(b, "(l.expires_at = 0 OR l.expires_at > ?)", lq->now ? lq->now : sh_now());
	if (lq->owner_key_id)
		cond_i(b, "l.owner_key_id = ?", lq->owner_key_id);
	if (lq->crawlable_only)
		sqlq_cond(b, "l.crawlable = 1 AND l.disabled = 0");
	if (lq->one_domain)
		cond_i(b, "l.domain_id = ?", lq->domain_id);
}

/* ORDER BY of link_list by enum list_order: what is sorted (NULL: the
 * code as shown), which way, and whether NULL is ordered in words; the id
 * breaks ties the same way. */
static const struct {
	const char *expr;
	bool desc, nulls;
} list_orders[] = {
    [LIST_CREATED_DESC] = {"l.created_at", true, false},
    [LIST_CREATED_ASC] = {"l.created_at", false, false},
    [LIST_CODE_ASC] = {NULL, false, false},
    [LIST_CODE_DESC] = {NULL, true, false},
    [LIST_URL_ASC] = {"l.url", false, false},
    [LIST_URL_DESC] = {"l.url", true, false},
    /* no title first ascending, last descending: SQLite's own order of
     * NULL, which PostgreSQL has to be told */
    [LIST_TITLE_ASC] = {"l.title", false, true},
    [LIST_TITLE_DESC] = {"l.title", true, true},
    [LIST_VISITS_ASC] = {"coalesce(n.visits, 0)", false, false},
    [LIST_VISITS_DESC] = {"coalesce(n.visits, 0)", true, false},
    [LIST_NONBOT_VISITS_ASC] = {"coalesce(n.visits - n.bots, 0)", false, false},
    [LIST_NONBOT_VISITS_DESC] = {"coalesce(n.visits - n.bots, 0)", true, false},
};
_Static_assert(sizeof(list_orders) / sizeof(list_orders[0]) == LIST_NONBOT_VISITS_DESC + 1,
               "an order for every enum list_order");

static void list_order(sqlq *b, int order)
{
	const char *expr = list_orders[order].expr;
	bool desc = list_orders[order].desc;

	sqlq_add(b, " ORDER BY ");
	sqlq_add(b, expr ? expr : b->d->code_of);
	sqlq_add(b, desc ? " DESC" : " ASC");
	if (list_orders[order].nulls)
		sqlq_add(b, desc ? " NULLS LAST" : " NULLS FIRST");
	sqlq_add(b, desc ? ", l.id DESC" : ", l.id ASC");
}

void sqlq_link_list(sqlq *b, const sh_list_query *lq, bool count)
{
	sqlq_init(b, b->d);
	sqlq_add(b, count ? b->d->link_count : b->d->link_select);
	list_where(b, lq);
	if (count)
		return;
	list_order(b, lq->order);
	sqlq_limit(b, lq->limit, lq->offset);
}

/* ---- visits -------------------------------------------------------------- */

/* A condition on the link of a visit: cond has one `?`, bound to text or
 * (text NULL) ival, as often as the dialect writes cond. */
static void visit_link(sqlq *b, const char *cond, const char *text, int64_t ival)
{
	int k, times = b->d->visit_link_again ? 2 : 1;

	sqlq_cond(b, b->d->visit_link_open);
	for (k = 0; k < times; k++) {
		if (k)
			sqlq_add(b, b->d->visit_link_again);
		sqlq_add(b, cond);
		if (text)
			sqlq_text(b, text);
		else
			sqlq_int(b, ival);
	}
	sqlq_add(b, b->d->visit_link_close);
}

static void visits_where(sqlq *b, const sh_visit_query *vq)
{
	if (vq->link_id > 0)
		visit_link(b, " = ?", NULL, vq->link_id);
	if (vq->tag)
		visit_link(b, " IN (SELECT link_id FROM link_tags WHERE tag = ?)", vq->tag, 0);
	if (vq->owner_key_id)
		visit_link(b, " IN (SELECT id FROM links WHERE owner_key_id = ?)", NULL,
		           vq->owner_key_id);
	if (vq->one_domain)
		visit_link(b, " IN (SELECT id FROM links WHERE domain_id = ?)", NULL, vq->domain_id);
	if (vq->orphan == 0) {
		sqlq_cond(b, "v.link_id <> 0");
	} else if (vq->orphan == 1) {
		visit_link(b, " = ?", NULL, 0);
		if (vq->orphan_type)
			cond_i(b, "v.orphan_type = ?", vq->orphan_type);
	}
	if (vq->start_date)
		cond_i(b, "v.ts >= ?", vq->start_date);
	if (vq->end_date)
		cond_i(b, "v.ts <= ?", vq->end_date);
	if (vq->exclude_bots)
		sqlq_cond(b, "v.kind <> 1");
	if (vq->exclude_head)
		sqlq_cond(b, "v.kind <> 2");
	if (vq->before_id > 0)
		cond_i(b, "v.id < ?", vq->before_id);
}

void sqlq_visit_list(sqlq *b, const sh_visit_query *vq, bool count)
{
	sqlq_init(b, b->d);
	if (count) {
		sqlq_add(b, "SELECT count(*) FROM visits v");
		visits_where(b, vq);
		return;
	}
	sqlq_add(b, "SELECT v.id, v.link_id, v.ts, v.kind, v.orphan_type, v.referer,"
	            " v.user_agent, v.visited_url, v.ip, v.location FROM visits v");
	visits_where(b, vq);
	sqlq_add(b, " ORDER BY v.id DESC");
	sqlq_limit(b, vq->limit, vq->offset);
}

/* ---- tags ---------------------------------------------------------------- */

/* ORDER BY of tags_stats by enum tag_order; the name breaks ties. */
static const char *const tag_orders[] = {
    [TAG_NAME_ASC] = "t.tag ASC",
    [TAG_NAME_DESC] = "t.tag DESC",
    [TAG_LINKS_ASC] = "count(*) ASC, t.tag ASC",
    [TAG_LINKS_DESC] = "count(*) DESC, t.tag ASC",
    [TAG_VISITS_ASC] = "coalesce(sum(n.visits), 0) ASC, t.tag ASC",
    [TAG_VISITS_DESC] = "coalesce(sum(n.visits), 0) DESC, t.tag ASC",
    [TAG_NONBOT_VISITS_ASC] = "coalesce(sum(n.visits), 0) - coalesce(sum(n.bots), 0) ASC,"
                              " t.tag ASC",
    [TAG_NONBOT_VISITS_DESC] = "coalesce(sum(n.visits), 0) - coalesce(sum(n.bots), 0) DESC,"
                               " t.tag ASC",
};
#define NTAG_ORDERS ((int)(sizeof(tag_orders) / sizeof(tag_orders[0])))

int sqlq_tags_check(store *s, const sh_tag_query *tq)
{
	if (!tq || tq->order < 0 || tq->order >= NTAG_ORDERS)
		return sqlq_err(s, "%s", "tag stats: unknown order");
	return 0;
}

/* The names asked for: exactly ?3 (on SQLite a range of the index
 * link_tags_tag, not a scan), of a link of owner ?1, holding ?2. */
static void names_where(sqlq *b)
{
	sqlq_add(b, b->d->tag_exact);
	sqlq_add(b, " AND (");
	sqlq_add(b, b->d->tag_owner);
	sqlq_add(b, " = 0 OR EXISTS (SELECT 1 FROM links l WHERE l.id = t.link_id"
	            " AND l.owner_key_id = ");
	sqlq_add(b, b->d->tag_owner);
	sqlq_add(b, ")) AND ");
	sqlq_add(b, b->d->tag_search);
}

void sqlq_tags(sqlq *b, const sh_tag_query *tq, bool count)
{
	const char *ord = tag_orders[tq->order];

	sqlq_init(b, b->d);
	if (count) {
		/* the names alone, from the index: about 10 ms at 100,000 tags on
		 * SQLite, against 300 ms for building them all */
		sqlq_add(b, "SELECT count(*) FROM (SELECT DISTINCT t.tag FROM link_tags t WHERE ");
		names_where(b);
		sqlq_add(b, ") x");
		goto vals;
	}
	/* no owner asked for (?1 = 0) short-circuits */
	sqlq_add(b, "SELECT t.tag, count(*), coalesce(sum(n.visits), 0), coalesce(sum(n.bots), 0)"
	            " FROM link_tags t JOIN links l ON l.id = t.link_id"
	            " LEFT JOIN link_counts n ON n.link_id = l.id WHERE (");
	sqlq_add(b, b->d->tag_owner);
	sqlq_add(b, " = 0 OR l.owner_key_id = ");
	sqlq_add(b, b->d->tag_owner);
	sqlq_add(b, ")");
	if (tq->order <= TAG_NAME_DESC) {
		/* by name: the page of names first, from the index alone
		 * (skipping `offset` names costs no join), then the counts of
		 * those names only */
		sqlq_add(b, " AND t.tag IN (SELECT DISTINCT t.tag FROM link_tags t WHERE ");
		names_where(b);
		sqlq_add(b, " ORDER BY ");
		sqlq_add(b, ord);
		sqlq_add(b, " LIMIT ?4 OFFSET ?5) GROUP BY t.tag ORDER BY ");
		sqlq_add(b, ord);
	} else {
		/* by a count: every matching tag counted and sorted before the
		 * page is cut (Shlink does the same) */
		sqlq_add(b, " AND ");
		sqlq_add(b, b->d->tag_exact);
		sqlq_add(b, " AND ");
		sqlq_add(b, b->d->tag_search);
		sqlq_add(b, " GROUP BY t.tag ORDER BY ");
		sqlq_add(b, ord);
		sqlq_add(b, " LIMIT ?4 OFFSET ?5");
	}
vals:
	sqlq_int(b, tq->owner_key_id);
	sqlq_text(b, tq->search);
	sqlq_text(b, tq->exact);
	if (!count)
		limit_vals(b, tq->limit, tq->offset);
}

static int tag_exists(store *s, const sqlq_dialect *d, sqlq *b, const char *tag, bool *exists)
{
	int64_t n = 0;
	int rc;

	sqlq_init(b, d);
	sqlq_add(b, "SELECT count(*) FROM (SELECT 1 FROM link_tags WHERE tag = ?1 LIMIT 1) x");
	sqlq_text(b, tag);
	rc = d->one(s, b, &n, "tag exists");
	*exists = n > 0;
	return rc;
}

int sqlq_tag_rename(store *s, const sqlq_dialect *d, const char *from, const char *to)
{
	bool exists;
	sqlq *b;
	int own, rc;

	if (!from || !to || !*to || strlen(to) > SH_TAG_MAX)
		return sqlq_err(s, "%s", "tag rename: the new name must be 1 to 32 characters");
	if (!(b = sqlq_new(s, d)))
		return SH_ENOMEM;
	if ((rc = d->begin(s, &own))) {
		free(b);
		return rc;
	}
	if ((rc = tag_exists(s, d, b, from, &exists)))
		goto out;
	if (!exists) {
		rc = sqlq_fail(s, SH_ENOTFOUND, "no tag %s", from);
		goto out;
	}
	if (strcmp(from, to) == 0)
		goto out;
	if ((rc = tag_exists(s, d, b, to, &exists)))
		goto out;
	if (exists) {
		rc = sqlq_fail(s, SH_ETAKEN, "tag %s already exists", to);
		goto out;
	}
	sqlq_init(b, d);
	sqlq_add(b, "UPDATE link_tags SET tag = ?2 WHERE tag = ?1");
	sqlq_text(b, from);
	sqlq_text(b, to);
	rc = d->exec(s, b, NULL, "rename tag");
out:
	free(b);
	return d->end(s, own, rc);
}

int sqlq_tag_delete(store *s, const sqlq_dialect *d, const char *tag)
{
	int64_t n = 0;
	sqlq *b;
	int rc;

	if (!(b = sqlq_new(s, d)))
		return SH_ENOMEM;
	sqlq_add(b, "DELETE FROM link_tags WHERE tag = ?1");
	sqlq_text(b, tag);
	rc = d->exec(s, b, &n, "delete tag");
	free(b);
	if (rc == 0 && n == 0)
		rc = sqlq_fail(s, SH_ENOTFOUND, "no tag %s", tag);
	return rc;
}

/* ---- visit details ------------------------------------------------------- */

/* From the watermark on, in id order, up to the first visit that is still
 * young (the log is in time order, bar clock steps: a young visit stops the
 * pass, so no old one behind it is skipped for good), at most max_rows. */
int sqlq_prune(store *s, const sqlq_dialect *d, int64_t before, int64_t max_rows,
               int64_t *pruned)
{
	int64_t from = 0, stop = 0, to;
	sqlq *b;
	int own, rc;

	*pruned = 0;
	if (max_rows <= 0)
		return 0;
	if (!(b = sqlq_new(s, d)))
		return SH_ENOMEM;
	if ((rc = d->begin(s, &own))) {
		free(b);
		return rc;
	}
	sqlq_add(b, "SELECT coalesce((SELECT CAST(value AS BIGINT) FROM meta"
	            " WHERE key = 'visits_pruned_upto'), 0)");
	if ((rc = d->one(s, b, &from, "prune visits")))
		goto out;
	sqlq_init(b, d);
	sqlq_add(b, "SELECT coalesce((SELECT id FROM visits WHERE id > ?1 AND ts >= ?2"
	            " ORDER BY id LIMIT 1), (SELECT max(id) + 1 FROM visits), ?1 + 1)");
	sqlq_int(b, from);
	sqlq_int(b, before);
	if ((rc = d->one(s, b, &stop, "prune visits")))
		goto out;
	to = stop - 1 < from + max_rows ? stop - 1 : from + max_rows;
	if (to <= from)
		goto out;
	sqlq_init(b, d);
	sqlq_add(b, "UPDATE visits SET referer = NULL, user_agent = NULL, visited_url = NULL,"
	            " location = NULL WHERE id > ?1 AND id <= ?2 AND (referer IS NOT NULL OR"
	            " user_agent IS NOT NULL OR visited_url IS NOT NULL OR location IS NOT NULL)");
	sqlq_int(b, from);
	sqlq_int(b, to);
	if ((rc = d->exec(s, b, NULL, "prune visits")))
		goto out;
	sqlq_init(b, d);
	sqlq_add(b, "INSERT INTO meta(key, value) VALUES ('visits_pruned_upto', ?1)"
	            " ON CONFLICT (key) DO UPDATE SET value = excluded.value");
	sqlq_int(b, to);
	if ((rc = d->exec(s, b, NULL, "prune visits")) == 0)
		*pruned = to - from;
out:
	free(b);
	return d->end(s, own, rc);
}

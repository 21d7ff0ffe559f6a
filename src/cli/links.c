/*
 * links.c — the link commands of `shorty`: add, resolve, info, list, delete.
 *
 * Each is a thin front over service.h: it turns options into a request,
 * calls the service with the CLI's one store connection, and prints the
 * answer: plain text for people and scripts (the short URL alone, the URL
 * alone, "code<TAB>short_url<TAB>url" lines), or Shlink's ShortUrl JSON
 * (shorty/linkjson.h) with --json. Untrusted text (titles, URLs in error
 * messages) is printed with control characters escaped.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "shorty/linkjson.h"
#include "shorty/timeutil.h"

int cli_print_json(json_t *o, bool compact)
{
	char *s;

	if (!o)
		return SH_ENOMEM;
	s = json_dumps(o, compact ? JSON_COMPACT : JSON_INDENT(2));
	json_decref(o);
	if (!s)
		return SH_ENOMEM;
	fputs(s, stdout);
	free(s);
	return 0;
}

int cli_print_link_json(const svc *v, const sh_link *l, bool compact)
{
	return cli_print_json(linkjson_short_url(v, l), compact);
}

static const char *short_url(const cli *c, const sh_link *l, char *buf, size_t n)
{
	return svc_link_short_url(c->sv, l, buf, n);
}

int cmd_add(cli *c)
{
	const char *tags[SH_MAX_TAGS];
	const char *v;
	svc_create_req req;
	svc_unit u;
	char buf[4096];
	int64_t n;
	int ntags, rc, status = CLI_OK;

	svc_create_req_init(&req);
	req.url = c->args[0];
	req.custom_code = cli_opt_get(c, "code");
	req.find_if_exists = !cli_flag(c, "no-dedupe");
	req.title = cli_opt_get(c, "title");
	req.domain = cli_opt_get(c, "domain");
	req.now = sh_now();
	if ((v = cli_opt_get(c, "expires")) != NULL) {
		if (sh_when_parse(v, req.now, &req.expires_at) != 0)
			return cli_error(CLI_USAGE,
			                 "--expires '%.80s' is not a time; give an RFC 3339 "
			                 "time (2026-12-31T23:59:00Z), a date (2026-12-31) "
			                 "or a duration (90s, 15m, 24h, 7d, 2w)",
			                 v);
		if (req.expires_at <= req.now)
			return cli_error(CLI_USAGE, "--expires is in the past; give a later time");
	}
	if ((v = cli_opt_get(c, "max-visits")) != NULL) {
		if (cli_parse_i64(v, 1, INT64_MAX, &n) != 0)
			return cli_error(CLI_USAGE,
			                 "--max-visits must be a whole number >= 1, not "
			                 "'%.40s'",
			                 v);
		req.max_visits = n;
	}
	if ((v = cli_opt_get(c, "redirect")) != NULL) {
		if (cli_parse_i64(v, 0, 999, &n) != 0 ||
		    (n != 301 && n != 302 && n != 307 && n != 308))
			return cli_error(CLI_USAGE,
			                 "--redirect must be 301, 302, 307 or 308, not "
			                 "'%.40s'",
			                 v);
		req.redirect_status = (int)n;
	}
	ntags = cli_opt_all(c, "tag", tags, SH_MAX_TAGS);
	if (ntags > SH_MAX_TAGS)
		return cli_error(CLI_USAGE, "a link has at most %d tags; drop some --tag options",
		                 SH_MAX_TAGS);
	req.tags = ntags ? tags : NULL;
	req.ntags = ntags;

	svc_unit_init(&u, SVC_UNIT_CREATE);
	u.create = req;
	rc = cli_write(c, &u);
	if (rc == SH_ETAKEN && req.custom_code) {
		char clean[160];

		status = cli_error(CLI_FAIL, "the code %s is already taken; choose another",
		                   cli_clean(req.custom_code, clean, sizeof clean));
		goto out;
	}
	if (rc) {
		status = cli_report(rc, &u.err, "cannot add the link");
		goto out;
	}
	if (cli_flag(c, "json")) {
		if (cli_print_link_json(c->sv, &u.link, false) != 0) {
			status = cli_error(CLI_FAIL, "out of memory");
			goto out;
		}
		fputs("\n", stdout);
	} else {
		printf("%s\n", short_url(c, &u.link, buf, sizeof buf));
	}
out:
	svc_unit_clear(&u);
	return status;
}

/* Looks up CODE on --domain; reports "not found" (exit 1). */
static int get_link(cli *c, const char *code, sh_link *l)
{
	const char *domain = cli_opt_get(c, "domain");
	char clean[160], cd[SH_AUTHORITY_MAX * 4 + 1];
	sh_err e = {0};
	int rc;

	rc = svc_get_on(c->sv, c->st, domain, code, NULL, l, &e);
	if (rc == SH_ENOTFOUND && domain)
		return cli_error(CLI_FAIL, "no link has the code %s on the domain %s; check it with "
		                 "`shorty list --domain %s`",
		                 cli_clean(code, clean, sizeof clean), cli_clean(domain, cd, sizeof cd),
		                 cd);
	if (rc == SH_ENOTFOUND)
		return cli_error(CLI_FAIL, "no link has the code %s; check it with `shorty list`",
		                 cli_clean(code, clean, sizeof clean));
	if (rc == SH_EINVAL)
		return cli_error(CLI_USAGE, "--domain: %s", e.msg);
	if (rc)
		return cli_report(rc, &c->st->last_err, "cannot read the link");
	return CLI_OK;
}

int cmd_resolve(cli *c)
{
	sh_link l = {0};
	int status;

	status = get_link(c, c->args[0], &l);
	if (status == CLI_OK)
		printf("%s\n", l.url);
	sh_link_clear(&l);
	return status;
}

static void kv(const char *key, const char *val)
{
	char clean[2048];

	printf("%-16s %s\n", key, cli_clean(val, clean, sizeof clean));
}

int cmd_info(cli *c)
{
	char buf[4096], tbuf[SH_TIME_BUF], num[32], tags[SH_MAX_TAGS * (SH_TAG_MAX + 1) + 1];
	sh_link l = {0};
	size_t o = 0;
	int status, i;

	status = get_link(c, c->args[0], &l);
	if (status)
		goto out;
	if (cli_flag(c, "json")) {
		if (cli_print_link_json(c->sv, &l, false) != 0) {
			status = cli_error(CLI_FAIL, "out of memory");
			goto out;
		}
		fputs("\n", stdout);
		goto out;
	}
	kv("code:", l.code);
	kv("short url:", short_url(c, &l, buf, sizeof buf));
	kv("domain:", l.domain[0] ? l.domain : svc_domain_default(c->sv));
	kv("url:", l.url);
	kv("created:", sh_time_format(l.created_at, tbuf));
	if (l.valid_since)
		kv("valid since:", sh_time_format(l.valid_since, tbuf));
	kv("expires:", l.expires_at ? sh_time_format(l.expires_at, tbuf) : "never");
	snprintf(num, sizeof num, "%" PRId64, l.max_visits);
	kv("max visits:", l.max_visits ? num : "no limit");
	snprintf(num, sizeof num, "%" PRId64 " (%" PRId64 " by bots)", l.visits, l.bot_visits);
	kv("visits:", num);
	snprintf(num, sizeof num, "%d", l.redirect_status);
	kv("redirect status:", num);
	kv("title:", l.title && l.title[0] ? l.title : "(none)");
	tags[0] = '\0';
	for (i = 0; i < l.ntags && i < SH_MAX_TAGS; i++) {
		int w = snprintf(tags + o, sizeof tags - o, "%s%s", i ? " " : "", l.tags[i]);

		if (w < 0 || (size_t)w >= sizeof tags - o)
			break;
		o += (size_t)w;
	}
	kv("tags:", tags[0] ? tags : "(none)");
	if (l.disabled)
		kv("disabled:", "yes");
out:
	sh_link_clear(&l);
	return status;
}

struct list_ctx {
	cli *c;
	bool json;
	int64_t printed;
	int err;
};

static int list_cb(const sh_link *l, void *ud)
{
	struct list_ctx *x = ud;
	char buf[4096];

	if (x->json) {
		if (x->printed)
			fputs(",\n", stdout);
		if (cli_print_link_json(x->c->sv, l, true) != 0) {
			x->err = SH_ENOMEM;
			return 1;
		}
	} else {
		printf("%s\t%s\t%s\n", l->code, short_url(x->c, l, buf, sizeof buf), l->url);
	}
	x->printed++;
	return 0;
}

int cmd_list(cli *c)
{
	const char *tags[SH_MAX_TAGS];
	struct list_ctx x = {0};
	sh_list_query q;
	int64_t limit = 0;
	const char *v;
	int ntags, rc;

	if ((v = cli_opt_get(c, "limit")) != NULL && cli_parse_i64(v, 1, INT64_MAX, &limit) != 0)
		return cli_error(CLI_USAGE, "--limit must be a whole number >= 1, not '%.40s'", v);
	ntags = cli_opt_all(c, "tag", tags, SH_MAX_TAGS);
	if (ntags > SH_MAX_TAGS)
		return cli_error(CLI_USAGE, "give at most %d --tag options", SH_MAX_TAGS);

	x.c = c;
	x.json = cli_flag(c, "json");
	/* One streaming query (limit 0 = all): the store hands rows to the
	 * callback as it steps, so memory stays flat however many links there
	 * are. Not keyset pages over before_id: that bound is on the id while
	 * the order is created_at, and imported links keep their (older)
	 * created_at, so id pages would skip or repeat links. */
	memset(&q, 0, sizeof q);
	q.order = LIST_CREATED_DESC;
	q.limit = limit;
	q.tags = ntags ? tags : NULL;
	q.ntags = ntags;
	q.now = sh_now();
	if ((v = cli_opt_get(c, "domain")) != NULL) {
		sh_err e = {0};
		q.one_domain = true;
		rc = strcmp(v, "DEFAULT") == 0 ? 0
		                               : svc_domain_id(c->sv, c->st, v, false, &q.domain_id, &e);
		if (rc == SH_EINVAL)
			return cli_error(CLI_USAGE, "--domain: %s", e.msg);
		if (rc == SH_ENOTFOUND)
			q.domain_id = -1; /* no link is on it: none listed */
		else if (rc)
			return cli_report(rc, &e, "cannot list the links");
	}
	if (x.json)
		fputs("[", stdout);
	rc = svc_list(c->sv, c->st, NULL, &q, list_cb, &x, NULL);
	if (x.err)
		rc = x.err;
	if (x.json)
		fputs(x.printed ? "\n]\n" : "]\n", stdout);
	if (rc)
		return cli_report(rc, &c->st->last_err, "cannot list the links");
	return CLI_OK;
}

int cmd_delete(cli *c)
{
	char clean[160];
	svc_unit u;
	int rc;

	svc_unit_init(&u, SVC_UNIT_DELETE);
	if (strlen(c->args[0]) >= sizeof u.code)
		return cli_error(CLI_FAIL, "no link has the code %s; check it with `shorty list`",
		                 cli_clean(c->args[0], clean, sizeof clean));
	snprintf(u.code, sizeof u.code, "%s", c->args[0]);
	u.domain = cli_opt_get(c, "domain");
	rc = cli_write(c, &u);
	if (rc == SH_ENOTFOUND && u.domain) {
		char cd[SH_AUTHORITY_MAX * 4 + 1];
		return cli_error(CLI_FAIL, "no link has the code %s on the domain %s; check it with "
		                 "`shorty list --domain %s`",
		                 cli_clean(c->args[0], clean, sizeof clean),
		                 cli_clean(u.domain, cd, sizeof cd), cd);
	}
	if (rc == SH_ENOTFOUND)
		return cli_error(CLI_FAIL, "no link has the code %s; check it with `shorty list`",
		                 cli_clean(c->args[0], clean, sizeof clean));
	if (rc == SH_EINVAL && u.domain)
		return cli_error(CLI_USAGE, "--domain: %s", u.err.msg);
	if (rc)
		return cli_report(rc, &u.err, "cannot delete the link");
	return CLI_OK;
}

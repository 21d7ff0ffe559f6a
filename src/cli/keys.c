/*
 * keys.c — `shorty key create | list | revoke`: API keys from the command
 * line (the way to get the first admin key of a new installation).
 *
 * `create` prints the key once, alone on standard output; the store keeps
 * only its hash, so it cannot be shown again. `list` shows what can be
 * shown: id, name, role, the first characters, dates.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"
#include "shorty/timeutil.h"

int cmd_key_create(cli *c)
{
	const char *name = cli_opt_get(c, "name");
	const char *rolename = cli_opt_get(c, "role");
	svc_unit u;
	int role = KEY_ADMIN, rc;

	if (name && strlen(name) > SH_KEY_NAME_MAX)
		return cli_error(CLI_USAGE, "--name is longer than %d bytes; choose a shorter name",
		                 SH_KEY_NAME_MAX);
	if (rolename) {
		role = svc_role_parse(rolename);
		if (role < 0)
			return cli_error(CLI_USAGE,
			                 "--role must be admin, author or read-only, not "
			                 "'%.40s'",
			                 rolename);
	}
	svc_unit_init(&u, SVC_UNIT_KEY_CREATE);
	u.key_name = name ? name : "";
	u.key_role = role;
	rc = cli_write(c, &u);
	if (rc)
		return cli_report(rc, &u.err, "cannot create the key");
	printf("%s\n", u.key_text);
	sodium_memzero(u.key_text, sizeof u.key_text);
	return CLI_OK;
}

struct key_rows {
	sh_api_key *v;
	size_t n, cap;
	int err;
};

static int key_cb(const sh_api_key *k, void *ud)
{
	struct key_rows *r = ud;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		sh_api_key *nv = realloc(r->v, cap * sizeof *nv);

		if (!nv) {
			r->err = SH_ENOMEM;
			return 1;
		}
		r->v = nv;
		r->cap = cap;
	}
	r->v[r->n++] = *k;
	return 0;
}

int cmd_key_list(cli *c)
{
	struct key_rows r = {0};
	char name[SH_KEY_NAME_MAX * 4 + 1], created[SH_TIME_BUF], revoked[SH_TIME_BUF];
	int w = 4, rc, status = CLI_OK;
	size_t i;

	rc = svc_key_list(c->st, key_cb, &r);
	if (r.err)
		rc = r.err;
	if (rc) {
		status = cli_report(rc, &c->st->last_err, "cannot list the keys");
		goto out;
	}
	for (i = 0; i < r.n; i++) {
		int len = (int)strlen(cli_clean(r.v[i].name, name, sizeof name));

		if (len > w)
			w = len;
	}
	printf("%-6s %-*s %-9s %-8s %-25s %s\n", "ID", w, "NAME", "ROLE", "PREFIX", "CREATED",
	       "REVOKED");
	for (i = 0; i < r.n; i++) {
		const sh_api_key *k = &r.v[i];

		cli_clean(k->name, name, sizeof name);
		sh_time_format(k->created_at, created);
		if (k->revoked_at)
			sh_time_format(k->revoked_at, revoked);
		else
			snprintf(revoked, sizeof revoked, "-");
		printf("%-6" PRId64 " %-*s %-9s %-8s %-25s %s\n", k->id, w, name[0] ? name : "-",
		       svc_role_name(k->role), k->prefix, created, revoked);
	}
out:
	free(r.v);
	return status;
}

int cmd_key_revoke(cli *c)
{
	svc_unit u;
	int64_t id;
	int rc;

	if (cli_parse_i64(c->args[0], 1, INT64_MAX, &id) != 0)
		return cli_error(CLI_USAGE,
		                 "key revoke needs the numeric id from `shorty key list`, "
		                 "not '%.40s'",
		                 c->args[0]);
	svc_unit_init(&u, SVC_UNIT_KEY_REVOKE);
	u.key_id = id;
	rc = cli_write(c, &u);
	if (rc == SH_ENOTFOUND)
		return cli_error(CLI_FAIL,
		                 "no API key has the id %" PRId64 "; see `shorty key list`", id);
	if (rc)
		return cli_report(rc, &u.err, "cannot revoke the key");
	return CLI_OK;
}

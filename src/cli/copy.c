/*
 * copy.c — `shorty copy --from STORE --to STORE`: a whole store into a new,
 * empty one (issue 8 item 7), e.g. a SQLite file onto PostgreSQL before
 * running several instances, or back. The service does the copying
 * (svc_copy: every id, code, key, domain, visit and count as it was, one
 * transaction of the target); here the two stores are opened and the
 * outcome is one line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cmd_copy(cli *c)
{
	const char *from = cli_opt_get(c, "from"), *to = cli_opt_get(c, "to");
	int64_t rows[COPY_NTABLES];
	store *dst = NULL;
	sh_err err = {0};
	int rc;

	if (!from || !to || !*from || !*to)
		return cli_error(CLI_USAGE, "copy needs --from STORE and --to STORE; usage: shorty "
		                            "copy --from STORE --to STORE");
	if (strcmp(from, to) == 0)
		return cli_error(CLI_USAGE, "--from and --to name the same store; copy into a new, "
		                            "empty one");
	/* the source as every command opens its store: it must exist, at this
	 * shorty's schema; its service knows the counter codes */
	if ((rc = cli_open_store(c, from, false, &c->st)))
		return rc;
	if ((rc = svc_open(&c->sv, &c->cfg, c->st, &err))) {
		c->sv = NULL;
		return cli_report(rc, &err, "cannot start the service on the source store");
	}
	if ((rc = cli_open_store(c, to, true, &dst))) {
		if (dst)
			svc_store_close(dst);
		return rc;
	}
	rc = svc_copy(c->sv, c->st, dst, rows, &err);
	svc_store_close(dst);
	if (rc)
		return cli_report(rc, &err, "cannot copy the store");
	printf("copied %" PRId64 " links, %" PRId64 " API keys, %" PRId64 " domains, %" PRId64
	       " visits\n",
	       rows[COPY_LINKS], rows[COPY_KEYS], rows[COPY_DOMAINS], rows[COPY_VISITS]);
	return CLI_OK;
}

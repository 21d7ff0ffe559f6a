/*
 * commands.c — the command table of `shorty` and everything around it:
 * global options, dispatch, help, opening and closing the store and the
 * service, exit statuses and one-line error messages.
 *
 * There is ONE table, cli_cmds[] below (name, usage, help, arity, options,
 * what to open, handler): the argument parser, the arity check, `shorty
 * --help` and `shorty COMMAND --help` all read it, so adding a command is
 * adding a row. Global options are `--db URL` and every option of
 * cfg_options[] as `--NAME VALUE` or `--NAME=VALUE`, accepted before or
 * after the command; precedence is flag > SHORTY_* environment > default
 * (cfg_init, then cfg_set for each flag).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "shorty/geoip.h"
#include "shorty/http.h"
#include "shorty/log.h"
#include "shorty/url.h"

static int cmd_migrate(cli *c);
static int cmd_serve(cli *c);

static const cli_opt add_opts[] = {
    {"code", "C", false, "use this custom code ([A-Za-z0-9_-]{1,64}) instead of a generated one"},
    {"expires", "WHEN", false,
     "expiry: RFC 3339 time, a date, or a duration (90s, 15m, 24h, 7d, 2w)"},
    {"max-visits", "N", false, "answer 410 Gone after N visits"},
    {"redirect", "STATUS", false, "redirect status: 301, 302, 307 or 308"},
    {"title", "T", false, "a title (at most 512 bytes)"},
    {"tag", "T", true, "a tag ([a-z0-9_-]{1,32}); repeat for more (at most 16)"},
    {"no-dedupe", NULL, false, "always make a new link, even if one exists for this URL"},
    {"domain", "HOST", false, "the link's domain (host[:port]; default: the base URL's)"},
    {"json", NULL, false, "print the Shlink ShortUrl JSON object instead of the short URL"},
    {NULL, NULL, false, NULL},
};

static const cli_opt info_opts[] = {
    {"json", NULL, false, "print JSON (Shlink ShortUrl objects)"},
    {"domain", "HOST", false, "the link's domain (host[:port]; default: the base URL's)"},
    {NULL, NULL, false, NULL},
};

static const cli_opt domain_opts[] = {
    {"domain", "HOST", false, "the link's domain (host[:port]; default: the base URL's)"},
    {NULL, NULL, false, NULL},
};

static const cli_opt list_opts[] = {
    {"limit", "N", false, "print at most N links (default: all)"},
    {"tag", "T", true, "only links with this tag (repeat: any of them)"},
    {"json", NULL, false, "print one JSON array of Shlink ShortUrl objects"},
    {"domain", "HOST", false, "only the links of this domain (DEFAULT: the default one)"},
    {NULL, NULL, false, NULL},
};

static const cli_opt import_opts[] = {
    {"format", "csv|json|sql", false,
     "file format, from the file name when not given (.csv, .json, .sql); a CSV "
     "exported by Shlink, YOURLS, Kutt or Bitly is known by its header, sql is "
     "YOURLS's dump of yourls_url"},
    {NULL, NULL, false, NULL},
};

static const cli_opt format_opts[] = {
    {"format", "csv|json", false,
     "file format (import: from the file name when not given; "
     "export: csv by default)"},
    {NULL, NULL, false, NULL},
};

static const cli_opt key_create_opts[] = {
    {"name", "N", false, "a name to recognize the key by"},
    {"role", "ROLE", false, "admin (default), author or read-only"},
    {NULL, NULL, false, NULL},
};

/* Serve's own options are global options (cfg_options[]); listed here so
 * that `shorty serve --help` shows them. */
static const cli_opt serve_opts[] = {
    {"listen", "ADDR:PORT", false, "address to listen on (default 0.0.0.0:8000)"},
    {"threads", "N", false, "worker threads (0 = one per core)"},
    {"base-url", "URL", false, "the base of the short URLs"},
    {NULL, NULL, false, NULL},
};

static const cli_opt copy_opts[] = {
    {"from", "STORE", false, "the store to copy: a SQLite path or sqlite:PATH, or postgres://..."},
    {"to", "STORE", false, "the new store: created and migrated if missing; must hold no link, "
     "key, domain or visit"},
    {NULL, NULL, false, NULL},
};

static const cli_cmd cli_cmds[] = {
    {"serve", "serve [--listen ADDR:PORT] [--threads N] [--base-url URL]",
     "run the HTTP service (REST API, redirects, web page)", 0, 0, serve_opts, CLI_OPEN_NOTHING,
     cmd_serve},
    {"add",
     "add URL [--code C] [--expires WHEN] [--max-visits N] [--redirect 301|302|307|308] "
     "[--title T] [--tag T]... [--no-dedupe] [--domain HOST] [--json]",
     "shorten URL; prints the short URL alone", 1, 1, add_opts, CLI_OPEN_CREATE, cmd_add},
    {"resolve", "resolve CODE [--domain HOST]",
     "print the stored long URL of CODE alone (counts no visit)", 1, 1, domain_opts,
     CLI_OPEN_EXISTING, cmd_resolve},
    {"info", "info CODE [--domain HOST] [--json]", "show a link and its visit count", 1, 1,
     info_opts, CLI_OPEN_EXISTING, cmd_info},
    {"list", "list [--limit N] [--tag T]... [--domain HOST] [--json]", "list links, newest first",
     0, 0, list_opts, CLI_OPEN_EXISTING, cmd_list},
    {"delete", "delete CODE [--domain HOST]", "delete a link; its code answers 404 at once", 1, 1,
     domain_opts, CLI_OPEN_EXISTING, cmd_delete},
    {"import", "import FILE [--format csv|json|sql]",
     "import links from FILE (- = standard input), all or nothing; also the exports "
     "of Shlink, YOURLS, Kutt and Bitly", 1, 1, import_opts,
     CLI_OPEN_CREATE, cmd_import},
    {"export", "export [--format csv|json]", "write every link to standard output", 0, 0,
     format_opts, CLI_OPEN_EXISTING, cmd_export},
    {"key create", "key create [--name N] [--role admin|author|read-only]",
     "create an API key; prints it once, alone", 0, 0, key_create_opts, CLI_OPEN_CREATE,
     cmd_key_create},
    {"key list", "key list", "list API keys (never the keys themselves)", 0, 0, NULL,
     CLI_OPEN_EXISTING, cmd_key_list},
    {"key revoke", "key revoke ID", "revoke the API key with this id", 1, 1, NULL,
     CLI_OPEN_EXISTING, cmd_key_revoke},
    {"migrate", "migrate", "create the store if needed and apply schema migrations", 0, 0, NULL,
     CLI_OPEN_MIGRATE, cmd_migrate},
    {"copy", "copy --from STORE --to STORE",
     "copy a whole store (links, codes, keys, domains, visits) into a new, empty one, "
     "all or nothing: SQLite to PostgreSQL and back", 0, 0, copy_opts, CLI_OPEN_SELF,
     cmd_copy},
    {NULL, NULL, NULL, 0, 0, NULL, 0, NULL},
};

/* ---- small helpers --------------------------------------------------- */

const char *cli_clean(const char *s, char *dst, size_t dstsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	unsigned char ch;

	if (dstsz == 0)
		return dst;
	for (; s && *s; s++) {
		char esc[5];
		size_t n = 0, k;

		ch = (unsigned char)*s;
		if (ch == '\n') {
			esc[n++] = '\\';
			esc[n++] = 'n';
		} else if (ch == '\r') {
			esc[n++] = '\\';
			esc[n++] = 'r';
		} else if (ch == '\t') {
			esc[n++] = '\\';
			esc[n++] = 't';
		} else if (ch < 0x20 || ch == 0x7f) {
			esc[n++] = '\\';
			esc[n++] = 'x';
			esc[n++] = hex[ch >> 4];
			esc[n++] = hex[ch & 15];
		} else {
			esc[n++] = (char)ch;
		}
		if (o + n >= dstsz)
			break;
		for (k = 0; k < n; k++)
			dst[o++] = esc[k];
	}
	dst[o] = '\0';
	return dst;
}

int cli_error(int status, const char *fmt, ...)
{
	char raw[1024], clean[2048];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(raw, sizeof raw, fmt, ap) < 0)
		raw[0] = '\0';
	va_end(ap);
	fprintf(stderr, "shorty: %s\n", cli_clean(raw, clean, sizeof clean));
	return status;
}

int cli_status(int rc)
{
	switch (rc) {
	case SH_OK:
		return CLI_OK;
	case SH_EINVAL:
	case SH_ETOOBIG:
	case SH_EBLOCKED:
	case SH_ERESERVED:
	case SH_EFORBIDDEN:
		return CLI_USAGE;
	default:
		return CLI_FAIL;
	}
}

int cli_report(int rc, const sh_err *err, const char *what)
{
	if (err && err->code == rc && err->msg[0])
		return cli_error(cli_status(rc), "%s", err->msg);
	switch (rc) {
	case SH_ENOMEM:
		return cli_error(CLI_FAIL, "%s: out of memory", what);
	case SH_EBUSY:
		return cli_error(CLI_FAIL,
		                 "%s: the store stayed locked by another process; "
		                 "try again",
		                 what);
	case SH_EFULL:
		return cli_error(CLI_FAIL, "%s: the disk is full; free some space and try again",
		                 what);
	case SH_ESCHEMA:
		return cli_error(CLI_FAIL,
		                 "%s: the store's schema does not match this shorty; "
		                 "run `shorty migrate`",
		                 what);
	default:
		return cli_error(cli_status(rc), "%s: %s", what, sh_strerror(rc));
	}
}

int cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s || *s == ' ' || *s == '+')
		return SH_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return SH_EINVAL;
	*out = v;
	return 0;
}

const char *cli_opt_get(const cli *c, const char *name)
{
	const char *v = NULL;
	int i;

	for (i = 0; i < c->nopts; i++)
		if (strcmp(c->opts[i].opt->name, name) == 0)
			v = c->opts[i].val;
	return v;
}

bool cli_flag(const cli *c, const char *name)
{
	int i;

	for (i = 0; i < c->nopts; i++)
		if (strcmp(c->opts[i].opt->name, name) == 0)
			return true;
	return false;
}

int cli_opt_all(const cli *c, const char *name, const char **out, int max)
{
	int i, n = 0;

	for (i = 0; i < c->nopts; i++) {
		if (strcmp(c->opts[i].opt->name, name) != 0)
			continue;
		if (n < max)
			out[n] = c->opts[i].val;
		n++;
	}
	return n;
}

/* ---- help ------------------------------------------------------------ */

static const char *metavar_of(const cfg_option *o)
{
	static const struct {
		const char *name, *metavar;
	} names[] = {
	    {"listen", "ADDR:PORT"},
	    {"db", "URL"},
	    {"base-url", "URL"},
	    {"blocklist-file", "FILE"},
	    {"geoip-db", "FILE"},
	    {"allowed-schemes", "LIST"},
	    {"trusted-proxies", "LIST"},
	    {"cors-origin", "ORIGIN"},
	    {"log-level", "LEVEL"},
	    {NULL, NULL},
	};
	int i;

	for (i = 0; names[i].name; i++)
		if (strcmp(o->name, names[i].name) == 0)
			return names[i].metavar;
	switch (o->type) {
	case CFG_INT:
		return "N";
	case CFG_BOOL:
		return "BOOL";
	case CFG_ENUM:
		return "CHOICE";
	default:
		return "VALUE";
	}
}

static void print_opt_line(FILE *f, const char *name, const char *metavar, const char *help)
{
	char left[64];

	snprintf(left, sizeof left, "--%s%s%s", name, metavar ? " " : "", metavar ? metavar : "");
	if (strlen(left) <= 24)
		fprintf(f, "  %-24s %s\n", left, help);
	else
		fprintf(f, "  %s\n  %-24s %s\n", left, "", help);
}

static void print_global_opts(FILE *f)
{
	const cfg_option *o;
	char help[512];

	fputs("Global options (before or after the command; a flag wins over its\n"
	      "environment variable, which wins over the default):\n",
	      f);
	if (!cfg_find("db"))
		print_opt_line(f, "db", "URL",
		               "store: sqlite:PATH, a bare PATH, or postgres://... "
		               "[$SHORTY_DB]");
	for (o = cfg_options; o->name; o++) {
		if (o->choices)
			snprintf(help, sizeof help, "%s (%s) [$%s, default %s]", o->help,
			         o->choices, o->env, o->def ? o->def : "unset");
		else
			snprintf(help, sizeof help, "%s [$%s, default %s]", o->help, o->env,
			         o->def ? o->def : "unset");
		print_opt_line(f, o->name, metavar_of(o), help);
	}
	print_opt_line(f, "help", NULL, "show help (also: shorty COMMAND --help)");
	print_opt_line(f, "version", NULL, "print the version");
	print_opt_line(f, "check-libs", NULL,
	               "load every library shorty loads when first used (libpq, "
	               "libcurl, ...) and name any that is missing; exit 1 then");
}

static void print_main_help(FILE *f)
{
	const cli_cmd *cmd;

	fputs("shorty — a self-hosted URL shortener\n\n"
	      "usage: shorty [--db URL] [OPTIONS] COMMAND [ARGS] [COMMAND OPTIONS]\n\n"
	      "Commands:\n",
	      f);
	for (cmd = cli_cmds; cmd->name; cmd++)
		fprintf(f, "  %-12s %s\n", cmd->name, cmd->help);
	fputs("\n", f);
	print_global_opts(f);
	fputs("\nExit status: 0 done, 1 failed (not found, taken, store error),\n"
	      "2 usage or invalid input. Run `shorty COMMAND --help` for a command's options.\n",
	      f);
}

static void print_cmd_help(FILE *f, const cli_cmd *cmd)
{
	const cli_opt *o;

	fprintf(f, "usage: shorty %s\n\n%s\n", cmd->usage, cmd->help);
	if (cmd->opts && cmd->opts[0].name) {
		fputs("\nOptions:\n", f);
		for (o = cmd->opts; o->name; o++)
			print_opt_line(f, o->name, o->metavar, o->help);
	}
	fputs("\nGlobal options (--db URL, --base-url URL, ...) are listed by `shorty --help`.\n",
	      f);
}

static void print_group_help(FILE *f, const char *group)
{
	const cli_cmd *cmd;
	size_t n = strlen(group);

	fprintf(f, "usage: shorty %s SUBCOMMAND ...\n\nSubcommands:\n", group);
	for (cmd = cli_cmds; cmd->name; cmd++)
		if (strncmp(cmd->name, group, n) == 0 && cmd->name[n] == ' ')
			fprintf(f, "  %-36s %s\n", cmd->usage, cmd->help);
}

/* ---- parsing --------------------------------------------------------- */

static const cli_cmd *find_cmd(const char *name)
{
	const cli_cmd *cmd;

	for (cmd = cli_cmds; cmd->name; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

/* True if some command is "<group> <sub>". */
static bool is_group(const char *group)
{
	const cli_cmd *cmd;
	size_t n = strlen(group);

	for (cmd = cli_cmds; cmd->name; cmd++)
		if (strncmp(cmd->name, group, n) == 0 && cmd->name[n] == ' ')
			return true;
	return false;
}

static const cli_opt *find_cmd_opt(const cli_cmd *cmd, const char *name)
{
	const cli_opt *o;

	if (!cmd || !cmd->opts)
		return NULL;
	for (o = cmd->opts; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

static bool is_bool_word(const char *s)
{
	static const char *const words[] = {"true", "false", "yes", "no", "on",
	                                    "off",  "1",     "0",   NULL};
	int i;

	for (i = 0; words[i]; i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	return false;
}

struct parse_state {
	bool help, version, check_libs, log_level_given;
	const char *group; /* "key" seen, waiting for its subcommand */
};

/* Applies a global option. Returns 0 or an exit status (already reported). */
static int global_opt(cli *c, struct parse_state *ps, const char *name, const char *inline_val,
                      int argc, char **argv, int *i)
{
	const cfg_option *o = cfg_find(name);
	const char *val = inline_val;
	sh_err err = {0};
	int rc;

	if (!o && strcmp(name, "db") != 0) {
		if (c->cmd)
			return cli_error(CLI_USAGE,
			                 "unknown option --%s for `%s`; run `shorty %s "
			                 "--help`",
			                 name, c->cmd->name, c->cmd->name);
		return cli_error(CLI_USAGE, "unknown option --%s; run `shorty --help`", name);
	}
	if (!val) {
		if (o && o->type == CFG_BOOL) {
			if (*i + 1 < argc && is_bool_word(argv[*i + 1]))
				val = argv[++*i];
			else
				val = "true";
		} else if (*i + 1 < argc) {
			val = argv[++*i];
		} else {
			return cli_error(CLI_USAGE,
			                 "option --%s needs a value; run `shorty --help`", name);
		}
	}
	if (strcmp(name, "log-level") == 0)
		ps->log_level_given = true;
	if (!o) { /* --db without a table entry */
		char *dup = strdup(val);

		if (!dup)
			return cli_error(CLI_FAIL, "out of memory");
		free(c->cfg.db);
		c->cfg.db = dup;
		return 0;
	}
	rc = cfg_set(&c->cfg, name, val, &err);
	if (rc) {
		if (err.msg[0] && strstr(err.msg, name)) /* it names the option already */
			return cli_error(CLI_USAGE, "%s", err.msg);
		if (err.msg[0])
			return cli_error(CLI_USAGE, "--%s: %s", name, err.msg);
		return cli_error(CLI_USAGE, "--%s: invalid value '%s'", name, val);
	}
	return 0;
}

/* Parses argv into c. Returns 0, or an exit status (already reported). */
static int parse_args(cli *c, struct parse_state *ps, int argc, char **argv)
{
	bool endopts = false;
	int i, rc;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!endopts && a[0] == '-' && a[1] != '\0') {
			char name[64];
			const char *eq, *inline_val = NULL;
			const cli_opt *o;
			size_t n;

			if (strcmp(a, "--") == 0) {
				endopts = true;
				continue;
			}
			if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
				ps->help = true;
				continue;
			}
			if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
				ps->version = true;
				continue;
			}
			if (strcmp(a, "--check-libs") == 0) {
				ps->check_libs = true;
				continue;
			}
			if (a[1] != '-')
				return cli_error(CLI_USAGE,
				                 "unknown option %.80s; options are spelled "
				                 "--NAME (run `shorty --help`); put -- before "
				                 "an argument that starts with -",
				                 a);
			eq = strchr(a + 2, '=');
			n = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
			if (n == 0 || n >= sizeof name)
				return cli_error(CLI_USAGE,
				                 "unknown option %.80s; run `shorty --help`", a);
			memcpy(name, a + 2, n);
			name[n] = '\0';
			if (eq)
				inline_val = eq + 1;
			o = find_cmd_opt(c->cmd, name);
			if (o && !cfg_find(name)) { /* serve's are global */
				const char *val = NULL;

				if (o->metavar) {
					if (inline_val)
						val = inline_val;
					else if (i + 1 < argc)
						val = argv[++i];
					else
						return cli_error(CLI_USAGE,
						                 "option --%s needs a value "
						                 "(%s); usage: shorty %s",
						                 name, o->metavar, c->cmd->usage);
				} else if (inline_val) {
					return cli_error(CLI_USAGE, "option --%s takes no value",
					                 name);
				}
				c->opts[c->nopts].opt = o;
				c->opts[c->nopts].val = val;
				c->nopts++;
				continue;
			}
			rc = global_opt(c, ps, name, inline_val, argc, argv, &i);
			if (rc)
				return rc;
			continue;
		}

		/* a positional argument */
		if (c->cmd) {
			c->args[c->nargs++] = a;
		} else if (ps->group) {
			char full[64];

			snprintf(full, sizeof full, "%s %s", ps->group, a);
			c->cmd = find_cmd(full);
			if (!c->cmd)
				return cli_error(CLI_USAGE,
				                 "unknown command `%s %.40s`; run `shorty %s "
				                 "--help`",
				                 ps->group, a, ps->group);
			ps->group = NULL;
		} else if (is_group(a)) {
			ps->group = a;
		} else {
			c->cmd = find_cmd(a);
			if (!c->cmd)
				return cli_error(CLI_USAGE,
				                 "unknown command '%.60s'; run `shorty "
				                 "--help` for the list",
				                 a);
		}
	}
	return 0;
}

/* ---- opening the store ----------------------------------------------- */

static int no_store(const char *db)
{
	char where[4096];
	bool exists;

	return cli_error(CLI_FAIL,
	                 "no store at %s; run `shorty migrate` or `shorty add` first "
	                 "(or point --db / SHORTY_DB at your store)",
	                 svc_store_locate(db, where, sizeof where, &exists) == 0 ? where : db);
}

int cli_open_store(cli *c, const char *db, bool write, store **out)
{
	sh_err err = {0};
	char where[4096];
	bool exists = true;
	int rc, cur = 0, latest = 0;

	*out = NULL;
	if (!write && svc_store_locate(db, where, sizeof where, &exists) == 0 && !exists)
		return no_store(db);
	rc = svc_store_open(out, db, &c->cfg, write ? SVC_STORE_CREATE : SVC_STORE_EXISTING, &err);
	if (rc) {
		*out = NULL;
		return cli_report(rc, &err, "cannot open the store");
	}
	if (write) {
		rc = svc_store_migrate(*out, &err);
		if (rc)
			return cli_report(rc, &err, "cannot migrate the store");
		return 0;
	}
	rc = svc_store_schema(*out, &cur, &latest);
	if (rc)
		return cli_report(rc, &(*out)->last_err, "cannot read the store's schema version");
	if (cur == 0)
		return no_store(db);
	if (cur < latest)
		return cli_error(CLI_FAIL,
		                 "the store is at schema version %d and this shorty "
		                 "needs %d; run `shorty migrate`",
		                 cur, latest);
	if (cur > latest)
		return cli_error(CLI_FAIL,
		                 "the store is at schema version %d, newer than this "
		                 "shorty (%d); upgrade shorty",
		                 cur, latest);
	return 0;
}

static int open_all(cli *c)
{
	sh_err err = {0};
	int rc;

	switch (c->cmd->needs) {
	case CLI_OPEN_NOTHING:
		return 0;
	case CLI_OPEN_SELF:
		return 0;
	case CLI_OPEN_MIGRATE:
		return cli_open_store(c, c->cfg.db, true, &c->st);
	case CLI_OPEN_EXISTING:
	case CLI_OPEN_CREATE:
		rc = cli_open_store(c, c->cfg.db, c->cmd->needs == CLI_OPEN_CREATE, &c->st);
		if (rc)
			return rc;
		rc = svc_open(&c->sv, &c->cfg, c->st, &err);
		if (rc) {
			c->sv = NULL;
			return cli_report(rc, &err, "cannot start the service");
		}
		/* no thread: cli_write runs each unit on this one */
		rc = svc_writer_create(&c->wr, c->sv, c->st, NULL, NULL, &err);
		if (rc) {
			c->wr = NULL;
			return cli_report(rc, &err, "cannot start the service");
		}
		return 0;
	default:
		return CLI_FAIL;
	}
}

int cli_write(cli *c, svc_unit *u)
{
	return svc_writer_run(c->wr, &u, 1);
}

/* ---- commands defined here ------------------------------------------- */

static int cmd_migrate(cli *c)
{
	int cur = 0, latest = 0, rc;

	rc = svc_store_schema(c->st, &cur, &latest);
	if (rc)
		return cli_report(rc, &c->st->last_err, "cannot read the store's schema version");
	printf("schema at version %d\n", cur);
	return CLI_OK;
}

static int cmd_serve(cli *c)
{
	sh_err err = {0};
	geoip *g = NULL;
	int rc;

	/* A GeoIP database that cannot be read stops the start, before the
	 * port is taken (the service opens it again for itself: visits are
	 * located with it when they are flushed, and the geolocation redirect
	 * conditions read it). */
	rc = geoip_open(c->cfg.geoip_db, &g, &err);
	if (rc)
		return cli_report(rc, &err, "cannot open the GeoIP database");
	geoip_close(g);
	rc = http_serve(&c->cfg, &err);
	if (rc)
		return cli_report(rc, &err, "cannot serve");
	return CLI_OK;
}

/* ---- main ------------------------------------------------------------ */

int cli_main(int argc, char **argv)
{
	struct parse_state ps = {0};
	sh_err err = {0};
	cli c;
	int status = CLI_OK, level;
	bool curl_up = false;

	memset(&c, 0, sizeof c);
	c.args = calloc((size_t)argc + 1, sizeof *c.args);
	c.opts = calloc((size_t)argc + 1, sizeof *c.opts);
	if (!c.args || !c.opts) {
		status = cli_error(CLI_FAIL, "out of memory");
		goto out_nocfg;
	}
	if (cfg_init(&c.cfg, &err) != 0) {
		status = cli_error(CLI_USAGE, "%s", err.msg[0] ? err.msg : "invalid environment");
		goto out;
	}
	status = parse_args(&c, &ps, argc, argv);
	if (status)
		goto out;

	if (ps.version) {
		printf("shorty %s\n", SHORTY_VERSION);
		goto out;
	}
	if (ps.check_libs) {
		status = cli_check_libs();
		goto out;
	}
	if (ps.help) {
		if (c.cmd)
			print_cmd_help(stdout, c.cmd);
		else if (ps.group)
			print_group_help(stdout, ps.group);
		else
			print_main_help(stdout);
		goto out;
	}
	if (ps.group) {
		status = cli_error(CLI_USAGE, "`%s` needs a subcommand; run `shorty %s --help`",
		                   ps.group, ps.group);
		goto out;
	}
	if (!c.cmd) {
		status = cli_error(CLI_USAGE, "no command given; run `shorty --help` for the list");
		goto out;
	}
	if (c.nargs < c.cmd->min_args || c.nargs > c.cmd->max_args) {
		status =
		    cli_error(CLI_USAGE, "%s arguments; usage: shorty %s",
		              c.nargs < c.cmd->min_args ? "missing" : "too many", c.cmd->usage);
		goto out;
	}

	/* A one-shot command gains nothing from a cache; and unless asked,
	 * only errors are logged, so that stderr keeps to one line. */
	if (c.cmd->needs != CLI_OPEN_NOTHING) {
		c.cfg.cache_entries = 0;
		if (!ps.log_level_given && !getenv("SHORTY_LOG_LEVEL"))
			log_set_level(SH_LOG_ERROR);
	}
	if ((ps.log_level_given || getenv("SHORTY_LOG_LEVEL")) && c.cfg.log_level &&
	    log_level_parse(c.cfg.log_level, &level) == 0)
		log_set_level(level);

	if (url_global_init() != 0) {
		status = cli_error(CLI_FAIL, "cannot initialize libcurl");
		goto out;
	}
	curl_up = true;
	status = open_all(&c);
	if (status)
		goto out;
	status = c.cmd->run(&c);
	if (fflush(stdout) != 0 && status == CLI_OK)
		status =
		    cli_error(CLI_FAIL, "cannot write to standard output: %s", strerror(errno));
out:
	svc_writer_free(c.wr);
	if (c.sv)
		svc_close(c.sv);
	if (c.st)
		svc_store_close(c.st);
	cfg_free(&c.cfg);
	if (curl_up)
		url_global_cleanup();
out_nocfg:
	free(c.args);
	free(c.opts);
	return status;
}

/*
 * config.c — every option of shorty in one table (see shorty/config.h).
 *
 * CFG_TABLE below is the single source: cfg_options[] (names, variables,
 * defaults, bounds, help — what `--help` and the README print) and the width
 * of each field in sh_config both come from it. Values are applied in one
 * place, cfg_apply(), for defaults, the environment and flags alike, so a
 * default can never be something a user could not type.
 *
 * Types: CFG_STR is a string (choices, when set, restrict it: log-level);
 * CFG_INT an integer within [min, max] (choices, when set, restrict it:
 * redirect-status); CFG_BOOL true/false/1/0/yes/no/on/off; CFG_ENUM stores the
 * index of the choice in an int field (code-strategy).
 *
 * An environment variable that is set but empty counts as unset (what
 * docker-compose writes for "VAR:"); an empty flag value is applied, which
 * for a string with no default means "none".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shorty/config.h"
#include "shorty/url.h"

/* X(name, env, type, default, min, max, choices, help, field) */
#define CFG_TABLE(X)                                                                               \
	X("listen", "SHORTY_LISTEN", CFG_STR, "0.0.0.0:8000", 0, 0, NULL,                          \
	  "address and port to serve HTTP on (ADDR:PORT, [IPv6]:PORT)", listen)                    \
	X("db", "SHORTY_DB", CFG_STR, "sqlite:./data/shorty.db", 0, 0, NULL,                       \
	  "store: sqlite:PATH, a bare PATH, postgres://user@host/db, or memory:", db)              \
	X("base-url", "SHORTY_BASE_URL", CFG_STR, "http://localhost:8000", 0, 0, NULL,             \
	  "public URL short links start with (http:// or https://, no trailing slash)", base_url)  \
	X("threads", "SHORTY_THREADS", CFG_INT, "0", 0, 256, NULL,                                 \
	  "HTTP worker threads; 0 = one per CPU core", threads)                                    \
	X("cache-entries", "SHORTY_CACHE_ENTRIES", CFG_INT, "100000", 0, 100000000, NULL,          \
	  "links kept in the in-memory cache; 0 = no cache", cache_entries)                        \
	X("code-length", "SHORTY_CODE_LENGTH", CFG_INT, "6", 4, 10, NULL,                          \
	  "minimum length of generated codes", code_length)                                        \
	X("code-strategy", "SHORTY_CODE_STRATEGY", CFG_ENUM, "counter", 0, 0,                      \
	  "counter,random,hash",                                                                   \
	  "how codes are generated: counter (keyed permutation of the id), random, hash",          \
	  code_strategy)                                                                           \
	X("redirect-status", "SHORTY_REDIRECT_STATUS", CFG_INT, "302", 301, 308,                   \
	  "301,302,307,308", "default HTTP status of redirects", redirect_status)                  \
	X("anonymous-create", "SHORTY_ANONYMOUS_CREATE", CFG_BOOL, "true", 0, 0, NULL,             \
	  "allow creating links without an API key (rate-limited per address)", anonymous_create)  \
	X("max-url-length", "SHORTY_MAX_URL_LENGTH", CFG_INT, "8192", 64, 65536, NULL,             \
	  "longest long URL accepted, in bytes", max_url_length)                                   \
	X("allowed-schemes", "SHORTY_ALLOWED_SCHEMES", CFG_STR, "http,https", 0, 0, NULL,          \
	  "comma-separated URL schemes accepted for long URLs", allowed_schemes)                   \
	X("blocklist-file", "SHORTY_BLOCKLIST_FILE", CFG_STR, NULL, 0, 0, NULL,                    \
	  "file of blocked hosts, one a line (subdomains are blocked too)", blocklist_file)        \
	X("log-level", "SHORTY_LOG_LEVEL", CFG_STR, "info", 0, 0, "error,warn,info,debug",         \
	  "least severe messages logged", log_level)                                               \
	X("access-log", "SHORTY_ACCESS_LOG", CFG_BOOL, "false", 0, 0, NULL,                        \
	  "log one line per HTTP request", access_log)                                             \
	X("synchronous", "SHORTY_SYNCHRONOUS", CFG_STR, "full", 0, 0, "full,normal,off",           \
	  "SQLite durability: full (fsync every commit), normal, off", synchronous)                \
	X("trusted-proxies", "SHORTY_TRUSTED_PROXIES", CFG_STR, NULL, 0, 0, NULL,                  \
	  "comma-separated proxy addresses whose X-Forwarded-For is believed", trusted_proxies)    \
	X("cors-origin", "SHORTY_CORS_ORIGIN", CFG_STR, "*", 0, 0, NULL,                           \
	  "Access-Control-Allow-Origin sent by the REST API", cors_origin)                         \
	X("max-connections", "SHORTY_MAX_CONNECTIONS", CFG_INT, "10000", 1, 1000000, NULL,         \
	  "most HTTP connections open at once", max_connections)                                   \
	X("http-engine", "SHORTY_HTTP_ENGINE", CFG_ENUM, "own", 0, 0, "mhd,own",                   \
	  "HTTP layer: own (shorty's epoll loops, strict parser) or mhd (libmicrohttpd)",         \
	  http_engine)                                                                             \
	X("idle-timeout", "SHORTY_IDLE_TIMEOUT", CFG_INT, "60", 1, 3600, NULL,                     \
	  "seconds a keep-alive connection may stay idle between requests", idle_timeout)          \
	X("rate-limit", "SHORTY_RATE_LIMIT", CFG_INT, "30", 0, 1000000, NULL,                      \
	  "anonymous creates per minute per client address; 0 = no limit", rate_limit)             \
	X("notfound-limit", "SHORTY_NOTFOUND_LIMIT", CFG_INT, "120", 0, 1000000, NULL,             \
	  "unknown codes per minute per client address before it gets 429 (enumeration "         \
	  "brake); 0 = no limit", notfound_limit)                                                  \
	X("login-limit", "SHORTY_LOGIN_LIMIT", CFG_INT, "10", 0, 1000000, NULL,                    \
	  "failed YOURLS API logins per minute per client address before 429; 0 = no limit",      \
	  login_limit)                                                                             \
	X("visit-detail-limit", "SHORTY_VISIT_DETAIL_LIMIT", CFG_INT, "600", 0, 100000000, NULL,   \
	  "visits per minute per client address stored with their details (referrer, user "      \
	  "agent, visited URL, location); past it visits are counted without them; 0 = no limit", \
	  visit_detail_limit)                                                                      \
	X("visit-retention", "SHORTY_VISIT_RETENTION", CFG_INT, "7776000", 0, 3153600000, NULL,   \
	  "seconds a visit's details are kept (then dropped; the visit and every count stay); "   \
	  "0 = forever; 7776000 = 90 days",                                                       \
	  visit_retention)                                                                         \
	X("yourls-username", "SHORTY_YOURLS_USERNAME", CFG_STR, NULL, 0, 0, NULL,                  \
	  "username for the YOURLS API's username+password auth (unset = off)", yourls_user)       \
	X("yourls-password", "SHORTY_YOURLS_PASSWORD", CFG_STR, NULL, 0, 0, NULL,                  \
	  "password for the YOURLS API's username+password auth", yourls_password)                 \
	X("geoip-db", "SHORTY_GEOIP_DB", CFG_STR, NULL, 0, 0, NULL,                                \
	  "MaxMind-format database (.mmdb, e.g. GeoLite2-City) locating visits; unset = no "       \
	  "locations", geoip_db)                                                                   \
	X("yourls-signature-ttl", "SHORTY_YOURLS_SIGNATURE_TTL", CFG_INT, "43200", 1, 43200, NULL, \
	  "seconds a timestamped YOURLS signature is accepted either side of now (replay "         \
	  "window; YOURLS's is 12 h)", yourls_signature_ttl)                                       \
	X("resolve-titles", "SHORTY_RESOLVE_TITLES", CFG_BOOL, "false", 0, 0, NULL,                \
	  "fetch the <title> of a new link's page when it has none (after the create; 3 s, "       \
	  "512 KiB, public http(s) addresses only), as Shlink's AUTO_RESOLVE_TITLES",              \
	  resolve_titles)                                                                          \
	X("base-url-redirect", "SHORTY_BASE_URL_REDIRECT", CFG_STR, NULL, 0, 0, NULL,              \
	  "where GET / on the default domain redirects (Shlink's DEFAULT_BASE_URL_REDIRECT); "     \
	  "unset = the page", base_url_redirect)                                                   \
	X("regular-404-redirect", "SHORTY_REGULAR_404_REDIRECT", CFG_STR, NULL, 0, 0, NULL,        \
	  "where a path that is no short URL redirects on the default domain; unset = 404",       \
	  regular_404_redirect)                                                                    \
	X("invalid-short-url-redirect", "SHORTY_INVALID_SHORT_URL_REDIRECT", CFG_STR, NULL, 0, 0,  \
	  NULL, "where an unknown or gone short URL redirects on the default domain; unset = 404", \
	  invalid_short_url_redirect)

#define CFG_OPT(n, e, t, d, lo, hi, ch, h, f) {n, e, t, d, lo, hi, ch, h, offsetof(sh_config, f)},
#define CFG_WIDTH(n, e, t, d, lo, hi, ch, h, f) sizeof(((sh_config *)0)->f),

const cfg_option cfg_options[] = {
    CFG_TABLE(CFG_OPT){NULL, NULL, CFG_STR, NULL, 0, 0, NULL, NULL, 0},
};

/* bytes of each option's field, in table order (int or long for CFG_INT) */
static const size_t cfg_widths[] = {CFG_TABLE(CFG_WIDTH)};

#define CFG_LABEL_MAX 64

const cfg_option *cfg_find(const char *name)
{
	if (!name)
		return NULL;
	for (const cfg_option *o = cfg_options; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

/* "301,302" -> "301, 302" into buf, for messages. */
static const char *cfg_choices_text(const char *choices, char *buf, size_t bufsz)
{
	size_t o = 0;

	for (const char *p = choices; *p && o + 3 < bufsz; p++) {
		if (*p == ',') {
			buf[o++] = ',';
			buf[o++] = ' ';
		} else {
			buf[o++] = *p;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* Index of value in the comma-separated choices (case-insensitive), or -1. */
static int cfg_choice_index(const char *choices, const char *value)
{
	size_t vl = strlen(value);
	int i = 0;

	for (const char *p = choices;; i++) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);

		if (n == vl && strncasecmp(p, value, n) == 0)
			return i;
		if (!c)
			return -1;
		p = c + 1;
	}
}

static int cfg_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "1", "yes", "on"};
	static const char *const no[] = {"false", "0", "no", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return SH_EINVAL;
}

static int cfg_parse_long(const char *s, long *out)
{
	char *end = NULL;
	long v;

	if (!*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
		return SH_EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end)
		return SH_EINVAL;
	*out = v;
	return 0;
}

/* Checks ADDR:PORT: a port 0..65535 after the last ':' and a non-empty
 * address ("[::1]:8000" for IPv6). */
static bool cfg_listen_ok(const char *s)
{
	const char *c = strrchr(s, ':');
	long port;

	if (!c || c == s || cfg_parse_long(c + 1, &port) || port < 0 || port > 65535)
		return false;
	if (c[1] == '+' || c[1] == '-')
		return false;
	if (s[0] == '[' && c[-1] != ']')
		return false;
	return true;
}

/* base URL: http(s)://host[:port][/path], no query or fragment, no white
 * space; the host a name without a character libcurl refuses in one (nor a
 * percent-escape, nor '|'), or an IPv6 address in brackets; the port 0 to
 * 65535. Stricter than libcurl's URL API on purpose: the service reads the
 * host with libcurl only when it normalizes its first URL (svc_url_policy,
 * so that an idle shorty never loads libcurl), and it must never find it
 * unreadable then. test_config.c checks that curl reads every base URL
 * accepted here. */
static bool cfg_base_url_ok(const char *s)
{
	const char *h, *end, *hend;

	if (strncasecmp(s, "http://", 7) == 0)
		h = s + 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		h = s + 8;
	else
		return false;
	if (*h == '\0' || *h == '/' || *h == ':')
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#' ||
		    *p == '\\' || *p == '@')
			return false;
	end = h + strcspn(h, "/");
	if (*h == '[') {
		struct in6_addr a6;
		char lit[INET6_ADDRSTRLEN];
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (!rb || (size_t)(rb - h - 1) >= sizeof lit)
			return false;
		memcpy(lit, h + 1, (size_t)(rb - h - 1));
		lit[rb - h - 1] = '\0';
		if (inet_pton(AF_INET6, lit, &a6) != 1)
			return false;
		hend = rb + 1;
	} else {
		hend = h + strcspn(h, ":/");
		for (const char *p = h; p < hend; p++)
			if (strchr("!$&'()*+,;=%{}^`\"<>[]|", *p))
				return false;
	}
	if (hend < end) { /* ":" and 0 to 5 digits, at most 65535 */
		long port = 0;
		if (*hend != ':' || end - hend - 1 > 5)
			return false;
		for (const char *p = hend + 1; p < end; p++) {
			if (*p < '0' || *p > '9')
				return false;
			port = port * 10 + (*p - '0');
		}
		if (port > 65535)
			return false;
	}
	return true;
}

/* scheme list: 1..URL_MAX_SCHEMES-1 names of [a-z][a-z0-9+.-]* */
static bool cfg_schemes_ok(const char *s)
{
	int n = 0;
	bool start = true;

	for (const char *p = s;; p++) {
		char c = *p;
		if (c == ',' || c == '\0') {
			if (start)
				return false; /* empty name */
			n++;
			if (c == '\0')
				break;
			start = true;
			continue;
		}
		if (start && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '.' || c == '-'))
			return false;
		start = false;
	}
	return n >= 1 && n < URL_MAX_SCHEMES;
}

/* Applies text `value` to option o; `label` names it in messages ("--x" or
 * "SHORTY_X"). value NULL (a default of "none") unsets a string. */
static int cfg_apply(sh_config *cfg, const cfg_option *o, const char *label, const char *value,
                     sh_err *err)
{
	char *base = (char *)cfg + o->offset;
	size_t width = cfg_widths[o - cfg_options];
	char choices[128];
	int rc = 0;

	switch (o->type) {
	case CFG_STR: {
		char **field = (char **)(void *)base;
		char *copy = NULL;

		if (value && *value == '\0' && !o->def)
			value = NULL;
		if (value && o->choices) {
			int idx = cfg_choice_index(o->choices, value);
			if (idx < 0) {
				rc = sh_err_set(
				    err, SH_EINVAL, o->name, "%s must be one of %s", label,
				    cfg_choices_text(o->choices, choices, sizeof choices));
				goto out;
			}
		}
		if (value && strcmp(o->name, "listen") == 0 && !cfg_listen_ok(value)) {
			rc = sh_err_set(err, SH_EINVAL, o->name,
			                "%s must be ADDRESS:PORT with a port from 0 to 65535, "
			                "such as 0.0.0.0:8000 or [::]:8000",
			                label);
			goto out;
		}
		if (value && strcmp(o->name, "base-url") == 0 && !cfg_base_url_ok(value)) {
			rc =
			    sh_err_set(err, SH_EINVAL, o->name,
			               "%s must be an http:// or https:// URL with a host, such as "
			               "https://s.example.com",
			               label);
			goto out;
		}
		if (value && strcmp(o->name, "allowed-schemes") == 0 && !cfg_schemes_ok(value)) {
			rc = sh_err_set(err, SH_EINVAL, o->name,
			                "%s must be a comma-separated list of 1 to %d URL schemes, "
			                "such as http,https",
			                label, URL_MAX_SCHEMES - 1);
			goto out;
		}
		if (value && *value == '\0' &&
		    (strcmp(o->name, "db") == 0 || strcmp(o->name, "cors-origin") == 0)) {
			rc = sh_err_set(err, SH_EINVAL, o->name, "%s must not be empty", label);
			goto out;
		}
		if (value) {
			copy = strdup(value);
			if (!copy) {
				rc = sh_err_set(err, SH_ENOMEM, o->name, "out of memory");
				goto out;
			}
			if (o->choices || strcmp(o->name, "allowed-schemes") == 0) {
				for (char *p = copy; *p; p++)
					if (*p >= 'A' && *p <= 'Z')
						*p = (char)(*p - 'A' + 'a');
			}
			if (strcmp(o->name, "base-url") == 0) {
				size_t n = strlen(copy);
				while (n > 0 && copy[n - 1] == '/')
					copy[--n] = '\0';
			}
		}
		free(*field);
		*field = copy;
		break;
	}
	case CFG_INT: {
		long v;

		if (!value || cfg_parse_long(value, &v) || v < o->min || v > o->max ||
		    (o->choices && cfg_choice_index(o->choices, value) < 0)) {
			if (o->choices)
				rc = sh_err_set(
				    err, SH_EINVAL, o->name, "%s must be one of %s", label,
				    cfg_choices_text(o->choices, choices, sizeof choices));
			else
				rc = sh_err_set(err, SH_EINVAL, o->name,
				                "%s must be an integer from %ld to %ld", label,
				                o->min, o->max);
			goto out;
		}
		if (width == sizeof(int))
			*(int *)(void *)base = (int)v;
		else
			*(long *)(void *)base = v;
		break;
	}
	case CFG_BOOL: {
		bool b;

		if (!value || cfg_parse_bool(value, &b)) {
			rc = sh_err_set(err, SH_EINVAL, o->name,
			                "%s must be true or false (also 1/0, yes/no, on/off)",
			                label);
			goto out;
		}
		*(bool *)(void *)base = b;
		break;
	}
	case CFG_ENUM: {
		int idx = value ? cfg_choice_index(o->choices, value) : -1;

		if (idx < 0) {
			rc = sh_err_set(err, SH_EINVAL, o->name, "%s must be one of %s", label,
			                cfg_choices_text(o->choices, choices, sizeof choices));
			goto out;
		}
		*(int *)(void *)base = idx;
		break;
	}
	}
out:
	return rc;
}

int cfg_set(sh_config *cfg, const char *name, const char *value, sh_err *err)
{
	const cfg_option *o = cfg_find(name);
	char label[CFG_LABEL_MAX];

	if (!o)
		return sh_err_set(err, SH_ENOTFOUND, NULL, "unknown option --%.60s; see --help",
		                  name ? name : "");
	snprintf(label, sizeof label, "--%s", o->name);
	return cfg_apply(cfg, o, label, value, err);
}

int cfg_init(sh_config *cfg, sh_err *err)
{
	int rc = 0;

	memset(cfg, 0, sizeof *cfg);
	for (const cfg_option *o = cfg_options; o->name; o++) {
		rc = cfg_apply(cfg, o, o->name, o->def, err);
		if (rc)
			goto out;
	}
	for (const cfg_option *o = cfg_options; o->name; o++) {
		const char *v = getenv(o->env);

		if (!v || !*v)
			continue;
		rc = cfg_apply(cfg, o, o->env, v, err);
		if (rc)
			goto out;
	}
out:
	if (rc)
		cfg_free(cfg);
	return rc;
}

const char *cfg_value_text(const sh_config *cfg, const cfg_option *o, char *buf, size_t bufsz)
{
	const char *base = (const char *)cfg + o->offset;
	size_t width = cfg_widths[o - cfg_options];

	if (bufsz == 0)
		return buf;
	switch (o->type) {
	case CFG_STR: {
		const char *s = *(char *const *)(const void *)base;
		snprintf(buf, bufsz, "%s", s ? s : "");
		break;
	}
	case CFG_INT:
		if (width == sizeof(int))
			snprintf(buf, bufsz, "%d", *(const int *)(const void *)base);
		else
			snprintf(buf, bufsz, "%ld", *(const long *)(const void *)base);
		break;
	case CFG_BOOL:
		snprintf(buf, bufsz, "%s", *(const bool *)(const void *)base ? "true" : "false");
		break;
	case CFG_ENUM: {
		int idx = *(const int *)(const void *)base;
		const char *p = o->choices;

		for (int i = 0; i < idx && p; i++) {
			p = strchr(p, ',');
			if (p)
				p++;
		}
		if (!p) {
			snprintf(buf, bufsz, "?");
		} else {
			size_t n = strcspn(p, ",");
			snprintf(buf, bufsz, "%.*s", (int)n, p);
		}
		break;
	}
	}
	return buf;
}

void cfg_free(sh_config *cfg)
{
	if (!cfg)
		return;
	for (const cfg_option *o = cfg_options; o->name; o++) {
		if (o->type == CFG_STR) {
			char **field = (char **)(void *)((char *)cfg + o->offset);
			free(*field);
			*field = NULL;
		}
	}
}

/*
 * config.h — every option of shorty, from one table (core/config.c).
 *
 * Each option has a name ("base-url"), an environment variable
 * (SHORTY_BASE_URL), a default, bounds and a help line. The CLI's flags, the
 * environment, `--help` and the README's table all come from that table.
 * Precedence: flag > environment > default.
 */
#ifndef SHORTY_CONFIG_H
#define SHORTY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "shorty/err.h"

enum code_strategy { CODE_COUNTER = 0, CODE_RANDOM, CODE_HASH };

typedef struct sh_config {
	char *listen;          /* "0.0.0.0:8000" */
	char *db;              /* "sqlite:./data/shorty.db" | path | "postgres://..." | "memory:" */
	char *base_url;        /* "http://localhost:8000", no trailing slash */
	int threads;           /* 0 = number of cores */
	long cache_entries;    /* 100000 */
	int code_length;       /* 6 (minimum length of generated codes) */
	int code_strategy;     /* enum code_strategy */
	int redirect_status;   /* 302 */
	bool anonymous_create; /* true */
	long max_url_length;   /* 8192 */
	char *allowed_schemes; /* "http,https" */
	char *blocklist_file;  /* NULL */
	char *log_level;       /* "info" */
	bool access_log;       /* false */
	char *synchronous;     /* "full" | "normal" */
	char *trusted_proxies; /* comma-separated addresses, NULL */
	char *cors_origin;     /* "*" */
	long max_connections;  /* 10000 */
	int http_engine;       /* 0 = mhd (libmicrohttpd), 1 = own (http/engine.c) */
	long idle_timeout;     /* 60 s, keep-alive idle between requests */
	long rate_limit;       /* anonymous creates per minute per address: 30 */
	long notfound_limit;   /* unknown codes per minute per address: 120 */
	long login_limit;      /* failed YOURLS logins per minute per address: 10 */
	long visit_detail_limit; /* visits per minute per address kept with their
	                            details (referrer, user agent, ...): 600 */
	long visit_retention;  /* seconds a visit's details are kept; 0 = forever */
	long yourls_signature_ttl; /* seconds a timestamped signature lives: 43200 */
	char *yourls_user;     /* YOURLS username+password auth, NULL = off */
	char *yourls_password;
	char *geoip_db;        /* MaxMind .mmdb path, NULL = no visit locations */
	bool resolve_titles;   /* fetch the page title of links created without one */
	/* the default domain's not-found redirects (Shlink's DEFAULT_*_REDIRECT),
	 * NULL = none; other domains have theirs in the store */
	char *base_url_redirect;
	char *regular_404_redirect;
	char *invalid_short_url_redirect;
} sh_config;

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL, CFG_ENUM };

typedef struct cfg_option {
	const char *name;     /* flag name without "--": "base-url" */
	const char *env;      /* "SHORTY_BASE_URL" */
	enum cfg_type type;
	const char *def;      /* default as text, NULL = unset */
	long min, max;        /* CFG_INT bounds */
	const char *choices;  /* CFG_ENUM: "counter,random,hash" */
	const char *help;
	size_t offset;        /* into sh_config */
} cfg_option;

/* The table, terminated by an entry with name == NULL. */
extern const cfg_option cfg_options[];

/* Fills cfg with defaults, then the environment. Returns 0, or SH_EINVAL
 * with err naming the variable and the allowed values. */
int cfg_init(sh_config *cfg, sh_err *err);

/* Sets option `name` (flag name) from text. SH_EINVAL on a bad value,
 * SH_ENOTFOUND when no option has that name. */
int cfg_set(sh_config *cfg, const char *name, const char *value, sh_err *err);

/* Finds an option by flag name, or NULL. */
const cfg_option *cfg_find(const char *name);

/* The current value of option o in cfg as text ("" for an unset string),
 * for --help, `config` listings and logs. Returns buf. (Added by core.) */
const char *cfg_value_text(const sh_config *cfg, const cfg_option *o, char *buf,
                           size_t bufsz);

/* Frees the strings of cfg. */
void cfg_free(sh_config *cfg);

#endif

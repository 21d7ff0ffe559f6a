/*
 * url.h — accepting and normalizing long URLs (core/url.c), SPEC §3.
 *
 * One validator for every front (REST, YOURLS, web form, CLI, import).
 * Built on libcurl's URL API (curl_url), IDN to punycode through libcurl.
 */
#ifndef SHORTY_URL_H
#define SHORTY_URL_H

#include <stddef.h>
#include "shorty/err.h"

#define URL_MAX_SCHEMES 8
#define URL_DEFAULT_MAX_LENGTH 8192

typedef struct url_policy {
	size_t max_length;                  /* bytes, of input and of result */
	const char *schemes[URL_MAX_SCHEMES]; /* lower-case, NULL-terminated; {"http","https"} */
	const char *self_host;              /* host of our base URL (lower-case), or NULL:
	                                       then no loop check at all */
	const char *const *self_names;      /* NULL-terminated list of the service's
	                                       other names and addresses, or NULL */
	const char *const *blocked_hosts;   /* NULL-terminated list, or NULL; a
	                                       host matches itself and its subdomains */
} url_policy;

/* A policy with the defaults of SPEC §3 (http, https; 8192 bytes). */
void url_policy_default(url_policy *p);

/*
 * Validates and normalizes `in` (in_len bytes; need not be NUL-terminated).
 * On success *out is a malloc'ed NUL-terminated normalized URL, owned by the
 * caller, and 0 is returned. On failure returns SH_EINVAL, SH_ETOOBIG or
 * SH_EBLOCKED with a one-sentence reason in err (field "url"), or
 * SH_EUNAVAIL when libcurl cannot be loaded (err says which package to
 * install); *out = NULL.
 *
 * Rules: surrounding white space trimmed; then any control character
 * (< 0x20, 0x7f), raw space, backslash or NUL inside -> rejected; scheme in
 * policy; host present; no user:pass@; scheme and host lower-cased; IDN to
 * punycode; a host ending in a number is an IPv4 address as browsers read
 * it (dotted decimal) or refused; default port dropped; dot segments
 * removed; percent-encoding made canonical (upper-case hex, unreserved
 * characters decoded, non-ASCII bytes encoded, a "%" that starts no escape
 * kept as browsers keep it); the result never contains a control character.
 * Loops (when p->self_host is set): a URL whose host is the service's own,
 * whatever its scheme and port (self_host, any of self_names, or a loopback
 * name or address: localhost, *.localhost, 127.0.0.0/8, 0.0.0.0/8, [::1],
 * [::], IPv4-mapped and -compatible forms of those) is SH_EBLOCKED.
 */
int url_normalize(const url_policy *p, const char *in, size_t in_len,
                  char **out, sh_err *err);

/* Global init/cleanup for the URL parser; call once from main. libcurl
 * itself is loaded by the first url_normalize (core/curlload.h: an idle
 * shorty does not map it; SH_EUNAVAIL when it cannot be loaded), and its
 * URL API needs no curl_global_init: that one initializes the TLS stack, so
 * it waits for the first transfer, url_transfer_init(). */
int url_global_init(void);
void url_global_cleanup(void);

/* Loads libcurl and calls curl_global_init, once (thread-safe): call before
 * the first curl_easy_*. 0, SH_EUNAVAIL (no libcurl) or SH_ENOMEM. */
int url_transfer_init(void);

#endif

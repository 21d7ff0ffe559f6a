/*
 * err.h — the one error vocabulary of shorty.
 *
 * Every function that can fail returns an int: 0 (SH_OK) on success, a
 * negative SH_E* value otherwise. Functions that need to say *why* in words
 * (validation, the store) also fill an sh_err, whose message is written for
 * the user: what was wrong and how to fix it. Fronts map codes to an HTTP
 * status or a CLI exit status; only sh_strerror() turns a code into text.
 */
#ifndef SHORTY_ERR_H
#define SHORTY_ERR_H

#include <stddef.h>

enum {
	SH_OK = 0,
	SH_ENOMEM = -1,     /* allocation failed */
	SH_EINVAL = -2,     /* invalid input (URL, code, field); sh_err says which */
	SH_ENOTFOUND = -3,  /* no such link / key / tag */
	SH_ETAKEN = -4,     /* custom code or tag name already in use */
	SH_ERESERVED = -5,  /* custom code is a reserved word */
	SH_EGONE = -6,      /* link exists but is expired / over limit / disabled */
	SH_ESTORE = -7,     /* store failed (I/O, corrupt, constraint we did not expect) */
	SH_EBUSY = -8,      /* store locked longer than busy_timeout */
	SH_EFULL = -9,      /* disk full */
	SH_EAUTH = -10,     /* missing or invalid credentials */
	SH_EFORBIDDEN = -11,/* credentials valid, role does not allow it */
	SH_ETOOBIG = -12,   /* input over a configured limit */
	SH_EBLOCKED = -13,  /* URL host on the blocklist / points at ourselves */
	SH_ESCHEMA = -14,   /* store schema newer than this binary, or not migrated */
	SH_EUNAVAIL = -15,  /* a library loaded when first used is missing (shorty/dynlib.h) */
};

/* Why a link answers 410: set by the service's resolve. */
enum sh_gone_reason {
	SH_GONE_NONE = 0,
	SH_GONE_EXPIRED,
	SH_GONE_NOT_YET,     /* validSince in the future */
	SH_GONE_MAX_VISITS,
	SH_GONE_DISABLED,
};

#define SH_ERR_MSG_MAX 256

/* Detail of a failure for the user. `field` names the offending input field
 * (Shlink's invalidElements; "url", "customSlug", "tags", ...) or is NULL. */
typedef struct sh_err {
	int code;
	const char *field;
	char msg[SH_ERR_MSG_MAX];
} sh_err;

/* Short, stable English name of an error code ("not found"). Never NULL. */
const char *sh_strerror(int code);

/* Sets e->code, e->field and formats e->msg; returns code, so that
 * `return sh_err_set(e, SH_EINVAL, "url", "...")` reads naturally.
 * e may be NULL (then only the code is returned). */
int sh_err_set(sh_err *e, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif

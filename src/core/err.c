/*
 * err.c — names of the SH_E* codes and the sh_err filler (see shorty/err.h).
 *
 * sh_strerror() is the only place a code becomes text; sh_err_set() writes
 * the user-facing sentence, bounded by SH_ERR_MSG_MAX.
 */
#include <stdarg.h>
#include <stdio.h>

#include "shorty/err.h"

const char *sh_strerror(int code)
{
	switch (code) {
	case SH_OK:
		return "ok";
	case SH_ENOMEM:
		return "out of memory";
	case SH_EINVAL:
		return "invalid input";
	case SH_ENOTFOUND:
		return "not found";
	case SH_ETAKEN:
		return "already taken";
	case SH_ERESERVED:
		return "reserved";
	case SH_EGONE:
		return "gone";
	case SH_ESTORE:
		return "store error";
	case SH_EBUSY:
		return "store busy";
	case SH_EFULL:
		return "disk full";
	case SH_EAUTH:
		return "authentication required";
	case SH_EFORBIDDEN:
		return "forbidden";
	case SH_ETOOBIG:
		return "too big";
	case SH_EBLOCKED:
		return "blocked";
	case SH_ESCHEMA:
		return "schema mismatch";
	case SH_EUNAVAIL:
		return "a library it needs is not installed";
	default:
		return "unknown error";
	}
}

int sh_err_set(sh_err *e, int code, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	e->code = code;
	e->field = field;
	e->msg[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		if (vsnprintf(e->msg, sizeof e->msg, fmt, ap) < 0)
			e->msg[0] = '\0';
		va_end(ap);
	}
	return code;
}

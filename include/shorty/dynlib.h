/*
 * dynlib.h — a shared library loaded when first used (dlopen), for the
 * libraries only some runs need: libpq (postgres:// stores), libmicrohttpd
 * (--http-engine mhd), libxml2 (title fetching), libqrencode and libpng (QR
 * codes), libmaxminddb (--geoip-db). Linked, each would be mapped, relocated
 * and initialized at every start, with everything it pulls in (libxml2 brings
 * ICU and libstdc++, libpq Kerberos and LDAP): megabytes of idle RSS for a
 * shorty that never uses them (docs/benchmarks.md "Idle RSS").
 *
 * Each library has a small shim (src/<layer>/<name>load.c and .h): a table of
 * typed function pointers filled by dlsym, and a header that maps the
 * library's names onto the table, so the code calling the library is
 * unchanged. The shim's entry point (store open, server start, a QR request,
 * a title fetch, GeoIP open) loads it first and turns a missing library into
 * a clear error (one CLI line, a 503 problem+json).
 */
#ifndef SHORTY_DYNLIB_H
#define SHORTY_DYNLIB_H

#include <stdatomic.h>

#include "shorty/err.h"

typedef struct sh_dynlib {
	const char *soname;  /* "libpq.so.5": the ABI the headers we build with describe */
	const char *package; /* the Debian package holding it, for the message */
	const char *use;     /* what needs it, for the message: "postgres:// stores" */
	/* Fills the table from the dlopen handle; returns the name of the first
	 * symbol missing, or NULL when all were found. */
	const char *(*fill)(void *handle);
	_Atomic int loaded;  /* 1 once the table is filled; never unloaded */
} sh_dynlib;

/* Loads l once (thread-safe; later calls cost one atomic load). 0, or
 * SH_EUNAVAIL with a sentence in err (which library, why, which package to
 * install). A failed load is tried again on the next call. */
int sh_dynlib_load(sh_dynlib *l, sh_err *err);

/* For the shims' name mappings: a function of l called before l was loaded
 * is a bug (an entry point forgot sh_dynlib_load): this loads l, or prints
 * why it cannot and aborts, rather than calling through a NULL pointer. */
void sh_dynlib_need(sh_dynlib *l);

#endif

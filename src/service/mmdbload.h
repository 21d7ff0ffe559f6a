/*
 * mmdbload.h — libmaxminddb, loaded when a GeoIP database is opened
 * (--geoip-db; shorty/dynlib.h). Included by src/service/geoip.c after
 * <maxminddb.h>: every name below becomes a call through the table.
 * geoip_open() loads it first, so a missing library is one clear error at
 * start.
 */
#ifndef SHORTY_SERVICE_MMDBLOAD_H
#define SHORTY_SERVICE_MMDBLOAD_H

#include <maxminddb.h>

#include "shorty/dynlib.h"

#define SH_MMDB_FUNCS(X)                                                                   \
	X(MMDB_aget_value) X(MMDB_close) X(MMDB_get_value) X(MMDB_lookup_sockaddr)         \
	X(MMDB_lookup_string) X(MMDB_open) X(MMDB_strerror)

struct sh_mmdb_fns {
#define SH_MMDB_SLOT(f) __typeof__(f) *f;
	SH_MMDB_FUNCS(SH_MMDB_SLOT)
#undef SH_MMDB_SLOT
};
extern struct sh_mmdb_fns sh_mmdb_fns;
extern sh_dynlib sh_mmdb_lib;

/* Loads libmaxminddb; 0, or SH_EUNAVAIL with a sentence in err. */
int sh_mmdb_load(sh_err *err);

static inline struct sh_mmdb_fns *sh_mmdb(void)
{
	if (!atomic_load_explicit(&sh_mmdb_lib.loaded, memory_order_acquire))
		sh_dynlib_need(&sh_mmdb_lib);
	return &sh_mmdb_fns;
}

#ifndef SH_MMDBLOAD_FILL
#define MMDB_aget_value (sh_mmdb()->MMDB_aget_value)
#define MMDB_close (sh_mmdb()->MMDB_close)
#define MMDB_get_value (sh_mmdb()->MMDB_get_value)
#define MMDB_lookup_sockaddr (sh_mmdb()->MMDB_lookup_sockaddr)
#define MMDB_lookup_string (sh_mmdb()->MMDB_lookup_string)
#define MMDB_open (sh_mmdb()->MMDB_open)
#define MMDB_strerror (sh_mmdb()->MMDB_strerror)
#endif /* SH_MMDBLOAD_FILL */

#endif

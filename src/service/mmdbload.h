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

SH_DYNLIB_DECLARE(mmdb, SH_MMDB_FUNCS)

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

/*
 * mmdbload.c — the libmaxminddb table (service/mmdbload.h, shorty/dynlib.h).
 */
#include <dlfcn.h>

#define SH_MMDBLOAD_FILL /* the real names, not the table's mappings */

#include "service/mmdbload.h"

SH_DYNLIB_DEFINE(mmdb, SH_MMDB_FUNCS, "libmaxminddb.so.0", "libmaxminddb0",
                 "GeoIP (--geoip-db)");

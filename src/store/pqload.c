/*
 * pqload.c — the libpq table (store/pqload.h, shorty/dynlib.h).
 */
#include <dlfcn.h>

#define SH_PQLOAD_FILL /* the real names, not the table's mappings */

#include "store/pqload.h"

SH_DYNLIB_DEFINE(pq, SH_PQ_FUNCS, "libpq.so.5", "libpq5",
                 "PostgreSQL stores (postgres://)");

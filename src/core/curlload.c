/*
 * curlload.c — the libcurl table (core/curlload.h, shorty/dynlib.h).
 */
#include <dlfcn.h>

#define SH_CURLLOAD_FILL /* the real names, not the table's mappings */

#include "core/curlload.h"

SH_DYNLIB_DEFINE(curl, SH_CURL_FUNCS, "libcurl.so.4", "libcurl4",
                 "URLs");

/*
 * xmlload.c — the libxml2 table (service/xmlload.h, shorty/dynlib.h).
 */
#include <dlfcn.h>

#define SH_XMLLOAD_FILL /* the real names, not the table's mappings */
#include "service/xmlload.h"

SH_DYNLIB_DEFINE(xml, SH_XML_FUNCS, "libxml2.so.2", "libxml2",
                 "page titles (--resolve-titles)");

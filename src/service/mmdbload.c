/*
 * mmdbload.c — the libmaxminddb table (service/mmdbload.h, shorty/dynlib.h).
 */
#include <dlfcn.h>

#define SH_MMDBLOAD_FILL /* the real names, not the table's mappings */

#include "service/mmdbload.h"

struct sh_mmdb_fns sh_mmdb_fns;

static const char *mmdb_fill(void *h)
{
#define SH_MMDB_DLSYM(f)                                                                     \
	if (!(*(void **)&sh_mmdb_fns.f = dlsym(h, #f)))                                      \
		return #f;
	SH_MMDB_FUNCS(SH_MMDB_DLSYM)
#undef SH_MMDB_DLSYM
	return NULL;
}

sh_dynlib sh_mmdb_lib = {
    .soname = "libmaxminddb.so.0",
    .package = "libmaxminddb0",
    .use = "GeoIP (--geoip-db)",
    .fill = mmdb_fill,
};

int sh_mmdb_load(sh_err *err)
{
	return sh_dynlib_load(&sh_mmdb_lib, err);
}

/*
 * pqload.c — the libpq table (store/pqload.h, shorty/dynlib.h).
 */
#include <dlfcn.h>

#define SH_PQLOAD_FILL /* the real names, not the table's mappings */

#include "store/pqload.h"

struct sh_pq_fns sh_pq_fns;

static const char *pq_fill(void *h)
{
#define SH_PQ_DLSYM(f)                                                                     \
	if (!(*(void **)&sh_pq_fns.f = dlsym(h, #f)))                                      \
		return #f;
	SH_PQ_FUNCS(SH_PQ_DLSYM)
#undef SH_PQ_DLSYM
	return NULL;
}

sh_dynlib sh_pq_lib = {
    .soname = "libpq.so.5",
    .package = "libpq5",
    .use = "PostgreSQL stores (postgres://)",
    .fill = pq_fill,
};

int sh_pq_load(sh_err *err)
{
	return sh_dynlib_load(&sh_pq_lib, err);
}

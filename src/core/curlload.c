/*
 * curlload.c — the libcurl table (core/curlload.h, shorty/dynlib.h).
 */
#include <dlfcn.h>

#define SH_CURLLOAD_FILL /* the real names, not the table's mappings */

#include "core/curlload.h"

struct sh_curl_fns sh_curl_fns;

static const char *curl_fill(void *h)
{
#define SH_CURL_DLSYM(f)                                                                     \
	if (!(*(void **)&sh_curl_fns.f = dlsym(h, #f)))                                      \
		return #f;
	SH_CURL_FUNCS(SH_CURL_DLSYM)
#undef SH_CURL_DLSYM
	return NULL;
}

sh_dynlib sh_curl_lib = {
    .soname = "libcurl.so.4",
    .package = "libcurl4",
    .use = "URLs",
    .fill = curl_fill,
};

int sh_curl_load(sh_err *err)
{
	return sh_dynlib_load(&sh_curl_lib, err);
}

/*
 * qrload.c — the libqrencode and libpng tables (http/qrload.h,
 * shorty/dynlib.h).
 */
#include <dlfcn.h>

#define SH_QRLOAD_FILL /* the real names, not the tables' mappings */
#include "http/qrload.h"

struct sh_qrencode_fns sh_qrencode_fns;
struct sh_png_fns sh_png_fns;

#define SH_QRLOAD_DLSYM(table, f)                                                          \
	if (!(*(void **)&table.f = dlsym(h, #f)))                                          \
		return #f;

static const char *qrencode_fill(void *h)
{
#define SH_QRENCODE_DLSYM(f) SH_QRLOAD_DLSYM(sh_qrencode_fns, f)
	SH_QRENCODE_FUNCS(SH_QRENCODE_DLSYM)
#undef SH_QRENCODE_DLSYM
	return NULL;
}

static const char *png_fill(void *h)
{
#define SH_PNG_DLSYM(f) SH_QRLOAD_DLSYM(sh_png_fns, f)
	SH_PNG_FUNCS(SH_PNG_DLSYM)
#undef SH_PNG_DLSYM
	return NULL;
}

sh_dynlib sh_qrencode_lib = {
    .soname = "libqrencode.so.4",
    .package = "libqrencode4",
    .use = "QR codes",
    .fill = qrencode_fill,
};

sh_dynlib sh_png_lib = {
    .soname = "libpng16.so.16",
    .package = "libpng16-16",
    .use = "PNG QR codes",
    .fill = png_fill,
};

int sh_qrencode_load(sh_err *err)
{
	return sh_dynlib_load(&sh_qrencode_lib, err);
}

int sh_png_load(sh_err *err)
{
	return sh_dynlib_load(&sh_png_lib, err);
}

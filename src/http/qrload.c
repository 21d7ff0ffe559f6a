/*
 * qrload.c — the libqrencode and libpng tables (http/qrload.h,
 * shorty/dynlib.h).
 */
#include <dlfcn.h>

#define SH_QRLOAD_FILL /* the real names, not the tables' mappings */
#include "http/qrload.h"

SH_DYNLIB_DEFINE(qrencode, SH_QRENCODE_FUNCS, "libqrencode.so.4", "libqrencode4", "QR codes");
SH_DYNLIB_DEFINE(png, SH_PNG_FUNCS, "libpng16.so.16", "libpng16-16", "PNG QR codes");

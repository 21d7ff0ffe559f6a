/*
 * qrload.h — libqrencode and libpng, loaded by the first QR code request
 * (GET /<code>/qr-code; libpng only for format=png; shorty/dynlib.h): a
 * shorty that serves no QR code never maps them. Included by src/http/qr.c
 * after <png.h> and <qrencode.h>: every name below becomes a call through
 * the tables. http_qr() loads them first and answers a 503 saying which
 * library is missing.
 *
 * png_jmpbuf is a macro of <png.h> over png_set_longjmp_fn, which is in the
 * table.
 */
#ifndef SHORTY_HTTP_QRLOAD_H
#define SHORTY_HTTP_QRLOAD_H

#include <png.h>
#include <qrencode.h>

#include "shorty/dynlib.h"

#define SH_QRENCODE_FUNCS(X) X(QRcode_encodeString) X(QRcode_free)

#define SH_PNG_FUNCS(X)                                                                    \
	X(png_create_info_struct) X(png_create_write_struct) X(png_destroy_write_struct)   \
	X(png_get_io_ptr) X(png_set_IHDR) X(png_set_longjmp_fn) X(png_set_write_fn)        \
	X(png_write_end) X(png_write_info) X(png_write_row)

#define SH_QRLOAD_SLOT(f) __typeof__(f) *f;
struct sh_qrencode_fns {
	SH_QRENCODE_FUNCS(SH_QRLOAD_SLOT)
};
struct sh_png_fns {
	SH_PNG_FUNCS(SH_QRLOAD_SLOT)
};
#undef SH_QRLOAD_SLOT
extern struct sh_qrencode_fns sh_qrencode_fns;
extern struct sh_png_fns sh_png_fns;
extern sh_dynlib sh_qrencode_lib, sh_png_lib;

/* Load libqrencode / libpng; 0, or SH_EUNAVAIL with a sentence in err. */
int sh_qrencode_load(sh_err *err);
int sh_png_load(sh_err *err);

static inline struct sh_qrencode_fns *sh_qrencode(void)
{
	if (!atomic_load_explicit(&sh_qrencode_lib.loaded, memory_order_acquire))
		sh_dynlib_need(&sh_qrencode_lib);
	return &sh_qrencode_fns;
}

static inline struct sh_png_fns *sh_png(void)
{
	if (!atomic_load_explicit(&sh_png_lib.loaded, memory_order_acquire))
		sh_dynlib_need(&sh_png_lib);
	return &sh_png_fns;
}

#ifndef SH_QRLOAD_FILL
#define QRcode_encodeString (sh_qrencode()->QRcode_encodeString)
#define QRcode_free (sh_qrencode()->QRcode_free)
#define png_create_info_struct (sh_png()->png_create_info_struct)
#define png_create_write_struct (sh_png()->png_create_write_struct)
#define png_destroy_write_struct (sh_png()->png_destroy_write_struct)
#define png_get_io_ptr (sh_png()->png_get_io_ptr)
#define png_set_IHDR (sh_png()->png_set_IHDR)
#define png_set_longjmp_fn (sh_png()->png_set_longjmp_fn)
#define png_set_write_fn (sh_png()->png_set_write_fn)
#define png_write_end (sh_png()->png_write_end)
#define png_write_info (sh_png()->png_write_info)
#define png_write_row (sh_png()->png_write_row)
#endif /* SH_QRLOAD_FILL */

#endif

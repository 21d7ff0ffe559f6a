/*
 * qr.c — GET /<code>/qr-code: the QR code of a short URL, as SVG (default)
 * or PNG (libqrencode; PNG through libpng into memory).
 *
 * Parameters, as Shlink names them: size (pixels, 50..1000, default 300),
 * format (svg | png), margin (modules, 0..100, default 0), errorCorrection
 * (L, M, Q, H; default L). Anything else is a 400 invalid-data.
 *
 * The code is the one of the domain the request's Host names (else the
 * default domain's, as a redirect finds it); the QR code holds the short
 * URL on the link's own domain.
 */
#include <png.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/internal.h"
#include "http/qrload.h" /* libqrencode, libpng loaded when first used */

static int bad_param(http_req *r, const char *name, const char *detail)
{
	json_t *x = json_pack("{s:[s]}", "invalidElements", name);
	return http_reply_problem(r, 400, "invalid-data", "Invalid data", detail, x);
}

static bool int_param(http_req *r, const char *name, long lo, long hi, long *out)
{
	const char *s = http_query(r, name);
	char *end;
	long v;

	if (!s)
		return true;
	if (!*s || strlen(s) > 10)
		return false;
	v = strtol(s, &end, 10);
	if (*end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static void png_write_sbuf(png_structp png, png_bytep data, png_size_t n)
{
	sbuf *b = png_get_io_ptr(png);
	sbuf_add(b, (const char *)data, n);
}

static void png_flush_noop(png_structp png)
{
	(void)png;
}

static int render_png(const QRcode *q, int margin, int size, sbuf *out)
{
	png_structp png = NULL;
	png_infop info = NULL;
	unsigned char *row = NULL;
	int modules = q->width + 2 * margin;
	volatile int rc = SH_ENOMEM; /* set after setjmp: must survive a longjmp */

	row = malloc((size_t)size);
	if (!row)
		return SH_ENOMEM;
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	if (!png)
		goto out;
	info = png_create_info_struct(png);
	if (!info)
		goto out;
	if (setjmp(png_jmpbuf(png)))
		goto out;
	png_set_write_fn(png, out, png_write_sbuf, png_flush_noop);
	png_set_IHDR(png, info, (png_uint_32)size, (png_uint_32)size, 8, PNG_COLOR_TYPE_GRAY,
	             PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < size; y++) {
		int my = y * modules / size - margin;
		for (int x = 0; x < size; x++) {
			int mx = x * modules / size - margin;
			bool dark = my >= 0 && my < q->width && mx >= 0 && mx < q->width &&
			            (q->data[my * q->width + mx] & 1);
			row[x] = dark ? 0 : 255;
		}
		png_write_row(png, row);
	}
	png_write_end(png, info);
	rc = out->err ? SH_ENOMEM : 0;
out:
	png_destroy_write_struct(&png, &info);
	free(row);
	return rc;
}

static void render_svg(const QRcode *q, int margin, int size, sbuf *out)
{
	int modules = q->width + 2 * margin;

	sbuf_printf(
	    out,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	    "viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">"
	    "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
	    size, size, modules, modules);
	for (int y = 0; y < q->width; y++) {
		int x = 0;
		while (x < q->width) {
			if (!(q->data[y * q->width + x] & 1)) {
				x++;
				continue;
			}
			int start = x;
			while (x < q->width && (q->data[y * q->width + x] & 1))
				x++;
			sbuf_printf(out, "M%d %dh%dv1h-%dz", start + margin, y + margin, x - start,
			            x - start);
		}
	}
	sbuf_adds(out, "\"/></svg>\n");
}

int http_qr(http_req *r)
{
	long size = 300, margin = 0;
	const char *fmt = http_query(r, "format");
	const char *ec = http_query(r, "errorCorrection");
	QRecLevel level = QR_ECLEVEL_L;
	bool png = false;
	char shortu[CODE_MAX + 600];
	sh_link l;
	QRcode *q;
	sbuf b;
	int rc, ret;

	if (ratelimit_blocked(RL_NOTFOUND, r->ip))
		return http_reply_unknown_blocked(r);
	if (!codec_custom_valid(r->arg, r->arg_len))
		return http_reply_unknown_code(r);
	if (!int_param(r, "size", 50, 1000, &size))
		return bad_param(r, "size",
		                 "size must be a whole number of pixels from 50 to 1000.");
	if (!int_param(r, "margin", 0, 100, &margin))
		return bad_param(r, "margin", "margin must be a whole number from 0 to 100.");
	if (fmt && strcasecmp(fmt, "png") == 0)
		png = true;
	else if (fmt && strcasecmp(fmt, "svg") != 0)
		return bad_param(r, "format", "format must be svg or png.");
	if (ec) {
		if (strcasecmp(ec, "L") == 0)
			level = QR_ECLEVEL_L;
		else if (strcasecmp(ec, "M") == 0)
			level = QR_ECLEVEL_M;
		else if (strcasecmp(ec, "Q") == 0)
			level = QR_ECLEVEL_Q;
		else if (strcasecmp(ec, "H") == 0)
			level = QR_ECLEVEL_H;
		else
			return bad_param(r, "errorCorrection",
			                 "errorCorrection must be L, M, Q or H.");
	}
	if (!r->w->rs)
		return http_reply_error(r, SH_ESTORE, NULL);
	/* the link the Host's domain has for the code (as its redirect finds
	 * it), and its short URL on its own domain */
	memset(&l, 0, sizeof(l));
	rc = http_host_link(r, NULL, r->arg, &l);
	if (rc == 0)
		svc_link_short_url(r->v, &l, shortu, sizeof(shortu));
	sh_link_clear(&l);
	if (rc == SH_ENOTFOUND)
		return http_reply_unknown_code(r);
	if (rc < 0)
		return http_reply_error(r, rc, NULL);
	{
		sh_err err = {0};
		if ((rc = sh_qrencode_load(&err)) < 0 || (png && (rc = sh_png_load(&err)) < 0))
			return http_reply_error(r, rc, &err);
	}
	q = QRcode_encodeString(shortu, 0, level, QR_MODE_8, 1);
	if (!q)
		return http_reply_error(r, SH_ENOMEM, NULL);
	sbuf_init(&b, 4 << 20);
	if (png)
		rc = render_png(q, (int)margin, (int)size, &b);
	else
		render_svg(q, (int)margin, (int)size, &b);
	QRcode_free(q);
	if (rc < 0 || b.err) {
		sbuf_free(&b);
		return http_reply_error(r, SH_ENOMEM, NULL);
	}
	http_add_header(r, "Cache-Control", "public, max-age=3600");
	ret = http_reply(r, 200, png ? "image/png" : "image/svg+xml", b.p, b.len);
	sbuf_free(&b);
	return ret;
}

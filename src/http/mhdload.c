/*
 * mhdload.c — the libmicrohttpd table (http/mhdload.h, shorty/dynlib.h), and
 * the two functions of libmicrohttpd that the own engine calls too, written
 * here so that the default engine never loads the library (a percent-decoder
 * and a table of reason phrases: what libmicrohttpd 0.9.75 does, checked
 * against it by tests/unit/http/test_mhdload.c).
 */
#include <dlfcn.h>
#include <string.h>

#define SH_MHDLOAD_FILL /* the real names, not the table's mappings */
#include "http/mhdload.h"
#include "shorty/hex.h"

struct sh_mhd_fns sh_mhd_fns;

static const char *mhd_fill(void *h)
{
#define SH_MHD_DLSYM(f)                                                                    \
	if (!(*(void **)&sh_mhd_fns.f = dlsym(h, #f)))                                     \
		return #f;
	SH_MHD_FUNCS(SH_MHD_DLSYM)
#undef SH_MHD_DLSYM
	return NULL;
}

sh_dynlib sh_mhd_lib = {
    .soname = "libmicrohttpd.so.12",
    .package = "libmicrohttpd12",
    .use = "--http-engine mhd",
    .fill = mhd_fill,
};

int sh_mhd_load(sh_err *err)
{
	return sh_dynlib_load(&sh_mhd_lib, err);
}

size_t sh_http_unescape(char *s)
{
	char *w = s;
	const char *r = s;

	while (*r) {
		int hi, lo;
		if (r[0] == '%' && (hi = sh_hexval((unsigned char)r[1])) >= 0 &&
		    (lo = sh_hexval((unsigned char)r[2])) >= 0) {
			*w++ = (char)(hi << 4 | lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* The phrases by class, indexed by status % 100 (libmicrohttpd's own list). */
static const char *const reason_1xx[] = {
    [0] = "Continue",
    [1] = "Switching Protocols",
    [2] = "Processing",
    [3] = "Early Hints",
};
static const char *const reason_2xx[] = {
    [0] = "OK",
    [1] = "Created",
    [2] = "Accepted",
    [3] = "Non-Authoritative Information",
    [4] = "No Content",
    [5] = "Reset Content",
    [6] = "Partial Content",
    [7] = "Multi-Status",
    [8] = "Already Reported",
    [26] = "IM Used",
};
static const char *const reason_3xx[] = {
    [0] = "Multiple Choices",
    [1] = "Moved Permanently",
    [2] = "Found",
    [3] = "See Other",
    [4] = "Not Modified",
    [5] = "Use Proxy",
    [6] = "Switch Proxy",
    [7] = "Temporary Redirect",
    [8] = "Permanent Redirect",
};
static const char *const reason_4xx[] = {
    [0] = "Bad Request",
    [1] = "Unauthorized",
    [2] = "Payment Required",
    [3] = "Forbidden",
    [4] = "Not Found",
    [5] = "Method Not Allowed",
    [6] = "Not Acceptable",
    [7] = "Proxy Authentication Required",
    [8] = "Request Timeout",
    [9] = "Conflict",
    [10] = "Gone",
    [11] = "Length Required",
    [12] = "Precondition Failed",
    [13] = "Content Too Large",
    [14] = "URI Too Long",
    [15] = "Unsupported Media Type",
    [16] = "Range Not Satisfiable",
    [17] = "Expectation Failed",
    [21] = "Misdirected Request",
    [22] = "Unprocessable Content",
    [23] = "Locked",
    [24] = "Failed Dependency",
    [25] = "Too Early",
    [26] = "Upgrade Required",
    [28] = "Precondition Required",
    [29] = "Too Many Requests",
    [31] = "Request Header Fields Too Large",
    [49] = "Reply With",
    [50] = "Blocked by Windows Parental Controls",
    [51] = "Unavailable For Legal Reasons",
};
static const char *const reason_5xx[] = {
    [0] = "Internal Server Error",
    [1] = "Not Implemented",
    [2] = "Bad Gateway",
    [3] = "Service Unavailable",
    [4] = "Gateway Timeout",
    [5] = "HTTP Version Not Supported",
    [6] = "Variant Also Negotiates",
    [7] = "Insufficient Storage",
    [8] = "Loop Detected",
    [9] = "Bandwidth Limit Exceeded",
    [10] = "Not Extended",
    [11] = "Network Authentication Required",
};

static const struct {
	const char *const *p;
	unsigned n;
} reasons[] = {
    {reason_1xx, sizeof(reason_1xx) / sizeof(reason_1xx[0])},
    {reason_2xx, sizeof(reason_2xx) / sizeof(reason_2xx[0])},
    {reason_3xx, sizeof(reason_3xx) / sizeof(reason_3xx[0])},
    {reason_4xx, sizeof(reason_4xx) / sizeof(reason_4xx[0])},
    {reason_5xx, sizeof(reason_5xx) / sizeof(reason_5xx[0])},
};

const char *sh_http_reason(unsigned status)
{
	unsigned cls = status / 100, i = status % 100;

	if (cls < 1 || cls > 5 || i >= reasons[cls - 1].n || !reasons[cls - 1].p[i])
		return "Unknown";
	return reasons[cls - 1].p[i];
}

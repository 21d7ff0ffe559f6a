/*
 * h1parse.c — a strict HTTP/1.1 request parser and chunked body decoder
 * (see h1parse.h for why it is written here and what it refuses).
 *
 * h1_parse_request() keeps no state between calls: each call parses the
 * head from the start of the buffer, and answers H1_PARTIAL until the empty
 * line arrives. It refuses as soon as the bytes seen pass a limit or break
 * the grammar, without waiting for the rest: a request line past line_max
 * is a 414 after line_max + 1 bytes, a stray LF a 400 at once.
 *
 * Grammar (RFC 9112 and 9110), and where we are stricter than it allows:
 *   request-line = method SP request-target SP HTTP-version CRLF
 *   method       = token; request-target: visible bytes (0x21-0x7E) and
 *                  obs-text (0x80-0xFF, passed to the URL layer, which
 *                  decides); exactly one SP between the three
 *   HTTP-version = "HTTP/" DIGIT "." DIGIT: 1.0 and 1.1 served, another
 *                  well-formed version is a 505
 *   field-line   = field-name ":" OWS field-value OWS CRLF; no space
 *                  before the colon; a value holds HTAB, SP, visible bytes
 *                  and obs-text only
 *   every line ends in CRLF: a bare LF, a CR not followed by LF and a NUL
 *   anywhere are 400; a line starting with SP or HTAB (obs-fold) is 400.
 */
#include <string.h>
#include <strings.h>

#include "http/h1parse.h"
#include "shorty/hex.h"

#define CHUNK_LINE_MAX 4096 /* a chunk-size line with its extensions */

/* Byte classes, one table lookup per byte of a head (the parser's cost is
 * per byte: tests with strchr were a tenth of a redirect's instructions). */
enum {
	K_TCHAR = 1, /* RFC 9110 5.6.2: token characters */
	K_VBYTE = 2, /* a byte of a field value (RFC 9110 5.5): HTAB, SP, VCHAR, obs-text */
	K_STOP = 4,  /* ends a run of line bytes: CR, LF, NUL */
};

/* Every byte once (ranges may not overlap: -Woverride-init): 0x21-0x7e are
 * token characters but for the delimiters "(),/:;<=>?@[\\]{} (VCHAR only). */
#define K_TV (K_TCHAR | K_VBYTE)
static const unsigned char kind[256] = {
    [0] = K_STOP, ['\t'] = K_VBYTE, ['\n'] = K_STOP, ['\r'] = K_STOP, [' '] = K_VBYTE,
    ['!'] = K_TV, ['"'] = K_VBYTE, ['#' ... '\''] = K_TV, ['(' ... ')'] = K_VBYTE,
    ['*' ... '+'] = K_TV, [','] = K_VBYTE, ['-' ... '.'] = K_TV, ['/'] = K_VBYTE,
    ['0' ... '9'] = K_TV, [':' ... '@'] = K_VBYTE, ['A' ... 'Z'] = K_TV,
    ['[' ... ']'] = K_VBYTE, ['^' ... 'z'] = K_TV, ['{'] = K_VBYTE, ['|'] = K_TV,
    ['}'] = K_VBYTE, ['~'] = K_TV, [0x80 ... 0xff] = K_VBYTE,
};

static inline bool tchar(unsigned char c)
{
	return kind[c] & K_TCHAR;
}

static inline bool vbyte(unsigned char c)
{
	return kind[c] & K_VBYTE;
}

static bool eq_nocase(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && strncasecmp(s, lit, n) == 0;
}

/*
 * Finds the end of the line that starts at buf[from]: sets *eol to the
 * index of its CR (the LF follows). Returns H1_OK, H1_PARTIAL (no CRLF
 * yet), or H1_EBAD for a NUL, a bare LF or a CR not followed by LF. Lines
 * longer than max bytes return `too_long` as soon as that is known.
 */
static int line_end(const char *buf, size_t len, size_t from, size_t max, int too_long, size_t *eol)
{
	size_t i = from, stop = len - from > max ? from + max : len;
	unsigned char c;

	/* bytes that end nothing, up to the limit: one table lookup each */
	while (i < stop && !(kind[(unsigned char)buf[i]] & K_STOP))
		i++;
	if (i == len)
		return H1_PARTIAL;
	c = (unsigned char)buf[i];
	if (c == '\r') {
		if (i + 1 == len)
			return H1_PARTIAL; /* i - from <= max here */
		if (buf[i + 1] != '\n')
			return H1_EBAD;
		*eol = i;
		return H1_OK;
	}
	if (c == '\n' || c == '\0')
		return H1_EBAD;
	return too_long; /* a byte that ends nothing, past max */
}

/* "HTTP/1.1" and friends: sets *minor. */
static int parse_version(const char *v, size_t n, int *minor)
{
	if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
	    v[7] < '0' || v[7] > '9')
		return H1_EBAD;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return H1_EVERSION;
	*minor = v[7] - '0';
	return H1_OK;
}

static int parse_request_line(const char *s, size_t n, h1_request *req)
{
	size_t i = 0, m, t;

	while (i < n && tchar((unsigned char)s[i]))
		i++;
	if (i == 0 || i == n || s[i] != ' ')
		return H1_EBAD;
	m = i++;
	t = i;
	while (i < n && (unsigned char)s[i] > 0x20 && s[i] != 0x7f)
		i++;
	if (i == t || i == n || s[i] != ' ')
		return H1_EBAD;
	req->method = s;
	req->method_len = m;
	req->target = s + t;
	req->target_len = i - t;
	i++;
	return parse_version(s + i, n - i, &req->minor);
}

/* One field line s[0..n): name ":" OWS value OWS. */
static int parse_field(const char *s, size_t n, h1_field *f)
{
	size_t i = 0, v, e;

	while (i < n && tchar((unsigned char)s[i]))
		i++;
	if (i == 0 || i == n || s[i] != ':')
		return H1_EBAD; /* also: a space before the colon */
	f->name = s;
	f->name_len = i++;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	v = i;
	for (; i < n; i++)
		if (!vbyte((unsigned char)s[i]))
			return H1_EBAD;
	e = n;
	while (e > v && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	f->value = s + v;
	f->value_len = e - v;
	return H1_OK;
}

/* Content-Length = 1*DIGIT, without overflow */
static int parse_length(const char *s, size_t n, int64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 19)
		return H1_EBAD;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return H1_EBAD;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > INT64_MAX)
		return H1_EBAD;
	*out = (int64_t)v;
	return H1_OK;
}

/* Does the comma-separated list s[0..n) hold the token tok (any case)? */
static bool list_has(const char *s, size_t n, const char *tok)
{
	size_t i = 0, b, e;

	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		b = i;
		while (i < n && s[i] != ',')
			i++;
		e = i;
		while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
			e--;
		if (e > b && eq_nocase(s + b, e - b, tok))
			return true;
	}
	return false;
}

/* The framing and connection fields, once the head is complete. */
static int check_fields(h1_request *req, const h1_limits *lim)
{
	const h1_field *te = NULL;
	size_t i, hosts = 0, cls = 0, tes = 0;
	bool close = false, keep = false;
	int rc;

	req->content_length = -1;
	for (i = 0; i < req->nfields; i++) {
		const h1_field *f = &req->fields[i];

		if (eq_nocase(f->name, f->name_len, "content-length")) {
			if (++cls > 1) /* two fields, even equal: refused (RFC 9112 6.3) */
				return H1_EBAD;
			if ((rc = parse_length(f->value, f->value_len, &req->content_length)))
				return rc;
		} else if (eq_nocase(f->name, f->name_len, "transfer-encoding")) {
			tes++;
			te = f;
		} else if (eq_nocase(f->name, f->name_len, "host")) {
			hosts++;
			req->host = f->value;
			req->host_len = f->value_len;
		} else if (eq_nocase(f->name, f->name_len, "connection")) {
			close |= list_has(f->value, f->value_len, "close");
			keep |= list_has(f->value, f->value_len, "keep-alive");
		} else if (eq_nocase(f->name, f->name_len, "expect")) {
			req->expect_continue = eq_nocase(f->value, f->value_len, "100-continue");
		}
	}
	if (tes > 1 || (tes && cls) || (tes && req->minor == 0))
		return H1_EBAD;
	if (te) {
		if (!eq_nocase(te->value, te->value_len, "chunked")) {
			for (i = 0; i < te->value_len; i++)
				if (!tchar((unsigned char)te->value[i]))
					return H1_EBAD; /* "gzip, chunked", ",chunked" */
			return H1_ENOT_IMPL;            /* a coding we do not implement */
		}
		req->chunked = true;
	}
	/* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in 1.0 */
	if (hosts > 1 || (hosts == 0 && req->minor == 1))
		return H1_EBAD;
	if (req->content_length > 0 && (uint64_t)req->content_length > lim->body_max)
		return H1_EBODY_LARGE;
	req->keep_alive = req->minor == 1 ? !close : (keep && !close);
	return H1_OK;
}

int h1_parse_request(const char *buf, size_t len, const h1_limits *lim, h1_request *req)
{
	size_t p = 0, eol, head_bytes = 0;
	size_t fields_max = lim->fields_max < H1_FIELDS_MAX ? lim->fields_max : H1_FIELDS_MAX;
	int rc;

	req->nfields = 0;
	req->host = NULL;
	req->host_len = 0;
	req->chunked = req->keep_alive = req->expect_continue = false;
	req->content_length = -1;
	/* empty lines before the request line (RFC 9112 2.2), bounded */
	while (p + 1 < len && buf[p] == '\r' && buf[p + 1] == '\n') {
		p += 2;
		if (p > lim->line_max)
			return H1_EBAD;
	}
	if ((rc = line_end(buf, len, p, lim->line_max, H1_ETARGET_LONG, &eol)))
		return rc;
	if ((rc = parse_request_line(buf + p, eol - p, req)))
		return rc;
	p = eol + 2;
	for (;;) {
		if (p == len)
			return H1_PARTIAL;
		if (buf[p] == '\r') { /* the empty line that ends the head */
			if (p + 1 == len)
				return H1_PARTIAL;
			if (buf[p + 1] != '\n')
				return H1_EBAD;
			req->head_len = p + 2;
			return check_fields(req, lim);
		}
		if (buf[p] == ' ' || buf[p] == '\t')
			return H1_EBAD; /* obs-fold, or space before the first field */
		rc = line_end(buf, len, p,
		              head_bytes < lim->headers_max ? lim->headers_max - head_bytes : 0,
		              H1_EHEADERS_LARGE, &eol);
		if (rc)
			return rc;
		if (req->nfields == fields_max)
			return H1_EHEADERS_LARGE;
		if ((rc = parse_field(buf + p, eol - p, &req->fields[req->nfields])))
			return rc;
		req->nfields++;
		head_bytes += eol - p;
		p = eol + 2;
	}
}

/* ---- chunked bodies -------------------------------------------------------- */

enum {
	C_SIZE = 0, /* hex digits of a chunk size */
	C_EXT,      /* after ';': the chunk extensions */
	C_SIZE_LF,  /* CR seen after the size line */
	C_DATA,     /* chunk data */
	C_DATA_CR,  /* the CRLF after the data */
	C_DATA_LF,
	C_TRAILER, /* start of a trailer line, or the final CRLF */
	C_FIELD,   /* in a trailer field line */
	C_FIELD_LF,
	C_END_LF, /* the final LF */
	C_DONE,
};

void h1_chunked_init(h1_chunked *c)
{
	memset(c, 0, sizeof(*c));
}

/*
 * A trailer field line is checked as a header field, but it arrives in
 * pieces: we keep only its length and whether the part seen so far could
 * still be a field (name bytes, then a colon, then value bytes). field
 * state lives in c->digits: 0 in the name, 1 after the colon.
 */
static int trailer_byte(h1_chunked *c, unsigned char ch)
{
	if (c->digits == 0) {
		if (ch == ':' && c->line > 0) {
			c->digits = 1;
			return H1_OK;
		}
		return tchar(ch) ? H1_OK : H1_EBAD;
	}
	return vbyte(ch) ? H1_OK : H1_EBAD;
}

int h1_chunked_decode(h1_chunked *c, const h1_limits *lim, char *buf, size_t *len, size_t *used)
{
	size_t i = 0, o = 0, n = *len, k;
	int d, rc = H1_PARTIAL;

	while (i < n && c->state != C_DONE) {
		unsigned char ch = (unsigned char)buf[i];

		switch (c->state) {
		case C_SIZE:
			if ((d = sh_hexval(ch)) >= 0) {
				if (c->size || d)
					c->digits++;
				/* refused as soon as the size passes what may come */
				if (c->digits > 16 || c->size > (lim->body_max - c->total) / 16 ||
				    c->size * 16 + (uint64_t)d > lim->body_max - c->total) {
					rc = H1_EBODY_LARGE;
					goto out;
				}
				c->size = c->size * 16 + (uint64_t)d;
				c->line++;
			} else if (c->line > 0 && (ch == ';' || ch == '\r')) {
				c->state = ch == ';' ? C_EXT : C_SIZE_LF;
			} else {
				rc = H1_EBAD; /* no digit, a space, a bare LF, ... */
				goto out;
			}
			i++;
			if (c->line > CHUNK_LINE_MAX) {
				rc = H1_EBAD;
				goto out;
			}
			break;
		case C_EXT: /* chunk-ext: tokens, '=', quoted strings; no CTL */
			if (ch == '\r') {
				c->state = C_SIZE_LF;
			} else if (!vbyte(ch) || ++c->line > CHUNK_LINE_MAX) {
				rc = H1_EBAD;
				goto out;
			}
			i++;
			break;
		case C_SIZE_LF:
			if (ch != '\n') {
				rc = H1_EBAD;
				goto out;
			}
			i++;
			c->line = 0;
			c->digits = 0;
			c->state = c->size ? C_DATA : C_TRAILER;
			break;
		case C_DATA:
			k = n - i < c->size ? n - i : (size_t)c->size;
			memmove(buf + o, buf + i, k);
			o += k;
			i += k;
			c->size -= k;
			c->total += k;
			if (c->size == 0)
				c->state = C_DATA_CR;
			break;
		case C_DATA_CR:
		case C_DATA_LF:
			if (ch != (c->state == C_DATA_CR ? '\r' : '\n')) {
				rc = H1_EBAD;
				goto out;
			}
			i++;
			c->state = c->state == C_DATA_CR ? C_DATA_LF : C_SIZE;
			break;
		case C_TRAILER:
			if (ch == '\r') {
				c->state = C_END_LF;
				i++;
				break;
			}
			c->state = C_FIELD; /* a field line: its first byte below */
			c->line = 0;
			c->digits = 0;
			/* fall through */
		case C_FIELD:
			if (ch == '\r') {
				if (c->digits == 0) { /* no colon */
					rc = H1_EBAD;
					goto out;
				}
				c->state = C_FIELD_LF;
			} else if ((rc = trailer_byte(c, ch)) != H1_OK ||
			           ++c->trailers > lim->headers_max) {
				rc = rc ? rc : H1_EHEADERS_LARGE;
				goto out;
			} else {
				c->line++;
			}
			rc = H1_PARTIAL;
			i++;
			break;
		case C_FIELD_LF:
		case C_END_LF:
			if (ch != '\n') {
				rc = H1_EBAD;
				goto out;
			}
			i++;
			c->state = c->state == C_FIELD_LF ? C_TRAILER : C_DONE;
			break;
		}
	}
	if (c->state == C_DONE)
		rc = H1_OK;
out:
	*len = o;
	*used = i;
	return rc;
}

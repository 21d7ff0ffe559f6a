/*
 * utf8.c — strict UTF-8 decoding and the Unicode classes shorty refuses or
 * drops (see shorty/utf8.h). Hand-written: the libraries we link either
 * validate whole strings only (jansson) or not strictly (libcurl), and the
 * callers need one character at a time to escape or drop it.
 */
#include "shorty/utf8.h"

size_t sh_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c;
	size_t need;
	unsigned lo = 0x80, hi = 0xBF;
	uint32_t v;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
		v = c & 0x1f;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		v = c & 0x0f;
		if (c == 0xE0)
			lo = 0xA0; /* overlong */
		else if (c == 0xED)
			hi = 0x9F; /* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		v = c & 0x07;
		if (c == 0xF0)
			lo = 0x90; /* overlong */
		else if (c == 0xF4)
			hi = 0x8F; /* past U+10FFFF */
	} else {
		return 0;
	}
	if (need >= n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 1; k <= need; k++) {
		if (s[k] < 0x80 || s[k] > 0xBF)
			return 0;
		v = (v << 6) | (s[k] & 0x3f);
	}
	*cp = v;
	return need + 1;
}

bool sh_unicode_nonchar(uint32_t cp)
{
	return (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE;
}

bool sh_xml_char(uint32_t cp)
{
	return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
	       (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

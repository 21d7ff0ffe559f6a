/*
 * hex.h — the value of one hexadecimal digit, for every parser that reads
 * them (percent-escapes in URLs and redirect-rule queries, chunk sizes of
 * HTTP bodies): one copy instead of one per file. Inline: the HTTP parser
 * calls it for every byte of a chunk size.
 */
#ifndef SHORTY_HEX_H
#define SHORTY_HEX_H

/* 0-15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for any other byte. */
static inline int sh_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif

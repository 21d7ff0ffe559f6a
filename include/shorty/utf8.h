/*
 * utf8.h — strict UTF-8 decoding, one character at a time, for the places
 * that must know what a byte string holds: text inputs (titles), the log
 * (escape what is not UTF-8) and XML answers (drop what XML cannot carry).
 */
#ifndef SHORTY_UTF8_H
#define SHORTY_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length (1-4) of the well-formed UTF-8 character at s (n bytes
 * available), its code point in *cp; 0 when s does not start one (overlong
 * forms, surrogates, past U+10FFFF, cut short) or n is 0. */
size_t sh_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* A Unicode noncharacter: U+FDD0..U+FDEF and the last two code points of
 * every plane (U+FFFE, U+FFFF, U+1FFFE, ...). */
bool sh_unicode_nonchar(uint32_t cp);

/* A character XML 1.0 can carry (its production Char): TAB, LF, CR,
 * U+0020..U+D7FF, U+E000..U+FFFD, U+10000..U+10FFFF. */
bool sh_xml_char(uint32_t cp);

#endif

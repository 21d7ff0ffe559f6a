/*
 * codec.h — short codes: base 62 and the keyed permutation (core/codec.c).
 *
 * Generated ("counter") codes are a bijection of the link id:
 *
 *   id  ->  (L, index)        ids are laid out by length: length L owns the
 *                              ids [offset(L), offset(L) + 62^L), where
 *                              offset(1) = 0, offset(L+1) = offset(L) + 62^L.
 *                              So the length of a code never depends on the
 *                              configured minimum: the store's first id is
 *                              simply offset(min_length).
 *   index -> permute_L(index)  a keyed Feistel network over [0, 62^L) with
 *                              cycle walking: consecutive ids give unrelated
 *                              values, no two ids give the same one.
 *   value -> base 62, padded to L characters, alphabet 0-9A-Za-z.
 *
 * codec_decode() inverts all three, so a generated code is looked up by
 * integer primary key. No I/O, no allocation; thread-safe (key is read-only).
 */
#ifndef SHORTY_CODEC_H
#define SHORTY_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CODEC_MIN_LEN 1
#define CODEC_MAX_LEN 10 /* 62^10 < 2^63; longer generated codes are not needed */
#define CODEC_KEY_BYTES 32
#define CODE_MAX 64       /* longest code of any kind (custom codes) */

typedef struct codec_key {
	uint8_t k[CODEC_KEY_BYTES];
} codec_key;

/* 62^len, for 0 <= len <= CODEC_MAX_LEN. */
uint64_t codec_pow62(int len);

/* First id whose code has `len` characters (offset(len) above). */
int64_t codec_first_id(int len);

/* Length of the generated code of `id` (>= 0), or -1 if out of range. */
int codec_len_of_id(int64_t id);

/* Writes v in base 62, left-padded with '0' to exactly len characters, and
 * a NUL, into out (outsz >= len + 1). Returns 0, or SH_EINVAL if v does not
 * fit in len characters or outsz is too small. */
int codec_base62_encode(uint64_t v, int len, char *out, size_t outsz);

/* Reads n base-62 characters. Returns 0, or SH_EINVAL on a character outside
 * the alphabet, n == 0, or n > CODEC_MAX_LEN. */
int codec_base62_decode(const char *s, size_t n, uint64_t *out);

/* The keyed permutation of [0, 62^len) and its inverse. x must be < 62^len. */
uint64_t codec_permute(const codec_key *key, int len, uint64_t x);
uint64_t codec_unpermute(const codec_key *key, int len, uint64_t y);

/* id -> code (NUL-terminated, codec_len_of_id(id) characters) into out
 * (outsz >= CODEC_MAX_LEN + 1). Returns 0 or SH_EINVAL. */
int codec_encode_id(const codec_key *key, int64_t id, char *out, size_t outsz);

/* code -> id. Returns 0, or SH_EINVAL when the code cannot be a generated
 * code (bad character, length 0 or > CODEC_MAX_LEN). */
int codec_decode_id(const codec_key *key, const char *code, size_t n, int64_t *id);

/* A random code of len characters from the system CSPRNG (libsodium). */
void codec_random_code(int len, char *out /* len + 1 */);

/* `hash` strategy: a keyed hash (BLAKE2b) of the URL and an attempt counter,
 * written as a len-character code. Same inputs, same code, on every instance. */
void codec_hash_code(const codec_key *key, const char *url, size_t urllen,
                     uint32_t attempt, int len, char *out /* len + 1 */);

/* True if s[0..n) is a valid custom code: [A-Za-z0-9_-]{1,64}. */
bool codec_custom_valid(const char *s, size_t n);

/* True if s (case-insensitively for words, exactly for paths) is reserved:
 * api, health, ready, metrics, static, admin, login, logout, favicon.ico,
 * robots.txt, rest, yourls-api.php, and every other path the service serves. */
bool codec_reserved(const char *s, size_t n);

#endif

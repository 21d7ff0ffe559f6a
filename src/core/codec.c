/*
 * codec.c — short codes: base 62, the id layout by length, and the keyed
 * permutation that makes counter codes unguessable (see shorty/codec.h).
 *
 * The permutation of [0, 62^L) is a balanced Feistel network over 2k bits,
 * 2k the smallest even width with 2^(2k) >= 62^L, made to stay inside
 * [0, 62^L) by cycle walking: encrypt, and while the result is out of range
 * encrypt again. A permutation of the larger domain restricted this way is a
 * permutation of the smaller one, and the inverse walks back the same way.
 * Since 62^L / 2^(2k) > 0.7 for every L, a walk takes under 1.4 steps on
 * average.
 *
 * The round function is SipHash-2-4 (libsodium crypto_shorthash) of
 * (round, L, half) under a 128-bit subkey derived from the 32-byte
 * installation key, so every L and every round gets an independent function.
 * CODEC_ROUNDS = 8 (Luby-Rackoff needs 4 for a PRP; the rest is margin).
 *
 * No I/O, no allocation, no global state: thread-safe.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "shorty/codec.h"
#include "shorty/err.h"

#define CODEC_ROUNDS 8

static const char codec_alphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static const uint64_t codec_pow[CODEC_MAX_LEN + 1] = {
    1ULL,
    62ULL,
    3844ULL,
    238328ULL,
    14776336ULL,
    916132832ULL,
    56800235584ULL,
    3521614606208ULL,
    218340105584896ULL,
    13537086546263552ULL,
    839299365868340224ULL,
};

/* offset(L) = 62 + 62^2 + ... + 62^(L-1); index L = 1 .. CODEC_MAX_LEN + 1 */
static const int64_t codec_offset[CODEC_MAX_LEN + 2] = {
    0,
    0,
    62LL,
    3906LL,
    242234LL,
    15018570LL,
    931151402LL,
    57731386986LL,
    3579345993194LL,
    221919451578090LL,
    13759005997841642LL,
    853058371866181866LL,
};

/* Half width k (bits) of the Feistel network for length L: the smallest k
 * with 2^(2k) >= 62^L. */
static const int codec_half_bits[CODEC_MAX_LEN + 1] = {0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30};

/* Reverse alphabet: character -> value, or -1. */
static int codec_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 36;
	return -1;
}

uint64_t codec_pow62(int len)
{
	if (len < 0 || len > CODEC_MAX_LEN)
		return 0;
	return codec_pow[len];
}

int64_t codec_first_id(int len)
{
	/* len = CODEC_MAX_LEN + 1 gives the end of the whole id space */
	if (len < CODEC_MIN_LEN || len > CODEC_MAX_LEN + 1)
		return -1;
	return codec_offset[len];
}

int codec_len_of_id(int64_t id)
{
	if (id < 0)
		return -1;
	for (int len = CODEC_MIN_LEN; len <= CODEC_MAX_LEN; len++)
		if (id < codec_offset[len + 1])
			return len;
	return -1;
}

int codec_base62_encode(uint64_t v, int len, char *out, size_t outsz)
{
	if (len < 1 || len > CODEC_MAX_LEN || !out || outsz < (size_t)len + 1)
		return SH_EINVAL;
	if (v >= codec_pow[len])
		return SH_EINVAL;
	for (int i = len - 1; i >= 0; i--) {
		out[i] = codec_alphabet[v % 62];
		v /= 62;
	}
	out[len] = '\0';
	return 0;
}

int codec_base62_decode(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || n == 0 || n > CODEC_MAX_LEN)
		return SH_EINVAL;
	for (size_t i = 0; i < n; i++) {
		int d = codec_value((unsigned char)s[i]);
		if (d < 0)
			return SH_EINVAL;
		v = v * 62 + (uint64_t)d;
	}
	*out = v;
	return 0;
}

/* ---- the permutation --------------------------------------------------- */

/* The SipHash subkey: SipHash under the key's first half of its second
 * half, twice with different labels, so all 32 key bytes count. */
static void codec_subkey(const codec_key *key, uint8_t sub[crypto_shorthash_KEYBYTES])
{
	uint8_t msg[CODEC_KEY_BYTES / 2 + 8];

	memcpy(msg, key->k + CODEC_KEY_BYTES / 2, CODEC_KEY_BYTES / 2);
	memcpy(msg + CODEC_KEY_BYTES / 2, "feistel0", 8);
	crypto_shorthash(sub, msg, sizeof msg, key->k);
	msg[sizeof msg - 1] = '1';
	crypto_shorthash(sub + 8, msg, sizeof msg, key->k);
	sodium_memzero(msg, sizeof msg);
}

static uint64_t codec_round(const uint8_t *sub, int round, int len, uint64_t half)
{
	uint8_t msg[8], h[crypto_shorthash_BYTES];
	uint64_t v = 0;

	/* half < 2^30: 4 bytes; then L and the round number */
	msg[0] = (uint8_t)half;
	msg[1] = (uint8_t)(half >> 8);
	msg[2] = (uint8_t)(half >> 16);
	msg[3] = (uint8_t)(half >> 24);
	msg[4] = (uint8_t)len;
	msg[5] = (uint8_t)round;
	msg[6] = 's';
	msg[7] = 'h';
	crypto_shorthash(h, msg, sizeof msg, sub);
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | h[i];
	return v;
}

static uint64_t codec_encrypt(const uint8_t *sub, int len, uint64_t x)
{
	int k = codec_half_bits[len];
	uint64_t mask = (1ULL << k) - 1;
	uint64_t l = x >> k, r = x & mask;

	for (int i = 0; i < CODEC_ROUNDS; i++) {
		uint64_t t = l ^ (codec_round(sub, i, len, r) & mask);
		l = r;
		r = t;
	}
	return (l << k) | r;
}

static uint64_t codec_decrypt(const uint8_t *sub, int len, uint64_t y)
{
	int k = codec_half_bits[len];
	uint64_t mask = (1ULL << k) - 1;
	uint64_t l = y >> k, r = y & mask;

	for (int i = CODEC_ROUNDS - 1; i >= 0; i--) {
		uint64_t t = r ^ (codec_round(sub, i, len, l) & mask);
		r = l;
		l = t;
	}
	return (l << k) | r;
}

uint64_t codec_permute(const codec_key *key, int len, uint64_t x)
{
	uint8_t sub[crypto_shorthash_KEYBYTES];
	uint64_t n;

	if (len < CODEC_MIN_LEN || len > CODEC_MAX_LEN)
		return x;
	n = codec_pow[len];
	if (x >= n)
		return x;
	codec_subkey(key, sub);
	do
		x = codec_encrypt(sub, len, x);
	while (x >= n);
	sodium_memzero(sub, sizeof sub);
	return x;
}

uint64_t codec_unpermute(const codec_key *key, int len, uint64_t y)
{
	uint8_t sub[crypto_shorthash_KEYBYTES];
	uint64_t n;

	if (len < CODEC_MIN_LEN || len > CODEC_MAX_LEN)
		return y;
	n = codec_pow[len];
	if (y >= n)
		return y;
	codec_subkey(key, sub);
	do
		y = codec_decrypt(sub, len, y);
	while (y >= n);
	sodium_memzero(sub, sizeof sub);
	return y;
}

/* ---- ids and codes ------------------------------------------------------ */

int codec_encode_id(const codec_key *key, int64_t id, char *out, size_t outsz)
{
	int len = codec_len_of_id(id);

	if (len < 0 || !key)
		return SH_EINVAL;
	return codec_base62_encode(codec_permute(key, len, (uint64_t)(id - codec_offset[len])), len,
	                           out, outsz);
}

int codec_decode_id(const codec_key *key, const char *code, size_t n, int64_t *id)
{
	uint64_t v;
	int rc;

	if (!key || !id)
		return SH_EINVAL;
	rc = codec_base62_decode(code, n, &v);
	if (rc)
		return rc;
	/* n base-62 digits are always < 62^n */
	*id = codec_offset[n] + (int64_t)codec_unpermute(key, (int)n, v);
	return 0;
}

static pthread_once_t codec_sodium_once = PTHREAD_ONCE_INIT;

static void codec_sodium_init(void)
{
	/* seeds the CSPRNG once; it fails only when the system has no entropy
	 * source, and then no safe code can be made at all */
	if (sodium_init() < 0)
		abort();
}

void codec_random_code(int len, char *out)
{
	pthread_once(&codec_sodium_once, codec_sodium_init);
	if (len < 0)
		len = 0;
	for (int i = 0; i < len; i++)
		out[i] = codec_alphabet[randombytes_uniform(62)];
	out[len] = '\0';
}

void codec_hash_code(const codec_key *key, const char *url, size_t urllen, uint32_t attempt,
                     int len, char *out)
{
	crypto_generichash_state st;
	uint8_t h[crypto_generichash_BYTES_MAX], ctr[4];
	int done = 0;

	if (len < 0)
		len = 0;
	if (len > CODE_MAX)
		len = CODE_MAX;
	ctr[0] = (uint8_t)attempt;
	ctr[1] = (uint8_t)(attempt >> 8);
	ctr[2] = (uint8_t)(attempt >> 16);
	ctr[3] = (uint8_t)(attempt >> 24);
	crypto_generichash_init(&st, key->k, sizeof key->k, sizeof h);
	crypto_generichash_update(&st, (const unsigned char *)url, urllen);
	crypto_generichash_update(&st, ctr, sizeof ctr);
	crypto_generichash_final(&st, h, sizeof h);

	/* each 8 hash bytes give up to 10 characters (62^10 < 2^64); 64 bytes
	 * give 80 >= CODE_MAX */
	for (int blk = 0; done < len; blk++) {
		int n = len - done < CODEC_MAX_LEN ? len - done : CODEC_MAX_LEN;
		uint64_t v = 0;

		for (int i = 7; i >= 0; i--)
			v = (v << 8) | h[blk * 8 + i];
		codec_base62_encode(v % codec_pow[n], n, out + done, (size_t)n + 1);
		done += n;
	}
	out[len] = '\0';
}

bool codec_custom_valid(const char *s, size_t n)
{
	if (!s || n < 1 || n > CODE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Every first path segment the service answers itself (SPEC §2) or that a
 * browser, crawler or certificate tool asks for, plus words that would
 * make a phishing-looking short link. Add a route here when adding it to
 * the HTTP routes table. Compared case-insensitively. */
static const char *const codec_reserved_words[] = {
    "api",         "rest",           "health",       "healthz",       "ready",
    "readyz",      "livez",          "metrics",      "static",        "assets",
    "admin",       "login",          "logout",       "favicon.ico",   "robots.txt",
    "sitemap.xml", "humans.txt",     "security.txt", "manifest.json", "apple-touch-icon.png",
    "index.html",  "yourls-api.php", ".well-known",  "short-urls",    "shorten",
    "version",     "docs",           "openapi.json", "web",           NULL,
};

bool codec_reserved(const char *s, size_t n)
{
	if (!s)
		return false;
	for (const char *const *w = codec_reserved_words; *w; w++) {
		size_t wl = strlen(*w);
		size_t i;

		if (wl != n)
			continue;
		for (i = 0; i < n; i++) {
			unsigned char a = (unsigned char)s[i], b = (unsigned char)(*w)[i];
			if (a >= 'A' && a <= 'Z')
				a = (unsigned char)(a - 'A' + 'a');
			if (a != b)
				break;
		}
		if (i == n)
			return true;
	}
	return false;
}

/*
 * test_codec.c — unit tests of core/codec.c: base 62, the id layout, the
 * keyed permutation (a true bijection, inverse, unrelated neighbours),
 * random and hash codes, custom-code validity and reserved words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "shorty/codec.h"
#include "shorty/err.h"

static codec_key key_a, key_b;

static int setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	for (int i = 0; i < CODEC_KEY_BYTES; i++) {
		key_a.k[i] = (uint8_t)i;
		key_b.k[i] = (uint8_t)(i * 7 + 1);
	}
	return 0;
}

/* a small deterministic generator for test ids */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_pow_and_layout(void **state)
{
	(void)state;
	assert_int_equal(codec_pow62(0), 1);
	assert_int_equal(codec_pow62(1), 62);
	assert_int_equal(codec_pow62(10), 839299365868340224ULL);
	assert_int_equal(codec_pow62(11), 0);
	assert_int_equal(codec_pow62(-1), 0);

	assert_int_equal(codec_first_id(1), 0);
	assert_int_equal(codec_first_id(2), 62);
	assert_int_equal(codec_first_id(3), 62 + 3844);
	assert_int_equal(codec_first_id(0), -1);
	for (int len = 1; len <= CODEC_MAX_LEN; len++) {
		int64_t first = codec_first_id(len);
		int64_t next = codec_first_id(len + 1);
		assert_int_equal((uint64_t)(next - first), codec_pow62(len));
		assert_int_equal(codec_len_of_id(first), len);
		assert_int_equal(codec_len_of_id(next - 1), len);
		if (len > 1)
			assert_int_equal(codec_len_of_id(first - 1), len - 1);
	}
	assert_int_equal(codec_len_of_id(-1), -1);
	assert_int_equal(codec_len_of_id(codec_first_id(CODEC_MAX_LEN + 1)), -1);
	assert_int_equal(codec_len_of_id(INT64_MAX), -1);
}

static void test_base62(void **state)
{
	char buf[CODEC_MAX_LEN + 1];
	uint64_t v;

	(void)state;
	assert_int_equal(codec_base62_encode(0, 6, buf, sizeof buf), 0);
	assert_string_equal(buf, "000000");
	assert_int_equal(codec_base62_encode(61, 1, buf, sizeof buf), 0);
	assert_string_equal(buf, "z");
	assert_int_equal(codec_base62_encode(62, 2, buf, sizeof buf), 0);
	assert_string_equal(buf, "10");
	assert_int_equal(codec_base62_encode(10, 3, buf, sizeof buf), 0);
	assert_string_equal(buf, "00A");
	assert_int_equal(codec_base62_encode(36, 1, buf, sizeof buf), 0);
	assert_string_equal(buf, "a");
	assert_int_equal(codec_base62_encode(codec_pow62(10) - 1, 10, buf, sizeof buf), 0);
	assert_string_equal(buf, "zzzzzzzzzz");

	/* does not fit */
	assert_int_equal(codec_base62_encode(62, 1, buf, sizeof buf), SH_EINVAL);
	assert_int_equal(codec_base62_encode(codec_pow62(10), 10, buf, sizeof buf), SH_EINVAL);
	assert_int_equal(codec_base62_encode(0, 0, buf, sizeof buf), SH_EINVAL);
	assert_int_equal(codec_base62_encode(0, 11, buf, sizeof buf), SH_EINVAL);
	assert_int_equal(codec_base62_encode(0, 6, buf, 6), SH_EINVAL);
	assert_int_equal(codec_base62_encode(0, 6, buf, 7), 0);

	assert_int_equal(codec_base62_decode("zzzzzzzzzz", 10, &v), 0);
	assert_int_equal(v, codec_pow62(10) - 1);
	assert_int_equal(codec_base62_decode("00A", 3, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(codec_base62_decode("10", 2, &v), 0);
	assert_int_equal(v, 62);
	assert_int_equal(codec_base62_decode("", 0, &v), SH_EINVAL);
	assert_int_equal(codec_base62_decode("00000000000", 11, &v), SH_EINVAL);
	const char *bad[] = {"ab-", "a_b", "a b", "a.b", "a/b", "%41", "\xc3\xa4", "+"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(codec_base62_decode(bad[i], strlen(bad[i]), &v), SH_EINVAL);
	assert_int_equal(codec_base62_decode("a\0b", 3, &v), SH_EINVAL);

	/* round trip of random values */
	for (int len = 1; len <= CODEC_MAX_LEN; len++) {
		for (int i = 0; i < 1000; i++) {
			uint64_t x = rng() % codec_pow62(len), y;
			assert_int_equal(codec_base62_encode(x, len, buf, sizeof buf), 0);
			assert_int_equal(strlen(buf), (size_t)len);
			assert_int_equal(codec_base62_decode(buf, (size_t)len, &y), 0);
			assert_int_equal(x, y);
		}
	}
}

/* Every value of lengths 1..3 maps to a distinct value, and back. */
static void test_permute_exhaustive_small(void **state)
{
	(void)state;
	for (int len = 1; len <= 3; len++) {
		uint64_t n = codec_pow62(len);
		uint8_t *seen = calloc(n, 1);
		assert_non_null(seen);
		for (uint64_t x = 0; x < n; x++) {
			uint64_t y = codec_permute(&key_a, len, x);
			assert_true(y < n);
			assert_int_equal(seen[y], 0);
			seen[y] = 1;
			assert_int_equal(codec_unpermute(&key_a, len, y), x);
		}
		free(seen);
	}
}

/* All ids of lengths 1..3 (62 + 3844 + 238328): distinct codes of the
 * right length, each decoding to its id. */
static void test_ids_exhaustive_small(void **state)
{
	int64_t end = codec_first_id(4);
	char code[CODEC_MAX_LEN + 1];
	uint8_t *seen;

	(void)state;
	assert_int_equal(end, 62 + 3844 + 238328);
	seen = calloc((size_t)end, 1);
	assert_non_null(seen);
	for (int64_t id = 0; id < end; id++) {
		int64_t back = -1;
		uint64_t v;
		int len = codec_len_of_id(id);

		assert_int_equal(codec_encode_id(&key_a, id, code, sizeof code), 0);
		assert_int_equal(strlen(code), (size_t)len);
		assert_int_equal(codec_decode_id(&key_a, code, strlen(code), &back), 0);
		assert_int_equal(back, id);
		/* distinct: (length, value) identifies the code */
		assert_int_equal(codec_base62_decode(code, strlen(code), &v), 0);
		v += (uint64_t)codec_first_id(len);
		assert_true(v < (uint64_t)end);
		assert_int_equal(seen[v], 0);
		seen[v] = 1;
	}
	free(seen);
}

static void test_ids_random_long(void **state)
{
	char code[CODEC_MAX_LEN + 1];

	(void)state;
	for (int len = 4; len <= CODEC_MAX_LEN; len++) {
		int64_t first = codec_first_id(len);
		uint64_t n = codec_pow62(len);
		/* the edges of the length, then random ids inside it */
		int64_t edge[] = {first, first + 1, first + (int64_t)n - 2, first + (int64_t)n - 1};
		for (int i = 0; i < 4 + 5000; i++) {
			int64_t id = i < 4 ? edge[i] : first + (int64_t)(rng() % n), back;
			assert_int_equal(codec_encode_id(&key_a, id, code, sizeof code), 0);
			assert_int_equal(strlen(code), (size_t)len);
			assert_int_equal(codec_decode_id(&key_a, code, (size_t)len, &back), 0);
			assert_int_equal(back, id);
		}
		for (int i = 0; i < 5000; i++) {
			uint64_t x = rng() % n;
			uint64_t y = codec_permute(&key_b, len, x);
			assert_true(y < n);
			assert_int_equal(codec_unpermute(&key_b, len, y), x);
			/* and the other way round: every value is a permuted one */
			assert_int_equal(
			    codec_permute(&key_b, len, codec_unpermute(&key_b, len, x)), x);
		}
	}
	assert_int_equal(codec_encode_id(&key_a, -1, code, sizeof code), SH_EINVAL);
	assert_int_equal(codec_encode_id(&key_a, codec_first_id(11), code, sizeof code), SH_EINVAL);
	assert_int_equal(codec_encode_id(&key_a, 5, code, 1), SH_EINVAL);
}

static void test_decode_bad(void **state)
{
	int64_t id;

	(void)state;
	assert_int_equal(codec_decode_id(&key_a, "", 0, &id), SH_EINVAL);
	assert_int_equal(codec_decode_id(&key_a, "abc-d", 5, &id), SH_EINVAL);
	assert_int_equal(codec_decode_id(&key_a, "abc_d", 5, &id), SH_EINVAL);
	assert_int_equal(codec_decode_id(&key_a, "abcdefghijk", 11, &id), SH_EINVAL);
	assert_int_equal(codec_decode_id(&key_a, "ab\0cd", 5, &id), SH_EINVAL);
	/* the longest valid one decodes to the last id */
	assert_int_equal(codec_decode_id(&key_a, "zzzzzzzzzz", 10, &id), 0);
	assert_int_equal(codec_len_of_id(id), 10);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* 1000 consecutive ids: their codes are spread over the whole space, and
 * sorting the codes does not bring neighbouring ids together. */
static void test_consecutive_unrelated(void **state)
{
	enum { N = 1000 };
	const int len = 6;
	int64_t first = codec_first_id(len) + 12345;
	uint64_t vals[N], sorted[N];
	int adjacent = 0, close = 0, same_prefix = 0;
	char a[CODEC_MAX_LEN + 1], b[CODEC_MAX_LEN + 1];
	double mean = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		vals[i] = codec_permute(&key_a, len, (uint64_t)(first - codec_first_id(len) + i));
		sorted[i] = vals[i];
		mean += (double)vals[i] / (double)codec_pow62(len);
	}
	mean /= N;
	/* uniform on [0,1): mean 0.5, standard error ~0.009 */
	assert_true(mean > 0.45 && mean < 0.55);

	for (int i = 0; i + 1 < N; i++) {
		uint64_t d = vals[i] > vals[i + 1] ? vals[i] - vals[i + 1] : vals[i + 1] - vals[i];
		if (d == 1)
			adjacent++;
		if (d < codec_pow62(len) / 1000)
			close++;
		codec_encode_id(&key_a, first + i, a, sizeof a);
		codec_encode_id(&key_a, first + i + 1, b, sizeof b);
		if (memcmp(a, b, 3) == 0)
			same_prefix++;
	}
	/* random neighbours: P(d < n/1000) ~ 0.002, so ~2 expected */
	assert_true(adjacent == 0);
	assert_true(close < 15);
	assert_true(same_prefix < 5);

	/* rank correlation of id order vs. code order: near zero */
	qsort(sorted, N, sizeof sorted[0], cmp_u64);
	double sum_d2 = 0;
	for (int i = 0; i < N; i++) {
		uint64_t *p = bsearch(&vals[i], sorted, N, sizeof sorted[0], cmp_u64);
		double rank = (double)(p - sorted);
		sum_d2 += (rank - i) * (rank - i);
	}
	double rho = 1.0 - 6.0 * sum_d2 / ((double)N * ((double)N * N - 1));
	assert_true(rho > -0.15 && rho < 0.15);
}

static void test_key_matters(void **state)
{
	int differ = 0;
	(void)state;
	for (uint64_t x = 0; x < 1000; x++)
		if (codec_permute(&key_a, 6, x) != codec_permute(&key_b, 6, x))
			differ++;
	assert_true(differ > 990);
	/* deterministic for a key */
	assert_int_equal(codec_permute(&key_a, 7, 42), codec_permute(&key_a, 7, 42));
}

static void test_permute_speed(void **state)
{
	struct timespec t0, t1;
	uint64_t acc = 0;
	enum { N = 20000 };

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++)
		acc += codec_unpermute(&key_a, 6, (uint64_t)i * 2654435761ULL % codec_pow62(6));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / N;
	print_message("unpermute L=6: %.0f ns per call (sanitizers slow this down)\n", ns);
	assert_true(acc != 0);
	assert_true(ns < 20000); /* generous: this binary may run under ASan */
}

static void test_random_code(void **state)
{
	char a[CODE_MAX + 1], b[CODE_MAX + 1];
	(void)state;
	for (int len = 1; len <= CODE_MAX; len++) {
		codec_random_code(len, a);
		assert_int_equal(strlen(a), (size_t)len);
		for (int i = 0; i < len; i++)
			assert_non_null(strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			                       "abcdefghijklmnopqrstuvwxyz",
			                       a[i]));
	}
	codec_random_code(12, a);
	codec_random_code(12, b);
	assert_string_not_equal(a, b);
	codec_random_code(0, a);
	assert_string_equal(a, "");
}

static void test_hash_code(void **state)
{
	char a[CODE_MAX + 1], b[CODE_MAX + 1];
	const char *u = "https://example.com/";
	(void)state;
	codec_hash_code(&key_a, u, strlen(u), 0, 6, a);
	codec_hash_code(&key_a, u, strlen(u), 0, 6, b);
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), 6);
	codec_hash_code(&key_a, u, strlen(u), 1, 6, b);
	assert_string_not_equal(a, b);
	codec_hash_code(&key_b, u, strlen(u), 0, 6, b);
	assert_string_not_equal(a, b);
	codec_hash_code(&key_a, "https://example.com/x", 21, 0, 6, b);
	assert_string_not_equal(a, b);
	codec_hash_code(&key_a, u, strlen(u), 0, CODE_MAX, b);
	assert_int_equal(strlen(b), CODE_MAX);
	/* the first 10 characters do not depend on the requested length */
	codec_hash_code(&key_a, u, strlen(u), 0, 10, a);
	assert_memory_equal(a, b, 10);
	assert_true(codec_custom_valid(b, CODE_MAX));
}

static void test_custom_valid(void **state)
{
	char big[66];
	(void)state;
	assert_true(codec_custom_valid("a", 1));
	assert_true(codec_custom_valid("My-Slug_2", 9));
	memset(big, 'a', sizeof big);
	assert_true(codec_custom_valid(big, 64));
	assert_false(codec_custom_valid(big, 65));
	assert_false(codec_custom_valid("", 0));
	const char *bad[] = {"../admin",
	                     "%2e%2e%2fadmin",
	                     "a/b",
	                     "a?b",
	                     "a#b",
	                     "a b",
	                     "a.b",
	                     "p\xd0\xb0ypal",
	                     "\xef\xbd\x90",
	                     "pay\xe2\x80\x8dpal",
	                     "' OR '1'='1",
	                     "x;DROP",
	                     "%",
	                     "a+",
	                     "a\tb",
	                     "a~b"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(codec_custom_valid(bad[i], strlen(bad[i])));
	assert_false(codec_custom_valid("ab\0c", 4));
	assert_true(codec_custom_valid("_", 1));
}

static void test_reserved(void **state)
{
	(void)state;
	const char *yes[] = {
	    "api",        "API",    "Admin",          "health",      "ready",
	    "metrics",    "static", "login",          "logout",      "favicon.ico",
	    "robots.txt", "rest",   "yourls-api.php", ".well-known", "FAVICON.ICO"};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		assert_true(codec_reserved(yes[i], strlen(yes[i])));
	const char *no[] = {"ap", "apis", "abc123", "healthy", "", "admin2"};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		assert_false(codec_reserved(no[i], strlen(no[i])));
	/* n counts, not the NUL */
	assert_true(codec_reserved("apixyz", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pow_and_layout),
	    cmocka_unit_test(test_base62),
	    cmocka_unit_test(test_permute_exhaustive_small),
	    cmocka_unit_test(test_ids_exhaustive_small),
	    cmocka_unit_test(test_ids_random_long),
	    cmocka_unit_test(test_decode_bad),
	    cmocka_unit_test(test_consecutive_unrelated),
	    cmocka_unit_test(test_key_matters),
	    cmocka_unit_test(test_permute_speed),
	    cmocka_unit_test(test_random_code),
	    cmocka_unit_test(test_hash_code),
	    cmocka_unit_test(test_custom_valid),
	    cmocka_unit_test(test_reserved),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}

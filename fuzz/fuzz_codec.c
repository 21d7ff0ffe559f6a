/*
 * fuzz_codec.c — libFuzzer harness for short codes (core/codec.c).
 *
 * Arbitrary bytes go through codec_base62_decode and codec_decode_id. For
 * every valid decode the inverse must give the input back:
 * encode(decode(x)) == x, both for plain base 62 and for generated codes
 * (the keyed permutation). codec_custom_valid must agree with a reference
 * check written here from SPEC §1 ([A-Za-z0-9_-]{1,64}). Any violation
 * aborts. The key comes from the first input byte (deterministic).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shorty/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool ref_custom_valid(const uint8_t *s, size_t n)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == 0 || !memchr(ok, s[i], sizeof(ok) - 1))
			return false;
	return true;
}

static bool ref_base62(const uint8_t *s, size_t n)
{
	if (n < 1 || n > CODEC_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= 'a' && s[i] <= 'z')))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	codec_key key;
	char out[CODEC_MAX_LEN + 1];
	const char *s = (const char *)data;
	uint64_t v = 0;
	int64_t id = 0;
	bool b62;

	for (size_t i = 0; i < sizeof(key.k); i++)
		key.k[i] = (uint8_t)(i * 37 + (size ? data[0] : 0));

	/* plain base 62 */
	b62 = codec_base62_decode(s, size, &v) == 0;
	if (b62 != ref_base62(data, size))
		abort();
	if (b62) {
		if (codec_base62_encode(v, (int)size, out, sizeof(out)) != 0)
			abort();
		if (memcmp(out, s, size) != 0 || out[size] != '\0')
			abort();
		if (v >= codec_pow62((int)size))
			abort();
	}

	/* generated codes: decode, then encode again */
	if (codec_decode_id(&key, s, size, &id) == 0) {
		if (!b62 || id < 0 || codec_len_of_id(id) != (int)size)
			abort();
		if (codec_encode_id(&key, id, out, sizeof(out)) != 0)
			abort();
		if (strlen(out) != size || memcmp(out, s, size) != 0)
			abort();
	} else if (b62) {
		abort(); /* every base-62 string of a valid length is some id's code */
	}

	/* custom codes */
	if (codec_custom_valid(s, size) != ref_custom_valid(data, size))
		abort();
	(void)codec_reserved(s, size);
	return 0;
}

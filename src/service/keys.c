/*
 * keys.c — API keys (see shorty/service.h): creation, verification,
 * revocation, role names.
 *
 * A key is 256 random bits shown once as "shorty_" + 43 base64url
 * characters. The store keeps only its BLAKE2b hash (crypto_generichash, 32
 * bytes) and the first 8 characters after "shorty_", so `key list` can tell
 * keys apart without the store ever holding a usable secret. Random 256-bit
 * keys need no salt or slow hash: there is nothing to guess.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "shorty/service.h"
#include "shorty/timeutil.h"
#include "service/internal.h"

#define KEY_PREFIX "shorty_"
#define KEY_PREFIX_LEN (sizeof KEY_PREFIX - 1)
#define KEY_RANDOM_BYTES 32
/* Longest key text that is hashed at all: a real key is 50 characters;
 * anything much longer is refused without spending time on it. */
#define KEY_PRESENTED_MAX 4096

static const char *const role_names[] = {
	[KEY_ADMIN] = "admin",
	[KEY_AUTHOR] = "author",
	[KEY_READ_ONLY] = "read-only",
};

/* ---- the caller: the one place of the role rules ---------------------------- */

int64_t svc_caller_owner(const svc_caller *who)
{
	return who && !who->anonymous && who->role == KEY_AUTHOR ? who->key_id : 0;
}

bool svc_caller_can_write(const svc_caller *who)
{
	return !who || who->anonymous || who->role != KEY_READ_ONLY;
}

bool svc_caller_is_admin(const svc_caller *who)
{
	return !who || (!who->anonymous && who->role == KEY_ADMIN);
}

svc_caller svc_caller_of_key(const sh_api_key *k)
{
	svc_caller c = {k->id, k->role, false};

	return c;
}

int svc_key_list(store *s, sh_key_cb cb, void *ud)
{
	return store_key_list(s, cb, ud);
}

int svc_role_parse(const char *s)
{
	size_t i;

	if (!s)
		return -1;
	for (i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
		if (strcmp(s, role_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *svc_role_name(int role)
{
	if (role < 0 || (size_t)role >= sizeof role_names / sizeof role_names[0])
		return NULL;
	return role_names[role];
}

/* A key name is shown in `key list`: printable text, no control bytes. */
static bool name_ok(const char *name)
{
	const unsigned char *p;

	for (p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static void key_hash(uint8_t out[SH_KEY_HASH_BYTES], const char *text, size_t len)
{
	crypto_generichash(out, SH_KEY_HASH_BYTES, (const unsigned char *)text, len, NULL, 0);
}

int svc_key_create(store *s, const char *name, int role, char key_out[SH_KEY_TEXT_MAX],
                   sh_api_key *out, sh_err *err)
{
	unsigned char rnd[KEY_RANDOM_BYTES];
	char b64[sodium_base64_ENCODED_LEN(KEY_RANDOM_BYTES,
	                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	sh_api_key k;
	size_t len;
	int rc;

	key_out[0] = '\0';
	if (!name)
		name = "";
	if (strlen(name) > SH_KEY_NAME_MAX)
		return sh_err_set(err, SH_EINVAL, "name",
		                  "the key name is longer than %d bytes; shorten it",
		                  SH_KEY_NAME_MAX);
	if (!name_ok(name))
		return sh_err_set(err, SH_EINVAL, "name",
		                  "the key name must be text without control characters");
	if (!svc_role_name(role))
		return sh_err_set(err, SH_EINVAL, "role",
		                  "the role must be admin, author or read-only");
	if (sodium_init() < 0)
		return sh_err_set(err, SH_ENOMEM, NULL, "libsodium could not start");

	memset(&k, 0, sizeof k);
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2base64(b64, sizeof b64, rnd, sizeof rnd,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(rnd, sizeof rnd);
	len = (size_t)snprintf(key_out, SH_KEY_TEXT_MAX, "%s%s", KEY_PREFIX, b64);
	sodium_memzero(b64, sizeof b64);

	key_hash(k.hash, key_out, len);
	snprintf(k.name, sizeof k.name, "%s", name);
	k.role = role;
	memcpy(k.prefix, key_out + KEY_PREFIX_LEN, sizeof k.prefix - 1);
	k.prefix[sizeof k.prefix - 1] = '\0';
	k.created_at = sh_now();

	rc = store_key_insert(s, &k);
	if (rc) {
		sodium_memzero(key_out, SH_KEY_TEXT_MAX);
		return svc__store_err(s, rc, err);
	}
	if (out)
		*out = k;
	return 0;
}

bool svc__key_hash(uint8_t h[SH_KEY_HASH_BYTES], const char *key, size_t len)
{
	if (!key || len == 0 || len > KEY_PRESENTED_MAX)
		return false;
	key_hash(h, key, len);
	return true;
}

int svc__key_verify_hash(store *s, const uint8_t h[SH_KEY_HASH_BYTES], sh_api_key *out,
                         sh_api_key *found)
{
	sh_api_key k;
	int rc;

	memset(&k, 0, sizeof k);
	if (found)
		memset(found, 0, sizeof *found);
	rc = store_key_get_by_hash(s, h, &k);
	if (rc == SH_ENOTFOUND)
		return SH_EAUTH;
	if (rc)
		return rc; /* the store is down: not the caller's fault (503, not 401) */
	/* the lookup was by hash; compare again in constant time, so a backend
	 * that matched loosely (a prefix, a collation) can never let a key in */
	if (sodium_memcmp(h, k.hash, SH_KEY_HASH_BYTES) != 0)
		return SH_EAUTH;
	if (found)
		*found = k; /* a revoked one too */
	if (k.revoked_at != 0)
		return SH_EAUTH;
	if (out)
		*out = k;
	return 0;
}

int svc_key_verify(store *s, const char *key, size_t len, sh_api_key *out)
{
	uint8_t h[SH_KEY_HASH_BYTES];

	if (!svc__key_hash(h, key, len))
		return SH_EAUTH;
	return svc__key_verify_hash(s, h, out, NULL);
}

int svc_key_revoke(store *s, int64_t id, sh_err *err)
{
	int rc;

	rc = store_key_revoke(s, id, sh_now());
	if (rc == SH_ENOTFOUND)
		return sh_err_set(err, rc, "id", "no API key has the id %" PRId64, id);
	if (rc)
		return svc__store_err(s, rc, err);
	return 0;
}

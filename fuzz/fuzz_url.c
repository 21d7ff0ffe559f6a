/*
 * fuzz_url.c — libFuzzer harness for the URL gate (core/url.c, SPEC §3).
 *
 * Arbitrary bytes go through url_normalize with the default policy (and a
 * second time with a policy that has a self host and a blocklist, so those
 * branches are reached too). Whatever is accepted must hold the promises
 * that make it safe to write into a Location header byte for byte:
 *   - no byte < 0x21 and no 0x7f (no control character, no space),
 *   - it starts with "http://" or "https://",
 *   - it is at most max_length bytes,
 *   - normalizing it again gives the identical string (idempotent).
 * A refusal must come with a reason and *out == NULL. Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shorty/url.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static url_policy pol_default, pol_self;
static const char *const blocked[] = {"evil.example", "xn--pypal-4ve.com", NULL};
static const char *const own_names[] = {"192.0.2.5", "[2001:db8::5]", "sho.example", NULL};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (url_global_init() != 0)
		abort();
	url_policy_default(&pol_default);
	url_policy_default(&pol_self);
	pol_self.self_host = "sho.rt";
	pol_self.self_names = own_names;
	pol_self.blocked_hosts = blocked;
	return 0;
}

static void violation(const char *what, const char *url)
{
	fprintf(stderr, "fuzz_url: %s: \"%s\"\n", what, url);
	abort();
}

static void check(const url_policy *p, const uint8_t *data, size_t size)
{
	char *out = (char *)1, *again = NULL;
	sh_err err = {0};
	size_t n;
	int rc;

	rc = url_normalize(p, (const char *)data, size, &out, &err);
	if (rc != 0) {
		if (out != NULL)
			violation("refused but *out is set", "");
		if (rc >= 0 || !err.msg[0] || err.code != rc)
			violation("refused without a reason", err.msg);
		return;
	}
	if (!out)
		violation("accepted but *out is NULL", "");
	n = strlen(out);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x21 || (unsigned char)out[i] == 0x7f)
			violation("control character or space in an accepted URL", out);
	if (strncmp(out, "http://", 7) != 0 && strncmp(out, "https://", 8) != 0)
		violation("accepted URL is not http(s)://", out);
	if (n > p->max_length)
		violation("accepted URL longer than max_length", out);
	rc = url_normalize(p, out, n, &again, &err);
	if (rc != 0)
		violation("normalized URL refused on the second pass", out);
	if (strcmp(again, out) != 0) {
		fprintf(stderr, "fuzz_url: second pass gave \"%s\"\n", again);
		violation("not idempotent", out);
	}
	free(again);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(&pol_default, data, size);
	check(&pol_self, data, size);
	return 0;
}

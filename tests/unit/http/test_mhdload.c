/*
 * test_mhdload.c — the libmicrohttpd shim (src/http/mhdload.c): the two
 * functions both engines call, written there so that the own engine never
 * loads libmicrohttpd, answer what the real library answers (its own
 * functions, found here with dlopen and dlsym, are the oracle): every
 * status from 0 to 999, and percent-decoding of hand-picked and generated
 * strings. Then the table: it loads, and MHD_* names call the library.
 */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/mhdload.h"

typedef const char *(*reason_fn)(unsigned);
typedef size_t (*unescape_fn)(char *);

static void *lib;

static void *real(const char *name)
{
	void *f;

	if (!lib)
		lib = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
	assert_non_null(lib);
	f = dlsym(lib, name);
	assert_non_null(f);
	return f;
}

static void reasons_are_the_librarys(void **state)
{
	reason_fn want = (reason_fn)real("MHD_get_reason_phrase_for");

	(void)state;
	for (unsigned s = 0; s < 1000; s++)
		assert_string_equal(sh_http_reason(s), want(s));
	assert_string_equal(sh_http_reason(302), "Found");
	assert_string_equal(sh_http_reason(0xffffffffu), want(0xffffffffu));
}

static void one_unescape(unescape_fn want, const char *s)
{
	char a[256], b[256];
	size_t na, nb;

	snprintf(a, sizeof a, "%s", s);
	snprintf(b, sizeof b, "%s", s);
	na = sh_http_unescape(a);
	nb = want(b);
	assert_int_equal(na, nb);
	assert_string_equal(a, b);
}

static void unescape_is_the_librarys(void **state)
{
	static const char *const cases[] = {
	    "", "a", "%", "%%", "%4", "%41", "%4g", "%g4", "a%41b%42", "%%41", "%4%41", "+%2B+",
	    "%e2%82%ac", "%E2%82%AC", "100%", "%00x", "%ZZ%zz", "a%2", "%2f%2F", "%7e%7E",
	};
	static const char alphabet[] = "%%%0123456789abcdefABCDEFgG+ /x";
	unescape_fn want = (unescape_fn)real("MHD_http_unescape");
	unsigned seed = 11;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		one_unescape(want, cases[i]);
	for (int n = 0; n < 20000; n++) {
		char s[24];
		size_t len = (size_t)(rand_r(&seed) % (int)(sizeof s - 1));
		for (size_t i = 0; i < len; i++)
			s[i] = alphabet[rand_r(&seed) % (int)(sizeof alphabet - 1)];
		s[len] = '\0';
		one_unescape(want, s);
	}
}

static enum MHD_Result no_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
	(void)cls, (void)c, (void)url, (void)method, (void)version, (void)data, (void)size,
	    (void)con_cls;
	return MHD_NO;
}

static void the_table_loads_and_calls_the_library(void **state)
{
	sh_err err = {0};

	(void)state;
	assert_int_equal(sh_mhd_load(&err), 0);
	assert_int_equal(sh_mhd_load(&err), 0); /* once */
	/* not linked: nothing of it in the global scope (RTLD_LOCAL), so the
	 * daemon below starts and stops through the table */
	assert_null(dlsym(RTLD_DEFAULT, "MHD_start_daemon"));
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL,
	                                        no_request, NULL, MHD_OPTION_END);
	assert_non_null(d);
	MHD_stop_daemon(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reasons_are_the_librarys),
	    cmocka_unit_test(unescape_is_the_librarys),
	    cmocka_unit_test(the_table_loads_and_calls_the_library),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	if (lib)
		dlclose(lib);
	return rc;
}

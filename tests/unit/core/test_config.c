/*
 * test_config.c — unit tests of core/config.c: the table covers every
 * field, defaults, environment overrides, flags, and the messages of bad
 * values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/curlload.h" /* the oracle, through the loaded libcurl */
#include "shorty/config.h"
#include "shorty/err.h"

static void clear_env(void)
{
	for (const cfg_option *o = cfg_options; o->name; o++)
		unsetenv(o->env);
}

static int per_test(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

static void test_table(void **state)
{
	int n = 0;
	(void)state;
	for (const cfg_option *o = cfg_options; o->name; o++, n++) {
		char env[64] = "SHORTY_";
		size_t k = 7;
		for (const char *p = o->name; *p && k + 1 < sizeof env; p++)
			env[k++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		env[k] = '\0';
		assert_string_equal(o->env, env);
		assert_non_null(o->help);
		assert_true(o->offset < sizeof(sh_config));
		if (o->type == CFG_ENUM)
			assert_non_null(o->choices);
		assert_ptr_equal(cfg_find(o->name), o);
		/* no two options share a field */
		for (const cfg_option *q = cfg_options; q < o; q++)
			assert_int_not_equal(q->offset, o->offset);
	}
	assert_int_equal(n, 33); /* every field of sh_config */
	assert_null(cfg_find("no-such-option"));
	assert_null(cfg_find(NULL));
}

static void test_defaults(void **state)
{
	sh_config c;
	sh_err err = {0};
	(void)state;
	assert_int_equal(cfg_init(&c, &err), 0);
	assert_string_equal(c.listen, "0.0.0.0:8000");
	assert_string_equal(c.db, "sqlite:./data/shorty.db");
	assert_string_equal(c.base_url, "http://localhost:8000");
	assert_int_equal(c.threads, 0);
	assert_int_equal(c.cache_entries, 100000);
	assert_int_equal(c.code_length, 6);
	assert_int_equal(c.code_strategy, CODE_COUNTER);
	assert_int_equal(c.redirect_status, 302);
	assert_true(c.anonymous_create);
	assert_int_equal(c.max_url_length, 8192);
	assert_int_equal(c.yourls_signature_ttl, 43200);
	assert_string_equal(c.allowed_schemes, "http,https");
	assert_null(c.blocklist_file);
	assert_string_equal(c.log_level, "info");
	assert_false(c.access_log);
	assert_string_equal(c.synchronous, "full");
	assert_null(c.trusted_proxies);
	assert_string_equal(c.cors_origin, "*");
	assert_int_equal(c.max_connections, 10000);
	assert_int_equal(c.rate_limit, 30);
	assert_int_equal(c.visit_detail_limit, 600);
	assert_int_equal(c.visit_retention, 7776000); /* 90 days */
	assert_null(c.yourls_user);
	assert_null(c.yourls_password);
	cfg_free(&c);
	cfg_free(&c); /* safe twice */
}

static void test_env(void **state)
{
	sh_config c;
	sh_err err = {0};
	(void)state;
	setenv("SHORTY_BASE_URL", "https://s.example.com//", 1);
	setenv("SHORTY_THREADS", "8", 1);
	setenv("SHORTY_CACHE_ENTRIES", "0", 1);
	setenv("SHORTY_CODE_STRATEGY", "Hash", 1);
	setenv("SHORTY_REDIRECT_STATUS", "301", 1);
	setenv("SHORTY_ANONYMOUS_CREATE", "off", 1);
	setenv("SHORTY_ACCESS_LOG", "YES", 1);
	setenv("SHORTY_LOG_LEVEL", "DEBUG", 1);
	setenv("SHORTY_BLOCKLIST_FILE", "/etc/shorty/block.txt", 1);
	setenv("SHORTY_YOURLS_USERNAME", "admin", 1);
	setenv("SHORTY_DB", "", 1); /* empty = unset */
	setenv("SHORTY_ALLOWED_SCHEMES", "HTTPS", 1);
	setenv("SHORTY_MAX_URL_LENGTH", "65536", 1);
	assert_int_equal(cfg_init(&c, &err), 0);
	assert_string_equal(c.base_url, "https://s.example.com");
	assert_int_equal(c.threads, 8);
	assert_int_equal(c.cache_entries, 0);
	assert_int_equal(c.code_strategy, CODE_HASH);
	assert_int_equal(c.redirect_status, 301);
	assert_false(c.anonymous_create);
	assert_true(c.access_log);
	assert_string_equal(c.log_level, "debug");
	assert_string_equal(c.blocklist_file, "/etc/shorty/block.txt");
	assert_string_equal(c.yourls_user, "admin");
	assert_string_equal(c.db, "sqlite:./data/shorty.db");
	assert_string_equal(c.allowed_schemes, "https");
	assert_int_equal(c.max_url_length, 65536);

	/* flags win over the environment */
	assert_int_equal(cfg_set(&c, "threads", "2", &err), 0);
	assert_int_equal(c.threads, 2);
	assert_int_equal(cfg_set(&c, "blocklist-file", "", &err), 0);
	assert_null(c.blocklist_file);
	assert_int_equal(cfg_set(&c, "code-strategy", "random", &err), 0);
	assert_int_equal(c.code_strategy, CODE_RANDOM);
	assert_int_equal(cfg_set(&c, "listen", "[::]:0", &err), 0);
	assert_string_equal(c.listen, "[::]:0");
	assert_int_equal(cfg_set(&c, "synchronous", "normal", &err), 0);
	assert_string_equal(c.synchronous, "normal");
	cfg_free(&c);
	clear_env();
}

static void expect_env_error(const char *env, const char *value, const char *msg)
{
	sh_config c;
	sh_err err = {0};

	clear_env();
	setenv(env, value, 1);
	if (cfg_init(&c, &err) != SH_EINVAL) {
		print_error("%s=%s accepted\n", env, value);
		fail();
	}
	if (!strstr(err.msg, msg)) {
		print_error("%s=%s: message \"%s\" lacks \"%s\"\n", env, value, err.msg, msg);
		fail();
	}
	assert_non_null(err.field);
	/* nothing left to free after a failed init */
	assert_null(c.listen);
	clear_env();
}

static void test_env_errors(void **state)
{
	(void)state;
	expect_env_error("SHORTY_REDIRECT_STATUS", "303",
	                 "SHORTY_REDIRECT_STATUS must be one of 301, 302, 307, 308");
	expect_env_error("SHORTY_REDIRECT_STATUS", "0302", "must be one of");
	expect_env_error("SHORTY_REDIRECT_STATUS", "abc", "must be one of");
	expect_env_error("SHORTY_THREADS", "257",
	                 "SHORTY_THREADS must be an integer from 0 to 256");
	expect_env_error("SHORTY_THREADS", "-1", "from 0 to 256");
	expect_env_error("SHORTY_THREADS", "4x", "integer");
	expect_env_error("SHORTY_THREADS", " 4", "integer");
	expect_env_error("SHORTY_THREADS", "99999999999999999999999", "integer");
	expect_env_error("SHORTY_CODE_LENGTH", "3", "from 4 to 10");
	expect_env_error("SHORTY_CODE_LENGTH", "11", "from 4 to 10");
	expect_env_error("SHORTY_CACHE_ENTRIES", "100000001", "from 0 to 100000000");
	expect_env_error("SHORTY_MAX_URL_LENGTH", "63", "from 64 to 65536");
	expect_env_error("SHORTY_CODE_STRATEGY", "sequential",
	                 "SHORTY_CODE_STRATEGY must be one of counter, random, hash");
	expect_env_error("SHORTY_ANONYMOUS_CREATE", "maybe",
	                 "SHORTY_ANONYMOUS_CREATE must be true or false");
	expect_env_error("SHORTY_LOG_LEVEL", "verbose",
	                 "SHORTY_LOG_LEVEL must be one of error, warn, info, debug");
	expect_env_error("SHORTY_SYNCHRONOUS", "extra", "full, normal, off");
	expect_env_error("SHORTY_BASE_URL", "localhost:8000", "SHORTY_BASE_URL must be an http");
	expect_env_error("SHORTY_BASE_URL", "ftp://x", "http:// or https://");
	expect_env_error("SHORTY_BASE_URL", "https://", "http:// or https://");
	expect_env_error("SHORTY_BASE_URL", "https://a b", "http:// or https://");
	expect_env_error("SHORTY_LISTEN", "8000", "SHORTY_LISTEN must be ADDRESS:PORT");
	expect_env_error("SHORTY_LISTEN", "0.0.0.0:70000", "ADDRESS:PORT");
	expect_env_error("SHORTY_LISTEN", "0.0.0.0:", "ADDRESS:PORT");
	expect_env_error("SHORTY_ALLOWED_SCHEMES", "http,,https", "SHORTY_ALLOWED_SCHEMES");
	expect_env_error("SHORTY_ALLOWED_SCHEMES", "a,b,c,d,e,f,g,h", "1 to 7");
	expect_env_error("SHORTY_MAX_CONNECTIONS", "0", "from 1 to");
}

/* base-url: what the check lets through, libcurl (the oracle; the service
 * reads the host with it only at its first URL, svc_url_policy) reads, with
 * a host; hand-picked cases both ways, then generated ones. */
static bool curl_reads(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	          curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0];

	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

static bool base_ok(sh_config *c, const char *url)
{
	sh_err err = {0};
	int rc = cfg_set(c, "base-url", url, &err);

	if (rc == 0 && !curl_reads(url))
		fail_msg("base-url %s accepted, but libcurl cannot read it", url);
	return rc == 0;
}

static void test_base_url_is_what_curl_reads(void **state)
{
	static const char *const good[] = {
	    "http://localhost:8000", "https://s.example.com", "https://S.Example.COM/x/",
	    "http://a:", "http://a:0", "http://a:65535", "http://a:00080", "http://[::1]:8000",
	    "http://[::ffff:1.2.3.4]", "http://b\xc3\xbc" "cher.de/x", "http://a_b.c~d",
	    "http://1.2.3", "http://0x7f.1", "http://a..b", "https://a//b",
	};
	static const char *const bad[] = {
	    "ftp://a", "http://", "http:///a", "http://:80", "http://a:abc", "http://a:99999",
	    "http://a:123456", "http://a:-1", "http://a:80:90", "http://[zz]", "http://[::1",
	    "http://[::1]x", "http://a]b", "http://ex%41mple.com", "http://a!b", "http://a$b",
	    "http://a'b", "http://a*b", "http://a,b", "http://a;b", "http://a=b", "http://a+b",
	    "http://a&b", "http://a(b", "http://a{b", "http://a^b", "http://a`b", "http://a\"b",
	    "http://a<b", "http://a|b", "http://[fe80::1%25eth0]", "http://a b", "http://a?b",
	    "http://a#b", "http://u@a",
	};
	static const char alphabet[] = "ab.:[]/019%!~_-|xf";
	sh_config c;
	sh_err err = {0};
	unsigned seed = 5;

	(void)state;
	assert_int_equal(cfg_init(&c, &err), 0);
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		if (!base_ok(&c, good[i]))
			fail_msg("base-url %s refused", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (base_ok(&c, bad[i]))
			fail_msg("base-url %s accepted", bad[i]);
	for (int n = 0; n < 50000; n++) {
		char url[40] = "http://";
		size_t len = 1 + (size_t)(rand_r(&seed) % 16);
		for (size_t i = 0; i < len; i++)
			url[7 + i] = alphabet[rand_r(&seed) % (int)(sizeof alphabet - 1)];
		url[7 + len] = '\0';
		base_ok(&c, url); /* fails the test when curl cannot read an accepted one */
	}
	cfg_free(&c);
}

static void test_set_errors(void **state)
{
	sh_config c;
	sh_err err = {0};
	(void)state;
	assert_int_equal(cfg_init(&c, &err), 0);
	assert_int_equal(cfg_set(&c, "redirect-status", "300", &err), SH_EINVAL);
	assert_string_equal(err.msg, "--redirect-status must be one of 301, 302, 307, 308");
	assert_string_equal(err.field, "redirect-status");
	assert_int_equal(c.redirect_status, 302); /* unchanged */
	assert_int_equal(cfg_set(&c, "bogus", "1", &err), SH_ENOTFOUND);
	assert_non_null(strstr(err.msg, "--bogus"));
	assert_int_equal(cfg_set(&c, "threads", "", &err), SH_EINVAL);
	assert_int_equal(cfg_set(&c, "db", "", &err), SH_EINVAL);
	assert_string_equal(c.db, "sqlite:./data/shorty.db");
	assert_int_equal(cfg_set(&c, "access-log", NULL, &err), SH_EINVAL);
	const char *yes[] = {"true", "1", "yes", "on", "TRUE", "On"};
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(cfg_set(&c, "access-log", "false", &err), 0);
		assert_int_equal(cfg_set(&c, "access-log", yes[i], &err), 0);
		assert_true(c.access_log);
	}
	const char *no[] = {"false", "0", "no", "off", "OFF"};
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(cfg_set(&c, "access-log", "true", &err), 0);
		assert_int_equal(cfg_set(&c, "access-log", no[i], &err), 0);
		assert_false(c.access_log);
	}
	cfg_free(&c);
}

static void test_value_text(void **state)
{
	sh_config c;
	sh_err err = {0};
	char buf[128];
	(void)state;
	assert_int_equal(cfg_init(&c, &err), 0);
	for (const cfg_option *o = cfg_options; o->name; o++) {
		cfg_value_text(&c, o, buf, sizeof buf);
		if (o->def)
			assert_string_equal(buf, o->def);
		else
			assert_string_equal(buf, "");
	}
	cfg_set(&c, "code-strategy", "hash", &err);
	assert_string_equal(cfg_value_text(&c, cfg_find("code-strategy"), buf, sizeof buf), "hash");
	cfg_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_table, per_test),
	    cmocka_unit_test_setup(test_defaults, per_test),
	    cmocka_unit_test_setup(test_env, per_test),
	    cmocka_unit_test_setup(test_env_errors, per_test),
	    cmocka_unit_test_setup(test_set_errors, per_test),
	    cmocka_unit_test_setup(test_base_url_is_what_curl_reads, per_test),
	    cmocka_unit_test_setup(test_value_text, per_test),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

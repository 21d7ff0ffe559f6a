/*
 * test_time.c — unit tests of core/timeutil.c: RFC 3339 out, ISO 8601 in,
 * CLI durations, SHORTY_FAKE_NOW and the monotonic clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "shorty/err.h"
#include "shorty/timeutil.h"

static void expect_parse(const char *s, int64_t want)
{
	int64_t t = -1;
	int rc = sh_time_parse(s, &t);
	if (rc != 0 || t != want) {
		print_error("parse \"%s\": rc %d, t %lld, want %lld\n", s, rc, (long long)t,
		            (long long)want);
		fail();
	}
}

static void expect_bad(const char *s)
{
	int64_t t = 12345;
	if (sh_time_parse(s, &t) != SH_EINVAL) {
		print_error("parse \"%s\" accepted as %lld\n", s, (long long)t);
		fail();
	}
}

static void test_format(void **state)
{
	char buf[SH_TIME_BUF];
	(void)state;
	assert_string_equal(sh_time_format(0, buf), "1970-01-01T00:00:00+00:00");
	assert_string_equal(sh_time_format(1795306029, buf), "2026-11-22T00:07:09+00:00");
	assert_string_equal(sh_time_format(951782400, buf), "2000-02-29T00:00:00+00:00");
	assert_string_equal(sh_time_format(253402300799LL, buf), "9999-12-31T23:59:59+00:00");
	/* out of the 4-digit range: never garbage */
	assert_int_equal(strlen(sh_time_format(253402300800LL, buf)), 25);
	assert_int_equal(strlen(sh_time_format(INT64_MAX, buf)), 25);
}

static void test_parse_good(void **state)
{
	(void)state;
	expect_parse("2026-11-22T00:07:09+00:00", 1795306029);
	expect_parse("2026-11-22T00:07:09Z", 1795306029);
	expect_parse("2026-11-22t00:07:09z", 1795306029);
	expect_parse("2026-11-22 00:07:09Z", 1795306029);
	expect_parse("2026-11-22T02:07:09+02:00", 1795306029);
	expect_parse("2026-11-22T02:07:09+0200", 1795306029);
	expect_parse("2026-11-22T02:07:09+02", 1795306029);
	expect_parse("2026-11-21T18:37:09-05:30", 1795306029);
	expect_parse("2026-11-22T00:07:09.123456Z", 1795306029);
	expect_parse("2026-11-22T00:07:09,5Z", 1795306029);
	expect_parse("2026-11-22T00:07Z", 1795306020);
	expect_parse("2026-11-22T00:07:09", 1795306029); /* no offset: UTC */
	expect_parse("2026-11-22", 1795305600);
	expect_parse("1970-01-01", 0);
	expect_parse("2000-02-29", 951782400);
	expect_parse("2016-12-31T23:59:60Z", 1483228800); /* leap second */
}

static void test_parse_bad(void **state)
{
	(void)state;
	const char *bad[] = {
	    "",
	    "now",
	    "2026",
	    "2026-11",
	    "2026-1-22",
	    "26-11-22",
	    "2026/11/22",
	    "2026-13-01",
	    "2026-00-10",
	    "2026-11-00",
	    "2026-11-31",
	    "2026-02-29",
	    "1900-02-29",
	    "2026-11-22T",
	    "2026-11-22T24:00:00Z",
	    "2026-11-22T23:60:00Z",
	    "2026-11-22T23:59:61Z",
	    "2026-11-22T1:00:00Z",
	    "2026-11-22T10:00:00+24:00",
	    "2026-11-22T10:00:00+02:60",
	    "2026-11-22T10:00:00+2",
	    "2026-11-22T10:00:00Zjunk",
	    "2026-11-22 junk",
	    "2026-11-22X",
	    "2026-11-22T10:00:00.Z",
	    "2026-11-22T10:00:00.1234567890Z",
	    " 2026-11-22",
	    "2026-11-22 ",
	    "2026-11-22\n",
	    "+2026-11-22",
	    "2026-11-22T10:00:00+02:00:00",
	    "２０２６-11-22",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_bad(bad[i]);
	assert_int_equal(sh_time_parse(NULL, NULL), SH_EINVAL);
}

static void test_round_trip(void **state)
{
	char buf[SH_TIME_BUF];
	int64_t t, back;
	(void)state;
	for (t = 0; t < 4102444800LL; t += 7919 * 3607) {
		assert_int_equal(sh_time_parse(sh_time_format(t, buf), &back), 0);
		assert_int_equal(back, t);
	}
}

static void test_when(void **state)
{
	const int64_t now = 1795306029;
	int64_t t;
	(void)state;
	assert_int_equal(sh_when_parse("90s", now, &t), 0);
	assert_int_equal(t, now + 90);
	assert_int_equal(sh_when_parse("15m", now, &t), 0);
	assert_int_equal(t, now + 900);
	assert_int_equal(sh_when_parse("24h", now, &t), 0);
	assert_int_equal(t, now + 86400);
	assert_int_equal(sh_when_parse("7d", now, &t), 0);
	assert_int_equal(t, now + 7 * 86400);
	assert_int_equal(sh_when_parse("2w", now, &t), 0);
	assert_int_equal(t, now + 14 * 86400);
	assert_int_equal(sh_when_parse("+1h", now, &t), 0);
	assert_int_equal(t, now + 3600);
	assert_int_equal(sh_when_parse("2026-12-01", now, &t), 0);
	assert_int_equal(t, 1796083200);
	assert_int_equal(sh_when_parse("2026-12-01T00:00:00+01:00", now, &t), 0);
	assert_int_equal(t, 1796083200 - 3600);
	const char *bad[] = {"",
	                     "s",
	                     "10",
	                     "10x",
	                     "10 d",
	                     "-5d",
	                     "0d",
	                     "1.5h",
	                     "1d2h",
	                     "d1",
	                     "99999999999999999999s",
	                     "9223372036854775807w",
	                     "2026-13-01"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (sh_when_parse(bad[i], now, &t) != SH_EINVAL) {
			print_error("when \"%s\" accepted\n", bad[i]);
			fail();
		}
	}
}

static void test_now(void **state)
{
	int64_t a, b;
	(void)state;
	unsetenv("SHORTY_FAKE_NOW");
	a = sh_now();
	assert_true(a > 1700000000 && (time_t)a <= time(NULL));
	setenv("SHORTY_FAKE_NOW", "1795306029", 1);
	/* read once: a change shows only after sh_now_reload */
	assert_true(sh_now() != 1795306029);
	sh_now_reload();
	assert_int_equal(sh_now(), 1795306029);
	setenv("SHORTY_FAKE_NOW", "garbage", 1);
	sh_now_reload();
	assert_true(sh_now() > 1700000000 && sh_now() != 1795306029);
	unsetenv("SHORTY_FAKE_NOW");
	sh_now_reload();

	a = sh_mono_ns();
	b = sh_mono_ns();
	assert_true(a > 0 && b >= a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format),    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_bad), cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_when),      cmocka_unit_test(test_now),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

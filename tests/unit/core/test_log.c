/*
 * test_log.c — unit tests of core/log.c: levels, and that nothing logged
 * can break out of its line (CR, LF, NUL and other controls escaped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shorty/err.h"
#include "shorty/log.h"

/* Logs through a pipe and returns what came out (NUL-terminated). */
static size_t capture(char *buf, size_t bufsz, int level, const char *msg)
{
	int fds[2];
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	log_set_fd(fds[1]);
	log_msg(level, "%s", msg);
	log_set_fd(-1);
	close(fds[1]);
	n = read(fds[0], buf, bufsz - 1);
	close(fds[0]);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return (size_t)n;
}

static void test_levels(void **state)
{
	char buf[256];
	int lv = -1;
	(void)state;
	assert_int_equal(log_level_parse("DEBUG", &lv), 0);
	assert_int_equal(lv, SH_LOG_DEBUG);
	assert_int_equal(log_level_parse("warning", &lv), 0);
	assert_int_equal(lv, SH_LOG_WARN);
	assert_int_equal(log_level_parse("loud", &lv), SH_EINVAL);
	assert_string_equal(log_level_name(SH_LOG_ERROR), "error");
	assert_string_equal(log_level_name(42), "?");

	log_set_level(SH_LOG_WARN);
	assert_true(log_enabled(SH_LOG_ERROR));
	assert_false(log_enabled(SH_LOG_INFO));
	assert_int_equal(capture(buf, sizeof buf, SH_LOG_INFO, "quiet"), 0);
	assert_true(capture(buf, sizeof buf, SH_LOG_ERROR, "loud") > 0);
	assert_non_null(strstr(buf, " error loud\n"));
	log_set_level(SH_LOG_INFO);
}

static void test_escaping(void **state)
{
	char buf[512];
	size_t n;
	(void)state;
	n = capture(buf, sizeof buf, SH_LOG_INFO, "GET /a\r\nSet-Cookie: x=1\x1b[31m\\");
	assert_true(n > 0);
	/* exactly one line */
	assert_int_equal(buf[n - 1], '\n');
	assert_null(memchr(buf, '\n', n - 1));
	assert_null(memchr(buf, '\r', n));
	assert_null(memchr(buf, 0x1b, n));
	assert_non_null(strstr(buf, "GET /a\\r\\nSet-Cookie: x=1\\x1b[31m\\\\\n"));
}

static void test_escape_bounds(void **state)
{
	char out[8];
	(void)state;
	assert_int_equal(log_escape(out, sizeof out, "abc", 3), 3);
	assert_string_equal(out, "abc");
	log_escape(out, sizeof out, "abcdefghijkl", 12);
	assert_string_equal(out, "abcd...");
	log_escape(out, sizeof out, "\n\n\n\n", 4);
	assert_true(strlen(out) < sizeof out);
	assert_null(strchr(out, '\n'));
	assert_int_equal(log_escape(out, sizeof out, "a\0b", 3), 6);
	assert_string_equal(out, "a\\x00b");
	assert_int_equal(log_escape(out, 1, "abc", 3), 0);
	assert_string_equal(out, "");
}

static void test_long_message(void **state)
{
	static char big[SH_LOG_LINE_MAX * 2], buf[SH_LOG_LINE_MAX * 2];
	size_t n;
	(void)state;
	memset(big, '\n', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	n = capture(buf, sizeof buf, SH_LOG_ERROR, big);
	assert_true(n > 0 && n < SH_LOG_LINE_MAX + 64);
	assert_null(memchr(buf, '\n', n - 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_escape_bounds),
	    cmocka_unit_test(test_long_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

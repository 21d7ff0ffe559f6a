/*
 * test_template.c — tpl_render (src/http/template.c), the filler of the
 * page templates: values escaped, sections kept or dropped, plain comments
 * and stray braces left alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/internal.h"

static void expect_render(const char *tpl, const tpl_value *v, int n, const char *want)
{
	sbuf b;

	sbuf_init(&b, 1 << 16);
	tpl_render(&b, tpl, strlen(tpl), v, n);
	assert_false(b.err);
	assert_string_equal(b.p ? b.p : "", want);
	sbuf_free(&b);
}

static void test_values_escaped(void **state)
{
	tpl_value v[] = {{"a", "<b>&\"'", 6}, {"n", "x\0y", 3}};

	expect_render("[{{a}}]", v, 2, "[&lt;b&gt;&amp;&quot;&#39;]");
	expect_render("{{missing}}|{{a}}", v, 2, "|&lt;b&gt;&amp;&quot;&#39;");
	expect_render("{{n}}", v, 2, "xy"); /* a NUL in a value is dropped */
}

static void test_sections(void **state)
{
	tpl_value v[] = {{"on", "1", 1}, {"off", "", 0}, {"x", "X", 1}};

	expect_render("a<!--{on-->b{{x}}<!--on}-->c", v, 3, "abXc");
	expect_render("a<!--{off-->b{{x}}<!--off}-->c", v, 3, "ac");
	expect_render("a<!--{nope-->b<!--nope}-->c", v, 3, "ac");
	expect_render("<!--{on-->1<!--{off-->2<!--off}-->3<!--on}-->", v, 3, "13");
	expect_render("<!--{off-->1<!--{on-->2<!--on}-->3<!--off}-->4", v, 3, "4");
}

static void test_left_alone(void **state)
{
	tpl_value v[] = {{"x", "X", 1}};

	expect_render("<!-- a comment -->{{x}}", v, 1, "<!-- a comment -->X");
	expect_render("a { b } {x} {{x", v, 1, "a { b } {x} {{x");
	expect_render("<!-- open", v, 1, "<!-- open");
	expect_render("", v, 1, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_values_escaped),
	    cmocka_unit_test(test_sections),
	    cmocka_unit_test(test_left_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

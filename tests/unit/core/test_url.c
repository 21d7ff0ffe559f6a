/*
 * test_url.c — unit tests of core/url.c: every URL row of the bad-input
 * catalogue (research/reliability-security.md §5-A) that applies to the
 * validator, the normalizations of SPEC §3, the length limit, the blocklist
 * and self-reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shorty/err.h"
#include "shorty/url.h"

static int setup(void **state)
{
	(void)state;
	return url_global_init();
}

static int teardown(void **state)
{
	(void)state;
	url_global_cleanup();
	return 0;
}

/* Normalizes with policy p (NULL = default); checks the code and, on
 * success, the result; on failure that *out is NULL and err names "url"
 * and, when want_msg is given, that the message contains it. */
static void check_p(const url_policy *p, const char *in, size_t len, int want_rc, const char *want,
                    const char *want_msg, int line)
{
	char *out = (char *)1;
	sh_err err = {0};
	int rc = url_normalize(p, in, len, &out, &err);

	if (rc != want_rc) {
		print_error("line %d: input \"%s\": rc %d (%s), want %d; msg: %s; out: %s\n", line,
		            in, rc, sh_strerror(rc), want_rc, err.msg, rc == 0 ? out : "-");
		fail();
	}
	if (rc == 0) {
		assert_non_null(out);
		if (want && strcmp(out, want) != 0) {
			print_error("line %d: \"%s\" -> \"%s\", want \"%s\"\n", line, in, out,
			            want);
			fail();
		}
		for (const char *q = out; *q; q++)
			assert_true((unsigned char)*q > 0x20 && *q != 0x7f && *q != '\\');
		free(out);
	} else {
		assert_null(out);
		assert_int_equal(err.code, rc);
		assert_non_null(err.field);
		assert_string_equal(err.field, "url");
		assert_true(strlen(err.msg) > 10);
		if (want_msg && !strstr(err.msg, want_msg)) {
			print_error("line %d: \"%s\": message \"%s\" lacks \"%s\"\n", line, in,
			            err.msg, want_msg);
			fail();
		}
	}
}

#define OK(in, want) check_p(NULL, in, strlen(in), 0, want, NULL, __LINE__)
#define BAD(in, msg) check_p(NULL, in, strlen(in), SH_EINVAL, NULL, msg, __LINE__)
#define BADN(in, n, msg) check_p(NULL, in, n, SH_EINVAL, NULL, msg, __LINE__)

static const char *SCHEME_MSG = "only http and https URLs are allowed";
static const char *ABS_MSG = "an absolute http or https URL is required";
static const char *CTRL_MSG = "control characters are not allowed in a URL";
static const char *CRED_MSG = "credentials in the URL are not allowed";

/* A1-A4: schemes other than http(s), however they are disguised. */
static void test_schemes(void **state)
{
	(void)state;
	BAD("javascript:alert(document.domain)", SCHEME_MSG); /* A1 */
	BAD("JaVaScRiPt:alert(1)", SCHEME_MSG);               /* A2 */
	BAD("  javascript:alert(1)", SCHEME_MSG);
	BAD("\x01javascript:alert(1)", SCHEME_MSG);
	BAD("java\tscript:alert(1)", CTRL_MSG);
	BAD("java\nscript:alert(1)", CTRL_MSG);
	BAD("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", SCHEME_MSG); /* A3 */
	BAD("vbscript:msgbox(1)", SCHEME_MSG);                                         /* A4 */
	BAD("file:///etc/passwd", SCHEME_MSG);
	BAD("blob:https://x/uuid", SCHEME_MSG);
	BAD("ftp://x/", SCHEME_MSG);
	BAD("mailto:a@b", SCHEME_MSG);
	BAD("javascript://example.com/%0aalert(1)", SCHEME_MSG);
	BAD("httpx://example.com/", SCHEME_MSG);
	OK("HTTP://EXAMPLE.COM/", "http://example.com/");
	OK("HtTpS://example.com/x", "https://example.com/x");
}

/* A2 (WHATWG trimming) and A5, A7: control characters and NUL. */
static void test_controls(void **state)
{
	(void)state;
	/* WHATWG urltestdata: C0 and spaces around are trimmed, NUL included */
	static const char ws[] = "\x00\x1b\x04\x12 http://example.com/\x1f \r ";
	check_p(NULL, ws, sizeof ws - 1, 0, "http://example.com/", NULL, __LINE__);
	OK("  https://example.com/a  \n", "https://example.com/a");
	BAD("https://example.com/a\r\nSet-Cookie: s=1", CTRL_MSG); /* A5 */
	BAD("https://example.com/a\rb", CTRL_MSG);
	BAD("https://example.com/a\nb", CTRL_MSG);
	BAD("https://example.com/a\tb", CTRL_MSG);
	BAD("https://example.com/a\x7f", CTRL_MSG);
	BAD("https://exa\x7fmple.com/", CTRL_MSG);
	BADN("https://example.com/\0evil", 25, CTRL_MSG); /* A7 */
	BADN("http://a\0b/", 11, CTRL_MSG);               /* A11 */
	BAD("https://example.com/a b", "spaces are not allowed");
	BAD("https://example.com/?q=a b", "spaces");
}

/* A6: percent-encoded CR LF stays encoded (upper-case hex). */
static void test_encoded_crlf(void **state)
{
	(void)state;
	OK("https://example.com/a%0d%0aSet-Cookie:%20s=1",
	   "https://example.com/a%0D%0ASet-Cookie:%20s=1");
	OK("https://example.com/?a=%0d%0a", "https://example.com/?a=%0D%0A");
	OK("https://example.com/#%00", "https://example.com/#%00");
}

/* A8, A9: relative, scheme-relative and backslash tricks. */
static void test_relative(void **state)
{
	(void)state;
	BAD("//evil.example/x", ABS_MSG);
	BAD("/\\evil.example", "backslash");
	BAD("evil.example", ABS_MSG);
	BAD("evil.example/path", ABS_MSG);
	BAD("example.com:8080/x", ABS_MSG);
	BAD("localhost:8000", ABS_MSG);
	BAD("/just/a/path", ABS_MSG);
	BAD("?q=1", ABS_MSG);
	BAD("http:\\\\evil.example\\", "backslash"); /* A9: refused, not canonicalized */
	BAD("https:/\\evil.example", "backslash");
	BAD("http:evil.example", "absolute");
	BAD("https:", "absolute");
	BAD("https://", NULL);
	OK("https:///path", "https://path/"); /* as browsers read it */
}

/* A10: credentials. */
static void test_credentials(void **state)
{
	(void)state;
	BAD("https://paypal.com@evil.example/", CRED_MSG);
	BAD("https://user:pass@example.com/", CRED_MSG);
	BAD("https://user@example.com/", CRED_MSG);
	BAD("https://@example.com/", CRED_MSG);
	BAD("https://:@example.com/", CRED_MSG);
	/* an @ after the host is just a path character */
	OK("https://example.com/@user", "https://example.com/@user");
}

/* A11, A20: bad hosts and ports. */
static void test_bad_hosts_ports(void **state)
{
	(void)state;
	BAD("http://f:b/c", "port");
	BAD("http://f: /c", "spaces");
	BAD("http://f:999999/c", "port");
	BAD("http://example.com:65536/", "port"); /* A20 */
	BAD("http://example.com:-1/", "port");
	BAD("http://example.com:+80/", "port");
	BAD("http://exa mple.com/", "spaces");
	BAD("http://[::1", "host");
	BAD("http://ho%00st/", "host");
	BAD("http://ho%0ast/", NULL);
	BAD("http://exa%2fmple.com/", NULL);
	BAD("http://a..b/", "host");
	BAD("http://.example.com/", "host");
	BAD("http://[fe80::1%25eth0]/", "zone");
	BAD("http://ex<ample.com/", NULL);
	OK("http://example.com:0/", "http://example.com:0/"); /* A20: port 0 is valid */
	OK("http://example.com:8080", "http://example.com:8080/");
	OK("http://example.com:/x", "http://example.com/x");
	OK("http://exa%41mple.com/", "http://exaample.com/");
}

/* Hosts as the WHATWG URL Standard reads them (issue 11): every IPv4
 * notation a browser accepts becomes dotted decimal; a host that ends in a
 * number but is no IPv4 address is refused, as browsers refuse it; an xn--
 * label must be valid punycode. */
static void test_whatwg_hosts(void **state)
{
	(void)state;
	OK("http://0x.0x.0/", "http://0.0.0.0/");
	OK("http://0x/", "http://0.0.0.0/");
	OK("http://0xc0.0xa8.1/", "http://192.168.0.1/");
	OK("http://0300.0250.0.1/", "http://192.168.0.1/");
	OK("http://192.168.257/", "http://192.168.1.1/");
	OK("http://0xffffffff/", "http://255.255.255.255/");
	OK("http://1.2.3.4./", "http://1.2.3.4/");
	OK("http://4.2%2e116/", "http://4.2.0.116/");
	OK("http://0xg/", "http://0xg/");
	OK("http://1.2.3.4.example/", "http://1.2.3.4.example/");
	BAD("http://256.0.0.1/", "ends in a number");
	BAD("http://1.2.3.08/", "ends in a number");
	BAD("http://foo.0x4/", "ends in a number");
	BAD("http://example.123/", "ends in a number");
	BAD("http://4294967296/", "ends in a number");
	BAD("http://0x100000000/", "ends in a number");
	BAD("http://99999999999999999999999999/", "ends in a number");
	BAD("http://1.2.3.4.5/", "ends in a number");
	BAD("http://1.2.65536/", "ends in a number");
	BAD("http://1..2/", "ends in a number");
	OK("http://xn--bcher-kva.example/", "http://xn--bcher-kva.example/");
	OK("http://XN--BCHER-KVA.example/", "http://xn--bcher-kva.example/");
	BAD("http://xn--/", "xn-- label");
	BAD("http://xn--abc-.example/", "xn-- label");
	BAD("http://a.xn--zca-/", "xn-- label");
	BAD("http://xn--99999999999999/", "xn-- label");
	BAD("http://xn--a.example/", "xn-- label");
}

/* A12: private and loopback destinations are accepted (shorty never
 * fetches them; see the comment at the top of url.c). */
static void test_private_accepted(void **state)
{
	(void)state;
	OK("http://127.0.0.1/", "http://127.0.0.1/");
	OK("http://2130706433/", "http://127.0.0.1/");
	OK("http://0x7f.1/", "http://127.0.0.1/");
	OK("http://0177.0.0.1/", "http://127.0.0.1/");
	OK("http://127.1/", "http://127.0.0.1/");
	OK("http://[::1]/", "http://[::1]/");
	OK("http://[::ffff:127.0.0.1]/", NULL);
	OK("http://169.254.169.254/latest/meta-data/", "http://169.254.169.254/latest/meta-data/");
	OK("http://localhost./", "http://localhost./");
	OK("http://127.0.0.1.nip.io/", "http://127.0.0.1.nip.io/");
	OK("http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x");
}

/* A13, A19: IDN to punycode; non-ASCII bytes encoded; A17: bad UTF-8. */
static void test_idn_and_utf8(void **state)
{
	(void)state;
	OK("https://xn--pypal-4ve.com/", "https://xn--pypal-4ve.com/");
	OK("https://\xd1\x80\xd0\xb0\xd1\x83\xd1\x80\xd0\xb0l.com/", "https://xn--l-7sba6dbr.com/");
	OK("https://B\xc3\xbc\x63her.example/", "https://xn--bcher-kva.example/");
	OK("https://example.com/\xc3\xbc?q=\xc3\xbc#\xc3\xbc",
	   "https://example.com/%C3%BC?q=%C3%BC#%C3%BC");
	OK("https://example.com/%c3%bc", "https://example.com/%C3%BC");
	BAD("https://example.com/\xC3\x28", "UTF-8");
	BAD("https://example.com/\xC0\xAF", "UTF-8");
	BAD("https://example.com/\xED\xA0\x80", "UTF-8"); /* surrogate */
	BAD("https://example.com/\xF4\x90\x80\x80", "UTF-8");
	BAD("https://example.com/\xE2\x82", "UTF-8");
	BAD("https://example.com/\xff", "UTF-8");
	BAD("https://\xe2\x80\x8b.com/", "host"); /* zero-width space: empty label */
}

/* SPEC §3 normalizations. */
static void test_normalize(void **state)
{
	(void)state;
	OK("https://Example.COM:443/a/../b", "https://example.com/b");
	OK("http://example.com:80/", "http://example.com/");
	OK("http://example.com:443/", "http://example.com:443/");
	OK("https://example.com:80/", "https://example.com:80/");
	OK("https://example.com", "https://example.com/");
	OK("https://example.com?", "https://example.com/");
	OK("https://example.com/?#", "https://example.com/");
	OK("https://example.com/a/./b/../../c/.", "https://example.com/c/");
	OK("https://example.com/a/%2e%2e/b", "https://example.com/b");
	OK("https://example.com/a/%2E/b", "https://example.com/a/b");
	OK("https://example.com/../../x", "https://example.com/x");
	OK("https://example.com/a//b/", "https://example.com/a//b/");
	OK("https://example.com/%7euser/%41%42%2d%5F", "https://example.com/~user/AB-_");
	/* delimiters stay encoded, hex upper-cased */
	OK("https://example.com/a%2fb%3fc%23d%25e%26f%3dg%2bh",
	   "https://example.com/a%2Fb%3Fc%23d%25e%26f%3Dg%2Bh");
	OK("https://example.com/?a=1&b=2+3&c=%2B", "https://example.com/?a=1&b=2+3&c=%2B");
	/* characters not allowed raw get encoded; a "%" that starts no escape
	 * stays as it is, as browsers keep it (WHATWG; it was %25 before
	 * issue 11, which sent the browser to another resource) */
	OK("https://example.com/\"<>^`{|}", "https://example.com/%22%3C%3E%5E%60%7B%7C%7D");
	OK("https://example.com/100%", "https://example.com/100%");
	OK("https://example.com/%zz", "https://example.com/%zz");
	OK("https://example.com/foo%2zbar?%2#%", "https://example.com/foo%2zbar?%2#%");
	/* decoding never makes a kept "%" the start of a new escape */
	OK("https://example.com/%%34%31", "https://example.com/%%341");
	OK("https://example.com/%4%31", "https://example.com/%4%31");
	OK("https://example.com/%%34%31x", "https://example.com/%%341x");
	OK("https://example.com/a#b#c", "https://example.com/a#b%23c");
	OK("https://example.com/p?q=/a?b#f?/", "https://example.com/p?q=/a?b#f?/");
	OK("https://example.com/a[1]", "https://example.com/a%5B1%5D");
	OK("https://example.com/!$&'()*+,;=:@", "https://example.com/!$&'()*+,;=:@");
	OK("https://EXA_mple.com/", "https://exa_mple.com/");
	/* idempotent */
	const char *once = "https://example.com/%C3%BC/a%2Fb?x=%0D%0A#%23";
	OK(once, once);
}

/* A14: length. */
static void test_length(void **state)
{
	url_policy p;
	char *big;
	size_t n = 1024 * 1024;

	(void)state;
	url_policy_default(&p);
	assert_int_equal(p.max_length, 8192);
	big = malloc(n + 1);
	assert_non_null(big);
	memcpy(big, "https://example.com/", 20);
	memset(big + 20, 'a', n - 20);
	big[n] = '\0';
	check_p(&p, big, 8192, 0, NULL, NULL, __LINE__);
	check_p(&p, big, 8193, SH_ETOOBIG, NULL, "URL longer than 8192 bytes", __LINE__);
	check_p(&p, big, n, SH_ETOOBIG, NULL, "URL longer than 8192 bytes", __LINE__);
	p.max_length = 4096;
	check_p(&p, big, 4097, SH_ETOOBIG, NULL, "URL longer than 4096 bytes", __LINE__);
	check_p(&p, big, 4096, 0, NULL, NULL, __LINE__);
	/* surrounding white space does not count */
	memset(big, ' ', 10);
	memcpy(big + 10, "https://example.com/", 20);
	check_p(&p, big, 4106, 0, NULL, NULL, __LINE__);
	/* fits as input, too long once encoded */
	memcpy(big, "https://example.com/", 20);
	for (size_t i = 20; i + 1 < 4000; i += 2)
		memcpy(big + i, "\xc3\xbc", 2);
	check_p(&p, big, 4000, SH_ETOOBIG, NULL, "normalized", __LINE__);
	free(big);
}

/* A18: empty. */
static void test_empty(void **state)
{
	char *out = (char *)1;
	sh_err err = {0};

	(void)state;
	BAD("", "URL is required");
	BAD("   ", "URL is required");
	BAD("\t\r\n", "URL is required");
	assert_int_equal(url_normalize(NULL, NULL, 0, &out, &err), SH_EINVAL);
	assert_null(out);
}

/* A15, A16: self-reference and blocklist. */
static void test_blocked(void **state)
{
	url_policy p;
	const char *const blocked[] = {"evil.example", "malware.testing.google.test", "10.0.0.1",
	                               NULL};

	(void)state;
	url_policy_default(&p);
	p.blocked_hosts = blocked;
	p.self_host = "s.example.com";
	check_p(&p, "https://evil.example/x", 21, SH_EBLOCKED, NULL,
	        "the host evil.example is on the blocklist", __LINE__);
	check_p(&p, "https://WWW.Evil.Example./x", 26, SH_EBLOCKED, NULL, "blocklist", __LINE__);
	check_p(&p, "http://malware.testing.google.test/testing/malware/", 51, SH_EBLOCKED, NULL,
	        "blocklist", __LINE__);
	check_p(&p, "http://10.0.0.1/", 16, SH_EBLOCKED, NULL, "blocklist", __LINE__);
	check_p(&p, "https://notevil.example/", 24, 0, "https://notevil.example/", NULL, __LINE__);
	check_p(&p, "https://evil.example.org/", 25, 0, NULL, NULL, __LINE__);

	check_p(&p, "https://s.example.com/abc", 25, SH_EBLOCKED, NULL,
	        "the URL points back at this service (a redirect loop)", __LINE__);
	check_p(&p, "https://S.EXAMPLE.COM:443/abc", 29, SH_EBLOCKED, NULL, "redirect loop",
	        __LINE__);
	check_p(&p, "https://s.example.com./abc", 26, SH_EBLOCKED, NULL, "redirect loop", __LINE__);
	/* issue 12: whatever the scheme and port */
	check_p(&p, "https://s.example.com:8443/abc", 30, SH_EBLOCKED, NULL, "loop", __LINE__);
	check_p(&p, "http://s.example.com/abc", 24, SH_EBLOCKED, NULL, "loop", __LINE__);
	check_p(&p, "http://s.example.com:9000/abc", 29, SH_EBLOCKED, NULL, "loop", __LINE__);
	/* a subdomain is another service */
	check_p(&p, "https://www.s.example.com/abc", 29, 0, NULL, NULL, __LINE__);
}

#define LOOP(pp, in) check_p(pp, in, strlen(in), SH_EBLOCKED, NULL, "redirect loop", __LINE__)

/* Issue 12: loopback names and addresses, and the other names of the
 * service, in every spelling, are loops; other hosts are not. */
static void test_own_names(void **state)
{
	url_policy p;
	const char *const names[] = {"192.0.2.5", "[2001:db8::5]", "other.example", NULL};
	const char *loops[] = {
	    "http://localhost/",         "https://LOCALHOST:1/x",    "http://localhost./",
	    "http://a.b.localhost/",     "http://127.0.0.1/",        "http://127.9.8.7:80/",
	    "http://2130706433/",        "http://0x7f.1/",           "http://0177.0.0.1/",
	    "http://127.1/",             "http://0.0.0.0/",          "http://0/",
	    "http://[::1]/",             "http://[0:0:0:0:0:0:0:1]/", "http://[::]/",
	    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]:8000/", "http://[::127.0.0.1]/",
	    "http://192.0.2.5/",         "https://3221225989:99/",   "http://[::ffff:192.0.2.5]/",
	    "http://[2001:DB8:0::5]/",   "http://Other.Example./",   "https://s.example.com:1/"};
	const char *fine[] = {"http://10.0.0.1/", "http://169.254.169.254/", "http://[::2]/",
	                      "http://192.0.2.6/", "http://[2001:db8::6]/", "http://localhost.com/",
	                      "http://127.0.0.1.nip.io/", "http://sub.other.example/",
	                      "http://[::ffff:10.0.0.1]/"};

	(void)state;
	url_policy_default(&p);
	p.self_host = "s.example.com";
	p.self_names = names;
	for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++)
		LOOP(&p, loops[i]);
	for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++)
		check_p(&p, fine[i], strlen(fine[i]), 0, NULL, NULL, __LINE__);
	/* without a base URL (self_host NULL) nothing is a loop */
	p.self_host = NULL;
	check_p(&p, "http://127.0.0.1/", 17, 0, NULL, NULL, __LINE__);
}

static void test_scheme_policy(void **state)
{
	url_policy p;

	(void)state;
	url_policy_default(&p);
	p.schemes[0] = "https";
	p.schemes[1] = NULL;
	check_p(&p, "http://example.com/", 19, SH_EINVAL, NULL, "only https URLs are allowed",
	        __LINE__);
	check_p(&p, "https://example.com/", 20, 0, NULL, NULL, __LINE__);
	p.schemes[0] = "http";
	p.schemes[1] = "https";
	p.schemes[2] = "ftp";
	p.schemes[3] = NULL;
	check_p(&p, "FTP://Files.Example.com:21/pub/", 31, 0, "ftp://files.example.com/pub/", NULL,
	        __LINE__);
	check_p(&p, "gopher://x/", 11, SH_EINVAL, NULL, "only http, https and ftp URLs", __LINE__);
}

/*
 * `test_url --stdin`: the harness of tests/integration/test_url_whatwg.py.
 * Reads one URL per line, hex-encoded (so any byte can be given), and
 * normalizes it with the default policy; writes "OK <url>" or
 * "ERR <code> <message>" per line. Thousands of URLs per second, where the
 * CLI costs a process and a store per URL.
 */
static int normalize_stdin(void)
{
	char *line = NULL, *raw = NULL;
	size_t cap = 0;
	ssize_t n;

	if (url_global_init() != 0)
		return 1;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		size_t len = 0;
		char *out = NULL;
		sh_err err = {0};
		int rc;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		free(raw);
		raw = malloc((size_t)n / 2 + 1);
		if (!raw)
			break;
		for (ssize_t i = 0; i + 1 < n; i += 2) {
			unsigned v = 0;
			if (sscanf(line + i, "%2x", &v) != 1)
				break;
			raw[len++] = (char)v;
		}
		rc = url_normalize(NULL, raw, len, &out, &err);
		if (rc == 0)
			printf("OK %s\n", out);
		else
			printf("ERR %d %s\n", rc, err.msg);
		free(out);
	}
	free(raw);
	free(line);
	url_global_cleanup();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--stdin") == 0)
		return normalize_stdin();

	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_schemes),
	    cmocka_unit_test(test_controls),
	    cmocka_unit_test(test_encoded_crlf),
	    cmocka_unit_test(test_relative),
	    cmocka_unit_test(test_credentials),
	    cmocka_unit_test(test_bad_hosts_ports),
	    cmocka_unit_test(test_whatwg_hosts),
	    cmocka_unit_test(test_private_accepted),
	    cmocka_unit_test(test_idn_and_utf8),
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_length),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_blocked),
	    cmocka_unit_test(test_own_names),
	    cmocka_unit_test(test_scheme_policy),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

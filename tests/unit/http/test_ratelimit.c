/*
 * test_ratelimit.c — the per-address brakes (src/http/ratelimit.c): a
 * token a minute per address; the address that took its last one is
 * blocked, and stays blocked however many other addresses are blocked
 * after it (issue 12: "a brake never says 'not blocked' for an address it
 * blocked"). Runs in milliseconds, far inside the minute a token takes to
 * come back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/internal.h"

static const long one_a_minute[RL__COUNT] = {[RL_NOTFOUND] = 1};

static void addr(int i, char *buf, size_t n)
{
	snprintf(buf, n, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

static void test_one_token_then_blocked(void **state)
{
	(void)state;
	assert_int_equal(ratelimit_init(one_a_minute), 0);
	assert_int_equal(ratelimit_blocked(RL_NOTFOUND, "192.0.2.1"), 0);
	assert_int_equal(ratelimit_take(RL_NOTFOUND, "192.0.2.1"), 0);
	assert_int_equal(ratelimit_blocked(RL_NOTFOUND, "192.0.2.1"), 0);
	int wait = ratelimit_take(RL_NOTFOUND, "192.0.2.1");
	assert_in_range(wait, 59, 61); /* a token a minute */
	assert_in_range(ratelimit_blocked(RL_NOTFOUND, "192.0.2.1"), 59, 61);
	/* another address, and another kind, are not affected */
	assert_int_equal(ratelimit_blocked(RL_NOTFOUND, "192.0.2.2"), 0);
	assert_int_equal(ratelimit_take(RL_CREATE, "192.0.2.1"), 0); /* unlimited */
	ratelimit_free();
}

/*
 * 2,000 addresses each take their token and are blocked by the next take.
 * Every one of them must read as blocked afterwards. The tables hold 64 x
 * 256 buckets (31 addresses a shard here: an eighth full) and 4,096
 * lock-free slots (so about 40 % of the slots are shared and the checks
 * go to the buckets). A bucket used to be given to a new address when the
 * first slot of its probe window was taken, although a later one was free:
 * a blocked address was forgotten, and when its lock-free slot had since
 * been taken by another address it read as not blocked.
 */
static void test_no_blocked_address_forgotten(void **state)
{
	enum { N = 2000 };
	char ip[32];
	int forgotten = 0, first = -1;

	(void)state;
	assert_int_equal(ratelimit_init(one_a_minute), 0);
	for (int i = 0; i < N; i++) {
		addr(i, ip, sizeof ip);
		assert_int_equal(ratelimit_take(RL_NOTFOUND, ip), 0);
		assert_true(ratelimit_take(RL_NOTFOUND, ip) > 0);
	}
	for (int i = 0; i < N; i++) {
		addr(i, ip, sizeof ip);
		if (ratelimit_blocked(RL_NOTFOUND, ip) == 0) {
			forgotten++;
			if (first < 0)
				first = i;
		}
	}
	if (forgotten)
		print_error("%d of %d blocked addresses read as not blocked (first: index %d)\n",
		            forgotten, N, first);
	assert_int_equal(forgotten, 0);
	ratelimit_free();
}

/* An IPv6 address counts by its /64; an IPv4-mapped one as its IPv4. */
static void test_addresses_that_are_one_client(void **state)
{
	(void)state;
	assert_int_equal(ratelimit_init(one_a_minute), 0);
	assert_int_equal(ratelimit_take(RL_NOTFOUND, "2001:db8:1:2::1"), 0);
	assert_true(ratelimit_take(RL_NOTFOUND, "2001:db8:1:2:ffff::9") > 0);
	assert_true(ratelimit_blocked(RL_NOTFOUND, "2001:0db8:0001:0002:0:0:0:7") > 0);
	assert_int_equal(ratelimit_blocked(RL_NOTFOUND, "2001:db8:1:3::1"), 0);
	assert_int_equal(ratelimit_take(RL_NOTFOUND, "198.51.100.7"), 0);
	assert_true(ratelimit_take(RL_NOTFOUND, "::ffff:198.51.100.7") > 0);
	assert_true(ratelimit_blocked(RL_NOTFOUND, "198.51.100.7") > 0);
	ratelimit_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_token_then_blocked),
		cmocka_unit_test(test_no_blocked_address_forgotten),
		cmocka_unit_test(test_addresses_that_are_one_client),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_geoip.c — unit tests of service/geoip.c against a small MaxMind
 * database written at build time by tests/fixtures/make-geoip-db.pl
 * (GEOIP_TEST_DB): IPv4 and IPv6 records, a record with the country only,
 * a name cut at a character boundary, a miss, no database, files that are
 * not databases, Shlink's visitLocation JSON, and lookups from threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#include <cmocka.h>
#include <jansson.h>

#include "shorty/geoip.h"

static geoip *open_test_db(void)
{
	geoip *g = NULL;
	sh_err err = {0};

	if (geoip_open(GEOIP_TEST_DB, &g, &err) != 0)
		fail_msg("cannot open %s: %s", GEOIP_TEST_DB, err.msg);
	assert_non_null(g);
	return g;
}

/* Looks ip up and checks every field of the record. */
static void expect_location(const geoip *g, const char *ip, const geoip_location *want)
{
	geoip_location l;

	assert_int_equal(geoip_lookup(g, ip, &l), 0);
	assert_string_equal(l.country_code, want->country_code);
	assert_string_equal(l.country_name, want->country_name);
	assert_string_equal(l.region_name, want->region_name);
	assert_string_equal(l.city_name, want->city_name);
	assert_true(l.latitude == want->latitude);
	assert_true(l.longitude == want->longitude);
	assert_string_equal(l.timezone, want->timezone);
	assert_false(geoip_location_empty(&l));
}

static const geoip_location london = {"GB",    "United Kingdom", "England",      "London",
                                      51.5142, -0.0931,          "Europe/London"};

static void test_ipv4(void **state)
{
	geoip *g = open_test_db();

	expect_location(g, "81.2.69.160", &london);
	/* an IPv4 address written as IPv4-mapped IPv6 is the same record */
	expect_location(g, "::ffff:81.2.69.1", &london);
	geoip_close(g);
}

static void test_ipv6(void **state)
{
	/* the region is the first subdivision */
	static const geoip_location berlin = {"DE",    "Germany", "Land Berlin",  "Berlin",
	                                      52.5244, 13.4105,   "Europe/Berlin"};
	geoip *g = open_test_db();

	expect_location(g, "2a01:4f8:1:2::7", &berlin);
	geoip_close(g);
}

static void test_partial_records(void **state)
{
	geoip *g = open_test_db();
	geoip_location l;
	size_t n;

	/* country and coordinates only: the rest is "" */
	assert_int_equal(geoip_lookup(g, "1.2.3.4", &l), 0);
	assert_string_equal(l.country_code, "US");
	assert_string_equal(l.country_name, "United States");
	assert_string_equal(l.region_name, "");
	assert_string_equal(l.city_name, "");
	assert_string_equal(l.timezone, "");
	assert_true(l.latitude == 37.751);

	/* a 200-byte city name of two-byte characters: cut to whole characters */
	assert_int_equal(geoip_lookup(g, "5.6.7.8", &l), 0);
	n = strlen(l.city_name);
	assert_int_equal(n, 126);
	for (size_t i = 0; i < n; i += 2)
		assert_memory_equal(l.city_name + i, "\xc3\xa9", 2);
	assert_true(l.latitude == 0 && l.longitude == 0);
	geoip_close(g);
}

static void test_misses(void **state)
{
	geoip *g = open_test_db();
	geoip_location l;

	memset(&l, 'x', sizeof l);
	assert_int_equal(geoip_lookup(g, "10.0.0.1", &l), SH_ENOTFOUND);
	assert_true(geoip_location_empty(&l));
	assert_int_equal(geoip_lookup(g, "2a01:4f9::1", &l), SH_ENOTFOUND);
	assert_int_equal(geoip_lookup(g, "5.6.7.9", &l), SH_ENOTFOUND);
	assert_int_equal(geoip_lookup(g, "not an address", &l), SH_ENOTFOUND);
	assert_int_equal(geoip_lookup(g, "", &l), SH_ENOTFOUND);
	assert_int_equal(geoip_lookup(g, NULL, &l), SH_ENOTFOUND);
	assert_true(geoip_location_empty(&l));
	geoip_close(g);
}

static void test_no_database(void **state)
{
	geoip *g = (geoip *)1;
	sh_err err = {0};
	geoip_location l;

	assert_int_equal(geoip_open(NULL, &g, &err), 0);
	assert_null(g);
	assert_int_equal(geoip_open("", &g, &err), 0);
	assert_null(g);
	assert_int_equal(geoip_lookup(NULL, "81.2.69.160", &l), SH_ENOTFOUND);
	assert_true(geoip_location_empty(&l));
	geoip_close(NULL);
}

/* Writes n bytes to dir/name and checks that opening it is refused as not
 * a database; removes it. */
static void expect_not_a_database(const char *dir, const char *name, const void *data, size_t n)
{
	char path[128], want[256];
	geoip *g = (geoip *)1;
	sh_err err = {0};
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
	assert_int_equal(geoip_open(path, &g, &err), SH_EINVAL);
	assert_null(g);
	assert_string_equal(err.field, "geoip-db");
	snprintf(want, sizeof want, "%s is not a MaxMind-format (.mmdb) database: ", path);
	assert_memory_equal(err.msg, want, strlen(want));
	unlink(path);
}

static void test_bad_files(void **state)
{
	static const char text[] = "this is not a MaxMind database\n";
	char dir[] = "/tmp/shorty-geoip-XXXXXX", path[128], want[256], buf[8192];
	geoip *g = (geoip *)1;
	sh_err err = {0};
	FILE *in;
	size_t n;

	assert_non_null(mkdtemp(dir));

	snprintf(path, sizeof path, "%s/missing.mmdb", dir);
	assert_int_equal(geoip_open(path, &g, &err), SH_EINVAL);
	assert_null(g);
	assert_string_equal(err.field, "geoip-db");
	snprintf(want, sizeof want, "cannot read the GeoIP database %s: No such file or directory",
	         path);
	assert_string_equal(err.msg, want);

	expect_not_a_database(dir, "text.mmdb", text, sizeof text - 1);
	expect_not_a_database(dir, "empty.mmdb", "", 0); /* "...: the file is empty" */
	/* the test database cut in half: its metadata (at the end) is gone */
	in = fopen(GEOIP_TEST_DB, "rb");
	assert_non_null(in);
	n = fread(buf, 1, sizeof buf, in);
	fclose(in);
	expect_not_a_database(dir, "cut.mmdb", buf, n / 2);

	/* a directory */
	assert_int_equal(geoip_open(dir, &g, &err), SH_EINVAL);
	assert_null(g);
	snprintf(want, sizeof want,
	         "%s is not a MaxMind-format (.mmdb) database: not a regular file", dir);
	assert_string_equal(err.msg, want);
	rmdir(dir);
}

static void test_json(void **state)
{
	geoip *g = open_test_db();
	geoip_location l;
	json_t *j, *want;

	assert_int_equal(geoip_lookup(g, "81.2.69.160", &l), 0);
	j = geoip_location_json(&l);
	want = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:s, s:b}", "countryCode", "GB",
	                 "countryName", "United Kingdom", "regionName", "England", "cityName",
	                 "London", "latitude", 51.5142, "longitude", -0.0931, "timezone",
	                 "Europe/London", "isEmpty", 0);
	assert_true(json_equal(j, want));
	json_decref(j);
	json_decref(want);

	/* a miss: Shlink's empty location */
	assert_int_equal(geoip_lookup(g, "10.0.0.1", &l), SH_ENOTFOUND);
	j = geoip_location_json(&l);
	want = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:s, s:b}", "countryCode", "",
	                 "countryName", "", "regionName", "", "cityName", "", "latitude", 0.0,
	                 "longitude", 0.0, "timezone", "", "isEmpty", 1);
	assert_true(json_equal(j, want));
	json_decref(j);
	json_decref(want);
	geoip_close(g);
}

/* Lookups from several threads at once on one open database. */
struct worker {
	const geoip *g;
	int bad;
};

static void *lookups(void *arg)
{
	struct worker *w = arg;
	geoip_location l;

	for (int i = 0; i < 2000; i++) {
		const char *ip = (i & 1) ? "81.2.69.160" : "2a01:4f8::1";
		const char *city = (i & 1) ? "London" : "Berlin";
		if (geoip_lookup(w->g, ip, &l) != 0 || strcmp(l.city_name, city) != 0)
			w->bad++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	geoip *g = open_test_db();
	pthread_t t[4];
	struct worker w[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.g = g};
		assert_int_equal(pthread_create(&t[i], NULL, lookups, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].bad, 0);
	}
	geoip_close(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4),       cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_partial_records), cmocka_unit_test(test_misses),
	    cmocka_unit_test(test_no_database), cmocka_unit_test(test_bad_files),
	    cmocka_unit_test(test_json),       cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

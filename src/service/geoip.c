/*
 * geoip.c — client address to location, from a MaxMind-format database
 * (see shorty/geoip.h).
 *
 * libmaxminddb does the reading: it memory-maps the file and every lookup
 * only reads it, so one open database serves all threads. This file picks
 * Shlink's fields out of a record (GeoLite2LocationResolver: country
 * iso_code and English name, the first subdivision's English name, the
 * city's English name, location latitude, longitude and time_zone) and
 * writes them as Shlink's visitLocation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <maxminddb.h>

#include "shorty/geoip.h"
#include "service/mmdbload.h" /* libmaxminddb loaded when first used */

struct geoip {
	MMDB_s db;
};

int geoip_open(const char *path, geoip **out, sh_err *err)
{
	geoip *g;
	int rc;

	*out = NULL;
	if (!path || !*path)
		return 0;
	/* what libmaxminddb would report as mmap's EINVAL or ENODEV, said plainly */
	struct stat st;
	if (stat(path, &st) != 0)
		return sh_err_set(err, SH_EINVAL, "geoip-db", "cannot read the GeoIP database %s: %s",
		                  path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return sh_err_set(err, SH_EINVAL, "geoip-db",
		                  "%s is not a MaxMind-format (.mmdb) database: not a regular file",
		                  path);
	if (st.st_size == 0)
		return sh_err_set(err, SH_EINVAL, "geoip-db",
		                  "%s is not a MaxMind-format (.mmdb) database: the file is empty", path);
	rc = sh_mmdb_load(err);
	if (rc < 0)
		return rc;
	g = calloc(1, sizeof *g);
	if (!g)
		return sh_err_set(err, SH_ENOMEM, "geoip-db", "out of memory");
	errno = 0;
	rc = MMDB_open(path, MMDB_MODE_MMAP, &g->db);
	if (rc != MMDB_SUCCESS) {
		int e = errno;
		free(g);
		if (rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR)
			return sh_err_set(err, SH_EINVAL, "geoip-db",
			                  "cannot read the GeoIP database %s: %s", path,
			                  e ? strerror(e) : MMDB_strerror(rc));
		if (rc == MMDB_OUT_OF_MEMORY_ERROR)
			return sh_err_set(err, SH_ENOMEM, "geoip-db", "out of memory");
		return sh_err_set(err, SH_EINVAL, "geoip-db",
		                  "%s is not a MaxMind-format (.mmdb) database: %s", path,
		                  MMDB_strerror(rc));
	}
	*out = g;
	return 0;
}

void geoip_close(geoip *g)
{
	if (!g)
		return;
	MMDB_close(&g->db);
	free(g);
}

/* Copies a database string of n bytes into dst (size dstsz), cut at a
 * UTF-8 character boundary when too long. */
static void copy_utf8(char *dst, size_t dstsz, const char *s, size_t n)
{
	if (n >= dstsz) {
		n = dstsz - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--; /* s[n] would start the cut-off character: drop it whole */
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	/* a NUL inside the value ends it: the field stays a C string */
}

/* The string at a path of the record into dst; "" when absent. Returns
 * SH_ESTORE only when the record is corrupt. */
static int get_string(MMDB_entry_s *e, char *dst, size_t dstsz, const char *const *path)
{
	MMDB_entry_data_s d;
	int rc = MMDB_aget_value(e, &d, path);

	dst[0] = '\0';
	if (rc == MMDB_INVALID_DATA_ERROR || rc == MMDB_CORRUPT_SEARCH_TREE_ERROR)
		return SH_ESTORE;
	if (rc == MMDB_SUCCESS && d.has_data && d.type == MMDB_DATA_TYPE_UTF8_STRING)
		copy_utf8(dst, dstsz, d.utf8_string, d.data_size);
	return 0;
}

static int get_double(MMDB_entry_s *e, double *dst, const char *const *path)
{
	MMDB_entry_data_s d;
	int rc = MMDB_aget_value(e, &d, path);

	*dst = 0;
	if (rc == MMDB_INVALID_DATA_ERROR || rc == MMDB_CORRUPT_SEARCH_TREE_ERROR)
		return SH_ESTORE;
	if (rc == MMDB_SUCCESS && d.has_data) {
		if (d.type == MMDB_DATA_TYPE_DOUBLE)
			*dst = d.double_value;
		else if (d.type == MMDB_DATA_TYPE_FLOAT)
			*dst = d.float_value;
	}
	return 0;
}

int geoip_lookup(const geoip *g, const char *ip, geoip_location *loc)
{
	static const char *const country_code[] = {"country", "iso_code", NULL};
	static const char *const country_name[] = {"country", "names", "en", NULL};
	static const char *const region_name[] = {"subdivisions", "0", "names", "en", NULL};
	static const char *const city_name[] = {"city", "names", "en", NULL};
	static const char *const latitude[] = {"location", "latitude", NULL};
	static const char *const longitude[] = {"location", "longitude", NULL};
	static const char *const timezone[] = {"location", "time_zone", NULL};
	MMDB_lookup_result_s r;
	int gai = 0, mmdb = MMDB_SUCCESS;

	memset(loc, 0, sizeof *loc);
	if (!g || !ip)
		return SH_ENOTFOUND;
	r = MMDB_lookup_string(&g->db, ip, &gai, &mmdb);
	if (gai != 0 || mmdb == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
		return SH_ENOTFOUND; /* not an address, or IPv6 in an IPv4-only file */
	if (mmdb != MMDB_SUCCESS)
		return SH_ESTORE;
	if (!r.found_entry)
		return SH_ENOTFOUND;
	if (get_string(&r.entry, loc->country_code, sizeof loc->country_code, country_code) ||
	    get_string(&r.entry, loc->country_name, sizeof loc->country_name, country_name) ||
	    get_string(&r.entry, loc->region_name, sizeof loc->region_name, region_name) ||
	    get_string(&r.entry, loc->city_name, sizeof loc->city_name, city_name) ||
	    get_double(&r.entry, &loc->latitude, latitude) ||
	    get_double(&r.entry, &loc->longitude, longitude) ||
	    get_string(&r.entry, loc->timezone, sizeof loc->timezone, timezone)) {
		memset(loc, 0, sizeof *loc);
		return SH_ESTORE;
	}
	return 0;
}

bool geoip_location_empty(const geoip_location *loc)
{
	return !loc->country_code[0] && !loc->country_name[0] && !loc->region_name[0] &&
	       !loc->city_name[0] && loc->latitude == 0 && loc->longitude == 0 &&
	       !loc->timezone[0];
}

json_t *geoip_location_json(const geoip_location *loc)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:s, s:b}", "countryCode",
	                 loc->country_code, "countryName", loc->country_name, "regionName",
	                 loc->region_name, "cityName", loc->city_name, "latitude", loc->latitude,
	                 "longitude", loc->longitude, "timezone", loc->timezone, "isEmpty",
	                 geoip_location_empty(loc));
}

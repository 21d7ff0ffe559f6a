/*
 * geoip.h — where a client address is, from a MaxMind-format database
 * (service/geoip.c, over Debian's libmaxminddb).
 *
 * The operator points SHORTY_GEOIP_DB (--geoip-db) at a GeoLite2-City or
 * GeoIP2-City .mmdb file. A location is what Shlink records as a visit's
 * `visitLocation`: country code and name, region (first subdivision), city,
 * latitude, longitude and time zone, names in English, as Shlink's
 * GeoLite2LocationResolver reads them. No database configured means no
 * locations and no error; a file that is not a readable MaxMind database
 * is an error when it is opened (at start).
 *
 * An open database is read-only (memory-mapped): any number of threads may
 * look up addresses in it at once, without locks.
 */
#ifndef SHORTY_GEOIP_H
#define SHORTY_GEOIP_H

#include <stdbool.h>

#include <jansson.h>

#include "shorty/err.h"

typedef struct geoip geoip;

/* One location; every string is NUL-terminated UTF-8 ("" when the database
 * has no such field; a name longer than its field is cut at a character
 * boundary). */
typedef struct geoip_location {
	char country_code[4];   /* "US" */
	char country_name[96];  /* "United States" */
	char region_name[128];  /* "California" */
	char city_name[128];    /* "San Francisco" */
	double latitude;        /* 0 when unknown */
	double longitude;
	char timezone[64];      /* "America/Los_Angeles" */
} geoip_location;

/*
 * Opens the database at path. path NULL or "" means none: *out = NULL and
 * 0. Otherwise *out is the open database (geoip_close), or the file cannot
 * be used: SH_EINVAL with err naming the file and saying why (missing,
 * unreadable, not a MaxMind database, corrupt), field "geoip-db".
 */
int geoip_open(const char *path, geoip **out, sh_err *err);

/*
 * Looks up ip (IPv4 or IPv6 text) and fills *loc. Returns 0 when the
 * database has a record for the address; SH_ENOTFOUND when it has none,
 * when g is NULL (no database) or ip is not an address (then *loc is all
 * empty); SH_ESTORE when the database turns out corrupt at that record.
 */
int geoip_lookup(const geoip *g, const char *ip, geoip_location *loc);

/* Shlink's visitLocation object for loc: {countryCode, countryName,
 * regionName, cityName, latitude, longitude, timezone, isEmpty}. New
 * reference, NULL when out of memory. */
json_t *geoip_location_json(const geoip_location *loc);

/* Whether loc has nothing in it (Shlink's isEmpty). */
bool geoip_location_empty(const geoip_location *loc);

/* Closes g (NULL is fine). */
void geoip_close(geoip *g);

#endif

/*
 * admin_assets.h — the files of /admin, built by admin/build.mjs into a
 * generated C file (build/<preset>/admin_assets.c) and served by admin.c.
 */
#ifndef SHORTY_HTTP_ADMIN_ASSETS_H
#define SHORTY_HTTP_ADMIN_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

struct admin_asset {
	const char *url;  /* "/admin/" (index.html) or "/admin/assets/<name>-<hash>.<ext>" */
	const char *type; /* Content-Type */
	const char *data;
	size_t len;
	const char *gz; /* the gzip-compressed bytes, or NULL when they are not smaller */
	size_t gz_len;
	bool immutable; /* a content-hashed name: cached for a year */
};

/* Ends with a row whose url is NULL. */
extern const struct admin_asset admin_assets[];

#endif

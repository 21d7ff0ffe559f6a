/*
 * libs.c — `shorty --check-libs`: loads every library shorty loads when
 * first used (shorty/dynlib.h) and says which one is missing.
 *
 * A plain start maps none of them, so `shorty --version` proves only the
 * linked ones (SQLite, jansson, libsodium) are there: a container image
 * without libpq5 would start and fail only once pointed at PostgreSQL.
 * deploy/Containerfile runs this at build time instead, so that image is
 * never built. The table is the shims' own (src/<layer>/<name>load.c), so
 * the soname, Debian package and use printed are the ones the loader uses.
 */
#include <stdio.h>

#include "cli/cli.h"
#include "shorty/dynlib.h"

/* The shims' libraries (SH_DYNLIB_DEFINE in each *load.c). Only their
 * descriptions are named here: their headers need the libraries' own. */
extern sh_dynlib sh_curl_lib, sh_mhd_lib, sh_pq_lib, sh_xml_lib, sh_qrencode_lib, sh_png_lib,
    sh_mmdb_lib;

static sh_dynlib *const loaded_libs[] = {
    &sh_curl_lib, &sh_mhd_lib, &sh_pq_lib, &sh_xml_lib, &sh_qrencode_lib, &sh_png_lib, &sh_mmdb_lib,
};

int cli_check_libs(void)
{
	size_t i, missing = 0;

	for (i = 0; i < sizeof loaded_libs / sizeof loaded_libs[0]; i++) {
		sh_dynlib *l = loaded_libs[i];
		sh_err err = {0};

		if (sh_dynlib_load(l, &err) == 0) {
			printf("%-20s %-16s ok   %s\n", l->soname, l->package, l->use);
		} else {
			cli_error(CLI_FAIL, "%s", err.msg);
			missing++;
		}
	}
	if (missing)
		return cli_error(CLI_FAIL,
		                 "%zu of %zu libraries shorty loads when first used "
		                 "are missing (above)",
		                 missing, sizeof loaded_libs / sizeof loaded_libs[0]);
	return CLI_OK;
}

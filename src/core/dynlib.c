/*
 * dynlib.c — loading a library when first used (see shorty/dynlib.h).
 *
 * One lock for every library: loads happen a few times per process, so the
 * lock is never contended on a path that matters; after the load the check
 * is one atomic load. RTLD_LOCAL keeps the library's symbols out of the
 * global scope (nothing else resolves against them); RTLD_NOW finds a
 * missing symbol here, at load, not at some later call.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "shorty/dynlib.h"

static pthread_mutex_t dynlib_lock = PTHREAD_MUTEX_INITIALIZER;

int sh_dynlib_load(sh_dynlib *l, sh_err *err)
{
	const char *missing = NULL, *why = NULL;
	void *h;
	int rc = 0;

	if (atomic_load_explicit(&l->loaded, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&dynlib_lock);
	if (atomic_load_explicit(&l->loaded, memory_order_relaxed))
		goto out;
	h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		why = dlerror();
	} else if ((missing = l->fill(h)) != NULL) {
		dlclose(h);
	} else {
		atomic_store_explicit(&l->loaded, 1, memory_order_release);
		goto out;
	}
	if (missing)
		rc = sh_err_set(err, SH_EUNAVAIL, NULL,
		                "%s: %s has no %s (another version?): install the Debian "
		                "package %s",
		                l->use, l->soname, missing, l->package);
	else
		rc = sh_err_set(err, SH_EUNAVAIL, NULL,
		                "%s: %s could not be loaded (%s): install the Debian package %s",
		                l->use, l->soname, why ? why : "unknown reason", l->package);
out:
	pthread_mutex_unlock(&dynlib_lock);
	return rc;
}

void sh_dynlib_need(sh_dynlib *l)
{
	sh_err err = {0};

	if (sh_dynlib_load(l, &err) == 0)
		return;
	fprintf(stderr, "shorty: %s\n", err.msg);
	abort();
}

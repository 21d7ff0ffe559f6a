/*
 * fuzz_json.c — libFuzzer harness for Shlink JSON bodies (service/linkjson.c)
 * and the create / update path of the service behind them.
 *
 * Each input is parsed the way the HTTP server parses a body
 * (src/http/reply.c, http_body_json): refused when nested deeper than
 * HTTP_JSON_DEPTH_MAX (same scan as reply.c), then jansson with
 * JSON_REJECT_DUPLICATES, and it must be an object. The object is read as a
 * create body (linkjson_parse_create) and as an edit body
 * (linkjson_parse_update). A create that parses goes to svc_shorten over an
 * in-memory store opened once in LLVMFuzzerInitialize; when it succeeds,
 * the code must resolve to exactly the normalized URL (and the link must
 * hold it). The edit body is then applied to that link, which is deleted
 * at the end so the store does not grow and every input starts from the
 * same state. Nothing may crash or leak; a broken invariant aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "shorty/config.h"
#include "shorty/linkjson.h"
#include "shorty/service.h"
#include "shorty/store.h"
#include "shorty/url.h"

#define JSON_DEPTH_MAX 32 /* HTTP_JSON_DEPTH_MAX in src/http/internal.h */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sh_config cfg;
static store *st;
static svc *sv;
static svc_target *target;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	store_options o;
	sh_err err = {0};

	(void)argc;
	(void)argv;
	if (url_global_init() != 0 || cfg_init(&cfg, &err) != 0)
		abort();
	cfg.cache_entries = 256;
	store_options_default(&o);
	o.create = true;
	if (store_open(&st, "memory:", &o, &err) != 0 || store_migrate(st, &err) != 0 ||
	    svc_open(&sv, &cfg, st, &err) != 0) {
		fprintf(stderr, "fuzz_json: cannot open the service: %s\n", err.msg);
		abort();
	}
	target = malloc(svc_target_size(sv));
	if (!target)
		abort();
	return 0;
}


static void violation(const char *what, const char *a, const char *b)
{
	fprintf(stderr, "fuzz_json: %s: \"%s\" vs \"%s\"\n", what, a ? a : "(null)",
	        b ? b : "(null)");
	abort();
}

/* The code of l must resolve to want, and so must the stored link. */
static void check_resolves(const sh_link *l, const char *want)
{
	sh_link got = {0};

	if (svc_resolve_on(sv, st, l->domain_id, l->code, strlen(l->code), target, 1) != 0)
		violation("a created link does not resolve", l->code, want);
	if (strcmp(target->url, want) != 0 || target->url_len != strlen(want))
		violation("resolve gives another URL", target->url, want);
	/* by id: the link may be on a domain of its own (its code is per domain) */
	if (svc_get_by_id(sv, st, l->id, &got) != 0)
		violation("a created link cannot be read", l->code, want);
	if (strcmp(got.url, want) != 0)
		violation("the stored URL differs", got.url, want);
	sh_link_clear(&got);
}

static void create_and_update(json_t *obj)
{
	const char *tagv[SH_MAX_TAGS], *utagv[SH_MAX_TAGS];
	svc_create_req req;
	svc_update_req ureq;
	sh_link l = {0}, u = {0};
	sh_err err = {0};
	char *norm = NULL;
	bool existed = false;
	int rc, urc;

	urc = linkjson_parse_update(obj, &ureq, utagv, &err);
	rc = linkjson_parse_create(obj, &req, tagv, &err);
	if (rc != 0) {
		if (rc != SH_EINVAL || !err.msg[0])
			violation("a refused create body has no reason", err.msg, "");
		return;
	}
	if (!req.url)
		violation("a parsed create body has no URL", "", "");
	req.now = 1700000000;
	/* every link on the default domain: the edit and delete below find a
	 * link by its code there (domains have test_domains.py and the store
	 * suite) */
	req.domain = NULL;
	rc = svc_shorten(sv, st, &req, &l, &existed, &err);
	if (rc != 0) {
		if (rc >= 0 || !err.msg[0])
			violation("a refused create has no reason", err.msg, "");
		sh_link_clear(&l);
		return;
	}
	if (existed)
		violation("a dedupe hit in an empty store", l.code, l.url);
	if (url_normalize(svc_url_policy(sv), req.url, req.url_len ? req.url_len : strlen(req.url),
	                  &norm, &err) != 0)
		violation("svc_shorten accepted a URL url_normalize refuses", req.url, "");
	if (!l.url || strcmp(l.url, norm) != 0)
		violation("the created link does not hold the normalized URL", l.url, norm);
	check_resolves(&l, norm);

	if (urc == 0) {
		ureq.now = 1700000001;
		if (svc_update(sv, st, l.code, &ureq, &u, &err) == 0) {
			if (ureq.has_url) {
				char *n2 = NULL;
				if (url_normalize(svc_url_policy(sv), ureq.url, strlen(ureq.url), &n2,
				                  &err) != 0)
					violation("svc_update accepted a URL url_normalize refuses",
					          ureq.url, "");
				check_resolves(&u, n2);
				free(n2);
			} else {
				check_resolves(&u, norm);
			}
		}
		sh_link_clear(&u);
	}
	if (svc_delete(sv, st, l.code, 0, &err) != 0)
		violation("cannot delete the link just created", l.code, err.msg);
	if (svc_resolve_on(sv, st, l.domain_id, l.code, strlen(l.code), target, 1) != SH_ENOTFOUND)
		violation("a deleted link still resolves", l.code, "");
	free(norm);
	sh_link_clear(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *j;

	if (size == 0 || linkjson_depth((const char *)data, size, JSON_DEPTH_MAX) > JSON_DEPTH_MAX)
		return 0;
	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return 0;
	if (json_is_object(j))
		create_and_update(j);
	json_decref(j);
	return 0;
}

/*
 * curlload.h — libcurl, loaded when the first URL is parsed (a create, an
 * edit, a rule, `shorty add`) or the first page title is fetched
 * (shorty/dynlib.h): libcurl pulls in two TLS stacks (OpenSSL, GnuTLS through
 * librtmp), Kerberos, LDAP, SSH and HTTP/2 libraries, 5 MB of idle RSS in a
 * shorty that only redirects. Included instead of <curl/curl.h> by
 * src/core/url.c and src/service/titles.c: every curl_* name below becomes a
 * call through the table. url_normalize() and url_transfer_init() load it
 * first, so a missing libcurl is a clear error (SH_EUNAVAIL) there.
 *
 * curl_easy_setopt and curl_easy_getinfo lose the type checks of curl's
 * GCC macros (typecheck-gcc.h): the table's pointer replaces the macro.
 */
#ifndef SHORTY_CORE_CURLLOAD_H
#define SHORTY_CORE_CURLLOAD_H

#include <curl/curl.h>

#include "shorty/dynlib.h"

#define SH_CURL_FUNCS(X)                                                                   \
	X(curl_easy_cleanup) X(curl_easy_getinfo) X(curl_easy_init) X(curl_easy_perform)   \
	X(curl_easy_setopt) X(curl_easy_strerror) X(curl_free) X(curl_global_cleanup)      \
	X(curl_global_init) X(curl_slist_append) X(curl_slist_free_all) X(curl_url)        \
	X(curl_url_cleanup) X(curl_url_dup) X(curl_url_get) X(curl_url_set)                \
	X(curl_url_strerror) X(curl_version)

SH_DYNLIB_DECLARE(curl, SH_CURL_FUNCS)

#ifndef SH_CURLLOAD_FILL
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_cleanup (sh_curl()->curl_easy_cleanup)
#define curl_easy_getinfo (sh_curl()->curl_easy_getinfo)
#define curl_easy_init (sh_curl()->curl_easy_init)
#define curl_easy_perform (sh_curl()->curl_easy_perform)
#define curl_easy_setopt (sh_curl()->curl_easy_setopt)
#define curl_easy_strerror (sh_curl()->curl_easy_strerror)
#define curl_free (sh_curl()->curl_free)
#define curl_global_cleanup (sh_curl()->curl_global_cleanup)
#define curl_global_init (sh_curl()->curl_global_init)
#define curl_slist_append (sh_curl()->curl_slist_append)
#define curl_slist_free_all (sh_curl()->curl_slist_free_all)
#define curl_url (sh_curl()->curl_url)
#define curl_url_cleanup (sh_curl()->curl_url_cleanup)
#define curl_url_dup (sh_curl()->curl_url_dup)
#define curl_url_get (sh_curl()->curl_url_get)
#define curl_url_set (sh_curl()->curl_url_set)
#define curl_url_strerror (sh_curl()->curl_url_strerror)
#define curl_version (sh_curl()->curl_version)
#endif /* SH_CURLLOAD_FILL */

#endif

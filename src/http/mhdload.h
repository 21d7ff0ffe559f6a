/*
 * mhdload.h — libmicrohttpd, loaded when `--http-engine mhd` starts
 * (shorty/dynlib.h): the own engine (the default) never maps it nor GnuTLS
 * behind it. Included by http/internal.h after <microhttpd.h>: every MHD_*
 * name below becomes a call through the table, so the mhd engine's code
 * reads as plain libmicrohttpd.
 *
 * http_server_start() loads it (sh_mhd_load) for the mhd engine, so a
 * missing library is one clear error at start.
 *
 * Two functions both engines call are not the library's: MHD_http_unescape
 * (query strings, form bodies) and MHD_get_reason_phrase_for (status lines)
 * map onto sh_http_unescape and sh_http_reason (mhdload.c), which do what
 * libmicrohttpd 0.9.75 does, so that the own engine never loads it.
 */
#ifndef SHORTY_HTTP_MHDLOAD_H
#define SHORTY_HTTP_MHDLOAD_H

#include <stddef.h>

#include <microhttpd.h>

#include "shorty/dynlib.h"

#define SH_MHD_FUNCS(X)                                                                    \
	X(MHD_add_connection) X(MHD_add_response_header) X(MHD_create_post_processor)      \
	X(MHD_create_response_from_buffer) X(MHD_create_response_from_callback)            \
	X(MHD_del_response_header) X(MHD_destroy_post_processor) X(MHD_destroy_response)   \
	X(MHD_get_connection_info) X(MHD_get_connection_values)                            \
	X(MHD_get_connection_values_n) X(MHD_get_daemon_info) X(MHD_get_response_header)   \
	X(MHD_lookup_connection_value) X(MHD_post_process) X(MHD_queue_response)           \
	X(MHD_quiesce_daemon) X(MHD_resume_connection) X(MHD_run) X(MHD_set_connection_option) \
	X(MHD_set_connection_value) X(MHD_start_daemon) X(MHD_stop_daemon)                 \
	X(MHD_suspend_connection)

struct sh_mhd_fns {
#define SH_MHD_SLOT(f) __typeof__(f) *f;
	SH_MHD_FUNCS(SH_MHD_SLOT)
#undef SH_MHD_SLOT
};
extern struct sh_mhd_fns sh_mhd_fns;
extern sh_dynlib sh_mhd_lib;

/* Loads libmicrohttpd; 0, or SH_EUNAVAIL with a sentence in err. */
int sh_mhd_load(sh_err *err);

static inline struct sh_mhd_fns *sh_mhd(void)
{
	if (!atomic_load_explicit(&sh_mhd_lib.loaded, memory_order_acquire))
		sh_dynlib_need(&sh_mhd_lib);
	return &sh_mhd_fns;
}

/* libmicrohttpd's MHD_http_unescape: decodes every %XX in s in place and
 * keeps a '%' that starts no escape as it is ('+' is left to the caller);
 * returns the new length. */
size_t sh_http_unescape(char *s);

/* libmicrohttpd's MHD_get_reason_phrase_for: "Found" for 302, "Unknown"
 * for a status it has no phrase for. */
const char *sh_http_reason(unsigned status);

#ifndef SH_MHDLOAD_FILL
#define MHD_http_unescape sh_http_unescape
#define MHD_get_reason_phrase_for sh_http_reason
#define MHD_add_connection (sh_mhd()->MHD_add_connection)
#define MHD_add_response_header (sh_mhd()->MHD_add_response_header)
#define MHD_create_post_processor (sh_mhd()->MHD_create_post_processor)
#define MHD_create_response_from_buffer (sh_mhd()->MHD_create_response_from_buffer)
#define MHD_create_response_from_callback (sh_mhd()->MHD_create_response_from_callback)
#define MHD_del_response_header (sh_mhd()->MHD_del_response_header)
#define MHD_destroy_post_processor (sh_mhd()->MHD_destroy_post_processor)
#define MHD_destroy_response (sh_mhd()->MHD_destroy_response)
#define MHD_get_connection_info (sh_mhd()->MHD_get_connection_info)
#define MHD_get_connection_values (sh_mhd()->MHD_get_connection_values)
#define MHD_get_connection_values_n (sh_mhd()->MHD_get_connection_values_n)
#define MHD_get_daemon_info (sh_mhd()->MHD_get_daemon_info)
#define MHD_get_response_header (sh_mhd()->MHD_get_response_header)
#define MHD_lookup_connection_value (sh_mhd()->MHD_lookup_connection_value)
#define MHD_post_process (sh_mhd()->MHD_post_process)
#define MHD_queue_response (sh_mhd()->MHD_queue_response)
#define MHD_quiesce_daemon (sh_mhd()->MHD_quiesce_daemon)
#define MHD_resume_connection (sh_mhd()->MHD_resume_connection)
#define MHD_run (sh_mhd()->MHD_run)
#define MHD_set_connection_option (sh_mhd()->MHD_set_connection_option)
#define MHD_set_connection_value (sh_mhd()->MHD_set_connection_value)
#define MHD_start_daemon (sh_mhd()->MHD_start_daemon)
#define MHD_stop_daemon (sh_mhd()->MHD_stop_daemon)
#define MHD_suspend_connection (sh_mhd()->MHD_suspend_connection)
#endif /* SH_MHDLOAD_FILL */

#endif

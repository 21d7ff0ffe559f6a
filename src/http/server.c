/*
 * server.c — the HTTP service: libmicrohttpd setup, the request life cycle,
 * the per-thread workers, the writer thread (group commit) and shutdown.
 *
 * (First cut: http_serve exists so that `shorty serve` links; the server
 * itself lands in the next commits.)
 */
#include "shorty/http.h"
#include "http/internal.h"

int http_serve(const sh_config *cfg, sh_err *err)
{
	(void)cfg;
	return sh_err_set(err, SH_ESTORE, NULL, "the HTTP service is not built yet");
}

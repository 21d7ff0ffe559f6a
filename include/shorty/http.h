/*
 * http.h — the HTTP service (src/http/), entry point for `shorty serve`.
 */
#ifndef SHORTY_HTTP_H
#define SHORTY_HTTP_H

#include "shorty/config.h"
#include "shorty/err.h"

/*
 * Runs the service until SIGTERM/SIGINT: opens the store named by cfg->db,
 * migrates it, binds cfg->listen, starts the worker threads and the writer,
 * serves; on the signal stops accepting, finishes requests in flight, flushes
 * visits, closes the store. Returns 0 after a clean stop, or a negative
 * SH_E* with err saying what failed at start (bind, store).
 */
int http_serve(const sh_config *cfg, sh_err *err);

#endif

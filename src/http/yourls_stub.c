/*
 * yourls_stub.c — placeholder for the YOURLS API until src/http/yourls.c
 * lands: /yourls-api.php answers 501. Whoever adds yourls.c (defining
 * http_yourls, see internal.h) deletes this file in the same commit.
 */
#include "http/internal.h"

int http_yourls(http_req *r)
{
	return http_reply_problem(r, 501, NULL, "Not Implemented",
	                          "The YOURLS API is not available in this build yet.", NULL);
}

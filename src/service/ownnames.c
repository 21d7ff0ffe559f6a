/*
 * ownnames.c — the names under which this service can be reached, besides
 * its base URL's host, for the redirect-loop check of url_normalize
 * (issue 12: a long URL naming any of them, on any scheme and port, would
 * send visitors back here, or to a proxy in front of us).
 *
 * They are: the host of the `listen` address; when that is a wildcard
 * (0.0.0.0, [::]), every address of every interface of this machine,
 * since the service answers on all of them; and the machine's host name.
 * Loopback names and addresses are refused by url.c itself.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/internal.h"

#define OWN_NAMES_MAX 64 /* a machine with more addresses: the first 64 */

static int add(char **v, size_t *n, const char *name)
{
	if (*n >= OWN_NAMES_MAX || !name[0])
		return 0;
	v[*n] = strdup(name);
	if (!v[*n])
		return -1;
	(*n)++;
	return 0;
}

/* Every interface address, IPv6 ones in brackets as URLs write them. */
static int add_interfaces(char **v, size_t *n)
{
	struct ifaddrs *ifs, *i;
	int rc = 0;

	if (getifaddrs(&ifs) != 0)
		return 0; /* no list: the listen host and the loopback check remain */
	for (i = ifs; i && rc == 0; i = i->ifa_next) {
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN + 2];

		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET &&
		    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, a,
		              sizeof a))
			rc = add(v, n, a);
		else if (i->ifa_addr->sa_family == AF_INET6 &&
		         inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr,
		                   a, sizeof a)) {
			snprintf(b, sizeof b, "[%s]", a);
			rc = add(v, n, b);
		}
	}
	freeifaddrs(ifs);
	return rc;
}

char **svc__own_names(const char *listen)
{
	char **v = calloc(OWN_NAMES_MAX + 1, sizeof *v);
	char host[256];
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	size_t n = 0, hl = colon ? (size_t)(colon - listen) : 0;
	int rc = 0;

	if (!v)
		return NULL;
	if (hl > 0 && hl < sizeof host) {
		memcpy(host, listen, hl);
		host[hl] = '\0';
		if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0 ||
		    strcmp(host, "*") == 0)
			rc = add_interfaces(v, &n);
		else
			rc = add(v, &n, host);
	}
	if (rc == 0 && gethostname(host, sizeof host) == 0) {
		host[sizeof host - 1] = '\0';
		rc = add(v, &n, host);
	}
	if (rc != 0) {
		svc__own_names_free(v);
		return NULL;
	}
	return v;
}

void svc__own_names_free(char **v)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

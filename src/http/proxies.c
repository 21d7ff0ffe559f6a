/*
 * proxies.c — trusted proxies (SHORTY_TRUSTED_PROXIES) and the client
 * address of a request: the peer, or the X-Forwarded-For entry a trusted
 * proxy added.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shorty/log.h"
#include "http/engine.h"
#include "http/server.h"

/* ---- trusted proxies and the client address ----------------------------- */

static int cidr_parse(const char *s, size_t n, cidr *out)
{
	char buf[64];
	const char *slash;
	int maxbits;

	if (n == 0 || n >= sizeof(buf))
		return SH_EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (slash)
		buf[slash - buf] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		maxbits = 128;
	} else {
		return SH_EINVAL;
	}
	out->bits = maxbits;
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || b < 0 || b > maxbits)
			return SH_EINVAL;
		out->bits = (int)b;
	}
	return 0;
}

static bool cidr_match(const cidr *c, int family, const unsigned char *addr)
{
	int full, rest;

	if (c->family != family)
		return false;
	full = c->bits / 8;
	rest = c->bits % 8;
	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return false;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((c->addr[full] & mask) != (addr[full] & mask))
			return false;
	}
	return true;
}

static bool addr_trusted(http_server *S, const char *ip, size_t n)
{
	char buf[HTTP_IP_MAX];
	unsigned char a[16];
	int fam;

	if (S->ntrusted == 0 || n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, ip, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, a) == 1)
		fam = AF_INET;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		fam = AF_INET6;
	else
		return false;
	for (int i = 0; i < S->ntrusted; i++)
		if (cidr_match(&S->trusted[i], fam, a))
			return true;
	return false;
}

void http_trusted_init(http_server *S)
{
	const char *p = S->cfg->trusted_proxies;

	S->ntrusted = 0;
	while (p && *p && S->ntrusted < TRUSTED_MAX) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		const char *b = p;
		while (n && (*b == ' ' || *b == '\t')) {
			b++;
			n--;
		}
		while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
			n--;
		if (n && cidr_parse(b, n, &S->trusted[S->ntrusted]) == 0)
			S->ntrusted++;
		else if (n)
			log_msg(SH_LOG_WARN,
			        "trusted-proxies: ignoring \"%.*s\" (not an address or CIDR)",
			        (int)n, b);
		p = e ? e + 1 : NULL;
	}
}

void http_addr_text(const struct sockaddr *sa, char out[HTTP_IP_MAX])
{
	out[0] = '\0';
	if (!sa)
		return;
	if (sa->sa_family == AF_INET)
		svc_ip4_format(
		    (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    out);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
		          HTTP_IP_MAX);
}

/* The client address: the peer, or — when the peer is a trusted proxy — the
 * rightmost X-Forwarded-For entry that is not itself a trusted proxy. */
void http_client_ip(http_server *S, http_req *r)
{
	const char *xff;

	if (r->ec) { /* the own engine formats its peer once per connection */
		memcpy(r->ip, eng_peer_ip(r), HTTP_IP_MAX);
	} else {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		http_addr_text(ci ? ci->client_addr : NULL, r->ip);
	}
	if (S->ntrusted == 0 || !addr_trusted(S, r->ip, strlen(r->ip)))
		return;
	xff = http_header(r, "X-Forwarded-For");
	if (!xff)
		return;
	/* walk from the right, at most XFF_ENTRIES_MAX entries */
	size_t end = strlen(xff);
	for (int k = 0; k < XFF_ENTRIES_MAX && end > 0; k++) {
		size_t start = end;
		while (start > 0 && xff[start - 1] != ',')
			start--;
		size_t b = start, e = end;
		while (b < e && (xff[b] == ' ' || xff[b] == '\t'))
			b++;
		while (e > b && (xff[e - 1] == ' ' || xff[e - 1] == '\t'))
			e--;
		if (e > b && e - b < HTTP_IP_MAX) {
			char buf[HTTP_IP_MAX];
			unsigned char a[16];
			memcpy(buf, xff + b, e - b);
			buf[e - b] = '\0';
			if (inet_pton(AF_INET, buf, a) != 1 && inet_pton(AF_INET6, buf, a) != 1)
				return; /* garbage: keep what we have */
			memcpy(r->ip, buf, e - b + 1);
			if (!addr_trusted(S, buf, e - b))
				return;
		} else {
			return;
		}
		end = start ? start - 1 : 0;
	}
}

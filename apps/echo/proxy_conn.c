/* proxy_conn.c - what a connection's PROXY header (--proxy-protocol) tells the operator: counted, and logged with the real client's address. */
#include "proxy_conn.h"

#include "counters.h"
#include "log.h"
#include "options.h"
#include "proxy_hdr.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define ADDR_TEXT 64 /* "[IPv6]:port" */

static const struct {
	enum counter c;
	const char *what;
} fails[] = {
	[PF_EMPTY] = {C_PROXY_EMPTY, "closed before the PROXY header"},
	[PF_TRUNCATED] = {C_PROXY_ERR_TRUNC, "closed inside the PROXY header"},
	[PF_MISSING] = {C_PROXY_ERR_MISSING, "no PROXY header"},
	[PF_MALFORMED] = {C_PROXY_ERR_MALFORMED, "malformed PROXY header"},
	[PF_OVERSIZED] = {C_PROXY_ERR_OVERSIZED, "PROXY header too long"},
	[PF_TIMEOUT] = {C_PROXY_ERR_TIMEOUT, "no whole PROXY header in time"},
};

enum proxy_fail proxy_fail_of(long r)
{
	switch (-r) {
	case PROXY_HDR_E_MISSING:
		return PF_MISSING;
	case PROXY_HDR_E_OVERSIZED:
		return PF_OVERSIZED;
	default:
		return PF_MALFORMED;
	}
}

/* The balancer's address (fd's peer), for log lines only. */
static void peer_text(int fd, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(out, outlen, "?");
		return;
	}
	addr_format((struct sockaddr *)&ss, out, outlen);
}

void proxy_conn_header(int fd, const struct proxy_hdr *h, struct counters *ctr)
{
	char client[ADDR_TEXT], via[ADDR_TEXT];

	counter_add(ctr, h->local ? C_PROXY_LOCAL : C_PROXY_PROXIED, 1);
	/* LOCAL is what a balancer's own checks send: not worth a line at -v. */
	if (!log_enabled(h->local ? LOG_DEBUG : LOG_INFO))
		return;
	peer_text(fd, via, sizeof(via));
	if (h->local) {
		log_msg(LOG_DEBUG, "connection fd %d from %s: PROXY v%d without a client address", fd, via,
			h->version);
		return;
	}
	addr_format((const struct sockaddr *)&h->src, client, sizeof(client));
	log_msg(LOG_INFO, "connection fd %d from %s via %s (PROXY v%d)", fd, client, via, h->version);
}

void proxy_conn_failed(int fd, enum proxy_fail why, struct counters *ctr)
{
	char via[ADDR_TEXT];

	counter_add(ctr, fails[why].c, 1);
	if (!log_enabled(why == PF_EMPTY ? LOG_DEBUG : LOG_WARNING))
		return;
	peer_text(fd, via, sizeof(via));
	if (why == PF_EMPTY)
		log_msg(LOG_DEBUG, "connection fd %d from %s %s", fd, via, fails[why].what);
	else
		log_limited(LK_PROXY, LOG_WARNING, "connection fd %d from %s: %s; closed", fd, via,
			    fails[why].what);
}

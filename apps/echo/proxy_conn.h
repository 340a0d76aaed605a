/* proxy_conn.h - what a connection's PROXY header (--proxy-protocol) tells the operator: counted, and logged with the real client's address. */
#ifndef ECHO_PROXY_CONN_H
#define ECHO_PROXY_CONN_H

struct counters;
struct proxy_hdr;

/* How a connection's header phase ended without a header. */
enum proxy_fail {
	PF_EMPTY,     /* closed or reset before any byte: quiet (health checks do it all day) */
	PF_TRUNCATED, /* closed or reset inside the header */
	PF_MISSING,   /* the parser's reasons (proxy_hdr.h) */
	PF_MALFORMED,
	PF_OVERSIZED,
	PF_TIMEOUT, /* not whole within --proxy-header-timeout */
};

/* The reason for a negative proxy_hdr_parse result r. */
enum proxy_fail proxy_fail_of(long r);

/* fd's header came whole: count it; at -v, log the client it names and
 * the balancer it came through (fd's peer). */
void proxy_conn_header(int fd, const struct proxy_hdr *h, struct counters *ctr);

/* fd's header phase failed for why: count it and log it (rate-limited;
 * PF_EMPTY at debug only). The caller closes the connection. */
void proxy_conn_failed(int fd, enum proxy_fail why, struct counters *ctr);

#endif

/* proxy_hdr.h - the PROXY protocol header (v1 text, v2 binary) at the start of a connection, parsed from a buffer: a pure function, bounded, for --proxy-protocol (and a fuzzer). */
#ifndef ECHO_PROXY_HDR_H
#define ECHO_PROXY_HDR_H

#include <stddef.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107 /* the whole v1 line, CRLF included (the spec's limit) */
/* A v2 header longer than this is refused: 16 bytes, the longest address
 * block (216, AF_UNIX) and room for the TLVs balancers add (AWS, GCP, Azure
 * send a few dozen bytes). The spec allows up to 16 + 65535. */
#define PROXY_HDR_MAX 1024

/* Why a header was refused (returned negated). */
enum proxy_hdr_err {
	PROXY_HDR_E_MISSING = 1, /* the first bytes are neither v1's "PROXY " nor v2's signature */
	PROXY_HDR_E_MALFORMED,   /* a header, but not a valid one */
	PROXY_HDR_E_OVERSIZED,   /* v1 without CRLF within 107 bytes, v2 longer than PROXY_HDR_MAX */
};

/* What a complete header said. */
struct proxy_hdr {
	int version; /* 1 or 2 */
	/* 1: no client address to use (v2 LOCAL, as health checks send; v1
	 * UNKNOWN; v2 UNSPEC or AF_UNIX): the connection's own endpoints stand. */
	int local;
	struct sockaddr_storage src, dst; /* the client, and the address it reached (local: AF_UNSPEC) */
	size_t len;                       /* header bytes: what follows is the client's data */
};

/* Parse buf[0..len), the first bytes of a connection.
 * Returns the header's length (> 0) when it is complete and valid (out
 * filled; the bytes after it are the client's own), 0 when the bytes so
 * far are a valid beginning and more are needed (a peer that closes now
 * sent a truncated header), or -enum proxy_hdr_err.
 * v2 TLVs are skipped unread; only v2's PROXY command with TCP or UDP over
 * IPv4 or IPv6 gives addresses.
 * Reads nothing past buf + len; keeps no state between calls (call it
 * again on the whole buffer when more arrives); no allocation. */
long proxy_hdr_parse(const void *buf, size_t len, struct proxy_hdr *out);

/* "missing", "malformed", "oversized": for logs and metrics labels. */
const char *proxy_hdr_strerror(int err);

#endif

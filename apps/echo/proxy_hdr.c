/* proxy_hdr.c - the PROXY protocol header (v1 text, v2 binary) at the start of a connection, parsed from a buffer: a pure function, bounded, for --proxy-protocol (and a fuzzer). */
#include "proxy_hdr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* haproxy's doc/proxy-protocol.txt: the two signatures share no first byte. */
#define V1_SIG "PROXY "
#define V1_SIG_LEN 6
static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
#define V2_FIXED 16 /* signature, version and command, family, length */
#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_IPV4_LEN 12 /* two addresses of 4 bytes, two ports */
#define V2_IPV6_LEN 36
#define V2_UNIX_LEN 216
#define V1_FIELDS 5 /* TCP4|TCP6 SRC DST SPORT DPORT */

/* Whether buf[0..len) is a prefix of sig (or sig a prefix of it). */
static int prefix_of(const unsigned char *buf, size_t len, const void *sig, size_t siglen)
{
	return memcmp(buf, sig, len < siglen ? len : siglen) == 0;
}

static long fail(enum proxy_hdr_err e)
{
	return -(long)e;
}

/* ---- v1: "PROXY TCP4 1.2.3.4 5.6.7.8 1234 80\r\n" ---- */

/* "0".."65535", no sign, no leading zero (as every sender writes it). */
static int v1_port(const char *s, in_port_t *out)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = htons((in_port_t)v);
	return 0;
}

/* One address and port into ss; the address must be of family af. */
static int v1_endpoint(int af, const char *addr, const char *port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *in4 = (struct sockaddr_in *)ss;

		in4->sin_family = AF_INET;
		if (inet_pton(AF_INET, addr, &in4->sin_addr) != 1)
			return -1;
		return v1_port(port, &in4->sin_port);
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	in6->sin6_family = AF_INET6;
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) != 1)
		return -1;
	return v1_port(port, &in6->sin6_port);
}

/* Split line at single spaces into at most V1_FIELDS fields (in place);
 * the count, or -1 for an empty field or too many. */
static int v1_split(char *line, char *field[V1_FIELDS])
{
	int n = 0;

	for (char *p = line;;) {
		char *sp = strchr(p, ' ');

		if (n == V1_FIELDS || *p == ' ' || *p == '\0')
			return -1;
		field[n++] = p;
		if (!sp)
			return n;
		*sp = '\0';
		p = sp + 1;
	}
}

/* The fields after "PROXY ", NUL-terminated, without the CRLF. */
static long v1_fields(char *line, struct proxy_hdr *out)
{
	char *f[V1_FIELDS];
	int af, n;

	/* UNKNOWN: whatever follows is to be ignored (the spec). */
	if (strncmp(line, "UNKNOWN", 7) == 0 && (line[7] == '\0' || line[7] == ' ')) {
		out->local = 1;
		return 0;
	}
	n = v1_split(line, f);
	if (n != V1_FIELDS)
		return fail(PROXY_HDR_E_MALFORMED);
	if (strcmp(f[0], "TCP4") == 0)
		af = AF_INET;
	else if (strcmp(f[0], "TCP6") == 0)
		af = AF_INET6;
	else
		return fail(PROXY_HDR_E_MALFORMED);
	if (v1_endpoint(af, f[1], f[3], &out->src) != 0 || v1_endpoint(af, f[2], f[4], &out->dst) != 0)
		return fail(PROXY_HDR_E_MALFORMED);
	return 0;
}

/* The line's end (the index of its LF), 0 if not there yet, or an error:
 * only printable ASCII before the CR, and the CR only right before the LF. */
static long v1_line_end(const unsigned char *b, size_t len)
{
	size_t lim = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

	for (size_t i = V1_SIG_LEN; i < lim; i++) {
		if (b[i] == '\r') {
			if (i + 1 < len && b[i + 1] != '\n')
				return fail(PROXY_HDR_E_MALFORMED);
			continue;
		}
		if (b[i] == '\n')
			return b[i - 1] == '\r' ? (long)i : fail(PROXY_HDR_E_MALFORMED);
		if (b[i] < 0x20 || b[i] > 0x7e)
			return fail(PROXY_HDR_E_MALFORMED);
	}
	return len >= PROXY_V1_MAX ? fail(PROXY_HDR_E_OVERSIZED) : 0;
}

static long parse_v1(const unsigned char *b, size_t len, struct proxy_hdr *out)
{
	char line[PROXY_V1_MAX];
	long lf = v1_line_end(b, len), r;
	size_t n;

	if (lf <= 0)
		return lf;
	n = (size_t)lf - 1 - V1_SIG_LEN; /* between "PROXY " and the CR */
	memcpy(line, b + V1_SIG_LEN, n);
	line[n] = '\0';
	out->version = 1;
	r = v1_fields(line, out);
	if (r < 0)
		return r;
	out->len = (size_t)lf + 1;
	return (long)out->len;
}

/* ---- v2: signature, ver/cmd, family, length, addresses, TLVs ---- */

/* The version and command byte, and for PROXY the family byte, as soon as
 * they arrive: 0 if valid (or not here yet). */
static int v2_check_head(const unsigned char *b, size_t len)
{
	unsigned cmd;

	if (len <= 12)
		return 0;
	if ((b[12] >> 4) != 2)
		return -1;
	cmd = b[12] & 0xF;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return -1;
	if (len <= 13 || cmd == V2_CMD_LOCAL) /* LOCAL: the family is to be ignored */
		return 0;
	switch (b[13]) {
	case 0x00: /* UNSPEC */
	case 0x11: /* TCP over IPv4 */
	case 0x12: /* UDP over IPv4 */
	case 0x21: /* TCP over IPv6 */
	case 0x22: /* UDP over IPv6 */
	case 0x31: /* AF_UNIX stream */
	case 0x32: /* AF_UNIX datagram */
		return 0;
	default:
		return -1;
	}
}

static void v2_in4(struct sockaddr_storage *ss, const unsigned char *addr, const unsigned char *port)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	in4->sin_family = AF_INET;
	memcpy(&in4->sin_addr, addr, 4);
	memcpy(&in4->sin_port, port, 2); /* both already in network order */
}

static void v2_in6(struct sockaddr_storage *ss, const unsigned char *addr, const unsigned char *port)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	in6->sin6_family = AF_INET6;
	memcpy(&in6->sin6_addr, addr, 16);
	memcpy(&in6->sin6_port, port, 2);
}

/* The address block of a complete PROXY header (a is its start, alen its
 * length, TLVs included); what is past the addresses is left unread. */
static int v2_addresses(unsigned fam, const unsigned char *a, size_t alen, struct proxy_hdr *out)
{
	switch (fam >> 4) {
	case 1:
		if (alen < V2_IPV4_LEN)
			return -1;
		v2_in4(&out->src, a, a + 8);
		v2_in4(&out->dst, a + 4, a + 10);
		return 0;
	case 2:
		if (alen < V2_IPV6_LEN)
			return -1;
		v2_in6(&out->src, a, a + 32);
		v2_in6(&out->dst, a + 16, a + 34);
		return 0;
	case 3: /* a unix socket's path is no client address: keep the connection's */
		if (alen < V2_UNIX_LEN)
			return -1;
		out->local = 1;
		return 0;
	default: /* UNSPEC: the spec says to ignore the addresses */
		out->local = 1;
		return 0;
	}
}

static long parse_v2(const unsigned char *b, size_t len, struct proxy_hdr *out)
{
	size_t total;

	if (v2_check_head(b, len) != 0)
		return fail(PROXY_HDR_E_MALFORMED);
	if (len < V2_FIXED)
		return 0;
	total = V2_FIXED + ((size_t)b[14] << 8 | b[15]);
	if (total > PROXY_HDR_MAX)
		return fail(PROXY_HDR_E_OVERSIZED);
	if (len < total)
		return 0;
	out->version = 2;
	if ((b[12] & 0xF) == V2_CMD_LOCAL)
		out->local = 1;
	else if (v2_addresses(b[13], b + V2_FIXED, total - V2_FIXED, out) != 0)
		return fail(PROXY_HDR_E_MALFORMED);
	out->len = total;
	return (long)total;
}

long proxy_hdr_parse(const void *buf, size_t len, struct proxy_hdr *out)
{
	const unsigned char *b = buf;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return 0;
	if (prefix_of(b, len, v2_sig, sizeof(v2_sig)))
		return len < sizeof(v2_sig) ? 0 : parse_v2(b, len, out);
	if (prefix_of(b, len, V1_SIG, V1_SIG_LEN))
		return len < V1_SIG_LEN ? 0 : parse_v1(b, len, out);
	return fail(PROXY_HDR_E_MISSING);
}

const char *proxy_hdr_strerror(int err)
{
	switch (err) {
	case PROXY_HDR_E_MISSING:
		return "missing";
	case PROXY_HDR_E_MALFORMED:
		return "malformed";
	case PROXY_HDR_E_OVERSIZED:
		return "oversized";
	default:
		return "unknown";
	}
}

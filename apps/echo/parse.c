/* parse.c - the values of cport-echo's command line, parsed by pure functions: numbers, seconds, addresses (and a fuzzer's target). */
#include "parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_secs(const char *s, unsigned long *ms)
{
	double v;
	char *end;

	if (!((*s >= '0' && *s <= '9') || *s == '.'))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > 86400.0 * 365)
		return -1;
	*ms = (unsigned long)(v * 1000.0 + 0.5);
	if (v > 0 && *ms == 0)
		*ms = 1;
	return 0;
}

int parse_host(const char *host, unsigned port, struct listen_addr *la)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&la->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&la->ss;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);

	memset(la, 0, sizeof(*la));
	la->fd = -1;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return -1;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		host = buf;
	} else if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		la->len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
		return -1;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	la->len = sizeof(*in6);
	return 0;
}

int parse_listen(const char *arg, struct listen_addr *la)
{
	const char *colon = strrchr(arg, ':');
	unsigned long port;
	char host[INET6_ADDRSTRLEN + 2];
	size_t hlen;

	if (!colon || parse_ulong(colon + 1, 0, 65535, &port) != 0)
		return -1;
	hlen = (size_t)(colon - arg);
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, arg, hlen);
	host[hlen] = '\0';
	/* A bare IPv6 address has colons of its own: insist on brackets. */
	if (host[0] != '[' && strchr(host, ':'))
		return -1;
	return parse_host(host, (unsigned)port, la);
}

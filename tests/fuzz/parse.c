/* parse.c - libFuzzer target: the command line's value parsers (apps/echo/parse.c: ADDR:PORT, [ADDR6]:PORT, ADDR,
 * numbers, seconds) on any string, and what they promise: an address they take is a well-formed sockaddr that
 * reads back as itself, a number is within its range. */
#include "fuzz.h"
#include "parse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define MAX_SECS_MS (86400UL * 365 * 1000)

/* The address as cport-echo prints it ("ADDR:PORT", "[ADDR6]:PORT"), parsed again: the same sockaddr. */
static void check_reads_back(const struct listen_addr *la)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&la->ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&la->ss;
	char ip[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 16];
	struct listen_addr again;

	fuzz_check(la->fd == -1 && la->group == 0 && la->optional == 0, "the rest of listen_addr zeroed");
	if (la->ss.ss_family == AF_INET) {
		fuzz_check(la->len == sizeof(*in4), "sockaddr_in length");
		fuzz_check(inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip)) != NULL, "inet_ntop v4");
		snprintf(text, sizeof(text), "%s:%u", ip, ntohs(in4->sin_port));
	} else {
		fuzz_check(la->ss.ss_family == AF_INET6 && la->len == sizeof(*in6), "sockaddr_in6 and its length");
		fuzz_check(inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)) != NULL, "inet_ntop v6");
		snprintf(text, sizeof(text), "[%s]:%u", ip, ntohs(in6->sin6_port));
	}
	fuzz_check(parse_listen(text, &again) == 0, "its printed form parses");
	fuzz_check(again.len == la->len && !memcmp(&again.ss, &la->ss, la->len), "and reads back as itself");
}

static void check_values(const char *s)
{
	struct listen_addr la;
	unsigned long v, ms;

	if (parse_listen(s, &la) == 0)
		check_reads_back(&la);
	if (parse_host(s, 5150, &la) == 0)
		check_reads_back(&la);
	if (parse_ulong(s, 0, 65535, &v) == 0)
		fuzz_check(v <= 65535, "a port within 0..65535");
	if (parse_ulong(s, 1, 1024, &v) == 0)
		fuzz_check(v >= 1 && v <= 1024, "a number within 1..1024");
	if (parse_secs(s, &ms) == 0)
		fuzz_check(ms <= MAX_SECS_MS, "seconds up to a year");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A command-line argument ends at its first NUL; the copy ends right there, so ASan sees any read past it. */
	size_t n = strnlen((const char *)data, size);
	char *s = malloc(n + 1);

	fuzz_check(s != NULL, "malloc");
	memcpy(s, data, n);
	s[n] = '\0';
	check_values(s);
	free(s);
	return 0;
}

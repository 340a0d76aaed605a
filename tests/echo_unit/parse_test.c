/* parse_test.c - the command line's value parsers on their own (apps/echo/parse.c): the address forms of --listen,
 * --metrics and --bind, numbers and seconds, as cport-echo has always read them. */
#include "parse.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

static void assert_v4(const struct listen_addr *la, const char *ip, unsigned port)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&la->ss;
	char text[INET_ADDRSTRLEN];

	cr_assert_eq(in4->sin_family, AF_INET);
	cr_assert_eq(la->len, sizeof(*in4));
	cr_assert_eq(ntohs(in4->sin_port), port);
	cr_assert(inet_ntop(AF_INET, &in4->sin_addr, text, sizeof(text)));
	cr_assert_str_eq(text, ip);
	cr_assert_eq(la->fd, -1);
}

static void assert_v6(const struct listen_addr *la, const char *ip, unsigned port)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&la->ss;
	char text[INET6_ADDRSTRLEN];

	cr_assert_eq(in6->sin6_family, AF_INET6);
	cr_assert_eq(la->len, sizeof(*in6));
	cr_assert_eq(ntohs(in6->sin6_port), port);
	cr_assert(inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text)));
	cr_assert_str_eq(text, ip);
	cr_assert_eq(la->fd, -1);
}

Test(parse, listen_takes_ipv4_and_bracketed_ipv6_with_a_port)
{
	struct listen_addr la;

	cr_assert_eq(parse_listen("127.0.0.1:9107", &la), 0);
	assert_v4(&la, "127.0.0.1", 9107);
	cr_assert_eq(parse_listen("0.0.0.0:0", &la), 0);
	assert_v4(&la, "0.0.0.0", 0);
	cr_assert_eq(parse_listen("[::1]:65535", &la), 0);
	assert_v6(&la, "::1", 65535);
	cr_assert_eq(parse_listen("[::ffff:10.0.0.1]:7", &la), 0);
	assert_v6(&la, "::ffff:10.0.0.1", 7);
}

Test(parse, listen_refuses_what_is_not_addr_colon_port)
{
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", ":80", "::1:80", "[::1]", "[::1]:", "[::1:80", "::1]:80",
		"127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+1", "127.0.0.1: 1", "localhost:80",
		"[1.2.3.4]:80", "1.2.3:80", "[]:80", "[::1]:80x", "127.0.0.1:99999999999999999999999",
		"[0000:0000:0000:0000:0000:ffff:255.255.255.255:1]:1",
	};
	struct listen_addr la;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_listen(bad[i], &la), -1, "'%s' was taken", bad[i]);
}

Test(parse, host_takes_literals_with_or_without_brackets_never_names)
{
	struct listen_addr la;

	cr_assert_eq(parse_host("10.1.2.3", 80, &la), 0);
	assert_v4(&la, "10.1.2.3", 80);
	cr_assert_eq(parse_host("::", 5150, &la), 0);
	assert_v6(&la, "::", 5150);
	cr_assert_eq(parse_host("[fe80::1]", 1, &la), 0);
	assert_v6(&la, "fe80::1", 1);
	cr_assert_eq(parse_host("localhost", 80, &la), -1);
	cr_assert_eq(parse_host("[10.1.2.3]", 80, &la), -1);
	cr_assert_eq(parse_host("[", 80, &la), -1);
	cr_assert_eq(parse_host("[]", 80, &la), -1);
}

Test(parse, numbers_are_digits_only_within_their_range)
{
	unsigned long v = 7;

	cr_assert_eq(parse_ulong("0", 0, 65535, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(parse_ulong("65535", 0, 65535, &v), 0);
	cr_assert_eq(v, 65535);
	cr_assert_eq(parse_ulong("65536", 0, 65535, &v), -1);
	cr_assert_eq(parse_ulong("0", 1, 10, &v), -1);
	cr_assert_eq(parse_ulong("", 0, 10, &v), -1);
	cr_assert_eq(parse_ulong("-1", 0, ~0UL, &v), -1);
	cr_assert_eq(parse_ulong(" 1", 0, 10, &v), -1);
	cr_assert_eq(parse_ulong("1 ", 0, 10, &v), -1);
	cr_assert_eq(parse_ulong("99999999999999999999999", 0, ~0UL, &v), -1);
}

Test(parse, seconds_become_milliseconds_and_a_tiny_one_is_not_zero)
{
	unsigned long ms = 7;

	cr_assert_eq(parse_secs("1.5", &ms), 0);
	cr_assert_eq(ms, 1500);
	cr_assert_eq(parse_secs(".25", &ms), 0);
	cr_assert_eq(ms, 250);
	cr_assert_eq(parse_secs("0", &ms), 0);
	cr_assert_eq(ms, 0);
	cr_assert_eq(parse_secs("0.0001", &ms), 0);
	cr_assert_eq(ms, 1);
	cr_assert_eq(parse_secs("-1", &ms), -1);
	cr_assert_eq(parse_secs("inf", &ms), -1);
	cr_assert_eq(parse_secs("nan", &ms), -1);
	cr_assert_eq(parse_secs("1e300", &ms), -1);
	cr_assert_eq(parse_secs("31536001", &ms), -1);
	cr_assert_eq(parse_secs("1s", &ms), -1);
	cr_assert_eq(parse_secs("", &ms), -1);
}

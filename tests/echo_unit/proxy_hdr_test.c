/* proxy_hdr_test.c - the PROXY header parser on its own: v1 and v2, every prefix, every error, random and mutated
 * bytes; each buffer allocated to its exact length so that ASan (make SANITIZE=1) sees any read past it. */
#include "proxy_hdr.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define RANDOM_ROUNDS 20000
#define RANDOM_MAX_LEN 300

/* Parse a copy of s[0..n) that ends exactly where the buffer does. */
static long parse_exact(const void *s, size_t n, struct proxy_hdr *h)
{
	unsigned char *copy = malloc(n ? n : 1);
	long r;

	cr_assert(copy);
	memcpy(copy, s, n);
	r = proxy_hdr_parse(copy, n, h);
	free(copy);
	return r;
}

static void assert_every_prefix_needs_more(const void *s, size_t n)
{
	struct proxy_hdr h;

	for (size_t i = 0; i < n; i++)
		cr_assert_eq(parse_exact(s, i, &h), 0, "prefix of %zu bytes", i);
}

static void assert_in4(const struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;
	char text[INET_ADDRSTRLEN];

	cr_assert_eq(ss->ss_family, AF_INET);
	cr_assert(inet_ntop(AF_INET, &in4->sin_addr, text, sizeof(text)));
	cr_assert_str_eq(text, addr);
	cr_assert_eq(ntohs(in4->sin_port), port);
}

static void assert_in6(const struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
	char text[INET6_ADDRSTRLEN];

	cr_assert_eq(ss->ss_family, AF_INET6);
	cr_assert(inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text)));
	cr_assert_str_eq(text, addr);
	cr_assert_eq(ntohs(in6->sin6_port), port);
}

/* A v2 header: ver_cmd, fam, then body (addresses and TLVs) of blen bytes. */
static size_t v2_build(unsigned char *out, unsigned ver_cmd, unsigned fam, const void *body, size_t blen)
{
	static const unsigned char sig[12] = "\r\n\r\n\0\r\nQUIT\n";

	memcpy(out, sig, 12);
	out[12] = (unsigned char)ver_cmd;
	out[13] = (unsigned char)fam;
	out[14] = (unsigned char)(blen >> 8);
	out[15] = (unsigned char)blen;
	memcpy(out + 16, body, blen);
	return 16 + blen;
}

/* 10.1.2.3:40000 -> 10.9.8.7:7, then a TLV (PP2_TYPE_AUTHORITY "a.b"). */
static size_t v2_tcp4(unsigned char *out, int with_tlv)
{
	static const unsigned char body[] = {10, 1, 2, 3, 10, 9, 8, 7, 0x9c, 0x40, 0x00, 0x07,
					     0x02, 0x00, 0x03, 'a', '.', 'b'};

	return v2_build(out, 0x21, 0x11, body, with_tlv ? sizeof(body) : 12);
}

Test(proxy_hdr, a_v1_tcp4_line_parses_and_every_prefix_asks_for_more)
{
	const char *s = "PROXY TCP4 192.0.2.10 198.51.100.1 56324 7\r\n";
	struct proxy_hdr h;
	size_t n = strlen(s);

	assert_every_prefix_needs_more(s, n);
	cr_assert_eq(parse_exact(s, n, &h), (long)n);
	cr_assert_eq(h.version, 1);
	cr_assert_eq(h.local, 0);
	assert_in4(&h.src, "192.0.2.10", 56324);
	assert_in4(&h.dst, "198.51.100.1", 7);
}

Test(proxy_hdr, a_v1_tcp6_line_parses_and_the_data_after_it_is_not_consumed)
{
	const char *s = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\nhello";
	struct proxy_hdr h;

	cr_assert_eq(parse_exact(s, strlen(s), &h), (long)strlen(s) - 5);
	assert_in6(&h.src, "2001:db8::1", 65535);
	assert_in6(&h.dst, "::1", 0);
}

Test(proxy_hdr, v1_unknown_keeps_the_connections_own_address)
{
	static const char *const ok[] = {"PROXY UNKNOWN\r\n",
					 "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"};
	struct proxy_hdr h;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(parse_exact(ok[i], strlen(ok[i]), &h), (long)strlen(ok[i]), "%s", ok[i]);
		cr_assert_eq(h.local, 1);
		cr_assert_eq(h.src.ss_family, AF_UNSPEC);
	}
}

Test(proxy_hdr, the_longest_v1_line_is_107_bytes)
{
	char s[PROXY_V1_MAX + 1];
	struct proxy_hdr h;

	memset(s, 'x', sizeof(s));
	memcpy(s, "PROXY UNKNOWN ", 14);
	memcpy(s + PROXY_V1_MAX - 2, "\r\n", 2);
	cr_assert_eq(parse_exact(s, PROXY_V1_MAX, &h), PROXY_V1_MAX);
	memcpy(s + PROXY_V1_MAX - 2, "x\r\n", 3);
	cr_assert_eq(parse_exact(s, PROXY_V1_MAX, &h), -PROXY_HDR_E_OVERSIZED);
	cr_assert_eq(parse_exact(s, PROXY_V1_MAX + 1, &h), -PROXY_HDR_E_OVERSIZED);
}

Test(proxy_hdr, a_v2_tcp4_header_with_a_tlv_parses_and_every_prefix_asks_for_more)
{
	unsigned char b[64];
	struct proxy_hdr h;
	size_t n = v2_tcp4(b, 1);

	assert_every_prefix_needs_more(b, n);
	cr_assert_eq(parse_exact(b, n, &h), (long)n);
	cr_assert_eq(h.version, 2);
	cr_assert_eq(h.local, 0);
	assert_in4(&h.src, "10.1.2.3", 40000);
	assert_in4(&h.dst, "10.9.8.7", 7);
	memcpy(b + n, "echo", 4);
	cr_assert_eq(parse_exact(b, n + 4, &h), (long)n);
}

Test(proxy_hdr, a_v2_tcp6_header_parses)
{
	unsigned char body[36] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1, [31] = 1, 0x12, 0x34, 0x00, 0x50};
	unsigned char b[64];
	struct proxy_hdr h;
	size_t n = v2_build(b, 0x21, 0x21, body, sizeof(body));

	cr_assert_eq(parse_exact(b, n, &h), (long)n);
	assert_in6(&h.src, "2001:db8::1", 0x1234);
	assert_in6(&h.dst, "::1", 80);
}

/* A health check (LOCAL), UNSPEC and AF_UNIX carry no client address. */
Test(proxy_hdr, v2_local_unspec_and_unix_keep_the_connections_own_address)
{
	unsigned char unix_body[216] = {0};
	unsigned char b[300];
	struct proxy_hdr h;
	size_t n;

	n = v2_build(b, 0x20, 0x00, "", 0);
	cr_assert_eq(parse_exact(b, n, &h), 16);
	cr_assert_eq(h.local, 1);
	n = v2_build(b, 0x20, 0x99, "anything", 8); /* LOCAL: the family is ignored */
	cr_assert_eq(parse_exact(b, n, &h), 24);
	cr_assert_eq(h.local, 1);
	n = v2_build(b, 0x21, 0x00, "", 0);
	cr_assert_eq(parse_exact(b, n, &h), 16);
	cr_assert_eq(h.local, 1);
	n = v2_build(b, 0x21, 0x31, unix_body, sizeof(unix_body));
	cr_assert_eq(parse_exact(b, n, &h), (long)n);
	cr_assert_eq(h.local, 1);
}

Test(proxy_hdr, the_longest_v2_header_is_proxy_hdr_max)
{
	static unsigned char body[PROXY_HDR_MAX];
	static unsigned char b[PROXY_HDR_MAX + 16];
	struct proxy_hdr h;
	size_t n;

	memcpy(body, (const unsigned char[]){127, 0, 0, 1, 127, 0, 0, 2, 0, 1, 0, 2}, 12);
	n = v2_build(b, 0x21, 0x11, body, PROXY_HDR_MAX - 16);
	cr_assert_eq(parse_exact(b, n, &h), PROXY_HDR_MAX);
	n = v2_build(b, 0x21, 0x11, body, PROXY_HDR_MAX - 15);
	cr_assert_eq(parse_exact(b, 16, &h), -PROXY_HDR_E_OVERSIZED); /* known from the length */
	cr_assert_eq(parse_exact(b, n, &h), -PROXY_HDR_E_OVERSIZED);
}

/* Each bad header is refused with its reason at the byte that decides it. */
Test(proxy_hdr, errors_come_with_their_reason_at_the_deciding_byte)
{
	static const struct {
		const char *s;
		size_t len; /* 0: strlen */
		size_t at;  /* bytes after which the reason is known */
		long err;
	} bad[] = {
		{"GET / HTTP/1.1\r\n", 0, 1, -PROXY_HDR_E_MISSING},
		{"PROXx", 0, 5, -PROXY_HDR_E_MISSING},
		{"\r\n\r\n\0\r\nQUIx", 12, 12, -PROXY_HDR_E_MISSING},
		{"\r\n\r\n\0\r\nQUIT\n\x11\x11\0\0", 16, 13, -PROXY_HDR_E_MALFORMED}, /* version 1 */
		{"\r\n\r\n\0\r\nQUIT\n\x22\x11\0\0", 16, 13, -PROXY_HDR_E_MALFORMED}, /* command 2 */
		{"\r\n\r\n\0\r\nQUIT\n\x21\x13\0\0", 16, 14, -PROXY_HDR_E_MALFORMED}, /* family */
		{"\r\n\r\n\0\r\nQUIT\n\x21\x11\0\x04" "abcd", 20, 20, -PROXY_HDR_E_MALFORMED}, /* short */
		{"\r\n\r\n\0\r\nQUIT\n\x21\x21\0\x0c" "abcdefghijkl", 28, 28, -PROXY_HDR_E_MALFORMED},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 0, 31, -PROXY_HDR_E_MALFORMED},      /* bare LF */
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", 0, 32, -PROXY_HDR_E_MALFORMED},     /* bare CR */
		{"PROXY TCP4 1.2.3.4\x01", 0, 19, -PROXY_HDR_E_MALFORMED},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 0, 34, -PROXY_HDR_E_MALFORMED},  /* a field more */
		{"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", 0, 33, -PROXY_HDR_E_MALFORMED},   /* two spaces */
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", 0, 33, -PROXY_HDR_E_MALFORMED},   /* trailing */
		{"PROXY TCP4 ::1 ::2 1 2\r\n", 0, 24, -PROXY_HDR_E_MALFORMED},           /* v6 in TCP4 */
		{"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", 0, 32, -PROXY_HDR_E_MALFORMED},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", 0, 36, -PROXY_HDR_E_MALFORMED},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", 0, 33, -PROXY_HDR_E_MALFORMED},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", 0, 33, -PROXY_HDR_E_MALFORMED},
		{"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", 0, 30, -PROXY_HDR_E_MALFORMED},
		{"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", 0, 32, -PROXY_HDR_E_MALFORMED},
		{"PROXY \r\n", 0, 8, -PROXY_HDR_E_MALFORMED},
	};
	struct proxy_hdr h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = bad[i].len ? bad[i].len : strlen(bad[i].s);

		assert_every_prefix_needs_more(bad[i].s, bad[i].at - 1);
		cr_assert_eq(parse_exact(bad[i].s, bad[i].at, &h), bad[i].err, "case %zu", i);
		cr_assert_eq(parse_exact(bad[i].s, n, &h), bad[i].err, "case %zu", i);
	}
}

static void assert_documented(long r, size_t n, const struct proxy_hdr *h)
{
	cr_assert(r == 0 || r == -PROXY_HDR_E_MISSING || r == -PROXY_HDR_E_MALFORMED ||
			  r == -PROXY_HDR_E_OVERSIZED || (r > 0 && (size_t)r <= n && (size_t)r == h->len),
		  "answer %ld for %zu bytes", r, n);
}

/* Anything at all: an answer in the documented set, and no read past the end. */
Test(proxy_hdr, random_bytes_get_a_documented_answer)
{
	unsigned seed = 862;
	unsigned char buf[RANDOM_MAX_LEN];
	struct proxy_hdr h;

	for (int round = 0; round < RANDOM_ROUNDS; round++) {
		size_t n = (size_t)rand_r(&seed) % RANDOM_MAX_LEN;

		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)rand_r(&seed);
		if (n >= 6 && round % 3 == 0)
			memcpy(buf, "PROXY ", 6); /* get past the signatures too */
		if (n >= 12 && round % 3 == 1)
			memcpy(buf, "\r\n\r\n\0\r\nQUIT\n", 12);
		assert_documented(parse_exact(buf, n, &h), n, &h);
	}
}

/* Valid headers with one byte changed, cut anywhere: still a documented answer. */
Test(proxy_hdr, mutated_headers_get_a_documented_answer)
{
	unsigned seed = 7;
	unsigned char v2[64];
	const char *v1 = "PROXY TCP6 2001:db8::1 2001:db8::2 56324 7\r\n";
	size_t n2 = v2_tcp4(v2, 1), n1 = strlen(v1);
	unsigned char buf[64];
	struct proxy_hdr h;

	for (int round = 0; round < RANDOM_ROUNDS; round++) {
		int use_v1 = round & 1;
		size_t n = use_v1 ? n1 : n2;

		memcpy(buf, use_v1 ? (const void *)v1 : v2, n);
		buf[(size_t)rand_r(&seed) % n] = (unsigned char)rand_r(&seed);
		n = (size_t)rand_r(&seed) % (n + 1);
		assert_documented(parse_exact(buf, n, &h), n, &h);
	}
}

Test(proxy_hdr, reasons_have_names)
{
	cr_assert_str_eq(proxy_hdr_strerror(PROXY_HDR_E_MISSING), "missing");
	cr_assert_str_eq(proxy_hdr_strerror(PROXY_HDR_E_MALFORMED), "malformed");
	cr_assert_str_eq(proxy_hdr_strerror(PROXY_HDR_E_OVERSIZED), "oversized");
}

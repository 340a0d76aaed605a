/* http_req_test.c - the metrics request parser on its own: every prefix, every status, random bytes; each buffer
 * allocated to its exact length so that ASan (make SANITIZE=1) sees any read past it. */
#include "http_req.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define RANDOM_ROUNDS 20000
#define RANDOM_MAX_LEN 300

/* Parse a copy of s[0..n) that ends exactly where the buffer does. */
static long parse_exact(const char *s, size_t n, struct http_req *q)
{
	char *copy = malloc(n ? n : 1);
	long r;

	cr_assert(copy);
	memcpy(copy, s, n);
	r = http_req_parse(copy, n, q);
	free(copy);
	return r;
}

static void assert_every_prefix_needs_more(const char *s, size_t n)
{
	struct http_req q;

	for (size_t i = 0; i < n; i++)
		cr_assert_eq(parse_exact(s, i, &q), 0, "prefix of %zu bytes of %s", i, s);
}

Test(http_req, a_whole_get_parses_and_every_prefix_asks_for_more)
{
	static const char *const ok[] = {
		"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /metrics?a=b HTTP/1.0\n\n",
		"HEAD /metrics HTTP/1.1\r\nhost:x\r\nAccept: */*\r\nContent-Length: 0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]:9107\r\nUser-Agent: Prometheus/2.42.0\r\n\r\n",
	};
	struct http_req q;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t n = strlen(ok[i]);

		assert_every_prefix_needs_more(ok[i], n);
		cr_assert_eq(parse_exact(ok[i], n, &q), (long)n, "%s", ok[i]);
	}
}

Test(http_req, the_method_and_target_point_into_the_buffer)
{
	const char *s = "HEAD /metrics?x HTTP/1.1\r\nHost: x\r\n\r\npipelined";
	struct http_req q;

	cr_assert_eq(http_req_parse(s, strlen(s), &q), (long)strlen(s) - 9);
	cr_assert_eq(q.method, s);
	cr_assert_eq(q.method_len, 4);
	cr_assert_eq(q.target, s + 5);
	cr_assert_eq(q.target_len, 10);
	cr_assert_eq(q.minor, 1);
}

/* Each bad request is refused with its status at the byte that decides it. */
Test(http_req, errors_come_with_their_status_at_the_deciding_byte)
{
	static const struct {
		const char *s;
		size_t at; /* bytes after which the status is known */
		long status;
	} bad[] = {
		{"\x16\x03\x01", 1, -400},
		{"GET metrics HTTP/1.1\r\n", 5, -400},
		{"GET /a b HTTP/1.1\r\n", 8, -400},
		{"GET /metrics HTTP/2.0\r\n", 21, -505},
		{"GET /metrics HTTQ/1.1\r\n", 17, -400},
		{"GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n", 24, -400},
		{"GET /metrics HTTP/1.1\r\nA\x01: x\r\n", 25, -400},
		{"GET /metrics HTTP/1.1\r\nA: x\x01\r\n", 28, -400},
		{"GET /metrics HTTP/1.1\rX", 23, -400},
		{"ABCDEFGHIJKLMNOPQ /metrics HTTP/1.1\r\n", 17, -501},
	};
	struct http_req q;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_every_prefix_needs_more(bad[i].s, bad[i].at - 1);
		cr_assert_eq(parse_exact(bad[i].s, bad[i].at, &q), bad[i].status, "%s", bad[i].s);
		cr_assert_eq(parse_exact(bad[i].s, strlen(bad[i].s), &q), bad[i].status, "%s", bad[i].s);
	}
}

Test(http_req, whole_heads_that_are_refused)
{
	static const struct {
		const char *s;
		long status;
	} bad[] = {
		{"GET /metrics HTTP/1.1\r\n\r\n", -400},                        /* no Host */
		{"GET /metrics HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", -400},  /* two */
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n", -413},
		{"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", -413},
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n", -400},
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", -400},
	};
	struct http_req q;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_exact(bad[i].s, strlen(bad[i].s), &q), bad[i].status, "%s", bad[i].s);
}

Test(http_req, limits_on_target_fields_and_names)
{
	char buf[HTTP_TARGET_MAX + 64];
	struct http_req q;

	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', HTTP_TARGET_MAX);
	cr_assert_eq(parse_exact(buf, 5 + HTTP_TARGET_MAX, &q), -414);
	cr_assert_eq(http_req_too_long(buf, 5 + HTTP_TARGET_MAX - 10), 414);
	cr_assert_eq(http_req_too_long("GET / HTTP/1.1\r\nX: aaaa", 24), 431);

	char many[16 + 6 * (HTTP_HEADERS_MAX + 1) + 3] = "GET / HTTP/1.1\r\n";
	for (int i = 0; i <= HTTP_HEADERS_MAX; i++)
		strcat(many, "X: y\r\n");
	strcat(many, "\r\n");
	cr_assert_eq(parse_exact(many, strlen(many), &q), -431);

	char name[64 + HTTP_FIELD_NAME_MAX] = "GET / HTTP/1.1\r\n";
	memset(name + 16, 'N', HTTP_FIELD_NAME_MAX + 1);
	cr_assert_eq(parse_exact(name, 16 + HTTP_FIELD_NAME_MAX + 1, &q), -431);
}

/* Anything at all: an answer in the documented set, and no read past the end. */
Test(http_req, random_bytes_get_a_documented_answer)
{
	unsigned seed = 862;
	char buf[RANDOM_MAX_LEN];
	struct http_req q;

	for (int round = 0; round < RANDOM_ROUNDS; round++) {
		size_t n = (size_t)rand_r(&seed) % RANDOM_MAX_LEN, start = 0;

		if (round % 2) { /* half of them begin like a request */
			start = strlen("GET /metrics HTTP/1.1\r\n");
			memcpy(buf, "GET /metrics HTTP/1.1\r\n", start);
		}
		for (size_t i = start; i < n + start && i < sizeof(buf); i++)
			buf[i] = (char)(round % 3 ? rand_r(&seed) % 128 : rand_r(&seed));
		n = n + start < sizeof(buf) ? n + start : sizeof(buf);
		long r = parse_exact(buf, n, &q);
		cr_assert(r >= 0 ? (size_t)r <= n
				 : r == -400 || r == -413 || r == -414 || r == -431 || r == -501 || r == -505,
			  "round %d: %ld", round, r);
	}
}

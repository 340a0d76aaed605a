/* http_req.c - libFuzzer target: the metrics HTTP request parser (apps/echo/http_req.c) on any bytes, and the
 * promises of http_req.h: only documented answers, pointers inside the buffer, and the answer of a prefix
 * agrees with the whole (a valid beginning stays one, a decision once made stays made). */
#include "fuzz.h"
#include "http_req.h"

static int documented(long r)
{
	return r >= 0 || r == -400 || r == -413 || r == -414 || r == -431 || r == -501 || r == -505;
}

static void check_whole_head(const char *buf, size_t len, long r, const struct http_req *q)
{
	struct http_req again;

	fuzz_check((size_t)r <= len && q->head_len == (size_t)r, "head_len within the input");
	fuzz_check(q->method == buf && q->method_len >= 1 && q->method_len <= HTTP_METHOD_MAX, "the method");
	fuzz_check(q->target > q->method && q->target + q->target_len <= buf + r, "the target inside the head");
	fuzz_check(q->target_len >= 1 && q->target_len <= HTTP_TARGET_MAX && q->target[0] == '/', "the target");
	fuzz_check(q->minor >= 0 && q->minor <= 9, "HTTP/1.minor");
	fuzz_check(http_req_parse(buf, (size_t)r, &again) == r, "the head alone parses the same");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct http_req q, p;
	size_t cut = size ? data[0] % (size + 1) : 0;
	long r = http_req_parse(buf, size, &q);
	long rp = http_req_parse(buf, cut, &p);
	int too_long = http_req_too_long(buf, size);

	fuzz_check(documented(r) && documented(rp), "a documented answer");
	fuzz_check(too_long == 414 || too_long == 431, "http_req_too_long: 414 or 431");
	if (r > 0)
		check_whole_head(buf, size, r, &q);
	if (r == 0)
		fuzz_check(rp == 0, "a prefix of a valid beginning is one");
	if (rp != 0)
		fuzz_check(r == rp, "what a prefix decided stands");
	return 0;
}

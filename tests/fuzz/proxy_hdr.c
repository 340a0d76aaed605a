/* proxy_hdr.c - libFuzzer target: the PROXY protocol header parser (apps/echo/proxy_hdr.c) on any bytes,
 * and the promises of proxy_hdr.h: only documented answers, a complete header's length within the input and
 * its fields sane, and the answer of a prefix agrees with the whole (a valid beginning stays one, a decision
 * once made stays made). */
#include "fuzz.h"
#include "proxy_hdr.h"

#include <netinet/in.h>

static int documented(long r)
{
	return r >= 0 || r == -PROXY_HDR_E_MISSING || r == -PROXY_HDR_E_MALFORMED || r == -PROXY_HDR_E_OVERSIZED;
}

static int family_ok(const struct sockaddr_storage *a, int local)
{
	if (local)
		return a->ss_family == AF_UNSPEC;
	return a->ss_family == AF_INET || a->ss_family == AF_INET6;
}

static void check_header(const uint8_t *data, size_t size, long r, const struct proxy_hdr *h)
{
	struct proxy_hdr again;

	fuzz_check((size_t)r <= size && h->len == (size_t)r, "len within the input");
	fuzz_check((size_t)r <= PROXY_HDR_MAX, "no longer than PROXY_HDR_MAX");
	fuzz_check(h->version == 1 || h->version == 2, "version 1 or 2");
	fuzz_check(h->version != 1 || (size_t)r <= PROXY_V1_MAX, "a v1 line within 107 bytes");
	fuzz_check(family_ok(&h->src, h->local) && family_ok(&h->dst, h->local), "addresses of a known family");
	fuzz_check(h->local || h->src.ss_family == h->dst.ss_family, "source and destination of one family");
	fuzz_check(proxy_hdr_parse(data, (size_t)r, &again) == r, "the header alone parses the same");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr h, p;
	size_t cut = size ? data[0] % (size + 1) : 0;
	long r = proxy_hdr_parse(data, size, &h);
	long rp = proxy_hdr_parse(data, cut, &p);

	fuzz_check(documented(r) && documented(rp), "a documented answer");
	if (r > 0)
		check_header(data, size, r, &h);
	if (r == 0)
		fuzz_check(rp == 0, "a prefix of a valid beginning is one");
	if (rp != 0)
		fuzz_check(r == rp, "what a prefix decided stands");
	return 0;
}

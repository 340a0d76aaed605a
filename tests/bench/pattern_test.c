/* pattern_test.c - the payload checker names each kind of fault correctly. */
#include "pattern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCONNS 100
#define MSGS 8

static int passed, failed;

static void check(int ok, const char *what, size_t size, size_t at)
{
	if (ok) {
		passed++;
	} else {
		failed++;
		printf("FAIL: %s (size %zu, at %zu)\n", what, size, at);
	}
}

/* The stream of conn, MSGS messages of size, in a fresh buffer. */
static uint8_t *stream_of(uint32_t conn, size_t size)
{
	uint8_t *b = malloc(size * MSGS + 16);
	struct pat_pos p = {0, 0};
	pat_fill(b, conn, size, &p, size * MSGS);
	return b;
}

/* Verify got against conn's stream the way the client does, and classify
 * the first mismatch; -1 if none. */
static int verdict(const uint8_t *got, size_t n, uint32_t conn, size_t size)
{
	struct pat_pos p = {0, 0};
	size_t done = 0;
	while (done < n) {
		size_t k = size - p.off < n - done ? size - p.off : n - done;
		size_t bad = pat_check(got + done, conn, p.seq, p.off, k);
		if (bad < k) {
			struct pat_pos at = {p.seq, p.off + bad};
			size_t ev = n - done - bad < 128 ? n - done - bad : 128;
			return (int)pat_classify(got + done + bad, ev, conn, size, at, NCONNS, MSGS * 4);
		}
		done += k;
		p.off += k;
		if (p.off == size) {
			p.off = 0;
			p.seq++;
		}
	}
	return -1;
}

static void test_size(size_t size)
{
	size_t total = size * MSGS, at = size + size / 2 + 3;
	uint8_t *s = stream_of(7, size), *other = stream_of(8, size), *b = malloc(total + 16);

	check(verdict(s, total, 7, size) == -1, "an intact stream verifies", size, 0);

	memcpy(b, s, total);
	b[at] ^= 0x40;
	check(verdict(b, total, 7, size) == PAT_CORRUPT, "a flipped byte is corruption", size, at);

	memcpy(b, s, total);
	b[at] = s[at + 1];
	b[at + 1] = s[at];
	check(s[at] == s[at + 1] || verdict(b, total, 7, size) == PAT_REORDERED, "swapped bytes are reordering",
	      size, at);

	memcpy(b, s, at);
	memcpy(b + at, s + at + 1, total - at - 1);
	check(verdict(b, total - 1, 7, size) == PAT_LOST, "a dropped byte is loss", size, at);

	memcpy(b, s, size);
	memcpy(b + size, other + size, total - size);
	check(verdict(b, total, 7, size) == PAT_CROSSTALK, "another connection's data is cross-talk", size, size);

	memcpy(b, s, at);
	memcpy(b + at, other + at + 5, total - at - 5);
	check(verdict(b, total - 5, 7, size) == PAT_CROSSTALK, "cross-talk at an odd offset", size, at);

	memcpy(b, s, size);
	memcpy(b + size, s + 2 * size, total - 2 * size);
	check(verdict(b, total - size, 7, size) == PAT_LOST, "a missing message is loss", size, size);

	memcpy(b, s, 2 * size);
	memcpy(b + 2 * size, s + size, total - 2 * size);
	check(verdict(b, total, 7, size) == PAT_REORDERED, "an older message again is reordering", size, size);

	memcpy(b, s, total);
	memset(b + at, 0, 40);
	check(verdict(b, total, 7, size) == PAT_CORRUPT, "zeroed bytes are corruption", size, at);

	uint32_t c;
	uint64_t q;
	check(pat_decode_first(s + 3 * size, size, NCONNS, &c, &q) == 0 && c == 7 && q == 3,
	      "a message's first word names its connection and sequence", size, 0);
	free(s);
	free(other);
	free(b);
}

int main(void)
{
	static const size_t sizes[] = {8, 13, 64, 100, 4096, 65536};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		test_size(sizes[i]);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

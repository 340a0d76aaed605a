/* pattern.c - payload generation, verification and the naming of mismatches. */
#include "pattern.h"

#include <endian.h>
#include <string.h>

#define PAT_STEP UINT64_C(0x9E3779B97F4A7C15)
#define MIX_K1 UINT64_C(0xFF51AFD7ED558CCD)
#define MIX_K2 UINT64_C(0xC4CEB9FE1A85EC53)
#define PAT_SALT UINT64_C(0x6A09E667F3BCC909) /* so no message is all zeros */
#define SEQ_MASK ((UINT64_C(1) << PAT_SEQ_BITS) - 1)
#define CLASSIFY_ALIGNMENTS 24 /* byte offsets into the evidence tried when decoding */

const char *const pat_fault_name[PAT_NFAULTS] = {"corrupt", "lost", "reordered", "crosstalk"};

/* Inverse of an odd number modulo 2^64 (Newton's iteration doubles the
 * correct bits each step: 5 steps from 3 bits give 96). */
static uint64_t inverse(uint64_t a)
{
	uint64_t x = a;
	for (int i = 0; i < 5; i++)
		x *= 2 - a * x;
	return x;
}

/* A bijection on 64 bits (shifts of 33 undo themselves; the multipliers are odd). */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= MIX_K1;
	x ^= x >> 33;
	x *= MIX_K2;
	x ^= x >> 33;
	return x;
}

static uint64_t unmix(uint64_t x)
{
	x ^= x >> 33;
	x *= inverse(MIX_K2);
	x ^= x >> 33;
	x *= inverse(MIX_K1);
	x ^= x >> 33;
	return x;
}

static uint64_t word0(uint32_t conn, uint64_t seq)
{
	return mix(((uint64_t)conn << PAT_SEQ_BITS | (seq & SEQ_MASK)) ^ PAT_SALT);
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void store64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

/* Bytes [off, off+n) of one message. */
static void fill_message(uint8_t *dst, uint64_t w0, size_t off, size_t n)
{
	size_t i = off / 8, skip = off % 8, done = 0;
	uint64_t w = w0 + i * PAT_STEP;
	if (skip) {
		uint8_t tmp[8];
		store64(tmp, w);
		done = 8 - skip < n ? 8 - skip : n;
		memcpy(dst, tmp + skip, done);
		w += PAT_STEP;
	}
	for (; done + 8 <= n; done += 8, w += PAT_STEP)
		store64(dst + done, w);
	if (done < n) {
		uint8_t tmp[8];
		store64(tmp, w);
		memcpy(dst + done, tmp, n - done);
	}
}

void pat_fill(uint8_t *dst, uint32_t conn, size_t size, struct pat_pos *pos, size_t n)
{
	while (n > 0) {
		size_t k = size - pos->off < n ? size - pos->off : n;
		fill_message(dst, word0(conn, pos->seq), pos->off, k);
		dst += k;
		n -= k;
		pos->off += k;
		if (pos->off == size) {
			pos->off = 0;
			pos->seq++;
		}
	}
}

#define CHECK_BLOCK 32 /* words compared per block before looking for the culprit */

size_t pat_check(const uint8_t *src, uint32_t conn, uint64_t seq, size_t off, size_t n)
{
	uint8_t want[CHECK_BLOCK * 8];
	uint64_t w0 = word0(conn, seq);
	for (size_t done = 0; done < n;) {
		size_t k = n - done < sizeof(want) ? n - done : sizeof(want);
		fill_message(want, w0, off + done, k);
		if (memcmp(src + done, want, k) != 0) {
			size_t j = 0;
			while (src[done + j] == want[j])
				j++;
			return done + j;
		}
		done += k;
	}
	return n;
}

static int stream_matches(const uint8_t *got, size_t n, uint32_t conn, size_t size, struct pat_pos at)
{
	uint8_t want[64];
	while (n > 0) {
		size_t k = n < sizeof(want) ? n : sizeof(want);
		pat_fill(want, conn, size, &at, k);
		if (memcmp(got, want, k) != 0)
			return 0;
		got += k;
		n -= k;
	}
	return 1;
}

static struct pat_pos advance(struct pat_pos p, size_t size, size_t n)
{
	uint64_t abs = p.seq * size + p.off + n;
	return (struct pat_pos){abs / size, abs % size};
}

/* The classic single-byte faults, told by realigning the evidence. */
static int byte_fault(const uint8_t *ev, size_t n, uint32_t conn, size_t size, struct pat_pos at,
		      enum pat_fault *out)
{
	uint8_t e[2];
	struct pat_pos p = at;
	pat_fill(e, conn, size, &p, 2);
	if (n >= 2 && ev[0] == e[1] && ev[1] == e[0] &&
	    stream_matches(ev + 2, n - 2, conn, size, advance(at, size, 2))) {
		*out = PAT_REORDERED; /* two bytes swapped */
		return 1;
	}
	if (n >= 4 && stream_matches(ev, n, conn, size, advance(at, size, 1))) {
		*out = PAT_LOST; /* one byte dropped */
		return 1;
	}
	if (stream_matches(ev + 1, n - 1, conn, size, advance(at, size, 1))) {
		*out = PAT_CORRUPT; /* one byte changed */
		return 1;
	}
	return 0;
}

/* Find 8 bytes of the evidence that decode as some connection's data at
 * some position other than the expected one. */
static int decoded_fault(const uint8_t *ev, size_t n, uint32_t conn, size_t size, struct pat_pos at,
			 uint32_t nconns, uint64_t max_seq, enum pat_fault *out)
{
	size_t words = (size + 7) / 8;
	for (size_t a = 0; a + 8 <= n && a < CLASSIFY_ALIGNMENTS; a++) {
		uint64_t w = load64(ev + a);
		struct pat_pos want = advance(at, size, a);
		for (size_t j = 0; j < words; j++) {
			uint64_t x = unmix(w - j * PAT_STEP) ^ PAT_SALT;
			uint32_t c = (uint32_t)(x >> PAT_SEQ_BITS);
			uint64_t s = x & SEQ_MASK;
			if (c >= nconns || s > max_seq || j * 8 + 8 > size)
				continue;
			if (c != conn) {
				*out = PAT_CROSSTALK;
				return 1;
			}
			uint64_t got_abs = s * size + j * 8, want_abs = want.seq * size + want.off;
			if (got_abs == want_abs)
				continue; /* our own data, in its place */
			*out = got_abs > want_abs ? PAT_LOST : PAT_REORDERED;
			return 1;
		}
	}
	return 0;
}

enum pat_fault pat_classify(const uint8_t *ev, size_t n, uint32_t conn, size_t size, struct pat_pos at,
			    uint32_t nconns, uint64_t max_seq)
{
	enum pat_fault f = PAT_CORRUPT;
	if (n == 0)
		return PAT_LOST;
	if (byte_fault(ev, n, conn, size, at, &f))
		return f;
	if (decoded_fault(ev, n, conn, size, at, nconns, max_seq, &f))
		return f;
	return PAT_CORRUPT;
}

int pat_decode_first(const uint8_t *msg, size_t len, uint32_t nconns, uint32_t *conn, uint64_t *seq)
{
	if (len < 8)
		return -1;
	uint64_t x = unmix(load64(msg)) ^ PAT_SALT;
	*conn = (uint32_t)(x >> PAT_SEQ_BITS);
	*seq = x & SEQ_MASK;
	return *conn < nconns ? 0 : -1;
}

/* pattern.h - the payload: every byte a function of (connection, sequence, offset). */
#ifndef BENCH_PATTERN_H
#define BENCH_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* Message seq of connection conn is a run of little-endian 64-bit words
 * w0 + i*PAT_STEP, truncated to the message size, where w0 is an invertible
 * mix of (conn << 40 | seq). Any 8 received bytes therefore say which
 * connection, message and offset they came from, which is how a mismatch is
 * told apart as corruption, loss, reordering or cross-talk. */
#define PAT_SEQ_BITS 40
#define PAT_MAX_CONNS (1u << 24)
#define PAT_MIN_SIZE 8

/* What a mismatch looked like. */
enum pat_fault {
	PAT_CORRUPT = 0,   /* bytes changed */
	PAT_LOST,          /* bytes or messages missing: later data arrived early */
	PAT_REORDERED,     /* bytes or messages out of order or repeated */
	PAT_CROSSTALK,     /* another connection's data */
	PAT_NFAULTS
};

extern const char *const pat_fault_name[PAT_NFAULTS];

/* A position in a connection's stream of equal-sized messages. */
struct pat_pos {
	uint64_t seq;
	size_t off;
};

/* Write the next n bytes of the stream of connection conn (message size
 * size) at *pos into dst, and advance *pos. */
void pat_fill(uint8_t *dst, uint32_t conn, size_t size, struct pat_pos *pos, size_t n);

/* Compare src[0..n) with bytes [off, off+n) of message seq (off+n <= size).
 * Returns the index of the first differing byte, or n if all match. */
size_t pat_check(const uint8_t *src, uint32_t conn, uint64_t seq, size_t off, size_t n);

/* What the stream of connection conn held where it first differed: ev[0..n)
 * are the bytes received from the first wrong one on, expected to be the
 * stream from *at on. nconns bounds plausible connection ids and max_seq
 * plausible sequence numbers. */
enum pat_fault pat_classify(const uint8_t *ev, size_t n, uint32_t conn, size_t size, struct pat_pos at,
			    uint32_t nconns, uint64_t max_seq);

/* Decode a whole datagram: its connection and sequence from its first word.
 * Returns 0 if plausible (conn < nconns), -1 if not. */
int pat_decode_first(const uint8_t *msg, size_t len, uint32_t nconns, uint32_t *conn, uint64_t *seq);

#endif

/* buf_ring.h - the floors' provided-buffer ring (ref-uring, ref-udp-uring).
 * liburing 2.3 has no io_uring_setup_buf_ring, so the ring is mapped and
 * registered here, then given every buffer. */
#ifndef REF_BUF_RING_H
#define REF_BUF_RING_H

#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

/* A ring of count entries in group bgid, given the first `given` of count
 * buffers of size bytes, back to back from bufs; count a power of two. NULL
 * on failure. */
static struct io_uring_buf_ring *ref_buf_ring(struct io_uring *ring, char *bufs, unsigned count, unsigned size,
					      unsigned short bgid, unsigned given)
{
	void *mem = mmap(NULL, count * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!bufs || mem == MAP_FAILED)
		return NULL;
	struct io_uring_buf_ring *br = mem;
	io_uring_buf_ring_init(br);
	struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)mem, .ring_entries = count, .bgid = bgid};
	if (io_uring_register_buf_ring(ring, &reg, 0) < 0)
		return NULL;
	for (unsigned i = 0; i < given; i++)
		io_uring_buf_ring_add(br, bufs + (size_t)i * size, size, (unsigned short)i,
				      io_uring_buf_ring_mask(count), (int)i);
	io_uring_buf_ring_advance(br, (int)given);
	return br;
}

/* The ring (flags, entries) and count buffers of size bytes in *bufs, the
 * first `given` of them given to it in group bgid. The buffer ring, or NULL. */
static struct io_uring_buf_ring *ref_ring_setup(struct io_uring *ring, unsigned flags, unsigned entries,
						char **bufs, unsigned count, unsigned size, unsigned short bgid,
						unsigned given)
{
	struct io_uring_params pr = {.flags = flags};
	if (io_uring_queue_init_params(entries, ring, &pr) < 0)
		return NULL;
	*bufs = malloc((size_t)count * size);
	return ref_buf_ring(ring, *bufs, count, size, bgid, given);
}

#endif

/* slab.h - objects of one size carved from aligned chunks of memory of
 * their own, shared by every thread of a loop.
 *
 * Why not malloc: each object costs its size and nothing more (malloc adds
 * a header and rounds up); what one thread frees, any other reuses (glibc
 * keeps a thread's frees in that thread's arena, so a second crowd of
 * connections accepted by another thread took fresh memory); objects are
 * handed out from the lowest chunk with room, so chunks empty out as a
 * crowd leaves, and slab_trim gives them back to the system. Chunks are
 * aligned to their size, so any object tells its slab. Not thread-safe:
 * the owner serialises every call (conns: under its lock). */
#ifndef ECHO_SLAB_H
#define ECHO_SLAB_H

#include <stddef.h>

#define SLAB_CHUNK_BYTES (64 * 1024)

struct slab_chunk;

struct slab {
	size_t size;         /* bytes per object */
	unsigned per_chunk;  /* objects per chunk */
	struct slab_chunk **chunks; /* NULL where a chunk was given back */
	unsigned nchunks;    /* entries of chunks */
	unsigned room_from;  /* no chunk below this index has room */
};

/* An empty slab of objects of size bytes: the sizeof of a type aligned to
 * at most 64, and small next to SLAB_CHUNK_BYTES. Allocates nothing: it
 * cannot fail. */
void slab_init(struct slab *s, size_t size);

/* A zeroed object; NULL if no memory could be had. */
void *slab_alloc(struct slab *s);

/* Give obj back to the slab it came from. */
void slab_free(void *obj);

/* The slab obj came from. */
struct slab *slab_of(const void *obj);

/* Call fn on every object handed out; fn must not allocate or free. */
void slab_each(struct slab *s, void (*fn)(void *obj, void *arg), void *arg);

/* Give the chunks that hold no object back to the system. */
void slab_trim(struct slab *s);

/* Give everything back, objects still out included. */
void slab_fini(struct slab *s);

#endif

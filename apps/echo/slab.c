/* slab.c - objects of one size carved from aligned chunks of memory of their own (slab.h says why). */
#include "slab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* A freed object is out of bounds for AddressSanitizer until handed out again. */
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define MAP_WORDS 16
#define MAX_PER_CHUNK (MAP_WORDS * 64)

/* At the start of each chunk; its objects follow. */
struct slab_chunk {
	struct slab *slab;
	unsigned index;  /* in slab->chunks */
	unsigned used;   /* objects handed out */
	unsigned carved; /* objects ever handed out: the memory past them is untouched */
	void *free;      /* objects given back, each holding the next */
	uint64_t out[MAP_WORDS]; /* which objects are handed out */
};

#define OBJECTS_AT ((sizeof(struct slab_chunk) + 63) / 64 * 64)

void slab_init(struct slab *s, size_t size)
{
	size_t n = (SLAB_CHUNK_BYTES - OBJECTS_AT) / size;
	s->size = size;
	s->per_chunk = n < MAX_PER_CHUNK ? (unsigned)n : MAX_PER_CHUNK;
	s->chunks = NULL;
	s->nchunks = 0;
	s->room_from = 0;
}

static struct slab_chunk *chunk_of(const void *obj)
{
	return (struct slab_chunk *)((uintptr_t)obj & ~(uintptr_t)(SLAB_CHUNK_BYTES - 1));
}

static char *object_at(const struct slab_chunk *c, unsigned i)
{
	return (char *)c + OBJECTS_AT + (size_t)i * c->slab->size;
}

static unsigned index_of(const struct slab_chunk *c, const void *obj)
{
	return (unsigned)(((const char *)obj - object_at(c, 0)) / c->slab->size);
}

/* SLAB_CHUNK_BYTES aligned to their size: map twice that, keep the aligned
 * middle. Failing to unmap an end only leaves untouched address space. */
static void *map_aligned(void)
{
	size_t len = 2 * SLAB_CHUNK_BYTES;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	uintptr_t a = ((uintptr_t)m + SLAB_CHUNK_BYTES - 1) & ~(uintptr_t)(SLAB_CHUNK_BYTES - 1);
	size_t head = a - (uintptr_t)m, tail = len - head - SLAB_CHUNK_BYTES;
	if (head)
		(void)munmap(m, head);
	if (tail)
		(void)munmap((char *)a + SLAB_CHUNK_BYTES, tail);
	return (void *)a;
}

/* A new chunk in entry i (NULL, or one past the end: then room was made). */
static struct slab_chunk *chunk_new(struct slab *s, unsigned i)
{
	struct slab_chunk *c = map_aligned();
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->slab = s;
	c->index = i;
	s->chunks[i] = c;
	if (i == s->nchunks)
		s->nchunks++;
	return c;
}

/* An entry for a new chunk: the first given back, else one more at the end. */
static int free_entry(struct slab *s, unsigned *i)
{
	for (unsigned k = 0; k < s->nchunks; k++) {
		if (!s->chunks[k]) {
			*i = k;
			return 0;
		}
	}
	struct slab_chunk **grown = realloc(s->chunks, (s->nchunks + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	s->chunks = grown;
	*i = s->nchunks;
	return 0;
}

/* The lowest chunk with room, a new one if none has. */
static struct slab_chunk *chunk_with_room(struct slab *s)
{
	for (; s->room_from < s->nchunks; s->room_from++) {
		struct slab_chunk *c = s->chunks[s->room_from];
		if (c && c->used < s->per_chunk)
			return c;
	}
	unsigned i;
	if (free_entry(s, &i) < 0)
		return NULL;
	struct slab_chunk *c = chunk_new(s, i);
	if (c && i < s->room_from)
		s->room_from = i;
	return c;
}

void *slab_alloc(struct slab *s)
{
	struct slab_chunk *c = chunk_with_room(s);
	if (!c)
		return NULL;
	char *obj;
	if (c->free) {
		obj = c->free;
		UNPOISON(obj, s->size);
		memcpy(&c->free, obj, sizeof(c->free));
	} else {
		obj = object_at(c, c->carved++);
	}
	unsigned i = index_of(c, obj);
	c->out[i / 64] |= 1ull << (i % 64);
	c->used++;
	memset(obj, 0, s->size);
	return obj;
}

void slab_free(void *obj)
{
	struct slab_chunk *c = chunk_of(obj);
	struct slab *s = c->slab;
	unsigned i = index_of(c, obj);
	c->out[i / 64] &= ~(1ull << (i % 64));
	memcpy(obj, &c->free, sizeof(c->free));
	c->free = obj;
	POISON(obj, s->size);
	c->used--;
	if (c->index < s->room_from)
		s->room_from = c->index;
}

struct slab *slab_of(const void *obj)
{
	return chunk_of(obj)->slab;
}

static void chunk_each(struct slab_chunk *c, void (*fn)(void *obj, void *arg), void *arg)
{
	for (unsigned w = 0; w < MAP_WORDS; w++) {
		for (uint64_t bits = c->out[w]; bits; bits &= bits - 1)
			fn(object_at(c, w * 64 + (unsigned)__builtin_ctzll(bits)), arg);
	}
}

void slab_each(struct slab *s, void (*fn)(void *obj, void *arg), void *arg)
{
	for (unsigned k = 0; k < s->nchunks; k++) {
		if (s->chunks[k])
			chunk_each(s->chunks[k], fn, arg);
	}
}

static void chunk_unmap(struct slab *s, unsigned k)
{
	UNPOISON(s->chunks[k], SLAB_CHUNK_BYTES);
	(void)munmap(s->chunks[k], SLAB_CHUNK_BYTES);
	s->chunks[k] = NULL;
}

void slab_trim(struct slab *s)
{
	for (unsigned k = 0; k < s->nchunks; k++) {
		if (s->chunks[k] && s->chunks[k]->used == 0)
			chunk_unmap(s, k);
	}
}

void slab_fini(struct slab *s)
{
	for (unsigned k = 0; k < s->nchunks; k++) {
		if (s->chunks[k])
			chunk_unmap(s, k);
	}
	free(s->chunks);
	slab_init(s, s->size);
}

/* fdtab.c - fd -> fdent, a two-level table whose entries never move. */
#include "fd.h"

#include <errno.h>
#include <stdlib.h>

int fdtab_init(struct fdtab *t)
{
	for (int c = 0; c < FDTAB_CHUNKS; c++)
		atomic_init(&t->chunks[c], NULL);
	return -pthread_mutex_init(&t->lock, NULL);
}

struct fdent *fdtab_get(struct fdtab *t, int fd)
{
	if (fd < 0 || fd >= FDTAB_CHUNK * FDTAB_CHUNKS)
		return NULL;
	struct fdent *chunk = atomic_load_explicit(&t->chunks[fd / FDTAB_CHUNK], memory_order_acquire);
	return chunk ? &chunk[fd % FDTAB_CHUNK] : NULL;
}

static struct fdent *chunk_new(void)
{
	struct fdent *chunk = calloc(FDTAB_CHUNK, sizeof(*chunk));
	if (!chunk)
		return NULL;
	for (int i = 0; i < FDTAB_CHUNK; i++) {
		lock_init(&chunk[i].lock);
		chunk[i].fd = -1;
	}
	return chunk;
}

struct fdent *fdtab_get_or_make(struct fdtab *t, int fd, bool mt)
{
	struct fdent *fe = fdtab_get(t, fd);
	if (fe || fd < 0 || fd >= FDTAB_CHUNK * FDTAB_CHUNKS)
		return fe;
	if (mt)
		pthread_mutex_lock(&t->lock);
	_Atomic(struct fdent *) *slot = &t->chunks[fd / FDTAB_CHUNK];
	struct fdent *chunk = atomic_load_explicit(slot, memory_order_acquire);
	if (!chunk) {
		chunk = chunk_new();
		if (chunk)
			atomic_store_explicit(slot, chunk, memory_order_release);
	}
	if (mt)
		pthread_mutex_unlock(&t->lock);
	return chunk ? &chunk[fd % FDTAB_CHUNK] : NULL;
}

void fdtab_each_used(struct fdtab *t, void (*fn)(struct fdent *fe, void *arg), void *arg)
{
	for (int c = 0; c < FDTAB_CHUNKS; c++) {
		struct fdent *chunk = atomic_load(&t->chunks[c]);
		for (int i = 0; chunk && i < FDTAB_CHUNK; i++) {
			if (chunk[i].state != FD_FREE)
				fn(&chunk[i], arg);
		}
	}
}

void fdtab_fini(struct fdtab *t)
{
	for (int c = 0; c < FDTAB_CHUNKS; c++) {
		struct fdent *chunk = atomic_load(&t->chunks[c]);
		if (!chunk)
			continue;
		for (int i = 0; i < FDTAB_CHUNK; i++)
			lock_fini(&chunk[i].lock);
		free(chunk);
		atomic_store(&t->chunks[c], NULL);
	}
	pthread_mutex_destroy(&t->lock);
}

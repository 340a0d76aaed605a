/* fdtab.c - fd -> fdent, a two-level table whose entries never move. */
#include "port.h"

#include <errno.h>
#include <stdlib.h>

struct fdent *fdtab_get(struct cport *p, int fd)
{
	if (fd < 0 || fd >= FDTAB_CHUNK * FDTAB_CHUNKS)
		return NULL;
	struct fdent *chunk = atomic_load_explicit(&p->fdtab[fd / FDTAB_CHUNK], memory_order_acquire);
	return chunk ? &chunk[fd % FDTAB_CHUNK] : NULL;
}

struct fdent *fdtab_get_or_make(struct cport *p, int fd)
{
	struct fdent *fe = fdtab_get(p, fd);
	if (fe || fd < 0 || fd >= FDTAB_CHUNK * FDTAB_CHUNKS)
		return fe;
	plock(p, &p->fdtab_lock);
	struct fdent *chunk = atomic_load_explicit(&p->fdtab[fd / FDTAB_CHUNK], memory_order_acquire);
	if (!chunk) {
		chunk = calloc(FDTAB_CHUNK, sizeof(*chunk));
		if (chunk) {
			for (int i = 0; i < FDTAB_CHUNK; i++) {
				pthread_mutex_init(&chunk[i].lock, NULL);
				chunk[i].fd = -1;
			}
			atomic_store_explicit(&p->fdtab[fd / FDTAB_CHUNK], chunk, memory_order_release);
		}
	}
	punlock(p, &p->fdtab_lock);
	return chunk ? &chunk[fd % FDTAB_CHUNK] : NULL;
}

void fdtab_free(struct cport *p)
{
	for (int c = 0; c < FDTAB_CHUNKS; c++) {
		struct fdent *chunk = atomic_load(&p->fdtab[c]);
		if (!chunk)
			continue;
		for (int i = 0; i < FDTAB_CHUNK; i++)
			pthread_mutex_destroy(&chunk[i].lock);
		free(chunk);
		atomic_store(&p->fdtab[c], NULL);
	}
}

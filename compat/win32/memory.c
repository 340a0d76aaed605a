/* memory.c - GlobalAlloc, LocalAlloc and HeapAlloc, all from one arena
 * below 4 GiB, so that a pointer a classic sample casts to DWORD (its
 * completion key, typically) comes back whole.
 *
 * The arena is reserved once (MAP_NORESERVE: pages cost nothing until
 * touched), at most ARENA_MAX, as much as can be had below 4 GiB. Blocks are
 * powers of two from 32 bytes up, each with a 16-byte header naming its
 * size class; a freed block goes on its class's list and is reused by the
 * next allocation of that class. One mutex: these calls are for per
 * connection set-up, not the I/O path. */
#include "shim.h"

#include <errno.h>
#include <sys/mman.h>

#define ARENA_MAX ((size_t)1 << 30)
#define ARENA_MIN ((size_t)1 << 24)
#define LIMIT_4G ((uintptr_t)1 << 32)
#define HEADER 16
#define MIN_SHIFT 5
#define CLASSES 31
#define HEAP_HANDLE ((HANDLE)(uintptr_t)0x3ffff000u) /* the process heap: a value no socket or table handle takes */

struct block {
	uint32_t cls;
	uint32_t magic;
	struct block *next_free; /* while free; the caller's bytes start after HEADER */
};
_Static_assert(sizeof(struct block) <= HEADER, "a block header fits");
#define MAGIC_USED 0x7573u
#define MAGIC_FREE 0x6672u

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static char *arena_base, *arena_top, *arena_end;
static struct block *free_list[CLASSES];

/* Under ASan, LeakSanitizer must see the pointers programs keep in these
 * blocks (it does not scan an mmap'd region unless told). */
extern void __lsan_register_root_region(const void *p, size_t size) __attribute__((weak));

static void *map_low(size_t size)
{
#ifdef MAP_32BIT
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_32BIT,
		       -1, 0);
	if (p != MAP_FAILED)
		return p;
#endif
	/* Elsewhere: ask for a place below 4 GiB and keep it only if it is. */
	for (uintptr_t hint = (uintptr_t)1 << 28; hint + size <= LIMIT_4G; hint += (uintptr_t)1 << 28) {
		void *q = mmap((void *)hint, size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		if (q == MAP_FAILED)
			continue;
		if ((uintptr_t)q + size <= LIMIT_4G)
			return q;
		munmap(q, size);
	}
	return NULL;
}

static void arena_init(void)
{
	for (size_t size = ARENA_MAX; size >= ARENA_MIN; size /= 2) {
		char *p = map_low(size);
		if (!p)
			continue;
		if (__lsan_register_root_region)
			__lsan_register_root_region(p, size);
		arena_base = arena_top = p;
		arena_end = p + size;
		return;
	}
}

static int class_of(size_t bytes)
{
	if (bytes > ARENA_MAX - HEADER)
		return -1;
	int cls = 0;
	while (((size_t)1 << (cls + MIN_SHIFT)) < bytes + HEADER)
		cls++;
	return cls;
}

static struct block *block_take(int cls)
{
	size_t size = (size_t)1 << (cls + MIN_SHIFT);
	struct block *b = free_list[cls];
	if (b) {
		free_list[cls] = b->next_free;
	} else if (arena_top && (size_t)(arena_end - arena_top) >= size) {
		b = (struct block *)arena_top;
		arena_top += size;
	}
	return b;
}

static void *low_alloc(size_t bytes, bool zero)
{
	pthread_once(&arena_once, arena_init);
	int cls = class_of(bytes);
	if (cls < 0) {
		w32_set_error(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	pthread_mutex_lock(&arena_lock);
	struct block *b = block_take(cls);
	if (b) {
		b->cls = (uint32_t)cls;
		b->magic = MAGIC_USED;
	}
	pthread_mutex_unlock(&arena_lock);
	if (!b) {
		w32_set_error(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	void *p = (char *)b + HEADER;
	if (zero)
		memset(p, 0, bytes);
	return p;
}

/* Returns false for a pointer that is not a live block of the arena. */
static bool low_free(void *p)
{
	if (!p)
		return true;
	struct block *b = (struct block *)((char *)p - HEADER);
	pthread_mutex_lock(&arena_lock);
	bool ok = arena_base && (char *)b >= arena_base && (char *)b < arena_top && b->magic == MAGIC_USED &&
		  b->cls < CLASSES;
	if (ok) {
		b->magic = MAGIC_FREE;
		b->next_free = free_list[b->cls];
		free_list[b->cls] = b;
	}
	pthread_mutex_unlock(&arena_lock);
	return ok;
}

HGLOBAL GlobalAlloc(UINT flags, SIZE_T bytes)
{
	return low_alloc(bytes, flags & GMEM_ZEROINIT);
}

/* Returns NULL on success, the block on failure, as Windows does. */
HGLOBAL GlobalFree(HGLOBAL mem)
{
	if (low_free(mem))
		return NULL;
	w32_set_error(ERROR_INVALID_HANDLE);
	return mem;
}

/* Blocks never move, so a "moveable" block's handle is its address. */
LPVOID GlobalLock(HGLOBAL mem)
{
	return mem;
}

BOOL GlobalUnlock(HGLOBAL mem)
{
	(void)mem;
	w32_set_error(NO_ERROR);
	return FALSE; /* unlocked: what Windows returns for a fixed block */
}

HLOCAL LocalAlloc(UINT flags, SIZE_T bytes)
{
	return low_alloc(bytes, flags & LMEM_ZEROINIT);
}

HLOCAL LocalFree(HLOCAL mem)
{
	return GlobalFree(mem);
}

HANDLE GetProcessHeap(void)
{
	return HEAP_HANDLE;
}

LPVOID HeapAlloc(HANDLE heap, DWORD flags, SIZE_T bytes)
{
	if (heap != HEAP_HANDLE) {
		w32_set_error(ERROR_INVALID_HANDLE);
		return NULL;
	}
	return low_alloc(bytes, flags & HEAP_ZERO_MEMORY);
}

BOOL HeapFree(HANDLE heap, DWORD flags, LPVOID mem)
{
	(void)flags;
	if (heap == HEAP_HANDLE && low_free(mem))
		return TRUE;
	w32_set_error(ERROR_INVALID_PARAMETER);
	return FALSE;
}

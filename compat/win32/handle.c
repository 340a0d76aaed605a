/* handle.c - the table behind every port, thread and event HANDLE.
 *
 * A HANDLE is HANDLE_BASE | generation << 16 | index << 2, below 2^31 (so
 * it survives a cast to DWORD, as Windows handles do), above every fd, and
 * a multiple of 4 as Windows handles are (programs use the low bits: an
 * OVERLAPPED's hEvent | 1 asks for no completion packet). Each
 * slot has one atomic word: its generation, whether it is live and closed,
 * and two counts: pins (who may still read the object) and busy (who is
 * inside a call that must finish before CloseHandle shuts the object down).
 * Looking a handle up is a compare-and-swap on that word that fails once the
 * handle is closed or its slot reused, so a stale handle is refused without
 * reading any freed memory, and an object lives until its last pin is gone. */
#include "shim.h"

#include <sched.h>
#include <stdatomic.h>

#define HANDLE_BASE 0x40000000u
#define SLOTS 16384u
#define GEN_BITS 14

#define PIN_ONE 1ull
#define PIN_MASK ((1ull << 22) - 1)
#define BUSY_SHIFT 22
#define BUSY_ONE (1ull << BUSY_SHIFT)
#define BUSY_MASK (PIN_MASK << BUSY_SHIFT)
#define CLOSED (1ull << 44)
#define LIVE (1ull << 45)
#define GEN_SHIFT 48
#define GEN_MASK ((1ull << GEN_BITS) - 1)

struct w32_slot {
	_Atomic uint64_t word;
	int kind; /* written while the slot is not live, read only under a pin */
	void *obj;
	uint32_t next_free;
};

static struct w32_slot slots[SLOTS];
static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t free_head;   /* 1 + index of the first free slot; 0: none */
static uint32_t never_used;  /* slots [never_used, SLOTS) were never handed out */
static const struct w32_kind_ops *kind_ops[W32_KINDS];

void w32_kind_register(int kind, const struct w32_kind_ops *ops)
{
	kind_ops[kind] = ops;
}

static uint64_t gen_of(uint64_t w)
{
	return (w >> GEN_SHIFT) & GEN_MASK;
}

static HANDLE handle_value(uint32_t idx, uint64_t gen)
{
	return (HANDLE)(uintptr_t)(HANDLE_BASE | (uint32_t)(gen << 16) | idx << 2);
}

bool w32_is_table_handle(HANDLE h)
{
	uintptr_t v = (uintptr_t)h;
	return v >= HANDLE_BASE && v < (uintptr_t)HANDLE_BASE << 1;
}

static int32_t slot_take(void)
{
	pthread_mutex_lock(&free_lock);
	int32_t idx = -1;
	if (free_head) {
		idx = (int32_t)(free_head - 1);
		free_head = slots[idx].next_free;
	} else if (never_used < SLOTS) {
		idx = (int32_t)never_used++;
	}
	pthread_mutex_unlock(&free_lock);
	return idx;
}

static void slot_give_back(struct w32_slot *s)
{
	pthread_mutex_lock(&free_lock);
	s->next_free = free_head;
	free_head = (uint32_t)(s - slots) + 1;
	pthread_mutex_unlock(&free_lock);
}

HANDLE w32_handle_new(int kind, void *obj, unsigned pins, struct w32_slot **slot)
{
	int32_t idx = slot_take();
	if (idx < 0) {
		w32_set_error(ERROR_NO_SYSTEM_RESOURCES);
		return NULL;
	}
	struct w32_slot *s = &slots[idx];
	s->kind = kind;
	s->obj = obj;
	uint64_t gen = gen_of(atomic_load(&s->word));
	atomic_store(&s->word, gen << GEN_SHIFT | LIVE | pins);
	if (slot)
		*slot = s;
	return handle_value((uint32_t)idx, gen);
}

static struct w32_slot *slot_of(HANDLE h, uint64_t *gen)
{
	if (!w32_is_table_handle(h))
		return NULL;
	uint32_t v = (uint32_t)(uintptr_t)h - HANDLE_BASE;
	if (v & 3)
		return NULL;
	*gen = v >> 16;
	return &slots[(v >> 2) & (SLOTS - 1)];
}

void *w32_handle_get(HANDLE h, int kind, bool busy, struct w32_slot **slot)
{
	int got;
	return w32_handle_get_any(h, 1u << kind, &got, busy, slot);
}

bool w32_handle_gone(HANDLE h)
{
	uint64_t gen;
	struct w32_slot *s = slot_of(h, &gen);
	if (!s)
		return true;
	uint64_t w = atomic_load(&s->word);
	return !(w & LIVE) || gen_of(w) != gen;
}

void *w32_handle_get_any(HANDLE h, unsigned mask, int *kind, bool busy, struct w32_slot **slot)
{
	uint64_t gen;
	struct w32_slot *s = slot_of(h, &gen);
	if (!s)
		return NULL;
	uint64_t w = atomic_load(&s->word);
	uint64_t add = PIN_ONE + (busy ? BUSY_ONE : 0);
	do {
		if (!(w & LIVE) || (w & CLOSED) || gen_of(w) != gen)
			return NULL;
	} while (!atomic_compare_exchange_weak(&s->word, &w, w + add));
	if (!(mask & (1u << s->kind))) {
		w32_handle_put(s, busy);
		return NULL;
	}
	*kind = s->kind;
	*slot = s;
	return s->obj;
}

/* The last pin of a closed handle: the object goes, the slot is reused
 * under the next generation. */
static void slot_finish(struct w32_slot *s, uint64_t w)
{
	kind_ops[s->kind]->fin(s->obj);
	s->obj = NULL;
	atomic_store(&s->word, ((gen_of(w) + 1) & GEN_MASK) << GEN_SHIFT);
	slot_give_back(s);
}

void w32_handle_put(struct w32_slot *s, bool busy)
{
	uint64_t sub = PIN_ONE + (busy ? BUSY_ONE : 0);
	uint64_t w = atomic_fetch_sub(&s->word, sub) - sub;
	if ((w & CLOSED) && (w & PIN_MASK) == 0)
		slot_finish(s, w);
}

/* Pin the handle for the closer and mark it closed, so that exactly one
 * CloseHandle wins. */
static struct w32_slot *close_mark(HANDLE h, int kind)
{
	struct w32_slot *s;
	if (!w32_handle_get(h, kind, false, &s))
		return NULL;
	uint64_t w = atomic_load(&s->word);
	do {
		if (w & CLOSED) {
			w32_handle_put(s, false);
			return NULL;
		}
	} while (!atomic_compare_exchange_weak(&s->word, &w, w | CLOSED));
	return s;
}

bool w32_handle_close(HANDLE h, int kind)
{
	struct w32_slot *s = close_mark(h, kind);
	if (!s)
		return false;
	/* Busy callers are inside short calls (a start, a post, an
	 * association); new ones are refused now, so this wait ends. */
	while (atomic_load(&s->word) & BUSY_MASK)
		sched_yield();
	kind_ops[kind]->shut(s->obj);
	w32_handle_put(s, false);
	return true;
}

/* fault.c - the hooks behind FAULT points, in the test build only (fault.h). */
#include "fault.h"

#ifdef CPORT_FAULTS
#include <stdatomic.h>
#include <stddef.h>

static struct {
	_Atomic(cport_fault_fn) fn;
	void *_Atomic ctx;
} hooks[FAULT_POINTS];

void cport_fault_set(enum fault_point pt, cport_fault_fn fn, void *ctx)
{
	if ((unsigned)pt >= FAULT_POINTS)
		return;
	atomic_store(&hooks[pt].ctx, ctx);
	atomic_store(&hooks[pt].fn, fn);
}

int64_t fault_hit(enum fault_point pt, struct cport_op *op, int64_t v)
{
	cport_fault_fn fn = atomic_load_explicit(&hooks[pt].fn, memory_order_acquire);
	return fn ? fn(pt, op, v, atomic_load(&hooks[pt].ctx)) : v;
}
#else
/* An empty unit is not ISO C: give it one declaration. */
typedef int fault_unused;
#endif

/* loop_core.c - what a loop's sockets and connections share: its port and what keeps it running. */
#include "loop_core.h"

void loop_core_ref(struct loop_core *lc)
{
	atomic_fetch_add(&lc->pending, 1);
}

void loop_core_unref(struct loop_core *lc)
{
	if (atomic_fetch_sub(&lc->pending, 1) == 1 && atomic_load(&lc->stopping))
		loop_core_finish(lc);
}

/* The other workers of the port are asleep in cport_wait with no timeout:
 * wake one, and each that leaves wakes the next (loop_core_leave). One
 * post per worker would not do: a wait may take several at once. */
void loop_core_finish(struct loop_core *lc)
{
	int no = 0;

	if (!atomic_compare_exchange_strong(&lc->done, &no, 1))
		return;
	if (lc->nworkers > 1)
		cport_post(lc->port, KEY_WAKE, NULL, 0);
}

void loop_core_leave(struct loop_core *lc)
{
	if (atomic_fetch_sub(&lc->staying, 1) > 1)
		cport_post(lc->port, KEY_WAKE, NULL, 0);
}

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

/* The caller's thread sees done itself; every other worker of the port is
 * asleep in cport_wait, maybe forever: wake each one. */
void loop_core_finish(struct loop_core *lc)
{
	int no = 0;

	if (!atomic_compare_exchange_strong(&lc->done, &no, 1))
		return;
	for (unsigned i = 1; i < lc->nworkers; i++)
		cport_post(lc->port, KEY_WAKE, NULL, 0);
}

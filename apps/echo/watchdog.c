/* watchdog.c - systemd's watchdog, kept from loop 0's housekeeping: WATCHDOG=1 only while every loop keeps house. */
#include "watchdog.h"

#include "log.h"
#include "loop.h"
#include "systemd.h"

void watchdog_init(struct watchdog *wd, struct loop *loops, unsigned nloops)
{
	wd->period_ms = notify_watchdog_period_ms();
	wd->next_ms = 0;
	wd->loops = loops;
	wd->nloops = nloops;
	if (wd->period_ms)
		log_msg(LOG_INFO, "systemd watchdog: WATCHDOG=1 every %llu ms",
			(unsigned long long)wd->period_ms);
}

static int loops_alive(const struct watchdog *wd, uint64_t now)
{
	for (unsigned i = 0; i < wd->nloops; i++) {
		uint64_t seen = atomic_load_explicit(&wd->loops[i].alive_ms, memory_order_relaxed);

		if (seen + wd->period_ms < now)
			return 0;
	}
	return 1;
}

void watchdog_tick(struct watchdog *wd, uint64_t now)
{
	if (!wd->period_ms || now < wd->next_ms)
		return;
	if (!loops_alive(wd, now)) {
		log_limited(LK_WATCHDOG, LOG_WARNING, "a loop has not kept house for %llu ms: no WATCHDOG=1",
			    (unsigned long long)wd->period_ms);
		return;
	}
	wd->next_ms = now + wd->period_ms;
	notify_watchdog();
}

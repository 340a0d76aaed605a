/* watchdog.h - systemd's watchdog, kept from loop 0's housekeeping: WATCHDOG=1 only while every loop keeps house. */
#ifndef ECHO_WATCHDOG_H
#define ECHO_WATCHDOG_H

#include <stdint.h>

struct loop;

struct watchdog {
	uint64_t period_ms; /* 0: no watchdog */
	uint64_t next_ms;   /* next WATCHDOG=1 due */
	struct loop *loops; /* the server's, each stamping alive_ms */
	unsigned nloops;
};

/* No watchdog unless WATCHDOG_USEC asks for one; cannot fail. */
void watchdog_init(struct watchdog *wd, struct loop *loops, unsigned nloops);

/* From loop 0's housekeeping: send WATCHDOG=1 when due, if every loop has
 * kept house within the period (a stuck loop stops the pings, and systemd
 * acts). Only one thread at a time (the loop's housekeeping lock). */
void watchdog_tick(struct watchdog *wd, uint64_t now);

#endif

/* housekeep.h - a loop's periodic work: stop and drain, idle timeouts, paused accepts, spare fd. */
#ifndef ECHO_HOUSEKEEP_H
#define ECHO_HOUSEKEEP_H

struct counters;
struct loop;

/* After each batch of completions: if a wake-up asked for it (every
 * TICK_MS, and on stop) and no other thread of the loop is at it, do what
 * is due. */
void housekeep(struct loop *lp, struct counters *ctr);

/* Whoever next calls housekeep does it (a KEY_WAKE completion). */
void housekeep_soon(struct loop *lp);

#endif

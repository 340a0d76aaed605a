/* housekeep.h - a loop's periodic work: stop and drain, idle timeouts, paused accepts, spare fd. */
#ifndef ECHO_HOUSEKEEP_H
#define ECHO_HOUSEKEEP_H

struct counters;
struct loop;

/* After each batch of completions: if TICK_MS have passed and no other
 * thread of the loop is at it, do what is due. */
void housekeep(struct loop *lp, struct counters *ctr);

/* Whoever next calls housekeep does it at once (a KEY_WAKE post). */
void housekeep_soon(struct loop *lp);

#endif

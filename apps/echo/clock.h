/* clock.h - milliseconds on the monotonic clock, for pauses and timeouts. */
#ifndef ECHO_CLOCK_H
#define ECHO_CLOCK_H

#include <stdint.h>

/* Now, to the millisecond. */
uint64_t now_ms(void);

/* Now, to the kernel's tick. */
uint64_t coarse_ms(void);

/* A worker reads the clock once a batch of completions (clock_batch),
 * and every completion of the batch is stamped with that reading
 * (batch_ms): reading it for each cost about 50 instructions a message.
 * A thread that never called clock_batch reads the clock. */
void clock_batch(void);
uint64_t batch_ms(void);

#endif

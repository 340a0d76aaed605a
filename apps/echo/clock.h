/* clock.h - milliseconds on the monotonic clock, for pauses and timeouts. */
#ifndef ECHO_CLOCK_H
#define ECHO_CLOCK_H

#include <stdint.h>

/* Now, to the millisecond. */
uint64_t now_ms(void);

/* Now, to the kernel's tick: cheap enough to stamp every completion. */
uint64_t coarse_ms(void);

#endif

/* uring_raw.h - io_uring probed with raw syscalls (see uring_raw.c). */
#ifndef URING_RAW_H
#define URING_RAW_H

#include <stdbool.h>
#include <stddef.h>

/* Whether a raw ring with every feature cport needs can be set up here;
 * if not, why (into why, len bytes). */
bool uring_raw_works(char *why, size_t len);

#endif

/* fuzz.h - what every libFuzzer target in tests/fuzz shares: the entry point's prototype and a check that fails the
 * run (a crash to libFuzzer, with the input saved) when a parser breaks its own contract. */
#ifndef CPORT_FUZZ_H
#define CPORT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* libFuzzer calls it once per input; data is exactly size bytes long (ASan sees a read past it). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise is a finding like a crash: abort, and libFuzzer keeps the input. */
static inline void fuzz_check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz: contract broken: %s\n", what);
		abort();
	}
}

#endif

/* uring_probe.c - exit 0 if io_uring works here with every feature cport
 * needs (raw syscalls, not cport), else 1 and why. The test suites use it
 * to fail, rather than skip, when cport cannot set up io_uring where it
 * should be able to. */
#include "uring_raw.h"

#include <stdio.h>

int main(void)
{
	char why[160] = "";
	if (uring_raw_works(why, sizeof(why)))
		return 0;
	printf("%s\n", why);
	return 1;
}

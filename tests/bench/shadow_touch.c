/* shadow_touch.c - a process whose AddressSanitizer shadow is known: it
 * frees 32 MiB it wrote, so (in a sanitizer build) the shadow of those bytes
 * is written, 4 MiB, and stays resident. Prints "ready" and waits for a
 * signal. tests/bench/test_idle_memory.py builds it with and without
 * -fsanitize=address. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	size_t n = (size_t)32 << 20;
	char *p = malloc(n);

	if (!p)
		return 1;
	memset(p, 1, n);
	free(p);
	if (write(1, "ready\n", 6) != 6)
		return 1;
	pause();
	return 0;
}

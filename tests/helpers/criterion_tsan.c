/* criterion_tsan.c - lets Criterion start under ThreadSanitizer (TSan builds
 * only; compiles to nothing otherwise).
 *
 * Criterion's sandbox (BoxFort) maps its shared arena at an address it picks
 * with rand_r() in [0x200000000000, 0x600000000000), trying a few and giving
 * up with "Could not initialize inheritable arena" when all are taken
 * (Snaipe/Criterion#274). Under TSan nearly all of that range is TSan's
 * shadow or protected gaps; the only application range inside it is the
 * one for PIE binaries, 0x550000000000-0x568000000000. BoxFort reads the low
 * 22 bits of rand_r() as a 16 MiB slot above 0x200000000000, so steering
 * rand_r() to slots 0x350000-0x367fff makes it probe only that range, where
 * free space abounds. Nothing in cport or its tests calls rand_r(). */
#include <stdlib.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CPORT_TEST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CPORT_TEST_TSAN 1
#endif

#ifdef CPORT_TEST_TSAN
#define SLOT_FIRST 0x350000u /* (0x550000000000 - 0x200000000000) >> 24 */
#define SLOT_COUNT 0x18000u  /* up to 0x568000000000 */

int rand_r(unsigned int *seed)
{
	unsigned x = *seed ? *seed : 0x9e3779b9u;

	/* xorshift32: still a pseudo-random sequence, just in a narrow range. */
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*seed = x;
	return (int)(SLOT_FIRST + x % SLOT_COUNT);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int criterion_tsan_unused;
#endif

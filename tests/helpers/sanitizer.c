/* sanitizer.c - sanitizer findings fail the test that caused them.
 *
 * Criterion reports a test as passed before its process exits, so neither
 * LeakSanitizer's exit-time report nor a ThreadSanitizer warning would fail
 * anything. Instead: TSan halts on its first report (the test crashes), and
 * every suite's fini runs a leak check in the test's own process. The
 * exit-time leak check is off: Criterion's runner itself leaks a few bytes
 * when it runs tests in parallel, which is not ours to report. */
#include "cport_test.h"

#include <stdlib.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#endif

#ifdef TEST_TSAN
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "halt_on_error=1:second_deadlock_stack=1";
}
#endif

#ifdef TEST_ASAN
#include <sanitizer/lsan_interface.h>

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "leak_check_at_exit=0";
}

void test_suite_fini(void)
{
	if (__lsan_do_recoverable_leak_check())
		abort();
}
#else
void test_suite_fini(void)
{
}
#endif

/* system.c - Sleep, the tick counts, the performance counter and
 * GetSystemInfo. */
#include "shim.h"

#include <errno.h>
#include <sched.h>
#include <time.h>

void Sleep(DWORD ms)
{
	if (ms == INFINITE) {
		for (;;)
			pause();
	}
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

DWORD SleepEx(DWORD ms, BOOL alertable)
{
	(void)alertable; /* nothing can queue an APC here: never WAIT_IO_COMPLETION */
	Sleep(ms);
	return 0;
}

/* Windows says whether another thread ran; sched_yield cannot tell, so
 * TRUE means only that the processor was offered. */
BOOL SwitchToThread(void)
{
	return sched_yield() == 0;
}

/* Windows counts from boot, suspended time included: CLOCK_BOOTTIME. */
ULONGLONG GetTickCount64(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (ULONGLONG)ts.tv_sec * 1000u + (ULONGLONG)ts.tv_nsec / 1000000u;
}

DWORD GetTickCount(void)
{
	return (DWORD)GetTickCount64(); /* wraps after 49.7 days, as on Windows */
}

BOOL QueryPerformanceCounter(LARGE_INTEGER *count)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	count->QuadPart = (LONGLONG)ts.tv_sec * 1000000000 + ts.tv_nsec;
	return TRUE;
}

BOOL QueryPerformanceFrequency(LARGE_INTEGER *freq)
{
	freq->QuadPart = 1000000000;
	return TRUE;
}

static WORD architecture(void)
{
#if defined(__x86_64__)
	return PROCESSOR_ARCHITECTURE_AMD64;
#elif defined(__aarch64__)
	return PROCESSOR_ARCHITECTURE_ARM64;
#elif defined(__i386__)
	return PROCESSOR_ARCHITECTURE_INTEL;
#elif defined(__arm__)
	return PROCESSOR_ARCHITECTURE_ARM;
#else
	return PROCESSOR_ARCHITECTURE_UNKNOWN;
#endif
}

/* The CPUs this process may run on (as cport's default concurrency counts them). */
static DWORD cpus(DWORD_PTR *mask)
{
	cpu_set_t set;
	*mask = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int i = 0; i < 64 && i < CPU_SETSIZE; i++)
			*mask |= CPU_ISSET(i, &set) ? (DWORD_PTR)1 << i : 0;
		return (DWORD)CPU_COUNT(&set);
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	*mask = n >= 64 ? ~(DWORD_PTR)0 : ((DWORD_PTR)1 << (n > 0 ? n : 1)) - 1;
	return n > 0 ? (DWORD)n : 1;
}

void GetSystemInfo(LPSYSTEM_INFO info)
{
	long pg = sysconf(_SC_PAGESIZE);
	memset(info, 0, sizeof(*info));
	info->wProcessorArchitecture = architecture();
	info->dwPageSize = pg > 0 ? (DWORD)pg : 4096;
	info->lpMinimumApplicationAddress = (LPVOID)(uintptr_t)0x10000;
	info->lpMaximumApplicationAddress = (LPVOID)(uintptr_t)0x7ffffffeffffull;
	info->dwNumberOfProcessors = cpus(&info->dwActiveProcessorMask);
	info->dwAllocationGranularity = 65536;
}

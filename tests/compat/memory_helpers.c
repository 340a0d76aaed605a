/* memory_helpers.c - ZeroMemory, CopyMemory, FillMemory, MoveMemory (the old
 * shim had no ZeroMemory at all: the seed did not link), the Interlocked
 * family's return values, and critical sections (recursive, exclusive). */
#include "w32test.h"

static void zero_copy_fill_and_move_memory(void)
{
	OVERLAPPED ov;
	char a[16], b[16];
	FillMemory(&ov, sizeof(ov), 0x5a);
	ZeroMemory(&ov, sizeof(OVERLAPPED));
	for (size_t i = 0; i < sizeof(ov); i++)
		CHECK(((unsigned char *)&ov)[i] == 0);
	FillMemory(a, sizeof(a), 'x');
	CopyMemory(b, a, sizeof(a));
	CHECK(memcmp(a, b, sizeof(a)) == 0 && b[15] == 'x');
	MoveMemory(a + 1, a, 8);
	CHECK(a[0] == 'x' && a[8] == 'x');
	SecureZeroMemory(b, sizeof(b));
	CHECK(b[0] == 0 && b[15] == 0);
}

static void interlocked_calls_return_what_windows_returns(void)
{
	volatile LONG v = 5;
	CHECK(InterlockedIncrement(&v) == 6);
	CHECK(InterlockedDecrement(&v) == 5);
	CHECK(InterlockedExchange(&v, 9) == 5 && v == 9);
	CHECK(InterlockedCompareExchange(&v, 1, 8) == 9 && v == 9);
	CHECK(InterlockedCompareExchange(&v, 1, 9) == 9 && v == 1);
	CHECK(InterlockedExchangeAdd(&v, 10) == 1 && v == 11);
	CHECK(InterlockedAdd(&v, 1) == 12);
	volatile LONG64 w = -1;
	CHECK(InterlockedIncrement64(&w) == 0);
	CHECK(InterlockedCompareExchange64(&w, 7, 0) == 0 && w == 7);
	PVOID volatile p = NULL;
	CHECK(InterlockedCompareExchangePointer(&p, (PVOID)&v, NULL) == NULL && p == (PVOID)&v);
	CHECK(InterlockedExchangePointer(&p, NULL) == (PVOID)&v && p == NULL);
}

static CRITICAL_SECTION Lock;
static LONG Inside, Overlaps;
static LONG Counter;

static DWORD WINAPI Bump(LPVOID arg)
{
	(void)arg;
	for (int i = 0; i < 10000; i++) {
		EnterCriticalSection(&Lock);
		EnterCriticalSection(&Lock); /* recursive, as on Windows */
		if (InterlockedIncrement(&Inside) != 1)
			InterlockedIncrement(&Overlaps);
		Counter++;
		InterlockedDecrement(&Inside);
		LeaveCriticalSection(&Lock);
		LeaveCriticalSection(&Lock);
	}
	return 7;
}

static void critical_sections_exclude_and_nest(void)
{
	HANDLE t[4];
	DWORD code;
	CHECK(InitializeCriticalSectionAndSpinCount(&Lock, 4000));
	for (int i = 0; i < 4; i++)
		CHECK((t[i] = CreateThread(NULL, 0, Bump, NULL, 0, NULL)) != NULL);
	CHECK(WaitForMultipleObjects(4, t, TRUE, WAIT_MS) == WAIT_OBJECT_0);
	for (int i = 0; i < 4; i++) {
		CHECK(GetExitCodeThread(t[i], &code) && code == 7);
		CHECK(CloseHandle(t[i]));
	}
	CHECK(Counter == 40000 && Overlaps == 0);
	CHECK(TryEnterCriticalSection(&Lock));
	LeaveCriticalSection(&Lock);
	DeleteCriticalSection(&Lock);
}

int main(void)
{
	test_start();
	RUN(zero_copy_fill_and_move_memory);
	RUN(interlocked_calls_return_what_windows_returns);
	RUN(critical_sections_exclude_and_nest);
	return 0;
}

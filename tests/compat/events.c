/* events.c - events, manual and auto reset, waited on with thread handles
 * (wait-any, wait-all, timeouts), closed with CloseHandle; Winsock's
 * WSACreateEvent family and WSAWaitForMultipleEvents; the errors. */
#include "w32test.h"

static void manual_reset_stays_signalled_until_reset(void)
{
	HANDLE e = CreateEvent(NULL, TRUE, FALSE, NULL);
	CHECK(e != NULL);
	CHECK(WaitForSingleObject(e, 0) == WAIT_TIMEOUT);
	CHECK(WaitForSingleObject(e, 20) == WAIT_TIMEOUT);
	CHECK(SetEvent(e));
	CHECK(WaitForSingleObject(e, 0) == WAIT_OBJECT_0);
	CHECK(WaitForSingleObject(e, INFINITE) == WAIT_OBJECT_0);
	CHECK(ResetEvent(e));
	CHECK(WaitForSingleObject(e, 0) == WAIT_TIMEOUT);
	CHECK(CloseHandle(e));
	HANDLE on = CreateEventA(NULL, TRUE, TRUE, NULL);
	CHECK(WaitForSingleObject(on, 0) == WAIT_OBJECT_0);
	CHECK(CloseHandle(on));
}

static void auto_reset_releases_one_wait(void)
{
	HANDLE e = CreateEvent(NULL, FALSE, TRUE, NULL);
	CHECK(WaitForSingleObject(e, 0) == WAIT_OBJECT_0);
	CHECK(WaitForSingleObject(e, 0) == WAIT_TIMEOUT); /* consumed */
	CHECK(SetEvent(e) && SetEvent(e));               /* not counted: one release */
	CHECK(WaitForSingleObject(e, 0) == WAIT_OBJECT_0);
	CHECK(WaitForSingleObject(e, 0) == WAIT_TIMEOUT);
	CHECK(CloseHandle(e));
}

static HANDLE Start, Done;
static LONG Woken;

static DWORD WINAPI waiter(LPVOID arg)
{
	(void)arg;
	if (WaitForSingleObject(Start, WAIT_MS) == WAIT_OBJECT_0)
		InterlockedIncrement(&Woken);
	SetEvent(Done);
	return 0;
}

static void an_auto_reset_event_wakes_one_waiter_per_set(void)
{
	enum { N = 4 };
	HANDLE t[N];
	Start = CreateEvent(NULL, FALSE, FALSE, NULL);
	Done = CreateEvent(NULL, FALSE, FALSE, NULL);
	for (int i = 0; i < N; i++)
		CHECK((t[i] = CreateThread(NULL, 0, waiter, NULL, 0, NULL)) != NULL);
	for (int i = 0; i < N; i++) {
		CHECK(SetEvent(Start));
		CHECK(WaitForSingleObject(Done, WAIT_MS) == WAIT_OBJECT_0);
	}
	CHECK(WaitForMultipleObjects(N, t, TRUE, WAIT_MS) == WAIT_OBJECT_0);
	CHECK(Woken == N);
	for (int i = 0; i < N; i++)
		CHECK(CloseHandle(t[i]));
	CHECK(CloseHandle(Start) && CloseHandle(Done));
}

static DWORD WINAPI sets_after_a_while(LPVOID arg)
{
	Sleep(20);
	SetEvent((HANDLE)arg);
	return 5;
}

static void events_and_threads_mixed_in_one_wait(void)
{
	HANDLE ev = CreateEvent(NULL, FALSE, FALSE, NULL);
	HANDLE other = CreateEvent(NULL, TRUE, FALSE, NULL);
	HANDLE th = CreateThread(NULL, 0, sets_after_a_while, ev, 0, NULL);
	HANDLE hs[3] = {other, ev, th};
	/* Wait-any: the event the thread sets, or the thread's end. */
	DWORD r = WaitForMultipleObjects(3, hs, FALSE, WAIT_MS);
	CHECK(r == WAIT_OBJECT_0 + 1 || r == WAIT_OBJECT_0 + 2);
	CHECK(WaitForSingleObject(th, WAIT_MS) == WAIT_OBJECT_0);
	/* Wait-all with one unsignalled: times out and consumes nothing. */
	CHECK(SetEvent(ev) || TRUE);
	CHECK(WaitForMultipleObjects(3, hs, TRUE, 10) == WAIT_TIMEOUT);
	CHECK(WaitForSingleObject(ev, 0) == WAIT_OBJECT_0); /* still set: the wait-all took nothing */
	CHECK(SetEvent(ev) && SetEvent(other));
	CHECK(WaitForMultipleObjects(3, hs, TRUE, WAIT_MS) == WAIT_OBJECT_0);
	CHECK(WaitForSingleObject(ev, 0) == WAIT_TIMEOUT);     /* auto-reset: consumed by the wait-all */
	CHECK(WaitForSingleObject(other, 0) == WAIT_OBJECT_0); /* manual: still set */
	CHECK(CloseHandle(ev) && CloseHandle(other) && CloseHandle(th));
}

static void wait_errors(void)
{
	HANDLE e = CreateEvent(NULL, TRUE, TRUE, NULL);
	HANDLE two[2] = {e, e};
	CHECK(WaitForMultipleObjects(2, two, FALSE, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_PARAMETER);
	CHECK(WaitForMultipleObjects(0, two, FALSE, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_PARAMETER);
	CHECK(WaitForMultipleObjects(MAXIMUM_WAIT_OBJECTS + 1, two, FALSE, 0) == WAIT_FAILED);
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	CHECK(WaitForSingleObject(port, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(!SetEvent(port) && GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(CloseHandle(port));
	CHECK(CloseHandle(e));
	CHECK(!SetEvent(e) && GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(!ResetEvent(e) && GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(WaitForSingleObject(e, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(!CloseHandle(e) && GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(CreateEvent(NULL, TRUE, FALSE, "Global\\named") == NULL && GetLastError() == ERROR_NOT_SUPPORTED);
}

static void wsa_events(void)
{
	WSAEVENT ev[2];
	ev[0] = WSACreateEvent();
	ev[1] = WSACreateEvent();
	CHECK(ev[0] != WSA_INVALID_EVENT && ev[1] != WSA_INVALID_EVENT);
	CHECK(WSAWaitForMultipleEvents(2, ev, FALSE, 10, FALSE) == WSA_WAIT_TIMEOUT);
	CHECK(WSASetEvent(ev[1]));
	CHECK(WSAWaitForMultipleEvents(2, ev, FALSE, WSA_INFINITE, FALSE) == WSA_WAIT_EVENT_0 + 1);
	/* Manual reset: still set, until WSAResetEvent. */
	CHECK(WSAWaitForMultipleEvents(1, &ev[1], TRUE, 0, TRUE) == WSA_WAIT_EVENT_0);
	CHECK(WSAWaitForMultipleEvents(2, ev, TRUE, 10, FALSE) == WSA_WAIT_TIMEOUT);
	CHECK(WSASetEvent(ev[0]));
	CHECK(WSAWaitForMultipleEvents(2, ev, TRUE, WAIT_MS, FALSE) == WSA_WAIT_EVENT_0);
	CHECK(WSAResetEvent(ev[0]) && WSAResetEvent(ev[1]));
	CHECK(WSAWaitForMultipleEvents(2, ev, FALSE, 0, FALSE) == WSA_WAIT_TIMEOUT);
	CHECK(WSACloseEvent(ev[0]) && WSACloseEvent(ev[1]));
	CHECK(!WSACloseEvent(ev[0]) && WSAGetLastError() == WSA_INVALID_HANDLE);
	CHECK(WSAWaitForMultipleEvents(1, ev, FALSE, 0, FALSE) == WSA_WAIT_FAILED &&
	      WSAGetLastError() == WSA_INVALID_HANDLE);
	/* A WSAEVENT is an event: CloseHandle and WaitForSingleObject take it. */
	WSAEVENT e = WSACreateEvent();
	CHECK(SetEvent(e) && WaitForSingleObject(e, 0) == WAIT_OBJECT_0 && CloseHandle(e));
	/* A thread is not an event for Winsock's wait. */
	HANDLE th = CreateThread(NULL, 0, sets_after_a_while, WSACreateEvent(), 0, NULL);
	CHECK(WSAWaitForMultipleEvents(1, &th, FALSE, 0, FALSE) == WSA_WAIT_FAILED);
	CHECK(WaitForSingleObject(th, WAIT_MS) == WAIT_OBJECT_0 && CloseHandle(th));
}

int main(void)
{
	test_start();
	RUN(manual_reset_stays_signalled_until_reset);
	RUN(auto_reset_releases_one_wait);
	RUN(an_auto_reset_event_wakes_one_waiter_per_set);
	RUN(events_and_threads_mixed_in_one_wait);
	RUN(wait_errors);
	RUN(wsa_events);
	return 0;
}

/* event.c - events: CreateEvent, SetEvent, ResetEvent and Winsock's
 * WSACreateEvent family, slots of the handle table like ports and threads.
 * An event is a struct w32_waitable under the wait lock (wait.c). Names
 * are not supported: an event is an object of this process only. */
#include "shim.h"

struct w32_event {
	struct w32_waitable w; /* first: the waits see the object as this */
};

static void event_shut(void *obj)
{
	(void)obj; /* a wait in progress keeps its pin; the event lives until then */
}

static void event_fin(void *obj)
{
	free(obj);
}

static const struct w32_kind_ops event_ops = {.shut = event_shut, .fin = event_fin};

__attribute__((constructor)) static void event_register(void)
{
	w32_kind_register(W32_EVENT, &event_ops);
}

static HANDLE event_new(BOOL manual, BOOL initial, bool named)
{
	if (named) {
		w32_set_error(ERROR_NOT_SUPPORTED); /* see docs/win32.md */
		return NULL;
	}
	w32_wait_init();
	struct w32_event *e = calloc(1, sizeof(*e));
	if (!e) {
		w32_set_error(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	e->w.manual = manual != FALSE;
	e->w.signaled = initial != FALSE;
	HANDLE h = w32_handle_new(W32_EVENT, e, 0, NULL);
	if (!h)
		free(e);
	return h;
}

HANDLE CreateEventA(LPSECURITY_ATTRIBUTES attrs, BOOL manual, BOOL initial, LPCSTR name)
{
	(void)attrs;
	return event_new(manual, initial, name != NULL);
}

HANDLE CreateEventW(LPSECURITY_ATTRIBUTES attrs, BOOL manual, BOOL initial, LPCWSTR name)
{
	(void)attrs;
	return event_new(manual, initial, name != NULL);
}

static bool event_change(HANDLE h, bool on)
{
	struct w32_slot *slot;
	struct w32_event *e = w32_handle_get(h, W32_EVENT, false, &slot);
	if (!e)
		return false;
	pthread_mutex_lock(&w32_wait_lock);
	e->w.signaled = on;
	if (on)
		w32_wait_changed();
	pthread_mutex_unlock(&w32_wait_lock);
	w32_handle_put(slot, false);
	return true;
}

bool w32_event_set(HANDLE h)
{
	return event_change(h, true);
}

bool w32_event_reset(HANDLE h)
{
	return event_change(h, false);
}

BOOL SetEvent(HANDLE h)
{
	if (event_change(h, true))
		return TRUE;
	w32_set_error(ERROR_INVALID_HANDLE);
	return FALSE;
}

BOOL ResetEvent(HANDLE h)
{
	if (event_change(h, false))
		return TRUE;
	w32_set_error(ERROR_INVALID_HANDLE);
	return FALSE;
}

/* Winsock's events are manual-reset events, as on Windows. */
WSAEVENT WSACreateEvent(void)
{
	return event_new(TRUE, FALSE, false);
}

BOOL WSASetEvent(WSAEVENT h)
{
	return SetEvent(h);
}

BOOL WSAResetEvent(WSAEVENT h)
{
	return ResetEvent(h);
}

BOOL WSACloseEvent(WSAEVENT h)
{
	if (w32_handle_close(h, W32_EVENT))
		return TRUE;
	w32_set_error(ERROR_INVALID_HANDLE);
	return FALSE;
}

DWORD WSAWaitForMultipleEvents(DWORD n, const WSAEVENT *events, BOOL all, DWORD ms, BOOL alertable)
{
	/* Only events: a thread handle is refused, as Winsock's call takes events. */
	for (DWORD i = 0; events && i < n && i < WSA_MAXIMUM_WAIT_EVENTS; i++) {
		struct w32_slot *slot;
		if (!w32_handle_get(events[i], W32_EVENT, false, &slot)) {
			w32_set_error(WSA_INVALID_HANDLE);
			return WSA_WAIT_FAILED;
		}
		w32_handle_put(slot, false);
	}
	return WaitForMultipleObjectsEx(n, events, all, ms, alertable);
}

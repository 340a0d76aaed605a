/* port.c - completion ports: CreateIoCompletionPort, the dequeue calls,
 * PostQueuedCompletionStatus, CancelIo(Ex), CloseHandle.
 *
 * A port handle holds a cport port and one cport_retain on it. CloseHandle
 * destroys the cport port at once (waiters blocked in it get
 * ERROR_ABANDONED_WAIT_0), but its memory goes only with the handle's last
 * pin: a worker that had looked the handle up and was on its way into
 * cport_wait finds a destroyed port there, never freed memory. Every call
 * after the close is refused by the handle table (ERROR_INVALID_HANDLE). */
#include "shim.h"

#include <errno.h>
#include <limits.h>
#include <time.h>

struct w32_port {
	cport_t *cp;
};

static void port_shut(void *obj)
{
	struct w32_port *pt = obj;
	cport_destroy(pt->cp);
}

static void port_fin(void *obj)
{
	struct w32_port *pt = obj;
	cport_release(pt->cp);
	free(pt);
}

static const struct w32_kind_ops port_ops = {.shut = port_shut, .fin = port_fin};

__attribute__((constructor)) static void port_register(void)
{
	w32_kind_register(W32_PORT, &port_ops);
}

cport_t *w32_port_cport(void *port)
{
	return ((struct w32_port *)port)->cp;
}

static HANDLE port_new(DWORD threads)
{
	struct w32_port *pt = calloc(1, sizeof(*pt));
	if (!pt) {
		w32_set_error(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	struct cport_options o;
	cport_options_init(&o);
	o.concurrency = threads;
	int r = cport_create(&o, &pt->cp);
	if (r < 0) {
		free(pt);
		w32_set_error(w32_io_error(-r));
		return NULL;
	}
	cport_retain(pt->cp);
	HANDLE h = w32_handle_new(W32_PORT, pt, 0, NULL);
	if (!h) {
		cport_destroy(pt->cp);
		port_fin(pt);
	}
	return h;
}

static bool associate(HANDLE file, HANDLE port, ULONG_PTR key)
{
	SOCKET s = (SOCKET)(uintptr_t)file;
	struct w32_slot *slot;
	struct w32_port *pt = w32_handle_get(port, W32_PORT, true, &slot);
	if (!pt || !w32_socket_ok(s)) {
		if (pt)
			w32_handle_put(slot, true);
		w32_set_error(ERROR_INVALID_HANDLE);
		return false;
	}
	/* cport cannot tell that an fd is attached to another port; the map can. */
	struct w32_slot *other;
	bool taken = w32_socket_port(s, &other, NULL) != NULL;
	if (taken)
		w32_handle_put(other, true);
	int r = taken ? -EEXIST : cport_attach(pt->cp, (int)s, key);
	if (r == 0)
		w32_socket_associate(s, port, key);
	w32_handle_put(slot, true);
	if (r < 0)
		w32_set_error(r == -EEXIST ? ERROR_INVALID_PARAMETER : w32_io_error(-r));
	return r == 0;
}

HANDLE CreateIoCompletionPort(HANDLE file, HANDLE existing, ULONG_PTR key, DWORD threads)
{
	if (file == INVALID_HANDLE_VALUE) {
		if (existing) {
			w32_set_error(ERROR_INVALID_PARAMETER);
			return NULL;
		}
		return port_new(threads);
	}
	if (existing)
		return associate(file, existing, key) ? existing : NULL;
	HANDLE port = port_new(threads);
	if (port && !associate(file, port, key)) {
		DWORD err = GetLastError();
		CloseHandle(port);
		w32_set_error(err);
		return NULL;
	}
	return port;
}

/* The deadline of a dequeue call, and the milliseconds left of it. */
struct deadline {
	struct timespec at;
	bool forever;
};

static void deadline_set(struct deadline *d, DWORD ms)
{
	d->forever = ms == INFINITE;
	clock_gettime(CLOCK_MONOTONIC, &d->at);
	d->at.tv_sec += ms / 1000;
	d->at.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (d->at.tv_nsec >= 1000000000L) {
		d->at.tv_sec++;
		d->at.tv_nsec -= 1000000000L;
	}
}

static int deadline_left(const struct deadline *d)
{
	if (d->forever)
		return -1;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms = (int64_t)(d->at.tv_sec - now.tv_sec) * 1000 + (d->at.tv_nsec - now.tv_nsec) / 1000000L;
	return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

/* One handed-out completion, as Windows reports it. */
struct w32_entry {
	ULONG_PTR key;
	LPOVERLAPPED ov;
	DWORD bytes;
	int err; /* 0 or a positive errno */
};

static LPOVERLAPPED ov_of(struct cport_op *op)
{
	return op ? cport_container_of(op, OVERLAPPED, cport_io.op) : NULL;
}

/* Returns false if the shim consumed the completion (a step of its own). */
static bool entry_from(cport_t *cp, struct cport_completion *c, struct w32_entry *e)
{
	e->key = c->key;
	e->ov = ov_of(c->op);
	if (c->kind == CPORT_OP_POST) {
		/* The shim posts a negative errno for a failed operation of its
		 * own; a program's post carries a DWORD. */
		e->err = c->result < 0 ? (int)-c->result : 0;
		e->bytes = c->result < 0 ? 0 : (DWORD)c->result;
		if (e->ov && (c->result < 0 || e->ov->cport_io.step == W32_STEP_POSTED)) {
			/* An operation of the shim's (DisconnectEx) ends here; a
			 * program's post leaves its OVERLAPPED alone, as on Windows. */
			e->ov->cport_io.step = 0;
			return w32_io_done(e->ov, e->bytes, e->err);
		}
		return true;
	}
	return w32_complete(cp, c, &e->bytes, &e->err);
}

#define WAIT_BATCH 64

/* Hand out what cport_wait gave. A completion may start the next step of
 * an operation (ConnectEx's data), which needs the port not shut down
 * meanwhile: a busy pin; without one (the handle was closed just now) that
 * step is not started and the operation ends ERROR_OPERATION_ABORTED. */
static int hand_out(HANDLE port, cport_t *cp, struct cport_completion *c, int n, struct w32_entry *out)
{
	struct w32_slot *slot;
	bool busy = w32_handle_get(port, W32_PORT, true, &slot) != NULL;
	int got = 0;
	for (int i = 0; i < n; i++)
		got += entry_from(busy ? cp : NULL, &c[i], &out[got]);
	if (busy)
		w32_handle_put(slot, true);
	return got;
}

/* Dequeue up to max completions Windows would hand out. Returns the count,
 * 0 on timeout, -ESHUTDOWN when the port was closed under the wait. */
static int dequeue(HANDLE port, cport_t *cp, struct w32_entry *out, int max, DWORD ms)
{
	struct cport_completion c[WAIT_BATCH];
	struct deadline d;
	deadline_set(&d, ms);
	if (max > WAIT_BATCH)
		max = WAIT_BATCH;
	for (;;) {
		int n = cport_wait(cp, c, max, deadline_left(&d));
		if (n == -EINTR)
			continue;
		if (n <= 0)
			return n;
		int got = hand_out(port, cp, c, n, out);
		if (got > 0 || deadline_left(&d) == 0)
			return got;
	}
}

/* Why a dequeue handed nothing out, as GetLastError says it. */
static DWORD dequeue_error(int n)
{
	return n == 0 ? WAIT_TIMEOUT : n == -ESHUTDOWN ? ERROR_ABANDONED_WAIT_0 : w32_io_error(-n);
}

BOOL GetQueuedCompletionStatus(HANDLE port, LPDWORD bytes, PULONG_PTR key, LPOVERLAPPED *ovp, DWORD ms)
{
	struct w32_slot *slot;
	struct w32_port *pt = w32_handle_get(port, W32_PORT, false, &slot);
	if (ovp)
		*ovp = NULL;
	if (!pt || !bytes || !key || !ovp) {
		if (pt)
			w32_handle_put(slot, false);
		w32_set_error(pt ? ERROR_INVALID_PARAMETER : ERROR_INVALID_HANDLE);
		return FALSE;
	}
	struct w32_entry e;
	int n = dequeue(port, pt->cp, &e, 1, ms);
	w32_handle_put(slot, false);
	if (n <= 0) {
		w32_set_error(dequeue_error(n));
		return FALSE;
	}
	*bytes = e.bytes;
	*key = e.key;
	*ovp = e.ov;
	if (e.err) {
		w32_set_error(w32_io_error(e.err));
		return FALSE;
	}
	return TRUE;
}

BOOL GetQueuedCompletionStatusEx(HANDLE port, LPOVERLAPPED_ENTRY entries, ULONG count, PULONG removed, DWORD ms,
				 BOOL alertable)
{
	(void)alertable; /* nothing queues APCs here, so an alertable wait is a plain one */
	struct w32_slot *slot;
	struct w32_port *pt = w32_handle_get(port, W32_PORT, false, &slot);
	if (removed)
		*removed = 0;
	if (!pt || !entries || !removed || count == 0) {
		if (pt)
			w32_handle_put(slot, false);
		w32_set_error(pt ? ERROR_INVALID_PARAMETER : ERROR_INVALID_HANDLE);
		return FALSE;
	}
	struct w32_entry e[WAIT_BATCH];
	int n = dequeue(port, pt->cp, e, count > WAIT_BATCH ? WAIT_BATCH : (int)count, ms);
	w32_handle_put(slot, false);
	if (n <= 0) {
		w32_set_error(dequeue_error(n));
		return FALSE;
	}
	for (int i = 0; i < n; i++) {
		entries[i].lpCompletionKey = e[i].key;
		entries[i].lpOverlapped = e[i].ov;
		entries[i].dwNumberOfBytesTransferred = e[i].bytes;
		entries[i].Internal = e[i].ov ? e[i].ov->Internal : w32_ntstatus(e[i].err);
	}
	*removed = (ULONG)n;
	return TRUE;
}

BOOL PostQueuedCompletionStatus(HANDLE port, DWORD bytes, ULONG_PTR key, LPOVERLAPPED ov)
{
	struct w32_slot *slot;
	struct w32_port *pt = w32_handle_get(port, W32_PORT, true, &slot);
	if (!pt) {
		w32_set_error(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	int r = cport_post(pt->cp, key, ov ? &ov->cport_io.op : NULL, bytes);
	w32_handle_put(slot, true);
	if (r < 0) {
		w32_set_error(r == -EBUSY ? ERROR_INVALID_PARAMETER : w32_io_error(-r));
		return FALSE;
	}
	return TRUE;
}

BOOL CancelIoEx(HANDLE file, LPOVERLAPPED ov)
{
	SOCKET s = (SOCKET)(uintptr_t)file;
	if (!w32_socket_ok(s)) {
		w32_set_error(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	struct w32_slot *slot;
	cport_t *cp = w32_socket_port(s, &slot, NULL);
	if (!cp) {
		w32_set_error(ERROR_NOT_FOUND);
		return FALSE;
	}
	int r = ov ? cport_cancel(cp, &ov->cport_io.op) : cport_cancel_fd(cp, (int)s);
	w32_handle_put(slot, true);
	if (r < 0) {
		w32_set_error(r == -ENOENT || r == -EBADF ? ERROR_NOT_FOUND : w32_io_error(-r));
		return FALSE;
	}
	return TRUE;
}

BOOL CancelIo(HANDLE file)
{
	return CancelIoEx(file, NULL);
}

BOOL CloseHandle(HANDLE h)
{
	if (w32_handle_close(h, W32_PORT) || w32_handle_close(h, W32_THREAD) || w32_handle_close(h, W32_EVENT))
		return TRUE;
	SOCKET s = (SOCKET)(uintptr_t)h;
	if (h != NULL && w32_socket_ok(s))
		return closesocket(s) == 0;
	w32_set_error(ERROR_INVALID_HANDLE);
	return FALSE;
}

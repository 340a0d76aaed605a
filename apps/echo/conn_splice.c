/* conn_splice.c - the spliced echo: a connection that sends big messages.
 * Once a connection has sent a chunk that filled a small pool buffer, its
 * echo goes through a pipe of its own: splice(2) moves the bytes from the
 * socket into the pipe and from the pipe back out, inside the kernel,
 * where the pooled echo copies each message into a pool buffer and out of
 * it again (at 64 KiB, the copies are a third of the server's CPU per
 * message: docs/performance.md). The port's cport_poll says when the
 * socket can be read or written; the splices are ours, non-blocking. The
 * pipe is filled only when empty, so a connection has at most a pipeful
 * read and not yet sent back (64 KiB by default): the backpressure of the
 * pooled echo's one chunk. Pipes cost two descriptors each and are
 * limited (--splice-pipes); a connection that gets none is echoed as
 * before. A connection keeps its pipe until it closes. */
#include "conn_priv.h"

#include "counters.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* A spliced echo moves at most this much into its pipe at a time; the
 * pipe's own size (64 KiB by default) is the real bound. */
#define SPLICE_MAX (1u << 20)

int conn_splice_begin(struct conn *cn, struct counters *ctr)
{
	struct conn_limit *lim = conn_cs(cn)->limit;
	int p[2];

	if (cn->spliced == SPLICE_NEVER)
		return 0;
	if (atomic_fetch_add(&lim->pipes, 1) >= lim->max_pipes) {
		atomic_fetch_sub(&lim->pipes, 1);
		return 0;
	}
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
		atomic_fetch_sub(&lim->pipes, 1);
		cn->spliced = SPLICE_NEVER; /* short of descriptors: not one try per message */
		counter_add(ctr, C_ERR_SPLICE_PIPE, 1);
		log_limited(LK_CONN, LOG_WARNING, "no pipe for connection fd %d, echoed without splice: %s", cn->fd,
			    strerror(errno));
		return 0;
	}
	cn->spliced = SPLICE_ON;
	cn->sp.pipe[0] = p[0];
	cn->sp.pipe[1] = p[1];
	cn->sp.held = 0;
	counter_add(ctr, C_CONN_SPLICED, 1);
	return 1;
}

void conn_splice_end(struct conn *cn)
{
	if (cn->spliced != SPLICE_ON)
		return;
	close(cn->sp.pipe[0]);
	close(cn->sp.pipe[1]);
	cn->spliced = SPLICE_NOT_YET;
	cn->iov = (struct iovec){NULL, 0};
	atomic_fetch_sub(&conn_cs(cn)->limit->pipes, 1);
}

/* What a spliced echo does next: poll (CS_POLL_IN, CS_POLL_OUT), or move
 * bytes (SP_READ, SP_WRITE); SP_DONE once it is closing. */
enum { SP_READ = 100, SP_WRITE, SP_DONE };

/* The socket is readable: fill the empty pipe, then send it back. */
static int conn_splice_in(struct conn *cn, struct counters *ctr)
{
	ssize_t n = splice(cn->fd, NULL, cn->sp.pipe[1], NULL, SPLICE_MAX, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

	if (n > 0) {
		cn->sp.held = (uint32_t)n;
		counter_add(ctr, C_TCP_BYTES_IN, (uint64_t)n);
		counter_add(ctr, C_TCP_MSGS_IN, 1);
		return SP_WRITE;
	}
	if (n == 0) {
		conn_close(cn, ctr); /* end of stream: everything read was echoed */
		return SP_DONE;
	}
	if (errno == EAGAIN || errno == EINTR)
		return CS_POLL_IN; /* readiness is a hint: someone's poll, not data */
	conn_fail(cn, errno, ctr);
	return SP_DONE;
}

/* Send the pipe's bytes back; once it is empty, wait for more. */
static int conn_splice_out(struct conn *cn, struct counters *ctr)
{
	while (cn->sp.held) {
		ssize_t n = splice(cn->sp.pipe[0], NULL, cn->fd, NULL, cn->sp.held, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			cn->sp.held -= (uint32_t)n;
			counter_add(ctr, C_TCP_BYTES_OUT, (uint64_t)n);
			counter_add(ctr, C_TCP_MSGS_OUT, 1);
		} else if (n < 0 && errno == EAGAIN) {
			return CS_POLL_OUT;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			conn_fail(cn, n < 0 ? errno : EIO, ctr);
			return SP_DONE;
		}
	}
	return CS_POLL_IN;
}

/* Run a spliced echo from next until an op is in flight or it closes. A
 * poll that is ready at once (CPORT_SKIP_ON_SUCCESS) goes on here, in a
 * loop rather than a recursion: a client that keeps sending never deepens
 * the stack. */
void conn_splice_go(struct conn *cn, int next, struct counters *ctr)
{
	while (next != SP_DONE) {
		if (conn_close_if_killed(cn, ctr))
			return;
		if (next == SP_READ) {
			next = conn_splice_in(cn, ctr);
		} else if (next == SP_WRITE) {
			next = conn_splice_out(cn, ctr);
		} else {
			cn->state = (uint8_t)next;
			int r = cport_poll(conn_cs(cn)->core->port, cn->fd, &cn->op, next == CS_POLL_IN ? POLLIN : POLLOUT);
			if (r == 0)
				return;
			if (r < 0) {
				conn_fail(cn, -r, ctr);
				return;
			}
			next = next == CS_POLL_IN ? SP_READ : SP_WRITE;
		}
	}
}

/* A spliced echo's poll completed. */
void conn_polled(struct conn *cn, int64_t res, struct counters *ctr)
{
	if (res < 0) {
		conn_fail(cn, (int)-res, ctr);
		return;
	}
	conn_splice_go(cn, cn->state == CS_POLL_IN ? SP_READ : SP_WRITE, ctr);
}

/* try_io.h - one non-blocking attempt at an op's socket call, in the calling
 * thread: epoll's every attempt, and a send tried at once on an fd that
 * skips the port on success (gate.c). */
#ifndef CPORT_TRY_IO_H
#define CPORT_TRY_IO_H

#include "cport.h"

#include <sys/types.h>

/* recv, send, recvfrom, sendto, recvmsg, sendmsg or accept of op on fd (which
 * is non-blocking): bytes or the new fd, -EAGAIN if it would block, -errno;
 * -EINVAL for any other kind. EINTR is retried. */
ssize_t try_io(struct cport_op *op, int fd);

/* Is this op kind a send (waits for writability, never for data)? */
static inline int op_is_send(unsigned kind)
{
	return kind == CPORT_OP_SEND || kind == CPORT_OP_SENDTO || kind == CPORT_OP_SENDMSG;
}

#endif

/* epoll.h - what the epoll backend's files share: an fd's state
 * (backend_epoll.c) and the batched datagram receives (epoll_dgram.c). */
#ifndef CPORT_EPOLL_H
#define CPORT_EPOLL_H

#include "backend.h"

#include <stdint.h>
#include <sys/types.h>

/* What epoll keeps in each fd entry (fe->backend_area). */
struct ep_fd {
	struct clist rq, wq; /* ops waiting for readiness, FIFO per direction (op->_backend_link) */
	/* false once a syscall said EAGAIN, true again with the next readiness
	 * event, so a new op skips a syscall bound to fail. */
	bool rd_ready, wr_ready;
	bool stream;   /* SOCK_STREAM: a short read or write means empty or full... */
	bool no_infer; /* ...unless end of stream, an error or urgent data was seen */
	bool out_watched; /* EPOLLOUT in the interest set (always for TCP; see watch()) */
	bool registered;  /* in the interest list: a non-TCP fd leaves it while hot (note_at_once) */
	uint8_t hot;      /* non-TCP: results at once in a row, with nothing waiting */
};
_Static_assert(sizeof(struct ep_fd) <= FD_BACKEND_AREA, "epoll's fd state outgrew its area");

static inline struct ep_fd *EF(struct fdent *fe)
{
	return (struct ep_fd *)fe->backend_area;
}

/* A result the kernel gave, kept with the op until it is reported. */
struct answer {
	struct cport_op *op;
	ssize_t res;
	unsigned buf_id; /* pooled receive: the buffer it used, or UINT32_MAX */
};

/* On an fd that is not a TCP socket (datagrams), with two or more plain
 * receives (recv, recvfrom, recvmsg) at the head of q, receive into them
 * with one recvmmsg and take the ones that got a datagram (or the error)
 * off q, their answers in ans (room for max). Returns how many; sets
 * *drained when the socket has nothing more (the ops left wait for the
 * next edge). 0 without *drained: not applicable, try the head op on its
 * own. fe->lock held. */
unsigned ep_dgram_batch(struct fdent *fe, struct clist *q, struct answer *ans, unsigned max, bool *drained);

#endif

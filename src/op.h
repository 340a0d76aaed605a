/* op.h - the core's view of a struct cport_op: its state and its bits. */
#ifndef CPORT_OP_H
#define CPORT_OP_H

#include "cport.h"
#include "list.h"

#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>

/* op->_state: idle (the caller's), in flight (the library's), done (queued). */
enum { OP_IDLE = 0, OP_INFLIGHT = 1, OP_DONE = 2 };

/* op->_bits */
#define OPB_CANCEL 0x1u     /* the caller asked to cancel this op */
#define OPB_NODE 0x2u       /* a node the port allocated for a post with no op */
#define OPB_CONNECTING 0x4u /* connect(2) was issued: it ends when the socket is writable */
#define OPB_WANT_READY 0x8u /* pooled recv: wait for data before asking the pool again */
#define OPB_READY 0x10u     /* pooled recv: data was seen waiting, a buffer was not */
#define OPB_GRANTED 0x20u   /* pooled recv: it holds pool buffer _buf_id (granted, or taken at submit) */
#define OPB_PARKED 0x40u    /* pooled recv: on the pool's waiters (set and cleared under the pool's lock) */

/* op->_bits may be changed by cport_cancel on another thread: always atomically. */
static inline void op_bits_set(struct cport_op *op, uint16_t b)
{
	__atomic_fetch_or(&op->_bits, b, __ATOMIC_SEQ_CST);
}
static inline void op_bits_clear(struct cport_op *op, uint16_t b)
{
	__atomic_fetch_and(&op->_bits, (uint16_t)~b, __ATOMIC_SEQ_CST);
}
static inline bool op_bits_test(const struct cport_op *op, uint16_t b)
{
	return __atomic_load_n(&op->_bits, __ATOMIC_SEQ_CST) & b;
}

static inline uint8_t op_state(const struct cport_op *op)
{
	return __atomic_load_n(&op->_state, __ATOMIC_ACQUIRE);
}
static inline void op_set_state(struct cport_op *op, uint8_t s)
{
	__atomic_store_n(&op->_state, s, __ATOMIC_RELEASE);
}
static inline bool op_claim(struct cport_op *op)
{
	uint8_t idle = OP_IDLE;
	return __atomic_compare_exchange_n(&op->_state, &idle, OP_INFLIGHT, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static inline struct cport_op *op_of_queue_link(struct cport_link *k)
{
	return list_entry(k, struct cport_op, _queue_link);
}

/* Is this op kind a read-side op (waits for readability)? */
static inline bool op_is_read(unsigned kind)
{
	return kind == CPORT_OP_RECV || kind == CPORT_OP_RECVFROM || kind == CPORT_OP_ACCEPT ||
	       kind == CPORT_OP_RECV_POOLED || kind == CPORT_OP_RECVMSG;
}

/* The events a poll op waits for (cport_poll keeps them in _msg.msg_flags). */
static inline short op_poll_events(const struct cport_op *op)
{
	return (short)op->_msg.msg_flags;
}

/* What a poll op reports of revents, as poll(2) would: the events it asked
 * for, POLLERR and POLLHUP; 0 if none of them is there. */
static inline short op_poll_report(const struct cport_op *op, int revents)
{
	return (short)(revents & (op_poll_events(op) | POLLERR | POLLHUP));
}

/* Does op wait for readability (else writability)? A poll op by its events. */
static inline bool op_reads(const struct cport_op *op)
{
	return op->_kind == CPORT_OP_POLL ? op_poll_events(op) == POLLIN : op_is_read(op->_kind);
}

#endif

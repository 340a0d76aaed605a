/* req.h - what every op we start is wrapped in: the op and its completion's handler. */
#ifndef ECHO_REQ_H
#define ECHO_REQ_H

#include "cport.h"

struct counters;
struct req;

/* Handles one completion of an op its module started; counts on the
 * counters of the worker thread that dequeued it. */
typedef void req_done_fn(struct req *r, const struct cport_completion *c, struct counters *ctr);

/* Each module embeds a struct req in its own per-op struct and recovers it
 * with cport_container_of, so the worker dispatches a completion without
 * knowing what it belongs to. */
struct req {
	struct cport_op op;
	req_done_fn *done;
};

#endif

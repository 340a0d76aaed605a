/* echo_uring.c - a floor for io_uring: the least an io_uring echo server does.
 * usage: ref-uring [PORT [ADDR [MODE[,MODE...]]]]
 *   MODE: oneshot (the default), multishot, capped, cap4k or provide; and any of
 *     shared   the flags a ring several threads share can have
 *     sqpoll   a kernel thread polls the SQ (IORING_SETUP_SQPOLL)
 *     regring  enter through a registered ring fd
 *     direct   accepted sockets are direct descriptors, used as fixed files
 *     zc       every send is a zero-copy send (send_zc), done at its notification
 *     accept1  an accept per connection instead of one multishot accept
 *     big      64 KiB buffers, and only HOT_DEPTH of them in the ring at a
 *              time: a freed buffer waits on a stack, the last freed on top,
 *              and the ring is topped up from it before each wait, so a
 *              buffer is filled again a few messages after it was freed
 *              (the ring is first in, first out: given all of them, each
 *              message would go to the one freed longest ago, out of the
 *              cache). The io_uring floor for 64 KiB messages.
 *
 * One thread, one ring (single issuer, deferred task work), one provided
 * buffer ring, one multishot accept. Per connection either a receive per
 * message ("oneshot": it finds the socket empty, arms a poll, and the data's
 * arrival retries it) or one multishot receive that stays armed
 * ("multishot"); each message goes back with a send from the buffer it came
 * in. It is not a server to ship: a connection that never reads makes the
 * multishot mode take buffers until the ring runs dry. "provide" is the
 * multishot receive with a bound: a connection's receive takes only its own
 * OWN_BUFS buffers, each given to the kernel (IORING_OP_PROVIDE_BUFFERS, a
 * group per connection) while it is not being echoed, so a peer that does
 * not read finds its data left in the kernel, as with a receive per
 * message. "capped" is the multishot receive with the kernel's own bound
 * (Linux 6.17, IORING_RECV_MSHOT_LIM): the request ends by itself once it
 * has taken CAP_BYTES, and the kernel reads nothing more for the
 * connection until it is armed again, which happens only once its echoes
 * are all out. Data that comes while an echo waits is copied onto the end
 * of the last buffer queued while it fits, its own buffer going straight
 * back to the ring, so a peer that does not read holds at most a few
 * buffers (the cap's bytes, not a buffer per message) and then finds its
 * data left in the kernel. "cap4k" is capped with a cap of 4 KiB. It exists to show
 * what io_uring itself costs per message on this kernel, beside ref-epoll
 * (docs/performance.md, "The floors"), and what each of io_uring's options
 * changes in that (docs/performance.md, "Tried on the floor"). */
#include <arpa/inet.h>
#include "buf_ring.h"

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NBUF 4096 /* a power of two */
#define BUF_SIZE 16384
#define BIG_NBUF 256 /* big: 16 MiB of 64 KiB buffers, a power of two */
#define BIG_BUF_SIZE 65536
#define HOT_DEPTH 4 /* big: free buffers the ring holds */
#define BGID 0
#define QUEUED 8 /* buffers a connection may have waiting to be sent */
#define OWN_BUFS 2 /* provide: a connection's buffers */
#define CAP_BYTES BUF_SIZE /* capped: what one multishot request may take */
#define CAP_SMALL 4096 /* cap4k: the same, smaller */

enum { ACCEPT = 1, RECV = 2, SEND = 3 };

struct conn {
	int fd;
	unsigned head, n;        /* queue of received buffers to echo */
	unsigned bid[QUEUED];
	unsigned len[QUEUED];
	unsigned off;            /* of the head buffer, already sent */
	int closing;
	int inflight;            /* requests the kernel holds for it */
	int zc_res;              /* zc: a send's result, acted on at its notification */
	unsigned short bgid;     /* provide: the connection's buffer group */
	int armed, provided;     /* provide, capped: its multishot is out; provide: its buffers the kernel holds */
	char *own;               /* provide: its buffers */
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static int multishot, capped, shared, sqpoll, regring, direct, zc, accept1, provide, big;
static unsigned buf_size = BUF_SIZE, nbuf = NBUF;
static unsigned cap_bytes; /* capped: what one multishot request may take */
/* big: the free buffers not in the ring, the last freed on top; and how
 * many free ones the ring holds. */
static unsigned short hot_stack[BIG_NBUF];
static unsigned n_hot, in_ring;
/* provide: the buffer groups no connection has, BGID's excepted. */
static unsigned short free_bgid[65535];
static unsigned n_free_bgid;

static unsigned long long ud(int kind, struct conn *c)
{
	return (unsigned long long)(uintptr_t)c | (unsigned long long)kind;
}

static struct io_uring_sqe *sqe(void)
{
	struct io_uring_sqe *s = io_uring_get_sqe(&ring);
	if (!s) {
		io_uring_submit(&ring);
		s = io_uring_get_sqe(&ring);
	}
	return s;
}

static char *buf_of(struct conn *c, unsigned bid)
{
	return provide ? c->own + (size_t)bid * BUF_SIZE : bufs + (size_t)bid * buf_size;
}

static void arm_recv(struct conn *c);

/* The buffer goes back where the kernel takes buffers from: the ring, or
 * in provide mode the connection's group (and its receive is armed again
 * if the kernel ended it for want of one). */
static void give_back(struct conn *c, unsigned bid)
{
	if (provide) {
		struct io_uring_sqe *s = sqe();
		io_uring_prep_provide_buffers(s, buf_of(c, bid), BUF_SIZE, 1, c->bgid, (int)bid);
		s->flags |= IOSQE_CQE_SKIP_SUCCESS;
		io_uring_sqe_set_data64(s, 0);
		c->provided++;
		if (!c->armed && !c->closing)
			arm_recv(c);
		return;
	}
	if (big) {
		hot_stack[n_hot++] = (unsigned short)bid;
		return;
	}
	io_uring_buf_ring_add(br, bufs + (size_t)bid * buf_size, buf_size, (unsigned short)bid,
			      io_uring_buf_ring_mask(nbuf), 0);
	io_uring_buf_ring_advance(br, 1);
}

/* big: the ring gets the last freed buffers, up to HOT_DEPTH, before a wait. */
static void top_up(void)
{
	int added = 0;
	while (in_ring < HOT_DEPTH && n_hot) {
		unsigned bid = hot_stack[--n_hot];
		io_uring_buf_ring_add(br, bufs + (size_t)bid * buf_size, buf_size, (unsigned short)bid,
				      io_uring_buf_ring_mask(nbuf), added++);
		in_ring++;
	}
	io_uring_buf_ring_advance(br, added);
}

/* provide: the connection's multishot receive, on its own group. A receive
 * that finds the group empty ends at once (-ENOBUFS): its buffers go first. */
static void arm_recv(struct conn *c)
{
	struct io_uring_sqe *s = sqe();
	io_uring_prep_recv_multishot(s, c->fd, NULL, 0, 0);
	s->flags |= IOSQE_BUFFER_SELECT;
	s->buf_group = c->bgid;
	io_uring_sqe_set_data64(s, ud(RECV, c));
	c->armed = 1;
	c->inflight++;
}

static void post_recv(struct conn *c)
{
	if (provide) {
		for (unsigned i = 0; i < OWN_BUFS; i++)
			give_back(c, i);
		return;
	}
	struct io_uring_sqe *s = sqe();
	if (multishot)
		io_uring_prep_recv_multishot(s, c->fd, NULL, 0, 0);
	else
		io_uring_prep_recv(s, c->fd, NULL, buf_size, 0);
	/* The total cap is sqe->optlen, which liburing 2.3 calls file_index. */
	if (capped) {
		s->file_index = cap_bytes;
		c->armed = 1;
	}
	s->flags |= IOSQE_BUFFER_SELECT | (direct ? IOSQE_FIXED_FILE : 0);
	s->buf_group = BGID;
	io_uring_sqe_set_data64(s, ud(RECV, c));
	c->inflight++;
}

static void post_send(struct conn *c)
{
	unsigned i = c->head;
	struct io_uring_sqe *s = sqe();
	char *from = buf_of(c, c->bid[i]) + c->off;
	if (zc)
		io_uring_prep_send_zc(s, c->fd, from, c->len[i] - c->off, 0, 0);
	else
		io_uring_prep_send(s, c->fd, from, c->len[i] - c->off, 0);
	if (direct)
		s->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(s, ud(SEND, c));
	c->inflight++;
}

/* Wake the connection's receive: it ends, and the connection with it.
 * direct: not by IORING_OP_SHUTDOWN, which the kernel always runs in its
 * worker threads and which finds its file by index only there, after the
 * close that follows may have freed the index for the next connection
 * accepted; a cancel by fixed index runs at once. */
static void stop(struct conn *c)
{
	if (!direct) {
		shutdown(c->fd, SHUT_RDWR);
		return;
	}
	struct io_uring_sqe *s = sqe();
	io_uring_prep_cancel_fd(s, c->fd, IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(s, 0);
}

static void maybe_free(struct conn *c)
{
	if (provide && c->closing && c->inflight == 0 && c->provided) {
		/* The group still holds buffers: take them back before the
		 * memory goes (its CQE comes back as a receive's). */
		struct io_uring_sqe *s = sqe();
		io_uring_prep_remove_buffers(s, c->provided, c->bgid);
		io_uring_sqe_set_data64(s, ud(RECV, c));
		c->provided = 0;
		c->inflight++;
		return;
	}
	if (c->closing && c->inflight == 0) {
		while (c->n) {
			if (!provide)
				give_back(c, c->bid[c->head]);
			c->head = (c->head + 1) % QUEUED;
			c->n--;
		}
		if (direct) {
			struct io_uring_sqe *s = sqe();
			io_uring_prep_close_direct(s, (unsigned)c->fd);
			io_uring_sqe_set_data64(s, 0); /* its CQE is ignored */
		} else {
			close(c->fd);
		}
		if (provide)
			free_bgid[n_free_bgid++] = c->bgid;
		free(c->own);
		free(c);
	}
}

/* Queue the len bytes in buffer bid for the echo, and start it if it is
 * the only one. 0: the peer is far ahead of its echoes, and is dropped. */
static int enqueue(struct conn *c, unsigned bid, unsigned len)
{
	if (c->n == QUEUED) {
		give_back(c, bid);
		c->closing = 1;
		stop(c);
		return 0;
	}
	unsigned slot = (c->head + c->n) % QUEUED;
	c->bid[slot] = bid;
	c->len[slot] = len;
	if (++c->n == 1) {
		c->off = 0;
		post_send(c);
	}
	return 1;
}

/* capped: data that came while an echo waits goes onto the end of the last
 * buffer queued if it fits there (past what a send in flight reads), and
 * its own buffer straight back to the ring. 0: it does not fit. */
static int append(struct conn *c, unsigned bid, unsigned len)
{
	unsigned tail = (c->head + c->n - 1) % QUEUED;
	if (c->len[tail] + len > buf_size)
		return 0;
	memcpy(buf_of(c, c->bid[tail]) + c->len[tail], buf_of(c, bid), len);
	c->len[tail] += len;
	give_back(c, bid);
	return 1;
}

static void on_recv(struct conn *c, int res, unsigned flags)
{
	int more = (multishot || provide) && (flags & IORING_CQE_F_MORE);
	if (capped && res == -EINVAL) { /* sqe->optlen refused: no cap here */
		fprintf(stderr, "ref-uring: this kernel has no cap on a multishot receive (Linux 6.17)\n");
		exit(2);
	}
	if (!more)
		c->inflight--;
	if (capped && !more)
		c->armed = 0;
	if (big && (flags & IORING_CQE_F_BUFFER))
		in_ring--;
	if (provide) {
		if (!more)
			c->armed = 0;
		if (flags & IORING_CQE_F_BUFFER)
			c->provided--;
		if (res == -ENOBUFS && !c->closing) { /* every buffer is out: armed again by give_back */
			if (c->provided)
				arm_recv(c);
			return;
		}
	}
	if (res <= 0 || c->closing) {
		if ((flags & IORING_CQE_F_BUFFER) && !provide)
			give_back(c, flags >> IORING_CQE_BUFFER_SHIFT);
		if (res != -ENOBUFS || c->closing) {
			c->closing = 1;
			if (more)
				stop(c);
		} else if (!more && !(capped && c->n)) {
			post_recv(c); /* out of buffers: try again (capped, once the echoes are out) */
		}
		maybe_free(c);
		return;
	}
	unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
	if (!(capped && c->n && append(c, bid, (unsigned)res)) && !enqueue(c, bid, (unsigned)res))
		return;
	/* The kernel ended it (out of buffers, or capped): arm it again; capped,
	 * only once the echoes are out (on_send). */
	if (multishot && !more && !capped)
		post_recv(c);
}

/* zc: the result comes first (IORING_CQE_F_MORE), and the buffer is free
 * again only at the notification (IORING_CQE_F_NOTIF) that follows. */
static int zc_wait(struct conn *c, int *res, unsigned flags)
{
	if (flags & IORING_CQE_F_NOTIF) {
		*res = c->zc_res;
		return 0;
	}
	if (flags & IORING_CQE_F_MORE) {
		c->zc_res = *res;
		return 1;
	}
	return 0;
}

static void on_send(struct conn *c, int res, unsigned flags)
{
	if (zc && zc_wait(c, &res, flags))
		return;
	c->inflight--;
	if (res <= 0 || c->closing) {
		c->closing = 1;
		stop(c);
		maybe_free(c);
		return;
	}
	c->off += (unsigned)res;
	if (c->off < c->len[c->head]) {
		post_send(c);
		return;
	}
	give_back(c, c->bid[c->head]);
	c->head = (c->head + 1) % QUEUED;
	c->n--;
	c->off = 0;
	if (c->n)
		post_send(c);
	else if ((!multishot && !provide) || (capped && !c->armed))
		post_recv(c);
}

static void on_accept(int lfd, int res, unsigned flags)
{
	if (res >= 0) {
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(res);
		} else {
			int one = 1;
			c->fd = res; /* direct: TCP_NODELAY came from the listener */
			if (provide && (!n_free_bgid || !(c->own = malloc((size_t)OWN_BUFS * BUF_SIZE)))) {
				close(res);
				free(c);
				goto rearm;
			}
			if (provide)
				c->bgid = free_bgid[--n_free_bgid];
			if (!direct)
				setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			post_recv(c);
		}
	}
rearm:
	if (!(flags & IORING_CQE_F_MORE)) {
		struct io_uring_sqe *s = sqe();
		if (accept1) /* its CQE has no IORING_CQE_F_MORE: the next is armed here */
			io_uring_prep_accept(s, lfd, NULL, NULL, 0);
		else if (direct)
			io_uring_prep_multishot_accept_direct(s, lfd, NULL, NULL, 0);
		else
			io_uring_prep_multishot_accept(s, lfd, NULL, NULL, 0);
		io_uring_sqe_set_data64(s, ACCEPT);
	}
}

static int listen_on(const char *addr, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* accepted sockets inherit it */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096))
		return -1;
	socklen_t len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	fprintf(stderr, "ref-uring: listening on %s:%d (%s receives%s%s%s%s%s%s)\n", addr, ntohs(sa.sin_port),
		provide ? "provide" : capped ? (cap_bytes == CAP_SMALL ? "cap4k" : "capped") : multishot ? "multishot" : "oneshot", sqpoll ? ", sqpoll" : "", regring ? ", registered ring" : "",
		direct ? ", direct descriptors" : "", zc ? ", zero-copy sends" : "", accept1 ? ", an accept each" : "",
		big ? ", 64 KiB buffers, a shallow ring" : "");
	return fd;
}

static int setup(void)
{
	/* "shared": the flags a ring several threads share can have. */
	unsigned flags = shared ? IORING_SETUP_COOP_TASKRUN : IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	if (sqpoll)
		flags = IORING_SETUP_SQPOLL; /* deferred task work needs the submitter to wait: not with a poller */
	br = ref_ring_setup(&ring, flags, 4096, &bufs, nbuf, buf_size, BGID, big ? HOT_DEPTH : nbuf);
	if (!br)
		return -1;
	if (direct && io_uring_register_files_sparse(&ring, 16384) < 0)
		return -1;
	if (regring && io_uring_register_ring_fd(&ring) != 1)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *modes = argc > 3 ? argv[3] : "";
	cap_bytes = strstr(modes, "cap4k") ? CAP_SMALL : strstr(modes, "capped") ? CAP_BYTES : 0;
	capped = cap_bytes != 0;
	multishot = capped || strstr(modes, "multishot") != NULL;
	shared = strstr(modes, "shared") != NULL;
	sqpoll = strstr(modes, "sqpoll") != NULL;
	regring = strstr(modes, "regring") != NULL;
	direct = strstr(modes, "direct") != NULL;
	zc = strstr(modes, "zc") != NULL;
	accept1 = strstr(modes, "accept1") != NULL;
	provide = strstr(modes, "provide") != NULL;
	big = strstr(modes, "big") != NULL && !provide;
	if (big) {
		buf_size = BIG_BUF_SIZE;
		nbuf = BIG_NBUF;
		in_ring = HOT_DEPTH;
		for (unsigned i = nbuf; i-- > HOT_DEPTH;) /* the lowest on top */
			hot_stack[n_hot++] = (unsigned short)i;
	}
	for (unsigned g = 65535; g > 0; g--) /* the lowest given first */
		if (g != BGID)
			free_bgid[n_free_bgid++] = (unsigned short)g;
	int lfd = listen_on(argc > 2 ? argv[2] : "127.0.0.1", argc > 1 ? atoi(argv[1]) : 5150);
	if (lfd < 0 || setup() < 0) {
		perror("ref-uring");
		return 1;
	}
	on_accept(lfd, -1, 0);
	for (;;) {
		if (big)
			top_up();
		if (io_uring_submit_and_wait(&ring, 1) < 0)
			continue;
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			seen++;
			unsigned long long d = cqe->user_data;
			struct conn *c = (struct conn *)(uintptr_t)(d & ~3ull);
			switch (d & 3) {
			case ACCEPT: on_accept(lfd, cqe->res, cqe->flags); break;
			case RECV: on_recv(c, cqe->res, cqe->flags); break;
			case SEND: on_send(c, cqe->res, cqe->flags); break;
			}
		}
		io_uring_cq_advance(&ring, seen);
	}
}

/* udp_uring.c - the io_uring floor for UDP: the least an io_uring UDP echo does.
 * usage: ref-udp-uring [PORT [ADDR [pktinfo][,batch]]]   (IPv4; PORT 0 picks one; the ready line names it)
 *
 * One thread, one ring (single issuer, deferred task work), one multishot
 * recvmsg on provided buffers that stays armed, and each reply a sendto(2)
 * at once from the buffer the datagram came in (what cport-echo does with
 * CPORT_SKIP_ON_SUCCESS). Beside ref-udp (blocking recvfrom/sendto) it shows
 * what io_uring's receive path costs per datagram on this kernel
 * (docs/performance.md, "The floors"). With "pktinfo" each datagram comes
 * with IP_PKTINFO and the reply leaves from the address it was sent to, by
 * sendmsg with that control message: what a server on a wildcard address
 * must do to answer from the right one, as cport-echo does. With "batch"
 * the replies to the datagrams one wait brought are sent together by one
 * sendmmsg(2) after the wait (docs/performance.md, "Tried on the floor"). */
#include <arpa/inet.h>
#include "buf_ring.h"

#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NBUF 256 /* a power of two */
#define BUF_SIZE 65600 /* the header io_uring writes, the name, and 65507 B */
#define BGID 0

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static struct msghdr shape = {.msg_namelen = sizeof(struct sockaddr_in)};
static int pktinfo, batch;

/* A reply: its header, its one iovec, its IP_PKTINFO, the buffer it is in. */
#define BATCH_MAX 64
struct reply {
	struct iovec iov;
	char ctl[CMSG_SPACE(sizeof(struct in_pktinfo))];
	unsigned bid;
};
static struct mmsghdr out_hdr[BATCH_MAX];
static struct reply out[BATCH_MAX];
static unsigned n_out;

/* Where the datagram was sent to (its IP_PKTINFO), for the reply to leave from. */
static struct in_addr sent_to(struct io_uring_recvmsg_out *o)
{
	struct in_pktinfo pi = {0};
	for (struct cmsghdr *c = io_uring_recvmsg_cmsg_firsthdr(o, &shape); c;
	     c = io_uring_recvmsg_cmsg_nexthdr(o, &shape, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
	}
	return pi.ipi_addr;
}

/* Write the reply to the datagram in buffer bid into out[n_out]. */
static void reply_prep(struct io_uring_recvmsg_out *o, void *data, size_t len, unsigned bid)
{
	struct reply *r = &out[n_out];
	struct msghdr *m = &out_hdr[n_out].msg_hdr;
	r->iov = (struct iovec){data, len};
	r->bid = bid;
	*m = (struct msghdr){.msg_name = io_uring_recvmsg_name(o), .msg_namelen = o->namelen, .msg_iov = &r->iov,
			     .msg_iovlen = 1};
	if (!pktinfo)
		return;
	memset(r->ctl, 0, sizeof(r->ctl));
	m->msg_control = r->ctl;
	m->msg_controllen = sizeof(r->ctl);
	struct cmsghdr *c = CMSG_FIRSTHDR(m);
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
	struct in_pktinfo from = {.ipi_spec_dst = sent_to(o)};
	memcpy(CMSG_DATA(c), &from, sizeof(from));
}

static void give_back(unsigned bid);

static void send_one(int fd, const struct msghdr *m)
{
	if (pktinfo)
		(void)sendmsg(fd, m, 0);
	else
		(void)sendto(fd, m->msg_iov[0].iov_base, m->msg_iov[0].iov_len, 0, m->msg_name, m->msg_namelen);
}

/* Send the replies written so far (in batch mode one sendmmsg(2) for them
 * all) and give their buffers back. A reply that cannot go is dropped, as
 * UDP may. */
static void flush(int fd)
{
	if (n_out == 1)
		send_one(fd, &out_hdr[0].msg_hdr);
	for (unsigned done = 0; n_out > 1 && done < n_out;) {
		int r = sendmmsg(fd, out_hdr + done, n_out - done, 0);
		done += r > 0 ? (unsigned)r : 1;
	}
	for (unsigned i = 0; i < n_out; i++)
		give_back(out[i].bid);
	n_out = 0;
}

static void give_back(unsigned bid)
{
	io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(NBUF), 0);
	io_uring_buf_ring_advance(br, 1);
}

static void arm(int fd)
{
	struct io_uring_sqe *s = io_uring_get_sqe(&ring);
	io_uring_prep_recvmsg_multishot(s, fd, &shape, 0);
	s->flags |= IOSQE_BUFFER_SELECT;
	s->buf_group = BGID;
}

/* One datagram: echo it to where it came from, give the buffer back. */
static void echo(int fd, const struct io_uring_cqe *cqe)
{
	unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	void *buf = bufs + (size_t)bid * BUF_SIZE;
	struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, cqe->res, &shape);
	if (o && !(o->flags & MSG_TRUNC)) {
		void *data = io_uring_recvmsg_payload(o, &shape);
		size_t len = io_uring_recvmsg_payload_length(o, cqe->res, &shape);
		reply_prep(o, data, len, bid);
		if (++n_out == BATCH_MAX || !batch)
			flush(fd);
		return;
	}
	give_back(bid);
}

static int open_socket(const char *addr, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return -1;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
	socklen_t len = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || getsockname(fd, (struct sockaddr *)&sa, &len))
		return -1;
	if (pktinfo && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)))
		return -1;
	fprintf(stderr, "ref-udp-uring: listening on %s:%d\n", addr, ntohs(sa.sin_port));
	return fd;
}

static int setup(void)
{
	br = ref_ring_setup(&ring, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, 64, &bufs, NBUF, BUF_SIZE,
			    BGID, NBUF);
	return br ? 0 : -1;
}

int main(int argc, char **argv)
{
	pktinfo = argc > 3 && strstr(argv[3], "pktinfo") != NULL;
	batch = argc > 3 && strstr(argv[3], "batch") != NULL;
	if (pktinfo)
		shape.msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
	int fd = open_socket(argc > 2 ? argv[2] : "127.0.0.1", argc > 1 ? atoi(argv[1]) : 5150);
	if (fd < 0 || setup() < 0) {
		perror("ref-udp-uring");
		return 1;
	}
	arm(fd);
	for (;;) {
		if (io_uring_submit_and_wait(&ring, 1) < 0)
			continue;
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0, rearm = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			seen++;
			if (cqe->res >= 0 && (cqe->flags & IORING_CQE_F_BUFFER))
				echo(fd, cqe);
			if (!(cqe->flags & IORING_CQE_F_MORE))
				rearm = 1; /* ended (out of buffers, an error): arm again */
		}
		io_uring_cq_advance(&ring, seen);
		flush(fd); /* batch: the replies to every datagram of this wait, in one call */
		if (rearm)
			arm(fd);
	}
}

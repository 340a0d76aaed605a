/* udp_uring.c - the io_uring floor for UDP: the least an io_uring UDP echo does.
 * usage: ref-udp-uring [PORT [ADDR [pktinfo]]]   (IPv4; PORT 0 picks one; the ready line names it)
 *
 * One thread, one ring (single issuer, deferred task work), one multishot
 * recvmsg on provided buffers that stays armed, and each reply a sendto(2)
 * at once from the buffer the datagram came in (what cport-echo does with
 * CPORT_SKIP_ON_SUCCESS). Beside ref-udp (blocking recvfrom/sendto) it shows
 * what io_uring's receive path costs per datagram on this kernel
 * (docs/performance.md, "The floors"). With "pktinfo" each datagram comes
 * with IP_PKTINFO and the reply leaves from the address it was sent to, by
 * sendmsg with that control message: what a server on a wildcard address
 * must do to answer from the right one, as cport-echo does. */
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
static int pktinfo;

/* Reply from the address the datagram was sent to (its IP_PKTINFO). */
static void reply_from(int fd, struct io_uring_recvmsg_out *o, void *data, size_t len)
{
	struct in_pktinfo pi = {0};
	for (struct cmsghdr *c = io_uring_recvmsg_cmsg_firsthdr(o, &shape); c;
	     c = io_uring_recvmsg_cmsg_nexthdr(o, &shape, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
	}
	char ctl[CMSG_SPACE(sizeof(struct in_pktinfo))] = {0};
	struct iovec iov = {data, len};
	struct msghdr m = {.msg_name = io_uring_recvmsg_name(o), .msg_namelen = o->namelen, .msg_iov = &iov,
			   .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(pi));
	struct in_pktinfo out = {.ipi_spec_dst = pi.ipi_addr};
	memcpy(CMSG_DATA(c), &out, sizeof(out));
	(void)sendmsg(fd, &m, 0);
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
		if (pktinfo)
			reply_from(fd, o, data, len);
		else
			(void)sendto(fd, data, len, 0, io_uring_recvmsg_name(o), o->namelen);
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
			    BGID);
	return br ? 0 : -1;
}

int main(int argc, char **argv)
{
	pktinfo = argc > 3 && strcmp(argv[3], "pktinfo") == 0;
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
		if (rearm)
			arm(fd);
	}
}

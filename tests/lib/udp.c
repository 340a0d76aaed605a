/* udp.c - datagrams as completions: recvfrom/sendto with the peer address,
 * recvmsg/sendmsg with IP_PKTINFO control data and message flags. */
#include "cport_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

TEST_SUITE(udp);

#define KEY_RX 1
#define KEY_TX 2

struct udp_pair {
	int rx, tx;
	struct sockaddr_storage rx_addr, tx_addr;
	socklen_t rx_len, tx_len;
};

static void udp_pair_open(struct udp_pair *p, int family)
{
	p->rx = test_udp_socket(family, &p->rx_addr, &p->rx_len);
	p->tx = test_udp_socket(family, &p->tx_addr, &p->tx_len);
}

static void udp_pair_close(struct udp_pair *p)
{
	close(p->rx);
	close(p->tx);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) &&
		       test_addr_port(a) == test_addr_port(b);
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr &&
	       test_addr_port(a) == test_addr_port(b);
}

static void sendto_arrives_with_sender_address(int family)
{
	struct udp_pair p;
	struct cport_op rop, sop;
	struct cport_completion c;
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	char out[123], in[200];

	udp_pair_open(&p, family); /* may skip: before the port exists */
	cport_t *port = test_port_new(NULL);
	struct iovec siov[2] = {{out, 23}, {out + 23, 100}};
	struct iovec riov = {in, sizeof(in)};

	cr_assert_eq(cport_attach(port, p.rx, KEY_RX), 0);
	cr_assert_eq(cport_attach(port, p.tx, KEY_TX), 0);
	cport_op_init(&rop);
	cport_op_init(&sop);
	memset(&from, 0, sizeof(from));
	cr_assert_eq(cport_recvfrom(port, p.rx, &rop, &riov, 1, (struct sockaddr *)&from, &fromlen),
		     0);
	test_pattern_fill(out, sizeof(out), 0, 3);
	cr_assert_eq(cport_sendto(port, p.tx, &sop, siov, 2, (struct sockaddr *)&p.rx_addr,
				  p.rx_len),
		     0);
	struct cport_completion cs[2];

	cr_assert_eq(test_wait_n(port, cs, 2, TEST_WAIT_MS), 2);
	for (int i = 0; i < 2; i++) {
		c = cs[i];
		if (c.op == &sop) {
			cr_assert_eq(c.key, KEY_TX);
			cr_assert_eq(c.kind, CPORT_OP_SENDTO);
			cr_assert_eq(c.result, (int64_t)sizeof(out), "sendto gave %lld",
				     (long long)c.result);
		} else {
			cr_assert_eq(c.op, &rop);
			cr_assert_eq(c.key, KEY_RX);
			cr_assert_eq(c.kind, CPORT_OP_RECVFROM);
			cr_assert_eq(c.result, (int64_t)sizeof(out), "recvfrom gave %lld",
				     (long long)c.result);
		}
	}
	cr_assert_eq(test_pattern_mismatch(in, sizeof(out), 0, 3), -1);
	cr_assert_eq(fromlen, p.tx_len, "addrlen %u, want %u", (unsigned)fromlen,
		     (unsigned)p.tx_len);
	cr_assert(same_addr(&from, &p.tx_addr), "recvfrom reported the wrong sender");

	cport_destroy(port);
	udp_pair_close(&p);
}

Test(udp, a_datagram_sent_with_sendto_arrives_through_recvfrom_with_the_senders_address,
     .timeout = TEST_TIMEOUT)
{
	sendto_arrives_with_sender_address(AF_INET);
}

Test(udp, a_datagram_over_ipv6_loopback_arrives_with_the_senders_address, .timeout = TEST_TIMEOUT)
{
	sendto_arrives_with_sender_address(AF_INET6);
}

Test(udp, each_recvfrom_takes_exactly_one_datagram, .timeout = TEST_TIMEOUT)
{
	static const size_t sizes[] = {1, 700, 64, 1400};
	struct udp_pair p;
	char out[1400], in[2000];
	struct cport_op op;
	struct cport_completion c;

	udp_pair_open(&p, AF_INET);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(cport_attach(port, p.rx, KEY_RX), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		test_pattern_fill(out, sizes[i], 0, (uint32_t)i);
		cr_assert_eq(sendto(p.tx, out, sizes[i], 0, (struct sockaddr *)&p.rx_addr, p.rx_len),
			     (ssize_t)sizes[i]);
	}
	cport_op_init(&op);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		struct iovec iov = {in, sizeof(in)};

		cr_assert_eq(
			cport_recvfrom(port, p.rx, &op, &iov, 1, (struct sockaddr *)&from, &fromlen), 0);
		test_wait_one(port, &c);
		cr_assert_eq(c.result, (int64_t)sizes[i], "datagram %zu: got %lld bytes", i,
			     (long long)c.result);
		cr_assert_eq(test_pattern_mismatch(in, sizes[i], 0, (uint32_t)i), -1);
		cr_assert(same_addr(&from, &p.tx_addr));
	}

	cport_destroy(port);
	udp_pair_close(&p);
}

Test(udp, recvmsg_and_sendmsg_carry_ip_pktinfo_control_data_and_update_the_msghdr,
     .timeout = TEST_TIMEOUT)
{
	struct udp_pair p;
	int on = 1;
	char out[77], in[128];
	struct cport_op rop, sop;
	struct cport_completion cs[2];

	udp_pair_open(&p, AF_INET);
	cport_t *port = test_port_new(NULL);

	cr_assert_eq(setsockopt(p.rx, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)), 0);
	cr_assert_eq(cport_attach(port, p.rx, KEY_RX), 0);
	cr_assert_eq(cport_attach(port, p.tx, KEY_TX), 0);

	/* The receiver: address, data and a control buffer for IP_PKTINFO. */
	struct sockaddr_storage from;
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo)) + 64];
		struct cmsghdr align;
	} rctl;
	struct iovec riov[2] = {{in, 10}, {in + 10, sizeof(in) - 10}};
	struct msghdr rmsg = {
		.msg_name = &from,
		.msg_namelen = sizeof(from),
		.msg_iov = riov,
		.msg_iovlen = 2,
		.msg_control = rctl.buf,
		.msg_controllen = sizeof(rctl.buf),
	};
	memset(&from, 0, sizeof(from));
	memset(&rctl, 0, sizeof(rctl));
	cport_op_init(&rop);
	cr_assert_eq(cport_recvmsg(port, p.rx, &rop, &rmsg), 0);

	/* The sender names its source address with IP_PKTINFO. */
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} sctl;
	struct iovec siov = {out, sizeof(out)};
	struct msghdr smsg = {
		.msg_name = &p.rx_addr,
		.msg_namelen = p.rx_len,
		.msg_iov = &siov,
		.msg_iovlen = 1,
		.msg_control = sctl.buf,
		.msg_controllen = sizeof(sctl.buf),
	};
	memset(&sctl, 0, sizeof(sctl));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&smsg);

	cm->cmsg_level = IPPROTO_IP;
	cm->cmsg_type = IP_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
	struct in_pktinfo spi = {.ipi_spec_dst.s_addr = htonl(INADDR_LOOPBACK)};

	memcpy(CMSG_DATA(cm), &spi, sizeof(spi));
	test_pattern_fill(out, sizeof(out), 0, 9);
	cport_op_init(&sop);
	cr_assert_eq(cport_sendmsg(port, p.tx, &sop, &smsg), 0);

	cr_assert_eq(test_wait_n(port, cs, 2, TEST_WAIT_MS), 2);
	for (int i = 0; i < 2; i++) {
		if (cs[i].op == &sop) {
			cr_assert_eq(cs[i].key, KEY_TX);
			cr_assert_eq(cs[i].result, (int64_t)sizeof(out), "sendmsg gave %lld",
				     (long long)cs[i].result);
		} else {
			cr_assert_eq(cs[i].op, &rop);
			cr_assert_eq(cs[i].key, KEY_RX);
			cr_assert_eq(cs[i].result, (int64_t)sizeof(out), "recvmsg gave %lld",
				     (long long)cs[i].result);
		}
	}
	cr_assert_eq(test_pattern_mismatch(in, sizeof(out), 0, 9), -1);
	cr_assert_eq(rmsg.msg_namelen, sizeof(struct sockaddr_in));
	cr_assert(same_addr(&from, &p.tx_addr), "recvmsg reported the wrong sender");
	cr_assert_eq(rmsg.msg_flags & (MSG_TRUNC | MSG_CTRUNC), 0, "msg_flags %#x", rmsg.msg_flags);
	cr_assert_lt(rmsg.msg_controllen, sizeof(rctl.buf), "msg_controllen was not updated");

	struct in_pktinfo *pi = NULL;

	for (cm = CMSG_FIRSTHDR(&rmsg); cm; cm = CMSG_NXTHDR(&rmsg, cm))
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO)
			pi = (struct in_pktinfo *)CMSG_DATA(cm);
	cr_assert_not_null(pi, "no IP_PKTINFO control message");
	struct in_pktinfo rpi;

	memcpy(&rpi, pi, sizeof(rpi));
	cr_assert_eq(rpi.ipi_addr.s_addr, htonl(INADDR_LOOPBACK), "pktinfo destination %s",
		     inet_ntoa(rpi.ipi_addr));
	cr_assert_gt(rpi.ipi_ifindex, 0);

	cport_destroy(port);
	udp_pair_close(&p);
}

Test(udp, a_recvmsg_into_a_short_buffer_reports_msg_trunc, .timeout = TEST_TIMEOUT)
{
	struct udp_pair p;
	char out[500], in[100];
	struct cport_op op;
	struct cport_completion c;

	udp_pair_open(&p, AF_INET);
	cport_t *port = test_port_new(NULL);
	struct iovec iov = {in, sizeof(in)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	cr_assert_eq(cport_attach(port, p.rx, KEY_RX), 0);
	cport_op_init(&op);
	cr_assert_eq(cport_recvmsg(port, p.rx, &op, &msg), 0);
	test_pattern_fill(out, sizeof(out), 0, 4);
	cr_assert_eq(sendto(p.tx, out, sizeof(out), 0, (struct sockaddr *)&p.rx_addr, p.rx_len),
		     (ssize_t)sizeof(out));
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, (int64_t)sizeof(in), "recvmsg gave %lld", (long long)c.result);
	cr_assert(msg.msg_flags & MSG_TRUNC, "MSG_TRUNC not reported, msg_flags %#x", msg.msg_flags);
	cr_assert_eq(test_pattern_mismatch(in, sizeof(in), 0, 4), -1);

	cport_destroy(port);
	udp_pair_close(&p);
}

/* One recvfrom into a one-buffer op, its address buffer addrlen bytes
 * (NULL for none), with the datagram already there or sent after. */
static void recvfrom_one(cport_t *port, struct udp_pair *p, bool already_there, struct sockaddr_storage *from,
			 socklen_t *fromlen, uint32_t seed)
{
	char out[300], in[400];
	struct cport_op op;
	struct cport_completion c;
	struct iovec iov = {in, sizeof(in)};

	test_pattern_fill(out, sizeof(out), 0, seed);
	if (already_there)
		cr_assert_eq(sendto(p->tx, out, sizeof(out), 0, (struct sockaddr *)&p->rx_addr, p->rx_len),
			     (ssize_t)sizeof(out));
	cport_op_init(&op);
	cr_assert_eq(cport_recvfrom(port, p->rx, &op, &iov, 1, (struct sockaddr *)from, from ? fromlen : NULL), 0);
	if (!already_there)
		cr_assert_eq(sendto(p->tx, out, sizeof(out), 0, (struct sockaddr *)&p->rx_addr, p->rx_len),
			     (ssize_t)sizeof(out));
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.result, (int64_t)sizeof(out), "recvfrom gave %lld", (long long)c.result);
	cr_assert_eq(test_pattern_mismatch(in, sizeof(out), 0, seed), -1);
}

/* As recvfrom(2): an address buffer too short for the sender's address gets
 * its first bytes, and addrlen says how long the whole address is. */
Test(udp, a_recvfrom_with_a_short_address_buffer_gets_the_address_cut_and_its_full_length,
     .timeout = TEST_TIMEOUT)
{
	struct udp_pair p;

	udp_pair_open(&p, AF_INET6); /* 28 bytes of address */
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, p.rx, KEY_RX), 0);
	for (int already = 0; already < 2; already++) {
		struct sockaddr_storage from;
		socklen_t fromlen = 8;

		memset(&from, 0xa5, sizeof(from));
		recvfrom_one(port, &p, already, &from, &fromlen, 20 + (uint32_t)already);
		cr_assert_eq(fromlen, p.tx_len, "addrlen %u, want the whole address's %u", (unsigned)fromlen,
			     (unsigned)p.tx_len);
		cr_assert_eq(memcmp(&from, &p.tx_addr, 8), 0, "the address's first 8 bytes differ");
		cr_assert_eq(((unsigned char *)&from)[8], 0xa5, "written past the 8 bytes given");
	}
	cport_destroy(port);
	udp_pair_close(&p);
}

Test(udp, a_recvfrom_with_no_address_buffer_takes_the_datagram, .timeout = TEST_TIMEOUT)
{
	struct udp_pair p;

	udp_pair_open(&p, AF_INET);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, p.rx, KEY_RX), 0);
	for (int already = 0; already < 2; already++)
		recvfrom_one(port, &p, already, NULL, NULL, 30 + (uint32_t)already);
	cport_destroy(port);
	udp_pair_close(&p);
}

/* A sendto of one buffer (one on a full socket: tests/lib/dgram_send.c):
 * the datagram reaches the address named, whole, from the sender's. */
Test(udp, a_sendto_of_one_buffer_reaches_the_address_named, .timeout = TEST_TIMEOUT)
{
	struct udp_pair p;
	char out[200], in[300];
	struct cport_op op;
	struct cport_completion c;

	udp_pair_open(&p, AF_INET);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, p.tx, KEY_TX), 0);
	struct iovec iov = {out, sizeof(out)};

	test_pattern_fill(out, sizeof(out), 0, 40);
	cport_op_init(&op);
	cr_assert_eq(cport_sendto(port, p.tx, &op, &iov, 1, (struct sockaddr *)&p.rx_addr, p.rx_len), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.op, &op);
	cr_assert_eq(c.kind, CPORT_OP_SENDTO);
	cr_assert_eq(c.result, (int64_t)sizeof(out), "sendto gave %lld", (long long)c.result);
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);

	cr_assert_eq(recvfrom(p.rx, in, sizeof(in), MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen),
		     (ssize_t)sizeof(out));
	cr_assert_eq(test_pattern_mismatch(in, sizeof(out), 0, 40), -1);
	cr_assert(same_addr(&from, &p.tx_addr), "the datagram came from the wrong address");

	cport_destroy(port);
	udp_pair_close(&p);
}

/* An address length past a sockaddr_storage is cut to one, as sendmsg(2)
 * cuts it (sendto(2) would refuse it): the same on every path. */
Test(udp, a_sendto_with_an_address_length_past_a_sockaddr_storage_is_sent, .timeout = TEST_TIMEOUT)
{
	struct udp_pair p;
	char out[50], in[100];
	struct {
		struct sockaddr_storage ss;
		char more[16];
	} to;
	struct cport_op op;
	struct cport_completion c;

	udp_pair_open(&p, AF_INET);
	memset(&to, 0, sizeof(to));
	memcpy(&to.ss, &p.rx_addr, p.rx_len);
	cport_t *port = test_port_new(NULL);
	cr_assert_eq(cport_attach(port, p.tx, KEY_TX), 0);
	struct iovec iov = {out, sizeof(out)};

	test_pattern_fill(out, sizeof(out), 0, 41);
	cport_op_init(&op);
	cr_assert_eq(cport_sendto(port, p.tx, &op, &iov, 1, (struct sockaddr *)&to, (socklen_t)sizeof(to)), 0);
	test_wait_one(port, &c);
	cr_assert_eq(c.result, (int64_t)sizeof(out), "sendto gave %lld", (long long)c.result);
	cr_assert_eq(recv(p.rx, in, sizeof(in), MSG_DONTWAIT), (ssize_t)sizeof(out));
	cr_assert_eq(test_pattern_mismatch(in, sizeof(out), 0, 41), -1);

	cport_destroy(port);
	udp_pair_close(&p);
}

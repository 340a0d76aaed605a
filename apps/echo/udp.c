/* udp.c - UDP echo (RFC 862): each datagram back to its sender, from the
 * address it was sent to, unless it looks like a reflection attack. */
#include "udp.h"

#include "counters.h"
#include "log.h"
#include "options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define UDP_SLOTS_SHARED 8 /* datagram receives in flight per socket */
#define UDP_SLOTS_PER_THREAD 2
#define UDP_BUF_SIZE 65536 /* the largest datagram fits (65,507 bytes IPv4, 65,527 IPv6 without jumbograms) */
#define UDP_AT_ONCE_MAX 32 /* datagrams a slot answers in a row without the port */

/* One datagram at a time: its receive, then its reply, then the next. */
struct udp_slot {
	struct req r;
	struct udp_sock *u;
	int sending;
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_storage peer;
	socklen_t peerlen; /* recvfrom: the peer's length (in msg.msg_namelen with recvmsg) */
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} ctl;
	unsigned char data[UDP_BUF_SIZE];
};

/* Where a datagram was sent to, read from its IP_PKTINFO/IPV6_PKTINFO. */
struct dgram_dst {
	int family; /* 0: unknown */
	struct in_addr a4;
	struct in6_addr a6;
	unsigned ifindex;
};

static void dst_read(struct msghdr *msg, struct dgram_dst *d)
{
	memset(d, 0, sizeof(*d));
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			d->family = AF_INET;
			d->a4 = pi.ipi_addr;
			d->ifindex = (unsigned)pi.ipi_ifindex;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi6;
			memcpy(&pi6, CMSG_DATA(cm), sizeof(pi6));
			d->family = AF_INET6;
			d->a6 = pi6.ipi6_addr;
			d->ifindex = pi6.ipi6_ifindex;
		}
	}
}

static int v4_is_group(struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);

	return IN_MULTICAST(h) || h == INADDR_BROADCAST;
}

static int v6_is_group(const struct in6_addr *a)
{
	struct in_addr a4;

	if (IN6_IS_ADDR_MULTICAST(a))
		return 1;
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		memcpy(&a4, &a->s6_addr[12], sizeof(a4));
		return v4_is_group(a4);
	}
	return 0;
}

int udp_dst_is_fixed(int fd, const struct sockaddr_storage *local)
{
	int v6 = local->ss_family == AF_INET6, transparent = 0;
	socklen_t len = sizeof(transparent);

	/* A transparent socket (TPROXY, as systemd's Transparent=) is given
	 * datagrams sent to other addresses. */
	if ((local->ss_family == AF_INET || v6) &&
	    (getsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, &transparent,
			&len) != 0 ||
	     transparent))
		return 0;
	if (local->ss_family == AF_INET) {
		struct in_addr a = ((const struct sockaddr_in *)local)->sin_addr;
		return a.s_addr != htonl(INADDR_ANY) && !v4_is_group(a);
	}
	if (local->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)local)->sin6_addr;
		return !IN6_IS_ADDR_UNSPECIFIED(a) && !v6_is_group(a) &&
		       !(IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr32[3] == htonl(INADDR_ANY));
	}
	return 0;
}

/* The reflection guards: C_COUNT to answer, else the counter of the drop. */
static enum counter dgram_guard(const struct config *cfg, const struct sockaddr_storage *peer,
				const struct dgram_dst *dst)
{
	unsigned port;
	int group;

	if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)peer;
		port = ntohs(in4->sin_port);
		group = v4_is_group(in4->sin_addr) || in4->sin_addr.s_addr == htonl(INADDR_ANY);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
		port = ntohs(in6->sin6_port);
		group = v6_is_group(&in6->sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
	}
	/* A datagram sent to a broadcast or multicast address would be answered
	 * by every server that heard it: an amplifier too. */
	if (dst->family == AF_INET && v4_is_group(dst->a4))
		group = 1;
	if (dst->family == AF_INET6 && v6_is_group(&dst->a6))
		group = 1;
	if (port < cfg->udp_min_port)
		return C_UDP_DROP_PRIVPORT;
	if (group && !cfg->udp_allow_broadcast)
		return C_UDP_DROP_BROADCAST;
	return C_COUNT;
}

/* The reply's control data: leave from the address the datagram came to.
 * Without it a wildcard socket answers from the route's preferred address. */
static void reply_ctl(struct udp_slot *s, const struct dgram_dst *d)
{
	struct msghdr *msg = &s->msg;
	struct cmsghdr *cm;

	memset(&s->ctl, 0, sizeof(s->ctl));
	msg->msg_control = s->ctl.buf;
	if (d->family == AF_INET && !v4_is_group(d->a4)) {
		struct in_pktinfo pi = {.ipi_spec_dst = d->a4};
		msg->msg_controllen = CMSG_SPACE(sizeof(pi));
		cm = CMSG_FIRSTHDR(msg);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	} else if (d->family == AF_INET6 && !v6_is_group(&d->a6)) {
		struct in6_pktinfo pi6 = {.ipi6_addr = d->a6, .ipi6_ifindex = d->ifindex};
		msg->msg_controllen = CMSG_SPACE(sizeof(pi6));
		cm = CMSG_FIRSTHDR(msg);
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi6));
		memcpy(CMSG_DATA(cm), &pi6, sizeof(pi6));
	} else {
		msg->msg_control = NULL;
		msg->msg_controllen = 0;
	}
}

/* Receive the next datagram into the slot. 1: one came at once (its length
 * is the op's result); 0: the receive is in flight, or the slot retired with
 * its socket; -errno: it cannot start (logged), and the slot retired. */
static int udp_recv(struct udp_slot *s, struct counters *ctr)
{
	struct udp_sock *u = s->u;
	int r;

	if (!sock_op_begin(&u->sk))
		return 0;
	s->sending = 0;
	s->iov.iov_base = s->data;
	s->iov.iov_len = sizeof(s->data);
	if (u->pktinfo) {
		s->msg = (struct msghdr){
			.msg_name = &s->peer,
			.msg_namelen = sizeof(s->peer),
			.msg_iov = &s->iov,
			.msg_iovlen = 1,
			.msg_control = s->ctl.buf,
			.msg_controllen = sizeof(s->ctl.buf),
		};
		r = cport_recvmsg(u->sk.core->port, u->sk.fd, &s->r.op, &s->msg);
	} else {
		s->peerlen = sizeof(s->peer);
		r = cport_recvfrom(u->sk.core->port, u->sk.fd, &s->r.op, &s->iov, 1, (struct sockaddr *)&s->peer,
				   &s->peerlen);
	}
	sock_op_end(&u->sk);
	if (r < 0) {
		/* Without a receive in flight this slot is lost; the socket
		 * still has its others. */
		counter_add(ctr, C_ERR_UDP_RECV, 1);
		log_limited(LK_UDP, LOG_ERR, "cannot start a datagram receive: %s", strerror(-r));
		loop_core_unref(u->sk.core);
	}
	return r;
}

static void udp_sent(int64_t res, struct counters *ctr)
{
	if (res >= 0) {
		counter_add(ctr, C_UDP_DGRAMS_OUT, 1);
		counter_add(ctr, C_UDP_BYTES_OUT, (uint64_t)res);
	} else if (res != -ECANCELED) {
		counter_add(ctr, C_ERR_UDP_SEND, 1);
		log_limited(LK_UDP, LOG_WARNING, "datagram send: %s", strerror((int)-res));
	}
}

/* Answer the datagram in the slot, or drop it. 0: the reply is in flight,
 * or the slot retired; 1: the slot is free for the next datagram. */
static int udp_reply(struct udp_slot *s, size_t len, struct counters *ctr)
{
	struct udp_sock *u = s->u;
	struct dgram_dst dst;
	enum counter drop;
	int r;

	/* recvfrom tells no MSG_TRUNC: a datagram that filled the buffer may
	 * have been cut (only an IPv6 jumbogram is longer than 65,527 bytes). */
	if (u->pktinfo ? (s->msg.msg_flags & MSG_TRUNC) != 0 : len == sizeof(s->data)) {
		counter_add(ctr, C_UDP_DROP_TRUNC, 1);
		return 1;
	}
	if (u->pktinfo)
		dst_read(&s->msg, &dst);
	else
		memset(&dst, 0, sizeof(dst)); /* the socket's own address: not a group */
	drop = dgram_guard(u->cfg, &s->peer, &dst);
	if (drop != C_COUNT) {
		counter_add(ctr, drop, 1);
		return 1;
	}
	s->iov.iov_len = len;
	if (!sock_op_begin(&u->sk))
		return 0;
	s->sending = 1;
	if (u->pktinfo) {
		reply_ctl(s, &dst);
		s->msg.msg_flags = 0;
		r = cport_sendmsg(u->sk.core->port, u->sk.fd, &s->r.op, &s->msg);
	} else {
		r = cport_sendto(u->sk.core->port, u->sk.fd, &s->r.op, &s->iov, 1, (struct sockaddr *)&s->peer,
				 s->peerlen);
	}
	sock_op_end(&u->sk);
	if (r == 1)
		udp_sent(cport_op_result(&s->r.op), ctr); /* out at once: no completion follows */
	else if (r < 0) {
		counter_add(ctr, C_ERR_UDP_SEND, 1);
		log_limited(LK_UDP, LOG_WARNING, "cannot send a datagram: %s", strerror(-r));
	}
	return r != 0;
}

/* A datagram of res bytes is in the slot (or a receive failed): answer it. 1: the slot is free. */
static int udp_received(struct udp_slot *s, int64_t res, struct counters *ctr)
{
	if (res < 0) {
		if (res != -ECANCELED) {
			counter_add(ctr, C_ERR_UDP_RECV, 1);
			log_limited(LK_UDP, LOG_WARNING, "datagram receive: %s", strerror((int)-res));
		}
		return 1;
	}
	counter_add(ctr, C_UDP_DGRAMS_IN, 1);
	counter_add(ctr, C_UDP_BYTES_IN, (uint64_t)res);
	return udp_reply(s, (size_t)res, ctr);
}

/* The slot is free: receive and answer until an op of it is in flight.
 * Datagrams that come at once are answered here, up to UDP_AT_ONCE_MAX;
 * then the next goes through the port as if it had completed there, so the
 * socket's flood does not keep this thread from everything else. */
static int udp_next(struct udp_slot *s, struct counters *ctr)
{
	int r;

	for (unsigned n = 0; (r = udp_recv(s, ctr)) == 1; n++) {
		int64_t res = cport_op_result(&s->r.op);
		if (n == UDP_AT_ONCE_MAX) {
			r = cport_post(s->u->sk.core->port, (uintptr_t)s->u, &s->r.op, res);
			if (r == 0)
				return 0;
			log_limited(LK_UDP, LOG_ERR, "cannot queue a datagram: %s", strerror(-r));
		}
		if (!udp_received(s, res, ctr))
			return 0;
	}
	return r;
}

static void udp_done(struct req *r, const struct cport_completion *c, struct counters *ctr)
{
	struct udp_slot *s = cport_container_of(r, struct udp_slot, r);

	if (s->sending)
		udp_sent(c->result, ctr);
	else if (!udp_received(s, c->result, ctr))
		return;
	(void)udp_next(s, ctr);
}

void udp_init(struct udp_sock *u, struct loop_core *core, const struct config *cfg)
{
	sock_init(&u->sk, core);
	u->cfg = cfg;
}

int udp_alloc_slots(struct udp_sock *u, int shared_port)
{
	unsigned n = shared_port ? UDP_SLOTS_SHARED : UDP_SLOTS_PER_THREAD;

	u->slots = calloc(n, sizeof(*u->slots));
	if (!u->slots)
		return -ENOMEM;
	for (; u->nslots < n; u->nslots++) {
		struct udp_slot *s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->r.done = udp_done;
		s->u = u;
		u->slots[u->nslots] = s;
	}
	return 0;
}

int udp_arm(struct udp_sock *u, struct counters *ctr)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);

	/* Bound to one unicast address, every datagram was sent to it and a
	 * reply leaves from it: no PKTINFO to read or write, and the plain
	 * recvfrom/sendto calls (bind.c did not ask for it either). */
	u->pktinfo = getsockname(u->sk.fd, (struct sockaddr *)&local, &len) != 0 || !udp_dst_is_fixed(u->sk.fd, &local);
	/* A reply goes out in the call that sends it, nearly always: the
	 * slot is free again without a trip through the port. */
	int r = cport_set_completion_modes(u->sk.core->port, u->sk.fd, CPORT_SKIP_ON_SUCCESS);

	if (r < 0) {
		log_msg(LOG_ERR, "cannot set a UDP socket's completion modes: %s", strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < u->nslots; i++) {
		loop_core_ref(u->sk.core);
		r = udp_next(u->slots[i], ctr);
		if (r < 0)
			return r;
	}
	return 0;
}

void udp_free(struct udp_sock *u)
{
	sock_free(&u->sk);
	for (unsigned k = 0; k < u->nslots; k++)
		free(u->slots[k]);
	free(u->slots);
}

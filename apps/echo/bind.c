/* bind.c - opening and binding the sockets that serve the configured addresses. */
#include "bind.h"

#include "log.h"
#include "udp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#define BIND_TRIES 16 /* port 0 in a group: tries to find a port free for all */

static uint16_t sa_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void sa_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static int set_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v));
}

/* Set the options a socket needs before bind; -1 with errno set and *what. */
static int socket_prepare(int fd, const struct sockaddr_storage *ss, int type, int reuseport, const char **what)
{
	int family = ss->ss_family;

	if (type == SOCK_STREAM && set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0) {
		*what = "setsockopt(SO_REUSEADDR)";
		return -1;
	}
	if (reuseport && set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0) {
		*what = "setsockopt(SO_REUSEPORT)";
		return -1;
	}
	/* Explicit, whatever net.ipv6.bindv6only says: IPv4 has its own socket. */
	if (family == AF_INET6 && set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) != 0) {
		*what = "setsockopt(IPV6_V6ONLY)";
		return -1;
	}
	/* Echo is interactive: do not hold small replies back (Nagle). Set on
	 * the listener, every connection accepted from it has it, without a
	 * system call of its own. */
	if (type == SOCK_STREAM && set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1) != 0) {
		*what = "setsockopt(TCP_NODELAY)";
		return -1;
	}
	/* Datagrams tell which address they were sent to, so the reply can
	 * leave from that address; bound to one unicast address, they all were
	 * sent to it (udp.c asks for no PKTINFO then). */
	if (type != SOCK_DGRAM || udp_dst_is_fixed(fd, ss))
		return 0;
	if (family == AF_INET && set_int(fd, IPPROTO_IP, IP_PKTINFO, 1) != 0) {
		*what = "setsockopt(IP_PKTINFO)";
		return -1;
	}
	if (family == AF_INET6 && set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1) != 0) {
		*what = "setsockopt(IPV6_RECVPKTINFO)";
		return -1;
	}
	return 0;
}

/* A bound (and for TCP listening) socket on la with the given port.
 * Returns the fd and the bound address, or -errno and *what failed. */
static int socket_open(const struct listen_addr *la, int type, uint16_t port, int reuseport,
		       struct sockaddr_storage *bound, const char **what)
{
	struct sockaddr_storage ss = la->ss;
	socklen_t len = sizeof(*bound);
	int fd, err;

	fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*what = "socket";
		return -errno;
	}
	sa_set_port(&ss, port);
	if (socket_prepare(fd, &ss, type, reuseport, what) != 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, la->len) != 0) {
		*what = "bind";
		goto fail;
	}
	if (type == SOCK_STREAM && listen(fd, SOMAXCONN) != 0) {
		*what = "listen";
		goto fail;
	}
	if (getsockname(fd, (struct sockaddr *)bound, &len) != 0) {
		*what = "getsockname";
		goto fail;
	}
	return fd;
fail:
	err = errno;
	close(fd);
	return -err;
}

/* An inherited socket, as it is: the first copy gets it, the others (one
 * per loop, --model per-thread) a duplicate of it, all sharing its queue.
 * A datagram socket learns where each datagram was sent to, as ours do; a
 * TCP listener's connections send at once, as ours do (on a stream
 * listener that is not TCP, an AF_UNIX one, there is nothing to set). */
static int inherited_open(const struct listen_addr *la, unsigned copy, struct sockaddr_storage *bound,
			  const char **what)
{
	int fd = copy == 0 ? la->fd : fcntl(la->fd, F_DUPFD_CLOEXEC, 3);

	if (fd < 0) {
		*what = "fcntl(F_DUPFD_CLOEXEC)";
		return -errno;
	}
	if (copy == 0 && la->proto == BIND_UDP && !udp_dst_is_fixed(fd, &la->ss)) {
		int v6 = la->ss.ss_family == AF_INET6;

		if (set_int(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVPKTINFO : IP_PKTINFO, 1) != 0) {
			*what = "setsockopt(PKTINFO)";
			return -errno;
		}
	}
	if (copy == 0 && la->proto == BIND_TCP && set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1) != 0)
		log_msg(LOG_DEBUG, "inherited listener: setsockopt(TCP_NODELAY): %s", strerror(errno));
	*bound = la->ss;
	return fd;
}

static int proto_served(const struct config *cfg, int proto)
{
	return proto == BIND_TCP ? cfg->tcp : cfg->udp;
}

static void close_addr(const struct config *cfg, const struct bind_plan *plan, unsigned i)
{
	for (unsigned k = 0; k < plan->ncopies; k++) {
		for (int t = BIND_TCP; t <= BIND_UDP; t++) {
			int *fd = proto_served(cfg, t) ? plan->fd_at(plan->ctx, k, i, t) : NULL;

			if (fd && *fd >= 0) {
				close(*fd);
				*fd = -1;
			}
		}
	}
}

/* Every socket of address i: TCP and/or UDP, one per copy. */
static int open_addr(const struct config *cfg, const struct bind_plan *plan, unsigned i,
		     uint16_t *port, const char **what, int *type)
{
	int reuseport = plan->ncopies > 1 || cfg->reuseport;

	for (unsigned k = 0; k < plan->ncopies; k++) {
		for (int t = BIND_TCP; t <= BIND_UDP; t++) {
			struct sockaddr_storage bound;
			int fd;

			*type = t == BIND_TCP ? SOCK_STREAM : SOCK_DGRAM;
			if (!proto_served(cfg, t))
				continue;
			if (cfg->addrs[i].fd >= 0 && cfg->addrs[i].proto != t)
				continue;
			if (cfg->addrs[i].fd >= 0)
				fd = inherited_open(&cfg->addrs[i], k, &bound, what);
			else
				fd = socket_open(&cfg->addrs[i], *type, *port, reuseport, &bound, what);
			if (fd < 0)
				return fd;
			*plan->fd_at(plan->ctx, k, i, t) = fd;
			if (*port == 0)
				*port = sa_port(&bound);
			plan->bound[i] = bound;
		}
	}
	return 0;
}

static int optional_missing(int err)
{
	return err == -EAFNOSUPPORT || err == -EADDRNOTAVAIL || err == -EPROTONOSUPPORT;
}

/* Open the sockets of one port group. With port 0 the first socket picks
 * the port and the others must get the same; if one cannot, start over. */
static int open_group(const struct config *cfg, const struct bind_plan *plan, unsigned g)
{
	uint16_t want = 0;
	const char *what = "";
	int err = 0, type = SOCK_STREAM;
	unsigned bad_i = 0;
	char a[80];

	for (unsigned i = 0; i < cfg->naddrs; i++)
		if (cfg->addrs[i].group == g)
			want = sa_port(&cfg->addrs[i].ss);
	for (int tries = 0; tries < BIND_TRIES; tries++) {
		uint16_t port = want;
		unsigned i;

		err = 0;
		for (i = 0; i < cfg->naddrs && !err; i++) {
			if (cfg->addrs[i].group != g)
				continue;
			err = open_addr(cfg, plan, i, &port, &what, &type);
			bad_i = i;
			if (err && cfg->addrs[i].optional && optional_missing(err)) {
				addr_format((const struct sockaddr *)&cfg->addrs[i].ss, a, sizeof(a));
				log_msg(LOG_WARNING, "not serving %s: %s", a, strerror(-err));
				close_addr(cfg, plan, i);
				plan->skipped[i] = 1;
				err = 0;
			}
		}
		if (!err)
			return 0;
		for (unsigned j = 0; j < cfg->naddrs; j++)
			if (cfg->addrs[j].group == g)
				close_addr(cfg, plan, j);
		if (!(err == -EADDRINUSE && want == 0))
			break;
	}
	addr_format((const struct sockaddr *)&cfg->addrs[bad_i].ss, a, sizeof(a));
	log_msg(LOG_ERR, "cannot serve %s (%s): %s: %s", a, type == SOCK_STREAM ? "tcp" : "udp", what,
		strerror(-err));
	return err;
}

int bind_listen_tcp(const struct listen_addr *la, struct sockaddr_storage *bound)
{
	const char *what = "";
	char a[80];
	int fd;

	if (la->fd >= 0) { /* inherited, checked by inherit.c */
		*bound = la->ss;
		return la->fd;
	}
	fd = socket_open(la, SOCK_STREAM, sa_port(&la->ss), 0, bound, &what);
	if (fd < 0) {
		addr_format((const struct sockaddr *)&la->ss, a, sizeof(a));
		log_msg(LOG_ERR, "cannot serve %s (tcp): %s: %s", a, what, strerror(-fd));
	}
	return fd;
}

int bind_open_all(const struct config *cfg, const struct bind_plan *plan)
{
	unsigned served = 0;

	for (unsigned i = 0; i < cfg->naddrs; i++) {
		int first = 1;
		for (unsigned j = 0; j < i; j++)
			if (cfg->addrs[j].group == cfg->addrs[i].group)
				first = 0;
		if (first) {
			int r = open_group(cfg, plan, cfg->addrs[i].group);
			if (r < 0)
				return r;
		}
	}
	for (unsigned i = 0; i < cfg->naddrs; i++)
		served += !plan->skipped[i];
	if (!served) {
		log_msg(LOG_ERR, "no address to serve");
		return -EADDRNOTAVAIL;
	}
	return 0;
}

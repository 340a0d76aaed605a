/* inherit.c - sockets handed to us open (systemd socket activation, inetd): checked and served as they are. */
#include "inherit.h"

#include "bind.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int sockopt_int(int fd, int level, int name, int *out)
{
	socklen_t len = sizeof(*out);

	return getsockopt(fd, level, name, out, &len);
}

/* What the socket is: BIND_TCP or BIND_UDP, its address in la; else -1
 * and *why says what is wrong with it. */
static int inherit_probe(int fd, struct listen_addr *la, const char **why)
{
	int type, domain, listening = 0;

	if (sockopt_int(fd, SOL_SOCKET, SO_TYPE, &type) != 0) {
		*why = errno == ENOTSOCK ? "not a socket" : strerror(errno);
		return -1;
	}
	if (sockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &domain) != 0) {
		*why = strerror(errno);
		return -1;
	}
	if (domain != AF_INET && domain != AF_INET6) {
		*why = "not an IPv4 or IPv6 socket";
		return -1;
	}
	la->len = sizeof(la->ss);
	if (getsockname(fd, (struct sockaddr *)&la->ss, &la->len) != 0) {
		*why = strerror(errno);
		return -1;
	}
	if (type == SOCK_STREAM) {
		if (sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening) != 0 || !listening) {
			*why = "a stream socket that is not listening (a connection: inetd's 'nowait'?)";
			return -1;
		}
		return BIND_TCP;
	}
	if (type == SOCK_DGRAM) {
		/* Unbound, it would have no port for anyone to send to. */
		if (((struct sockaddr_in *)&la->ss)->sin_port == 0) {
			*why = "a datagram socket that is not bound";
			return -1;
		}
		return BIND_UDP;
	}
	*why = "neither a stream nor a datagram socket";
	return -1;
}

/* Replace the default addresses by the first inherited socket. */
static void drop_defaults(struct config *cfg)
{
	for (unsigned i = 0; i < cfg->naddrs; i++)
		if (cfg->addrs[i].fd >= 0)
			return;
	cfg->naddrs = 0;
}

static int inherit_append(struct config *cfg, const struct listen_addr *la)
{
	struct listen_addr *a = realloc(cfg->addrs, (cfg->naddrs + 1) * sizeof(*a));

	if (!a)
		return -1;
	cfg->addrs = a;
	cfg->addrs[cfg->naddrs] = *la;
	/* Its own port group: its port is whatever it is bound to. */
	cfg->addrs[cfg->naddrs].group = 1000 + cfg->naddrs;
	cfg->naddrs++;
	return 0;
}

int inherit_add(struct config *cfg, int fd, const char *name)
{
	struct listen_addr la = {.fd = fd};
	const char *why = "";
	char a[80];

	la.proto = inherit_probe(fd, &la, &why);
	if (la.proto < 0) {
		log_msg(LOG_ERR, "inherited fd %d (%s): %s", fd, name, why);
		close(fd);
		return -1;
	}
	addr_format((const struct sockaddr *)&la.ss, a, sizeof(a));
	if (!(la.proto == BIND_TCP ? cfg->tcp : cfg->udp)) {
		log_msg(LOG_WARNING, "not serving inherited fd %d (%s, %s %s): %s", fd, name,
			la.proto == BIND_TCP ? "tcp" : "udp", a, la.proto == BIND_TCP ? "--udp-only" : "--tcp-only");
		close(fd);
		return 0;
	}
	log_msg(LOG_INFO, "inherited fd %d (%s): %s %s", fd, name, la.proto == BIND_TCP ? "tcp" : "udp", a);
	drop_defaults(cfg);
	if (inherit_append(cfg, &la) != 0) {
		log_msg(LOG_ERR, "out of memory");
		close(fd);
		return -1;
	}
	return 0;
}

/* inetd gives the socket as standard output and error too: log lines
 * written there would go to the socket, or nowhere. */
static void quiet_stdio_if_socket(int fd)
{
	struct stat in, out;
	int null;

	if (fstat(fd, &in) != 0 || fstat(STDERR_FILENO, &out) != 0)
		return;
	if (in.st_dev != out.st_dev || in.st_ino != out.st_ino)
		return;
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null < 0)
		return;
	if (dup2(null, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0)
		log_msg(LOG_WARNING, "dup2: %s", strerror(errno));
	close(null);
}

int inherit_stdin(struct config *cfg)
{
	/* A descriptor of our own, close-on-exec; 0 becomes /dev/null so that
	 * nothing reads the socket through it by mistake. */
	int fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3), null;

	if (fd < 0) {
		log_msg(LOG_ERR, "--inetd: standard input: %s", strerror(errno));
		return -1;
	}
	quiet_stdio_if_socket(fd);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null >= 0) {
		if (dup2(null, STDIN_FILENO) < 0)
			log_msg(LOG_WARNING, "dup2: %s", strerror(errno));
		close(null);
	}
	return inherit_add(cfg, fd, "standard input");
}

int inherit_finish(struct config *cfg)
{
	int tcp = 0, udp = 0;

	for (unsigned i = 0; i < cfg->naddrs; i++) {
		if (cfg->addrs[i].fd < 0)
			continue; /* a default address: every inherited one was skipped */
		tcp |= cfg->addrs[i].proto == BIND_TCP;
		udp |= cfg->addrs[i].proto == BIND_UDP;
	}
	cfg->tcp = cfg->tcp && tcp;
	cfg->udp = cfg->udp && udp;
	if (!cfg->tcp && !cfg->udp) {
		log_msg(LOG_ERR, "no inherited socket left to serve");
		return -1;
	}
	return 0;
}

/* bind.h - opening and binding the sockets that serve the configured addresses. */
#ifndef ECHO_BIND_H
#define ECHO_BIND_H

#include "options.h"

enum { BIND_TCP, BIND_UDP };

/* Where the sockets go, and what came of each address. */
struct bind_plan {
	unsigned ncopies; /* sockets per address and protocol: one per loop */
	/* Where the fd of this copy, address and protocol is stored (set back
	 * to -1 if it is closed again); asked only for protocols served. */
	int *(*fd_at)(void *ctx, unsigned copy, unsigned addr, int proto);
	void *ctx;
	struct sockaddr_storage *bound; /* per address: the address really served */
	int *skipped;                   /* per address: optional, not available */
};

/* Open, bind (and listen on) a socket per copy, address of cfg and protocol
 * served; SO_REUSEPORT when there are several copies or with --reuseport
 * (cfg->reuseport). Logs what failed:
 * -errno, or -EADDRNOTAVAIL if no address is left to serve. */
int bind_open_all(const struct config *cfg, const struct bind_plan *plan);

/* One listening TCP socket on la (--metrics): the fd and *bound, or
 * -errno (logged). An inherited one (la->fd) is returned as it is. */
int bind_listen_tcp(const struct listen_addr *la, struct sockaddr_storage *bound);

#endif

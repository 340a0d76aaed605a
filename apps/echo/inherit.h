/* inherit.h - sockets handed to us open (systemd socket activation, inetd): checked and served as they are. */
#ifndef ECHO_INHERIT_H
#define ECHO_INHERIT_H

#include "options.h"

/* Serve fd, an inherited socket (name: where it came from, for messages):
 * a listening TCP socket or a bound UDP socket, IPv4 or IPv6. It replaces
 * the default addresses; a protocol not served (--tcp-only, --udp-only) is
 * closed with a warning. 0, or -1 with the reason logged (fd closed). */
int inherit_add(struct config *cfg, int fd, const char *name);

/* --inetd: standard input is the socket to serve (inetd.conf "wait"; a
 * connected socket, "nowait", is refused). 0, or -1 with the reason logged. */
int inherit_stdin(struct config *cfg);

/* After the inherited sockets are added: the protocols served are those of
 * the sockets. 0, or -1 if none is left to serve (logged). */
int inherit_finish(struct config *cfg);

#endif

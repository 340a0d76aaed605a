/* udp.h - a UDP echo socket (RFC 862): its datagram receives in flight. */
#ifndef ECHO_UDP_H
#define ECHO_UDP_H

#include "sock.h"

#include <sys/socket.h>

struct config;
struct counters;
struct udp_slot;

struct udp_sock {
	struct sock sk; /* first: see sock_attach */
	const struct config *cfg; /* the reflection guards */
	struct udp_slot **slots;
	unsigned nslots;
	int pktinfo; /* datagrams say where they were sent to (a wildcard or group bind) */
};

/* Socket fd, bound to local, receives only datagrams sent to that address
 * (a unicast one, not a wildcard or group; fd not transparent), and its
 * replies leave from it. */
int udp_dst_is_fixed(int fd, const struct sockaddr_storage *local);

/* Not opened yet; cannot fail. */
void udp_init(struct udp_sock *u, struct loop_core *core, const struct config *cfg);

/* Once sk.fd is open: its datagram slots, more on a shared port. 0 or -ENOMEM. */
int udp_alloc_slots(struct udp_sock *u, int shared_port);

/* Start every slot's receive: 0, or -errno (logged). */
int udp_arm(struct udp_sock *u, struct counters *ctr);

void udp_free(struct udp_sock *u);

#endif

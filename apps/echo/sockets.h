/* sockets.h - opening and binding cport-echo's listening sockets. */
#ifndef ECHO_SOCKETS_H
#define ECHO_SOCKETS_H

#include "server.h"

/* Open, bind (and listen on) every socket of every loop for every address
 * of the config; fills srv->bound and srv->skipped. Logs what failed. */
int sockets_open(struct server *srv);

#endif

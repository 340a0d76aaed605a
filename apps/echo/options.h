/* options.h - cport-echo's command line. */
#ifndef ECHO_OPTIONS_H
#define ECHO_OPTIONS_H

#include <sys/socket.h>

#define ECHO_DEFAULT_PORT 5150
#define EXIT_USAGE 2 /* bad command line; 1 is a failure at run time */

enum model {
	MODEL_SHARED,     /* one port, every worker thread waits on it */
	MODEL_PER_THREAD, /* a single-thread port and own listeners per thread */
};

/* One address to serve. Addresses of one group share a port number: with
 * port 0 the first bind picks it and the others take the same. */
struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned group;
	int optional; /* the default [::]: skipped with a warning where IPv6 is off */
	int fd;       /* an inherited socket (inherit.c) to serve as it is; -1: bind our own */
	int proto;    /* of an inherited socket: BIND_TCP or BIND_UDP (bind.h) */
};

struct config {
	struct listen_addr *addrs;
	unsigned naddrs;
	unsigned threads;
	int backend; /* enum cport_backend */
	enum model model;
	int tcp, udp;             /* serve TCP / UDP */
	unsigned long max_conns;  /* 0: no limit */
	unsigned long idle_ms;    /* 0: no idle timeout */
	unsigned long drain_ms;   /* SIGTERM: time left to connections */
	unsigned udp_min_port;    /* drop datagrams from source ports below */
	int udp_allow_broadcast;  /* accept broadcast/multicast sources */
	unsigned pool_buffers;    /* 0: the library's default */
	unsigned pool_buffer_size; /* 0: the library's default */
	unsigned pool_large_buffers;     /* large pool buffers per port (0: none) */
	unsigned pool_large_buffer_size; /* bytes per large pool buffer */
	int log_level;            /* LOG_ERR .. LOG_DEBUG */
	int addrs_given;          /* --listen, --bind or --port given */
	int inetd;                /* --inetd: serve the socket on standard input */
	const char *user;         /* --user: drop to this user once the sockets are open */
	struct listen_addr metrics; /* --metrics (metrics.len 0: off) */
	int proxy_protocol;              /* --proxy-protocol: each TCP connection starts with a PROXY header */
	unsigned long proxy_timeout_ms;  /* --proxy-header-timeout */
	int reuseport;                   /* --reuseport: SO_REUSEPORT, to share the port with other processes */
	unsigned long splice_pipes;      /* --splice-pipes: spliced echoes at a time (0: none) */
	int recv_ahead;                  /* --recv-ahead: pooled receives read ahead (CPORT_RECV_AHEAD) */
};

/* Parse argv into cfg. Returns 0 to run, 1 when done (--help, --version
 * printed: exit 0), -1 on a bad command line (message printed: exit 2). */
int options_parse(int argc, char **argv, struct config *cfg);

void options_free(struct config *cfg);

/* "ADDR:PORT" or "[ADDR6]:PORT" of an address, for messages. */
void addr_format(const struct sockaddr *sa, char *out, size_t outlen);

#endif

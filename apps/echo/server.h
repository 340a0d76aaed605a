/* server.h - cport-echo's objects: loops, workers, listeners, connections. */
#ifndef ECHO_SERVER_H
#define ECHO_SERVER_H

#include "counters.h"
#include "options.h"

#include "cport.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#define TICK_MS 100           /* housekeeping period: stop, timeouts, backoff */
#define WAIT_BATCH 64         /* completions taken per cport_wait */
#define ACCEPT_SLOTS_SHARED 8 /* accepts in flight per listener */
#define ACCEPT_SLOTS_PER_THREAD 4
#define UDP_SLOTS_SHARED 8 /* datagram receives in flight per socket */
#define UDP_SLOTS_PER_THREAD 2
#define UDP_BUF_SIZE 65536 /* the largest datagram (65,507 bytes IPv4) fits */
#define BACKOFF_MIN_MS 50  /* accept pause after running out of fds... */
#define BACKOFF_MAX_MS 1000 /* ...doubling up to this */
#define TRIM_PERIOD_MS 1000 /* at most this often, freed heap goes back to the system */
#define KEY_WAKE ((uintptr_t)1) /* posted: run housekeeping now (no op) */
#define LIB_POOL_BUFFERS 1024  /* cport_options.pool_buffers 0 means this */
/* Chunks waiting to be sent hold pool buffers. Past this share of the pool
 * held, a chunk is copied out so clients that never read cannot starve
 * everybody else's receives. */
#define POOL_PRESSURE_NUM 3
#define POOL_PRESSURE_DEN 4

/* What a completed op belongs to; every op we start is the first member of
 * a struct that begins with a struct req. */
enum req_type {
	REQ_CONN,        /* a connection's recv/send/close */
	REQ_ACCEPT,      /* an accept slot */
	REQ_UDP,         /* a datagram slot's recvmsg/sendmsg */
	REQ_SOCK_CLOSE,  /* a listening or UDP socket closed */
};

struct req {
	struct cport_op op;
	enum req_type type;
};

struct loop;
struct server;

/* A thread waiting on a loop's port. */
struct worker {
	struct counters ctr; /* first: its own cache lines */
	struct loop *loop;
	struct server *srv;
	pthread_t tid;
	unsigned id;
	int started;
	int owner; /* sets the loop up (creates its port) */
};

struct accept_slot {
	struct req r;
	struct listener *l;
	struct accept_slot *next_parked;
	uint64_t wake_ms; /* parked until then (backoff) */
};

/* What a listening TCP socket and a UDP socket have in common. */
struct sock {
	struct loop *loop;
	int fd;
	int attached;
	int closed; /* its close through the port completed */
	struct sockaddr_storage addr;
	pthread_mutex_t lock; /* closing vs starting an op on fd */
	int closing;
	struct req close_req;
};

struct listener {
	struct sock sk;
	_Atomic unsigned backoff_ms; /* accept pause after an error; 0 after a success */
	struct accept_slot *slots;
	unsigned nslots;
};

struct udp_slot {
	struct req r;
	struct udp_sock *u;
	int sending;
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_storage peer;
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} ctl;
	unsigned char data[UDP_BUF_SIZE];
};

struct udp_sock {
	struct sock sk;
	struct udp_slot **slots;
	unsigned nslots;
};

enum conn_state { CS_RECV, CS_SEND, CS_CLOSING };
enum kill_reason { KILL_NONE, KILL_IDLE, KILL_DRAIN };

/* One accepted TCP connection; attached under its own address as key. One
 * op at a time: recv, then send until the chunk is all out, then recv. */
struct conn {
	struct req r;
	struct loop *loop;
	struct conn *prev, *next; /* the loop's list (under loop->lock) */
	int fd;
	enum conn_state state;
	void *buf; /* the chunk being echoed: a pool buffer, or our own copy */
	uint32_t len, off;
	int buf_own; /* buf is malloc'd (copied out under pool pressure) */
	struct iovec iov; /* what the send in flight names */
	_Atomic int kill;          /* enum kill_reason: close at the next step */
	_Atomic uint64_t last_ms;  /* last completion, for --idle-timeout */
};

/* A port and what runs on it: every worker of the shared model, or one
 * worker in the per-thread model. */
struct loop {
	struct server *srv;
	cport_t *port;
	unsigned index;
	struct worker **workers;
	unsigned nworkers;
	struct listener *listeners;
	unsigned nlisteners;
	struct udp_sock *udps;
	unsigned nudps;

	unsigned pool_pressure; /* pool buffers held that count as pressure */
	char pad0[64];          /* bufs_held changes per chunk: a line of its own */
	_Atomic unsigned bufs_held; /* pool buffers held by connections */
	char pad1[64];
	_Atomic unsigned own_bufs; /* chunks copied out of the pool, not yet sent */
	_Atomic int trim_wanted;   /* memory was freed: give it back to the system */
	uint64_t next_trim_ms;

	pthread_mutex_t lock; /* conns list and parked accept slots */
	struct conn *conns;
	struct accept_slot *parked;

	pthread_mutex_t hk_lock; /* housekeeping: one thread at a time */
	_Atomic uint64_t next_hk_ms;
	uint64_t next_idle_ms;
	uint64_t drain_deadline_ms;
	_Atomic int stopping;
	/* conns alive + listener/udp ops in flight or parked: the loop is done
	 * when stopping and this reaches 0 */
	_Atomic long pending;
	_Atomic int done;

	/* set up by the owner worker; the others wait for it */
	pthread_mutex_t ready_lock;
	pthread_cond_t ready_cv;
	int ready; /* 0 setting up, 1 ready, -1 failed */
};

struct server {
	const struct config *cfg;
	struct loop *loops;
	unsigned nloops;
	struct worker *workers;
	unsigned nworkers;
	struct sockaddr_storage *bound; /* per cfg address: the address really served */
	int *skipped;                   /* per cfg address: optional, not available */
	const char *backend_name;

	_Atomic unsigned long open_conns;
	_Atomic int stop_requested; /* SIGTERM: drain */
	_Atomic int stop_now;       /* second signal or failure: close everything */
	_Atomic int failed;         /* exit status 1 */
	_Atomic unsigned workers_left;
	pthread_t main_thread;

	pthread_mutex_t reserve_lock; /* the spare fd given up to shed a connection at EMFILE */
	int reserve_fd;

	pthread_mutex_t start_lock; /* loops reporting their setup */
	pthread_cond_t start_cv;
	unsigned loops_ready, loops_failed;
	int start_err;
};

/* server.c */
int server_init(struct server *srv, const struct config *cfg);
int server_start(struct server *srv);
void server_request_stop(struct server *srv, int now);
void server_wait_workers(struct server *srv);
void server_free(struct server *srv);
void server_print_counters(struct server *srv);
uint64_t now_ms(void);

/* loop.c */
void *worker_main(void *arg);
void loop_ref(struct loop *lp);
void loop_unref(struct loop *lp);

/* loop.c: a listening or UDP socket */
void sock_init(struct sock *sk, struct loop *lp);
int sock_attach(struct sock *sk);
void sock_close(struct sock *sk);

/* tcp.c */
int listener_arm(struct worker *w, struct listener *l);
void accept_done(struct worker *w, struct accept_slot *s, const struct cport_completion *c);
void accept_rearm_parked(struct worker *w, uint64_t now, int all);
void conn_done(struct worker *w, struct conn *cn, const struct cport_completion *c);
void conn_kill(struct loop *lp, struct conn *cn, enum kill_reason why);
int reserve_fd_refill(struct server *srv);

/* udp.c */
int udp_arm(struct worker *w, struct udp_sock *u);
void udp_done(struct worker *w, struct udp_slot *s, const struct cport_completion *c);

#endif

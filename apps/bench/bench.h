/* bench.h - cport-bench's shared types: configuration, connections, workers, the run. */
#ifndef BENCH_H
#define BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "cport.h"
#include "hist.h"
#include "pattern.h"

#define BENCH_NS 1000000000ull
#define BENCH_MAX_PIPELINE 4096
#define BENCH_MAX_SIZE (16u << 20)
#define BENCH_UDP_MAX_SIZE 65507u

enum mode { MODE_CLOSED, MODE_OPEN, MODE_STREAM };

struct config {
	const char *host;
	unsigned port;
	unsigned conns;
	double duration;     /* seconds measured */
	double warmup;       /* seconds run first, not measured */
	size_t size;         /* bytes per message */
	unsigned pipeline;   /* closed loop: messages in flight per connection */
	double rate;         /* open loop: messages per second, all connections */
	double connect_rate; /* new connections per second; 0 = as fast as allowed */
	unsigned threads;
	int backend;         /* enum cport_backend */
	bool udp;
	bool own_buffers;    /* --no-pool: a receive buffer per connection */
	enum mode mode;
	double timeout;      /* seconds without progress before a connection is given up */
	const char *json_path;
	const char *hgrm_path;
	int server_pid;      /* 0: none */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char addr_text[80];
};

/* Everything counted. The first block makes a run fail; the names are the
 * JSON keys. */
enum counter {
	C_CORRUPT,         /* payload bytes changed */
	C_LOST,            /* TCP: bytes missing from the stream; UDP: datagrams not echoed in time */
	C_REORDERED,       /* TCP: bytes or messages out of order; UDP: datagrams after a later one */
	C_CROSSTALK,       /* another connection's data */
	C_CONNECT_FAILED,  /* connect completed with an error */
	C_CONNECT_TIMEOUT, /* connect did not complete in --timeout */
	C_RESET,           /* connection reset by the server */
	C_EOF,             /* server closed while data was outstanding */
	C_TIMEOUT,         /* no echo for --timeout while data was outstanding */
	C_IO_ERROR,        /* any other error from send or receive */
	C_DUPLICATE,       /* UDP: a datagram echoed twice */
	C_LATE,            /* UDP: a datagram echoed after it was counted lost */
	C_NCOUNTERS
};

extern const char *const counter_name[C_NCOUNTERS];

/* Whether a count of this kind makes the run fail; UDP loss, reordering,
 * duplication and lateness are measured, not errors. */
bool counter_is_fatal(enum counter c, bool udp);
/* Whether it is a verification mismatch (exit status 1) rather than a
 * connection problem (exit status 3). */
bool counter_is_mismatch(enum counter c, bool udp);

struct stats {
	struct hist hist;   /* latency of messages completed in the window, ns */
	struct hist late;   /* open loop: how late each message of the window was sent, ns */
	uint64_t msgs;      /* messages fully echoed in the window */
	uint64_t bytes;     /* echoed bytes verified in the window */
	uint64_t counters[C_NCOUNTERS];
	unsigned connected;
};

enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_OPEN, CONN_CLOSING, CONN_CLOSED };

/* The bytes from a TCP stream's first mismatch on, kept to name the fault. */
#define EVIDENCE_MAX 128
#define EVIDENCE_ENOUGH 64
struct evidence {
	struct pat_pos at; /* where in the stream the first wrong byte was */
	uint64_t since;    /* when it was seen */
	size_t len;
	uint8_t bytes[EVIDENCE_MAX];
};

/* One UDP datagram in flight. */
struct udp_slot {
	uint64_t seq;
	uint64_t sent;   /* ns */
	uint8_t pending; /* 1 until echoed or counted lost */
	uint8_t lost;
};

struct conn {
	uint32_t id;  /* global connection number, carried in every payload */
	uint32_t idx; /* position within its worker */
	int fd;
	enum conn_state state;
	bool tx_busy, rx_busy;
	struct cport_op op_tx; /* connect, then sends */
	struct cport_op op_rx;
	struct cport_op op_close;
	struct iovec tx_iov, rx_iov; /* the port keeps pointing at these until completion */
	struct pat_pos tx;     /* next byte to generate */
	struct pat_pos rx;     /* next byte expected back */
	uint64_t limit;        /* messages that may be generated so far */
	uint8_t *sbuf;
	size_t s_len, s_off, s_cap;
	uint8_t *rbuf; /* own receive buffer (UDP, --no-pool) */
	size_t r_cap;
	uint64_t *ts;  /* closed loop: start time of message q at ts[q % ring] */
	unsigned ring;
	struct udp_slot *slots; /* UDP: datagram q at slots[q % ring] */
	uint64_t oldest;        /* UDP: lowest sequence not yet echoed or lost */
	uint64_t next_rx;       /* UDP: one past the highest sequence echoed */
	uint64_t t_started;     /* connect began, ns */
	uint64_t t_progress;    /* last progress: bytes sent or received, or the first outstanding, ns */
	struct evidence *ev;
};

struct run;

struct worker {
	struct run *run;
	unsigned id;
	pthread_t thread;
	cport_t *port;
	struct conn *conns;
	unsigned n;
	unsigned next_connect; /* next connection to start */
	unsigned connecting;
	uint64_t t_begin;      /* when connecting began, ns */
	uint64_t next_m;       /* open loop: next message of this worker to schedule */
	uint64_t last_housekeep;
	unsigned next_start;   /* next connection to start sending */
	bool traffic;          /* every connection is up: messages may flow */
	bool stopping;         /* the window is over: no new messages */
	bool done;             /* every message is back, or the drain time is over */
	int setup_error;       /* -errno from creating the port */
	char backend[16];      /* the port's backend, by name */
	struct stats st;
	/* Published for the progress line (written by the worker only). */
	_Atomic uint64_t live_msgs, live_bytes, live_errors;
	_Atomic unsigned live_conns;
	_Atomic int tick_pending;
	/* Open loop: the pacer writes a byte into tick_fd[1]; a receive on
	 * tick_fd[0] through the port wakes the worker, so the port stays the
	 * worker's alone. */
	int tick_fd[2];
	struct cport_op tick_op;
	struct iovec tick_iov;
	char tick_buf[64];
};

struct run {
	const struct config *cfg;
	struct worker *workers;
	_Atomic unsigned resolved; /* connections whose connect succeeded or failed */
	_Atomic uint64_t t_start;   /* traffic start (open loop schedule origin); 0 = not yet */
	_Atomic uint64_t t_measure; /* window start */
	_Atomic uint64_t t_end;     /* window end */
	_Atomic int abort;
};

static inline uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * BENCH_NS + (uint64_t)t.tv_nsec;
}

/* options.c */
int options_parse(int argc, char **argv, struct config *cfg);

/* worker.c */
void *worker_main(void *arg);
void *pacer_main(void *arg);
void conn_close(struct worker *w, struct conn *c);
void conn_count(struct worker *w, enum counter k);
bool in_window(const struct worker *w, uint64_t t);
uint64_t intended_time(const struct worker *w, const struct conn *c, uint64_t seq);

/* tcp.c */
void tcp_opened(struct worker *w, struct conn *c, uint64_t now);
void tcp_pump(struct worker *w, struct conn *c, uint64_t now);
void tcp_sent(struct worker *w, struct conn *c, int64_t res, uint64_t now);
void tcp_received(struct worker *w, struct conn *c, const struct cport_completion *cp, uint64_t now);
void tcp_housekeep(struct worker *w, struct conn *c, uint64_t now);
bool tcp_idle(const struct conn *c);

/* udp.c */
int udp_open(struct worker *w, struct conn *c, uint64_t now);
void udp_pump(struct worker *w, struct conn *c, uint64_t now);
void udp_sent(struct worker *w, struct conn *c, int64_t res, uint64_t now);
void udp_received(struct worker *w, struct conn *c, const struct cport_completion *cp, uint64_t now);
void udp_housekeep(struct worker *w, struct conn *c, uint64_t now);
bool udp_idle(const struct conn *c);

/* procstat.c */
struct proc_sample {
	double cpu_s;       /* user + system seconds */
	double user_s;      /* of which in user space */
	uint64_t rss_kib;   /* resident set */
	bool ok;
};
struct proc_sample proc_sample(int pid);
double self_cpu_seconds(void);

/* report.c */
struct summary {
	struct stats total;
	uint64_t echoed_all; /* messages echoed in the whole run, warmup and drain included */
	double window_s;
	double client_cpu_s;
	struct proc_sample server_before, server_after;
	char backend[16];
	int exit_status;
};
void report_human(const struct config *cfg, const struct summary *s);
int report_json(const struct config *cfg, const struct summary *s, const char *path);
int report_hgrm(const struct summary *s, const char *path);
int summary_exit_status(const struct config *cfg, const struct summary *s);

#endif

/* stress.h - stress-ledger: a randomized exactly-once stress test of cport
 * that keeps a ledger of every operation it starts. Types shared by its files. */
#ifndef STRESS_H
#define STRESS_H

#include <cport.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REC_BUF 16384       /* bytes of buffer in each op record */
#define LARGE_BUF_SIZE 32768 /* bytes per large pool buffer, with --large-buffers */
#define KEY_CONN (1ull << 40) /* keys of attached fds: KEY_CONN | gen << 20 | slot */
#define KEY_POST_OP (1ull << 57)   /* posts with an op: KEY_POST_OP | 48 random bits */
#define KEY_POST_NULL (1ull << 56) /* posts without an op: KEY_POST_NULL | port << 32 | id */
#define NULL_POST_IDS (1u << 22)   /* null posts a run may make (a bitmap of this many bits) */
#define MAX_ERR_LOG 4               /* offending records kept for stderr, per error counter */
#define KINDS 16
#define SEEN_MAX 8 /* pools this small are watched buffer by buffer */

enum mode { MODE_SHARED, MODE_SINGLE };

/* --inject: one planted fault, to show the ledger counts it. */
enum inject { INJ_NONE, INJ_DOUBLE, INJ_STALE, INJ_KEY, INJ_KIND, INJ_EINTR, INJ_DATA, INJ_LOST, INJ_COUNT };

struct config {
	int backend; /* enum cport_backend */
	const char *backend_name;
	enum mode mode;
	unsigned threads;      /* waiting threads (shared) or single-thread ports (single) */
	unsigned conns;        /* connection slots per port */
	unsigned pool_buffers; /* 0: the library's default */
	unsigned large_buffers; /* large pool buffers (LARGE_BUF_SIZE); 0: none */
	double seconds;
	uint64_t seed;
	unsigned drain_ms; /* bound on the final close-and-drain */
	int inject;        /* enum inject */
	unsigned recv_ahead; /* percent of TCP attaches with CPORT_RECV_AHEAD */
};

/* The error counters: any nonzero one fails the run. */
enum err {
	E_DOUBLE,  /* an op completed more than once */
	E_STALE,   /* a completion after its fd's close or detach completion */
	E_KEY,     /* key differs from the one the fd was attached under (or the posted one) */
	E_KIND,    /* kind differs from the op started */
	E_RESULT,  /* a result the contract does not allow (spurious -ECANCELED, bad pooled buffer...) */
	E_EINTR,   /* an op ended -EINTR (a cancelled op may only end -ECANCELED or with its result) */
	E_EAGAIN,  /* an op ended -EAGAIN: the port passed the kernel's would-block on instead of waiting */
	E_ESCAPE,  /* a pooled receive cancelled while no buffer was free completed with data */
	E_DATA,    /* payload out of order, lost or duplicated; end of stream at the wrong place */
	E_LOST,    /* an op still in flight after the final drain */
	E_UNKNOWN, /* a completion naming an op this program never started on that port */
	E_CALL,    /* a cport call refused what the program's state says it must accept */
	E_COUNT
};

/* What was done, for the summary. */
enum stat_id {
	S_STARTED,
	S_COMPLETED,
	S_CANCEL,       /* cport_cancel calls on an op in flight */
	S_CANCEL_FD,
	S_CANCELED,     /* completions with -ECANCELED */
	S_CONNS,        /* connections made (TCP or socketpair) */
	S_TCP,
	S_REATTACH,
	S_FD_REUSED,    /* a new connection got the number its slot's last fd was closed under */
	S_PARTIAL,      /* partial sends, the rest sent after */
	S_LATE_OK,      /* a completion taken before its fd's end, handled after (legal with threads) */
	S_CROSS_END,    /* close/detach called by another thread than the one that started an op in flight */
	S_BYTES_RX,
	S_BYTES_TX,
	S_PEER_RESET,
	S_PEER_SHUT,
	S_PEER_SILENT,
	S_HELD,         /* pooled buffers released after a delay */
	S_STARVED,      /* pooled receives cancelled while we held every buffer */
	S_THAWED,       /* ... still in flight after every thread's wait had timed out once since */
	S_SKIP_FDS,     /* attaches with CPORT_SKIP_ON_SUCCESS */
	S_AHEAD_FDS,    /* attaches with CPORT_RECV_AHEAD */
	S_DONE_NOW,     /* ops done in their start call (no completion through the port) */
	S_COUNT
};

/* Counters owned by one thread, summed at the end. */
struct counters {
	uint64_t err[E_COUNT];
	uint64_t stat[S_COUNT];
	uint64_t started[KINDS];
	uint64_t completed[KINDS];
};

/* One connection: the byte streams both ways, whatever fd generation carries them. */
struct conn {
	struct slot *slot;
	int tcp;
	int echo;          /* the peer echoes (else it generates its own stream) */
	uint64_t tx_salt;  /* pattern of what this side sends */
	uint64_t rx_salt;  /* pattern of what this side receives (tx_salt for an echo peer) */
	/* this side, under the slot lock */
	int fd;
	uint64_t tx_off, rx_off;
	struct rec *rx_rec, *tx_rec; /* at most one receive and one send not yet handled */
	bool rx_dead, tx_dead;
	bool ahead; /* attached with CPORT_RECV_AHEAD: only pooled receives, never attached again */
	/* the peer's side, told to this side */
	atomic_int peer_shut;        /* the peer shut down its sending side */
	atomic_int peer_closed;      /* the peer reset or closed */
	atomic_ullong peer_shut_off; /* bytes the peer had sent when it shut down */
	atomic_int ended;            /* this side is done: the peer closes its fd */
	int peer_fd;                 /* handed to the peer thread */
	struct conn *next_new;       /* the peer thread's inbox */
};

/* One attach of a connection's fd to a port: ends with its close or detach completion. */
struct gen {
	struct conn *conn;
	uint64_t no;
	uintptr_t key;
	int fd;
	bool ended;
	uint32_t end_kind;      /* CPORT_OP_CLOSE or CPORT_OP_DETACH */
	uint64_t end_call;      /* ticket of the wait call that returned the end */
	uint64_t max_op_enter;  /* latest wait-entry ticket of an op completion handled */
	unsigned in_flight;
	unsigned starter_mask;  /* threads that started ops on it (bit per thread) */
};

enum slot_state { SLOT_EMPTY, SLOT_ATTACHED, SLOT_ENDING, SLOT_DETACHED };

struct slot {
	pthread_mutex_t mu;
	struct pctx *pc;
	unsigned idx;
	enum slot_state state;
	struct conn *conn;
	struct gen *gen;
	int last_closed_fd;
	bool detach_pending; /* the end in flight is a detach (else a close) */
};

enum rec_state { REC_FREE, REC_INFLIGHT, REC_DONE };

/* One op record: the ledger's line for one started operation. */
struct rec {
	struct cport_op op;
	atomic_int state;
	struct pctx *pc;
	uint32_t kind;
	uint64_t use;       /* how many times this record has been started */
	struct gen *gen;
	int fd;
	int starter;        /* thread index */
	bool cancel_exposed; /* a cancel, cancel_fd, close or detach reached it while in flight */
	bool nobuf_cancel;   /* ... while we held every pool buffer (pooled receive) */
	size_t len;
	uint64_t off;       /* stream offset the op starts at */
	atomic_ullong post_key;
	atomic_llong post_result;
	struct iovec iov[2];
	uint8_t buf[REC_BUF];
};

/* One port and everything that lives on it. */
struct pctx {
	unsigned idx;
	cport_t *port;
	struct slot *slots;
	unsigned nslots;
	struct rec *recs;
	unsigned nrecs;
	pthread_mutex_t pool_mu; /* the free records, oldest first */
	unsigned *free_ring;
	unsigned free_head, free_count;
	pthread_mutex_t held_mu; /* pooled buffers kept for a while */
	struct held { void *buf; uint64_t until_ns; } *held;
	unsigned nheld, cap_held;
	struct rec *frozen;       /* a starved cancel pending: no buffer is given back */
	uint64_t frozen_ticket;   /* taken once its cancel call had returned */
	struct tctx *owner;       /* single mode: the port's thread */
	bool pool_exact;  /* the pool has cap_held buffers, as far as we have seen */
	void *seen[SEEN_MAX];
	unsigned nseen;
	atomic_uint in_flight;
	atomic_ullong null_sent, null_got;
	size_t buf_size; /* the most a pooled completion may carry (a large buffer's size, if any) */
	bool destroyed;
};

enum phase { PH_RUN, PH_DRAIN, PH_DONE };

/* The wait call a completion came out of. */
struct call {
	uint64_t enter, ret; /* tickets taken before and after cport_wait */
};

struct run;

/* One thread of the test: a waiter (shared) or a port owner (single), or the peer. */
struct tctx {
	struct run *run;
	unsigned idx;
	uint64_t rng;
	struct counters cnt;
	int listen_fd;
	struct sockaddr_storage listen_addr;
	socklen_t listen_len;
	struct pctx *own; /* single mode: this thread's port */
	atomic_ullong idled; /* entry ticket of this thread's last cport_wait that timed out */
	struct cport_completion held_back; /* --inject stale */
	bool has_held_back;
	pthread_t tid;
};

struct run {
	struct config cfg;
	struct pctx *ports;
	unsigned nports;
	struct tctx *workers;
	struct tctx peer;
	struct tctx fin; /* the main thread's counters, for the final checks */
	atomic_int phase;
	atomic_uint quiesced; /* threads that stopped starting and posting */
	atomic_ullong ticket;
	atomic_ullong gen_no;
	atomic_uint null_next;
	atomic_int injected;
	_Atomic uint64_t *null_seen; /* bitmap of null post ids dequeued */
	pthread_mutex_t inbox_mu;    /* new connections for the peer thread */
	struct conn *inbox;
	pthread_mutex_t arena_mu;    /* conns and gens live until the end */
	void **arena;
	size_t narena, cap_arena;
	uint64_t t0_ns, drain_deadline_ns;
};

/* util.c */
uint64_t now_ns(void);
uint64_t rnd(uint64_t *s);
unsigned rnd_below(uint64_t *s, unsigned n);
bool chance(uint64_t *s, unsigned percent);
void pattern_fill(uint8_t *p, size_t len, uint64_t salt, uint64_t off);
long pattern_check(const uint8_t *p, size_t len, uint64_t salt, uint64_t off);
void *arena_alloc(struct run *run, size_t size);
void arena_free_all(struct run *run);
void err_log(struct run *run, struct tctx *t, enum err e, const char *what, int kind, int fd,
	     uint64_t gen, int64_t result);
void err_log_print(void);
const char *err_name(enum err e);
const char *kind_name(int kind);

/* ledger.c */
void ledger_handle(struct tctx *t, struct pctx *pc, const struct cport_completion *c, const struct call *call);
/* r's start call returned 1 (CPORT_SKIP_ON_SUCCESS): check it as its completion; s->mu held. */
void ledger_done_now(struct tctx *t, struct slot *s, struct rec *r);
unsigned ledger_lost(struct run *run, struct pctx *pc);
struct rec *rec_get(struct pctx *pc);
void rec_put(struct rec *r);
void count_started(struct tctx *t, struct pctx *pc, struct rec *r);
int post_null(struct tctx *t, struct pctx *pc);

/* actions.c */
void slot_act(struct tctx *t, struct slot *s);
void slot_drain(struct tctx *t, struct slot *s);
int conn_open(struct tctx *t, struct slot *s);
void start_recv(struct tctx *t, struct slot *s);
void start_send(struct tctx *t, struct slot *s);
void start_send_len(struct tctx *t, struct slot *s, size_t len);
void reattach(struct tctx *t, struct slot *s);
void conn_end_here(struct tctx *t, struct slot *s);
void start_end(struct tctx *t, struct slot *s, bool detach);
void post_random(struct tctx *t, struct pctx *target);

/* buffers.c */
enum held_mode { HELD_DUE, HELD_ALL, HELD_FORCE };
void held_add(struct tctx *t, struct pctx *pc, void *buf, bool now);
void held_release(struct tctx *t, struct pctx *pc, enum held_mode mode);
struct rec *starve_begin(struct tctx *t, struct slot *s);
void starve_end(struct tctx *t, struct rec *r, bool asked);
void starve_check(struct tctx *t, struct rec *r, const struct cport_completion *c);

/* sockets.c */
int listener_open(struct tctx *t);
int pair_open(struct tctx *t, bool tcp, int sv[2]);
void set_small_buffers(int fd);

/* inject.c */
int inject_parse(const char *s);
void inject_handle(struct tctx *t, struct pctx *pc, const struct cport_completion *c, const struct call *call);
void inject_poll(struct tctx *t, struct pctx *pc, bool force);

/* peer.c */
void *peer_main(void *arg);
void peer_hand_over(struct run *run, struct conn *c);

#endif

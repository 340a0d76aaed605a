/* log.h - cport-echo's log lines: levels, rate limits, journald prefixes. */
#ifndef ECHO_LOG_H
#define ECHO_LOG_H

#include <syslog.h> /* LOG_ERR ... LOG_DEBUG: the priorities we print */

/* Messages that can repeat fast; each kind has its own rate limit. */
enum log_kind {
	LK_ACCEPT_NOFD,   /* EMFILE/ENFILE at accept */
	LK_ACCEPT_NOMEM,  /* ENOBUFS/ENOMEM at accept */
	LK_ACCEPT_OTHER,  /* any other accept error */
	LK_CONN,          /* a connection failed in an unexpected way */
	LK_CONN_SETUP,    /* attaching or starting a new connection failed */
	LK_UDP,           /* a datagram could not be received or sent */
	LK_MAX_CONN,      /* a connection refused by --max-connections */
	LK_WATCHDOG,      /* a loop late for systemd's watchdog */
	LK_METRICS,       /* the metrics server's own trouble */
	LK_PROXY,         /* a connection's PROXY header refused */
	LK_COUNT
};

/* Set the threshold (LOG_ERR .. LOG_DEBUG) and look for journald on stderr. */
void log_init(int level);

/* Is prio printed at the current level? */
int log_enabled(int prio);

/* Print one line "cport-echo: ..." at prio (one write(2), whole lines). */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Same, but at most a burst of lines per interval for this kind; the number
 * of lines held back is reported with the next line that goes through. */
void log_limited(enum log_kind kind, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Print a line whatever the level (the ready line, the counters). */
void log_always(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

/* systemd.h - systemd's side of cport-echo: socket activation and sd_notify readiness. The one file that uses libsystemd. */
#ifndef ECHO_SYSTEMD_H
#define ECHO_SYSTEMD_H

#include <stdint.h>

struct config;

/* The name (FileDescriptorName=) of an inherited stream socket that serves
 * /metrics instead of echo. */
#define SD_METRICS_FD_NAME "metrics"

/* Socket activation: if LISTEN_FDS and LISTEN_PID name us, hand every
 * inherited socket to inherit_add (or, named SD_METRICS_FD_NAME, make it
 * the metrics socket), and unset the variables so that children do not see
 * them. Returns the number of sockets inherited (0: not activated), or -1
 * with the reason logged. */
int sd_activation_collect(struct config *cfg);

/* READY=1 with a STATUS= line. Without NOTIFY_SOCKET these do nothing. */
void notify_ready(const char *status);

/* STATUS= only. */
void notify_status(const char *status);

/* STOPPING=1 with a STATUS= line. */
void notify_stopping(const char *status);

/* WATCHDOG=1. */
void notify_watchdog(void);

/* The period at which to send WATCHDOG=1 (half WATCHDOG_USEC, the margin
 * sd_watchdog_enabled(3) advises), or 0 when no watchdog is asked for. */
uint64_t notify_watchdog_period_ms(void);

#endif

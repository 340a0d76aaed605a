/* systemd.c - systemd's side of cport-echo: socket activation and sd_notify readiness. The one file that uses libsystemd. */
#include "systemd.h"

#include "inherit.h"
#include "log.h"
#include "bind.h"
#include "options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

/* The metrics socket: a listening TCP socket like any other, kept aside. */
static int take_metrics_fd(struct config *cfg, int fd)
{
	struct config probe = {.tcp = 1};
	int r = inherit_add(&probe, fd, SD_METRICS_FD_NAME);

	if (r == 0 && probe.naddrs == 1 && probe.addrs[0].proto == BIND_TCP) {
		cfg->metrics = probe.addrs[0];
	} else if (r == 0) {
		log_msg(LOG_ERR, "inherited fd %d (%s): not a listening TCP socket", fd, SD_METRICS_FD_NAME);
		r = -1;
	}
	options_free(&probe);
	return r;
}

static int collect_one(struct config *cfg, int fd, const char *name)
{
	if (name && !strcmp(name, SD_METRICS_FD_NAME))
		return take_metrics_fd(cfg, fd);
	return inherit_add(cfg, fd, name ? name : "socket activation");
}

int sd_activation_collect(struct config *cfg)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names), r = 0;

	if (n < 0) {
		log_msg(LOG_ERR, "socket activation: %s", strerror(-n));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (r == 0 && collect_one(cfg, SD_LISTEN_FDS_START + i, names ? names[i] : NULL) != 0)
			r = -1;
		else if (r != 0)
			close(SD_LISTEN_FDS_START + i);
	}
	for (int i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	return r < 0 ? -1 : n;
}

static void notify(const char *what, const char *status)
{
	int r = status ? sd_notifyf(0, "%s%sSTATUS=%s", what, *what ? "\n" : "", status)
		       : sd_notify(0, what);

	if (r < 0)
		log_msg(LOG_WARNING, "sd_notify(%s): %s", what, strerror(-r));
}

void notify_ready(const char *status)
{
	notify("READY=1", status);
}

void notify_status(const char *status)
{
	notify("", status);
}

void notify_stopping(const char *status)
{
	notify("STOPPING=1", status);
}

void notify_watchdog(void)
{
	notify("WATCHDOG=1", NULL);
}

uint64_t notify_watchdog_period_ms(void)
{
	uint64_t usec = 0;
	int r = sd_watchdog_enabled(0, &usec);

	if (r < 0)
		log_msg(LOG_WARNING, "WATCHDOG_USEC: %s", strerror(-r));
	if (r <= 0 || usec == 0)
		return 0;
	return usec / 2000 ? usec / 2000 : 1;
}

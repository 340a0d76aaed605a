/* reserve_fd.c - the spare descriptor given up to shed a connection at EMFILE. */
#include "reserve_fd.h"

#include "counters.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

void reserve_fd_init(struct reserve_fd *rf)
{
	rf->fd = -1;
	pthread_mutex_init(&rf->lock, NULL);
}

static void refill_locked(struct reserve_fd *rf)
{
	if (rf->fd < 0)
		rf->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int reserve_fd_refill(struct reserve_fd *rf)
{
	int ok;

	pthread_mutex_lock(&rf->lock);
	refill_locked(rf);
	ok = rf->fd >= 0;
	pthread_mutex_unlock(&rf->lock);
	return ok ? 0 : -EMFILE;
}

/* The shed client learns at once rather than hanging, and the backlog does
 * not fill up. The shed connection is counted before it is closed, so the
 * count is up to date once the peer sees the close; and closed before the
 * refill, which at the limit needs its descriptor. */
void reserve_fd_shed(struct reserve_fd *rf, int listen_fd, struct counters *ctr)
{
	int fd;

	pthread_mutex_lock(&rf->lock);
	if (rf->fd >= 0) {
		close(rf->fd);
		rf->fd = -1;
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			counter_add(ctr, C_CONN_SHED, 1);
			close(fd);
		}
		refill_locked(rf);
	}
	pthread_mutex_unlock(&rf->lock);
}

void reserve_fd_free(struct reserve_fd *rf)
{
	if (rf->fd >= 0)
		close(rf->fd);
	rf->fd = -1;
	pthread_mutex_destroy(&rf->lock);
}

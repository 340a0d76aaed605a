/* reserve_fd.h - the spare descriptor given up to shed a connection at EMFILE. */
#ifndef ECHO_RESERVE_FD_H
#define ECHO_RESERVE_FD_H

#include <pthread.h>

struct counters;

struct reserve_fd {
	pthread_mutex_t lock;
	int fd; /* -1: given up, and not reopened yet */
};

/* Empty (no descriptor yet); cannot fail. */
void reserve_fd_init(struct reserve_fd *rf);

/* Open the spare if it is missing: 0, or -EMFILE with errno from open(2). */
int reserve_fd_refill(struct reserve_fd *rf);

/* Out of descriptors: take one waiting connection off listen_fd's backlog
 * and close it (counted in ctr), with the spare given up for the moment. */
void reserve_fd_shed(struct reserve_fd *rf, int listen_fd, struct counters *ctr);

void reserve_fd_free(struct reserve_fd *rf);

#endif

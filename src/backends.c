/* backends.c - the registry of backends and the one parser of their names. */
#include "backend.h"

#include <errno.h>
#include <string.h>

extern const struct backend backend_uring;
extern const struct backend backend_epoll;

const struct backend *const backends[] = {&backend_uring, &backend_epoll};
const unsigned backends_count = sizeof(backends) / sizeof(backends[0]);

const struct backend *backend_by_id(int id)
{
	for (unsigned i = 0; i < backends_count; i++) {
		if (backends[i]->id == id)
			return backends[i];
	}
	return NULL;
}

int cport_backend_parse(const char *name)
{
	if (!name)
		return -EINVAL;
	if (strcmp(name, "auto") == 0)
		return CPORT_BACKEND_AUTO;
	if (strcmp(name, "uring") == 0) /* the short name people type */
		return CPORT_BACKEND_URING;
	for (unsigned i = 0; i < backends_count; i++) {
		if (strcmp(name, backends[i]->name) == 0)
			return backends[i]->id;
	}
	return -EINVAL;
}

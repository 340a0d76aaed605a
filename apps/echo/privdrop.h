/* privdrop.h - --user: become an unprivileged user once the sockets are open. */
#ifndef ECHO_PRIVDROP_H
#define ECHO_PRIVDROP_H

/* Take name's uid, gid and supplementary groups, for good (real, effective
 * and saved), and check that they stuck. Before any thread starts. Refuses
 * a user whose uid is 0 (nothing would be dropped). 0, or -1 with the
 * reason logged. */
int privdrop_to(const char *name);

#endif

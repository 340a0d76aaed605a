/* privdrop.c - --user: become an unprivileged user once the sockets are open. */
#include "privdrop.h"

#include "log.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PW_BUF_MAX (1 << 20) /* getpwnam_r's buffer grows up to this */

/* name's uid and primary gid. */
static int lookup(const char *name, uid_t *uid, gid_t *gid)
{
	size_t size = 1024;
	struct passwd pw, *res = NULL;

	for (;;) {
		char *buf = malloc(size);
		int r;

		if (!buf) {
			log_msg(LOG_ERR, "--user %s: out of memory", name);
			return -1;
		}
		r = getpwnam_r(name, &pw, buf, size, &res);
		if (r == 0 && res) {
			*uid = pw.pw_uid;
			*gid = pw.pw_gid;
		}
		free(buf);
		if (r == ERANGE && size < PW_BUF_MAX) {
			size *= 2;
			continue;
		}
		if (r == 0 && res)
			return 0;
		log_msg(LOG_ERR, "--user %s: %s", name, r ? strerror(r) : "no such user");
		return -1;
	}
}

/* Supplementary groups first (needs root), then the gid, then the uid
 * (after which neither could be changed). */
static int become(const char *name, uid_t uid, gid_t gid)
{
	if (initgroups(name, gid) != 0) {
		log_msg(LOG_ERR, "--user %s: initgroups: %s", name, strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) != 0) {
		log_msg(LOG_ERR, "--user %s: setresgid(%u): %s", name, (unsigned)gid, strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) != 0) {
		log_msg(LOG_ERR, "--user %s: setresuid(%u): %s", name, (unsigned)uid, strerror(errno));
		return -1;
	}
	return 0;
}

/* Every id is the new one, and root's cannot be had back. */
static int stuck(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
		return 0;
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		return 0;
	return setuid(0) != 0 && setgid(0) != 0;
}

int privdrop_to(const char *name)
{
	uid_t uid = 0;
	gid_t gid = 0;

	if (lookup(name, &uid, &gid) != 0)
		return -1;
	if (uid == 0) {
		log_msg(LOG_ERR, "--user %s: uid 0 drops nothing; leave --user out to run as root", name);
		return -1;
	}
	if (become(name, uid, gid) != 0)
		return -1;
	if (!stuck(uid, gid)) {
		log_msg(LOG_ERR, "--user %s: the new ids did not stick", name);
		return -1;
	}
	log_msg(LOG_INFO, "running as %s (uid %u, gid %u)", name, (unsigned)uid, (unsigned)gid);
	return 0;
}

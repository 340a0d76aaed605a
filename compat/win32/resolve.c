/* resolve.c - getaddrinfo and the address conversions with Winsock's error
 * codes. glibc's EAI_* values are taken before ws2tcpip.h replaces them
 * with Winsock's. */
#include <errno.h>
#include <netdb.h>

enum {
	G_AGAIN = EAI_AGAIN,
	G_BADFLAGS = EAI_BADFLAGS,
	G_FAIL = EAI_FAIL,
	G_FAMILY = EAI_FAMILY,
	G_MEMORY = EAI_MEMORY,
	G_NONAME = EAI_NONAME,
	G_SERVICE = EAI_SERVICE,
	G_SOCKTYPE = EAI_SOCKTYPE,
	G_NODATA = EAI_NODATA,
	G_SYSTEM = EAI_SYSTEM,
};

#include "shim.h"

static int gai_to_wsa(int r)
{
	switch (r) {
	case 0: return 0;
	case G_AGAIN: return WSATRY_AGAIN;
	case G_BADFLAGS: return WSAEINVAL;
	case G_FAIL: return WSANO_RECOVERY;
	case G_FAMILY: return WSAEAFNOSUPPORT;
	case G_MEMORY: return WSA_NOT_ENOUGH_MEMORY;
	case G_NONAME: return WSAHOST_NOT_FOUND;
	case G_SERVICE: return WSATYPE_NOT_FOUND;
	case G_SOCKTYPE: return WSAESOCKTNOSUPPORT;
	case G_NODATA: return WSANO_DATA;
	case G_SYSTEM: return (int)w32_wsa_error(errno);
	default: return WSANO_RECOVERY;
	}
}

int cport_w32_getaddrinfo(PCSTR node, PCSTR service, const ADDRINFOA *hints, PADDRINFOA *res)
{
	int r = gai_to_wsa((getaddrinfo)(node, service, hints, res));
	w32_set_error((DWORD)r);
	return r;
}

const char *cport_w32_gai_strerror(int code)
{
	switch (code) {
	case 0: return "Success";
	case WSATRY_AGAIN: return (gai_strerror)(G_AGAIN);
	case WSAEINVAL: return (gai_strerror)(G_BADFLAGS);
	case WSANO_RECOVERY: return (gai_strerror)(G_FAIL);
	case WSAEAFNOSUPPORT: return (gai_strerror)(G_FAMILY);
	case WSA_NOT_ENOUGH_MEMORY: return (gai_strerror)(G_MEMORY);
	case WSAHOST_NOT_FOUND: return (gai_strerror)(G_NONAME);
	case WSATYPE_NOT_FOUND: return (gai_strerror)(G_SERVICE);
	case WSAESOCKTNOSUPPORT: return (gai_strerror)(G_SOCKTYPE);
	case WSANO_DATA: return (gai_strerror)(G_NODATA);
	default: return "Unknown error";
	}
}

int cport_w32_inet_pton(INT af, PCSTR src, PVOID dst)
{
	if (!src || !dst) {
		w32_set_error(WSAEFAULT);
		return -1;
	}
	int r = (inet_pton)(af, src, dst);
	if (r < 0)
		w32_set_error(WSAEAFNOSUPPORT);
	return r;
}

PCSTR cport_w32_inet_ntop(INT af, const VOID *src, PSTR dst, size_t size)
{
	if (!src || !dst) {
		w32_set_error(WSAEFAULT);
		return NULL;
	}
	PCSTR r = (inet_ntop)(af, src, dst, size > 0xffffffffu ? 0xffffffffu : (socklen_t)size);
	if (!r)
		w32_set_error(errno == ENOSPC ? WSAEINVAL : WSAEAFNOSUPPORT);
	return r;
}

int cport_w32_getnameinfo(const struct sockaddr *sa, socklen_t salen, PCHAR host, DWORD hostlen, PCHAR serv,
			  DWORD servlen, INT flags)
{
	int r = gai_to_wsa((getnameinfo)(sa, salen, host, host ? hostlen : 0, serv, serv ? servlen : 0, flags));
	w32_set_error((DWORD)r);
	return r;
}

/* The old resolver calls say why through h_errno; Winsock through
 * WSAGetLastError(). */
static struct hostent *host_result(struct hostent *h)
{
	if (h)
		return h;
	switch (h_errno) {
	case HOST_NOT_FOUND: w32_set_error(WSAHOST_NOT_FOUND); break;
	case TRY_AGAIN: w32_set_error(WSATRY_AGAIN); break;
	case NO_DATA: w32_set_error(WSANO_DATA); break;
	default: w32_set_error(WSANO_RECOVERY); break;
	}
	return NULL;
}

struct hostent *cport_w32_gethostbyname(const char *name)
{
	if (!name) {
		w32_set_error(WSAEFAULT);
		return NULL;
	}
	return host_result((gethostbyname)(name));
}

struct hostent *cport_w32_gethostbyaddr(const char *addr, int len, int type)
{
	if (!addr || len < 0) {
		w32_set_error(WSAEFAULT);
		return NULL;
	}
	return host_result((gethostbyaddr)(addr, (socklen_t)len, type));
}

int cport_w32_gethostname(char *name, int namelen)
{
	if (!name || namelen <= 0)
		return w32_fail(EFAULT, SOCKET_ERROR);
	if ((gethostname)(name, (size_t)namelen) < 0)
		return w32_fail(EFAULT, SOCKET_ERROR); /* too small: Windows says WSAEFAULT */
	return 0;
}

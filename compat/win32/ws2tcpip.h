/* ws2tcpip.h - name resolution and address conversion, Winsock's way:
 * getaddrinfo returns Winsock's error codes (and sets WSAGetLastError()). */
#ifndef CPORT_COMPAT_WS2TCPIP_H
#define CPORT_COMPAT_WS2TCPIP_H

#include "winsock2.h"

#include <netdb.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct addrinfo ADDRINFOA, *PADDRINFOA;
typedef ADDRINFOA ADDRINFO, *LPADDRINFO;

/* getaddrinfo's results are Winsock error codes here, as on Windows. */
#undef EAI_AGAIN
#undef EAI_BADFLAGS
#undef EAI_FAIL
#undef EAI_FAMILY
#undef EAI_MEMORY
#undef EAI_NONAME
#undef EAI_SERVICE
#undef EAI_SOCKTYPE
#undef EAI_NODATA
#define EAI_AGAIN WSATRY_AGAIN
#define EAI_BADFLAGS WSAEINVAL
#define EAI_FAIL WSANO_RECOVERY
#define EAI_FAMILY WSAEAFNOSUPPORT
#define EAI_MEMORY WSA_NOT_ENOUGH_MEMORY
#define EAI_NONAME WSAHOST_NOT_FOUND
#define EAI_SERVICE WSATYPE_NOT_FOUND
#define EAI_SOCKTYPE WSAESOCKTNOSUPPORT
#define EAI_NODATA WSANO_DATA

CPORT_W32_API int cport_w32_getaddrinfo(PCSTR pNodeName, PCSTR pServiceName, const ADDRINFOA *pHints,
					PADDRINFOA *ppResult);
CPORT_W32_API const char *cport_w32_gai_strerror(int ecode);
CPORT_W32_API int cport_w32_inet_pton(INT Family, PCSTR pszAddrString, PVOID pAddrBuf);
CPORT_W32_API PCSTR cport_w32_inet_ntop(INT Family, const VOID *pAddr, PSTR pStringBuf, size_t StringBufSize);
CPORT_W32_API int cport_w32_getnameinfo(const struct sockaddr *pSockaddr, socklen_t SockaddrLength, PCHAR pNodeBuffer,
					DWORD NodeBufferSize, PCHAR pServiceBuffer, DWORD ServiceBufferSize, INT Flags);
#define getaddrinfo(node, service, hints, res) cport_w32_getaddrinfo((node), (service), (hints), (res))
#define getnameinfo(sa, salen, host, hostlen, serv, servlen, flags) \
	cport_w32_getnameinfo((sa), (salen), (host), (hostlen), (serv), (servlen), (flags))
#define gai_strerror(code) cport_w32_gai_strerror(code)
#define gai_strerrorA gai_strerror
#define inet_pton(af, src, dst) cport_w32_inet_pton((af), (src), (dst))
#define inet_ntop(af, src, dst, size) cport_w32_inet_ntop((af), (src), (dst), (size))
/* freeaddrinfo is glibc's own: the list is glibc's. */

#ifdef __cplusplus
}
#endif
#endif

/* winsock2.h - the Winsock subset classic IOCP programs use, over cport.
 *
 * The BSD calls (bind, accept, recv, ...) take Winsock's argument types and
 * set WSAGetLastError(): each is a function-like macro for the shim's own
 * function, so glibc's declarations stay untouched. */
#ifndef CPORT_COMPAT_WINSOCK2_H
#define CPORT_COMPAT_WINSOCK2_H

#ifdef FD_SETSIZE
#undef FD_SETSIZE /* glibc's own is used: see windows.h */
#endif

#include "windows.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef UINT_PTR SOCKET;
#define INVALID_SOCKET ((SOCKET)~(UINT_PTR)0)
#define SOCKET_ERROR (-1)

typedef struct sockaddr SOCKADDR, *PSOCKADDR, *LPSOCKADDR;
typedef struct sockaddr_in SOCKADDR_IN, *PSOCKADDR_IN, *LPSOCKADDR_IN;
typedef struct sockaddr_in6 SOCKADDR_IN6, *PSOCKADDR_IN6, *LPSOCKADDR_IN6;
typedef struct sockaddr_storage SOCKADDR_STORAGE, *PSOCKADDR_STORAGE, *LPSOCKADDR_STORAGE;
typedef struct in_addr IN_ADDR, *PIN_ADDR;
typedef struct in6_addr IN6_ADDR, *PIN6_ADDR;
typedef struct linger LINGER, *PLINGER;
typedef unsigned short ADDRESS_FAMILY;

typedef struct _WSABUF {
	ULONG len;
	CHAR *buf;
} WSABUF, *LPWSABUF;

#define WSADESCRIPTION_LEN 256
#define WSASYS_STATUS_LEN 128
/* The 64-bit layout: the vendor info comes before the strings there. */
typedef struct WSAData {
	WORD wVersion;
	WORD wHighVersion;
	unsigned short iMaxSockets;
	unsigned short iMaxUdpDg;
	char *lpVendorInfo;
	char szDescription[WSADESCRIPTION_LEN + 1];
	char szSystemStatus[WSASYS_STATUS_LEN + 1];
} WSADATA, *LPWSADATA;

/* Only ever passed as NULL by the programs the shim carries. */
typedef struct _WSAPROTOCOL_INFOA WSAPROTOCOL_INFOA, *LPWSAPROTOCOL_INFOA;
typedef struct _WSAPROTOCOL_INFOW WSAPROTOCOL_INFOW, *LPWSAPROTOCOL_INFOW;
typedef unsigned int GROUP;
typedef OVERLAPPED WSAOVERLAPPED, *LPWSAOVERLAPPED;
typedef void(CALLBACK *LPWSAOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwError, DWORD cbTransferred,
							  LPWSAOVERLAPPED lpOverlapped, DWORD dwFlags);
typedef struct _QualityOfService QOS, *LPQOS;
typedef int(CALLBACK *LPCONDITIONPROC)(LPWSABUF lpCallerId, LPWSABUF lpCallerData, LPQOS lpSQOS, LPQOS lpGQOS,
				       LPWSABUF lpCalleeId, LPWSABUF lpCalleeData, GROUP *g,
				       DWORD_PTR dwCallbackData);

/* Events: the shim's event handles (manual-reset), as on Windows. */
typedef HANDLE WSAEVENT, *LPWSAEVENT;
#define WSA_INVALID_EVENT ((WSAEVENT)NULL)
#define WSA_MAXIMUM_WAIT_EVENTS MAXIMUM_WAIT_OBJECTS
#define WSA_WAIT_EVENT_0 WAIT_OBJECT_0
#define WSA_WAIT_IO_COMPLETION WAIT_IO_COMPLETION
#define WSA_WAIT_TIMEOUT WAIT_TIMEOUT
#define WSA_WAIT_FAILED WAIT_FAILED
#define WSA_INFINITE INFINITE

/* WSAPoll takes the system's pollfd: fd is an int here (a SOCKET is one). */
typedef struct pollfd WSAPOLLFD, *PWSAPOLLFD, *LPWSAPOLLFD;
#ifndef POLLRDNORM
#define POLLRDNORM 0x040
#define POLLRDBAND 0x080
#define POLLWRNORM 0x100
#define POLLWRBAND 0x200
#endif

/* Accepted by setsockopt: the port stays this socket's alone (docs/win32.md). */
#define SO_EXCLUSIVEADDRUSE ((int)(~SO_REUSEADDR))

#define WSA_FLAG_OVERLAPPED 0x01
#define CF_ACCEPT 0x0000
#define CF_REJECT 0x0001
#define CF_DEFER 0x0002
#define WSA_FLAG_NO_HANDLE_INHERIT 0x80
#define SD_RECEIVE 0
#define SD_SEND 1
#define SD_BOTH 2
/* Windows' ioctl code bits (Linux's <asm/ioctl.h> has others of these names). */
#undef IOC_VOID
#undef IOC_OUT
#undef IOC_IN
#undef IOC_INOUT
#define IOC_VOID 0x20000000u
#define IOC_OUT 0x40000000u
#define IOC_IN 0x80000000u
#define IOC_INOUT (IOC_IN | IOC_OUT)
#define IOC_WS2 0x08000000u
#define _WSAIORW(x, y) (IOC_INOUT | (x) | (y))
#define SIO_GET_EXTENSION_FUNCTION_POINTER _WSAIORW(IOC_WS2, 6)

/* Winsock's error codes: WSAGetLastError() after a failed call. */
#define WSA_IO_PENDING ERROR_IO_PENDING
#define WSA_IO_INCOMPLETE ERROR_IO_INCOMPLETE
#define WSA_OPERATION_ABORTED ERROR_OPERATION_ABORTED
#define WSA_INVALID_HANDLE ERROR_INVALID_HANDLE
#define WSA_INVALID_PARAMETER ERROR_INVALID_PARAMETER
#define WSA_NOT_ENOUGH_MEMORY ERROR_NOT_ENOUGH_MEMORY
#define WSABASEERR 10000
#define WSAEINTR 10004
#define WSAEBADF 10009
#define WSAEACCES 10013
#define WSAEFAULT 10014
#define WSAEINVAL 10022
#define WSAEMFILE 10024
#define WSAEWOULDBLOCK 10035
#define WSAEINPROGRESS 10036
#define WSAEALREADY 10037
#define WSAENOTSOCK 10038
#define WSAEDESTADDRREQ 10039
#define WSAEMSGSIZE 10040
#define WSAEPROTOTYPE 10041
#define WSAENOPROTOOPT 10042
#define WSAEPROTONOSUPPORT 10043
#define WSAESOCKTNOSUPPORT 10044
#define WSAEOPNOTSUPP 10045
#define WSAEPFNOSUPPORT 10046
#define WSAEAFNOSUPPORT 10047
#define WSAEADDRINUSE 10048
#define WSAEADDRNOTAVAIL 10049
#define WSAENETDOWN 10050
#define WSAENETUNREACH 10051
#define WSAENETRESET 10052
#define WSAECONNABORTED 10053
#define WSAECONNRESET 10054
#define WSAENOBUFS 10055
#define WSAEISCONN 10056
#define WSAENOTCONN 10057
#define WSAESHUTDOWN 10058
#define WSAETIMEDOUT 10060
#define WSAECONNREFUSED 10061
#define WSAEHOSTDOWN 10064
#define WSAEHOSTUNREACH 10065
#define WSASYSNOTREADY 10091
#define WSAVERNOTSUPPORTED 10092
#define WSANOTINITIALISED 10093
#define WSATYPE_NOT_FOUND 10109
#define WSAHOST_NOT_FOUND 11001
#define WSATRY_AGAIN 11002
#define WSANO_RECOVERY 11003
#define WSANO_DATA 11004

CPORT_W32_API int WSAStartup(WORD wVersionRequested, LPWSADATA lpWSAData);
CPORT_W32_API int WSACleanup(void);
CPORT_W32_API int WSAGetLastError(void);
CPORT_W32_API void WSASetLastError(int iError);

CPORT_W32_API SOCKET WSASocketA(int af, int type, int protocol, LPWSAPROTOCOL_INFOA lpProtocolInfo, GROUP g,
				DWORD dwFlags);
CPORT_W32_API SOCKET WSASocketW(int af, int type, int protocol, LPWSAPROTOCOL_INFOW lpProtocolInfo, GROUP g,
				DWORD dwFlags);
#ifdef UNICODE
#define WSASocket WSASocketW
#else
#define WSASocket WSASocketA
#endif
CPORT_W32_API SOCKET WSAAccept(SOCKET s, struct sockaddr *addr, LPINT addrlen, LPCONDITIONPROC lpfnCondition,
			       DWORD_PTR dwCallbackData);
CPORT_W32_API int WSARecv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd,
			  LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped,
			  LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
CPORT_W32_API int WSASend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
			  DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
			  LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
CPORT_W32_API int WSARecvFrom(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd,
			      LPDWORD lpFlags, struct sockaddr *lpFrom, LPINT lpFromlen,
			      LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
CPORT_W32_API int WSASendTo(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
			    DWORD dwFlags, const struct sockaddr *lpTo, int iTolen, LPWSAOVERLAPPED lpOverlapped,
			    LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
CPORT_W32_API int WSAIoctl(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer, DWORD cbInBuffer,
			   LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned,
			   LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
CPORT_W32_API int closesocket(SOCKET s);
CPORT_W32_API BOOL WSAGetOverlappedResult(SOCKET s, LPWSAOVERLAPPED lpOverlapped, LPDWORD lpcbTransfer, BOOL fWait,
					  LPDWORD lpdwFlags);
CPORT_W32_API WSAEVENT WSACreateEvent(void);
CPORT_W32_API BOOL WSASetEvent(WSAEVENT hEvent);
CPORT_W32_API BOOL WSAResetEvent(WSAEVENT hEvent);
CPORT_W32_API BOOL WSACloseEvent(WSAEVENT hEvent);
/* Non-alertable: fAlertable is accepted, nothing can queue an APC here. */
CPORT_W32_API DWORD WSAWaitForMultipleEvents(DWORD cEvents, const WSAEVENT *lphEvents, BOOL fWaitAll,
					     DWORD dwTimeout, BOOL fAlertable);
CPORT_W32_API int WSAPoll(LPWSAPOLLFD fdArray, ULONG fds, INT timeout);
CPORT_W32_API int ioctlsocket(SOCKET s, long cmd, u_long *argp);

/* The BSD calls with Winsock's types; they set WSAGetLastError(). */
CPORT_W32_API SOCKET cport_w32_socket(int af, int type, int protocol);
CPORT_W32_API int cport_w32_bind(SOCKET s, const struct sockaddr *name, int namelen);
CPORT_W32_API int cport_w32_listen(SOCKET s, int backlog);
CPORT_W32_API SOCKET cport_w32_accept(SOCKET s, struct sockaddr *addr, int *addrlen);
CPORT_W32_API int cport_w32_connect(SOCKET s, const struct sockaddr *name, int namelen);
CPORT_W32_API int cport_w32_shutdown(SOCKET s, int how);
CPORT_W32_API int cport_w32_setsockopt(SOCKET s, int level, int optname, const char *optval, int optlen);
CPORT_W32_API int cport_w32_getsockopt(SOCKET s, int level, int optname, char *optval, int *optlen);
CPORT_W32_API int cport_w32_getsockname(SOCKET s, struct sockaddr *name, int *namelen);
CPORT_W32_API int cport_w32_getpeername(SOCKET s, struct sockaddr *name, int *namelen);
CPORT_W32_API int cport_w32_recv(SOCKET s, char *buf, int len, int flags);
CPORT_W32_API int cport_w32_send(SOCKET s, const char *buf, int len, int flags);
CPORT_W32_API int cport_w32_recvfrom(SOCKET s, char *buf, int len, int flags, struct sockaddr *from, int *fromlen);
CPORT_W32_API int cport_w32_sendto(SOCKET s, const char *buf, int len, int flags, const struct sockaddr *to,
				   int tolen);
/* select ignores its first argument, as on Windows (the sets say which sockets). */
CPORT_W32_API int cport_w32_select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
				   const struct timeval *timeout);
CPORT_W32_API struct hostent *cport_w32_gethostbyname(const char *name);
CPORT_W32_API struct hostent *cport_w32_gethostbyaddr(const char *addr, int len, int type);
CPORT_W32_API int cport_w32_gethostname(char *name, int namelen);
#define select(nfds, r, w, e, timeout) cport_w32_select((nfds), (r), (w), (e), (timeout))
#define gethostbyname(name) cport_w32_gethostbyname(name)
#define gethostbyaddr(addr, len, type) cport_w32_gethostbyaddr((addr), (len), (type))
#define gethostname(name, namelen) cport_w32_gethostname((name), (namelen))
#define socket(af, type, protocol) cport_w32_socket((af), (type), (protocol))
#define bind(s, name, namelen) cport_w32_bind((s), (name), (namelen))
#define listen(s, backlog) cport_w32_listen((s), (backlog))
#define accept(s, addr, addrlen) cport_w32_accept((s), (addr), (addrlen))
#define connect(s, name, namelen) cport_w32_connect((s), (name), (namelen))
#define shutdown(s, how) cport_w32_shutdown((s), (how))
#define setsockopt(s, level, name, val, len) cport_w32_setsockopt((s), (level), (name), (val), (len))
#define getsockopt(s, level, name, val, len) cport_w32_getsockopt((s), (level), (name), (val), (len))
#define getsockname(s, name, namelen) cport_w32_getsockname((s), (name), (namelen))
#define getpeername(s, name, namelen) cport_w32_getpeername((s), (name), (namelen))
#define recv(s, buf, len, flags) cport_w32_recv((s), (buf), (len), (flags))
#define send(s, buf, len, flags) cport_w32_send((s), (buf), (len), (flags))
#define recvfrom(s, buf, len, flags, from, fromlen) cport_w32_recvfrom((s), (buf), (len), (flags), (from), (fromlen))
#define sendto(s, buf, len, flags, to, tolen) cport_w32_sendto((s), (buf), (len), (flags), (to), (tolen))

#ifdef __cplusplus
}
#endif


#endif

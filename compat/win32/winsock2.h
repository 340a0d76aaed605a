/* winsock2.h - the Winsock subset classic IOCP programs use, over cport. */
#ifndef CPORT_COMPAT_WINSOCK2_H
#define CPORT_COMPAT_WINSOCK2_H

#include "windows.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uintptr_t SOCKET;
#define INVALID_SOCKET ((SOCKET)~(uintptr_t)0)
#define SOCKET_ERROR (-1)

typedef struct sockaddr SOCKADDR, *PSOCKADDR, *LPSOCKADDR;
typedef struct sockaddr_in SOCKADDR_IN, *PSOCKADDR_IN;
typedef struct sockaddr_in6 SOCKADDR_IN6;
typedef struct sockaddr_storage SOCKADDR_STORAGE;

typedef struct _WSABUF {
	ULONG len;
	CHAR *buf;
} WSABUF, *LPWSABUF;

#define WSADESCRIPTION_LEN 256
#define WSASYS_STATUS_LEN 128
typedef struct WSAData {
	WORD wVersion;
	WORD wHighVersion;
	char szDescription[WSADESCRIPTION_LEN + 1];
	char szSystemStatus[WSASYS_STATUS_LEN + 1];
	unsigned short iMaxSockets;
	unsigned short iMaxUdpDg;
	char *lpVendorInfo;
} WSADATA, *LPWSADATA;

typedef struct _WSAPROTOCOL_INFOA WSAPROTOCOL_INFOA, *LPWSAPROTOCOL_INFOA;
typedef unsigned int GROUP;
typedef void(CALLBACK *LPWSAOVERLAPPED_COMPLETION_ROUTINE)(DWORD, DWORD, LPOVERLAPPED, DWORD);
typedef OVERLAPPED WSAOVERLAPPED, *LPWSAOVERLAPPED;

#define WSA_FLAG_OVERLAPPED 0x01
#define MAKEWORD(a, b) ((WORD)(((BYTE)(a)) | ((WORD)((BYTE)(b))) << 8))

#define WSA_IO_PENDING ERROR_IO_PENDING
#define WSA_OPERATION_ABORTED ERROR_OPERATION_ABORTED
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
#define WSAEMSGSIZE 10040
#define WSAEOPNOTSUPP 10045
#define WSAEADDRINUSE 10048
#define WSAEADDRNOTAVAIL 10049
#define WSAENETDOWN 10050
#define WSAENETUNREACH 10051
#define WSAECONNABORTED 10053
#define WSAECONNRESET 10054
#define WSAENOBUFS 10055
#define WSAEISCONN 10056
#define WSAENOTCONN 10057
#define WSAESHUTDOWN 10058
#define WSAETIMEDOUT 10060
#define WSAECONNREFUSED 10061
#define WSAEHOSTUNREACH 10065
#define WSANOTINITIALISED 10093

int WSAStartup(WORD version, LPWSADATA data);
int WSACleanup(void);
int WSAGetLastError(void);
void WSASetLastError(int err);
SOCKET WSASocket(int af, int type, int protocol, LPWSAPROTOCOL_INFOA info, GROUP g, DWORD flags);
#define WSASocketA WSASocket
#define WSASocketW WSASocket
int closesocket(SOCKET s);
SOCKET WSAAccept(SOCKET s, struct sockaddr *addr, int *addrlen, void *condition, DWORD_PTR callback_data);

int WSARecv(SOCKET s, LPWSABUF bufs, DWORD nbufs, LPDWORD received, LPDWORD flags, LPWSAOVERLAPPED ov,
	    LPWSAOVERLAPPED_COMPLETION_ROUTINE routine);
int WSASend(SOCKET s, LPWSABUF bufs, DWORD nbufs, LPDWORD sent, DWORD flags, LPWSAOVERLAPPED ov,
	    LPWSAOVERLAPPED_COMPLETION_ROUTINE routine);
int WSARecvFrom(SOCKET s, LPWSABUF bufs, DWORD nbufs, LPDWORD received, LPDWORD flags, struct sockaddr *from,
		int *fromlen, LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine);
int WSASendTo(SOCKET s, LPWSABUF bufs, DWORD nbufs, LPDWORD sent, DWORD flags, const struct sockaddr *to, int tolen,
	      LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine);

#ifdef __cplusplus
}
#endif
#endif

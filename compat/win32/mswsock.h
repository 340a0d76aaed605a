/* mswsock.h - the Microsoft extensions: AcceptEx, ConnectEx,
 * GetAcceptExSockaddrs and DisconnectEx, callable directly or through the
 * pointers WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER) hands out. */
#ifndef CPORT_COMPAT_MSWSOCK_H
#define CPORT_COMPAT_MSWSOCK_H

#include "winsock2.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _GUID {
	uint32_t Data1;
	uint16_t Data2;
	uint16_t Data3;
	uint8_t Data4[8];
} GUID, *LPGUID;
typedef const GUID *REFGUID;

#define WSAID_ACCEPTEX {0xb5367df1, 0xcbac, 0x11cf, {0x95, 0xca, 0x00, 0x80, 0x5f, 0x48, 0xa1, 0x92}}
#define WSAID_GETACCEPTEXSOCKADDRS {0xb5367df2, 0xcbac, 0x11cf, {0x95, 0xca, 0x00, 0x80, 0x5f, 0x48, 0xa1, 0x92}}
#define WSAID_CONNECTEX {0x25a207b9, 0xddf3, 0x4660, {0x8e, 0xe9, 0x76, 0xe5, 0x8c, 0x74, 0x06, 0x3e}}
#define WSAID_DISCONNECTEX {0x7fda2e11, 0x8630, 0x436f, {0xa0, 0x31, 0xf5, 0x36, 0xa6, 0xee, 0xc1, 0x57}}

/* Socket options AcceptEx and ConnectEx programs set afterwards; accepted
 * and ignored, as a Linux socket already has what they give. */
#define SO_UPDATE_ACCEPT_CONTEXT 0x700B
#define SO_UPDATE_CONNECT_CONTEXT 0x7010
#define SO_CONNECT_TIME 0x700C

#define TF_DISCONNECT 0x01
#define TF_REUSE_SOCKET 0x02

typedef BOOL(PASCAL *LPFN_ACCEPTEX)(SOCKET sListenSocket, SOCKET sAcceptSocket, PVOID lpOutputBuffer,
				    DWORD dwReceiveDataLength, DWORD dwLocalAddressLength,
				    DWORD dwRemoteAddressLength, LPDWORD lpdwBytesReceived,
				    LPOVERLAPPED lpOverlapped);
typedef VOID(PASCAL *LPFN_GETACCEPTEXSOCKADDRS)(PVOID lpOutputBuffer, DWORD dwReceiveDataLength,
						DWORD dwLocalAddressLength, DWORD dwRemoteAddressLength,
						struct sockaddr **LocalSockaddr, LPINT LocalSockaddrLength,
						struct sockaddr **RemoteSockaddr, LPINT RemoteSockaddrLength);
typedef BOOL(PASCAL *LPFN_CONNECTEX)(SOCKET s, const struct sockaddr *name, int namelen, PVOID lpSendBuffer,
				     DWORD dwSendDataLength, LPDWORD lpdwBytesSent, LPOVERLAPPED lpOverlapped);
typedef BOOL(PASCAL *LPFN_DISCONNECTEX)(SOCKET s, LPOVERLAPPED lpOverlapped, DWORD dwFlags, DWORD dwReserved);

/* AcceptEx: the connection lands on sAcceptSocket, which must not yet be
 * associated with a port. dwReceiveDataLength must be 0 (docs/win32.md). */
CPORT_W32_API BOOL PASCAL AcceptEx(SOCKET sListenSocket, SOCKET sAcceptSocket, PVOID lpOutputBuffer,
				   DWORD dwReceiveDataLength, DWORD dwLocalAddressLength,
				   DWORD dwRemoteAddressLength, LPDWORD lpdwBytesReceived,
				   LPOVERLAPPED lpOverlapped);
CPORT_W32_API VOID PASCAL GetAcceptExSockaddrs(PVOID lpOutputBuffer, DWORD dwReceiveDataLength,
					       DWORD dwLocalAddressLength, DWORD dwRemoteAddressLength,
					       struct sockaddr **LocalSockaddr, LPINT LocalSockaddrLength,
					       struct sockaddr **RemoteSockaddr, LPINT RemoteSockaddrLength);
/* ConnectEx: s must be associated with a port (unlike Windows it need not
 * be bound first);
 * data given with the connect is sent once it is established. */
CPORT_W32_API BOOL PASCAL ConnectEx(SOCKET s, const struct sockaddr *name, int namelen, PVOID lpSendBuffer,
				    DWORD dwSendDataLength, LPDWORD lpdwBytesSent, LPOVERLAPPED lpOverlapped);
/* DisconnectEx: a graceful shutdown; TF_REUSE_SOCKET is not supported. */
CPORT_W32_API BOOL PASCAL DisconnectEx(SOCKET s, LPOVERLAPPED lpOverlapped, DWORD dwFlags, DWORD dwReserved);

#ifdef __cplusplus
}
#endif
#endif

/* mswsock.h - AcceptEx and ConnectEx over cport. */
#ifndef CPORT_COMPAT_MSWSOCK_H
#define CPORT_COMPAT_MSWSOCK_H

#include "winsock2.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Only dwReceiveDataLength == 0 is supported: no data is read with the
 * connection. The local and remote address areas of the output buffer are
 * filled as Windows would lay them out for GetAcceptExSockaddrs. */
BOOL AcceptEx(SOCKET sListenSocket, SOCKET sAcceptSocket, PVOID lpOutputBuffer, DWORD dwReceiveDataLength,
	      DWORD dwLocalAddressLength, DWORD dwRemoteAddressLength, LPDWORD lpdwBytesReceived,
	      LPOVERLAPPED lpOverlapped);
void GetAcceptExSockaddrs(PVOID lpOutputBuffer, DWORD dwReceiveDataLength, DWORD dwLocalAddressLength,
			  DWORD dwRemoteAddressLength, struct sockaddr **LocalSockaddr, int *LocalSockaddrLength,
			  struct sockaddr **RemoteSockaddr, int *RemoteSockaddrLength);
/* Windows gets ConnectEx through WSAIoctl; here it is a plain function.
 * Unlike Windows, the socket need not be bound first, and lpSendBuffer must be NULL. */
BOOL ConnectEx(SOCKET s, const struct sockaddr *name, int namelen, PVOID lpSendBuffer, DWORD dwSendDataLength,
	       LPDWORD lpdwBytesSent, LPOVERLAPPED lpOverlapped);

#ifdef __cplusplus
}
#endif
#endif

/* iocp_echo.c - the classic IOCP echo server, in the shape every Winsock
 * book gives it: a blocking WSAAccept loop in the main thread, 2 x CPUs
 * worker threads in a GetQueuedCompletionStatus loop, per-handle data as the
 * completion key and per-I/O data around the OVERLAPPED. Built unchanged
 * against cport's Win32 shim.
 *
 * usage: iocp_echo [port]     (default 5150; 0 picks a free one)
 * It serves 127.0.0.1 and stops when its standard input ends: the listening
 * socket is shut down, the port handle closed under the waiting workers,
 * which end on ERROR_ABANDONED_WAIT_0, and the main thread waits for them. */
#include <winsock2.h>
#include <windows.h>
#include <stdio.h>

#pragma comment(lib, "Ws2_32")

#define DEFAULT_PORT 5150
#define DATA_BUFSIZE 8192
#define MAX_WORKERS 64

typedef struct {
	OVERLAPPED Overlapped;
	WSABUF DataBuf;
	CHAR Buffer[DATA_BUFSIZE];
	DWORD BytesSEND;
	DWORD BytesRECV;
} PER_IO_OPERATION_DATA, *LPPER_IO_OPERATION_DATA;

typedef struct {
	SOCKET Socket;
} PER_HANDLE_DATA, *LPPER_HANDLE_DATA;

static SOCKET Listen = INVALID_SOCKET;
static LONG WorkersStopped;

static void CloseClient(LPPER_HANDLE_DATA PerHandleData, LPPER_IO_OPERATION_DATA PerIoData)
{
	closesocket(PerHandleData->Socket);
	GlobalFree(PerHandleData);
	GlobalFree(PerIoData);
}

static BOOL PostRecv(LPPER_HANDLE_DATA PerHandleData, LPPER_IO_OPERATION_DATA PerIoData)
{
	DWORD Flags = 0, RecvBytes;

	ZeroMemory(&(PerIoData->Overlapped), sizeof(OVERLAPPED));
	PerIoData->BytesRECV = 0;
	PerIoData->BytesSEND = 0;
	PerIoData->DataBuf.len = DATA_BUFSIZE;
	PerIoData->DataBuf.buf = PerIoData->Buffer;
	if (WSARecv(PerHandleData->Socket, &(PerIoData->DataBuf), 1, &RecvBytes, &Flags, &(PerIoData->Overlapped),
		    NULL) == SOCKET_ERROR &&
	    WSAGetLastError() != ERROR_IO_PENDING) {
		printf("WSARecv() failed with error %d\n", WSAGetLastError());
		return FALSE;
	}
	return TRUE;
}

static BOOL PostSend(LPPER_HANDLE_DATA PerHandleData, LPPER_IO_OPERATION_DATA PerIoData)
{
	DWORD SendBytes;

	ZeroMemory(&(PerIoData->Overlapped), sizeof(OVERLAPPED));
	PerIoData->DataBuf.buf = PerIoData->Buffer + PerIoData->BytesSEND;
	PerIoData->DataBuf.len = PerIoData->BytesRECV - PerIoData->BytesSEND;
	if (WSASend(PerHandleData->Socket, &(PerIoData->DataBuf), 1, &SendBytes, 0, &(PerIoData->Overlapped),
		    NULL) == SOCKET_ERROR &&
	    WSAGetLastError() != ERROR_IO_PENDING) {
		printf("WSASend() failed with error %d\n", WSAGetLastError());
		return FALSE;
	}
	return TRUE;
}

static DWORD WINAPI ServerWorkerThread(LPVOID CompletionPortID)
{
	HANDLE CompletionPort = (HANDLE)CompletionPortID;
	DWORD BytesTransferred;
	LPPER_HANDLE_DATA PerHandleData;
	LPPER_IO_OPERATION_DATA PerIoData;

	while (TRUE) {
		BOOL ok = GetQueuedCompletionStatus(CompletionPort, &BytesTransferred, (PULONG_PTR)&PerHandleData,
						    (LPOVERLAPPED *)&PerIoData, INFINITE);
		if (!ok && PerIoData == NULL) {
			/* Nothing dequeued: the port is gone (ERROR_ABANDONED_WAIT_0
			 * while waiting, ERROR_INVALID_HANDLE after). */
			DWORD err = GetLastError();
			if (err != ERROR_ABANDONED_WAIT_0 && err != ERROR_INVALID_HANDLE)
				printf("GetQueuedCompletionStatus failed with error %lu\n", (unsigned long)err);
			InterlockedIncrement(&WorkersStopped);
			return 0;
		}
		/* A failed I/O (a reset: ERROR_NETNAME_DELETED) or the end of the
		 * stream closes that connection, never the worker. */
		if (!ok || BytesTransferred == 0) {
			CloseClient(PerHandleData, PerIoData);
			continue;
		}
		if (PerIoData->BytesRECV == 0) {
			PerIoData->BytesRECV = BytesTransferred;
			PerIoData->BytesSEND = 0;
		} else {
			PerIoData->BytesSEND += BytesTransferred;
		}
		if (!(PerIoData->BytesRECV > PerIoData->BytesSEND ? PostSend(PerHandleData, PerIoData)
								   : PostRecv(PerHandleData, PerIoData)))
			CloseClient(PerHandleData, PerIoData);
	}
}

/* Standard input ending stops the server: shutting the listening socket
 * down ends the blocking WSAAccept. */
static DWORD WINAPI StdinWatcher(LPVOID unused)
{
	(void)unused;
	while (getchar() != EOF)
		;
	shutdown(Listen, SD_BOTH);
	return 0;
}

static BOOL NewClient(HANDLE CompletionPort, SOCKET Accept)
{
	LPPER_HANDLE_DATA PerHandleData;
	LPPER_IO_OPERATION_DATA PerIoData;

	if ((PerHandleData = (LPPER_HANDLE_DATA)GlobalAlloc(GPTR, sizeof(PER_HANDLE_DATA))) == NULL) {
		printf("GlobalAlloc() failed with error %lu\n", (unsigned long)GetLastError());
		closesocket(Accept);
		return FALSE;
	}
	PerHandleData->Socket = Accept;
	/* The key is a DWORD here, as in the samples this one follows: the
	 * shim's GlobalAlloc keeps the pointer below 4 GiB. */
	if (CreateIoCompletionPort((HANDLE)Accept, CompletionPort, (DWORD)(ULONG_PTR)PerHandleData, 0) == NULL) {
		printf("CreateIoCompletionPort failed with error %lu\n", (unsigned long)GetLastError());
		closesocket(Accept);
		GlobalFree(PerHandleData);
		return FALSE;
	}
	if ((PerIoData = (LPPER_IO_OPERATION_DATA)GlobalAlloc(GPTR, sizeof(PER_IO_OPERATION_DATA))) == NULL) {
		printf("GlobalAlloc() failed with error %lu\n", (unsigned long)GetLastError());
		closesocket(Accept);
		GlobalFree(PerHandleData);
		return FALSE;
	}
	if (!PostRecv(PerHandleData, PerIoData))
		CloseClient(PerHandleData, PerIoData);
	return TRUE;
}

int main(int argc, char **argv)
{
	SOCKADDR_IN InternetAddr;
	HANDLE CompletionPort, Workers[MAX_WORKERS];
	SYSTEM_INFO SystemInfo;
	WSADATA wsaData;
	DWORD i, nWorkers, Ret;
	int AddrLen = sizeof(InternetAddr);
	unsigned short Port = argc > 1 ? (unsigned short)atoi(argv[1]) : DEFAULT_PORT;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((Ret = WSAStartup(0x0202, &wsaData)) != 0) {
		printf("WSAStartup failed with error %lu\n", (unsigned long)Ret);
		return 1;
	}
	if ((CompletionPort = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0)) == NULL) {
		printf("CreateIoCompletionPort failed with error: %lu\n", (unsigned long)GetLastError());
		return 1;
	}
	GetSystemInfo(&SystemInfo);
	nWorkers = SystemInfo.dwNumberOfProcessors * 2;
	if (nWorkers > MAX_WORKERS)
		nWorkers = MAX_WORKERS;
	for (i = 0; i < nWorkers; i++) {
		if ((Workers[i] = CreateThread(NULL, 0, ServerWorkerThread, CompletionPort, 0, NULL)) == NULL) {
			printf("CreateThread() failed with error %lu\n", (unsigned long)GetLastError());
			return 1;
		}
	}
	if ((Listen = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED)) == INVALID_SOCKET) {
		printf("WSASocket() failed with error %d\n", WSAGetLastError());
		return 1;
	}
	ZeroMemory(&InternetAddr, sizeof(InternetAddr));
	InternetAddr.sin_family = AF_INET;
	InternetAddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	InternetAddr.sin_port = htons(Port);
	if (bind(Listen, (PSOCKADDR)&InternetAddr, sizeof(InternetAddr)) == SOCKET_ERROR ||
	    listen(Listen, SOMAXCONN) == SOCKET_ERROR ||
	    getsockname(Listen, (PSOCKADDR)&InternetAddr, &AddrLen) == SOCKET_ERROR) {
		printf("bind/listen failed with error %d\n", WSAGetLastError());
		return 1;
	}
	printf("iocp_echo: listening on 127.0.0.1:%u with %lu workers\n", ntohs(InternetAddr.sin_port),
	       (unsigned long)nWorkers);
	HANDLE Watcher = CreateThread(NULL, 0, StdinWatcher, NULL, 0, NULL);
	if (Watcher == NULL)
		return 1;

	while (TRUE) {
		SOCKET Accept = WSAAccept(Listen, NULL, NULL, NULL, 0);
		if (Accept == INVALID_SOCKET)
			break; /* the listening socket was shut down */
		NewClient(CompletionPort, Accept);
	}

	/* Closing the port handle releases every worker blocked on it. */
	CloseHandle(CompletionPort);
	if (WaitForMultipleObjects(nWorkers, Workers, TRUE, INFINITE) == WAIT_FAILED)
		return 1;
	for (i = 0; i < nWorkers; i++)
		CloseHandle(Workers[i]);
	WaitForSingleObject(Watcher, INFINITE);
	CloseHandle(Watcher);
	closesocket(Listen);
	WSACleanup();
	printf("iocp_echo: %ld of %lu workers stopped\n", (long)WorkersStopped, (unsigned long)nWorkers);
	return WorkersStopped == (LONG)nWorkers ? 0 : 1;
}

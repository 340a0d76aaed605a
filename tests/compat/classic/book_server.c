// book_server.c - an IOCP echo server written the way the Winsock books and
// MSDN samples write one: <process.h> workers started with _beginthreadex,
// _tmain and TCHAR, per-handle data cast to DWORD for the completion key,
// per-I/O data with the OVERLAPPED first, a blocking WSAAccept loop,
// FormatMessage for error text, an event to say "stop", exit packets posted
// to the workers. tests/compat/test_installed.py builds it against the
// installed shim with -Wall and serves 100 clients with it.
//
// Stops when its standard input ends: a _beginthread watcher sets the stop
// event and shuts the listening socket down.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <tchar.h>
#include <process.h>

#pragma comment(lib, "Ws2_32.lib")

#define DATA_BUFSIZE 4096
#define MAX_WORKERS 64

typedef struct _PER_HANDLE_DATA {
    SOCKET Socket;
    SOCKADDR_STORAGE ClientAddr;
} PER_HANDLE_DATA, *LPPER_HANDLE_DATA;

typedef struct _PER_IO_OPERATION_DATA {
    OVERLAPPED Overlapped;
    WSABUF DataBuf;
    CHAR Buffer[DATA_BUFSIZE];
    DWORD BytesSEND;
    DWORD BytesRECV;
} PER_IO_OPERATION_DATA, *LPPER_IO_OPERATION_DATA;

static HANDLE g_hStopEvent;
static SOCKET g_Listen = INVALID_SOCKET;
static CRITICAL_SECTION g_csLog;
static LONG g_nClients;

static void LogError(LPCTSTR what, DWORD err)
{
    LPTSTR msg = NULL;
    TCHAR line[512];
    FormatMessage(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                  NULL, err, MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT), (LPTSTR)&msg, 0, NULL);
    _stprintf_s(line, _countof(line), _T("%s failed with error %lu: %s"), what, (unsigned long)err,
                msg ? msg : _T("(no text)\r\n"));
    EnterCriticalSection(&g_csLog);
    _tprintf(_T("%s"), line);
    LeaveCriticalSection(&g_csLog);
    if (msg)
        LocalFree(msg);
}

static void CloseClient(LPPER_HANDLE_DATA PerHandleData, LPPER_IO_OPERATION_DATA PerIoData)
{
    closesocket(PerHandleData->Socket);
    GlobalFree(PerHandleData);
    GlobalFree(PerIoData);
    InterlockedDecrement(&g_nClients);
}

static unsigned __stdcall ServerWorkerThread(LPVOID CompletionPortID)
{
    HANDLE CompletionPort = (HANDLE)CompletionPortID;
    DWORD BytesTransferred, SendBytes, RecvBytes, Flags;
    LPPER_HANDLE_DATA PerHandleData;
    LPPER_IO_OPERATION_DATA PerIoData;

    while (TRUE) {
        BOOL bOk = GetQueuedCompletionStatus(CompletionPort, &BytesTransferred, (PULONG_PTR)&PerHandleData,
                                             (LPOVERLAPPED *)&PerIoData, INFINITE);
        if (!bOk && PerIoData == NULL) {
            LogError(_T("GetQueuedCompletionStatus"), GetLastError());
            return 2;
        }
        if (PerHandleData == NULL) // the exit packet
            _endthreadex(1);
        if (!bOk) {
            // Why it failed, the way the books ask Winsock.
            DWORD Transferred, fl;
            if (!WSAGetOverlappedResult(PerHandleData->Socket, &PerIoData->Overlapped, &Transferred, FALSE, &fl) &&
                WSAGetLastError() != WSAECONNRESET && WSAGetLastError() != WSA_OPERATION_ABORTED)
                LogError(_T("overlapped I/O"), WSAGetLastError());
            CloseClient(PerHandleData, PerIoData);
            continue;
        }
        if (BytesTransferred == 0) {
            CloseClient(PerHandleData, PerIoData);
            continue;
        }
        if (PerIoData->BytesRECV == 0) {
            PerIoData->BytesRECV = BytesTransferred;
            PerIoData->BytesSEND = 0;
        } else {
            PerIoData->BytesSEND += BytesTransferred;
        }
        if (PerIoData->BytesRECV > PerIoData->BytesSEND) {
            ZeroMemory(&(PerIoData->Overlapped), sizeof(OVERLAPPED));
            PerIoData->DataBuf.buf = PerIoData->Buffer + PerIoData->BytesSEND;
            PerIoData->DataBuf.len = PerIoData->BytesRECV - PerIoData->BytesSEND;
            if (WSASend(PerHandleData->Socket, &(PerIoData->DataBuf), 1, &SendBytes, 0, &(PerIoData->Overlapped),
                        NULL) == SOCKET_ERROR && WSAGetLastError() != ERROR_IO_PENDING) {
                LogError(_T("WSASend"), WSAGetLastError());
                CloseClient(PerHandleData, PerIoData);
            }
        } else {
            PerIoData->BytesRECV = 0;
            Flags = 0;
            ZeroMemory(&(PerIoData->Overlapped), sizeof(OVERLAPPED));
            PerIoData->DataBuf.len = DATA_BUFSIZE;
            PerIoData->DataBuf.buf = PerIoData->Buffer;
            if (WSARecv(PerHandleData->Socket, &(PerIoData->DataBuf), 1, &RecvBytes, &Flags,
                        &(PerIoData->Overlapped), NULL) == SOCKET_ERROR && WSAGetLastError() != ERROR_IO_PENDING) {
                LogError(_T("WSARecv"), WSAGetLastError());
                CloseClient(PerHandleData, PerIoData);
            }
        }
    }
}

static void __cdecl StdinWatcher(void *unused)
{
    char line[256];
    (void)unused;
    while (fgets(line, sizeof(line), stdin))
        ;
    SetEvent(g_hStopEvent);
    shutdown(g_Listen, SD_BOTH); // ends the blocking WSAAccept
}

int _tmain(int argc, TCHAR *argv[])
{
    WSADATA wsaData;
    SYSTEM_INFO SystemInfo;
    SOCKADDR_IN InternetAddr;
    HANDLE CompletionPort, Workers[MAX_WORKERS];
    DWORD i, nWorkers, Stopped = 0;
    int Ret, AddrLen = sizeof(InternetAddr);
    u_short Port = (u_short)(argc > 1 ? _ttoi(argv[1]) : 5150);

    setvbuf(stdout, NULL, _IOLBF, 0);
    InitializeCriticalSection(&g_csLog);
    if ((Ret = WSAStartup(MAKEWORD(2, 2), &wsaData)) != 0) {
        LogError(_T("WSAStartup"), (DWORD)Ret);
        return 1;
    }
    if ((g_hStopEvent = CreateEvent(NULL, TRUE, FALSE, NULL)) == NULL ||
        (CompletionPort = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0)) == NULL) {
        LogError(_T("CreateIoCompletionPort"), GetLastError());
        return 1;
    }
    GetSystemInfo(&SystemInfo);
    nWorkers = min(SystemInfo.dwNumberOfProcessors * 2, MAX_WORKERS);
    for (i = 0; i < nWorkers; i++) {
        unsigned ThreadId;
        Workers[i] = (HANDLE)_beginthreadex(NULL, 0, ServerWorkerThread, CompletionPort, 0, &ThreadId);
        if (Workers[i] == NULL) {
            LogError(_T("_beginthreadex"), GetLastError());
            return 1;
        }
    }
    if ((g_Listen = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED)) == INVALID_SOCKET) {
        LogError(_T("WSASocket"), WSAGetLastError());
        return 1;
    }
    BOOL bExclusive = TRUE;
    setsockopt(g_Listen, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (char *)&bExclusive, sizeof(bExclusive));
    ZeroMemory(&InternetAddr, sizeof(InternetAddr));
    InternetAddr.sin_family = AF_INET;
    InternetAddr.sin_addr.s_addr = inet_addr("127.0.0.1");
    InternetAddr.sin_port = htons(Port);
    if (bind(g_Listen, (PSOCKADDR)&InternetAddr, sizeof(InternetAddr)) == SOCKET_ERROR ||
        listen(g_Listen, SOMAXCONN) == SOCKET_ERROR ||
        getsockname(g_Listen, (PSOCKADDR)&InternetAddr, &AddrLen) == SOCKET_ERROR) {
        LogError(_T("bind"), WSAGetLastError());
        return 1;
    }
    _tprintf(_T("book_server: listening on %s:%u with %lu workers\n"), inet_ntoa(InternetAddr.sin_addr),
             ntohs(InternetAddr.sin_port), (unsigned long)nWorkers);
    if (_beginthread(StdinWatcher, 0, NULL) == (uintptr_t)-1)
        return 1;

    while (WaitForSingleObject(g_hStopEvent, 0) == WAIT_TIMEOUT) {
        SOCKADDR_IN saRemote;
        int RemoteLen = sizeof(saRemote);
        SOCKET Accept = WSAAccept(g_Listen, (SOCKADDR *)&saRemote, &RemoteLen, NULL, 0);
        if (Accept == INVALID_SOCKET) {
            if (WaitForSingleObject(g_hStopEvent, 0) == WAIT_TIMEOUT)
                LogError(_T("WSAAccept"), WSAGetLastError());
            break;
        }
        LPPER_HANDLE_DATA PerHandleData = (LPPER_HANDLE_DATA)GlobalAlloc(GPTR, sizeof(PER_HANDLE_DATA));
        LPPER_IO_OPERATION_DATA PerIoData =
            (LPPER_IO_OPERATION_DATA)GlobalAlloc(GPTR, sizeof(PER_IO_OPERATION_DATA));
        if (PerHandleData == NULL || PerIoData == NULL) {
            LogError(_T("GlobalAlloc"), GetLastError());
            return 1;
        }
        PerHandleData->Socket = Accept;
        CopyMemory(&PerHandleData->ClientAddr, &saRemote, RemoteLen);
        // The books' cast: the key is a DWORD (a 32-bit value on Windows too).
        if (CreateIoCompletionPort((HANDLE)Accept, CompletionPort, (DWORD)PerHandleData, 0) == NULL) {
            LogError(_T("CreateIoCompletionPort"), GetLastError());
            return 1;
        }
        InterlockedIncrement(&g_nClients);
        DWORD RecvBytes, Flags = 0;
        PerIoData->DataBuf.len = DATA_BUFSIZE;
        PerIoData->DataBuf.buf = PerIoData->Buffer;
        if (WSARecv(Accept, &(PerIoData->DataBuf), 1, &RecvBytes, &Flags, &(PerIoData->Overlapped), NULL) ==
                SOCKET_ERROR && WSAGetLastError() != ERROR_IO_PENDING) {
            LogError(_T("WSARecv"), WSAGetLastError());
            CloseClient(PerHandleData, PerIoData);
        }
    }

    // One exit packet per worker, then wait for them all.
    for (i = 0; i < nWorkers; i++)
        PostQueuedCompletionStatus(CompletionPort, 0, 0, NULL);
    if (WaitForMultipleObjects(nWorkers, Workers, TRUE, INFINITE) != WAIT_OBJECT_0) {
        LogError(_T("WaitForMultipleObjects"), GetLastError());
        return 1;
    }
    for (i = 0; i < nWorkers; i++) {
        DWORD Code = 0;
        if (GetExitCodeThread(Workers[i], &Code) && Code == 1)
            Stopped++;
        CloseHandle(Workers[i]);
    }
    CloseHandle(CompletionPort);
    CloseHandle(g_hStopEvent);
    closesocket(g_Listen);
    DeleteCriticalSection(&g_csLog);
    WSACleanup();
    _tprintf(_T("book_server: %lu of %lu workers stopped\n"), (unsigned long)Stopped, (unsigned long)nWorkers);
    return Stopped == nWorkers ? 0 : 1;
}

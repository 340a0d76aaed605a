/* dword_key.c - a classic sample casts its per-handle pointer to DWORD for
 * the completion key; with the shim's allocators the pointer is below
 * 4 GiB and comes back whole from GetQueuedCompletionStatus, after real I/O.
 * Keys themselves are ULONG_PTR: all 64 bits go through. */
#include "w32test.h"

typedef struct {
	SOCKET Socket;
	char Tag[16];
} PER_HANDLE_DATA;

typedef struct {
	OVERLAPPED Overlapped;
	WSABUF DataBuf;
	char Buffer[64];
} PER_IO_DATA;

static void every_allocator_returns_memory_below_4_gib(void)
{
	void *p[6];
	p[0] = GlobalAlloc(GPTR, 100);
	p[1] = GlobalAlloc(GMEM_FIXED, 1 << 20);
	p[2] = LocalAlloc(LPTR, 7);
	p[3] = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, 5000);
	p[4] = HeapAlloc(GetProcessHeap(), 0, 0);
	p[5] = GlobalAlloc(GPTR, 3 << 20);
	for (int i = 0; i < 6; i++) {
		CHECK(p[i] != NULL);
		CHECK((ULONG_PTR)p[i] + 1 <= 0xFFFFFFFFull);
	}
	CHECK(((char *)p[0])[99] == 0 && ((char *)p[3])[4999] == 0 && ((char *)p[5])[(3 << 20) - 1] == 0);
	memset(p[1], 0xab, 1 << 20);
	CHECK(GlobalFree(p[0]) == NULL && GlobalFree(p[1]) == NULL && GlobalFree(p[5]) == NULL);
	CHECK(LocalFree(p[2]) == NULL);
	CHECK(HeapFree(GetProcessHeap(), 0, p[3]) && HeapFree(GetProcessHeap(), 0, p[4]));
	/* A freed block is reused, zeroed again when asked. */
	char *again = GlobalAlloc(GPTR, 100);
	CHECK(again != NULL && again[0] == 0 && again[99] == 0);
	CHECK(GlobalFree(again) == NULL);
}

static void a_pointer_key_cast_to_dword_comes_back_whole(void)
{
	SOCKET client;
	SOCKET s = test_pair(&client);
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	PER_HANDLE_DATA *ph = (PER_HANDLE_DATA *)GlobalAlloc(GPTR, sizeof(PER_HANDLE_DATA));
	PER_IO_DATA *io = (PER_IO_DATA *)GlobalAlloc(GPTR, sizeof(PER_IO_DATA));
	CHECK(port && ph && io);
	ph->Socket = s;
	strcpy(ph->Tag, "per-handle");
	CHECK(CreateIoCompletionPort((HANDLE)s, port, (DWORD)(ULONG_PTR)ph, 0) == port);
	DWORD flags = 0, n;
	io->DataBuf.buf = io->Buffer;
	io->DataBuf.len = sizeof(io->Buffer);
	CHECK(WSARecv(s, &io->DataBuf, 1, &n, &flags, &io->Overlapped, NULL) == SOCKET_ERROR);
	CHECK(WSAGetLastError() == WSA_IO_PENDING);
	CHECK(send(client, "hello", 5, 0) == 5);
	DWORD bytes;
	PER_HANDLE_DATA *got = NULL;
	PER_IO_DATA *gotio = NULL;
	CHECK(GetQueuedCompletionStatus(port, &bytes, (PULONG_PTR)&got, (LPOVERLAPPED *)&gotio, WAIT_MS));
	CHECK(got == ph && gotio == io && bytes == 5);
	CHECK(strcmp(got->Tag, "per-handle") == 0 && memcmp(gotio->Buffer, "hello", 5) == 0);
	CHECK(closesocket(s) == 0 && closesocket(client) == 0);
	CHECK(CloseHandle(port));
	GlobalFree(ph);
	GlobalFree(io);
}

static void a_64_bit_key_is_not_truncated(void)
{
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	ULONG_PTR key = 0, big = 0xfedcba9876543210ull;
	DWORD bytes;
	LPOVERLAPPED ov;
	CHECK(PostQueuedCompletionStatus(port, 3, big, NULL));
	CHECK(GetQueuedCompletionStatus(port, &bytes, &key, &ov, WAIT_MS));
	CHECK(key == big && bytes == 3 && ov == NULL);
	CHECK(CloseHandle(port));
}

int main(void)
{
	test_start();
	RUN(every_allocator_returns_memory_below_4_gib);
	RUN(a_pointer_key_cast_to_dword_comes_back_whole);
	RUN(a_64_bit_key_is_not_truncated);
	return 0;
}

/* uring_raw.c - whether io_uring works on this machine with every feature
 * cport needs, found with raw syscalls, not through cport: where it does,
 * cport failing to set up io_uring is a test failure, not a skip. */
#include "uring_raw.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The opcodes behind cport's public operations: receive and send (plain
 * and with a msghdr), accept, connect, and the cancel request. */
static const unsigned uring_opcodes[] = {
	IORING_OP_RECV,	   IORING_OP_SEND,    IORING_OP_RECVMSG,      IORING_OP_SENDMSG,
	IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_ASYNC_CANCEL,
};
#define URING_PROBE_OPS 256
#define URING_RAW_ENTRIES 8

/* The opcodes in uring_opcodes that ring_fd's kernel lacks: 0 if none. */
static int uring_missing_opcode(int ring_fd, char *why, size_t len)
{
	size_t size = sizeof(struct io_uring_probe) + URING_PROBE_OPS * sizeof(struct io_uring_probe_op);
	struct io_uring_probe *probe = calloc(1, size);

	if (!probe) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	int rc = (int)syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PROBE, probe,
			      URING_PROBE_OPS);

	if (rc < 0) {
		snprintf(why, len, "IORING_REGISTER_PROBE: %s", strerror(errno));
	} else {
		for (size_t i = 0; i < sizeof(uring_opcodes) / sizeof(uring_opcodes[0]); i++) {
			unsigned op = uring_opcodes[i];

			if (op > probe->last_op || !(probe->ops[op].flags & IO_URING_OP_SUPPORTED)) {
				snprintf(why, len, "io_uring opcode %u unsupported", op);
				rc = -1;
				break;
			}
		}
	}
	free(probe);
	return rc < 0 ? -1 : 0;
}

/* Register (and drop) a small provided-buffer ring on ring_fd. */
static int uring_try_pbuf_ring(int ring_fd, char *why, size_t len)
{
	size_t bytes = (size_t)sysconf(_SC_PAGESIZE);
	void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED) {
		snprintf(why, len, "mmap: %s", strerror(errno));
		return -1;
	}
	struct io_uring_buf_reg reg = {
		.ring_addr = (uintptr_t)mem, .ring_entries = URING_RAW_ENTRIES, .bgid = 0};
	int rc = (int)syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1);

	if (rc < 0)
		snprintf(why, len, "IORING_REGISTER_PBUF_RING: %s", strerror(errno));
	munmap(mem, bytes);
	return rc < 0 ? -1 : 0;
}

bool uring_raw_works(char *why, size_t len)
{
	struct io_uring_params prm;

	memset(&prm, 0, sizeof(prm));
	int fd = (int)syscall(__NR_io_uring_setup, URING_RAW_ENTRIES, &prm);

	if (fd < 0) {
		snprintf(why, len, "io_uring_setup: %s", strerror(errno));
		return false;
	}
	bool ok = false;

	if (!(prm.features & IORING_FEAT_EXT_ARG))
		snprintf(why, len, "the kernel's io_uring lacks IORING_FEAT_EXT_ARG");
	else if (!(prm.features & IORING_FEAT_NODROP))
		snprintf(why, len, "the kernel's io_uring lacks IORING_FEAT_NODROP");
	else
		ok = uring_missing_opcode(fd, why, len) == 0 && uring_try_pbuf_ring(fd, why, len) == 0;
	close(fd);
	return ok;
}


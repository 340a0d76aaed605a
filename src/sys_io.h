/* sys_io.h - the socket calls an attempt makes, without glibc's
 * cancellation bracket. recv(2), send(2) and the others are cancellation
 * points, so glibc wraps each in __pthread_enable_asynccancel and
 * __pthread_disable_asynccancel: about 70 user-space instructions a call,
 * two calls per echoed message (callgrind, cport-echo --backend epoll at
 * 100 x 64 B). The library's calls never block (its sockets are
 * non-blocking), so they need no cancellation point, and syscall(2) is
 * not one. Under AddressSanitizer and ThreadSanitizer the libc calls stay:
 * their interceptors check the buffers and see the descriptors. */
#ifndef CPORT_SYS_IO_H
#define CPORT_SYS_IO_H

#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CPORT_SYS_IO_LIBC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CPORT_SYS_IO_LIBC 1
#endif
#endif

#if defined(CPORT_SYS_IO_LIBC)

static inline ssize_t sys_recvfrom(int fd, void *buf, size_t len, int flags, void *addr, socklen_t *alen)
{
	return recvfrom(fd, buf, len, flags, addr, alen);
}
static inline ssize_t sys_sendto(int fd, const void *buf, size_t len, int flags, const void *addr, socklen_t alen)
{
	return sendto(fd, buf, len, flags, addr, alen);
}
static inline ssize_t sys_recvmsg(int fd, struct msghdr *m, int flags)
{
	return recvmsg(fd, m, flags);
}
static inline ssize_t sys_sendmsg(int fd, const struct msghdr *m, int flags)
{
	return sendmsg(fd, m, flags);
}
static inline int sys_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	return recvmmsg(fd, v, n, flags, NULL);
}
static inline int sys_poll_now(struct pollfd *pfd)
{
	return poll(pfd, 1, 0);
}

#else

static inline ssize_t sys_recvfrom(int fd, void *buf, size_t len, int flags, void *addr, socklen_t *alen)
{
	return syscall(SYS_recvfrom, fd, buf, len, flags, addr, alen);
}
static inline ssize_t sys_sendto(int fd, const void *buf, size_t len, int flags, const void *addr, socklen_t alen)
{
	return syscall(SYS_sendto, fd, buf, len, flags, addr, alen);
}
static inline ssize_t sys_recvmsg(int fd, struct msghdr *m, int flags)
{
	return syscall(SYS_recvmsg, fd, m, flags);
}
static inline ssize_t sys_sendmsg(int fd, const struct msghdr *m, int flags)
{
	return syscall(SYS_sendmsg, fd, m, flags);
}
static inline int sys_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	return (int)syscall(SYS_recvmmsg, fd, v, n, flags, NULL);
}
/* One fd, no wait: ppoll(2), which every architecture has (poll(2) is not on arm64). */
static inline int sys_poll_now(struct pollfd *pfd)
{
	struct timespec zero = {0, 0};
	return (int)syscall(SYS_ppoll, pfd, 1, &zero, NULL, 0);
}

#endif

/* recv(2) and send(2) are recvfrom(2) and sendto(2) with no address. */
static inline ssize_t sys_recv(int fd, void *buf, size_t len, int flags)
{
	return sys_recvfrom(fd, buf, len, flags, NULL, NULL);
}
static inline ssize_t sys_send(int fd, const void *buf, size_t len, int flags)
{
	return sys_sendto(fd, buf, len, flags, NULL, 0);
}

#endif

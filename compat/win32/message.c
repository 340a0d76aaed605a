/* message.c - FormatMessage(FORMAT_MESSAGE_FROM_SYSTEM) for the Win32 and
 * Winsock codes the shim produces and a program commonly prints, with
 * Windows' English texts, each ending in "\r\n" as Windows' do. */
#include "shim.h"

struct message {
	DWORD code;
	const char *text;
};

static const struct message messages[] = {
	{ERROR_SUCCESS, "The operation completed successfully."},
	{ERROR_INVALID_FUNCTION, "Incorrect function."},
	{ERROR_FILE_NOT_FOUND, "The system cannot find the file specified."},
	{ERROR_ACCESS_DENIED, "Access is denied."},
	{ERROR_INVALID_HANDLE, "The handle is invalid."},
	{ERROR_NOT_ENOUGH_MEMORY, "Not enough memory resources are available to process this command."},
	{ERROR_OUTOFMEMORY, "Not enough memory resources are available to complete this operation."},
	{ERROR_GEN_FAILURE, "A device attached to the system is not functioning."},
	{ERROR_NOT_SUPPORTED, "The request is not supported."},
	{ERROR_NETNAME_DELETED, "The specified network name is no longer available."},
	{ERROR_INVALID_PARAMETER, "The parameter is incorrect."},
	{ERROR_BROKEN_PIPE, "The pipe has been ended."},
	{ERROR_SEM_TIMEOUT, "The semaphore timeout period has expired."},
	{ERROR_INSUFFICIENT_BUFFER, "The data area passed to a system call is too small."},
	{ERROR_ALREADY_EXISTS, "Cannot create a file when that file already exists."},
	{ERROR_MORE_DATA, "More data is available."},
	{WAIT_TIMEOUT, "The wait operation timed out."},
	{ERROR_ABANDONED_WAIT_0, "The wait was abandoned: the completion port handle was closed."},
	{ERROR_OPERATION_ABORTED,
	 "The I/O operation has been aborted because of either a thread exit or an application request."},
	{ERROR_IO_INCOMPLETE, "Overlapped I/O event is not in a signaled state."},
	{ERROR_IO_PENDING, "Overlapped I/O operation is in progress."},
	{ERROR_NOT_FOUND, "Element not found."},
	{ERROR_CONNECTION_REFUSED, "The remote computer refused the network connection."},
	{ERROR_ADDRESS_ALREADY_ASSOCIATED,
	 "The network transport endpoint already has an address associated with it."},
	{ERROR_CONNECTION_INVALID, "An operation was attempted on a nonexistent network connection."},
	{ERROR_NETWORK_UNREACHABLE, "The network location cannot be reached."},
	{ERROR_HOST_UNREACHABLE, "The network location cannot be reached."},
	{ERROR_PORT_UNREACHABLE, "No service is operating at the destination network endpoint on the remote system."},
	{ERROR_CONNECTION_ABORTED, "The network connection was aborted by the local system."},
	{ERROR_NO_SYSTEM_RESOURCES, "Insufficient system resources exist to complete the requested service."},
	{ERROR_TIMEOUT, "This operation returned because the timeout period expired."},
	{WSAEINTR, "A blocking operation was interrupted by a call to WSACancelBlockingCall."},
	{WSAEBADF, "The file handle supplied is not valid."},
	{WSAEACCES, "An attempt was made to access a socket in a way forbidden by its access permissions."},
	{WSAEFAULT, "The system detected an invalid pointer address in attempting to use a pointer argument in a call."},
	{WSAEINVAL, "An invalid argument was supplied."},
	{WSAEMFILE, "Too many open sockets."},
	{WSAEWOULDBLOCK, "A non-blocking socket operation could not be completed immediately."},
	{WSAEINPROGRESS, "A blocking operation is currently executing."},
	{WSAEALREADY, "An operation was attempted on a non-blocking socket that already had an operation in progress."},
	{WSAENOTSOCK, "An operation was attempted on something that is not a socket."},
	{WSAEDESTADDRREQ, "A required address was omitted from an operation on a socket."},
	{WSAEMSGSIZE, "A message sent on a datagram socket was larger than the internal message buffer or some other "
		      "network limit, or the buffer used to receive a datagram into was smaller than the datagram itself."},
	{WSAEPROTOTYPE, "A protocol was specified in the socket function call that does not support the semantics of "
			"the socket type requested."},
	{WSAENOPROTOOPT, "An unknown, invalid, or unsupported option or level was specified in a getsockopt or "
			 "setsockopt call."},
	{WSAEPROTONOSUPPORT,
	 "The requested protocol has not been configured into the system, or no implementation for it exists."},
	{WSAESOCKTNOSUPPORT, "The support for the specified socket type does not exist in this address family."},
	{WSAEOPNOTSUPP, "The attempted operation is not supported for the type of object referenced."},
	{WSAEPFNOSUPPORT,
	 "The protocol family has not been configured into the system or no implementation for it exists."},
	{WSAEAFNOSUPPORT, "An address incompatible with the requested protocol was used."},
	{WSAEADDRINUSE, "Only one usage of each socket address (protocol/network address/port) is normally permitted."},
	{WSAEADDRNOTAVAIL, "The requested address is not valid in its context."},
	{WSAENETDOWN, "A socket operation encountered a dead network."},
	{WSAENETUNREACH, "A socket operation was attempted to an unreachable network."},
	{WSAENETRESET, "The connection has been broken due to keep-alive activity detecting a failure while the "
		       "operation was in progress."},
	{WSAECONNABORTED, "An established connection was aborted by the software in your host machine."},
	{WSAECONNRESET, "An existing connection was forcibly closed by the remote host."},
	{WSAENOBUFS, "An operation on a socket could not be performed because the system lacked sufficient buffer "
		     "space or because a queue was full."},
	{WSAEISCONN, "A connect request was made on an already connected socket."},
	{WSAENOTCONN, "A request to send or receive data was disallowed because the socket is not connected and "
		      "(when sending on a datagram socket using a sendto call) no address was supplied."},
	{WSAESHUTDOWN, "A request to send or receive data was disallowed because the socket had already been shut "
		       "down in that direction with a previous shutdown call."},
	{WSAETIMEDOUT, "A connection attempt failed because the connected party did not properly respond after a "
		       "period of time, or established connection failed because connected host has failed to respond."},
	{WSAECONNREFUSED, "No connection could be made because the target machine actively refused it."},
	{WSAEHOSTDOWN, "A socket operation failed because the destination host was down."},
	{WSAEHOSTUNREACH, "A socket operation was attempted to an unreachable host."},
	{WSASYSNOTREADY, "WSAStartup cannot function at this time because the underlying system it uses to provide "
			 "network services is currently unavailable."},
	{WSAVERNOTSUPPORTED, "The Windows Sockets version requested is not supported."},
	{WSANOTINITIALISED, "Either the application has not called WSAStartup, or WSAStartup failed."},
	{WSATYPE_NOT_FOUND, "The specified class was not found."},
	{WSAHOST_NOT_FOUND, "No such host is known."},
	{WSATRY_AGAIN, "This is usually a temporary error during hostname resolution and means that the local server "
		       "did not receive a response from an authoritative server."},
	{WSANO_RECOVERY, "A non-recoverable error occurred during a database lookup."},
	{WSANO_DATA, "The requested name is valid, but no data of the requested type was found."},
};

static const char *message_of(DWORD code)
{
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
		if (messages[i].code == code)
			return messages[i].text;
	}
	return NULL;
}

/* The texts are English: the neutral and default languages and English
 * ones are served, others are not there. */
static bool language_ok(DWORD lang)
{
	return lang == 0 || PRIMARYLANGID(lang) == LANG_NEUTRAL || PRIMARYLANGID(lang) == LANG_ENGLISH;
}

DWORD FormatMessageA(DWORD flags, LPCVOID source, DWORD id, DWORD lang, LPSTR buffer, DWORD size, va_list *args)
{
	(void)source;
	(void)args; /* none of these texts has inserts */
	if (!(flags & FORMAT_MESSAGE_FROM_SYSTEM) || (flags & (FORMAT_MESSAGE_FROM_STRING | FORMAT_MESSAGE_FROM_HMODULE))) {
		w32_set_error(ERROR_NOT_SUPPORTED); /* only the system's messages are here */
		return 0;
	}
	if (!buffer) {
		w32_set_error(ERROR_INVALID_PARAMETER);
		return 0;
	}
	if (!language_ok(lang)) {
		w32_set_error(ERROR_RESOURCE_LANG_NOT_FOUND);
		return 0;
	}
	const char *text = message_of(id);
	if (!text) {
		w32_set_error(ERROR_MR_MID_NOT_FOUND);
		return 0;
	}
	/* Any width limit: no line end (the texts are not re-wrapped). */
	const char *end = (flags & FORMAT_MESSAGE_MAX_WIDTH_MASK) ? "" : "\r\n";
	size_t len = strlen(text) + strlen(end);
	char *out = buffer;
	if (flags & FORMAT_MESSAGE_ALLOCATE_BUFFER) {
		/* lpBuffer is where the LocalAlloc'ed text goes; nSize a minimum. */
		out = LocalAlloc(LMEM_FIXED, len + 1 > size ? len + 1 : size);
		if (!out)
			return 0;
		*(char **)buffer = out;
	} else if (size < len + 1) {
		w32_set_error(ERROR_INSUFFICIENT_BUFFER);
		return 0;
	}
	memcpy(out, text, strlen(text));
	memcpy(out + strlen(text), end, strlen(end) + 1);
	return (DWORD)len;
}

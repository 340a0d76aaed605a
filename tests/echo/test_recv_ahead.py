"""--recv-ahead: each connection's pooled receives read ahead through one
capped multishot request (io_uring; on epoll and older kernels the option
changes nothing). Every byte still comes back once, in order: small
messages sent in bursts ahead of their echoes, big ones that move the
connection to a spliced echo, and a PROXY header read before the echo."""
import os
import socket

from echoserver import IO_TIMEOUT, echo_once


def read_exactly(s, n):
    got = bytearray()
    while len(got) < n:
        chunk = s.recv(n - len(got))
        assert chunk, f"closed after {len(got)} of {n} bytes"
        got += chunk
    return bytes(got)


def test_bursts_of_small_messages_come_back_in_order(launch):
    srv = launch("--tcp-only", "--recv-ahead")
    with srv.connect() as s:
        s.settimeout(IO_TIMEOUT)
        sent = bytearray()
        for burst in range(200):
            # Several messages before reading any echo: they arrive while
            # the server's receive for the first is being answered.
            data = b"".join(os.urandom(1 + (burst * 37 + i * 11) % 900) for i in range(1 + burst % 5))
            s.sendall(data)
            sent += data
            assert read_exactly(s, len(data)) == data, f"burst {burst} came back different"
    c = srv.wait_counters(lambda c: c["connections_open"] == 0)
    assert c["tcp_bytes_in"] == c["tcp_bytes_out"] == len(sent)


def test_big_messages_are_spliced_and_come_back_byte_for_byte(launch):
    srv = launch("--tcp-only", "--recv-ahead")
    sizes = [100, 65536, 5, 1 << 20, 3000, 65536 * 3 + 7, 1]
    with srv.connect() as s:
        for size in sizes:
            data = os.urandom(size)
            assert echo_once(s, data) == data, f"{size} bytes came back different"
        assert srv.counters()["connections_spliced"] == 1
    c = srv.wait_counters(lambda c: c["connections_open"] == 0)
    assert c["tcp_bytes_in"] == c["tcp_bytes_out"] == sum(sizes)
    assert c["errors_connection_other"] == 0


def test_a_proxy_header_is_read_before_the_echo_reads_ahead(launch):
    srv = launch("--tcp-only", "--recv-ahead", "--proxy-protocol")
    with srv.connect() as s:
        s.settimeout(IO_TIMEOUT)
        first = os.urandom(300)
        s.sendall(b"PROXY TCP4 192.0.2.1 192.0.2.2 40000 7\r\n" + first)
        assert read_exactly(s, len(first)) == first
        for i in range(50):
            data = os.urandom(64 + i)
            assert echo_once(s, data) == data
    c = srv.wait_counters(lambda c: c["connections_open"] == 0)
    assert c["proxy_headers_proxied"] == 1


def anonymous_mappings_kib(pid):
    """Sizes in KiB of the process's anonymous read-write mappings. The
    receive pool (one per port) is one of its own, between guard pages; on
    a kernel that names it, it is [anon:cport-pool], else unnamed."""
    sizes = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            if fields[1] == "rw-p" and (len(fields) == 5 or fields[-1] == "[anon:cport-pool]"):
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                sizes.append((hi - lo) // 1024)
    return sizes


LARGE_KIB = 64 * 64  # the default 64 large buffers of 64 KiB


def test_the_pool_has_4096_buffers_unless_pool_buffers_is_given(launch):
    # One port (the shared model), 16 KiB small buffers: the pool's size
    # tells its count.
    for args, small in ((["--recv-ahead"], 4096), (["--recv-ahead", "--pool-buffers", "300"], 300), ([], 1024)):
        srv = launch("--tcp-only", *args)
        sizes = anonymous_mappings_kib(srv.proc.pid)
        assert sizes.count(small * 16 + LARGE_KIB) == 1, f"{args}: no pool of {small} buffers in {sizes} (KiB)"
        with srv.connect() as s:
            assert echo_once(s, b"still echoes") == b"still echoes"
        srv.stop()

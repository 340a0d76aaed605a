"""--reuseport: several cport-echo processes share one port (TCP and UDP);
the kernel spreads connections and datagrams over them, and each echoes."""
import socket
import subprocess
import time

from echoserver import BINARY, IO_TIMEOUT, SLOW, echo_once, start_args

MAX_TRIES = 2000  # connections or datagrams before giving up on the spread
SPREAD_TIMEOUT = 30 * SLOW


def launch_pair(launch, *extra):
    """Two processes on one 127.0.0.1 port: the first picks it, the second joins."""
    a = launch("--reuseport", *extra)
    b = launch("--reuseport", "--bind", "127.0.0.1", "--port", str(a.port), *extra, bind=False)
    assert b.port == a.port
    return a, b


def spread_until_both_served(a, b, one_try, counter):
    """one_try() until both processes counted some; bounded in tries and time."""
    deadline = time.monotonic() + SPREAD_TIMEOUT
    for i in range(MAX_TRIES):
        one_try(i)
        if i % 20 == 19:
            ca, cb = a.counters()[counter], b.counters()[counter]
            if ca and cb:
                return ca, cb
        assert time.monotonic() < deadline, "the kernel never spread them"
    raise AssertionError(f"{MAX_TRIES} tries all went to one process")


def test_two_processes_share_a_tcp_port_and_both_serve(launch, backend):
    a, b = launch_pair(launch, "--tcp-only")

    def one(i):
        with socket.create_connection(("127.0.0.1", a.port), timeout=IO_TIMEOUT) as s:
            data = b"conn %d" % i
            assert echo_once(s, data) == data

    ca, cb = spread_until_both_served(a, b, one, "connections_total")
    assert ca + cb >= 20


def test_two_processes_share_a_udp_port_and_both_answer(launch, backend):
    a, b = launch_pair(launch, "--udp-only")

    def one(i):
        # A new socket each time: a new source port, a new hash.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(IO_TIMEOUT)
            s.sendto(b"dgram %d" % i, ("127.0.0.1", a.port))
            assert s.recvfrom(64)[0] == b"dgram %d" % i

    spread_until_both_served(a, b, one, "udp_datagrams_in")


def test_without_reuseport_the_second_process_cannot_bind(launch, backend):
    a = launch("--tcp-only")
    out = subprocess.run([BINARY] + start_args(backend, "--tcp-only", bind=False)
                         + ["--bind", "127.0.0.1", "--port", str(a.port)],
                         capture_output=True, text=True, timeout=IO_TIMEOUT)
    assert out.returncode == 1
    assert "Address already in use" in out.stderr

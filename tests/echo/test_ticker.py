"""Housekeeping comes from a ticker thread: the workers wait with no timeout.

A worker that waits with a timeout makes the kernel arm and cancel a timer
each time it sleeps, once a message at one connection. So the workers wait
with none, and one thread wakes each loop every 100 ms for its housekeeping
(idle and drain timeouts, paused accepts, the watchdog)."""
import os
import shutil
import time

import pytest
from echoserver import BUILD, Server, assert_an_idle_connection_is_closed, start_args

NO_TICKER = {"CPORT_ECHO_TEST_NO_TICKER": "1"}  # the path of a ticker that could not start


def threads_that_woke(pid, seconds=2.0):
    """How many of the server's threads slept and woke in a window of an
    idle time (their voluntary context switches went up)."""

    def switches():
        out = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches"):
                            out[tid] = int(line.split()[1])
            except FileNotFoundError:
                pass
        return out

    time.sleep(0.5)  # past the start
    before = switches()
    time.sleep(seconds)
    after = switches()
    return sum(1 for tid, n in after.items() if n > before.get(tid, 0))


def test_an_idle_server_wakes_the_ticker_and_a_worker_or_two_not_every_worker(launch):
    # One port shared by 8 workers. The ticker's wake-up reaches the poller,
    # which may hand polling to the most recent follower: the same one or
    # two each time (most recent first), the rest stay asleep. Workers that
    # each timed out every 100 ms woke all 8.
    srv = launch("--threads", "8")
    assert threads_that_woke(srv.proc.pid) <= 4


def test_without_the_ticker_the_workers_time_out_and_keep_house(launch):
    srv = launch("--threads", "8", "--idle-timeout", "0.5", env=NO_TICKER)
    # This is the other path: the workers wake by their own timeouts...
    assert threads_that_woke(srv.proc.pid) >= 6
    # ...and those run the housekeeping: an idle connection is closed.
    assert_an_idle_connection_is_closed(srv)


def test_with_the_ticker_an_idle_connection_is_closed_on_time(launch):
    assert_an_idle_connection_is_closed(launch("--threads", "4", "--idle-timeout", "0.5"))


def test_under_valgrind_the_server_starts_echoes_and_stops_on_sigterm(servers, backend):
    # Under valgrind there is no ticker (cport-echo sees it, and waits with
    # a timeout instead), and valgrind does not know that io_uring_enter
    # blocks: the poller keeps valgrind's one lock while it waits. It must
    # hand it on when its wait times out, or the main thread never takes
    # SIGTERM (make bench-profile's callgrind runs hung on every io_uring
    # server until it did).
    if "san" in BUILD:
        pytest.skip("valgrind cannot run a sanitizer build; the plain pass runs this")
    valgrind = shutil.which("valgrind")
    assert valgrind, "valgrind is a test dependency (scripts/deps.sh test)"
    srv = Server(start_args(backend), prefix=[valgrind, "--tool=none", "-q"])
    servers.append(srv)
    srv.wait_ready()
    with srv.connect() as s:
        s.sendall(b"under valgrind")
        assert s.recv(64) == b"under valgrind"
    assert srv.stop() == 0  # within STOP_TIMEOUT, or the test fails

"""Housekeeping comes from a ticker thread: the workers wait with no timeout.

A worker that waits with a timeout makes the kernel arm and cancel a timer
each time it sleeps, once a message at one connection. So the workers wait
with none, and one thread wakes each loop every 100 ms for its housekeeping
(idle and drain timeouts, paused accepts, the watchdog)."""
import os
import time

from echoserver import assert_an_idle_connection_is_closed

NO_TICKER = {"CPORT_ECHO_TEST_NO_TICKER": "1"}  # the path of a ticker that could not start


def wakeups_per_second(pid, seconds=2.0):
    """Voluntary context switches of all the server's threads, per second."""

    def total():
        n = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches"):
                            n += int(line.split()[1])
            except FileNotFoundError:
                pass
        return n

    time.sleep(0.5)  # past the start
    before = total()
    time.sleep(seconds)
    return (total() - before) / seconds


def test_an_idle_server_wakes_once_a_tick_not_every_worker_by_timeout(launch):
    # The default: one port shared by 2 x CPUs workers. The ticker and the
    # one worker its wake-up reaches: about 20 a second. Each worker
    # timing out every 100 ms made 40-50 with four.
    srv = launch("--threads", "4")
    assert wakeups_per_second(srv.proc.pid) < 30


def test_without_the_ticker_the_workers_time_out_and_keep_house(launch):
    srv = launch("--threads", "4", "--idle-timeout", "0.5", env=NO_TICKER)
    # This is the other path: the workers wake by their own timeouts...
    assert wakeups_per_second(srv.proc.pid) >= 30
    # ...and those run the housekeeping: an idle connection is closed.
    assert_an_idle_connection_is_closed(srv)


def test_with_the_ticker_an_idle_connection_is_closed_on_time(launch):
    assert_an_idle_connection_is_closed(launch("--threads", "4", "--idle-timeout", "0.5"))

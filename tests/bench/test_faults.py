"""Against an echo server that gets one thing wrong, cport-bench names the fault and fails."""
import pytest

MISMATCHES = ("corrupt", "lost", "reordered", "crosstalk")

FAULTS = [
    ("flip", "corrupt", 1),
    ("swap", "reordered", 1),
    ("drop", "lost", 1),
    ("cross", "crosstalk", 1),
    ("close", "eof+reset", 3),  # a close with our data unread in it is a reset
]


@pytest.mark.parametrize("size,pipeline", [("64", "1"), ("4096", "1"), ("64", "8")])
@pytest.mark.parametrize("fault,counter,status", FAULTS, ids=[f[0] for f in FAULTS])
def test_a_faulty_server_is_caught_by_the_right_counter(start_server, bench, fault, counter, status, size, pipeline):
    srv = start_server("faulty", "--fault", fault, "--at", "100")
    r = bench(srv.port, "-c", "2", "-s", size, "-P", pipeline, "--timeout", "1")
    assert r.code == status, r
    assert sum(r.counter(k) for k in counter.split("+")) == 2, r  # each of the two connections, once
    others = [k for k in MISMATCHES if k != counter and r.counter(k)]
    assert not others, r
    assert r.json["ok"] is False and r.json["exit_status"] == status


def test_a_correct_server_passes(start_server, bench):
    srv = start_server("faulty", "--fault", "none")
    r = bench(srv.port, "-c", "4", "-s", "100", "-P", "3")
    assert r.code == 0, r
    assert r.json["ok"] is True and r.json["messages"] > 0
    assert not any(r.json["errors"].values()), r


def test_a_fault_late_in_a_long_run_is_caught(start_server, bench):
    srv = start_server("faulty", "--fault", "flip", "--at", "3000000")
    r = bench(srv.port, "-c", "1", "-s", "4096", "-P", "4", duration="1.5", warmup="0")
    assert r.code == 1 and r.counter("corrupt") == 1, r


def test_nothing_listening_is_a_connect_failure(start_server, bench):
    srv = start_server("epoll")
    port = srv.port
    srv.stop()
    r = bench(port, "-c", "3")
    assert r.code == 3, r
    assert r.counter("connect_failed") == 3, r

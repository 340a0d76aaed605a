"""Churn: tens of thousands of connect / echo / close cycles (some closing
with a half-close) leak neither descriptors nor memory."""
from .advserver import ClientProcess, SLOW, WellBehaved, scaled, warm_up

CYCLES = 50000
PROCS = 2  # client processes, each its own share of the cycles
# After 50,000 connections, RSS outside the receive pool may exceed the
# baseline by at most this: a leak of 21 bytes per connection would not fit.
RSS_SLACK_KB = 1024


def churn(srv, cycles, seed):
    procs = [ClientProcess("batch", {"addr": list(srv.addr), "count": cycles // PROCS, "max_size": 1024,
                                     "concurrency": 32, "timeout": 300 * SLOW, "seed": seed + i})
             for i in range(PROCS)]
    results = [p.read(300 * SLOW + 30)["result"] for p in procs]
    for p in procs:
        p.wait(10)
    failures = [f for r in results for f in r["failures"]]
    assert not failures, failures[:5]
    return sum(r["done"] for r in results)


def test_fifty_thousand_connect_echo_close_cycles_leak_nothing(start_server):
    srv = start_server()
    warm_up(srv)
    churn(srv, 2000, 1)  # the allocator's steady state, before the baseline
    base = srv.baseline()
    before = srv.counters()["connections_total"]
    cycles = scaled(CYCLES, 5000)
    with WellBehaved(srv.addr, parallel=2, max_size=64 * 1024):
        done = churn(srv, cycles, 100)
    assert done == cycles // PROCS * PROCS
    srv.assert_alive()
    rss, fds = srv.settle(base, RSS_SLACK_KB, "churn")
    total = srv.counters()["connections_total"] - before
    print(f"\n[{srv.backend}] churn: {total} connections; RSS outside the pool {base[0]} -> {rss} kB, "
          f"descriptors {base[1]} -> {fds}")

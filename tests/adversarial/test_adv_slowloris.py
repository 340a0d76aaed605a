"""Slowloris: a thousand connections dripping a byte a second are served
byte for byte and cost little each; once they fall silent, --idle-timeout
closes them (and the ones that never said a word), and the server is back
where it started. Well-behaved clients are served throughout."""
import os
import time

from .advclient import Drip, Loop, Sources, run_until
from .advserver import QUARANTINE_KB, SETTLE_TIMEOUT, SLOW, WellBehaved, scaled, warm_up

IDLE_TIMEOUT = 4  # seconds; the drip interval is 1 s, well inside it
DRIPS = 3
RSS_SLACK_KB = 2048
# cport-echo(1) states about 400 bytes per connection outside the pool; the
# bound allows several times that, plus a fixed slack for the allocator.
IDLE_CONN_BOUND_BYTES = 2048
IDLE_CONN_SLACK_KB = 1024


def test_slowloris_connections_are_served_then_closed_when_idle(start_server):
    srv = start_server("--idle-timeout", str(IDLE_TIMEOUT))
    warm_up(srv)
    base = srv.baseline()
    nslow = scaled(1000, 200)
    nsilent = nslow // 10
    loop = Loop()
    sources = Sources(srv.addr[0])
    counter = [0, 0]  # connects finished, closes seen
    with WellBehaved(srv.addr, parallel=4):
        slow = [Drip(loop, srv.addr, sources, counter) for _ in range(nslow)]
        run_until(loop, lambda: counter[0] == nslow, time.monotonic() + 30 * SLOW, "connecting")
        silent = [Drip(loop, srv.addr, sources, counter) for _ in range(nsilent)]
        run_until(loop, lambda: counter[0] == nslow + nsilent, time.monotonic() + 30 * SLOW, "connecting")
        everyone = slow + silent
        assert not [d.failure for d in everyone if d.failure]
        # A byte a second from each slow one.
        for tick in range(DRIPS):
            t_next = time.monotonic() + 1.0
            for d in slow:
                d.drip(os.urandom(1))
            while (left := t_next - time.monotonic()) > 0:
                loop.poll(left)
        held_rss = srv.mem_kb()[0]
        dripping_closed = [d for d in slow if d.closed]
        # Now every one of them is silent: the idle timeout must close them all.
        run_until(loop, lambda: all(d.closed for d in everyone), time.monotonic() + IDLE_TIMEOUT + SETTLE_TIMEOUT,
                  "waiting for the idle timeout",
                  lambda: f"{sum(1 for d in everyone if not d.closed)} of {len(everyone)} still open")
    per_conn = (held_rss - base[0]) * 1024 / len(everyone)
    print(f"\n[{srv.backend}] RSS per idle connection (outside the pool): {per_conn:.0f} bytes "
          f"({len(everyone)} connections; bound {IDLE_CONN_BOUND_BYTES} bytes)")
    assert held_rss - base[0] <= len(everyone) * IDLE_CONN_BOUND_BYTES / 1024 + IDLE_CONN_SLACK_KB + QUARANTINE_KB, \
        f"{per_conn:.0f} bytes of RSS per idle connection, bound {IDLE_CONN_BOUND_BYTES}"
    assert not dripping_closed, f"{len(dripping_closed)} connections closed while sending a byte a second"
    failures = [d.failure for d in everyone if d.failure]
    assert not failures, failures[:5]
    short = [(len(d.sent), d.got) for d in slow if d.got != len(d.sent)]
    assert not short, f"closed before echoing every byte (sent, got): {short[:5]}"
    resets = sum(1 for d in everyone if d.closed == "reset")
    assert resets == 0, f"{resets} idle connections were reset rather than closed"
    for d in everyone:
        d.close()
    loop.close()
    c = srv.counters()
    assert c["connections_idle_closed"] >= len(everyone), c
    srv.settle(base, RSS_SLACK_KB, "slowloris")

"""Fifteen thousand connections held open at once, each echoing verified
payloads, spread over several client processes (the descriptor cap here is
20,000 per process). Reports the server's user memory per connection, and
checks that a second wave of them leaves the server where the first left it."""
import random
import time

from .advserver import QUARANTINE_KB, SANITIZED, SETTLE_TIMEOUT, ClientProcess, SLOW, WellBehaved, scaled, warm_up

CONNECTIONS = 15000
PROCS = 3
# User memory per idle connection (issue 9): the library's fd entry and the
# echo's connection, its op included; no buffer while idle. More than this
# means the compact per-connection state grew (docs/performance.md says
# where each byte goes). A sanitizer build adds its shadow memory and
# redzones to every byte: there the bound only catches a buffer per
# connection creeping in.
PER_CONN_BOUND_BYTES = 2048 if SANITIZED else 256
# After the second wave closes: RSS outside the pool within 1 MiB of where
# the first wave left it (a leak of 70 bytes per connection would not fit).
# The first wave is what the baseline is taken after: malloc keeps what it
# freed in the middle of its heaps, and the library's fd table keeps a chunk
# per 1024 descriptor numbers ever used, until the port is destroyed.
RSS_SLACK_KB = 1024
# The pool buffers a quiet server keeps resident: io_uring's store of free
# buffers stays filled to its least depth (4 of 16 KiB).
POOL_KEPT_KB = 4 * 16


class Holders:
    """PROCS client processes holding `each` connections apiece."""

    def __init__(self, srv, each, timeout):
        subnet = random.randrange(16, 200)
        self.each, self.timeout = each, timeout
        self.procs = [ClientProcess("hold", {"addr": list(srv.addr), "count": each, "size": 1024, "timeout": timeout,
                                             "subnet": subnet + i, "seed": i})
                      for i in range(PROCS)]

    def gather(self, key):
        msgs = [p.read(self.timeout + 30) for p in self.procs]
        failures = [f for m in msgs for f in m.get("failures", [])]
        assert not failures, failures[:5]
        assert sum(m[key] for m in msgs) == self.each * PROCS, msgs
        return msgs

    def command(self, cmd, key):
        for p in self.procs:
            p.send(cmd)
        return self.gather(key)

    def exit(self):
        for p in self.procs:
            p.wait(30)

    def kill(self):
        for p in self.procs:
            p.kill()


def settled_kb(read, target_kb):
    """A memory figure (read(), kB) once the echo burst is over. Under pool
    pressure the burst copies chunks out of the pool into malloc'd memory
    (how many depends on how fast the server runs: 0 to a few hundred here);
    they are freed as they go out, and the server's housekeeping gives such
    memory back within about a second (malloc_trim), and the pool buffers
    the burst used once they stayed free a second or two (cport_trim). Only
    /proc tells: polled every 20 ms until it is at most target_kb, for
    SETTLE_TIMEOUT at most; the last figure either way."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        kb = read()
        if kb <= target_kb or time.monotonic() > deadline:
            return kb
        time.sleep(0.02)


def test_fifteen_thousand_connections_held_and_echoing(start_server):
    srv = start_server()
    warm_up(srv)
    base0 = srv.baseline()
    # The same from outside, the pool included, once the pool buffers the
    # warm-up used have gone back too (the store keeps a few).
    whole0 = settled_kb(srv.rss_kb, base0[0] + POOL_KEPT_KB)
    each = scaled(CONNECTIONS, 3000) // PROCS
    n = each * PROCS
    holders = Holders(srv, each, 60 * SLOW)
    try:
        holders.gather("held")  # the first wave: only the baseline comes after it
        holders.command("echo", "echoed")  # every one of them at once, verified
        first_rss = srv.mem_kb()[0]
        bound_kb = n * PER_CONN_BOUND_BYTES / 1024
        idle_rss = settled_kb(lambda: srv.mem_kb()[0], base0[0] + bound_kb)
        # The whole of it, as from outside: the pool's part too. A burst
        # wrote hundreds of pool buffers (16 KiB each), which stayed
        # resident once it was over until cport_trim gave them back.
        idle_whole = settled_kb(srv.rss_kb, whole0 + bound_kb)
        holders.command("close", "closed")
        base = srv.baseline()
        with WellBehaved(srv.addr, parallel=4):
            holders.command("open", "held")
            holders.command("echo", "echoed")
            srv.assert_alive()
            rss, pool = srv.mem_kb()
            fds = srv.nfds()
            holders.command("echo", "echoed")
            holders.command("close", "closed")
        holders.exit()
    finally:
        holders.kill()
    per_conn = (idle_rss - base0[0]) * 1024 / n
    whole_per_conn = (idle_whole - whole0) * 1024 / n
    burst = (first_rss - base0[0]) * 1024 / n
    print(f"\n[{srv.backend}] {n} connections held: server user memory {per_conn:.0f} bytes per connection "
          f"(RSS outside the pool {base0[0]} -> {idle_rss} kB idle, {burst:.0f} B per connection right after "
          f"the echo burst; bound {PER_CONN_BOUND_BYTES} bytes); with the pool {whole_per_conn:.0f} bytes "
          f"(RSS {whole0} -> {idle_whole} kB); second wave: "
          f"descriptors {fds}, RSS outside the pool {base[0]} -> {rss} kB, pool resident {pool} kB")
    assert fds >= n
    assert per_conn <= PER_CONN_BOUND_BYTES
    assert whole_per_conn <= PER_CONN_BOUND_BYTES, "the burst's pool buffers stayed resident"
    assert rss <= first_rss + RSS_SLACK_KB + QUARANTINE_KB  # the second wave costs no more than the first
    rss_after, _ = srv.settle(base, RSS_SLACK_KB, "15,000 connections, second wave")
    print(f"[{srv.backend}] after the second wave closed: RSS outside the pool {rss_after} kB")

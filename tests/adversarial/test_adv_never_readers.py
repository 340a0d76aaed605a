"""Clients that send and never read: the server stops reading each of them
once its echo cannot be written back, so its memory stays bounded per
connection, and everyone else is served as if they were not there."""
import os
import random

from .advclient import Loop, Pusher, Sources, push_until_stalled, random_jobs, run_echoes
from .advserver import LARGE_EXTRA, POOL_BYTES, QUARANTINE_KB, SLOW, SMALL_BUFFERS, WellBehaved, scaled, warm_up

def _sysctl_max(name):
    with open(f"/proc/sys/net/ipv4/{name}") as f:
        return int(f.read().split()[2])


PUSHER_SNDBUF = 512 << 10
# Each never-reader tries to push more than every buffer on its path can hold
# once the server stops reading it: the server's receive buffer (autotuned up
# to tcp_rmem's maximum while the server still read), the server's send buffer
# (up to tcp_wmem's), the pusher's own send buffer, and 2 MiB for its receive
# buffer (never read, so never autotuned past tcp_rmem's default) and the
# server's one pool buffer. A pusher that gets all of it
# out was read by the server after its echo had stopped going anywhere. (A
# fixed 10 MiB was too little: on a host with tcp_rmem's maximum at 32 MiB one
# pusher in 40 now and then fitted 10 MiB into buffers the server had grown.)
PUSH_BYTES = _sysctl_max("tcp_rmem") + _sysctl_max("tcp_wmem") + PUSHER_SNDBUF + (2 << 20)
# The bound, per never-reader while they all hold: server RSS outside the
# receive pool grows by at most 16 KiB (its connection state is a few hundred
# bytes). The pool is one fixed region of POOL_BYTES per port, in which a
# blocked connection pins at most one 16 KiB buffer; the io_uring backend
# cycles through all of it anyway, so total RSS growth is bounded by
# n x 16 KiB + POOL_BYTES.
NEVER_READER_BOUND_KB = 16
RSS_SLACK_KB = 2048  # outside the pool, after they have gone


def tcp_kernel_mb():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                fields = line.split()
                return int(fields[fields.index("mem") + 1]) * 4096 / (1 << 20)
    return 0.0


def test_never_readers_get_a_bounded_share_and_others_are_unaffected(start_server):
    srv = start_server()
    warm_up(srv)
    base = srv.baseline()
    base_pool = srv.pool_kb()
    n = scaled(100, 40)
    loop = Loop()
    sources = Sources(srv.addr[0])
    block = memoryview(os.urandom(1 << 20))
    pushers = []
    with WellBehaved(srv.addr, parallel=8):
        # Their own send buffers capped at 512 KiB: what they queue at home
        # never reaches the server, and 100 x 4 MiB of it would only bring the
        # kernel's TCP memory nearer its pressure mark for everyone.
        pushers = [Pusher(loop, srv.addr, block, PUSH_BYTES, sources, sndbuf=PUSHER_SNDBUF) for _ in range(n)]
        try:
            push_until_stalled(loop, pushers, quiet=1.0, timeout=60 * SLOW)
            failures = [p.failure for p in pushers if p.failure]
            assert not failures, failures[:5]
            pushed = sum(p.sent for p in pushers)
            stalled = sum(1 for p in pushers if p.sent < PUSH_BYTES)
            rss, pool = srv.mem_kb()
            per_conn_kb = (rss - base[0]) / n
            total_per_conn_kb = (rss + pool - base[0] - base_pool) / n
            counters = srv.counters()
            print(f"\n[{srv.backend}] never-readers: {n} pushed {pushed / n / 1024:.0f} KiB each on average "
                  f"({stalled} stopped by backpressure before {PUSH_BYTES >> 20} MiB; kernel TCP memory "
                  f"{tcp_kernel_mb():.0f} MiB); server RSS growth per never-reader {per_conn_kb:.1f} kB outside "
                  f"the pool (bound {NEVER_READER_BOUND_KB} kB), {total_per_conn_kb:.1f} kB with it; pool "
                  f"resident {base_pool} -> {pool} kB of {POOL_BYTES >> 10}")
            # Every never-reader was stopped by backpressure before it could
            # push all it had (PUSH_BYTES is more than the socket buffers
            # can hold): the server stopped reading each of them.
            assert stalled == n, f"{n - stalled} of {n} never-readers pushed all {PUSH_BYTES >> 20} MiB"
            assert rss - base[0] <= n * NEVER_READER_BOUND_KB + QUARANTINE_KB, \
                f"{per_conn_kb:.1f} kB per never-reader outside the pool, bound {NEVER_READER_BOUND_KB} kB"
            assert pool <= POOL_BYTES >> 10  # one pool, no second one
            # With the pool: n x 16 KiB + POOL_BYTES at most, as stated above.
            assert rss + pool - base[0] - base_pool <= n * NEVER_READER_BOUND_KB + (POOL_BYTES >> 10) \
                + QUARANTINE_KB, f"{total_per_conn_kb:.1f} kB per never-reader with the pool"
            # Backpressure: what the server has read and not yet written back is
            # at most one pool buffer per connection, a large one for a few
            # (+1 MiB for the well-behaved clients' echoes in flight).
            assert counters["tcp_bytes_in"] < counters["tcp_bytes_out"] + n * (16 << 10) + LARGE_EXTRA + (1 << 20)
            # Others unaffected: a fresh batch of verifying clients while
            # every never-reader is still connected and blocked.
            rng = random.Random()
            stats = run_echoes(srv.addr, random_jobs(rng, scaled(300, 60), 256 * 1024), concurrency=32,
                               timeout=60 * SLOW, sources=sources)
            assert stats.failed == 0, stats.failures
            srv.assert_alive()
        finally:
            for p in pushers:
                p.close()
            loop.close()
    srv.settle(base, RSS_SLACK_KB, "never-readers")


# More never-readers than the receive pool has buffers (1024 per port): each
# blocked echo would pin one buffer, and the server must still serve the
# others (it copies chunks out of the pool once most of it waits in sends).
# Then a never-reader may cost one chunk of its own: 16 KiB + malloc's 1 KiB.
POOL_BUFFERS = SMALL_BUFFERS
MANY = POOL_BUFFERS + 200
MANY_BOUND_KB = 17
MANY_PUSH_BYTES = 128 << 10  # each of them tries to push this much


def test_more_never_readers_than_pool_buffers_do_not_starve_the_others(start_server):
    srv = start_server()
    warm_up(srv)
    base = srv.baseline()
    read_before = srv.counters()["tcp_bytes_in"]  # the warm-up's
    loop = Loop()
    sources = Sources(srv.addr[0])
    block = memoryview(os.urandom(128 << 10))
    # Tiny windows and segments: each blocks the server's echo to it after a
    # few tens of KiB (a big MSS would let the server's send buffer grow to
    # hold it all), pinning the buffer that echo is sent from.
    pushers = [Pusher(loop, srv.addr, block, MANY_PUSH_BYTES, sources, rcvbuf=4096, sndbuf=16384, mss=536)
               for _ in range(MANY)]
    try:
        push_until_stalled(loop, pushers, quiet=0.5, timeout=60 * SLOW)
        failures = [p.failure for p in pushers if p.failure]
        assert not failures, failures[:5]
        c = srv.counters()
        rss, pool = srv.mem_kb()
        per_conn_kb = (rss - base[0]) / MANY
        held = c["tcp_bytes_in"] - c["tcp_bytes_out"]
        pushed = sum(p.sent for p in pushers)
        read = c["tcp_bytes_in"] - read_before
        print(f"\n[{srv.backend}] {MANY} never-readers hold {held} bytes read and "
              f"not yet echoed ({POOL_BUFFERS} pool buffers of 16 KiB); the server read {read} of the "
              f"{pushed} bytes they pushed; server RSS outside the pool "
              f"{per_conn_kb:.1f} kB per never-reader (bound {MANY_BOUND_KB} kB), pool resident {pool} kB")
        # Backpressure: the server stopped reading them while bytes they
        # pushed still waited in the socket buffers.
        assert read < pushed, f"the server read all {pushed} bytes the never-readers pushed"
        assert rss - base[0] <= MANY * MANY_BOUND_KB + QUARANTINE_KB, \
            f"{per_conn_kb:.1f} kB per never-reader outside the pool"  # chunks copied out, freed, quarantined
        # What is pinned: at most one chunk per never-reader (a large one
        # for a few), in one pool.
        assert 0 < held <= MANY * 16384 + LARGE_EXTRA, held
        assert pool <= POOL_BYTES >> 10, f"pool resident {pool} kB of {POOL_BYTES >> 10}"
        rng = random.Random()
        stats = run_echoes(srv.addr, random_jobs(rng, 50, 64 * 1024), concurrency=10, timeout=5 * SLOW,
                           sources=sources)
        assert stats.failed == 0, stats.failures
        srv.assert_alive()
    finally:
        for p in pushers:
            p.close()
        loop.close()
    srv.settle(base, RSS_SLACK_KB, "many never-readers")

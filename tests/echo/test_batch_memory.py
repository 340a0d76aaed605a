"""After a burst, a worker gives back the pages of its array of completions.

A worker takes up to 1,024 completions a wait, into an array of 40 KiB on
its stack. A burst fills the array, and a server that then goes idle should
not keep those pages resident: the idle-memory bound is counted per
connection held. So a turn of 16 completions or fewer that follows one of
more than 256 gives back the array's unused pages."""
import os
import re
import signal
import time

from echoserver import recv_exactly

BURST = 1000  # connections whose messages wait for the server together
# What a thread's stack may grow by over the burst: a resident array would
# add 40 kB; what may stay (the pages of turns of up to 256, 10 kB, which a
# steady load keeps, and deeper calls of the burst's paths) is about 12.
GROWTH_KB = 24
# The array must be on the thread's own stack, not ASan's fake one.
ASAN = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        + ":detect_stack_use_after_return=0"}


def stack_pointers(pid):
    """{tid: stack pointer} of the process's threads other than the main one
    and io_uring's own workers, read while each sleeps in a system call (the
    last but one field of .../syscall; a thread on a CPU says "running")."""
    sps = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if int(tid) == pid or f.read().startswith("iou-"):
                    continue
            for _ in range(100):
                with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                    fields = f.read().split()
                if len(fields) >= 3:
                    sps[tid] = int(fields[-2], 16)
                    break
                time.sleep(0.02)
            else:
                raise AssertionError(f"thread {tid} never slept in a system call")
        except FileNotFoundError:
            pass  # a thread that ended meanwhile
    return sps


def stacks_rss_kb(pid):
    """{tid: resident kB of its stack mapping}, each found by its stack pointer."""
    sps = stack_pointers(pid)
    out, owner = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
            if m:
                lo, hi = int(m.group(1), 16), int(m.group(2), 16)
                owner = next((tid for tid, sp in sps.items() if lo <= sp < hi), None)
            elif line.startswith("Rss:") and owner is not None:
                out[owner] = int(line.split()[1])
    assert set(out) == set(sps), f"stacks found for {sorted(out)} of threads {sorted(sps)}"
    return out


def test_after_a_burst_the_worker_gives_back_its_array_of_completions(launch):
    # One worker (and the ticker): every turn is the worker's.
    srv = launch("--threads", "1", "--tcp-only", env=ASAN)
    pid = srv.proc.pid
    conns = [srv.connect() for _ in range(BURST)]
    try:
        time.sleep(0.3)  # every connection accepted
        before = stacks_rss_kb(pid)
        # Stopped, the server cannot answer a few at a time: when it goes
        # on, all the messages are there, and one turn takes hundreds.
        os.kill(pid, signal.SIGSTOP)
        try:
            for s in conns:
                s.sendall(b"m" * 64)
        finally:
            os.kill(pid, signal.SIGCONT)
        for s in conns:
            assert recv_exactly(s, 64) == b"m" * 64
        time.sleep(1.0)  # idle: the ticker's wake-ups are turns of one
        after = stacks_rss_kb(pid)
    finally:
        for s in conns:
            s.close()
    grown = {tid: after[tid] - before[tid] for tid in before if tid in after}
    assert grown and max(grown.values()) <= GROWTH_KB, f"stacks before the burst {before} kB, after it {after} kB"

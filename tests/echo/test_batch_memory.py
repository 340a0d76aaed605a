"""After a burst, a worker gives back the pages of its array of completions.

A worker takes up to 1,024 completions a wait, into an array of 40 KiB on
its stack. A burst fills the array, and a server that then goes idle should
not keep those pages resident: the idle-memory bound is counted per
connection held. So a turn of 16 completions or fewer that follows one of
more than 256 gives back the array's unused pages."""
import os
import re
import time

from echoserver import recv_exactly

BURST = 1000  # connections that each send one message at once
SLACK_KB = 12  # 256 completions of 40 bytes, in whole pages, and one page more


def stack_pointers(pid):
    """The stack pointer of each of the process's other threads, read while
    it sleeps in a system call (the last but one field of .../syscall)."""
    sps = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        if int(tid) == pid:
            continue
        for _ in range(50):  # a thread on a CPU says "running": look again
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                fields = f.read().split()
            if len(fields) >= 3:
                sps.append(int(fields[-2], 16))
                break
            time.sleep(0.02)
    return sps


def thread_stacks_rss_kb(pid):
    """The resident kB of each thread's stack mapping, found by its stack
    pointer (the mappings have no names, and their size is the stack limit's)."""
    sps = stack_pointers(pid)
    out, hit = [], False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
            if m:
                lo, hi = int(m.group(1), 16), int(m.group(2), 16)
                hit = any(lo <= sp < hi for sp in sps)
            elif line.startswith("Rss:") and hit:
                out.append(int(line.split()[1]))
    assert out, "no thread stack found"
    return out


def test_after_a_burst_the_worker_gives_back_its_array_of_completions(launch):
    # One worker: its stack is the largest of the two thread stacks (the
    # other is the ticker's), and every turn is its own.
    srv = launch("--threads", "1", "--tcp-only")
    before = max(thread_stacks_rss_kb(srv.proc.pid))
    conns = [srv.connect() for _ in range(BURST)]
    try:
        time.sleep(0.3)  # every connection accepted before the burst
        for s in conns:
            s.sendall(b"m" * 64)
        for s in conns:
            assert recv_exactly(s, 64) == b"m" * 64
        time.sleep(1.0)  # idle: the ticker's wake-ups are turns of one
        after = max(thread_stacks_rss_kb(srv.proc.pid))
    finally:
        for s in conns:
            s.close()
    # A burst's turns of hundreds of completions touch up to 40 kB of it.
    # What may stay is what turns of up to 256 touch (10 kB, which a steady
    # load keeps: see worker.c), and a page of slack.
    assert after <= before + SLACK_KB, f"worker stack {before} kB before the burst, {after} kB after it"

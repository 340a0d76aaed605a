"""After a burst, a worker gives back the pages of its array of completions.

A worker takes up to 1,024 completions a wait, into an array of 40 KiB on
its stack. A burst fills the array, and a server that then goes idle should
not keep those pages resident: the idle-memory bound is counted per
connection held. So a turn of 16 completions or fewer that follows one of
more than 256 gives back the array's unused pages."""
import re
import time

from echoserver import recv_exactly

BURST = 1000  # connections that each send one message at once
STACK_KB = 8192  # a thread's stack mapping: glibc's default size
ARRAY_KB = 40  # 1,024 completions of 40 bytes


def thread_stacks_rss_kb(pid):
    """The resident kB of each thread stack mapping of the process."""
    out, size = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
            if m:
                size = (int(m.group(2), 16) - int(m.group(1), 16)) // 1024
            elif line.startswith("Rss:") and size is not None and STACK_KB <= size <= STACK_KB + 8:
                out.append(int(line.split()[1]))
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
    # With the array resident the stack holds more than ARRAY_KB; without
    # it, what it held before the burst and a few pages more.
    assert after < before + ARRAY_KB - 12, f"worker stack {before} kB before the burst, {after} kB after it"

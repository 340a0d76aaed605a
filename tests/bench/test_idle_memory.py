"""bench/idle_memory.py: a server's RSS per idle connection from outside,
after its connections echoed (every byte checked): cport-echo gives a
burst's receive buffers back once it is quiet, and a wrong echo is an
error, not a figure."""
import os
import re
import subprocess
import sys

import pytest

from conftest import HERE, ROOT, binary

sys.path.insert(0, os.path.join(ROOT, "bench"))
import idle_memory  # noqa: E402  (bench/ is not a package)

TOOL = os.path.join(ROOT, "bench", "idle_memory.py")
LINE_RE = re.compile(r"(\d+) connections, echo (\S+): RSS (\d+) kB before, (\d+) kB held \((\d+) B a connection\), "
                     r"(\d+) kB [\d.]+ s after the echo \((-?\d+) B a connection\)")
CONNS = 600
# The burst writes about one 16 KiB pool buffer per few connections: kept,
# that is thousands of bytes a connection; given back, what is left is the
# connections' own (about 250 B) and a few buffers io_uring's ring keeps.
AFTER_BOUND = 1024


def run(*args, timeout=120):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, timeout=timeout)


def test_cport_echo_gives_a_bursts_buffers_back_once_quiet(backend):
    echo = binary("cport-echo")
    r = run("-n", str(CONNS), "--echo", "burst", "--settle", "3.5", "--", echo, "--port", "{port}", "--bind",
            "127.0.0.1", "-q", "--tcp-only", "--backend", backend)
    assert r.returncode == 0, r.stderr
    m = LINE_RE.search(r.stdout)
    assert m, r.stdout
    assert int(m.group(1)) == CONNS and m.group(2) == "burst"
    after = int(m.group(7))
    assert after <= AFTER_BOUND, f"{after} B a connection once quiet: the burst's buffers stayed ({r.stdout})"


def held_by(src, cflags, tmp_path):
    """Builds src with cflags, runs it until it says "ready", and returns its
    VmRSS and the tool's reading of it, both in kB."""
    exe = tmp_path / ("asan" if cflags else "plain")
    subprocess.run(["cc", *cflags, "-o", str(exe), str(src)], check=True, timeout=60)
    p = subprocess.Popen([str(exe)], stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"ready\n"
        with open(f"/proc/{p.pid}/status") as f:
            vmrss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return vmrss, idle_memory.rss_kb(p.pid)
    finally:
        p.kill()
        p.wait(10)


def test_a_sanitizer_builds_shadow_is_not_counted_as_the_servers(tmp_path):
    # The sanitizer's shadow of freed buffers stays resident: counted, it made
    # cport-echo's sanitizer build read 1,120 B a connection here once quiet,
    # 212-259 B without it.
    src = os.path.join(HERE, "shadow_touch.c")
    vmrss, rss = held_by(src, ["-fsanitize=address"], tmp_path)
    assert vmrss - rss >= 4096, f"the shadow of 32 MiB written and freed is 4 MiB: VmRSS {vmrss} kB, read {rss} kB"
    vmrss, rss = held_by(src, [], tmp_path)
    assert rss == vmrss, "without the sanitizer, the reading is VmRSS"


def test_a_wrong_echo_is_an_error():
    faulty = [sys.executable, os.path.join(HERE, "faulty_echo.py"), "--port", "{port}", "--fault", "flip",
              "--at", "10"]
    r = run("-n", "30", "--echo", "one-by-one", "--settle", "0.2", "--", *faulty)
    assert r.returncode != 0
    assert "echo differs" in r.stderr
    assert not LINE_RE.search(r.stdout)

"""What cport-bench writes: the documented JSON, HdrHistogram text, the progress line."""
import os
import pty
import select
import subprocess
import time

from conftest import binary

JSON_FIELDS = {
    "tool": str, "version": str, "params": dict, "connections": dict, "window_s": float, "messages": int,
    "bytes": int, "msgs_per_s": float, "mib_per_s": float, "latency_us": dict, "send_lateness_us": type(None),
    "errors": dict, "client": dict,
    "server": dict, "ok": bool, "exit_status": int,
}
PARAMS = ["host", "port", "address", "family", "proto", "mode", "connections", "size", "pipeline", "rate",
          "duration_s", "warmup_s", "connect_rate", "threads", "backend", "timeout_s", "pool"]
LATENCY = ["count", "min", "mean", "stddev", "p50", "p90", "p99", "p999", "max"]
ERRORS = ["corrupt", "lost", "reordered", "crosstalk", "connect_failed", "connect_timeout", "reset", "eof",
          "timeout", "io_error", "duplicate", "late"]


def test_json_has_every_documented_field(start_server, bench):
    srv = start_server("epoll")
    r = bench(srv.port, "-c", "3", "-s", "128", "--server-pid", str(srv.proc.pid))
    assert r.code == 0, r
    j = r.json
    for k, t in JSON_FIELDS.items():
        assert isinstance(j[k], t), (k, j[k])
    assert sorted(j["params"]) == sorted(PARAMS)
    assert sorted(j["latency_us"]) == sorted(LATENCY)
    assert sorted(j["errors"]) == sorted(ERRORS)
    assert set(j["client"]) == {"cpu_s", "cpu_share"}
    assert set(j["server"]) == {"pid", "cpu_s", "cpu_share", "cpu_us_per_msg", "user_share_of_cpu", "rss_kib"}
    assert 0 <= j["server"]["user_share_of_cpu"] <= 1
    assert j["server"]["pid"] == srv.proc.pid and j["server"]["rss_kib"] > 0
    lat = j["latency_us"]
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    assert abs(j["msgs_per_s"] * j["window_s"] - j["messages"]) <= 1
    assert abs(j["bytes"] - j["messages"] * 128) <= 3 * 128  # partial messages at the window's edges
    assert j["params"]["connections"] == 3 and j["params"]["proto"] == "tcp" and j["params"]["rate"] is None


def test_hgrm_is_hdrhistogram_percentile_text(start_server, bench, tmp_path):
    srv = start_server("epoll")
    path = tmp_path / "lat.hgrm"
    r = bench(srv.port, "-c", "2", "--hgrm", str(path))
    assert r.code == 0, r
    lines = path.read_text().splitlines()
    assert lines[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"] and lines[1] == ""
    rows = [l.split() for l in lines[2:] if not l.startswith("#")]
    values = [float(x[0]) for x in rows]
    assert values == sorted(values) and len(rows) > 10
    assert rows[-1][1] == "1.000000000000" and int(rows[-1][2]) == r.json["latency_us"]["count"]
    assert abs(values[-1] * 1000 - r.json["latency_us"]["max"]) < 1  # ms in the file, us in the JSON
    assert lines[-3].startswith("#[Mean") and lines[-2].startswith("#[Max") and lines[-1].startswith("#[Buckets")


def test_no_progress_line_unless_stderr_is_a_terminal(start_server, bench):
    srv = start_server("epoll")
    r = bench(srv.port, "-c", "1", duration="1.2")
    assert r.code == 0 and r.err == "", r


def test_progress_line_on_a_terminal(start_server):
    srv = start_server("epoll")
    master, slave = pty.openpty()
    p = subprocess.Popen([binary("cport-bench"), "--port", str(srv.port), "-d", "2.2", "--warmup", "0"],
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen, deadline = b"", time.monotonic() + 20
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif p.poll() is not None:
            break
    p.wait(20)
    os.close(master)
    assert p.returncode == 0
    assert b"msgs/s" in seen and b"\r" in seen, seen


def test_human_summary_names_units(start_server, bench):
    srv = start_server("epoll")
    out = bench(srv.port, "-c", "2").out
    for word in ("msgs/s", "MiB/s", "p50", "p99.9", "max", "errors:", "result:      OK"):
        assert word in out, out

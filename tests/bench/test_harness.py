"""bench/run.py and bench/profile.py themselves: the run order, medians, ratios and the
tools' output parsing, on made-up figures (no servers)."""
import importlib.util
import math
import os

import pytest

from conftest import ROOT


def load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(ROOT, "bench", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


run = load("run")
profile = load("profile")
interleave = load("interleave")


def result(msgs, cpu, p50=100.0, p99=200.0, rss=1000, lost=0, status=0):
    """The parts of cport-bench's JSON that run.py reads."""
    errors = dict.fromkeys(["corrupt", "lost", "reordered", "crosstalk", "connect_failed", "connect_timeout",
                            "reset", "eof", "timeout", "io_error", "duplicate", "late"], 0)
    errors["lost"] = lost
    if status == 1:
        errors["corrupt"] = 1
    return {"messages": int(msgs), "msgs_per_s": float(msgs), "mib_per_s": msgs * 64 / 2**20,
            "latency_us": {"p50": p50, "p99": p99}, "errors": errors, "client": {"cpu_share": 0.9},
            "server": {"cpu_share": 0.8, "cpu_us_per_msg": cpu, "rss_kib": rss}, "ok": status == 0,
            "exit_status": status}


def runs(table):
    """{server: [per-round result or None for a failed round]} -> run records."""
    out = []
    for rnd in range(1, 1 + max(len(v) for v in table.values())):
        for name, per_round in table.items():
            res = per_round[rnd - 1]
            out.append({"server": name, "round": rnd, "result": res if res else {"error": "did not start"}})
    return out


def test_interleave_pairs_each_round_with_the_references_same_round():
    # The host slows down in rounds 1 and 2: a ratio of medians (7/5 = 1.4)
    # would mix speeds (6.75 / 5 = 1.35); each round against its own reads 0.9.
    ref = {0: 5.0, 1: 10.0, 2: 10.0, 3: 5.0, 4: 5.0}
    server = {0: 4.5, 1: 9.0, 2: 9.0, 3: 4.5}  # round 4 failed: left out, not counted as zero
    assert interleave.paired_ratio(server, ref) == pytest.approx(0.9)
    assert math.isnan(interleave.paired_ratio({0: 6.0}, {1: 5.0}))  # no round in common


def test_interleave_reads_the_clients_own_cpu_per_message():
    assert interleave.client_us_per_msg({"messages": 200000, "client": {"cpu_s": 1.1}}) == pytest.approx(5.5)
    assert interleave.client_us_per_msg({"messages": 0, "client": {"cpu_s": 1.1}}) is None  # nothing echoed
    assert interleave.client_us_per_msg({"messages": 5, "client": {"cpu_share": 0.9}}) is None  # no figure


def test_schedule_interleaves_rounds():
    order = run.schedule(["A", "B", "C"], 3)
    assert order == [(1, "A"), (1, "B"), (1, "C"), (2, "A"), (2, "B"), (2, "C"), (3, "A"), (3, "B"), (3, "C")]
    names = [n for _, n in order]
    assert all(a != b for a, b in zip(names, names[1:])), "a server never runs twice in a row"


def test_schedule_one_server_one_round():
    assert run.schedule(["A"], 1) == [(1, "A")]
    assert run.schedule([], 3) == []


@pytest.mark.parametrize("values, want", [
    ([3, 1, 2], 2), ([4, 1, 3, 2], 2.5), ([5], 5), ([None, 7, None], 7), ([], None), ([None], None),
])
def test_median(values, want):
    assert run.median(values) == want


def test_summary_takes_medians_and_ratios_of_medians():
    s = run.summarize(runs({
        "ref-epoll": [result(100, 10.0, p50=50), result(120, 12.0, p50=40), result(110, 8.0, p50=60)],
        "cport": [result(300, 9.0, p50=30), result(200, 30.0, p50=20), result(250, 6.0, p50=25)],
    }), "ref-epoll")
    base, c = s["ref-epoll"], s["cport"]
    assert base["median"]["msgs"] == 110 and base["median"]["cpu_msg"] == 10.0 and base["median"]["p50"] == 50
    assert c["median"]["msgs"] == 250 and c["median"]["cpu_msg"] == 9.0 and c["median"]["p50"] == 25
    assert c["ratio"]["cpu_msg"] == pytest.approx(0.9)  # of medians: 9 / 10, not a median of ratios
    assert c["ratio"]["msgs"] == pytest.approx(250 / 110)
    assert c["ratio"]["p50"] == pytest.approx(0.5)
    # per round: each round's CPU/msg against the baseline's in the same round
    assert c["cpu_ratio_rounds"] == pytest.approx([0.9, 2.5, 0.75])
    assert base["cpu_ratio_rounds"] == [1.0, 1.0, 1.0]
    assert c["rounds"] == 3 and c["rounds_ok"] == 3
    assert list(s) == ["ref-epoll", "cport"], "servers keep their run order"


def test_summary_of_failed_rounds():
    s = run.summarize(runs({
        "ref-epoll": [result(100, 10.0), None, result(100, 10.0)],
        "cport": [result(100, 5.0), result(100, 20.0), None],
        "broken": [None, None, None],
    }), "ref-epoll")
    c = s["cport"]
    assert c["rounds_ok"] == 2 and c["median"]["cpu_msg"] == 12.5
    # round 2 has no baseline, round 3 no cport: no ratio for either
    assert c["cpu_ratio_rounds"] == [0.5, None, None]
    assert s["broken"]["rounds_ok"] == 0 and s["broken"]["median"]["msgs"] is None
    assert s["broken"]["ratio"]["cpu_msg"] is None


def test_summary_without_baseline_has_no_ratios():
    s = run.summarize(runs({"cport": [result(100, 5.0)]}), "ref-epoll")
    assert s["cport"]["ratio"]["cpu_msg"] is None and s["cport"]["cpu_ratio_rounds"] == [None]


def test_summary_sums_error_counters_and_takes_median_loss():
    s = run.summarize(runs({"ref-udp": [result(90, 1.0, lost=10), result(99, 1.0, lost=1),
                                        result(100, 1.0, lost=0)]}), "ref-udp")
    m = s["ref-udp"]
    assert m["errors"] == {"lost": 11}
    assert m["median"]["loss"] == pytest.approx(0.01)  # 1 of 100 sent


def test_ratio_range_text():
    assert run.ratio_range(1.05, [0.98, 1.11, 1.02]) == "1.05x, paired 1.02x (0.98-1.11)"
    assert run.ratio_range(1.05, [None, 1.1, 0.9]) == "1.05x, paired 1.00x (0.90-1.10)"
    assert run.ratio_range(1.05, [1.05]) == "1.05x"
    assert run.ratio_range(None, [1.0, 2.0]) == "-"


def test_measure_runs_every_client_in_interleaved_rounds(monkeypatch, tmp_path):
    """measure() itself, with the servers and the client replaced by stand-ins."""
    started = []

    class FakeServer:
        def __init__(self, name, argv):
            self.name, self.port = name, 1
            self.proc = type("P", (), {"pid": 1})()
            started.append(name)

        def wait_ready(self):
            pass

        def stop(self):
            pass

    calls = []

    def fake_client(build, port, pid, cell, client, plan, raw, tag):
        calls.append((client, started[-1]))
        return result(100, 1.0)

    monkeypatch.setattr(run, "Server", FakeServer)
    monkeypatch.setattr(run, "run_client", fake_client)
    plan = {"cells": [run.tcp(100, 64), run.udp(1, 64)], "repeats": 2, "duration": 1, "warmup": 0,
            "servers": ["cport-default", "ref-epoll", "ref-udp"]}
    said = []
    got, cells = run.measure("build", plan, set(), str(tmp_path), lambda msg, stamp=False: said.append(msg))
    tcp_order = [(r["client"], r["round"], r["server"]) for r in got if r["cell"]["proto"] == "tcp"]
    assert tcp_order == [("epoll", 1, "cport-default"), ("epoll", 1, "ref-epoll"),
                         ("epoll", 2, "cport-default"), ("epoll", 2, "ref-epoll"),
                         ("io_uring", 1, "cport-default"), ("io_uring", 1, "ref-epoll"),
                         ("io_uring", 2, "cport-default"), ("io_uring", 2, "ref-epoll")]
    udp_servers = {r["server"] for r in got if r["cell"]["proto"] == "udp"}
    assert udp_servers == {"cport-default", "ref-udp"}
    assert [c for c, _ in calls][:1] == ["epoll"], "the neutral client first"
    assert len(cells) == 2 and all(len(c["load_start"]) == 3 and len(c["load_end"]) == 3 for c in cells)
    assert sum("load average at start" in m for m in said) == 2 and sum("load average at end" in m for m in said) == 2

    summs = run.summaries(got, cells)
    assert [(s["cell"]["proto"], s["client"], s["baseline"]) for s in summs] == [
        ("tcp", "epoll", "ref-epoll"), ("tcp", "io_uring", "ref-epoll"),
        ("udp", "epoll", "ref-udp"), ("udp", "io_uring", "ref-udp")]
    md = run.markdown(summs, cells, plan, True, "stamp", "no plot", ((0.1, 0.2, 0.3), (0.4, 0.5, 0.6)))
    tcp_part = md.split("## closed loop, 100 connections x 64 B", 1)[1].split("## UDP", 1)[0]
    assert tcp_part.index("### client on epoll") < tcp_part.index("### client on io_uring")
    assert "Load average" in tcp_part
    assert "1.00x, paired 1.00x (1.00-1.00)" in md
    assert "datagrams/s" in md.split("## UDP", 1)[1]


def test_servers_variants_and_default():
    tcp = dict(run.servers("B", "tcp"))
    udp = dict(run.servers("B", "udp"))
    assert tcp["cport-default"] == ["B/cport-echo", "--port", "0", "--bind", "127.0.0.1", "-q"]
    assert udp["cport-default"] == tcp["cport-default"]
    for name in run.CPORT_VARIANTS:
        assert "--tcp-only" in tcp[name] and "--udp-only" in udp[name] and "1" in tcp[name]
    assert "ref-udp" in udp and "ref-udp" not in tcp and "ref-epoll" not in udp
    assert tcp["cport-recv-ahead"] == tcp["cport-default"][:-1] + ["--tcp-only", "--recv-ahead", "-q"]
    assert "cport-recv-ahead" not in udp


def test_the_io_uring_floor_takes_64_kib_buffers_for_messages_past_its_16_kib_ones():
    small, large = dict(run.servers("B", "tcp", 4096)), dict(run.servers("B", "tcp", 65536))
    assert small["ref-uring"][-1] == "oneshot" and small["ref-uring-multishot"][-1] == "multishot"
    assert large["ref-uring"][-1] == "oneshot,big" and large["ref-uring-multishot"][-1] == "multishot,big"
    assert small["ref-uring-capped"][-1] == "capped,shared" and large["ref-uring-capped"][-1] == "capped,shared,big"


def test_parse_cells():
    assert run.parse_cells("100x64,udp1x64,100x64@5000") == [run.tcp(100, 64), run.udp(1, 64),
                                                             run.tcp(100, 64, 5000)]


def test_figures_of_an_error_run_is_none():
    assert run.figures({"error": "x"}) is None


STRACE = """% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ------------------
 66.59    1.061122      530561         2           rt_sigtimedwait
 32.29    0.514584          10     51198           io_uring_enter
  0.01    0.000015          15         1         1 access
------ ----------- ----------- --------- --------- ------------------
100.00    1.593576          30     51201         1 total
"""


def test_parse_strace(tmp_path):
    p = tmp_path / "s"
    p.write_text(STRACE)
    assert profile.parse_strace(str(p)) == {"rt_sigtimedwait": 2, "io_uring_enter": 51198, "access": 1}


def test_parse_callgrind(tmp_path):
    p = tmp_path / "c"
    p.write_text("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 123\nfl=x\n0 5\ntotals: 4682037\n")
    assert profile.parse_callgrind(str(p)) == 4682037


def test_per_message_subtracts_the_idle_run():
    assert profile.per_message(1100, 100, 10) == 100
    assert profile.per_message({"read": 21, "futex": 3}, {"read": 1, "close": 2}, 10) == \
        {"read": 2.0, "futex": 0.3, "close": -0.2}
    assert profile.per_message(5, 1, 0) is None
    assert profile.top_calls({"a": 1.0, "b": 2.0, "c": -1.0}, 5) == [("b", 2.0), ("a", 1.0)]


def test_a_run_that_echoed_nothing_has_no_cpu_per_message():
    empty = result(0, 0.0)
    empty["latency_us"] = None
    s = run.summarize(runs({"ref-epoll": [result(100, 10.0), empty, result(100, 12.0)]}), "ref-epoll")
    m = s["ref-epoll"]["median"]
    assert m["cpu_msg"] == 11.0, "the empty round's 0 us is not a figure"
    assert m["msgs"] == 100, "its 0 msgs/s is"
    got = run.failures([{"server": "ref-epoll", "cell": run.tcp(1000, 64), "client": "epoll", "round": 2,
                         "result": empty}])
    assert len(got) == 1 and "echoed nothing" in got[0]

#!/usr/bin/env python3
"""run.py - `make bench`: every echo server side by side, one client, one table.

Each server runs pinned to CPU 0 and is measured by build/cport-bench pinned to
CPU 1. Every cell is measured twice over, once with the client on its epoll
backend (the neutral client: the headline figures) and once on io_uring. For
each cell and client the servers run in rounds, A B C ... then A B C ... again
(never A A B B), a fresh server process per run; each figure reported is the
median of the rounds, and the ratios are of medians to the cell's baseline
(ref-epoll for TCP, ref-udp for UDP), with the spread of the per-round CPU per
message ratio beside it. Writes bench/results/DATE.md (the tables), DATE.json
(every run's figures and the medians) and DATE.png (latency by percentile,
from the runs' .hgrm files, drawn by gnuplot).

usage: bench/run.py [--quick] [--build DIR] [--out DIR] [--only NAME,...]
                    [--cells CELL,...] [--repeats N] [--duration SEC]
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVER_CPU, CLIENT_CPU = "0", "1"
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
BASELINES = {"tcp": "ref-epoll", "udp": "ref-udp"}
# The client's backends, in the order the tables show them: epoll is the neutral
# client (it favours neither kind of server) and the headline.
CLIENTS = ("epoll", "io_uring")
CPORT_VARIANTS = [f"cport-{be}-{model}" for be in ("io_uring", "epoll") for model in ("shared", "per-thread")]
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#000000", "#9467bd", "#8c564b", "#e377c2", "#17becf",
          "#bcbd22"]


def tcp(conns, size, rate=None):
    cell = {"proto": "tcp", "conns": conns, "size": size}
    if rate:
        cell["rate"] = rate
    return cell


def udp(conns, size):
    return {"proto": "udp", "conns": conns, "size": size}


FULL = {
    "cells": [tcp(1, 64), tcp(100, 64), tcp(1000, 64), tcp(100, 4096), tcp(100, 65536), tcp(1000, 4096),
              tcp(10000, 64), udp(1, 64), udp(100, 64)]
             + [tcp(100, 64, r) for r in (10000, 25000, 50000, 100000)],
    "duration": 5.0, "warmup": 1.0, "repeats": 3, "servers": None,
}
QUICK = {
    "cells": [tcp(1, 64), tcp(100, 64), tcp(1000, 64), tcp(100, 4096), tcp(100, 65536), udp(1, 64), udp(100, 64)],
    "duration": 1.0, "warmup": 0.2, "repeats": 3,
    "servers": ["cport-default"] + CPORT_VARIANTS + ["cport-recv-ahead", "ref-epoll", "ref-uring",
                                                     "ref-uring-multishot", "ref-uring-capped", "ref-udp",
                                                     "ref-udp-uring", "ref-udp-uring-pktinfo"],
}


def servers(build, proto, size=0):
    """(name, argv) for every server of a protocol, each taking its port (0: any) from the argv.

    cport-default is cport-echo as shipped: no flag that touches performance, its
    default thread count (2 x the CPUs it may run on: 2 on the one CPU taskset gives it) and both
    protocols on one port. The variants run one thread and serve the cell's
    protocol only. For messages larger than its 16 KiB buffers the io_uring
    floor takes 64 KiB ones, a few at a time in its ring ("big"), as cport's
    large pool buffers are: with 16 KiB ones a 64 KiB message would cost it
    four receives and sends, a floor no server need sit on. cport-recv-ahead is
    the default with its one opt-in mode for TCP, --recv-ahead; ref-uring-capped
    is that mode's floor (a capped multishot receive, a shared ring's flags)."""
    echo = os.path.join(build, "cport-echo")
    out = [("cport-default", [echo, "--port", "0", "--bind", "127.0.0.1", "-q"])]
    only = "--tcp-only" if proto == "tcp" else "--udp-only"
    for be in ("io_uring", "epoll"):
        for model in ("shared", "per-thread"):
            out.append((f"cport-{be}-{model}", [echo, "--port", "0", "--bind", "127.0.0.1", "--backend", be,
                                                "--model", model, "--threads", "1", only, "-q"]))
    ref = os.path.join(build, "bench")
    big = ",big" if size > 16384 else ""
    if proto == "udp":
        return out + [("ref-udp", [os.path.join(ref, "ref-udp"), "0"]),
                      ("ref-udp-uring", [os.path.join(ref, "ref-udp-uring"), "0"]),
                      # On a wildcard address, answering from the address each datagram came to.
                      ("ref-udp-uring-pktinfo", [os.path.join(ref, "ref-udp-uring"), "0", "0.0.0.0", "pktinfo"])]
    out.append(("cport-recv-ahead", [echo, "--port", "0", "--bind", "127.0.0.1", "--tcp-only", "--recv-ahead", "-q"]))
    return out + [
        ("ref-epoll", [os.path.join(ref, "ref-epoll"), "0"]),
        # The io_uring floor: what a minimal io_uring server costs (docs/performance.md).
        ("ref-uring", [os.path.join(ref, "ref-uring"), "0", "127.0.0.1", "oneshot" + big]),
        ("ref-uring-multishot", [os.path.join(ref, "ref-uring"), "0", "127.0.0.1", "multishot" + big]),
        ("ref-uring-capped", [os.path.join(ref, "ref-uring"), "0", "127.0.0.1", "capped,shared" + big]),
        ("ref-libuv", [os.path.join(ref, "ref-uv"), "0"]),
        ("ref-threads", [os.path.join(ref, "ref-threads"), "0"]),
        ("ref-uvloop", ["/usr/bin/python3", os.path.join(HERE, "ref", "echo_uvloop.py"), "0"]),
        ("ref-node", ["node", os.path.join(HERE, "ref", "echo_node.js"), "0"]),
    ]


# ---------------------------------------------------------------- pure logic


def schedule(names, repeats):
    """The run order of one cell and client: round by round, every server once a round."""
    return [(rnd, name) for rnd in range(1, repeats + 1) for name in names]


def median(values):
    """The median of the values that are not None; None if there are none."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def div(a, b):
    return a / b if a is not None and b else None


def figures(res):
    """The table's figures from one run's JSON, None where there is none."""
    if "error" in res:
        return None
    lat = res.get("latency_us") or {}
    srv = res.get("server") or {}
    errs = {k: v for k, v in res["errors"].items() if v}
    lost = res["errors"].get("lost", 0)
    msgs = res.get("messages", 0)
    # A run that echoed nothing in its window has no CPU per message (the client writes 0).
    return {"msgs": res["msgs_per_s"], "mib": res["mib_per_s"], "p50": lat.get("p50"), "p99": lat.get("p99"),
            "cpu_msg": srv.get("cpu_us_per_msg") if msgs else None, "rss": srv.get("rss_kib"), "client_cpu": res["client"]["cpu_share"],
            "server_cpu": srv.get("cpu_share"), "lost": lost,
            "loss": lost / (msgs + lost) if msgs + lost else None, "errors": errs, "ok": res["ok"]}


MEDIAN_KEYS = ("msgs", "mib", "p50", "p99", "cpu_msg", "rss", "client_cpu", "server_cpu", "lost", "loss")
RATIO_KEYS = ("msgs", "p50", "p99", "cpu_msg", "rss")


def summarize(runs, baseline):
    """Per server of one cell and client: the median of each figure over its rounds,
    the medians' ratios to the baseline's, and the per-round CPU/msg ratio (each
    round's against the baseline's in the same round; None where either failed).

    runs: [{"server", "round", "result"}]; returns {server: summary}, in run order."""
    by_server, order = {}, []
    for r in runs:
        if r["server"] not in by_server:
            order.append(r["server"])
        by_server.setdefault(r["server"], {})[r["round"]] = figures(r["result"])
    rounds = sorted({r["round"] for r in runs})
    out = {}
    for name in order:
        figs = by_server[name]
        good = [f for f in figs.values() if f]
        med = {k: median(f[k] for f in good) for k in MEDIAN_KEYS}
        errors = {}
        for f in good:
            for k, v in f["errors"].items():
                errors[k] = errors.get(k, 0) + v
        out[name] = {"rounds": len(figs), "rounds_ok": len(good), "median": med, "errors": errors,
                     "ok": bool(good) and all(f["ok"] for f in good)}
    base = out.get(baseline)
    for name in order:
        s = out[name]
        s["ratio"] = {k: div(s["median"][k], base["median"][k]) if base else None for k in RATIO_KEYS}
        s["cpu_ratio_rounds"] = []
        for rnd in rounds:
            f, b = by_server[name].get(rnd), (by_server.get(baseline) or {}).get(rnd)
            s["cpu_ratio_rounds"].append(div(f and f["cpu_msg"], b and b["cpu_msg"]))
    return out


def ratio(v):
    return "-" if v is None else f"{v:.2f}x"


def ratio_range(v, rounds):
    """A ratio of medians, then the median of the per-round ratios ("paired": each
    round's figure against the baseline's in the same round) with their min-max:
    '1.05x, paired 1.03x (0.98-1.11)'. The host here changes speed between rounds,
    and a ratio of medians can pair one server's fast round with the baseline's
    slow one; the paired median compares like with like."""
    if v is None:
        return "-"
    got = [x for x in rounds if x is not None]
    if len(got) < 2:
        return ratio(v)
    return f"{v:.2f}x, paired {median(got):.2f}x ({min(got):.2f}-{max(got):.2f})"


def median_round(runs, name):
    """The run of this server whose msgs/s is nearest its median (for the plot)."""
    mine = [(r, figures(r["result"])) for r in runs if r["server"] == name]
    mine = [(r, f) for r, f in mine if f]
    if not mine:
        return None
    m = median(f["msgs"] for _, f in mine)
    return min(mine, key=lambda rf: abs(rf[1]["msgs"] - m))[0]


def run_seconds(cell, plan):
    """A guess at one run's wall time: the window, the warmup, server start and stop
    and the connects (they go at about 2,000 a second on a loaded machine)."""
    return plan["duration"] + plan["warmup"] + 0.4 + cell["conns"] / 2000


# ---------------------------------------------------------------- running


class Server:
    """A server pinned to its CPU; its stderr is read by a thread that notes the ready line."""

    def __init__(self, name, argv):
        self.name, self.port, self.lines = name, None, []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            if self.port is None and "listening on " in line:
                addr = line.split("listening on ", 1)[1].split()[0]
                self.port = int(addr.rsplit(":", 1)[1])
                self.ready.set()
        self.ready.set()

    def wait_ready(self):
        if not self.ready.wait(READY_TIMEOUT) or self.port is None:
            raise RuntimeError(f"{self.name} did not start: " + " | ".join(self.lines[-5:]))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_client(build, port, pid, cell, client, plan, raw, tag):
    conns, size, rate = cell["conns"], cell["size"], cell.get("rate")
    jpath, hpath = os.path.join(raw, tag + ".json"), os.path.join(raw, tag + ".hgrm")
    argv = ["taskset", "-c", CLIENT_CPU, os.path.join(build, "cport-bench"), "--host", "127.0.0.1",
            "--port", str(port), "-c", str(conns), "-s", str(size), "-d", str(plan["duration"]),
            "--warmup", str(plan["warmup"]), "--threads", "1", "--backend", client, "--server-pid", str(pid),
            "--json", jpath, "--hgrm", hpath]
    if cell["proto"] == "udp":
        argv.append("--udp")
    if rate:
        argv += ["--rate", str(rate)]
    limit = plan["duration"] + plan["warmup"] + 60
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"error": f"client timed out after {limit:.0f} s"}
    if not os.path.exists(jpath):
        return {"error": f"client exit {p.returncode}: {p.stdout.strip()[-300:]}"}
    with open(jpath) as f:
        res = json.load(f)
    res["hgrm"] = os.path.relpath(hpath, ROOT)
    return res


def cell_tag(cell):
    return f"{cell['proto']}-c{cell['conns']}-s{cell['size']}" + (f"-r{cell['rate']}" if cell.get("rate") else "")


def cell_servers(build, plan, cell, names):
    return [(n, a) for n, a in servers(build, cell["proto"], cell["size"])
            if (not plan.get("servers") or n in plan["servers"]) and (not names or n in names)]


def load_text(load):
    return " / ".join(f"{x:.2f}" for x in load)


def measure(build, plan, names, raw, say):
    """Every cell, each client backend, the servers in rounds. Returns (runs, cells)."""
    runs, cells = [], []
    for cell in plan["cells"]:
        srvs = cell_servers(build, plan, cell, names)
        if not srvs:
            continue
        load_start = os.getloadavg()
        say(f"== {cell_title(cell)}: load average at start {load_text(load_start)}")
        for client in CLIENTS:
            argv_of = dict(srvs)
            for rnd, name in schedule([n for n, _ in srvs], plan["repeats"]):
                tag = f"{cell_tag(cell)}-{client}-client-r{rnd}-{name}"
                srv = Server(name, argv_of[name])
                try:
                    srv.wait_ready()
                    res = run_client(build, srv.port, srv.proc.pid, cell, client, plan, raw, tag)
                except RuntimeError as e:
                    res = {"error": str(e)}
                finally:
                    srv.stop()
                run = {"server": name, "cell": cell, "client": client, "round": rnd, "result": res}
                runs.append(run)
                say(f"{client}-client r{rnd} {name} {cell_tag(cell)}: {run_text(res)}", stamp=True)
        load_end = os.getloadavg()
        say(f"== {cell_title(cell)}: load average at end {load_text(load_end)}")
        cells.append({"cell": cell, "load_start": list(load_start), "load_end": list(load_end)})
    return runs, cells


def summaries(runs, cells):
    """[{cell, client, baseline, servers: {name: summary}}] for every cell and client."""
    out = []
    for c in cells:
        cell = c["cell"]
        base = BASELINES[cell["proto"]]
        for client in CLIENTS:
            mine = [r for r in runs if r["cell"] == cell and r["client"] == client]
            if mine:
                out.append({"cell": cell, "client": client, "baseline": base, "servers": summarize(mine, base)})
    return out


# ---------------------------------------------------------------- reporting


def fmt_us(v):
    if v is None:
        return "-"
    return f"{v:.0f} us" if v < 1000 else f"{v / 1000:.2f} ms" if v < 1e6 else f"{v / 1e6:.2f} s"


def num(v, fmt):
    return "-" if v is None else fmt.format(v)


def run_text(res):
    f = figures(res)
    if f is None:
        return res.get("error")
    return (f"{f['msgs']:.0f} msgs/s p99 {fmt_us(f['p99'])} CPU/msg {num(f['cpu_msg'], '{:.2f} us')}"
            + (f" lost {f['lost']}" if f["lost"] else "") + ("" if f["ok"] else f" ERRORS {f['errors']}"))


def cell_title(cell):
    if cell["proto"] == "udp":
        return f"UDP closed loop, {cell['conns']} client{'s' if cell['conns'] != 1 else ''} x {cell['size']} B"
    if cell.get("rate"):
        return f"open loop {cell['rate']} msgs/s, {cell['conns']} connections x {cell['size']} B"
    return f"closed loop, {cell['conns']} connections x {cell['size']} B"


def cell_short(cell):
    if cell["proto"] == "udp":
        return f"UDP {cell['conns']}x{cell['size']}"
    return f"{cell['conns']}x{cell['size']}" + (f" @{cell['rate']}/s" if cell.get("rate") else "")


def errors_text(errs):
    """Every counter that is not zero, summed over the rounds (UDP's lost too)."""
    return ", ".join(f"{k} {v}" for k, v in errs.items()) or "none"


def table(summ):
    """One cell's table for one client: medians over rounds, ratios of medians."""
    base, udp_cell = summ["baseline"], summ["cell"]["proto"] == "udp"
    unit = "datagram" if udp_cell else "msg"
    head = (f"| server | rounds | {unit}s/s | MiB/s | p50 | p99 | server CPU/{unit} | server RSS | "
            + ("loss | " if udp_cell else "")
            + f"{unit}s/s vs base | p50 vs base | p99 vs base | CPU/{unit} vs base, paired (per-round range) | "
              "RSS vs base | client CPU | errors |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, s in summ["servers"].items():
        m, r = s["median"], s["ratio"]
        label = f"**{name}**" if name == base else name
        if not s["rounds_ok"]:
            out.append(f"| {label} | 0/{s['rounds']} | failed |" + " |" * (head.count("|") - 4))
            continue
        loss = f"{num(m['loss'] and m['loss'] * 100, '{:.3f}%')} | " if udp_cell else ""
        out.append(
            f"| {label} | {s['rounds_ok']}/{s['rounds']} | {m['msgs']:.0f} | {m['mib']:.1f} | {fmt_us(m['p50'])} | "
            f"{fmt_us(m['p99'])} | {num(m['cpu_msg'], '{:.2f} us')} | "
            f"{num(m['rss'] and m['rss'] / 1024, '{:.1f} MiB')} | {loss}"
            f"{ratio(r['msgs'])} | {ratio(r['p50'])} | {ratio(r['p99'])} | "
            f"{ratio_range(r['cpu_msg'], s['cpu_ratio_rounds'])} | {ratio(r['rss'])} | "
            f"{num(m['client_cpu'] and m['client_cpu'] * 100, '{:.0f}%')} | {errors_text(s['errors'])} |")
    return out


def headline(summs, client):
    """Servers down, cells across: CPU per message against the baseline, one client."""
    mine = [s for s in summs if s["client"] == client]
    if not mine:
        return []
    names = []
    for s in mine:
        names += [n for n in s["servers"] if n not in names]
    head = "| server | " + " | ".join(cell_short(s["cell"]) for s in mine) + " |"
    out = [head, "|" + "---|" * (len(mine) + 1)]
    for n in names:
        row = []
        for s in mine:
            v = s["servers"].get(n)
            row.append(ratio_range(v["ratio"]["cpu_msg"], v["cpu_ratio_rounds"]) if v else "")
        out.append(f"| {n} | " + " | ".join(row) + " |")
    return out


def hgrm_points(path, out):
    """The plottable lines of an .hgrm: latency (ms) against 1/(1-percentile)."""
    n = 0
    with open(os.path.join(ROOT, path)) as f, open(out, "w") as o:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and not line.startswith("#"):
                try:
                    o.write(f"{float(parts[3])} {float(parts[0])}\n")
                    n += 1
                except ValueError:
                    pass
    return n


def plot(runs, picks, png, raw):
    """One panel per picked cell: every server's latency by percentile, epoll client,
    each server's median round."""
    if not shutil.which("gnuplot"):
        return "gnuplot not found: no plot"
    panels = []
    for cell in picks:
        mine = [r for r in runs if r["cell"] == cell and r["client"] == CLIENTS[0]]
        series = []
        for name in dict.fromkeys(r["server"] for r in mine):
            r = median_round(mine, name)
            if r and "hgrm" in r["result"]:
                dat = os.path.join(raw, f"plot-{len(panels)}-{name}.dat")
                if hgrm_points(r["result"]["hgrm"], dat):
                    series.append((name, dat))
        if series:
            panels.append((cell_title(cell) + f", {CLIENTS[0]} client", series))
    if not panels:
        return "no latency data to plot"
    script = [f"set terminal pngcairo size {700 * len(panels)},600 noenhanced", f"set output '{png}'",
              f"set multiplot layout 1,{len(panels)}", "set logscale x", "set logscale y", "set grid",
              "set xlabel 'percentile'", "set ylabel 'latency (ms)'", "set key outside below maxrows 3 font ',9'",
              "set xtics ('0%%' 1, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)"]
    for title, series in panels:
        script.append(f"set title '{title}'")
        script.append("plot " + ", ".join(f"'{d}' using 1:2 with lines lw 2 lc rgb '{COLORS[i % len(COLORS)]}' "
                                          f"dt {1 if n.startswith('cport') else 2} "
                                          f"title '{n}'" for i, (n, d) in enumerate(series)))
    script.append("unset multiplot")
    p = subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, capture_output=True, timeout=60)
    return None if p.returncode == 0 else "gnuplot failed: " + p.stderr.strip()[-300:]


def plot_picks(cells):
    """The closed-loop 100 x 64 B cell and the middle of the rate sweep (QUICK has no
    sweep: the 1000-connection cell instead)."""
    have = [c["cell"] for c in cells]
    rated = [c for c in have if c.get("rate")]
    second = rated[len(rated) // 2] if rated else tcp(1000, 64)
    return [c for c in (tcp(100, 64), second) if c in have]


def top_cell(summs):
    """The fastest server and cell by median msgs/s, epoll client."""
    best = None
    for s in summs:
        if s["client"] != CLIENTS[0]:
            continue
        for name, v in s["servers"].items():
            if v["rounds_ok"] and (best is None or v["median"]["msgs"] > best[2]["median"]["msgs"]):
                best = (s["cell"], name, v)
    return best


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return "?"


def machine():
    return f"{os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}"


def markdown(summs, cells, plan, quick, stamp, png_note, loads):
    rounds = plan["repeats"]
    lines = [f"# cport echo benchmark, {stamp}{' (QUICK)' if quick else ''}", "",
             f"Machine: {machine()}, load average {load_text(loads[0])} at the start, "
             f"{load_text(loads[1])} at the end.", "",
             f"Each server is pinned to CPU {SERVER_CPU} with taskset and the client (cport-bench, one thread, "
             f"every byte verified) to CPU {CLIENT_CPU}. `cport-default` is cport-echo with no performance flags: "
             f"its default thread count (2 x the CPUs it may run on: 2, on CPU {SERVER_CPU}), and it "
             "serves TCP and UDP on one port. The `cport-BACKEND-MODEL` variants run one thread and serve the "
             "cell's protocol only.", "",
             f"Every cell is measured with the client on its epoll backend (the neutral client: it favours "
             f"neither an io_uring nor an epoll server; the headline figures) and then on io_uring. For each "
             f"cell and client the servers run in {rounds} interleaved rounds (A B C ..., then A B C ... again), a "
             f"fresh server process per run, {plan['warmup']} s warmup then {plan['duration']} s measured. Every "
             f"figure is the median over the rounds; ratios are of medians to the baseline in the same cell and "
             f"client: `{BASELINES['tcp']}` for TCP, `{BASELINES['udp']}` for UDP (for msgs/s higher is better, "
             "for the others lower is better). After the CPU per message ratio: the median of the per-round "
             "ratios (\"paired\": each round's CPU/msg against the baseline's in the same round, which stays "
             "like with like when the host changes speed between rounds) and in brackets their lowest and "
             "highest, the noise to read the ratios against. Server CPU per message is its utime+stime (/proc/PID/stat, "
             "all threads) over the window divided by messages echoed; RSS is VmRSS at the end of the window. "
             "Open-loop latency is measured from each message's intended send time. UDP loss is the median "
             "share of datagrams not echoed within 0.25 s; the errors column sums every counter over the "
             "rounds (UDP's lost, duplicate, reordered and late are measured, not failures).", ""]
    for client in CLIENTS:
        h = headline(summs, client)
        if h:
            lines += [f"**Server CPU per message vs the baseline, {client} client** "
                      f"({'the headline' if client == CLIENTS[0] else 'for comparison'}; lower is better):", ""]
            lines += h + [""]
    top = top_cell(summs)
    if top:
        cell, name, v = top
        m = v["median"]
        lines += [f"Top cell ({CLIENTS[0]} client): `{name}`, {cell_title(cell)}: {m['msgs']:.0f} msgs/s; the "
                  f"client used {num(m['client_cpu'] and m['client_cpu'] * 100, '{:.0f}')}% of one CPU, the "
                  f"server {num(m['server_cpu'] and m['server_cpu'] * 100, '{:.0f}')}% of one CPU.", ""]
    lines += [f"Plot: {png_note}" if png_note else f"![latency by percentile]({stamp}.png)", ""]
    for c in cells:
        lines += [f"## {cell_title(c['cell'])}", "",
                  f"Load average {load_text(c['load_start'])} at the start of the cell, "
                  f"{load_text(c['load_end'])} at the end.", ""]
        for client in CLIENTS:
            s = next((s for s in summs if s["cell"] == c["cell"] and s["client"] == client), None)
            if s:
                note = " (neutral client, headline)" if client == CLIENTS[0] else ""
                lines += [f"### client on {client}{note}", ""] + table(s) + [""]
    return "\n".join(lines)


def failures(runs):
    """Runs that failed, and runs that echoed nothing in their window (in the medians as 0 msgs/s)."""
    out = []
    for r in runs:
        res = r["result"]
        why = res["error"] if "error" in res else "echoed nothing in the window" if not res.get("messages") else None
        if why:
            out.append(f"- {r['server']}, {cell_title(r['cell'])}, {r['client']} client, round {r['round']}: {why}")
    return out


def parse_cells(spec):
    """'100x64,udp1x64,100x64@50000' -> cells."""
    out = []
    for part in filter(None, spec.split(",")):
        proto = "udp" if part.startswith("udp") else "tcp"
        body, _, rate = part.removeprefix("udp").partition("@")
        c, _, s = body.partition("x")
        out.append(udp(int(c), int(s)) if proto == "udp" else tcp(int(c), int(s), int(rate) if rate else None))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the reduced matrix, for development")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--only", default="", help="comma-separated server names (keep the baseline in)")
    ap.add_argument("--cells", default="", help="comma-separated cells instead of the plan's: 100x64, "
                                                "100x64@50000 (open loop), udp100x64")
    ap.add_argument("--repeats", type=int, help="rounds per cell and client (default 3)")
    ap.add_argument("--duration", type=float, help="measured seconds per run")
    a = ap.parse_args()
    plan = dict(QUICK if a.quick else FULL)
    if a.cells:
        plan["cells"] = parse_cells(a.cells)
    if a.repeats:
        plan["repeats"] = a.repeats
    if a.duration:
        plan["duration"] = a.duration
    build = os.path.abspath(a.build)
    stamp = time.strftime("%Y-%m-%d-%H%M") + ("-quick" if a.quick else "")
    raw = os.path.join(a.out, stamp + "-raw")
    os.makedirs(raw, exist_ok=True)
    names = set(filter(None, a.only.split(",")))
    t0 = time.monotonic()

    def say(msg, stamp=False):
        print((f"[{time.monotonic() - t0:6.1f}s] " if stamp else "") + msg, flush=True)

    nruns = est = 0
    for cell in plan["cells"]:
        n = len(cell_servers(build, plan, cell, names)) * plan["repeats"] * len(CLIENTS)
        nruns += n
        est += n * run_seconds(cell, plan)
    load0 = os.getloadavg()
    say(f"{len(plan['cells'])} cells x {len(CLIENTS)} clients x {plan['repeats']} rounds: {nruns} runs, "
        f"estimated {est / 60:.1f} min; load average {load_text(load0)}")
    runs, cells = measure(build, plan, names, raw, say)
    summs = summaries(runs, cells)
    load1 = os.getloadavg()
    png = os.path.join(a.out, stamp + ".png")
    note = plot(runs, plot_picks(cells), png, raw)
    with open(os.path.join(a.out, stamp + ".json"), "w") as f:
        head = {"stamp": stamp, "quick": a.quick, "machine": machine(), "load_start": list(load0),
                "load_end": list(load1), "plan": plan, "clients": list(CLIENTS), "baselines": BASELINES,
                "cells": cells, "summary": summs}
        f.write(json.dumps(head)[:-1] + ', "runs": [\n' + ",\n".join(json.dumps(r) for r in runs) + "\n]}\n")
    md = markdown(summs, cells, plan, a.quick, stamp, note, (load0, load1))
    failed = failures(runs)
    if failed:
        md += "\n## Runs that failed or echoed nothing\n\n" + "\n".join(failed) + "\n"
    with open(os.path.join(a.out, stamp + ".md"), "w") as f:
        f.write(md + "\n")
    say(f"wrote {os.path.relpath(os.path.join(a.out, stamp + '.md'), ROOT)} (+ .json, .png) "
        f"in {time.monotonic() - t0:.0f} s (estimated {est:.0f} s)")
    # A server that echoed wrong bytes fails the target; slow or stuck runs are in the table.
    wrong = [r for r in runs if r["result"].get("exit_status") == 1]
    for r in wrong:
        print(f"MISMATCH: {r['server']}, {cell_title(r['cell'])}, {r['client']} client, round {r['round']}: "
              f"{r['result']['errors']}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())

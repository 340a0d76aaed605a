"""A real haproxy in front of three cport-echo hosts, each in a network
namespace of its own, with send-proxy-v2 and TCP health checks every 50 ms:
300 clients verified byte for byte; the hosts see the real client address;
one host killed mid-run: its clients see a reset or close, new clients go to
the others, no other client loses a byte. docs/deploy.md shows the same.

Topology (all namespaces made here, deleted at the end; 10.77.0.0/16 lives
only inside them):

  client ns 10.77.9.2 --veth-- 10.77.9.1:7007 lb ns (haproxy)
                                  10.77.N.1 --veth-- 10.77.N.2 host N ns (cport-echo), N = 0, 1, 2
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from echoserver import BUILD, IO_TIMEOUT, REPO, SLOW, Server, start_args

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
BENCH = os.path.join(REPO, BUILD, "cport-bench") if not os.path.isabs(BUILD) else os.path.join(BUILD, "cport-bench")
CLIENTS_PY = os.path.join(os.path.dirname(__file__), "netns_clients.py")
NHOSTS = 3
FRONT = ("10.77.9.1", 7007)  # a fixed port is safe: the namespace is this test's own
CLIENT_ADDR = "10.77.9.2"
CLIENTS = 300
STATE_TIMEOUT = 20 * SLOW  # haproxy seeing servers up or down (checks every 50 ms)

HAPROXY_CFG = """\
global
    maxconn 4000
    nbthread 1
    stats socket {sock} mode 600 level admin

defaults
    mode tcp
    retries 3
    option redispatch
    timeout connect 2s
    timeout client 60s
    timeout server 60s

frontend echo
    bind {front}
    default_backend hosts

backend hosts
    balance roundrobin
{servers}
"""
SERVER_LINE = "    server h{i} 10.77.{i}.2:{port} send-proxy-v2 check inter 50 fall 2 rise 2\n"


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=IO_TIMEOUT)


class Net:
    """The namespaces and veth pairs; delete() undoes whatever was made."""

    def __init__(self):
        tag = f"cpx{os.getpid() % 100000}"
        self.lb, self.client = f"{tag}lb", f"{tag}cl"
        self.hosts = [f"{tag}h{i}" for i in range(NHOSTS)]
        self.made = []

    def add_ns(self, ns):
        ip("netns", "add", ns)
        self.made.append(ns)
        ip("-n", ns, "link", "set", "lo", "up")

    def link(self, ns_a, addr_a, ns_b, addr_b, name):
        """A veth pair between two namespaces, a /24 address on each end."""
        ip("link", "add", name + "a", "netns", ns_a, "type", "veth", "peer", "name", name + "b", "netns", ns_b)
        for ns, end, addr in ((ns_a, "a", addr_a), (ns_b, "b", addr_b)):
            ip("-n", ns, "addr", "add", addr + "/24", "dev", name + end)
            ip("-n", ns, "link", "set", name + end, "up")

    def build(self):
        for ns in [self.lb, self.client] + self.hosts:
            self.add_ns(ns)
        self.link(self.client, CLIENT_ADDR, self.lb, FRONT[0], "cpxc")
        for i, ns in enumerate(self.hosts):
            self.link(self.lb, f"10.77.{i}.1", ns, f"10.77.{i}.2", f"cpx{i}")

    def delete(self):
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=IO_TIMEOUT)


def in_ns(ns):
    return ("ip", "netns", "exec", ns)


@pytest.fixture
def net():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CAP_NET_ADMIN)")
    if not os.path.exists(HAPROXY):
        pytest.skip("haproxy is not installed (scripts/deps.sh test installs it)")
    n = Net()
    try:
        n.build()
    except (subprocess.CalledProcessError, OSError) as e:
        n.delete()
        err = getattr(e, "stderr", b"") or b""
        pytest.skip(f"cannot make network namespaces here: {e} {err.decode(errors='replace').strip()}")
    yield n
    n.delete()


class Haproxy:
    def __init__(self, ns, ports, tmp):
        self.sock = os.path.join(tmp, "haproxy.sock")
        cfg = os.path.join(tmp, "haproxy.cfg")
        servers = "".join(SERVER_LINE.format(i=i, port=p) for i, p in enumerate(ports))
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(sock=self.sock, front=f"{FRONT[0]}:{FRONT[1]}", servers=servers))
        self.proc = subprocess.Popen([*in_ns(ns), HAPROXY, "-db", "-f", cfg],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def states(self):
        """{'h0': srv_op_state, ...}: 2 running, 0 stopped. {} while the socket is not up."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(IO_TIMEOUT)
                s.connect(self.sock)
                s.sendall(b"show servers state hosts\n")
                text = b"".join(iter(lambda: s.recv(65536), b"")).decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            f = line.split()
            if len(f) > 5 and not line.startswith("#") and f[1] == "hosts":
                out[f[3]] = int(f[5])
        return out

    def wait_states(self, want):
        deadline = time.monotonic() + STATE_TIMEOUT
        while self.states() != want:
            assert self.proc.poll() is None, "haproxy exited: " + self.proc.stderr.read().decode()
            assert time.monotonic() < deadline, f"haproxy states {self.states()}, not {want}"
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(IO_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(IO_TIMEOUT)


def start_host(servers, backend, ns, i):
    """cport-echo on 10.77.i.2, port picked by the kernel; -v logs each client's real address."""
    srv = Server(start_args(backend, "--tcp-only", "--proxy-protocol", "-v", "--threads", "2", bind=False)
                 + ["--bind", f"10.77.{i}.2", "--port", "0"], prefix=in_ns(ns))
    servers.append(srv)
    return srv.wait_ready()


def bench(ns, conns, secs):
    """cport-bench through haproxy from the client namespace; 0 means every byte came back."""
    return subprocess.run([*in_ns(ns), BENCH, "--host", FRONT[0], "-p", str(FRONT[1]), "-c", str(conns),
                           "-d", str(secs), "--warmup", "0.5", "--timeout", str(10 * SLOW), "-s", "256"],
                          capture_output=True, text=True, timeout=120 * SLOW)


def served_ports(srv):
    """The client ports this host's log names: PROXY v2 from 10.77.9.2."""
    prefix = f" from {CLIENT_ADDR}:"
    return {int(line.split(prefix)[1].split()[0]) for line in srv.text().splitlines() if prefix in line}


def assert_quiet(srv):
    """Health checks never made a refused header, a warning or an odd error.
    haproxy 2.6's checks on a send-proxy-v2 server send a LOCAL header and
    then reset the connection; a plain TCP check would close before any byte
    (counted as proxy_closed_before_header). Either is counted, neither logged."""
    c = srv.counters()
    text = " ".join(f"{k}={v}" for k, v in c.items())
    assert c["proxy_headers_local"] + c["proxy_closed_before_header"] > 0, text  # the checks came
    assert c["errors_connection_reset"] <= c["proxy_headers_local"] + c["proxy_closed_before_header"], text
    bad = {k: v for k, v in c.items()
           if (k.startswith("proxy_errors") or k.startswith("errors_")) and k != "errors_connection_reset" and v}
    assert not bad, text
    noisy = [line for line in srv.text().splitlines() if "connection fd" in line and " via " not in line]
    assert not noisy, noisy[:5]
    return c


def test_haproxy_spreads_clients_over_three_hosts_and_survives_losing_one(net, servers, backend):
    if not os.path.exists(BENCH):
        pytest.fail(f"{BENCH} is not built")
    hosts = [start_host(servers, backend, ns, i) for i, ns in enumerate(net.hosts)]
    with tempfile.TemporaryDirectory() as tmp:
        hap = Haproxy(net.lb, [h.port for h in hosts], tmp)
        try:
            hap.wait_states({f"h{i}": 2 for i in range(NHOSTS)})
            run_all_verified(net, hosts)
            run_and_kill_one(net, hosts, hap, servers)
        finally:
            hap.stop()


def run_all_verified(net, hosts):
    out = bench(net.client, CLIENTS, 2)
    assert out.returncode == 0, out.stdout + out.stderr
    for h in hosts:
        c = assert_quiet(h)
        assert c["proxy_headers_proxied"] > 0, "haproxy sent this host nobody"
        h.wait_counters(lambda c: c["tcp_bytes_in"] == c["tcp_bytes_out"] > 0)  # sends counted as handled
        assert served_ports(h), "no log line names the real client:\n" + h.text()
        assert f"via 10.77.{hosts.index(h)}.1:" in h.text()  # and the balancer it came through
    assert sum(h.counters()["proxy_headers_proxied"] for h in hosts) >= CLIENTS


def run_and_kill_one(net, hosts, hap, servers):
    clients = subprocess.Popen([*in_ns(net.client), "/usr/bin/python3", CLIENTS_PY, FRONT[0], str(FRONT[1]),
                                str(CLIENTS), str(IO_TIMEOUT)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert clients.stdout.readline().strip() == f"connected {CLIENTS}"
        victim = hosts[1]
        victim.wait_counters(lambda c: c["tcp_bytes_out"] > 0)  # its clients are echoing
        victim.proc.send_signal(signal.SIGKILL)
        victim.kill()
        servers.remove(victim)  # killed on purpose: no clean exit to check
        hap.wait_states({"h0": 2, "h1": 0, "h2": 2})
        # New clients go to the others, every byte verified.
        before = [hosts[i].counters()["proxy_headers_proxied"] for i in (0, 2)]
        out = bench(net.client, 100, 1)
        assert out.returncode == 0, out.stdout + out.stderr
        after = [hosts[i].counters()["proxy_headers_proxied"] for i in (0, 2)]
        assert all(a > b for a, b in zip(after, before)), (before, after)
        clients.stdin.write("stop\n")
        clients.stdin.flush()
        recs = json.loads(clients.stdout.readline())
    finally:
        if clients.poll() is None:
            clients.kill()
        clients.wait(IO_TIMEOUT)
    check_clients(recs, served_ports(victim), hosts)


def check_clients(recs, on_victim, hosts):
    """Clients of the killed host saw a reset or a close; nobody else lost a byte."""
    assert all(r["port"] for r in recs), [r for r in recs if not r["port"]]
    victims = [r for r in recs if r["port"] in on_victim]
    others = [r for r in recs if r["port"] not in on_victim]
    assert victims and others
    for r in victims:
        assert r["error"] and r["error"] != "mismatch", r
    for r in others:
        assert r["error"] is None and r["bytes"] > 0, r
    for h in (hosts[0], hosts[2]):
        assert_quiet(h)

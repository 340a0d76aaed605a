"""A lossy, slow, reordering link between two network namespaces.

Two namespaces (server side, client side) joined by a point-to-point link
with addresses in a private /30 that exists only inside them. The link is
impaired in both directions as `tc qdisc add ... netem loss 5% delay 20ms
10ms reorder 25%` does:

- veth + tc netem, where the kernel has sch_netem;
- otherwise (a kernel built without CONFIG_NET_SCH_NETEM) a TUN device in
  each namespace and this file as a relay between them
  (`python3 netfault.py relay ...`), which applies the same loss, delay,
  jitter and reordering to every IP packet in user space.

Needs root and `ip netns`; Link.create() raises Unavailable with the reason
otherwise. Namespaces are named after our pid, deleted on close(), and any
left behind by a dead run are deleted first.
"""
import ctypes
import fcntl
import heapq
import os
import random
import re
import select
import shutil
import struct
import subprocess
import sys
import time

LOSS = 0.05
DELAY = 0.020
JITTER = 0.010
REORDER = 0.25  # sent at once, ahead of the delayed ones (netem's "reorder")
NETEM = ["loss", "5%", "delay", "20ms", "10ms", "reorder", "25%"]
PREFIX = "cpadv"
CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


class Unavailable(Exception):
    """Namespaces or an impaired link cannot be made here (the reason)."""


def run(*args, check=True):
    r = subprocess.run(list(args), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def remove_stale():
    """Delete namespaces of ours whose creating process is gone."""
    r = run("ip", "netns", "list", check=False)
    for line in r.stdout.splitlines():
        m = re.match(rf"({PREFIX}(\d+)[sc])\b", line)
        if m and not os.path.exists(f"/proc/{m.group(2)}"):
            run("ip", "netns", "del", m.group(1), check=False)


class Link:
    """Server namespace `ns_server` with address `server_ip`, client
    namespace `ns_client` with `client_ip`; `how` is "netem" or "userspace".
    wrap_server / wrap_client prefix a command to run it inside."""

    def __init__(self):
        tag = f"{PREFIX}{os.getpid()}"
        self.ns_server, self.ns_client = tag + "s", tag + "c"
        self.dev_server, self.dev_client = tag + "s", tag + "c"  # <= 15 characters
        third = random.randrange(0, 256)
        second = random.randrange(0, 256)
        self.net = f"10.{second}.{third}.0/30"
        self.server_ip, self.client_ip = f"10.{second}.{third}.1", f"10.{second}.{third}.2"
        self.how = None
        self.relay = None
        self.made = []

    @property
    def wrap_server(self):
        return ["ip", "netns", "exec", self.ns_server]

    @property
    def wrap_client(self):
        return ["ip", "netns", "exec", self.ns_client]

    def create(self):
        if os.geteuid() != 0:
            raise Unavailable("network namespaces need root")
        if not shutil.which("ip") or not shutil.which("tc"):
            raise Unavailable("iproute2 (ip, tc) is not installed")
        remove_stale()
        for ns in (self.ns_server, self.ns_client):
            r = run("ip", "netns", "add", ns, check=False)
            if r.returncode != 0:
                self.close()
                raise Unavailable(f"ip netns add: {r.stderr.strip()}")
            self.made.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        try:
            self._veth_netem()
            self.how = "netem"
        except Unavailable as netem_missing:
            self._tun_relay(str(netem_missing))
            self.how = "userspace"
        return self

    def _addresses(self, dev_server, dev_client, peer):
        for ns, dev, ip, other in ((self.ns_server, dev_server, self.server_ip, self.client_ip),
                                   (self.ns_client, dev_client, self.client_ip, self.server_ip)):
            if peer:
                run("ip", "-n", ns, "addr", "add", f"{ip}/32", "peer", f"{other}/32", "dev", dev)
            else:
                run("ip", "-n", ns, "addr", "add", f"{ip}/30", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")

    def _veth_netem(self):
        run("ip", "link", "add", self.dev_server, "type", "veth", "peer", "name", self.dev_client)
        run("ip", "link", "set", self.dev_server, "netns", self.ns_server)
        run("ip", "link", "set", self.dev_client, "netns", self.ns_client)
        self._addresses(self.dev_server, self.dev_client, peer=False)
        for ns, dev in ((self.ns_server, self.dev_server), (self.ns_client, self.dev_client)):
            r = run("tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "netem", *NETEM, check=False)
            if r.returncode != 0:
                # Take the veth away (with its namespaces' devices) and say why.
                run("ip", "-n", self.ns_server, "link", "del", self.dev_server, check=False)
                raise Unavailable(f"tc netem: {r.stderr.strip() or r.returncode}")

    def _tun_relay(self, why_not_netem):
        if not os.path.exists("/dev/net/tun"):
            raise Unavailable(f"no tc netem ({why_not_netem}) and no /dev/net/tun for the user-space link")
        self.relay = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "relay", self.ns_server, self.dev_server, self.ns_client,
             self.dev_client],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.relay.stdout.readline()  # "ready": both devices exist
        if line.strip() != b"ready":
            err = self.relay.stderr.read().decode(errors="replace")
            raise Unavailable(f"no tc netem ({why_not_netem}); user-space link failed: {err.strip()}")
        self._addresses(self.dev_server, self.dev_client, peer=True)

    def retransmits(self, ns):
        """TCP segments retransmitted so far in namespace ns (its own SNMP
        counters): proof that the link did lose packets."""
        out = run("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").stdout.splitlines()
        tcp = [line.split()[1:] for line in out if line.startswith("Tcp:")]
        return int(dict(zip(tcp[0], tcp[1]))["RetransSegs"])

    def close(self):
        if self.relay is not None:
            self.relay.kill()
            self.relay.wait(10)
            self.relay = None
        for ns in self.made:
            run("ip", "netns", "del", ns, check=False)
        self.made = []


# ---- the user-space link ----------------------------------------------------


def open_tun_in(ns, name):
    """A TUN device named name, created inside namespace ns (we enter it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    nsfd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(nsfd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
    finally:
        os.close(nsfd)
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def relay(ns_a, dev_a, ns_b, dev_b):
    """Move IP packets between the two TUN devices, each direction dropping
    LOSS of them, delaying the rest DELAY +- JITTER (uniform), except REORDER
    of them, which go at once. Runs until killed or stdin closes."""
    rng = random.Random()
    fa = open_tun_in(ns_a, dev_a)
    fb = open_tun_in(ns_b, dev_b)
    other = {fa: fb, fb: fa}
    ep = select.epoll()
    ep.register(fa, select.EPOLLIN)
    ep.register(fb, select.EPOLLIN)
    ep.register(0, select.EPOLLIN)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    queue = []  # (due, seq, fd, packet)
    seq = 0
    while True:
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else 1.0
        for fd, _ in ep.poll(timeout):
            if fd == 0:
                if not os.read(0, 4096):
                    return
                continue
            for _ in range(64):
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                if rng.random() < LOSS:
                    continue
                delay = 0.0 if rng.random() < REORDER else DELAY + rng.uniform(-JITTER, JITTER)
                seq += 1
                heapq.heappush(queue, (time.monotonic() + delay, seq, other[fd], pkt))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(queue)
            try:
                os.write(fd, pkt)
            except OSError:
                pass  # a device not up yet, or a full queue: lost, like on a wire


if __name__ == "__main__" and sys.argv[1] == "relay":
    relay(*sys.argv[2:6])

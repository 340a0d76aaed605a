"""Network faults: the server in one network namespace, clients in another,
the link between them losing 5% of packets each way, delaying them 20 ms
+- 10 ms and reordering a quarter of them (tc netem, or the same done in
user space where the kernel has no netem). A hundred clients each echo
1 MiB through it, every byte verified in order."""
import pytest

from . import netfault
from .advserver import ClientProcess, SLOW, Server, scaled

CLIENTS = 100
SIZE = 1 << 20
RSS_SLACK_KB = 2048


@pytest.fixture
def link():
    ln = netfault.Link()
    try:
        ln.create()
    except netfault.Unavailable as e:
        pytest.skip(f"network-fault case needs namespaces and an impaired link: {e}")
    try:
        yield ln
    finally:
        ln.close()


def test_clients_behind_a_lossy_reordering_link_get_every_byte(backend, link):
    srv = Server(backend, bind=link.server_ip, wrap=link.wrap_server)
    try:
        base = srv.baseline()
        n = scaled(CLIENTS, 20)
        timeout = 240 * SLOW
        cp = ClientProcess("batch", {"addr": [link.server_ip, srv.addr[1]], "count": n, "exact_size": SIZE,
                                     "concurrency": n, "timeout": timeout, "spread": False, "seed": 7},
                           wrap=link.wrap_client)
        result = cp.read(timeout + 30)["result"]
        cp.wait(30)
        assert result["failed"] == 0, result["failures"][:5]
        assert result["done"] == n and result["bytes"] == n * SIZE
        srv.assert_alive()
        c = srv.counters()
        rs, rc = link.retransmits(link.ns_server), link.retransmits(link.ns_client)
        print(f"\n[{backend}] {n} x {SIZE >> 20} MiB through a {link.how} link (loss 5%, delay 20 ms +- 10 ms, "
              f"reorder 25%): all verified; server counted {c['tcp_bytes_in']} B in, {c['tcp_bytes_out']} B out; "
              f"TCP retransmissions: server side {rs}, client side {rc}")
        assert c["tcp_bytes_in"] == c["tcp_bytes_out"] == n * SIZE
        assert rs > 0 and rc > 0, "the link lost nothing: the case tested nothing"
        srv.settle(base, RSS_SLACK_KB, "network faults")
    finally:
        srv.stop()

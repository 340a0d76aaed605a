#!/usr/bin/env python3
"""faulty_echo.py - an echo server that can be told to get one thing wrong.

usage: faulty_echo.py [--host H] [--port N] [--fault none|flip|swap|drop|cross|close|stall]
                      [--at OFFSET] [--stall-ms MS] [--udp [--drop-every N]]
Each TCP fault hits every connection once, at byte OFFSET of its stream:
flip changes that byte, swap exchanges it with the next, drop leaves it out,
close ends the connection there, stall holds the echo back for MS
milliseconds there (correct, only late); cross sends each connection's data to the
connection accepted next to it instead of back. With --udp every Nth datagram
is dropped. The first line on stderr names the address: 'listening on H:P'.
"""
import argparse
import asyncio
import sys


class Echo(asyncio.Protocol):
    pairs = []  # cross: connections waiting for a partner

    def __init__(self, fault, at, stall_ms):
        self.fault, self.at, self.stall_ms = fault, at, stall_ms
        self.base = 0  # stream offset of self.held[0]
        self.held = bytearray()
        self.done = fault == "none"
        self.partner = None
        self.early = bytearray()

    def connection_made(self, transport):
        self.t = transport
        if self.fault == "cross":
            if Echo.pairs:
                other = Echo.pairs.pop()
                self.partner, other.partner = other, self
                other.flush_early()
                self.flush_early()
            else:
                Echo.pairs.append(self)

    def connection_lost(self, exc):
        if self in Echo.pairs:
            Echo.pairs.remove(self)
        if self.partner:
            self.partner.partner = None
            self.partner.t.close()

    def flush_early(self):
        if self.early:
            self.partner.t.write(bytes(self.early))
            self.early.clear()

    def data_received(self, data):
        if self.fault == "cross":
            if self.partner:
                self.partner.t.write(data)
            else:
                self.early += data
            return
        self.held += data
        end = self.base + len(self.held)
        if not self.done and end <= self.at + 1 and end > self.at and self.fault == "swap":
            return  # the byte to swap is the last we have: wait for its neighbour
        if not self.done and end > self.at and self.fault == "stall":
            self.done = True
            self.t.pause_reading()
            asyncio.get_running_loop().call_later(self.stall_ms / 1000, self.resume)
            return
        if not self.done and end > self.at:
            self.apply()
        self.t.write(bytes(self.held))
        self.base += len(self.held)
        self.held.clear()
        if self.fault == "close" and self.done:
            self.t.close()

    def resume(self):
        self.t.write(bytes(self.held))
        self.base += len(self.held)
        self.held.clear()
        self.t.resume_reading()

    def apply(self):
        i = self.at - self.base
        self.done = True
        if self.fault == "flip":
            self.held[i] ^= 0x01
        elif self.fault == "swap":
            self.held[i], self.held[i + 1] = self.held[i + 1], self.held[i]
        elif self.fault == "drop":
            del self.held[i]
            self.base += 1
        elif self.fault == "close":
            del self.held[i:]


class UdpEcho(asyncio.DatagramProtocol):
    def __init__(self, drop_every):
        self.drop_every, self.n = drop_every, 0

    def connection_made(self, transport):
        self.t = transport

    def datagram_received(self, data, addr):
        self.n += 1
        if self.drop_every and self.n % self.drop_every == 0:
            return
        self.t.sendto(data, addr)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fault", default="none", choices=["none", "flip", "swap", "drop", "cross", "close", "stall"])
    ap.add_argument("--stall-ms", type=int, default=300)
    ap.add_argument("--at", type=int, default=100)
    ap.add_argument("--udp", action="store_true")
    ap.add_argument("--drop-every", type=int, default=0)
    a = ap.parse_args()
    loop = asyncio.get_running_loop()
    if a.udp:
        t, _ = await loop.create_datagram_endpoint(lambda: UdpEcho(a.drop_every), local_addr=(a.host, a.port))
        port = t.get_extra_info("sockname")[1]
    else:
        srv = await loop.create_server(lambda: Echo(a.fault, a.at, a.stall_ms), a.host, a.port, backlog=1024)
        port = srv.sockets[0].getsockname()[1]
    host = f"[{a.host}]" if ":" in a.host else a.host
    print(f"faulty-echo: listening on {host}:{port}", file=sys.stderr, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass

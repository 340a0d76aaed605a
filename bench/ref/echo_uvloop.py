#!/usr/bin/env python3
"""echo_uvloop.py - reference echo server: asyncio protocol on the uvloop event loop.

usage: echo_uvloop.py [PORT [ADDR]]   (PORT 0 picks one; the ready line names it)
"""
import asyncio
import sys

import uvloop


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def pause_writing(self):  # the peer reads slower than it sends: stop reading
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5150
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    server = await asyncio.get_running_loop().create_server(Echo, host, port, backlog=4096)
    print(f"ref-uvloop: listening on {host}:{server.sockets[0].getsockname()[1]}", file=sys.stderr, flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main())

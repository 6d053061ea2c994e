"""A trivial, fast HTTP/1.1 endpoint on 127.0.0.1: every request gets the same small JSON answer.

Used where the server must not be the bottleneck: the "rate this machine cannot generate" test
and benchmarks/load_generator_capacity.py (Locust vs wrk). asyncio with a hand-written parser:
keep-alive, Content-Length bodies, pipelining-safe; GET /ping answers too.

Run: python tests/load/fast_server.py --port 8080 [--processes 1]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket

BODY = b'{"predictions":[[0.1,0.9]]}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


class Http(asyncio.Protocol):
    def connection_made(self, transport) -> None:
        self.t = transport
        self.buf = b""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        out = []
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = self.buf[:end]
            length = 0
            i = head.lower().find(b"content-length:")
            if i >= 0:
                j = head.find(b"\r\n", i)
                length = int(head[i + 15:j if j >= 0 else None].strip())
            total = end + 4 + length
            if len(self.buf) < total:
                break
            self.buf = self.buf[total:]
            out.append(RESPONSE)
        if out:
            self.t.write(b"".join(out))


async def serve(port: int, reuse: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "127.0.0.1", port, reuse_port=reuse, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--processes", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT)")
    args = ap.parse_args()
    for _ in range(args.processes - 1):
        if os.fork() == 0:
            break  # children serve too; the parent's process group holds them all
    print(f"fast server on 127.0.0.1:{args.port} (pid {os.getpid()})", flush=True)
    asyncio.run(serve(args.port, args.processes > 1))


if __name__ == "__main__":
    main()

"""Pod port-forward of the FAKE Kubernetes API server, over the websocket channel protocol.

Flow (what `kubernetes.stream.portforward` and kubectl's websocket mode speak):
GET .../pods/NAME/portforward?ports=P[,Q] upgrades to a websocket (subprotocol
v4.channel.k8s.io). Port number i owns channel 2i (data) and 2i+1 (error); every binary frame
starts with its channel byte. The server first sends, on each of the two channels, a frame
holding the port as 2 bytes little-endian. Then it connects to the TCP address registered for
that pod port (`FakeKubeStore.set_port_forward`) and copies bytes both ways. An unregistered or
refused port gets a message on its error channel, as the kubelet sends. When every target
connection has closed the websocket is closed (as the kubelet does); when the client closes the
websocket the target connections are closed.

kubectl asks for subprotocol "SPDY/3.1+portforward.k8s.io" instead (ports in stream headers,
not in the query): that websocket is served by kube_spdy.
"""
from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from tests.fakes import kube_errors as errors
from tests.fakes import kube_spdy
from tests.fakes.kube_store import FakeKubeStore

# v4 binary channels first; "portforward.k8s.io" is the SPDY-era name some clients still offer.
PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
_CHUNK = 64 * 1024


def _ports(request: web.Request) -> list[int]:
    ports: list[int] = []
    for raw in request.query.getall("ports", []) + request.query.getall("port", []):
        for part in raw.split(","):
            try:
                port = int(part)
            except ValueError:
                raise errors.bad_request(f"invalid port {part!r}") from None
            if not 0 < port < 65536:
                raise errors.bad_request(f"port {port} must be between 1 and 65535")
            ports.append(port)
    if not ports:
        raise errors.bad_request('query parameter "ports" is required')
    return ports


async def handle_portforward(request: web.Request, store: FakeKubeStore, namespace: str, pod: str,
                             streams) -> web.StreamResponse:
    """Serve one port-forward websocket (404 before the upgrade when the pod does not exist)."""
    pod_obj = store.get("pods", pod, namespace)
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    spdy = kube_spdy.PROTOCOL in offered
    ports = [] if spdy else _ports(request)
    async with streams.websocket(request, (kube_spdy.PROTOCOL,) if spdy else PROTOCOLS) as ws:
        if spdy:
            await kube_spdy.SpdyPortForward(ws, store, pod_obj).run()
        else:
            await _Session(ws, store, pod_obj, ports).run()
    return ws


class _Session:
    """One websocket carrying one TCP connection per requested port."""

    def __init__(self, ws: web.WebSocketResponse, store: FakeKubeStore, pod: dict, ports: list[int]) -> None:
        self.ws = ws
        self.store = store
        self.pod = pod
        self.ports = ports
        self.writers: dict[int, asyncio.StreamWriter] = {}

    async def run(self) -> None:
        for i, port in enumerate(self.ports):
            prefix = port.to_bytes(2, "little")
            await self.ws.send_bytes(bytes([2 * i]) + prefix)
            await self.ws.send_bytes(bytes([2 * i + 1]) + prefix)
        pumps = []
        for i, port in enumerate(self.ports):
            reader = await self._connect(i, port)
            if reader is not None:
                pumps.append(asyncio.create_task(self._pump(i, reader)))
        receiver = asyncio.create_task(self._receive())
        try:
            if pumps:
                targets_done = asyncio.ensure_future(asyncio.gather(*pumps, return_exceptions=True))
                await asyncio.wait({receiver, targets_done}, return_when=asyncio.FIRST_COMPLETED)
            await self.ws.close()
            await receiver
        finally:
            for task in pumps + [receiver]:
                task.cancel()
            for writer in self.writers.values():
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def _connect(self, index: int, port: int) -> asyncio.StreamReader | None:
        meta = self.pod["metadata"]
        where = f"error forwarding port {port} to pod {meta['namespace']}/{meta['name']}, uid {meta.get('uid')}"
        target = self.store.port_forward_target(meta["namespace"], meta["name"], port)
        if target is None:
            await self._error(index, f"{where}: failed to connect to localhost:{port} inside namespace: "
                                     "connection refused (FAKE API server: nothing registered with set_port_forward)")
            return None
        try:
            reader, writer = await asyncio.open_connection(*target)
        except OSError as e:
            await self._error(index, f"{where}: dial tcp {target[0]}:{target[1]}: {e}")
            return None
        self.writers[index] = writer
        return reader

    async def _error(self, index: int, message: str) -> None:
        await self.ws.send_bytes(bytes([2 * index + 1]) + message.encode())

    async def _pump(self, index: int, reader: asyncio.StreamReader) -> None:
        """Target -> client, until the target closes its side."""
        while data := await reader.read(_CHUNK):
            if self.store.port_forward_delay_s:  # a slow tunnel, simulated (FakeKubeStore.port_forward_delay_s)
                await asyncio.sleep(self.store.port_forward_delay_s)
            await self.ws.send_bytes(bytes([2 * index]) + data)

    async def _receive(self) -> None:
        """Client -> targets, until the client closes the websocket."""
        async for msg in self.ws:
            if msg.type == WSMsgType.BINARY:
                payload = msg.data
            elif msg.type == WSMsgType.TEXT:
                payload = msg.data.encode()
            else:
                continue
            if not payload:
                continue
            channel, data = payload[0], payload[1:]
            writer = self.writers.get(channel // 2)
            if channel % 2 == 0 and writer is not None and data:
                writer.write(data)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()

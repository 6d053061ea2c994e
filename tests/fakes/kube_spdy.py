"""SPDY/3.1 port-forward of the FAKE Kubernetes API server, as kubectl 1.31+ speaks it.

kubectl port-forward first asks for a websocket with subprotocol "SPDY/3.1+portforward.k8s.io":
the websocket's binary messages then carry a plain SPDY/3.1 byte stream (moby/spdystream
framing) in both directions. (Its fallback, a bare `Upgrade: SPDY/3.1` POST, is not served: the
tunnelled form is what kubectl tries first, and aiohttp has no raw-upgrade hook.)

Flow, per connection kubectl accepts locally: it opens an "error" stream and a "data" stream
(SYN_STREAM with headers streamtype/port/requestid), each answered by a SYN_REPLY -> once both
streams of a requestid are there, the fake connects to the TCP address registered for that pod
port (`FakeKubeStore.set_port_forward`) -> DATA frames are copied both ways -> when the target
closes, the data stream gets a FIN and the error stream a FIN (empty: no error); a failed connect
writes the kubelet's message on the error stream instead. PINGs (kubectl sends one every 10 s)
are echoed; a GOAWAY or a closed websocket ends everything.

Frames: control = 0x8003 | type(16) | flags(8) | length(24) | payload; data = stream id(31) |
flags(8) | length(24) | bytes. Header blocks are one zlib stream per direction, primed with the
SPDY/3 dictionary and sync-flushed after each block.
"""
from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from tests.fakes.kube_store import FakeKubeStore

PROTOCOL = "SPDY/3.1+portforward.k8s.io"

# Control frame types the fake acts on; SETTINGS (4) and WINDOW_UPDATE (9) are parsed and ignored
# (spdystream does no flow control).
SYN_STREAM, SYN_REPLY, RST_STREAM, PING, GOAWAY, HEADERS = 1, 2, 3, 6, 7, 8
FLAG_FIN = 0x01
_CANCEL = 5  # RST_STREAM status
_CHUNK = 32 * 1024


def _dictionary() -> bytes:
    """The SPDY/3 header-compression dictionary (draft 3, section 2.6.10.1; 1423 bytes)."""
    words = (
        "options head post put delete trace accept accept-charset accept-encoding accept-language "
        "accept-ranges age allow authorization cache-control connection content-base content-encoding "
        "content-language content-length content-location content-md5 content-range content-type date "
        "etag expect expires from host if-match if-modified-since if-none-match if-range "
        "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
        "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
        "user-agent vary via warning www-authenticate method get status"
    ).split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
        "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
        "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, "
        "Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,"
        "application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch"
        "charset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + tail.encode()


DICTIONARY = _dictionary()


@dataclass
class Frame:
    """One parsed frame: `kind` is a control type, or None for DATA."""

    kind: int | None
    flags: int
    stream_id: int = 0
    data: bytes = b""  # DATA payload
    headers: dict[str, str] = field(default_factory=dict)  # SYN_STREAM/SYN_REPLY/HEADERS
    value: int = 0  # PING id, RST_STREAM/GOAWAY status


class Framer:
    """SPDY/3 frame codec for one connection (it owns both zlib header contexts)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        """Bytes from the peer -> the complete frames they finish (a frame may span messages)."""
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            length = int.from_bytes(self._buffer[5:8], "big")
            if len(self._buffer) < 8 + length:
                break
            head, payload = self._buffer[:8], self._buffer[8:8 + length]
            self._buffer = self._buffer[8 + length:]
            frames.append(self._parse(head, payload))
        return frames

    def _parse(self, head: bytes, payload: bytes) -> Frame:
        flags = head[4]
        if not head[0] & 0x80:
            return Frame(None, flags, int.from_bytes(head[:4], "big") & 0x7FFFFFFF, data=payload)
        kind = int.from_bytes(head[2:4], "big")
        first = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF if len(payload) >= 4 else 0
        if kind == SYN_STREAM:
            return Frame(kind, flags, first, headers=self._headers(payload[10:]))
        if kind in (SYN_REPLY, HEADERS):
            return Frame(kind, flags, first, headers=self._headers(payload[4:]))
        if kind in (RST_STREAM, GOAWAY):
            return Frame(kind, flags, first, value=int.from_bytes(payload[4:8], "big"))
        if kind == PING:
            return Frame(kind, flags, value=int.from_bytes(payload[:4], "big"))
        return Frame(kind, flags, first)

    def _headers(self, block: bytes) -> dict[str, str]:
        raw = self._inflate.decompress(block)
        count, at = struct.unpack_from(">I", raw)[0], 4
        headers = {}
        for _ in range(count):
            parts = []
            for _ in range(2):
                size = struct.unpack_from(">I", raw, at)[0]
                parts.append(raw[at + 4:at + 4 + size].decode())
                at += 4 + size
            headers[parts[0]] = parts[1]
        return headers

    @staticmethod
    def _control(kind: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8003, kind, flags << 24 | len(payload)) + payload

    def syn_reply(self, stream_id: int) -> bytes:
        block = self._deflate.compress(struct.pack(">I", 0)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        return self._control(SYN_REPLY, 0, struct.pack(">I", stream_id) + block)

    def ping(self, ping_id: int) -> bytes:
        return self._control(PING, 0, struct.pack(">I", ping_id))

    def rst_stream(self, stream_id: int, status: int = _CANCEL) -> bytes:
        return self._control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    @staticmethod
    def data(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
        return struct.pack(">II", stream_id, (FLAG_FIN if fin else 0) << 24 | len(data)) + data


@dataclass
class _Pair:
    """The error and data streams kubectl opens for one local connection (one requestid)."""

    port: int
    error_id: int | None = None
    data_id: int | None = None
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task | None = None


class SpdyPortForward:
    """One port-forward websocket speaking tunnelled SPDY/3.1."""

    def __init__(self, ws: web.WebSocketResponse, store: FakeKubeStore, pod: dict) -> None:
        self.ws = ws
        self.store = store
        self.pod = pod
        self.framer = Framer()
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, _Pair] = {}

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                for frame in self.framer.feed(msg.data):
                    if not await self._on_frame(frame):
                        return
        finally:
            for pair in self.pairs.values():
                if pair.task is not None:
                    pair.task.cancel()
                if pair.writer is not None:
                    pair.writer.close()

    async def _on_frame(self, frame: Frame) -> bool:
        """Handle one frame; False ends the session (GOAWAY)."""
        if frame.kind == SYN_STREAM:
            await self._open(frame)
        elif frame.kind is None:
            await self._data(frame)
        elif frame.kind == RST_STREAM:
            pair = self.by_stream.get(frame.stream_id)
            if pair is not None and pair.writer is not None and frame.stream_id == pair.data_id:
                pair.writer.close()  # kubectl is done with this connection
        elif frame.kind == PING:
            await self.ws.send_bytes(self.framer.ping(frame.value))
        elif frame.kind == GOAWAY:
            return False
        return True

    async def _open(self, frame: Frame) -> None:
        kind, request_id = frame.headers.get("streamtype"), frame.headers.get("requestid", "")
        try:
            port = int(frame.headers.get("port", ""))
        except ValueError:
            await self.ws.send_bytes(self.framer.rst_stream(frame.stream_id, 1))  # PROTOCOL_ERROR
            return
        await self.ws.send_bytes(self.framer.syn_reply(frame.stream_id))
        pair = self.pairs.setdefault(request_id, _Pair(port))
        if kind == "error":
            pair.error_id = frame.stream_id
        elif kind == "data":
            pair.data_id = frame.stream_id
        self.by_stream[frame.stream_id] = pair
        if pair.error_id is not None and pair.data_id is not None and pair.task is None:
            # Connect before reading further frames, so no DATA arrives before there is a target.
            reader, error = await self._connect(pair)
            pair.task = asyncio.create_task(self._forward(pair, reader, error))

    async def _data(self, frame: Frame) -> None:
        pair = self.by_stream.get(frame.stream_id)
        if pair is None or frame.stream_id != pair.data_id or pair.writer is None:
            return  # the error stream's FIN, or data for a stream already gone
        with contextlib.suppress(ConnectionError, RuntimeError):
            if frame.data:
                pair.writer.write(frame.data)
                await pair.writer.drain()
            if frame.flags & FLAG_FIN and pair.writer.can_write_eof():
                pair.writer.write_eof()  # kubectl's local client half-closed

    async def _connect(self, pair: _Pair) -> tuple[asyncio.StreamReader | None, str]:
        """Open the target connection: (reader, "") or (None, the kubelet's error message)."""
        meta = self.pod["metadata"]
        where = f"error forwarding port {pair.port} to pod {meta['namespace']}/{meta['name']}, uid {meta.get('uid')}"
        target = self.store.port_forward_target(meta["namespace"], meta["name"], pair.port)
        if target is None:
            return None, (f"{where}: failed to connect to localhost:{pair.port} inside namespace: connection "
                          "refused (FAKE API server: nothing registered with set_port_forward)")
        try:
            reader, pair.writer = await asyncio.open_connection(*target)
        except OSError as e:
            return None, f"{where}: dial tcp {target[0]}:{target[1]}: {e}"
        return reader, ""

    async def _forward(self, pair: _Pair, reader: asyncio.StreamReader | None, error: str) -> None:
        """Copy target -> kubectl until the target closes, then end both streams."""
        assert pair.data_id is not None and pair.error_id is not None
        try:
            while reader is not None and (chunk := await reader.read(_CHUNK)):
                await self.ws.send_bytes(self.framer.data(pair.data_id, chunk))
            await self.ws.send_bytes(self.framer.data(pair.data_id, b"", fin=True))
            await self.ws.send_bytes(self.framer.data(pair.error_id, error.encode(), fin=True))
        except (ConnectionError, RuntimeError):
            pass  # the websocket is gone
        finally:
            if pair.writer is not None:
                pair.writer.close()

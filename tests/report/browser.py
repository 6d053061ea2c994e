"""A small headless-Chromium driver over the DevTools protocol, for the HTML report tests.

Flow: `Browser.start(tmp)` launches Debian's chromium headless in its own process group with
`--remote-debugging-port=0` and reads the DevTools websocket URL it prints; `open(url)` opens a
page, enables Runtime/Log/Page/Network, navigates and waits for the load event (by deadline);
console errors, uncaught exceptions and any request that leaves file:/data: are recorded;
`evaluate(js)` and `screenshot()` then inspect it. `close()` kills the whole process group.
Nothing here sleeps: every wait reads from a pipe or socket with a deadline.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import select
import signal
import struct
import subprocess
import time
import urllib.request
import zlib
from pathlib import Path

import websocket

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-port=0", "--remote-allow-origins=*"]


class Browser:
    def __init__(self, proc: subprocess.Popen, ws_url: str) -> None:
        self.proc = proc
        self.ws_url = ws_url
        self.port = int(ws_url.split(":")[2].split("/")[0])
        self.ws: websocket.WebSocket | None = None
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    @classmethod
    def start(cls, profile_dir: Path, timeout_s: float = 30.0) -> "Browser":
        proc = subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        buf = b""
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stderr], [], [], max(deadline - time.monotonic(), 0))
                if not ready:
                    break
                chunk = os.read(proc.stderr.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                for line in buf.decode(errors="replace").splitlines():
                    if line.startswith("DevTools listening on "):
                        return cls(proc, line.split(" on ", 1)[1].strip())
            raise RuntimeError(f"chromium printed no DevTools URL within {timeout_s:.0f} s: "
                               f"{buf.decode(errors='replace')[-2000:]}")
        except BaseException:
            _kill_group(proc)
            raise

    # -- protocol ------------------------------------------------------------------------------
    def _page_ws(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10) as r:
            targets = json.loads(r.read())
        page = next(t for t in targets if t.get("type") == "page")
        return page["webSocketDebuggerUrl"]

    def send(self, method: str, params: dict | None = None, timeout_s: float = 30.0) -> dict:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout_s
        while True:
            msg = self._recv(deadline, f"the answer to {method}")
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def _recv(self, deadline: float, what: str) -> dict:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"chromium: no {what} before the deadline")
        self.ws.settimeout(remaining)
        try:
            return json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException as exc:
            raise TimeoutError(f"chromium: no {what} before the deadline") from exc

    def wait_event(self, method: str, timeout_s: float = 30.0) -> dict:
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        deadline = time.monotonic() + timeout_s
        while True:
            msg = self._recv(deadline, f"{method} event")
            self.events.append(msg)
            if msg.get("method") == method:
                return msg

    # -- high level ----------------------------------------------------------------------------
    def open(self, url: str, width: int = 1400, height: int = 1000) -> None:
        self.ws = websocket.create_connection(self._page_ws(), timeout=30, suppress_origin=True)
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def console_errors(self) -> list[str]:
        out = []
        for ev in self.events:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:500])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def external_requests(self) -> list[str]:
        urls = [ev["params"]["request"]["url"] for ev in self.events
                if ev.get("method") == "Network.requestWillBeSent"]
        return [u for u in urls if not u.startswith(("file:", "data:", "about:"))]

    def screenshot(self) -> bytes:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, timeout_s=60)
        return base64.b64decode(data["data"])

    def close(self) -> None:
        try:
            if self.ws is not None:
                self.ws.close()
        finally:
            _kill_group(self.proc)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    if proc.stderr:
        proc.stderr.close()


# -- a tiny PNG reader (8-bit RGB/RGBA, non-interlaced: what Chromium writes) ----------------------
def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, raw pixel bytes) of a PNG screenshot."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return width, height, channels, bytes(out)


def region_stats(png: tuple[int, int, int, bytes], x: int, y: int, w: int, h: int) -> tuple[int, float]:
    """(distinct colours, fraction of non-white pixels) in a rectangle of a decoded PNG."""
    width, height, ch, px = png
    colours, ink, total = set(), 0, 0
    for yy in range(max(y, 0), min(y + h, height)):
        row = px[yy * width * ch:(yy + 1) * width * ch]
        for xx in range(max(x, 0), min(x + w, width)):
            p = row[xx * ch:xx * ch + 3]
            colours.add(p)
            total += 1
            if p != b"\xff\xff\xff":
                ink += 1
    return len(colours), (ink / total if total else 0.0)

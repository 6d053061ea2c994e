"""The load kept running through a rollout: `users` closed-loop clients in this process, each on a
keep-alive HTTP connection to the ServiceForward, POSTing the scenario's load bodies in turn.

Why not Locust here: its figures are aggregates per run; a rollout needs every answer with the pod
that served it (the ServiceForward knows it per connection, keyed by the client's local port).
Between two requests, a connection whose pod left the Service's endpoints is closed (the next
request opens one to a Ready pod; harness.rollout.forward says why). A connection the server closed while idle (a keep-alive connection to a pod that left) is reopened
and the request sent again, once, as any HTTP client does for a request not yet answered; a
request that was sent and then lost, a refused connection, a non-2xx answer or a timeout counts
as a failed request.

`per_request=True` (canary): a new connection per request, so the ServiceForward's revision split
(harness.rollout.forward, standing in for Knative's ingress) applies to every request; a keep-alive
connection pinned to one revision would make a 10 % step impossible with two users.
"""
from __future__ import annotations

import http.client
import threading
import time
from typing import Callable

from harness.rollout.model import RolloutRecord

Resolve = Callable[[str | None], str]  # pod -> side


class RolloutLoad:
    def __init__(self, port: int, path: str, bodies: list[bytes], *, users: int, timeout_s: float,
                 pod_of: Callable[[int], str | None], routable: Callable[[str | None], bool] = lambda pod: True,
                 headers: dict[str, str] | None = None, per_request: bool = False) -> None:
        self.routable = routable
        self.per_request = per_request
        self.port, self.path, self.bodies = port, path, bodies or [b"{}"]
        self.users, self.timeout_s, self.pod_of = users, timeout_s, pod_of
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.raw: list[tuple[float, str | None, bool, float, str | None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.started = 0.0

    def start(self) -> "RolloutLoad":
        self.started = time.monotonic()
        for i in range(self.users):
            t = threading.Thread(target=self._user, args=(i,), name=f"rollout load {i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def now(self) -> float:
        return time.monotonic() - self.started

    def answered(self) -> int:
        with self._lock:
            return len(self.raw)

    def _user(self, index: int) -> None:
        conn: http.client.HTTPConnection | None = None
        n = index
        while not self._stop.is_set():
            body = self.bodies[n % len(self.bodies)]
            n += 1
            t0 = time.monotonic()
            pod, ok, error = None, False, None
            if conn is not None and conn.sock is not None and not self.routable(self._pod(conn)):
                conn.close()  # its pod left the endpoints: the next request goes to a Ready one
                conn = None
            for attempt in (0, 1):
                fresh = conn is None
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_s)
                sent = False
                try:
                    conn.request("POST", self.path, body=body, headers=self.headers)
                    sent = True
                    resp = conn.getresponse()
                    data = resp.read()
                    pod = self.pod_of(conn.sock.getsockname()[1]) if conn.sock else None
                    ok = 200 <= resp.status < 300
                    error = None if ok else f"HTTP {resp.status}: {data[:120].decode(errors='replace')}"
                    if resp.getheader("connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                    stale = not fresh and (not sent or isinstance(exc, http.client.RemoteDisconnected))
                    try:
                        pod = self.pod_of(conn.sock.getsockname()[1]) if conn.sock else pod
                    except OSError:
                        pass
                    conn.close()
                    conn = None
                    error = f"{type(exc).__name__}: {exc}"
                    if stale and attempt == 0:
                        continue  # an idle keep-alive connection the server closed: once more, fresh
                    break
                except (OSError, http.client.HTTPException) as exc:
                    if conn.sock is not None:
                        try:
                            pod = self.pod_of(conn.sock.getsockname()[1]) or pod
                        except OSError:
                            pass
                    conn.close()
                    conn = None
                    error = f"{type(exc).__name__}: {exc}"
                    break
            if self.per_request and conn is not None:
                conn.close()  # the next request picks its revision afresh
                conn = None
            latency = (time.monotonic() - t0) * 1000.0
            if self._stop.is_set() and not ok:
                break  # stopped mid-request: not the server's failure
            with self._lock:
                self.raw.append((time.monotonic() - self.started, pod, ok, latency, error))
        if conn is not None:
            conn.close()

    def _pod(self, conn: http.client.HTTPConnection) -> str | None:
        try:
            return self.pod_of(conn.sock.getsockname()[1])
        except OSError:
            return None

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.timeout_s + 5)

    def records(self, side_of: Resolve) -> list[RolloutRecord]:
        with self._lock:
            raw = list(self.raw)
        return [RolloutRecord(t=round(t, 4), side=side_of(pod), pod=pod, ok=ok, latency_ms=round(lat, 3), error=err)
                for t, pod, ok, lat, err in raw]

"""A FAKE Kubernetes API server for tests: real REST protocol, in-memory store, one thread.

No kube-apiserver, kind or Docker can run where CI runs, so the harness's Kubernetes code is
exercised against this emulator. It speaks the protocol the official `kubernetes` Python
client uses (JSON objects and `kind: Status` errors, chunked watch streams, pod logs,
websocket port-forward) and what the real `kubectl` needs beside it (short names, OpenAPI v3
with strict field validation, Tables for pods, SPDY-over-websocket port-forward) over plain
HTTP on 127.0.0.1, with no authentication.

Flow: `FakeKubeApiServer()` owns a `FakeKubeStore` -> `start()` binds 127.0.0.1 on a free port
and runs an aiohttp app on its own event loop in a daemon thread -> clients connect through
`write_kubeconfig()` / `api_client()` -> a fake controller drives state through `server.store`
(changes show up in HTTP watches) -> `stop()` ends open streams and the thread.

Example:
    with FakeKubeApiServer() as kube:
        kube.write_kubeconfig(tmp_path / "kubeconfig")
        api = kubernetes.client.CoreV1Api(kube.api_client())
"""
from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import yaml
from aiohttp import web

from tests.fakes.kube_http import FakeKubeHttpApi
from tests.fakes.kube_store import Address, FakeKubeStore

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


class FakeKubeApiServer:
    """The FAKE Kubernetes API server, started and stopped from Python (also a context manager).

    Args:
        store: the object store to serve; a fresh one (with default namespaces) if None.
        host: address to bind; only loopback makes sense for a fake without auth.
        port: TCP port; 0 lets the OS pick a free one.
    """

    def __init__(self, store: FakeKubeStore | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store or FakeKubeStore()
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._http: FakeKubeHttpApi | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:43121` (only valid once started)."""
        if self.port is None:
            raise RuntimeError("FakeKubeApiServer is not started")
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "FakeKubeApiServer":
        """Bind and serve in a background thread; returns once requests are accepted.

        Raises:
            RuntimeError: already started, or the server failed to start in time.
            OSError: the port could not be bound.
        """
        if self._thread is not None:
            raise RuntimeError("FakeKubeApiServer already started")
        # Bind here, in the caller's thread, so a busy port fails loudly and the port is known.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="fake-kube-apiserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise RuntimeError(f"FakeKubeApiServer did not start within {_START_TIMEOUT_S}s on {self.url}")
        if self._start_error is not None:
            self._thread.join(_STOP_TIMEOUT_S)
            self._thread = None
            raise RuntimeError(f"FakeKubeApiServer failed to start on {self.url}") from self._start_error
        return self

    def stop(self) -> None:
        """End open watches/port-forwards, close the socket and join the thread (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                future.result(_STOP_TIMEOUT_S)
            finally:
                loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_TIMEOUT_S)
        self._thread = None
        self._loop = None

    def __enter__(self) -> "FakeKubeApiServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._startup(sock))
        except BaseException as e:  # reported to start() in the caller's thread
            self._start_error = e
            sock.close()
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self, sock: socket.socket) -> None:
        self._http = FakeKubeHttpApi(self.store, (self.host, self.port or 0))
        self._runner = web.AppRunner(self._http.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _shutdown(self) -> None:
        if self._http is not None:
            await self._http.streams.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    # --------------------------------------------------------------- clients

    def write_kubeconfig(self, path: str | Path, *, context: str = "fake-kube",
                         namespace: str = "default") -> Path:
        """Write a kubeconfig pointing at this server (no auth) and return its path.

        Use it as `kubernetes.config.new_client_from_config(config_file=path)`.
        """
        path = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context,
                                                        "namespace": namespace}}],
            "current-context": context,
            "preferences": {},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def api_client(self):
        """A `kubernetes.client.ApiClient` configured for this server (caller closes it)."""
        import kubernetes.client  # local: keep this module importable without the client

        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        return kubernetes.client.ApiClient(configuration)

    def set_port_forward(self, namespace: str, pod: str, port: int, address: Address) -> None:
        """Answer port-forwards to `pod`:`port` by connecting to `address` (host, port)."""
        self.store.set_port_forward(namespace, pod, port, address)

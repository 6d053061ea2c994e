"""`kubectl port-forward POD LOCAL:REMOTE`, in Python.

Flow: `PortForward(api_client, namespace, pod, 8080).start()` listens on 127.0.0.1:<free port>;
each accepted connection opens its own port-forward WebSocket to the pod
(`kubernetes.stream.portforward`) and two threads copy bytes both ways until either side closes.
`stop()` closes the listener and every open connection, then joins the threads.

Why a private ApiClient: `kubernetes.stream.portforward` swaps `api_client.call_api` for the
duration of the call, which would turn a concurrent ordinary request on the same client (the
readiness watcher, diagnostics) into a WebSocket request. The forwarder therefore builds its
own ApiClient from the same Configuration and opens streams one at a time under a lock.
"""
from __future__ import annotations

import logging
import select
import socket
import threading
import time
from typing import Any

from kubernetes import client
from kubernetes.stream import portforward

from harness.errors import PredictorError

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_PROXY_THREAD = "Kubernetes port forward proxy"  # kubernetes.stream.ws_client names its threads so


def _quiet_proxy_resets() -> None:
    """A client that drops a tunnelled connection (a gRPC channel closing) resets the socket under
    the kubernetes client's own proxy thread, which then dies with a traceback on stderr. That is
    the end of one connection, not an error: log it; every other thread exception is untouched."""
    previous = threading.excepthook
    if getattr(previous, "_harness_quiet", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread else ""
        if name.startswith(_PROXY_THREAD) and issubclass(args.exc_type, (ConnectionResetError, BrokenPipeError)):
            log.debug("%s: %s", name, args.exc_value)
            return
        previous(args)

    hook._harness_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = hook


class PortForward:
    """A local TCP listener that forwards every connection to a pod port.

    Args:
        api_client: an ApiClient for the cluster; only its Configuration is used.
        namespace: the pod's namespace.
        pod: the pod name.
        remote_port: the pod port (8080 is KServe's predictor port).
        local_port: the local port; 0 picks a free one.
        host: the local address to listen on (loopback only by default).
    """

    def __init__(self, api_client: client.ApiClient, namespace: str, pod: str, remote_port: int = 8080, *,
                 local_port: int = 0, host: str = "127.0.0.1") -> None:
        self.namespace = namespace
        self.pod = pod
        self.remote_port = remote_port
        self.host = host
        self._requested_port = local_port
        self._api = client.ApiClient(api_client.configuration)
        self._core = client.CoreV1Api(self._api)
        self._open_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: set[Any] = set()
        self._conns_lock = threading.Lock()
        self.local_port: int | None = None
        self.errors: list[str] = []

    @property
    def url(self) -> str:
        """http://127.0.0.1:<local port>"""
        return f"http://{self.host}:{self.local_port}"

    def start(self) -> "PortForward":
        _quiet_proxy_resets()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self._requested_port))
        except OSError as exc:
            listener.close()
            raise PredictorError(f"cannot listen for the port-forward: {exc}",
                                 where=f"{self.host}:{self._requested_port}",
                                 hint="pick another local port or free this one") from exc
        listener.listen(64)
        self._listener = listener
        self.local_port = listener.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name=f"port-forward {self.pod}:{self.remote_port}",
                             daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], 0.2)
            except (OSError, ValueError):
                return  # listener closed by stop()
            if not ready:
                continue
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                 name=f"port-forward conn {self.pod}:{self.remote_port}")
            t.start()
            # A load test opens many connections: keep only the threads still running.
            self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _open(self) -> Any:
        with self._open_lock:
            return portforward(self._core.connect_get_namespaced_pod_portforward, self.pod, self.namespace,
                               ports=str(self.remote_port))

    def _serve(self, conn: socket.socket) -> None:
        self._track(conn, add=True)
        pf = None
        try:
            try:
                pf = self._open()
            except Exception as exc:  # noqa: BLE001 - one failed connection must not stop the listener
                self.errors.append(f"open port-forward to {self.namespace}/{self.pod}:{self.remote_port}: {exc}")
                log.warning("%s", self.errors[-1])
                return
            self._track(pf, add=True)
            remote = pf.socket(self.remote_port)
            remote.setblocking(True)
            _pump(conn, remote, self._stop)
            error = pf.error(self.remote_port)
            if error:
                self.errors.append(f"{self.namespace}/{self.pod}:{self.remote_port}: {error.strip()}")
        finally:
            for closable in (conn, pf):
                if closable is not None:
                    try:
                        closable.close()
                    except Exception:  # noqa: BLE001 - closing is best effort
                        pass
                    self._track(closable, add=False)
            if pf is not None:
                _release_websocket(pf, self.remote_port)

    def _track(self, obj: Any, *, add: bool) -> None:
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(obj)

    def stop(self) -> None:
        """Close the listener and every forwarded connection. Safe to call twice."""
        self._stop.set()
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2.0)
        self._api.close()

    def __enter__(self) -> "PortForward":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _release_websocket(pf: Any, port: int, timeout_s: float = 5.0) -> None:
    """Close the port-forward's WebSocket once the client's proxy thread is done with it.

    Why: when the API server closes the stream first (the pod side closed), websocket-client marks
    the socket disconnected on the close frame, and the client's proxy then skips closing it; the
    socket would linger until garbage collection. The proxy closes its end of the local socket
    pair as its last use of the stream, so that is the signal to close the WebSocket for good.
    """
    local = getattr(pf, "local_ports", {}).get(port)
    deadline = time.monotonic() + timeout_s
    while local is not None and local.python.fileno() != -1 and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        pf.websocket.shutdown()  # idempotent: a no-op when the proxy already closed it
    except Exception:  # noqa: BLE001 - best effort
        pass


def _pump(a: socket.socket, b: Any, stop: threading.Event) -> None:
    """Copy bytes both ways between `a` and `b` until either closes or `stop` is set."""
    socks = [a, b]
    while not stop.is_set():
        try:
            readable, _, _ = select.select(socks, [], [], 0.2)
        except (OSError, ValueError):
            return
        for src in readable:
            dst = b if src is a else a
            try:
                data = src.recv(_CHUNK)
            except OSError:
                return
            if not data:
                return
            try:
                dst.sendall(data)
            except OSError:
                return

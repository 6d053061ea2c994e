"""The Kubernetes API calls the harness makes, answering plain JSON dicts.

Flow: every call goes through the official client (CoreV1Api, CustomObjectsApi) with
`_preload_content=False` and the body parsed as JSON. Plain dicts keep fields this client version
does not model (newer API servers, KServe's status) and match the camelCase of `kubectl get -o
yaml`, which is what diagnostics save and what the readiness rules read. Each call has a request
timeout so a dead API server fails the call instead of hanging the run.
"""
from __future__ import annotations

import json
import re
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from kubernetes.watch.watch import iter_resp_lines

from harness.kube.manifest import GROUP, PLURAL, VERSION

# (connect, read) seconds for ordinary calls; watches set their own read timeout.
REQUEST_TIMEOUT = (10.0, 60.0)


def api_error_text(exc: BaseException) -> str:
    """The API server's own message for a failed call (its Status body), else the exception text."""
    if isinstance(exc, ApiException):
        body = exc.body
        if isinstance(body, (bytes, bytearray)):
            body = body.decode("utf-8", "replace")
        if isinstance(body, str) and body:
            try:
                status = json.loads(body)
                if isinstance(status, dict) and status.get("message"):
                    return f"{exc.status} {status.get('reason') or exc.reason}: {status['message']}"
            except ValueError:
                pass
        return f"{exc.status} {exc.reason}".strip()
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a container answered. exit_code None: it did not finish in time."""

    stdout: str
    stderr: str
    exit_code: int | None
    message: str  # the Status message of a failure (error channel), "" on success


class ExecRefused(Exception):
    """The API server refused the exec itself (RBAC 403, no such pod...), before anything ran."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"{status or ''} {message}".strip())
        self.status = status


# websocket-client's handshake failure, as kubernetes.stream reports it in ApiException.reason
_HANDSHAKE = re.compile(r"Handshake status (\d{3})\s*([^-]*)(?:.*-\+-\+-\s*b?'?(\{.*\})'?)?", re.S)


def _exec_refusal(exc: ApiException) -> ExecRefused | None:
    """The API server's answer to the upgrade; None: no answer (a network failure, not a refusal)."""
    m = _HANDSHAKE.search(str(exc.reason or ""))
    if not m:
        return None
    message = m.group(2).strip()
    try:
        message = json.loads(m.group(3)).get("message") or message
    except (TypeError, ValueError):
        pass
    return ExecRefused(int(m.group(1)), message)


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 404


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 409


class OpenStreams:
    """The watch responses a reader thread holds open, so that another thread can end them now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[Any] = set()
        self.closed = False

    def add(self, resp: Any) -> bool:
        """Register a response; False (do not read it) once close_all() has been called."""
        with self._lock:
            if self.closed:
                return False
            self._open.add(resp)
            return True

    def discard(self, resp: Any) -> None:
        with self._lock:
            self._open.discard(resp)

    def close_all(self) -> None:
        """Refuse new streams and unblock every reader (it sees the stream end and returns)."""
        with self._lock:
            self.closed = True
            responses = list(self._open)
        for resp in responses:
            sock = getattr(getattr(resp, "connection", None), "sock", None)
            try:
                if sock is not None:
                    # shutdown, not close: a read blocked in another thread returns at once.
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _json(resp: Any) -> Any:
    data = resp.data
    return json.loads(data) if data else None


class Kube:
    """Plain-dict access to the objects one harness run touches.

    Args:
        api_client: an ApiClient for the cluster (see harness.kube.cluster.load_api_client).
    """

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self._exec_lock = threading.Lock()
        self._exec_core: client.CoreV1Api | None = None

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        return _json(fn(*args, _preload_content=False, **kwargs))

    def _read(self, fn: Callable[..., Any], *args: Any) -> dict | None:
        """The object, or None when it does not exist (404)."""
        try:
            return self._call(fn, *args)
        except ApiException as exc:
            if is_not_found(exc):
                return None
            raise

    # --- namespaces ---------------------------------------------------------------------------
    def create_namespace(self, name: str, labels: dict[str, str]) -> dict:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        return self._call(self.core.create_namespace, body)

    def get_namespace(self, name: str) -> dict | None:
        return self._read(self.core.read_namespace, name)

    def list_namespaces(self, label_selector: str) -> list[dict]:
        return self._call(self.core.list_namespace, label_selector=label_selector).get("items") or []

    def label_namespace(self, name: str, labels: dict[str, str]) -> dict:
        return self._call(self.core.patch_namespace, name, {"metadata": {"labels": labels}})

    def delete_namespace(self, name: str) -> bool:
        """Start deleting a namespace (and everything in it); False when it was already gone."""
        try:
            self._call(self.core.delete_namespace, name, body={"propagationPolicy": "Background"})
            return True
        except ApiException as exc:
            if is_not_found(exc):
                return False
            raise

    # --- service accounts and secrets (storage credentials) -----------------------------------
    def get_service_account(self, namespace: str, name: str) -> dict | None:
        return self._read(self.core.read_namespaced_service_account, name, namespace)

    def create_service_account(self, namespace: str, body: dict) -> dict:
        return self._call(self.core.create_namespaced_service_account, namespace, body)

    def get_secret(self, namespace: str, name: str) -> dict | None:
        return self._read(self.core.read_namespaced_secret, name, namespace)

    def create_secret(self, namespace: str, body: dict) -> dict:
        return self._call(self.core.create_namespaced_secret, namespace, body)

    # --- InferenceServices --------------------------------------------------------------------
    def create_isvc(self, namespace: str, body: dict) -> dict:
        return self._call(self.custom.create_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, body)

    def get_isvc(self, namespace: str, name: str) -> dict | None:
        return self._read(self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name)

    def list_isvcs(self, namespace: str, **kwargs: Any) -> dict:
        """The raw list (items and metadata.resourceVersion, for a watch to start from)."""
        return self._call(self.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, **kwargs)

    # --- pods, events, logs -------------------------------------------------------------------
    def list_pods(self, namespace: str, **kwargs: Any) -> dict:
        return self._call(self.core.list_namespaced_pod, namespace, **kwargs)

    def list_events(self, namespace: str, **kwargs: Any) -> dict:
        return self._call(self.core.list_namespaced_event, namespace, **kwargs)

    def pod_log(self, namespace: str, pod: str, container: str, *, previous: bool = False,
                tail_lines: int | None = None, limit_bytes: int | None = None, timestamps: bool = False) -> str:
        """The container's log; `timestamps` prefixes each line with the kubelet's RFC 3339 time."""
        kwargs: dict[str, Any] = {"container": container, "previous": previous, "timestamps": timestamps}
        if tail_lines is not None:
            kwargs["tail_lines"] = tail_lines
        if limit_bytes is not None:
            kwargs["limit_bytes"] = limit_bytes
        resp = self.core.read_namespaced_pod_log(
            pod, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        return (resp.data or b"").decode("utf-8", "replace")

    def exec(self, namespace: str, pod: str, container: str, command: list[str], timeout_s: float) -> ExecResult:
        """Run `command` in the container (pods/exec over the websocket channel protocol), one at a time.

        Raises:
            ExecRefused: the API server refused the exec (its status and message).
            ApiException: it could not be reached.
        """
        with self._exec_lock:
            if self._exec_core is None:
                # its own client: kubernetes.stream swaps the client's request function while it connects
                self._exec_core = client.CoreV1Api(client.ApiClient(self.api_client.configuration))
            try:
                ws = stream(self._exec_core.connect_get_namespaced_pod_exec, pod, namespace, container=container,
                            command=command, stdout=True, stderr=True, stdin=False, tty=False,
                            _preload_content=False, _request_timeout=timeout_s)
            except ApiException as exc:
                refusal = _exec_refusal(exc)
                if refusal is None:
                    raise
                raise refusal from exc
            try:
                ws.run_forever(timeout=timeout_s)
                out, err = ws.read_stdout(timeout=0) or "", ws.read_stderr(timeout=0) or ""
                if ws.is_open():
                    return ExecResult(out, err, None, f"no answer within {timeout_s:g} s")
                status = json.loads(ws.read_channel(3) or "{}")
            finally:
                ws.close()
        if status.get("status") == "Success":
            return ExecResult(out, err, 0, "")
        causes = (status.get("details") or {}).get("causes") or []
        code = next((c.get("message") for c in causes if c.get("reason") == "ExitCode"), None)
        return ExecResult(out, err, int(code) if code and code.isdigit() else -1, status.get("message") or "")

    # --- watches ------------------------------------------------------------------------------
    def watch(self, kind: str, namespace: str, *, resource_version: str | None, timeout_s: int,
              streams: "OpenStreams", **selectors: Any) -> Iterator[dict]:
        """Watch events ({"type", "object"}, objects as plain dicts) of "isvc", "pods" or "events".

        The stream is registered in `streams` before the first read, so another thread can end it
        at any moment (kubernetes.watch.Watch cannot be stopped before its request is open).
        """
        fn, args = {
            "isvc": (self.custom.list_namespaced_custom_object, (GROUP, VERSION, namespace, PLURAL)),
            "pods": (self.core.list_namespaced_pod, (namespace,)),
            "events": (self.core.list_namespaced_event, (namespace,)),
        }[kind]
        kwargs: dict[str, Any] = dict(selectors, watch=True, timeout_seconds=timeout_s,
                                      _request_timeout=(REQUEST_TIMEOUT[0], timeout_s + 15))
        if resource_version:
            kwargs["resource_version"] = resource_version
        resp = fn(*args, _preload_content=False, **kwargs)
        if not streams.add(resp):
            resp.close()
            return
        try:
            for line in iter_resp_lines(resp):
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":  # e.g. 410 Gone: the caller lists again
                    status = event.get("object") or {}
                    raise ApiException(status=status.get("code"), reason=status.get("message"))
                yield event
        finally:
            streams.discard(resp)
            resp.close()
            resp.release_conn()

    def list_kind(self, kind: str, namespace: str, **selectors: Any) -> dict:
        """One list of "isvc", "pods" or "events" (the same selectors as `watch`)."""
        return {"isvc": self.list_isvcs, "pods": self.list_pods, "events": self.list_events}[kind](
            namespace, **selectors)

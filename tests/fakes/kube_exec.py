"""Pod exec of the FAKE Kubernetes API server, over the websocket channel protocol.

Flow (what `kubernetes.stream.stream(connect_get_namespaced_pod_exec, ...)` and kubectl speak):
GET/POST .../pods/NAME/exec?command=A&command=B&container=C&stdout=1&stderr=1 upgrades to a
websocket (subprotocol v5.channel.k8s.io or v4.channel.k8s.io). The pod's runner (the fake
kubelet, `set_exec_handler`) runs the command; its stdout goes on channel 1, stderr on 2, and the
real kubelet's Status JSON on channel 3 (Success, NonZeroExitCode with the exit code as cause, or
InternalError for an executable that is not in the container), then the websocket closes.
Refusals come before the upgrade, as Status bodies: 404 no pod, 400 no command or a container
the pod has not, 400 a pod not running, and 403 when the pod carries the FAKE annotation
`EXEC_FORBIDDEN_ANNOTATION: "true"` (RBAC refusing pods/exec to the harness, simulated).
"""
from __future__ import annotations

import asyncio
import json
import weakref
from typing import Callable

from aiohttp import web

from tests.fakes import kube_errors as errors
from tests.fakes.kube_store import FakeKubeStore

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
EXEC_FORBIDDEN_ANNOTATION = "fake.kserve-harness/exec-forbidden"
# (container, argv) -> (stdout, stderr, exit code); FileNotFoundError: no such executable
ExecHandler = Callable[[str, list[str]], tuple[bytes, bytes, int]]
_HANDLERS: "weakref.WeakKeyDictionary[FakeKubeStore, dict[tuple[str, str], ExecHandler]]" = weakref.WeakKeyDictionary()


def set_exec_handler(store: FakeKubeStore, namespace: str, pod: str, handler: ExecHandler | None) -> None:
    """The kubelet's side: who runs commands in this pod (None: the pod runs nothing now)."""
    handlers = _HANDLERS.setdefault(store, {})
    if handler is None:
        handlers.pop((namespace, pod), None)
    else:
        handlers[(namespace, pod)] = handler


def _status(argv: list[str], code: int) -> dict:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: error executing command {argv}, exit code {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _not_found(argv: list[str]) -> dict:
    why = (f'error executing command in container: failed to exec in container: failed to start exec: OCI runtime '
           f'exec failed: exec failed: unable to start container process: exec: "{argv[0]}": executable file not '
           'found in $PATH: unknown')
    return {"metadata": {}, "status": "Failure", "reason": "InternalError", "code": 500,
            "message": f"Internal error occurred: {why}", "details": {"causes": [{"message": why}]}}


async def handle_exec(request: web.Request, store: FakeKubeStore, namespace: str, pod: str,
                      streams) -> web.StreamResponse:
    pod_obj = store.get("pods", pod, namespace)
    if (pod_obj["metadata"].get("annotations") or {}).get(EXEC_FORBIDDEN_ANNOTATION) == "true":
        raise errors.forbidden(f'pods "{pod}" is forbidden: User "kserve-harness" cannot create resource '
                               f'"pods/exec" in API group "" in the namespace "{namespace}"', "pods", "", pod)
    argv = request.query.getall("command", [])
    if not argv:
        raise errors.bad_request("you must specify at least 1 command")
    names = [c["name"] for c in pod_obj["spec"].get("containers") or []]
    container = request.query.get("container") or names[0]
    if container not in names:
        raise errors.bad_request(f"container {container} is not valid for pod {pod}")
    handler = _HANDLERS.get(store, {}).get((namespace, pod))
    if handler is None:
        raise errors.bad_request(f"unable to upgrade connection: container not found (\"{container}\")")
    async with streams.websocket(request, PROTOCOLS) as ws:
        try:
            out, err, code = await asyncio.get_running_loop().run_in_executor(None, handler, container, argv)
            status = _status(argv, code)
        except FileNotFoundError:
            out, err, status = b"", b"", _not_found(argv)
        if out:
            await ws.send_bytes(b"\x01" + out)
        if err:
            await ws.send_bytes(b"\x02" + err)
        await ws.send_bytes(b"\x03" + json.dumps(status).encode())
        await ws.close()
    return ws

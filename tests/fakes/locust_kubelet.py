"""A FAKE kubelet for the in-cluster load pods (official Locust image): runs them as local processes.

Flow: `FakeLocustKubelet(store, work_dir).start()` listens to the store's pods; a pod whose
container image is `locustio/locust:<tag>` (harness.kube.load_pods) is run on a thread:
PodScheduled -> the image "pull" (a name containing "does-not-exist" fails as ErrImagePull, then
ImagePullBackOff, as a real kubelet reports it) -> its volumes materialised under
work_dir/<ns>/<pod>/ (configMap: every data and binaryData key as a file; emptyDir: a folder)
-> the container's command, with the same argv and env, as a local process group (`locust` is the
harness's own pinned Locust: `python -m locust`, the image's stand-in) -> Running, its output
appended to the pod log -> on exit: terminated with its exit code, phase Succeeded (0) or Failed.
A deleted pod (or namespace) stops its process group.

The fake's stand-ins, named: the container filesystem is the pod folder, so every string
starting with a mount path — in argv, env and the mounted JSON files (plan.json) — is rewritten
to the local folder; the pod network resolves `<isvc>-predictor.<ns>.svc.cluster.local[:80]`
to the local address of that InferenceService's predictor pod port 8080 (the one the fake API
server's port-forward reaches). Everything else (the locustfile, the plan, the upload to the
GCS emulator) is what runs in a real pod.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
from pathlib import Path
from typing import Any

from harness.procs import ProcessGroup
from tests.fakes.kserve_kubelet import NODE_NAME, LogPump
from tests.fakes.kube_errors import FakeKubeError
from tests.fakes.kube_store import FakeKubeStore, now_rfc3339
from tests.fakes.kube_watch import ADDED, DELETED, StoreEvent

log = logging.getLogger(__name__)

LOCUST_IMAGE_PREFIX = "locustio/locust:"
UNPULLABLE_MARKER = "does-not-exist"
ISVC_POD_LABEL = "serving.kserve.io/inferenceservice"
PREDICTOR_POD_PORT = 8080
_SERVICE_URL = re.compile(r"http://([a-z0-9-]+)-predictor\.([a-z0-9-]+)\.svc\.cluster\.local(?::80)?")


def is_locust_pod(pod: dict) -> bool:
    containers = (pod.get("spec") or {}).get("containers") or []
    return bool(containers) and all((c.get("image") or "").startswith(LOCUST_IMAGE_PREFIX) for c in containers)


class _LocustPod:
    def __init__(self, store: FakeKubeStore, pod: dict, work_dir: Path) -> None:
        self.store, self.pod = store, pod
        self.ns, self.name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.dir = work_dir / self.ns / self.name
        self.container = pod["spec"]["containers"][0]
        self.group: ProcessGroup | None = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"fake-locust-kubelet {self.name}", daemon=True)

    # --- the fake's stand-ins ---------------------------------------------------------------------
    def _mounts(self) -> dict[str, Path]:
        """mountPath -> local folder, volumes materialised."""
        volumes = {v["name"]: v for v in self.pod["spec"].get("volumes") or []}
        out = {}
        for m in self.container.get("volumeMounts") or []:
            vol = volumes[m["name"]]
            local = self.dir / "volumes" / m["name"]
            local.mkdir(parents=True, exist_ok=True)
            if "configMap" in vol:
                cm = self.store.get("configmaps", vol["configMap"]["name"], self.ns)
                for key, text in (cm.get("data") or {}).items():
                    (local / key).write_text(text)
                for key, b64 in (cm.get("binaryData") or {}).items():
                    (local / key).write_bytes(base64.b64decode(b64))
            out[m["mountPath"].rstrip("/")] = local
        return out

    def _service_address(self, isvc: str, ns: str) -> str:
        """The pod network: the Service's address, as the predictor pod's local port 8080."""
        for pod in self.store.list("pods", ns, label_selector=f"{ISVC_POD_LABEL}={isvc}"):
            addr = self.store.port_forward_target(ns, pod["metadata"]["name"], PREDICTOR_POD_PORT)
            if addr:
                return f"http://{addr[0]}:{addr[1]}"
        return f"http://{isvc}-predictor.{ns}.svc.cluster.local"  # unresolvable: connection errors, as in a pod

    def _rewrite(self, text: str, mounts: dict[str, Path]) -> str:
        for path, local in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
            if text == path or text.startswith(path + "/"):
                text = str(local) + text[len(path):]
                break
        return _SERVICE_URL.sub(lambda m: self._service_address(m.group(1), m.group(2)), text)

    def _rewrite_json_files(self, mounts: dict[str, Path]) -> None:
        def walk(v: Any) -> Any:
            if isinstance(v, str):
                return self._rewrite(v, mounts)
            if isinstance(v, list):
                return [walk(x) for x in v]
            if isinstance(v, dict):
                return {k: walk(x) for k, x in v.items()}
            return v

        for local in mounts.values():
            for f in local.glob("*.json"):
                f.write_text(json.dumps(walk(json.loads(f.read_text()))))

    # --- status -------------------------------------------------------------------------------------
    def _publish(self, phase: str, state: dict, *, ready: bool = False, started: bool = False) -> None:
        c = self.container
        status = {"phase": phase, "hostIP": "127.0.0.1", "podIP": "127.0.0.1", "startTime": self.start_time,
                  "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": self.start_time},
                                 {"type": "Ready", "status": "True" if ready else "False",
                                  "lastTransitionTime": now_rfc3339()}],
                  "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": "", "ready": ready,
                                         "started": started, "restartCount": 0, "state": state}]}
        try:
            self.store.set_status("pods", self.name, status, self.ns)
        except FakeKubeError:  # deleted
            self.stopped.set()

    def _event(self, reason: str, message: str, warning: bool = False) -> None:
        try:
            self.store.emit_event(self.pod, reason, message, type="Warning" if warning else "Normal", component="kubelet")
        except FakeKubeError:
            pass

    # --- the walk through the pod ---------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._lifecycle()
        except Exception:
            log.exception("fake locust kubelet failed on %s/%s", self.ns, self.name)

    def _lifecycle(self) -> None:
        self.start_time = now_rfc3339()
        image = self.container["image"]
        self._event("Scheduled", f"Successfully assigned {self.ns}/{self.name} to {NODE_NAME}")
        if UNPULLABLE_MARKER in image:
            msg = (f'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/{image}": '
                   f'failed to resolve reference "docker.io/{image}": not found')
            self._event("Failed", f'Failed to pull image "{image}": {msg}', warning=True)
            self._publish("Pending", {"waiting": {"reason": "ErrImagePull", "message": msg}})
            self._publish("Pending", {"waiting": {"reason": "ImagePullBackOff",
                                                  "message": f'Back-off pulling image "{image}"'}})
            return  # stays so until deleted
        self._publish("Pending", {"waiting": {"reason": "ContainerCreating"}})
        mounts = self._mounts()
        self._rewrite_json_files(mounts)
        argv = [self._rewrite(a, mounts) for a in (self.container.get("command") or []) + (self.container.get("args") or [])]
        if argv and argv[0] == "locust":  # the image's entry point: the pinned Locust the harness uses
            argv = [sys.executable, "-m", "locust", *argv[1:]]
        env = {e["name"]: self._rewrite(e.get("value", ""), mounts) for e in self.container.get("env") or []}
        cwd = self._rewrite(self.container.get("workingDir") or str(self.dir), mounts)
        Path(cwd).mkdir(parents=True, exist_ok=True)
        self.group = ProcessGroup(argv, name=f"pod {self.name}", log_path=self.dir / "container.log", env=env,
                                  cwd=Path(cwd))
        if self.stopped.is_set():
            return
        self.group.start()
        pump = LogPump(self.dir / "container.log",
                       lambda text: self.store.append_log(self.ns, self.name, self.container["name"], text)).start()
        started_at = now_rfc3339()
        self._event("Started", f"Started container {self.container['name']}")
        self._publish("Running", {"running": {"startedAt": started_at}}, ready=True, started=True)
        while self.group.exited() is None and not self.stopped.wait(0.2):
            pass  # the kubelet's own poll of its container
        if self.stopped.is_set():
            self.group.stop(grace_s=2.0)
            pump.stop(flush=False)
            return
        code = self.group.exited()
        try:
            pump.stop()
        except FakeKubeError:
            pass
        state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                "startedAt": started_at, "finishedAt": now_rfc3339()}}
        self._publish("Succeeded" if code == 0 else "Failed", state)

    def stop(self) -> None:
        self.stopped.set()
        if self.group is not None:
            self.group.stop(grace_s=2.0)


class FakeLocustKubelet:
    """Runs the load pods of harness.kube.load_pods; `stop()` ends every process it started."""

    def __init__(self, store: FakeKubeStore, work_dir: Path) -> None:
        self.store, self.work_dir = store, work_dir
        self.pods: dict[tuple[str, str], _LocustPod] = {}
        self._lock = threading.Lock()
        self._listener = None

    def start(self) -> "FakeLocustKubelet":
        self._listener = self.store.add_listener(self._on_pod, "pods")
        return self

    def _on_pod(self, event: StoreEvent) -> None:
        key = (event.namespace, event.name)
        if event.type == ADDED and is_locust_pod(event.object):
            runner = _LocustPod(self.store, event.object, self.work_dir)
            with self._lock:
                self.pods[key] = runner
            runner.thread.start()
        elif event.type == DELETED:
            with self._lock:
                runner = self.pods.get(key)
            if runner is not None:
                runner.stop()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            runners = list(self.pods.values())
        for r in runners:
            r.stop()
        for r in runners:
            r.thread.join(10.0)

    def __enter__(self) -> "FakeLocustKubelet":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

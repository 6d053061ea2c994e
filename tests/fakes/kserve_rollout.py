"""The FAKE KServe controller's RawDeployment rolling update (the predictor Deployment's
`maxUnavailable: 0, maxSurge: 1` behaviour), for the rollout-under-load tests.

Flow: the InferenceService's spec changes (metadata.generation grows) -> `on_isvc_modified` creates a
pod of the new template (its `pod-template-hash` is the new spec's) while the old pod keeps serving
-> every pod event of that InferenceService -> `settle`: once a pod of the current template is Ready,
each other pod is deleted gracefully: a finalizer holds it while its deletionTimestamp is set (it
leaves the Service's endpoints, so new connections no longer reach it, yet TorchServe keeps
answering what is in flight), and `drain_s` later the finalizer goes and the kubelet stops it.
A new pod that never gets Ready (CrashLoopBackOff, a failed download) leaves the old pod serving,
as a real Deployment does; patching the spec back to the old template removes the new pod.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from tests.fakes.kserve_objects import ISVC_LABEL, ISVC_RESOURCE, template_hash
from tests.fakes.kube_errors import FakeKubeError

if TYPE_CHECKING:
    from tests.fakes.kserve_controller import FakeKServeController

log = logging.getLogger(__name__)
DRAIN_FINALIZER = "fake.kserve.io/drain"


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class RollingUpdates:
    def __init__(self, controller: "FakeKServeController", drain_s: float = 2.0) -> None:
        self.controller = controller
        self.drain_s = drain_s
        self._generations: dict[tuple[str, str], int] = {}
        self._lock = threading.RLock()
        self._timers: list[threading.Timer] = []

    def created(self, isvc: dict) -> None:
        meta = isvc["metadata"]
        with self._lock:
            self._generations[(meta["namespace"], meta["name"])] = int(meta.get("generation", 1))

    def on_isvc_modified(self, isvc: dict) -> None:
        meta = isvc["metadata"]
        key = (meta["namespace"], meta["name"])
        gen = int(meta.get("generation", 1))
        with self._lock:
            if key not in self._generations or gen <= self._generations[key] or meta.get("deletionTimestamp"):
                return  # a status write, or an InferenceService this fake never created a pod for
            self._generations[key] = gen
        ns, name = key
        desired = template_hash(isvc)
        pods = self._pods(ns, name)
        self.controller.mark(ns, name, "rollout-started", desired)
        if not any(p["metadata"].get("labels", {}).get("pod-template-hash") == desired for p in pods):
            self.controller._start_predictor_pod(isvc, ns, name)
        self.settle(ns, name)

    def _pods(self, ns: str, name: str) -> list[dict]:
        return [p for p in self.controller.store.list("pods", ns, label_selector=f"{ISVC_LABEL}={name}")
                if not p["metadata"].get("deletionTimestamp")]

    def settle(self, ns: str, name: str) -> None:
        """Remove the other templates' pods once the current template has a Ready pod."""
        try:
            isvc = self.controller.store.get(ISVC_RESOURCE, name, ns)
        except FakeKubeError:
            return
        desired = template_hash(isvc)
        pods = self._pods(ns, name)
        current = [p for p in pods if p["metadata"].get("labels", {}).get("pod-template-hash") == desired]
        others = [p for p in pods if p not in current]
        if not others or not any(_ready(p) for p in current):
            return
        for pod in others:
            self._drain(ns, pod["metadata"]["name"])

    def _drain(self, ns: str, pod: str) -> None:
        store = self.controller.store
        try:
            store.patch("pods", pod, {"metadata": {"finalizers": [DRAIN_FINALIZER]}}, ns)
            store.delete("pods", pod, ns)  # deletionTimestamp set: out of the endpoints, still running
        except FakeKubeError:
            return
        self.controller.mark(ns, pod, "pod-draining")
        timer = threading.Timer(self.drain_s, self._release, args=(ns, pod))
        timer.daemon = True
        timer.args = (ns, pod)
        with self._lock:
            self._timers.append(timer)
        timer.start()

    def _release(self, ns: str, pod: str) -> None:
        try:
            self.controller.store.patch("pods", pod, {"metadata": {"finalizers": None}}, ns)
        except FakeKubeError:
            pass  # already gone (namespace deleted)

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for t in timers:  # a pod still draining goes now (its namespace can then be removed)
            t.cancel()
            self._release(*t.args)

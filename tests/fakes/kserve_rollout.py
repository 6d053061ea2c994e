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

Serverless InferenceServices (serving.kserve.io/deploymentMode: Serverless) follow Knative's
revisions and KServe's canaryTrafficPercent instead: `CanaryRevisions` below, equally FAKE.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
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
            self.drain(ns, pod["metadata"]["name"])

    def drain(self, ns: str, pod: str) -> None:
        """Delete the pod gracefully: out of the endpoints now, stopped `drain_s` later."""
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


# --- Serverless (Knative) revisions and KServe's canary traffic split ----------------------------------

REVISION_LABEL = "serving.knative.dev/revision"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"


def is_serverless(isvc: dict) -> bool:
    return (isvc["metadata"].get("annotations") or {}).get(MODE_ANNOTATION) in ("Serverless", "Knative")


def _canary_percent(isvc: dict) -> int | None:
    return ((isvc.get("spec") or {}).get("predictor") or {}).get("canaryTrafficPercent")


def _revision_spec(isvc: dict) -> str:
    """What makes a new Knative revision: the predictor's spec, canaryTrafficPercent aside."""
    pred = {k: v for k, v in ((isvc.get("spec") or {}).get("predictor") or {}).items() if k != "canaryTrafficPercent"}
    return json.dumps(pred, sort_keys=True)


def revision_pod(pod: dict, isvc: dict, revision: str) -> dict:
    """A Knative revision's pod: `<revision>-deployment-<hash>-<suffix>`, labelled with its revision."""
    plain = {**isvc, "spec": {**(isvc.get("spec") or {}), "predictor": json.loads(_revision_spec(isvc))}}
    thash = template_hash(plain)
    name = isvc["metadata"]["name"]
    pod["metadata"]["labels"].update({REVISION_LABEL: revision, "pod-template-hash": thash,
                                      "serving.knative.dev/configuration": f"{name}-predictor",
                                      "serving.knative.dev/service": f"{name}-predictor"})
    pod["metadata"]["generateName"] = f"{revision}-deployment-{thash}-"
    return pod


@dataclass
class _Revision:
    name: str
    spec: str
    ready: bool = False  # became Ready once: Knative keeps a revision Ready when it scales down
    retired: bool = False  # the FAKE's rollback by restoring the old spec (below)


@dataclass
class _Service:
    generation: int
    revisions: list[_Revision] = field(default_factory=list)
    rolled_out: str | None = None
    previous: str | None = None

    def live(self) -> list[_Revision]:
        return [r for r in self.revisions if not r.retired]

    def latest_ready(self) -> _Revision | None:
        return next((r for r in reversed(self.live()) if r.ready), None)


class CanaryRevisions:
    """The FAKE Knative revisions of a Serverless InferenceService and KServe's canary split.

    Rules (KServe's ksvc reconciler and status propagation): each change of the predictor's spec
    (canaryTrafficPercent aside) stamps a revision `<name>-predictor-0000K`, its pod labelled
    serving.knative.dev/revision. A revision that is not Ready gets no traffic. With
    canaryTrafficPercent N and a rolled-out revision: N % to the latest ready revision (tag latest),
    100-N % to the latest rolled-out one (tag prev). Without it: 100 % to the latest ready revision,
    which becomes latestRolledoutRevision (the one before it previousRolledoutRevision) and the
    other revisions' pods drain (RollingUpdates.drain, `scale_down_s` after the traffic left them).
    canaryTrafficPercent 0: all traffic back to the rolled-out revision and the latest one's pods
    drain. Restoring the rolled-out revision's spec sends all traffic back to it and drains the
    newer revisions' pods (a FAKE simplification: Knative would stamp a new revision from the
    restored template).
    """

    def __init__(self, controller: "FakeKServeController", drainer: RollingUpdates, scale_down_s: float = 0.5) -> None:
        self.controller = controller
        self.drainer = drainer
        self.scale_down_s = scale_down_s
        self._services: dict[tuple[str, str], _Service] = {}
        self._lock = threading.RLock()
        self._timers: dict[tuple[str, str], threading.Timer] = {}

    def created(self, isvc: dict) -> str:
        """The first revision's name, for the pod the controller creates."""
        meta = isvc["metadata"]
        with self._lock:
            svc = self._services[(meta["namespace"], meta["name"])] = _Service(int(meta.get("generation", 1)))
            return self._stamp(svc, isvc).name

    def _stamp(self, svc: _Service, isvc: dict) -> _Revision:
        rev = _Revision(f"{isvc['metadata']['name']}-predictor-{len(svc.revisions) + 1:05d}", _revision_spec(isvc))
        svc.revisions.append(rev)
        return rev

    def on_isvc_modified(self, isvc: dict) -> None:
        meta = isvc["metadata"]
        key = (meta["namespace"], meta["name"])
        gen = int(meta.get("generation", 1))
        with self._lock:
            svc = self._services.get(key)
            if svc is None or gen <= svc.generation or meta.get("deletionTimestamp"):
                return  # a status write, or an InferenceService this fake never created a pod for
            svc.generation = gen
            spec, latest = _revision_spec(isvc), svc.live()[-1]
            new = None
            if spec != latest.spec:
                back = next((r for r in svc.live() if r.name == svc.rolled_out and r.spec == spec), None)
                if back is not None:  # the old spec restored: retire what came after it
                    for r in svc.live()[svc.live().index(back) + 1:]:
                        r.retired = True
                else:
                    new = self._stamp(svc, isvc)
        self.controller.mark(*key, "revision-created" if new else "traffic-changed",
                             new.name if new else str(_canary_percent(isvc)))
        if new is not None:
            self.controller._start_predictor_pod(isvc, *key, revision=new.name)
        self.settle(*key)
        self.controller._enqueue(*key)  # the traffic follows the spec

    def _pods(self, ns: str, name: str) -> list[dict]:
        return [p for p in self.controller.store.list("pods", ns, label_selector=f"{ISVC_LABEL}={name}")
                if not p["metadata"].get("deletionTimestamp")]

    def settle(self, ns: str, name: str, *, drain: bool = False) -> None:
        """Note Ready revisions, roll out a fully routed one; with `drain`, drain the pods of revisions
        that lost their traffic (status() asks for that `scale_down_s` after it routed the traffic away,
        as Knative scales a revision down only once the route has left it)."""
        try:
            isvc = self.controller.store.get(ISVC_RESOURCE, name, ns)
        except FakeKubeError:
            return
        pods = self._pods(ns, name)
        with self._lock:
            svc = self._services.get((ns, name))
            if svc is None:
                return
            self._note_ready(svc, pods)
            keep = self._serving(svc, _canary_percent(isvc))
        for pod in pods if drain else []:
            if pod["metadata"]["labels"].get(REVISION_LABEL) not in keep:
                self.drainer.drain(ns, pod["metadata"]["name"])

    def _scale_down_later(self, ns: str, name: str) -> None:
        with self._lock:
            if (ns, name) in self._timers:
                return
            timer = self._timers[(ns, name)] = threading.Timer(self.scale_down_s, self._scale_down, args=(ns, name))
        timer.daemon = True
        timer.start()

    def _scale_down(self, ns: str, name: str) -> None:
        with self._lock:
            self._timers.pop((ns, name), None)
        self.settle(ns, name, drain=True)

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = list(self._timers.values()), {}
        for t in timers:
            t.cancel()

    @staticmethod
    def _note_ready(svc: _Service, pods: list[dict]) -> None:
        ready = {p["metadata"]["labels"].get(REVISION_LABEL) for p in pods if _ready(p)}
        for r in svc.revisions:
            r.ready = r.ready or r.name in ready

    @staticmethod
    def _serving(svc: _Service, canary: int | None) -> set[str]:
        """The revisions whose pods stay (rolling out the latest ready one when it takes all traffic)."""
        latest = svc.latest_ready()
        if latest is None:
            return {r.name for r in svc.live()}
        if canary is None and latest.name != svc.rolled_out:
            svc.previous, svc.rolled_out = svc.rolled_out, latest.name
        newest = svc.live()[-1].name
        if canary is None:
            return {latest.name} | ({newest} if newest != latest.name else set())  # a newer one still starting
        if canary == 0:
            return {svc.rolled_out} if svc.rolled_out else {latest.name}
        return {r.name for r in svc.live() if r.name in (svc.rolled_out, latest.name, newest)}

    def status(self, isvc: dict, pods: list[dict], status: dict) -> dict:
        """KServe's Serverless status.components.predictor, merged into the RawDeployment one."""
        meta = isvc["metadata"]
        with self._lock:
            svc = self._services.get((meta["namespace"], meta["name"]))
            if svc is None:
                return status
            self._note_ready(svc, [p for p in pods if not p["metadata"].get("deletionTimestamp")])
            latest = svc.latest_ready()
            pred = status["components"]["predictor"]
            pred["latestCreatedRevision"] = svc.live()[-1].name
            if latest is not None:
                pred["latestReadyRevision"] = latest.name
            for k, v in (("latestRolledoutRevision", svc.rolled_out), ("previousRolledoutRevision", svc.previous)):
                if v:
                    pred[k] = v
            pred["traffic"] = self._traffic(svc, _canary_percent(isvc))
            keep = self._serving(svc, _canary_percent(isvc))
            if any(p["metadata"]["labels"].get(REVISION_LABEL) not in keep for p in pods
                   if not p["metadata"].get("deletionTimestamp")):
                self._scale_down_later(meta["namespace"], meta["name"])
        status["deploymentMode"] = "Serverless"
        return status

    @staticmethod
    def _traffic(svc: _Service, canary: int | None) -> list[dict]:
        latest = svc.latest_ready()
        if latest is None:
            return []
        if canary is not None and svc.rolled_out and latest.name != svc.rolled_out:
            return [{"tag": "latest", "revisionName": latest.name, "percent": canary, "latestRevision": True},
                    {"tag": "prev", "revisionName": svc.rolled_out, "percent": 100 - canary, "latestRevision": False}]
        return [{"revisionName": latest.name, "percent": 100, "latestRevision": True}]

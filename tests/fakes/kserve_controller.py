"""A FAKE KServe controller (plus a fake kubelet) for tests: InferenceService -> a predictor pod
that really runs, on this machine, the storage-initializer and TorchServe the harness's local
target runs. Not for production use.

No cluster can run where CI runs, so the Kubernetes targets are tested against the FAKE
Kubernetes API server (`tests.fakes.FakeKubeApiServer`) with this controller behind it. The
harness talks to the API server only (official `kubernetes` client, kubeconfig), exactly as it
would to a real cluster; the controller plays KServe's RawDeployment mode and the kubelet.

Flow: `FakeKServeController(store, work_dir, emulator_host=...)` -> `start()` installs KServe's
CRD, the kserve-torchserve ClusterServingRuntime and a node, then listens to the store ->
InferenceService ADDED: pick the runtime (or report NoSupportingRuntime / RuntimeNotRecognized),
create the pod `<isvc>-predictor-<hash>-<suffix>` (labels serving.kserve.io/inferenceservice and
component=predictor, owned by the InferenceService, storage-initializer init container with
[storageUri, /mnt/models], kserve-container with the runtime's image, args, TS_SERVICE_ENVELOPE
and the predictor's resources; for a custom predictor, predictor.containers[0] as written, with
the storage-initializer when its env has STORAGE_URI) and hand it to a `FakePodRunner`
(tests.fakes.kserve_kubelet), which drives it on a worker thread -> every pod change: recompute
the InferenceService status as KServe does (PredictorReady / IngressReady / Ready, url, address,
modelStatus with lastFailureInfo) -> InferenceService or pod DELETED (also by namespace
deletion): stop that pod's processes (whole process groups) and its port-forwards -> `stop()`
stops everything it started.

Real: kserve-storage's download (and its errors), TorchServe (its logs, worker deaths, readiness
on the management API, the served predictions through the API server's port-forward), a custom
predictor's `python` program in KServe's ModelServer environment (runtime: kserve), the
Kubernetes REST protocol in between. Simulated: the image pull (names containing
"does-not-exist" fail), memory limits (an RSS watchdog plays the OOM killer), the ingress (a
flag), scheduling (only nvidia.com/gpu counts, against `gpus_available` on one node).

Example:
    with FakeKubeApiServer() as kube, FakeKServeController(kube.store, tmp_path / "kserve",
                                                           emulator_host=emulator.host):
        kube.write_kubeconfig(tmp_path / "kubeconfig")
        ...  # harness --target kubeconfig --kubeconfig tmp_path/kubeconfig
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

from tests.fakes.kserve_kubelet import NODE_NAME, FakePodRunner, KubeletSettings, PodHooks
from tests.fakes.kserve_rollout import CanaryRevisions, RollingUpdates, is_serverless, revision_pod
from tests.fakes.kserve_objects import (
    ISVC_LABEL, ISVC_RESOURCE, STORAGE_INITIALIZER_IMAGE, install_kserve, is_custom_predictor, pod_spec_errors,
    propagate_status, render_custom_predictor_pod, render_predictor_pod, select_runtime,
)
from tests.fakes.kube_errors import FakeKubeError
from tests.fakes.kube_store import FakeKubeStore, now_rfc3339
from tests.fakes.kube_watch import ADDED, DELETED, Listener, StoreEvent

__all__ = ["FakeKServeController", "KubeletSettings", "Mark"]

log = logging.getLogger(__name__)

EmulatorHost = Union[str, None, Callable[[], Union[str, None]]]
_COMPONENT = "v1beta1Controllers"  # KServe's event source


@dataclass(frozen=True)
class Mark:
    """One moment in the fake cluster's life, for tests that time the harness against it.

    Attributes:
        at: time.time() when it happened.
        mono: time.monotonic() when it happened.
        namespace: where.
        name: the InferenceService or pod concerned.
        what: "isvc-created", "pod-created", "scheduled", "unschedulable",
            "storage-initializer-started/-succeeded/-failed", "image-pull-failed", "container-started",
            "container-ready", "container-terminated", "oom-killed", "crash-loop-backoff", "isvc-ready",
            "isvc-not-ready" (Ready went False after True), "isvc-deleted", "pod-stopped", "kubelet-error".
        detail: free text (an error, the forwarded ports).
    """

    at: float
    mono: float
    namespace: str
    name: str
    what: str
    detail: str = ""


class FakeKServeController:
    """The FAKE KServe controller and kubelet (a context manager).

    Args:
        store: the FAKE API server's store (`FakeKubeApiServer().store`).
        work_dir: where pods keep their model directories, logs and TorchServe run directories
            (`<work_dir>/<namespace>/<pod>/`).
        emulator_host: STORAGE_EMULATOR_HOST for the storage-initializer (http://127.0.0.1:PORT),
            or a callable that returns it when a download starts (so a per-run emulator works),
            or None for real GCS.
        gpus_available: nvidia.com/gpu on the single fake node; a pod asking for more stays
            Pending, unschedulable.
        ingress_configured: False plays a cluster whose ingress does not work: IngressReady stays
            False (IngressNotConfigured) and status.url is never set.
        ingress_domain: domain of status.url (http://<name>-<namespace>.<domain>).
        storage_initializer_image: the init container's image (a name with "does-not-exist" in it
            cannot be pulled).
        reconcile_delay_s: how long after a pod change the InferenceService status follows (a real
            controller's informer and work queue take a moment too).
        cluster_autoscaler: play a cluster autoscaler that cannot add a fitting node either (it
            records NotTriggerScaleUp on an unschedulable pod, as GKE's does).
        settings: the fake kubelet's timings and rules (gpus_available and cluster_autoscaler are
            overridden by the arguments above).
    """

    def __init__(self, store: FakeKubeStore, work_dir: Path, *, emulator_host: EmulatorHost,
                 gpus_available: int = 0, ingress_configured: bool = True, ingress_domain: str = "example.com",
                 storage_initializer_image: str = STORAGE_INITIALIZER_IMAGE, reconcile_delay_s: float = 0.1,
                 cluster_autoscaler: bool = False, settings: KubeletSettings | None = None) -> None:
        self.store = store
        self.work_dir = Path(work_dir)
        self.emulator_host = emulator_host
        self.settings = settings or KubeletSettings()
        self.settings.gpus_available = gpus_available
        self.settings.cluster_autoscaler = cluster_autoscaler
        self.ingress_configured = ingress_configured
        self.ingress_domain = ingress_domain
        self.storage_initializer_image = storage_initializer_image
        self.reconcile_delay_s = reconcile_delay_s
        self.marks: list[Mark] = []
        self.runners: dict[str, FakePodRunner] = {}  # pod uid -> runner of a live pod
        self._all_runners: list[FakePodRunner] = []
        self._gpus: dict[str, int] = {}
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._stopped = threading.Event()
        self._started = False
        self._queue_cv = threading.Condition()
        self._pending: dict[tuple[str, str], float] = {}
        self._reconciler = threading.Thread(target=self._reconcile_loop, name="fake-kserve reconcile", daemon=True)
        self.rollouts = RollingUpdates(self)  # spec changes: the predictor Deployment's rolling update
        self.revisions = CanaryRevisions(self, self.rollouts)  # Serverless: Knative revisions, canary traffic

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "FakeKServeController":
        """Install KServe's objects and a node in the store, then start reconciling."""
        if self._started:
            raise RuntimeError("FakeKServeController already started")
        self._started = True
        self.work_dir.mkdir(parents=True, exist_ok=True)
        install_kserve(self.store)
        self._ensure_node()
        self._reconciler.start()
        self._listeners = [
            self.store.add_listener(self._on_isvc, ISVC_RESOURCE, send_initial=True),
            self.store.add_listener(self._on_pod, "pods", label_selector=f"{ISVC_LABEL},component=predictor"),
        ]
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop reconciling and every pod's processes; returns when they are gone (idempotent)."""
        self._stopped.set()
        for listener in self._listeners:
            listener.close()
        self.rollouts.stop()
        self.revisions.stop()
        self._listeners = []
        with self._queue_cv:
            self._queue_cv.notify_all()
        if self._reconciler.is_alive():
            self._reconciler.join(5.0)
        with self._lock:
            self.runners.clear()
            runners = list(self._all_runners)  # pods deleted earlier may still be stopping too
        for runner in runners:
            runner.stop()
        deadline = time.monotonic() + timeout_s
        for runner in runners:
            if not runner.join(max(0.1, deadline - time.monotonic())):
                log.warning("fake kubelet for %s/%s did not stop within %.0fs", runner.namespace, runner.name,
                            timeout_s)

    def __enter__(self) -> "FakeKServeController":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- for tests --------------------------------------------------------------------------------
    def mark(self, namespace: str, name: str, what: str, detail: str = "") -> None:
        with self._lock:
            self.marks.append(Mark(time.time(), time.monotonic(), namespace, name, what, detail))

    def find(self, what: str, namespace: str | None = None) -> list[Mark]:
        """Marks of one kind (optionally in one namespace), oldest first."""
        with self._lock:
            return [m for m in self.marks if m.what == what and (namespace is None or m.namespace == namespace)]

    # --- helpers ------------------------------------------------------------------------------------
    def _emulator_host(self) -> str | None:
        host = self.emulator_host
        return host() if callable(host) else host

    def _allocate_gpus(self, uid: str, count: int) -> bool:
        with self._lock:
            if count and sum(self._gpus.values()) + count > self.settings.gpus_available:
                return False
            self._gpus[uid] = count
            return True

    def _release_gpus(self, uid: str) -> None:
        with self._lock:
            self._gpus.pop(uid, None)

    def _ensure_node(self) -> None:
        mem_kib = 0
        try:
            mem_kib = int(next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines()
                               if ln.startswith("MemTotal:")))
        except (OSError, StopIteration, ValueError):
            pass
        capacity = {"cpu": str(os.cpu_count() or 1), "memory": f"{mem_kib}Ki", "pods": "110"}
        if self.settings.gpus_available:
            capacity["nvidia.com/gpu"] = str(self.settings.gpus_available)
        try:
            self.store.create("nodes", {"metadata": {"name": NODE_NAME, "labels": {
                "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux"}}})
        except FakeKubeError as exc:
            if exc.code != 409:
                raise
        self.store.set_status("nodes", NODE_NAME, {
            "capacity": capacity, "allocatable": dict(capacity),
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "fake kubelet is posting ready status", "lastTransitionTime": now_rfc3339()}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE_NAME}],
        })

    def _event(self, obj: dict, reason: str, message: str, *, warning: bool = False,
               component: str = _COMPONENT) -> None:
        try:
            self.store.emit_event(obj, reason, message, type="Warning" if warning else "Normal", component=component)
        except FakeKubeError:
            pass

    # --- reconciling ----------------------------------------------------------------------------------
    def _on_isvc(self, event: StoreEvent) -> None:
        if self._stopped.is_set():
            return
        if event.type == DELETED:
            self.mark(event.namespace, event.name, "isvc-deleted")
            self._stop_pods(lambda r: r.pod["metadata"]["ownerReferences"][0]["uid"] == event.object["metadata"]["uid"])
            return
        if event.type != ADDED:  # a spec change rolls out (tests.fakes.kserve_rollout)
            (self.revisions if is_serverless(event.object) else self.rollouts).on_isvc_modified(event.object)
            return
        isvc = event.object
        ns, name = event.namespace, event.name
        self.mark(ns, name, "isvc-created")
        self.rollouts.created(isvc)
        revision = self.revisions.created(isvc) if is_serverless(isvc) else None
        self._start_predictor_pod(isvc, ns, name, revision=revision)

    def _start_predictor_pod(self, isvc: dict, ns: str, name: str, *, revision: str | None = None) -> None:
        """Create the predictor pod of the InferenceService's current spec (of `revision`, a Knative
        revision, when Serverless) and start its kubelet."""
        pod = self._render_pod(isvc, ns, name)
        if pod is None:
            return
        if revision is not None:
            pod = revision_pod(pod, isvc, revision)
        invalid = pod_spec_errors(pod)
        if invalid:  # the API server refuses the pod: the ReplicaSet says so, and no pod appears
            self._write_status(ns, name)
            prefix = pod["metadata"]["generateName"]
            replica_set = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
                "name": prefix.rstrip("-"), "namespace": ns,
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{isvc['metadata']['uid']}/replicaset"))}}
            self._event(replica_set, "FailedCreate", f'Error creating: Pod "{prefix}{uuid.uuid4().hex[:5]}" is '
                        f"invalid: {invalid[0]}", warning=True, component="replicaset-controller")
            self.mark(ns, name, "pod-invalid", invalid[0])
            return
        try:
            created = self.store.create("pods", pod, ns)
        except FakeKubeError as exc:  # the namespace is being deleted, or the isvc is already gone
            log.info("fake KServe could not create the predictor pod in %s: %s", ns, exc)
            return
        pod_name = created["metadata"]["name"]
        self.mark(ns, pod_name, "pod-created")
        self._write_status(ns, name)
        hooks = PodHooks(emulator_host=self._emulator_host, mark=self.mark, allocate_gpus=self._allocate_gpus,
                         release_gpus=self._release_gpus)
        runner = FakePodRunner(self.store, created, self.work_dir / ns / pod_name, self.settings, hooks)
        with self._lock:
            if self._stopped.is_set():
                return
            self.runners[created["metadata"]["uid"]] = runner
            self._all_runners.append(runner)
        runner.start()

    def _render_pod(self, isvc: dict, ns: str, name: str) -> dict | None:
        """The predictor pod: a custom predictor's own container, else the selected runtime's (None,
        with the failure in the status and an event, when no runtime serves the model)."""
        if is_custom_predictor(isvc):  # KServe's CustomPredictor: no runtime to select
            return render_custom_predictor_pod(isvc, storage_initializer_image=self.storage_initializer_image)
        runtimes = self.store.list("servingruntimes.serving.kserve.io", ns) + \
            self.store.list("clusterservingruntimes.serving.kserve.io")
        runtime, reason, message = select_runtime(isvc, runtimes)
        if runtime is None:
            self._write_status(ns, name, failure=(reason, message))
            self._event(isvc, "InternalError", message, warning=True)
            return None
        return render_predictor_pod(isvc, runtime, storage_initializer_image=self.storage_initializer_image)

    def _on_pod(self, event: StoreEvent) -> None:
        if self._stopped.is_set():
            return
        if event.type == DELETED:
            uid = event.object["metadata"]["uid"]
            self._stop_pods(lambda r: r.uid == uid)
        owner = next((ref for ref in event.object["metadata"].get("ownerReferences") or []
                      if ref.get("kind") == "InferenceService"), None)
        if owner is not None:
            self._enqueue(event.namespace, owner["name"])
            if event.type != DELETED:
                self._settle(event.namespace, owner["name"])

    def _settle(self, namespace: str, name: str) -> None:
        try:
            isvc = self.store.get(ISVC_RESOURCE, name, namespace)
        except FakeKubeError:
            return
        (self.revisions if is_serverless(isvc) else self.rollouts).settle(namespace, name)

    def _enqueue(self, namespace: str, name: str) -> None:
        """Reconcile this InferenceService's status `reconcile_delay_s` from now (changes coalesce)."""
        with self._queue_cv:
            self._pending.setdefault((namespace, name), time.monotonic() + self.reconcile_delay_s)
            self._queue_cv.notify()

    def _reconcile_loop(self) -> None:
        while not self._stopped.is_set():
            with self._queue_cv:
                now = time.monotonic()
                due = [key for key, at in self._pending.items() if at <= now]
                if not due:
                    wait = min(self._pending.values(), default=now + 1.0) - now
                    self._queue_cv.wait(max(0.01, wait))
                    continue
                for key in due:
                    del self._pending[key]
            for namespace, name in due:
                try:
                    self._write_status(namespace, name)
                except Exception:  # noqa: BLE001 - keep reconciling the others
                    log.exception("fake KServe could not update %s/%s", namespace, name)

    def _stop_pods(self, which: Callable[[FakePodRunner], bool]) -> None:
        with self._lock:
            chosen = [uid for uid, r in self.runners.items() if which(r)]
            runners = [self.runners.pop(uid) for uid in chosen]
        for runner in runners:
            runner.stop()  # non-blocking: the runner's thread stops TorchServe's whole group

    def _write_status(self, namespace: str, name: str, failure: tuple[str, str] | None = None) -> None:
        with self._lock:
            try:
                isvc = self.store.get(ISVC_RESOURCE, name, namespace)
            except FakeKubeError:
                return
            pods = sorted(self.store.list("pods", namespace, label_selector=f"{ISVC_LABEL}={name}"),
                          key=lambda p: p["metadata"].get("creationTimestamp", ""))
            was_ready = _ready(isvc)
            status = propagate_status(
                isvc, pods, now=now_rfc3339(), ingress_configured=self.ingress_configured,
                url=f"http://{name}-{namespace}.{self.ingress_domain}",
                address_url=f"http://{name}-predictor.{namespace}.svc.cluster.local", failure=failure)
            if is_serverless(isvc):
                status = self.revisions.status(isvc, pods, status)
            try:
                updated = self.store.set_status(ISVC_RESOURCE, name, status, namespace)
            except FakeKubeError:
                return
            if _ready(updated) and not was_ready:
                self.mark(namespace, name, "isvc-ready")
                self._event(updated, "InferenceServiceReady", f"InferenceService [{name}] is Ready")
            elif was_ready and not _ready(updated):
                self.mark(namespace, name, "isvc-not-ready")


def _ready(isvc: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (isvc.get("status") or {}).get("conditions") or [])

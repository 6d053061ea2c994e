"""The FAKE kubelet of the fake KServe controller: runs one predictor pod on this machine.

Flow (one worker thread per pod, the way a kubelet walks a pod through its life):
schedule (nvidia.com/gpu against the fake node's GPUs; no room: PodScheduled=False Unschedulable
plus a FailedScheduling event, and the pod stays Pending) -> storage-initializer: the REAL
`run_storage_initializer` (kserve-storage) downloads the storageUri into the pod's model
directory, its log streamed into the container log; a failure is `terminated` exit 1 reason
Error, then a restart, then `Init:CrashLoopBackOff` -> kserve-container: the REAL TorchServe
(`harness.targets.torchserve.TorchServe`) on the downloaded model, its stdout streamed into the
container log; a READY worker makes the container ready, the pod Running and Ready, and pod port
8080 (plus the pod's management and metrics ports) forwards to it. A worker that keeps dying, a
TorchServe that exits, or a process group whose memory exceeds the container's limit ends the
container (exit 1 Error / the exit status / 137 OOMKilled); kubelet restarts it once at once,
then backs off in CrashLoopBackOff, keeping the previous instance's log (`--previous`).

What is simulated (rule-based, on purpose): the image pull (an image whose name contains one of
`unpullable_markers` fails with containerd's NotFound, then ImagePullBackOff; every other image
is "already present"), and the memory limit (a watchdog sums the RSS of TorchServe's process
group every 0.2 s and SIGKILLs the group above the limit, as the cgroup OOM killer would).
Everything else is the real program's behaviour and output.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.archive import parse_properties
from harness.errors import HarnessError
from harness.fakes.kserve_objects import (
    MODEL_CONTAINER, PREDICTOR_PORT, STORAGE_INITIALIZER, gpu_request, image_reference, memory_limit,
)
from harness.fakes.kube_errors import FakeKubeError
from harness.fakes.kube_store import FakeKubeStore, now_rfc3339
from harness.procs import ProcessGroup
from harness.targets.storage_initializer import run_storage_initializer
from harness.targets.torchserve import TorchServe

log = logging.getLogger(__name__)

NODE_NAME = "fake-kserve-node"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TERMINATION_MESSAGE_BYTES = 2048  # FallbackToLogsOnError: the log's tail, at most 2 KiB / 80 lines
_TERMINATION_MESSAGE_LINES = 80


class _Stopped(Exception):
    """The pod was deleted (or the controller stopped): leave the lifecycle at once."""


@dataclass
class KubeletSettings:
    """Timings and rules of the fake kubelet (defaults follow the real kubelet where it has one).

    Attributes:
        gpus_available: nvidia.com/gpu capacity of the single fake node.
        unpullable_markers: an image whose name contains one of these cannot be pulled (simulated).
        sync_period_s: how long a terminated container stays `terminated` before the kubelet acts
            (PLEG relists every second).
        immediate_restarts: restarts done without back-off (the kubelet restarts once at once).
        backoff_s / max_backoff_s: CrashLoopBackOff delay, doubling per restart (10 s / 5 min).
        startup_timeout_s: how long the kserve-container may take to get a READY worker.
        storage_timeout_s: deadline of one storage-initializer run.
        memory_poll_s: the memory watchdog's sampling period.
        cluster_autoscaler: play a cluster autoscaler whose node groups cannot fit the pod either:
            `autoscaler_scan_s` after FailedScheduling it records NotTriggerScaleUp on the pod (GKE
            does; without an autoscaler, as on kind, nothing more is ever said).
        autoscaler_scan_s: the autoscaler's reaction time (a real one scans every 10 s).
    """

    gpus_available: int = 0
    unpullable_markers: tuple[str, ...] = ("does-not-exist",)
    sync_period_s: float = 1.0
    immediate_restarts: int = 1
    backoff_s: float = 10.0
    max_backoff_s: float = 300.0
    startup_timeout_s: float = 180.0
    storage_timeout_s: float = 120.0
    memory_poll_s: float = 0.2
    cluster_autoscaler: bool = False
    autoscaler_scan_s: float = 2.0


@dataclass
class PodHooks:
    """What the pod runner needs from its controller."""

    emulator_host: Callable[[], str | None]
    mark: Callable[..., None]
    allocate_gpus: Callable[[str, int], bool]
    release_gpus: Callable[[str], None]


# --- helpers ---------------------------------------------------------------------------------------

class LogPump:
    """Copies the lines a process appends to `path` into a container log, every `interval_s`."""

    def __init__(self, path: Path, sink: Callable[[str], None], interval_s: float = 0.2) -> None:
        self.path = path
        self.sink = sink
        self.interval_s = interval_s
        self._offset = 0
        self._partial = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fake-kubelet log {path.name}", daemon=True)

    def start(self) -> "LogPump":
        self._thread.start()
        return self

    def _read(self, final: bool = False) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if final and self._partial:
            lines.append(self._partial)
            self._partial = b""
        if lines:
            self.sink(b"\n".join(lines).decode(errors="replace") + "\n")

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._read()

    def stop(self, *, flush: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        if flush:
            self._read(final=True)


def _rss_bytes(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "statm").read_text().split()[1]) * _PAGE
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError, ValueError):
        return 0


class MemoryWatchdog:
    """SIGKILLs a process group whose summed RSS exceeds `limit_bytes` (the cgroup OOM killer's job)."""

    def __init__(self, group: ProcessGroup, limit_bytes: int, interval_s: float = 0.2) -> None:
        self.group = group
        self.limit_bytes = limit_bytes
        self.interval_s = interval_s
        self.killed = False
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-kubelet memory watchdog", daemon=True)

    def start(self) -> "MemoryWatchdog":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = sum(_rss_bytes(pid) for pid in self.group.members())
            self.peak_bytes = max(self.peak_bytes, rss)
            if rss > self.limit_bytes and self.group.pid:
                self.killed = True
                try:
                    os.killpg(self.group.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(2.0)


def _own_children_mentioning(*markers: str) -> list[int]:
    """PIDs of this process's direct children whose command line contains every marker."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == me and all(m.encode() in (entry / "cmdline").read_bytes() for m in markers):
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError, ValueError):
            continue
    return found


def _tail_message(text: str) -> str:
    lines = text.rstrip("\n").splitlines()[-_TERMINATION_MESSAGE_LINES:]
    return "\n".join(lines).encode()[-_TERMINATION_MESSAGE_BYTES:].decode(errors="ignore")


def _model_names(model_dir: Path) -> list[str]:
    """Models config.properties' model_snapshot registers (what TorchServe will load)."""
    path = model_dir / "config" / "config.properties"
    try:
        snapshot = parse_properties(path.read_text()).get("model_snapshot")
        return list(json.loads(snapshot).get("models", {})) if snapshot else []
    except (OSError, ValueError, AttributeError):
        return []


def _pod_port_map(model_dir: Path, server: TorchServe) -> dict[int, int]:
    """Pod port -> local port: 8080 and the addresses config.properties gives TorchServe in the pod.

    In the pod, inference and management may share one port (the harness renders both on 8085);
    here they are separate, so a shared pod port forwards to the management API (the inference API
    is pod port 8080 anyway).
    """
    props = {}
    try:
        props = parse_properties((model_dir / "config" / "config.properties").read_text())
    except OSError:
        pass

    def port(key: str) -> int | None:
        value = props.get(key, "").rstrip("/")
        tail = value.rsplit(":", 1)[-1]
        return int(tail) if tail.isdigit() else None

    ports = {PREDICTOR_PORT: server.ports.inference}
    for key, local in (("inference_address", server.ports.inference), ("metrics_address", server.ports.metrics),
                       ("management_address", server.ports.management)):
        remote = port(key)
        if remote and remote != PREDICTOR_PORT:
            ports[remote] = local
    return ports


# --- the pod ---------------------------------------------------------------------------------------

@dataclass
class _Container:
    name: str
    image: str
    restarts: int = 0
    state: dict = field(default_factory=dict)
    last: dict = field(default_factory=dict)
    ready: bool = False
    started: bool | None = None
    container_id: str = ""

    def status(self) -> dict:
        out = {"name": self.name, "image": self.image, "imageID": "", "ready": self.ready,
               "restartCount": self.restarts, "state": self.state, "lastState": self.last}
        if self.container_id:
            out["containerID"] = self.container_id
            out["imageID"] = f"{image_reference(self.image).rsplit(':', 1)[0]}@sha256:{'0' * 64}"
        if self.started is not None:
            out["started"] = self.started
        return out


class FakePodRunner:
    """Runs one predictor pod: the fake kubelet's work for it, on its own thread.

    Args:
        store: the FAKE store.
        pod: the pod as created.
        work_dir: this pod's directory (model dir, logs, TorchServe run directories).
        settings: kubelet timings and rules.
        hooks: the controller's callbacks (emulator host, timeline, GPU accounting).
    """

    def __init__(self, store: FakeKubeStore, pod: dict, work_dir: Path, settings: KubeletSettings,
                 hooks: PodHooks) -> None:
        self.store = store
        self.pod = pod
        self.namespace = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.work_dir = work_dir
        self.model_dir = work_dir / "mnt" / "models"
        self.settings = settings
        self.hooks = hooks
        spec = pod["spec"]
        self.init_spec = spec["initContainers"][0]
        self.main_spec = spec["containers"][0]
        self.init = _Container(STORAGE_INITIALIZER, self.init_spec["image"])
        self.main = _Container(MODEL_CONTAINER, self.main_spec["image"])
        self.conditions: dict[str, dict] = {}
        self.phase = "Pending"
        self.extra: dict = {}
        self.server: TorchServe | None = None
        self.forwarded: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fake-kubelet {self.namespace}/{self.name}",
                                        daemon=True)

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "FakePodRunner":
        self._thread.start()
        return self

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the pod to stop (non-blocking): TorchServe's group gets SIGTERM and a running download
        SIGKILL now; the worker thread finishes the cleanup (whole process groups). `join()` waits."""
        if self._stop.is_set():
            return
        self._stop.set()
        with self._lock:
            server = self.server
        if server and server.group and server.group.pid:
            try:
                os.killpg(server.group.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self._thread.is_alive():
            threading.Thread(target=self._reap_downloads, name=f"fake-kubelet reaper {self.name}",
                             daemon=True).start()

    def _reap_downloads(self) -> None:
        """Kill the storage-initializer while the worker waits on it (it may have been just starting:
        retry until the worker is done). run_storage_initializer gives it a session of its own."""
        deadline = time.monotonic() + 30.0
        while self._thread.is_alive() and time.monotonic() < deadline:
            for pid in _own_children_mentioning("harness.targets.storage_initializer", str(self.model_dir)):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._thread.join(0.1)

    def join(self, timeout_s: float = 30.0) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._lifecycle()
        except _Stopped:
            pass
        except Exception:  # noqa: BLE001 - a broken fake must say so, not hang the test silently
            log.exception("fake kubelet failed on pod %s/%s", self.namespace, self.name)
            self.hooks.mark(self.namespace, self.name, "kubelet-error")
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        with self._lock:
            server, self.server = self.server, None
        if server:
            server.stop()
        for port in self.forwarded:
            self.store.clear_port_forward(self.namespace, self.name, port)
        self.forwarded = []
        self.hooks.release_gpus(self.uid)
        self.hooks.mark(self.namespace, self.name, "pod-stopped")

    def _wait(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopped()

    # --- API writes -----------------------------------------------------------------------------
    def _set_condition(self, ctype: str, ok: bool, reason: str | None = None, message: str | None = None) -> None:
        status = "True" if ok else "False"
        old = self.conditions.get(ctype) or {}
        cond = {"type": ctype, "status": status, "lastProbeTime": None,
                "lastTransitionTime": old.get("lastTransitionTime") if old.get("status") == status else now_rfc3339()}
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        self.conditions[ctype] = cond

    def _publish(self) -> None:
        if self.stopping:
            raise _Stopped()
        order = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
        status = {"phase": self.phase, **self.extra,
                  "conditions": [self.conditions[c] for c in order if c in self.conditions],
                  "qosClass": self._qos_class()}
        if "PodScheduled" in self.conditions and self.conditions["PodScheduled"]["status"] == "True":
            status["initContainerStatuses"] = [self.init.status()]
            status["containerStatuses"] = [self.main.status()]
        try:
            self.pod = self.store.set_status("pods", self.name, status, self.namespace)
        except FakeKubeError as exc:  # deleted (404) or its namespace is going away
            raise _Stopped() from exc

    def _qos_class(self) -> str:
        res = self.main_spec.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if lim and all(lim.get(k) and req.get(k, lim[k]) == lim[k] for k in ("cpu", "memory")):
            return "Guaranteed"
        return "Burstable" if req or lim else "BestEffort"

    def _event(self, reason: str, message: str, *, warning: bool = False, component: str = "kubelet") -> None:
        try:
            self.store.emit_event(self.pod, reason, message, type="Warning" if warning else "Normal",
                                  component=component)
        except FakeKubeError:
            pass  # the namespace is terminating: nothing to report to

    def _log(self, container: str) -> Callable[[str], None]:
        def sink(text: str) -> None:
            if not self.stopping:
                self.store.append_log(self.namespace, self.name, container, text)
        return sink

    def _mark(self, what: str, detail: str = "") -> None:
        self.hooks.mark(self.namespace, self.name, what, detail)

    # --- the kubelet's walk through the pod ---------------------------------------------------------
    def _lifecycle(self) -> None:
        if not self._schedule():
            self._stop.wait()  # stays Pending until deleted: no node will ever fit it
            raise _Stopped()
        if not self._init_container():
            return
        self._model_container()

    def _schedule(self) -> bool:
        gpus = gpu_request(self.pod)
        if not self.hooks.allocate_gpus(self.uid, gpus):
            message = ("0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are "
                       "available: 1 No preemption victims found for incoming pod.")
            self._set_condition("PodScheduled", False, "Unschedulable", message)
            self._publish()
            self._event("FailedScheduling", message, warning=True, component="default-scheduler")
            self._mark("unschedulable", message)
            if self.settings.cluster_autoscaler:
                self._wait(self.settings.autoscaler_scan_s)
                self._event("NotTriggerScaleUp", "pod didn't trigger scale-up (it wouldn't fit if a new node is "
                            "added): 1 Insufficient nvidia.com/gpu", component="cluster-autoscaler")
            return False
        try:
            self.pod = self.store.patch("pods", self.name, {"spec": {"nodeName": NODE_NAME}}, self.namespace)
        except FakeKubeError as exc:
            raise _Stopped() from exc
        self._event("Scheduled", f"Successfully assigned {self.namespace}/{self.name} to {NODE_NAME}",
                    component="default-scheduler")
        self.extra = {"hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
                      "startTime": now_rfc3339()}
        self._set_condition("PodReadyToStartContainers", True)
        self._set_condition("Initialized", False, "ContainersNotInitialized",
                            f"containers with incomplete status: [{STORAGE_INITIALIZER}]")
        unready = f"containers with unready status: [{MODEL_CONTAINER}]"
        self._set_condition("Ready", False, "ContainersNotReady", unready)
        self._set_condition("ContainersReady", False, "ContainersNotReady", unready)
        self._set_condition("PodScheduled", True)
        self.init.state = {"waiting": {"reason": "PodInitializing"}}
        self.main.state = {"waiting": {"reason": "PodInitializing"}}
        self._publish()
        self._mark("scheduled")
        return True

    def _pull(self, c: _Container) -> bool:
        """The (simulated) image pull: True when the image is there."""
        if not any(marker in c.image for marker in self.settings.unpullable_markers):
            self._event("Pulled", f'Container image "{c.image}" already present on machine')
            return True
        ref = image_reference(c.image)
        message = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": failed to resolve '
                   f'reference "{ref}": {ref}: not found')
        self._event("Pulling", f'Pulling image "{c.image}"')
        c.state = {"waiting": {"reason": "ErrImagePull", "message": message}}
        self._publish()
        self._event("Failed", f'Failed to pull image "{c.image}": {message}', warning=True)
        self._event("Failed", "Error: ErrImagePull", warning=True)
        self._mark("image-pull-failed", c.image)
        self._wait(self.settings.sync_period_s)
        c.state = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{c.image}"'}}
        self._publish()
        self._event("BackOff", f'Back-off pulling image "{c.image}"')
        self._event("Failed", "Error: ImagePullBackOff", warning=True)
        self._stop.wait()  # a missing image stays missing
        raise _Stopped()

    def _start_instance(self, c: _Container) -> str:
        if c.restarts:
            self.store.rotate_container_log(self.namespace, self.name, c.name)
        c.container_id = f"containerd://{uuid.uuid4().hex}{uuid.uuid4().hex}"
        started = now_rfc3339()
        c.state = {"running": {"startedAt": started}}
        c.ready, c.started = False, (False if c.name == MODEL_CONTAINER else None)
        self._event("Created", f"Created container {c.name}")
        self._event("Started", f"Started container {c.name}")
        return started

    def _crashed(self, c: _Container, terminated: dict) -> None:
        """The container ended: show it terminated, then restart it (at once, or after back-off)."""
        c.state, c.ready = {"terminated": terminated}, False
        if c.started is not None:
            c.started = False
        self._publish()
        self._wait(self.settings.sync_period_s)
        delay = self._backoff(c.restarts)
        c.last = {"terminated": terminated}
        if delay > 0:
            c.state = {"waiting": {"reason": "CrashLoopBackOff",
                                   "message": f"back-off {delay:g}s restarting failed container={c.name} "
                                              f"pod={self.name}_{self.namespace}({self.uid})"}}
            self._publish()
            self._event("BackOff", f"Back-off restarting failed container {c.name} in pod "
                                   f"{self.name}_{self.namespace}({self.uid})", warning=True)
            self._mark("crash-loop-backoff", c.name)
            self._wait(delay)
        c.restarts += 1

    def _backoff(self, restarts_done: int) -> float:
        n = restarts_done - self.settings.immediate_restarts
        if n < 0:
            return 0.0
        return min(self.settings.backoff_s * 2 ** n, self.settings.max_backoff_s)

    def _init_container(self) -> bool:
        c = self.init
        if not self._pull(c):
            return False
        uri = self.init_spec["args"][0]
        while True:
            started = self._start_instance(c)
            self._publish()
            self._mark("storage-initializer-started")
            log_path = self.work_dir / f"storage-initializer.{c.restarts}.log"
            pump = LogPump(log_path, self._log(c.name)).start()
            error: HarnessError | None = None
            try:
                run_storage_initializer(uri, self.model_dir, log_path, emulator_host=self.hooks.emulator_host(),
                                        timeout_s=self.settings.storage_timeout_s)
            except HarnessError as exc:
                error = exc
            finally:
                pump.stop(flush=not self.stopping)
            if self.stopping:
                raise _Stopped()
            text = log_path.read_text(errors="replace") if log_path.is_file() else ""
            finished = now_rfc3339()
            if error is None:
                c.state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started,
                                          "finishedAt": finished, "containerID": c.container_id}}
                self._set_condition("Initialized", True)
                self._mark("storage-initializer-succeeded")
                return True
            self._mark("storage-initializer-failed", error.what)
            self._crashed(c, {"exitCode": 1, "reason": "Error", "message": _tail_message(text),
                              "startedAt": started, "finishedAt": finished, "containerID": c.container_id})

    def _model_container(self) -> None:
        c = self.main
        if not self._pull(c):
            return
        env = {e["name"]: e.get("value", "") for e in self.main_spec.get("env") or []}
        envelope = env.get("TS_SERVICE_ENVELOPE") or "none"
        names = _model_names(self.model_dir)
        model = names[0] if names else self.pod["metadata"]["labels"].get("serving.kserve.io/inferenceservice", "")
        limit = memory_limit(self.main_spec)
        while True:
            started = self._start_instance(c)
            self._publish()
            terminated = self._run_torchserve(c, started, envelope, model, limit)
            if self.stopping:
                raise _Stopped()
            self._crashed(c, terminated)

    def _run_torchserve(self, c: _Container, started: str, envelope: str, model: str, limit: int | None) -> dict:
        """One instance of the kserve-container; returns its `terminated` state when it ends."""
        server = TorchServe(self.model_dir, self.work_dir / MODEL_CONTAINER / str(c.restarts), envelope=envelope)
        with self._lock:
            if self.stopping:
                raise _Stopped()
            self.server = server
        try:
            server.start()
        except HarnessError as exc:  # no config.properties, no torchserve: the process cannot start
            self._log(c.name)(f"{exc.what}\n")
            return {"exitCode": 1, "reason": "Error", "startedAt": started, "finishedAt": now_rfc3339(),
                    "containerID": c.container_id}
        if self.stopping:  # stop() came before the group existed: it could not signal it
            server.stop()
            raise _Stopped()
        self._mark("container-started")
        pump = LogPump(server.work_dir / "torchserve.out", self._log(c.name)).start()
        watchdog = MemoryWatchdog(server.group, limit, self.settings.memory_poll_s).start() if limit else None
        try:
            exit_code = self._serve(c, server, model)
        finally:
            if watchdog:
                watchdog.stop()
            with self._lock:
                self.server = None
            server.stop()
            pump.stop(flush=not self.stopping)
            for port in self.forwarded:
                self.store.clear_port_forward(self.namespace, self.name, port)
            self.forwarded = []
        finished = now_rfc3339()
        if watchdog and watchdog.killed:
            self._mark("oom-killed", f"rss {watchdog.peak_bytes} > limit {limit}")
            return {"exitCode": 137, "reason": "OOMKilled", "startedAt": started, "finishedAt": finished,
                    "containerID": c.container_id}
        self._mark("container-terminated", f"exit code {exit_code}")
        return {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error", "startedAt": started,
                "finishedAt": finished, "containerID": c.container_id}

    def _serve(self, c: _Container, server: TorchServe, model: str) -> int:
        """Wait for READY, serve until the process ends; the container's exit code."""
        try:
            server.wait_ready(model, self.settings.startup_timeout_s)
        except HarnessError as exc:
            if self.stopping:
                raise _Stopped() from exc
            code = server.group.exited() if server.group else None
            # A worker that keeps dying leaves the frontend up: the container is failed (exit 1).
            return 1 if code is None else (128 - code if code < 0 else code)
        ports = _pod_port_map(self.model_dir, server)
        for remote, local in ports.items():
            self.store.set_port_forward(self.namespace, self.name, remote, ("127.0.0.1", local))
        self.forwarded = list(ports)
        c.ready, c.started = True, True
        self.phase = "Running"
        self._set_condition("Ready", True)
        self._set_condition("ContainersReady", True)
        self._publish()
        self._mark("container-ready", json.dumps({str(k): v for k, v in ports.items()}))
        while True:
            code = server.group.exited() if server.group else 1
            if code is not None:
                break
            self._wait(0.2)
        c.ready = False
        self._set_condition("Ready", False, "ContainersNotReady", f"containers with unready status: [{c.name}]")
        self._set_condition("ContainersReady", False, "ContainersNotReady",
                            f"containers with unready status: [{c.name}]")
        return 128 - code if code < 0 else code

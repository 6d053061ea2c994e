"""The FAKE kubelet of the fake KServe controller: runs one predictor pod on this machine.

Flow (one worker thread per pod, the way a kubelet walks a pod through its life):
schedule (nvidia.com/gpu against the fake node's GPUs; no room: PodScheduled=False Unschedulable
plus a FailedScheduling event, and the pod stays Pending) -> storage-initializer: the REAL
`run_storage_initializer` (kserve-storage) downloads the storageUri into the pod's model
directory, its log streamed into the container log; a failure is `terminated` exit 1 reason
Error, then a restart, then `Init:CrashLoopBackOff` -> kserve-container: the REAL TorchServe
(`harness.runtimes.torchserve.process.TorchServe`) on the downloaded model, its stdout streamed into the
container log; a READY worker makes the container ready, the pod Running and Ready, and pod port
8080 (plus the pod's management and metrics ports) forwards to it. A worker that keeps dying, a
TorchServe that exits, or a process group whose memory exceeds the container's limit ends the
container (exit 1 Error / the exit status / 137 OOMKilled); kubelet restarts it once at once,
then backs off in CrashLoopBackOff, keeping the previous instance's log (`--previous`).

A custom predictor's kserve-container (runtime: kserve: a `python` command, no runtime) runs as
written instead: the python of the ModelServer image's environment (the image's tag picks it),
the command and args with /mnt/models replaced by the pod's download, on free local ports that
pod ports 8080 and 8081 forward to (`harness.runtimes.kserve.process.ModelServerProcess`); it is
ready when KServe's readiness endpoints answer and the readinessProbe's port accepts, and its
exit (a load() that raises) takes the same terminated / restart / CrashLoopBackOff path. Without
STORAGE_URI in its env the pod has no storage-initializer, as KServe renders it.

A ready model container answers pods/exec (tests.fakes.kube_exec): the command runs on this
machine with the container's env; `nvidia-smi` is the FAKE tests/fakes/fake_nvidia_smi when the
pod's annotation fake.kserve-harness/nvidia-smi names what it reports, else it is not in the image.

What is simulated (rule-based, on purpose): the image pull (an image whose name contains one of
`unpullable_markers` fails with containerd's NotFound, then ImagePullBackOff; the first pod that
needs any other image on the node pulls it for `image_pull_s`, with the kubelet's Pulling and
"Successfully pulled image ... in 400ms (400ms including waiting). Image size: N bytes." events;
later pods find it "already present on machine"), and the memory limit (a watchdog sums the RSS
of TorchServe's process group every 0.2 s and SIGKILLs the group above the limit, as the cgroup
OOM killer would).
Everything else is the real program's behaviour and output. Events, conditions and container
states carry the API's own timestamps (seconds; the scheduler's Scheduled event is an
events.k8s.io one, with a microsecond eventTime and no first/lastTimestamp), so a cold start can be
read from them as from a real cluster.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Protocol

from harness.errors import DeployError, HarnessError
from harness.procs import ProcessGroup
from harness.runtimes.environment import default_cache_dir, runtime_environment
from harness.runtimes.kserve.image import DEFAULT_IMAGE as MODELSERVER_DEFAULT_IMAGE
from harness.runtimes.kserve.image import IMAGES as MODELSERVER_IMAGES
from harness.runtimes.kserve.image import ModelServerImage
from harness.runtimes.kserve.process import ModelServerProcess
from harness.runtimes.torchserve.archive import parse_properties
from harness.runtimes.torchserve.image import runtime_image_of
from harness.runtimes.torchserve.server import ImageServer
from harness.storage.initializer import DOWNLOAD_SCRIPT, run_storage_initializer
from harness.waits import wait_until
from tests.fakes.kserve_objects import (
    GRPC_PORT, MODEL_CONTAINER, MODEL_MOUNT, PREDICTOR_PORT, STORAGE_INITIALIZER, gpu_request, image_reference,
    memory_limit,
)
from tests.fakes.kube_errors import FakeKubeError
from tests.fakes.kube_exec import set_exec_handler
from tests.fakes.kube_store import FakeKubeStore, now_rfc3339

log = logging.getLogger(__name__)

NODE_NAME = "fake-kserve-node"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TERMINATION_MESSAGE_BYTES = 2048  # FallbackToLogsOnError: the log's tail, at most 2 KiB / 80 lines
_TERMINATION_MESSAGE_LINES = 80
# The FAKE nvidia-smi is on the model container's PATH only when the pod asks for one of its states.
NVIDIA_SMI_ANNOTATION = "fake.kserve-harness/nvidia-smi"
FAKE_NVIDIA_SMI = Path(__file__).with_name("fake_nvidia_smi")
EXEC_TIMEOUT_S = 30.0


class _Stopped(Exception):
    """The pod was deleted (or the controller stopped): leave the lifecycle at once."""


@dataclass
class KubeletSettings:
    """Timings and rules of the fake kubelet (defaults follow the real kubelet where it has one).

    Attributes:
        gpus_available: nvidia.com/gpu capacity of the single fake node.
        unpullable_markers: an image whose name contains one of these cannot be pulled (simulated).
        image_pull_s / image_size_bytes: a simulated pull's duration and the image size it reports.
        images_present: the node's images: a pod finds these "already present"; a pulled one joins them.
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
        cache_dir: where the runtime environments live (the "image" each container runs).
    """

    gpus_available: int = 0
    unpullable_markers: tuple[str, ...] = ("does-not-exist",)
    image_pull_s: float = 0.4
    image_size_bytes: int = 1_843_200_000
    images_present: set[str] = field(default_factory=set)
    sync_period_s: float = 1.0
    immediate_restarts: int = 1
    backoff_s: float = 10.0
    max_backoff_s: float = 300.0
    startup_timeout_s: float = 180.0
    storage_timeout_s: float = 120.0
    memory_poll_s: float = 0.2
    cluster_autoscaler: bool = False
    autoscaler_scan_s: float = 2.0
    cache_dir: Path = field(default_factory=default_cache_dir)


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
    """SIGKILLs a container's process groups when their summed RSS exceeds `limit_bytes` (the
    cgroup OOM killer's job: TorchServe and its front share the container's memory)."""

    def __init__(self, server: "_Server", limit_bytes: int, interval_s: float = 0.2) -> None:
        self.server = server
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
            groups = self.server.groups()
            rss = sum(_rss_bytes(pid) for g in groups for pid in g.members())
            self.peak_bytes = max(self.peak_bytes, rss)
            if rss > self.limit_bytes:
                self.killed = True
                for g in groups:
                    try:
                        os.killpg(g.pid, signal.SIGKILL)
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


def _go_duration(seconds: float) -> str:
    """A duration as the kubelet prints a pull's (Go's time.Duration, truncated to milliseconds)."""
    ms = int(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60_000)
    text = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{text}" if minutes else text


def _micro_time() -> str:
    """metav1.MicroTime: what events.k8s.io events carry in eventTime."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def _pod_port_map(model_dir: Path, server: ImageServer) -> dict[int, int]:
    """Pod port -> local port: the front (8080 REST, 8081 gRPC) and the addresses config.properties
    gives TorchServe in the pod (plus its gRPC inference port, 7070 by default).

    Inference and management may share one pod port (the harness renders both on 8085); TorchServe
    here then shares one local port for both too, so that pod port reaches both APIs, as in a pod.
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

    ts = server.torchserve
    ports = {PREDICTOR_PORT: server.front.http_port, GRPC_PORT: server.front.grpc_port} if server.front else {}
    grpc_remote = int(props["grpc_inference_port"]) if props.get("grpc_inference_port", "").isdigit() else 7070
    ports[grpc_remote] = ts.ports.grpc_inference
    for key, local in (("inference_address", ts.ports.inference), ("metrics_address", ts.ports.metrics),
                       ("management_address", ts.ports.management)):
        remote = port(key)
        if remote and remote not in ports:
            ports[remote] = local
    return ports


# --- what the kserve-container runs ------------------------------------------------------------------

class _Server(Protocol):
    """One instance of the kserve-container's program (ImageServer, _ModelServerInstance)."""

    def start(self) -> object: ...
    def wait_ready(self, model: str, timeout_s: float) -> float: ...
    def groups(self) -> list[ProcessGroup]: ...
    def exited(self) -> int | None: ...
    def terminate(self) -> None: ...
    def stop(self) -> None: ...
    def stdout_files(self) -> list[Path]: ...


@dataclass
class _Program:
    """What the kserve-container runs, as this kubelet reads the container's spec.

    Attributes:
        model: the model whose readiness makes the container ready.
        build: one instance, not started yet, working in the given directory (raises HarnessError
            when its runtime environment cannot be had: the container cannot start).
        ports: pod port -> local port of a ready instance (what the port-forwards reach).
    """

    model: str
    build: Callable[[Path], _Server]
    ports: Callable[[_Server], dict[int, int]]


def runs_python(container: dict) -> bool:
    """The container's command is a Python program (a custom predictor), not the runtime's TorchServe."""
    command = container.get("command") or []
    return bool(command) and Path(str(command[0])).name.startswith("python")


def modelserver_image_of(reference: str) -> ModelServerImage:
    """The ModelServer image a reference stands for ("kserve-harness/kserve-modelserver:0.21.0-gpu" ->
    0.21.0); an unknown or untagged reference (a custom image built on it) stands for DEFAULT_IMAGE."""
    last = reference.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    return MODELSERVER_IMAGES.get(tag.removesuffix("-gpu"), MODELSERVER_IMAGES[MODELSERVER_DEFAULT_IMAGE])


def _flag(argv: list[str], name: str) -> str | None:
    """The value of `--name=value` or `--name value` in argv."""
    for i, arg in enumerate(argv):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _probe_port(container: dict) -> int | None:
    """The pod port of the container's TCP readinessProbe (KServe's default one), if any."""
    port = ((container.get("readinessProbe") or {}).get("tcpSocket") or {}).get("port")
    return int(port) if str(port).isdigit() else None


def _sigterm(groups: list[ProcessGroup]) -> None:
    for group in groups:
        if group.pid:
            try:
                os.killpg(group.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


class _ModelServerInstance:
    """One run of a custom predictor's `python` program: a ModelServerProcess on free local ports
    standing for the pod's 8080 (REST) and 8081 (gRPC), KServe's ModelServer defaults."""

    def __init__(self, process: ModelServerProcess, probe_port: int | None) -> None:
        self.process = process
        self.probe_port = probe_port

    def pod_ports(self) -> dict[int, int]:
        return {PREDICTOR_PORT: self.process.http_port, GRPC_PORT: self.process.grpc_port}

    def start(self) -> "_ModelServerInstance":
        self.process.start()
        return self

    def wait_ready(self, model: str, timeout_s: float) -> float:
        """KServe's readiness endpoints answer, then the readinessProbe's port accepts (for grpc-v2
        KServe probes 8081, which the ModelServer may open a moment after REST)."""
        start = time.monotonic()
        self.process.wait_ready(model, timeout_s)
        local = self.pod_ports().get(self.probe_port)
        if local:
            wait_until(lambda: self._tcp_ready(local), what=f"pod port {self.probe_port} accepting",
                       where=f"127.0.0.1:{local}", timeout_s=max(1.0, timeout_s - (time.monotonic() - start)))
        return time.monotonic() - start

    def _tcp_ready(self, port: int) -> bool | None:
        if (code := self.exited()) is not None:
            raise DeployError(f"{MODEL_CONTAINER} exited with status {code}", where=str(self.process.log_path))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return True
        except OSError:
            return None

    def groups(self) -> list[ProcessGroup]:
        return [self.process.group] if self.process.group else []

    def exited(self) -> int | None:
        return self.process.group.exited() if self.process.group else None

    def terminate(self) -> None:
        _sigterm(self.groups())

    def stop(self) -> None:
        self.process.stop()

    def stdout_files(self) -> list[Path]:
        return [self.process.log_path]  # the program's stdout and stderr: the container log


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
        # A custom predictor without STORAGE_URI gets no storage-initializer from KServe.
        self.init_spec: dict | None = (spec.get("initContainers") or [None])[0]
        self.main_spec = spec["containers"][0]
        self.init = _Container(STORAGE_INITIALIZER, self.init_spec["image"]) if self.init_spec else None
        self.main = _Container(MODEL_CONTAINER, self.main_spec["image"])
        self.conditions: dict[str, dict] = {}
        self.phase = "Pending"
        self.extra: dict = {}
        self.server: _Server | None = None
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
        if server:
            server.terminate()
        if self._thread.is_alive():
            threading.Thread(target=self._reap_downloads, name=f"fake-kubelet reaper {self.name}",
                             daemon=True).start()

    def _reap_downloads(self) -> None:
        """Kill the storage-initializer while the worker waits on it (it may have been just starting:
        retry until the worker is done). run_storage_initializer gives it a session of its own."""
        deadline = time.monotonic() + 30.0
        while self._thread.is_alive() and time.monotonic() < deadline:
            for pid in _own_children_mentioning(str(DOWNLOAD_SCRIPT), str(self.model_dir)):
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
            if self.init:
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

    def _scheduled_event(self) -> None:
        """The scheduler's Scheduled event: an events.k8s.io event, as core/v1 shows it."""
        meta = self.pod["metadata"]
        event = {"metadata": {"name": f"{self.name}.{uuid.uuid4().hex[:16]}", "namespace": self.namespace},
                 "involvedObject": {"kind": "Pod", "namespace": self.namespace, "name": self.name,
                                    "uid": self.uid, "apiVersion": "v1",
                                    "resourceVersion": meta.get("resourceVersion")},
                 "reason": "Scheduled", "message": f"Successfully assigned {self.namespace}/{self.name} to {NODE_NAME}",
                 "type": "Normal", "action": "Binding", "eventTime": _micro_time(), "firstTimestamp": None,
                 "lastTimestamp": None, "source": {}, "reportingComponent": "default-scheduler",
                 "reportingInstance": f"default-scheduler-{NODE_NAME}"}
        try:
            self.store.create("events", event, self.namespace)
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
        if self.init and not self._init_container():
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
        self._scheduled_event()
        self.extra = {"hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
                      "startTime": now_rfc3339()}
        self._set_condition("PodReadyToStartContainers", True)
        if self.init:
            self._set_condition("Initialized", False, "ContainersNotInitialized",
                                f"containers with incomplete status: [{STORAGE_INITIALIZER}]")
        else:
            self._set_condition("Initialized", True)
        unready = f"containers with unready status: [{MODEL_CONTAINER}]"
        self._set_condition("Ready", False, "ContainersNotReady", unready)
        self._set_condition("ContainersReady", False, "ContainersNotReady", unready)
        self._set_condition("PodScheduled", True)
        if self.init:
            self.init.state = {"waiting": {"reason": "PodInitializing"}}
        self.main.state = {"waiting": {"reason": "PodInitializing" if self.init else "ContainerCreating"}}
        self._publish()
        self._mark("scheduled")
        return True

    def _pull(self, c: _Container) -> bool:
        """The (simulated) image pull: True when the image is there."""
        if c.image in self.settings.images_present:
            self._event("Pulled", f'Container image "{c.image}" already present on machine')
            return True
        if not any(marker in c.image for marker in self.settings.unpullable_markers):
            self._event("Pulling", f'Pulling image "{c.image}"')
            start = time.monotonic()
            self._wait(self.settings.image_pull_s)  # the pull's own duration (simulated), not a synchronisation
            took = _go_duration(time.monotonic() - start)
            self.settings.images_present.add(c.image)
            self._event("Pulled", f'Successfully pulled image "{c.image}" in {took} ({took} including waiting). '
                                  f"Image size: {self.settings.image_size_bytes} bytes.")
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
        program = self._program()
        limit = memory_limit(self.main_spec)
        while True:
            started = self._start_instance(c)
            self._publish()
            terminated = self._run_instance(c, started, program, limit)
            if self.stopping:
                raise _Stopped()
            self._crashed(c, terminated)

    # --- the kserve-container's program ---------------------------------------------------------------
    def _program(self) -> _Program:
        """A custom predictor's `python` command (runtime: kserve), else the runtime's TorchServe."""
        return self._modelserver_program() if runs_python(self.main_spec) else self._torchserve_program()

    def _isvc_name(self) -> str:
        return self.pod["metadata"]["labels"].get("serving.kserve.io/inferenceservice", "")

    def _torchserve_program(self) -> _Program:
        env = {e["name"]: e.get("value", "") for e in self.main_spec.get("env") or []}
        envelope = env.get("TS_SERVICE_ENVELOPE") or "none"
        protocol = env.get("PROTOCOL_VERSION") or "v1"
        names = _model_names(self.model_dir)

        def build(work_dir: Path) -> ImageServer:
            runtime = runtime_environment(runtime_image_of(self.main.image), self.settings.cache_dir)
            return ImageServer(self.model_dir, work_dir, env=runtime, envelope=envelope, protocol=protocol)

        return _Program(names[0] if names else self._isvc_name(), build,
                        lambda server: _pod_port_map(self.model_dir, server))

    def _modelserver_program(self) -> _Program:
        spec = self.main_spec
        # The pod's /mnt/models is this pod's download directory on this machine.
        argv = [str(a).replace(MODEL_MOUNT, str(self.model_dir))
                for a in [*spec["command"][1:], *(spec.get("args") or [])]]
        env = {e["name"]: str(e["value"]) for e in spec.get("env") or [] if "value" in e}
        probe_port = _probe_port(spec)

        def build(work_dir: Path) -> _ModelServerInstance:
            runtime = runtime_environment(modelserver_image_of(self.main.image), self.settings.cache_dir)
            # Readiness on the V2 endpoints: the ModelServer serves V1 and V2 (and gRPC) whatever the
            # client speaks, and the container does not say which one it will get.
            process = ModelServerProcess(runtime, argv, work_dir, protocol="v2", name=MODEL_CONTAINER,
                                         log_name=f"{MODEL_CONTAINER}.out", extra_env=env)
            return _ModelServerInstance(process, probe_port)

        return _Program(_flag(argv, "--model_name") or self._isvc_name(), build,
                        lambda server: server.pod_ports())

    def _exec(self, container: str, argv: list[str]) -> tuple[bytes, bytes, int]:
        """Run an exec'd command for the running model container: on this machine, in the pod's
        work dir, with the container's env; `nvidia-smi` is the FAKE one when the pod's annotation
        names a state, else absent (FileNotFoundError, as for any executable not in the image)."""
        state = (self.pod["metadata"].get("annotations") or {}).get(NVIDIA_SMI_ANNOTATION)
        env = {**os.environ, **{e["name"]: str(e["value"]) for e in self.main_spec.get("env") or [] if "value" in e}}
        if argv[0] == "nvidia-smi":
            if state is None:
                raise FileNotFoundError(argv[0])
            argv, env["FAKE_NVIDIA_SMI"] = [sys.executable, str(FAKE_NVIDIA_SMI), *argv[1:]], state
        done = subprocess.run(argv, cwd=self.work_dir, env=env, capture_output=True, timeout=EXEC_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
        return done.stdout, done.stderr, done.returncode

    def _not_started(self, c: _Container, started: str, exc: HarnessError) -> dict:
        """The container's process could not even start (no environment, no program): exit 1."""
        self._log(c.name)(f"{exc.what}\n")
        return {"exitCode": 1, "reason": "Error", "startedAt": started, "finishedAt": now_rfc3339(),
                "containerID": c.container_id}

    def _run_instance(self, c: _Container, started: str, program: _Program, limit: int | None) -> dict:
        """One instance of the kserve-container; returns its `terminated` state when it ends."""
        try:
            server = program.build(self.work_dir / MODEL_CONTAINER / str(c.restarts))
        except HarnessError as exc:  # no runtime environment: the container cannot start
            return self._not_started(c, started, exc)
        with self._lock:
            if self.stopping:
                raise _Stopped()
            self.server = server
        try:
            server.start()
        except HarnessError as exc:  # no config.properties, no program: the process cannot start
            return self._not_started(c, started, exc)
        if self.stopping:  # stop() came before the group existed: it could not signal it
            server.stop()
            raise _Stopped()
        self._mark("container-started")
        pumps = [LogPump(p, self._log(c.name)).start() for p in server.stdout_files()]
        watchdog = MemoryWatchdog(server, limit, self.settings.memory_poll_s).start() if limit else None
        try:
            exit_code = self._serve(c, server, program)
        finally:
            if watchdog:
                watchdog.stop()
            with self._lock:
                self.server = None
            server.stop()
            for pump in pumps:
                pump.stop(flush=not self.stopping)
            for port in self.forwarded:
                self.store.clear_port_forward(self.namespace, self.name, port)
            self.forwarded = []
            set_exec_handler(self.store, self.namespace, self.name, None)
        finished = now_rfc3339()
        if watchdog and watchdog.killed:
            self._mark("oom-killed", f"rss {watchdog.peak_bytes} > limit {limit}")
            return {"exitCode": 137, "reason": "OOMKilled", "startedAt": started, "finishedAt": finished,
                    "containerID": c.container_id}
        self._mark("container-terminated", f"exit code {exit_code}")
        return {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error", "startedAt": started,
                "finishedAt": finished, "containerID": c.container_id}

    def _serve(self, c: _Container, server: _Server, program: _Program) -> int:
        """Wait for the program's readiness, serve until the process ends; the container's exit code."""
        try:
            server.wait_ready(program.model, self.settings.startup_timeout_s)
        except HarnessError as exc:
            if self.stopping:
                raise _Stopped() from exc
            code = server.exited()
            # A worker that keeps dying leaves the frontend up: the container is failed (exit 1).
            return 1 if code is None else (128 - code if code < 0 else code)
        ports = program.ports(server)
        for remote, local in ports.items():
            self.store.set_port_forward(self.namespace, self.name, remote, ("127.0.0.1", local))
        self.forwarded = list(ports)
        set_exec_handler(self.store, self.namespace, self.name, self._exec)
        c.ready, c.started = True, True
        self.phase = "Running"
        self._set_condition("Ready", True)
        self._set_condition("ContainersReady", True)
        self._publish()
        self._mark("container-ready", json.dumps({str(k): v for k, v in ports.items()}))
        while True:
            code = server.exited()
            if code is not None:
                break
            self._wait(0.2)
        c.ready = False
        self._set_condition("Ready", False, "ContainersNotReady", f"containers with unready status: [{c.name}]")
        self._set_condition("ContainersReady", False, "ContainersNotReady",
                            f"containers with unready status: [{c.name}]")
        return 128 - code if code < 0 else code

"""GPU use during a load step, from where the model runs, attributed to the model's processes.

Flow: `sampler_for(endpoint)` picks the source: a cluster target's endpoint carries its pod's
sampler (`Endpoint.gpu_sampler`: nvidia-smi in the predictor container through the Kubernetes exec
API, harness.load.gpu_pod); otherwise `GpuSampler` samples NVML on this machine (the local
target), counting only the compute processes of the endpoint's process groups. `start()` samples
every `interval_s` in a background thread; `stop()` returns `GpuFigures` naming the source. When
the source gives nothing (no NVML, exec refused, no nvidia-smi), `with_metrics_fallback` uses
TorchServe's own GPUMemoryUsed/GPUUtilization gauges from the scrapes, else the figures stay
"skipped" with the reason, which fails an `expect_gpu` step (harness.load.slo).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable, Protocol

import psutil

from harness.endpoint import Endpoint
from harness.load.result import GpuDevice, GpuFigures
from harness.reaper import group_members

# A CUDA context alone holds a few hundred MiB; an idle device reports a few MiB. Used only when
# no compute process can be listed (nvidia-smi in a container often lists none).
DEVICE_IN_USE_MB = 256.0
NOT_ATTRIBUTED = "device memory: no compute process could be listed, any process on the device counts"


class Sampler(Protocol):
    def start(self) -> "Sampler": ...
    def stop(self) -> GpuFigures: ...


@dataclass
class DeviceSample:
    """One device at one moment. model_mb None: its compute processes could not be listed."""

    index: int
    name: str
    used_mb: float
    total_mb: float | None
    util: float | None
    model_mb: float | None
    others: dict[str, float] = field(default_factory=dict)  # "pid N name" -> MiB, not the model's


class Accumulator:
    """Maxima and means over samples, and the verdict input `used_memory` with how it was decided."""

    def __init__(self) -> None:
        self.samples = 0
        self._dev: dict[int, dict] = {}
        self.others: dict[str, float] = {}

    def add(self, devices: list[DeviceSample]) -> None:
        for s in devices:
            d = self._dev.setdefault(s.index, {"name": s.name, "total": None, "used": 0.0, "model": None, "util": []})
            d["total"] = s.total_mb if s.total_mb is not None else d["total"]
            d["used"] = max(d["used"], s.used_mb)
            if s.model_mb is not None:
                d["model"] = max(d["model"] or 0.0, s.model_mb)
            if s.util is not None:
                d["util"].append(s.util)
            for who, mb in s.others.items():
                self.others[who] = max(self.others.get(who, 0.0), mb)
        self.samples += 1

    def figures(self, source: str, where: str, reason: str | None) -> GpuFigures:
        if not self.samples:
            return GpuFigures(status="skipped", source=source, where=where, reason=reason or "no GPU sample")
        devices = [GpuDevice(index=i, name=d["name"],
                             memory_total_mb=round(d["total"], 1) if d["total"] is not None else None,
                             memory_used_mb_max=round(d["used"], 1),
                             process_memory_mb_max=round(d["model"], 1) if d["model"] is not None else None,
                             utilization_pct_mean=round(sum(d["util"]) / len(d["util"]), 1) if d["util"] else None,
                             utilization_pct_max=max(d["util"]) if d["util"] else None)
                   for i, d in sorted(self._dev.items())]
        others = [f"{who} ({mb:g} MiB)" for who, mb in sorted(self.others.items())]
        if any((d.process_memory_mb_max or 0) > 0 for d in devices):
            used, how = True, "the model's compute processes"
        elif devices and all(d.process_memory_mb_max is not None for d in devices):
            used, how = False, "the model's compute processes"
        else:
            used, how = any(d.memory_used_mb_max > DEVICE_IN_USE_MB for d in devices), NOT_ATTRIBUTED
        return GpuFigures(status="sampled", source=source, where=where, reason=reason, samples=self.samples,
                          devices=devices, used_memory=used, attribution=how, other_processes=others)


class PeriodicSampler:
    """Calls `sample()` now and every `interval_s` on one thread (one sample at a time) until stopped."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.acc = Accumulator()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._join_s = 5.0

    def sample(self) -> bool:  # False: stop sampling (the source cannot answer)
        raise NotImplementedError

    def _loop(self) -> None:
        if not self.sample():
            return
        while not self._stop.wait(self.interval_s):
            if not self.sample():
                return

    def _run(self, join_s: float) -> None:
        self._join_s = join_s
        self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)
        self._thread.start()

    def _halt(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self._join_s)


def load_nvml() -> tuple[ModuleType | None, str | None]:
    """(pynvml, None) when NVML works here, else (None, why not)."""
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py (pynvml) is not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return None, f"no NVIDIA GPU or driver here: {exc}"
    try:
        if pynvml.nvmlDeviceGetCount() == 0:
            pynvml.nvmlShutdown()
            return None, "NVML found no GPU"
    except Exception as exc:
        return None, f"NVML could not count devices: {exc}"
    return pynvml, None


def _s(x) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _proc_name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return "?"


class GpuSampler(PeriodicSampler):
    """NVML on this machine. `model_pids` returns the model's PIDs (None: unknown, every compute
    process counts); `nvml` may be injected (tests use a fake)."""

    def __init__(self, interval_s: float = 0.5, nvml: ModuleType | None = None,
                 model_pids: Callable[[], set[int] | None] = lambda: None) -> None:
        super().__init__(interval_s)
        self._nvml = nvml
        self._model_pids = model_pids
        self._reason: str | None = None

    def start(self) -> "GpuSampler":
        if self._nvml is None:
            self._nvml, self._reason = load_nvml()
        if self._nvml is not None:
            self._run(join_s=5.0)
        return self

    def sample(self) -> bool:
        nv = self._nvml
        pids = self._model_pids()
        try:
            out = []
            for i in range(nv.nvmlDeviceGetCount()):
                h = nv.nvmlDeviceGetHandleByIndex(i)
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                try:
                    util = float(nv.nvmlDeviceGetUtilizationRates(h).gpu)
                except Exception:
                    util = None
                s = DeviceSample(i, _s(nv.nvmlDeviceGetName(h)), mem.used / 2**20, mem.total / 2**20, util, None)
                try:
                    procs = nv.nvmlDeviceGetComputeRunningProcesses(h)
                except Exception:
                    procs = None  # not supported (some containers, vGPUs): device memory decides
                if procs is not None:
                    s.model_mb = 0.0
                    for p in procs:
                        mb = (p.usedGpuMemory or 0) / 2**20
                        if pids is None or p.pid in pids:
                            s.model_mb += mb
                        else:
                            s.others[f"pid {p.pid} {_proc_name(p.pid)}"] = mb
                out.append(s)
            self.acc.add(out)
        except Exception as exc:
            self._reason = f"NVML sampling failed: {exc}"
        return True

    def stop(self) -> GpuFigures:
        self._halt()
        if self._nvml is None:
            return GpuFigures(status="skipped", source="local-nvml", where="this machine", reason=self._reason)
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass
        return self.acc.figures("local-nvml", "this machine", self._reason)


def local_model_pids(info: dict) -> Callable[[], set[int] | None]:
    """The PIDs of the local target's process groups (TorchServe, its workers, the front), read
    at each sample: workers restart. None when the endpoint names no group (then all count)."""
    groups = [g for g in (info.get("pid"), info.get("front_pid")) if g]
    if not groups:
        return lambda: None
    return lambda: {pid for g in groups for pid in group_members(g)}


# --- the source for an endpoint ---------------------------------------------------------------------
def sampler_for(endpoint: Endpoint, interval_s: float = 0.5) -> Sampler:
    """Where the model runs: the target's own sampler (a cluster's predictor pod), else NVML here."""
    if endpoint.gpu_sampler is not None:
        return endpoint.gpu_sampler(interval_s)
    return GpuSampler(interval_s, model_pids=local_model_pids(endpoint.info))


def with_metrics_fallback(gpu: GpuFigures, gauges: list[dict[str, float]]) -> GpuFigures:
    """When the source gave nothing, TorchServe's own GPU gauges (one dict per scrape: name[device]
    -> value, as harness.load.server_metrics keys them). They are host-level: device memory."""
    if gpu.status == "sampled":
        return gpu
    acc = Accumulator()
    for g in gauges:
        ids = sorted({k[k.index("[") + 1:-1] for k in g if k.startswith("GPUMemoryUsed[")})
        samples = []
        for dev in ids:
            used = g[f"GPUMemoryUsed[{dev}]"]
            pct = g.get(f"GPUMemoryUtilization[{dev}]")
            samples.append(DeviceSample(int(dev) if dev.isdigit() else len(samples), f"GPU {dev}", used,
                                        used * 100.0 / pct if pct else None, g.get(f"GPUUtilization[{dev}]"), None))
        if samples:
            acc.add(samples)
    if not acc.samples:
        return gpu
    return acc.figures("torchserve-metrics", "TorchServe's metrics endpoint",
                       f"used because {gpu.source or 'the primary source'} gave nothing: {gpu.reason}")

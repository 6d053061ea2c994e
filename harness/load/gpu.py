"""GPU use during a load step, through NVIDIA's management library (nvidia-ml-py: `pynvml`).

Flow: `GpuSampler().start()` initialises NVML in a background thread and samples every device's
name, memory used, utilisation and the memory held by compute processes every `interval_s`;
`stop()` returns `GpuFigures`. Without the library, a driver or a device it returns
status "skipped" with the reason, never an error: CPU machines run the same scenarios.
This samples the GPUs of the machine the harness runs on (the local target); for a cluster,
TorchServe's own GPUMemoryUsed/GPUUtilization gauges are in the server figures.
"""
from __future__ import annotations

import threading
from types import ModuleType

from harness.load.result import GpuDevice, GpuFigures


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


class GpuSampler:
    """Samples all devices until stopped. `nvml` may be injected (tests use a fake)."""

    def __init__(self, interval_s: float = 0.5, nvml: ModuleType | None = None) -> None:
        self.interval_s = interval_s
        self._nvml = nvml
        self._reason: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._samples = 0
        self._dev: dict[int, dict] = {}

    def start(self) -> "GpuSampler":
        if self._nvml is None:
            self._nvml, self._reason = load_nvml()
        if self._nvml is not None:
            self.sample()
            self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        nv = self._nvml
        try:
            for i in range(nv.nvmlDeviceGetCount()):
                h = nv.nvmlDeviceGetHandleByIndex(i)
                d = self._dev.setdefault(i, {"name": _s(nv.nvmlDeviceGetName(h)), "total": 0.0, "used": 0.0,
                                             "proc": None, "util": []})
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                d["total"] = mem.total / 2**20
                d["used"] = max(d["used"], mem.used / 2**20)
                try:
                    d["util"].append(float(nv.nvmlDeviceGetUtilizationRates(h).gpu))
                except Exception:
                    pass
                try:
                    procs = nv.nvmlDeviceGetComputeRunningProcesses(h)
                    held = sum((p.usedGpuMemory or 0) for p in procs) / 2**20
                    d["proc"] = max(d["proc"] or 0.0, held)
                except Exception:
                    pass
            self._samples += 1
        except Exception as exc:
            self._reason = f"NVML sampling failed: {exc}"

    def stop(self) -> GpuFigures:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self._nvml is None:
            return GpuFigures(status="skipped", reason=self._reason)
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass
        devices = [GpuDevice(index=i, name=d["name"], memory_total_mb=round(d["total"], 1),
                             memory_used_mb_max=round(d["used"], 1),
                             process_memory_mb_max=round(d["proc"], 1) if d["proc"] is not None else None,
                             utilization_pct_mean=round(sum(d["util"]) / len(d["util"]), 1) if d["util"] else None,
                             utilization_pct_max=max(d["util"]) if d["util"] else None)
                   for i, d in sorted(self._dev.items())]
        if any((d.process_memory_mb_max or 0) > 0 for d in devices):
            used: bool | None = True
        elif devices and all(d.process_memory_mb_max is not None for d in devices):
            used = False
        else:
            used = None  # NVML could not list processes (containers often hide them)
        return GpuFigures(status="sampled", reason=self._reason, samples=self._samples, devices=devices,
                          used_memory=used)

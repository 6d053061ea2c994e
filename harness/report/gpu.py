"""The GPU figures of a report's load steps in words: the source first (pod exec, TorchServe
metrics or local NVML, and where), then each device, how memory was attributed to the model and
any other process seen. Shared by the markdown and HTML renderings."""
from __future__ import annotations

from harness.load.result import GpuFigures

SOURCE_NAMES = {"pod-exec": "nvidia-smi in the predictor pod (Kubernetes exec)",
                "torchserve-metrics": "TorchServe's GPU metrics", "local-nvml": "NVML on the harness machine"}


def source_text(gpu: GpuFigures) -> str:
    name = SOURCE_NAMES.get(gpu.source or "", gpu.source or "unknown source")
    return f"{name}, {gpu.where}" if gpu.where else name


def gpu_summary(gpu: GpuFigures) -> str:
    """One line: `source: devices; attribution` or `source: not sampled: reason`."""
    head = f"source: {source_text(gpu)}"
    if gpu.status != "sampled":
        return f"{head}: not sampled: {gpu.reason or 'no reason given'}"
    devices = "; ".join(
        f"{d.name}: model {'?' if d.process_memory_mb_max is None else f'{d.process_memory_mb_max:g}'} MiB, device "
        f"{d.memory_used_mb_max:g}/{'?' if d.memory_total_mb is None else f'{d.memory_total_mb:g}'} MiB"
        + (f", util mean {d.utilization_pct_mean:g} %" if d.utilization_pct_mean is not None else "")
        for d in gpu.devices)
    used = {True: "the model used GPU memory", False: "the model never used GPU memory", None: "use unknown"}
    tail = f"; other processes: {', '.join(gpu.other_processes)}" if gpu.other_processes else ""
    return f"{head}: {devices} — {used[gpu.used_memory]} (judged by {gpu.attribution}){tail}"

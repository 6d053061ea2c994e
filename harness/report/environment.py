"""The environment fingerprint every report carries: what was tested, on what."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version

from harness.version import __version__


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _java_version() -> str | None:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (out.stderr or out.stdout).splitlines()
    return first[0] if first else None


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        return round(kib / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        return None


def _gpus() -> list[dict]:
    """GPU model and driver per device (nvidia-smi), [] when there is none."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    rows = [[x.strip() for x in line.split(",")] for line in out.stdout.splitlines() if line.strip()]
    return [{"name": r[0], "driver": r[1] if len(r) > 1 else None} for r in rows]


def fingerprint() -> dict:
    return {
        "harness": __version__,
        "python": platform.python_version(),
        "torch": _version("torch"),
        "torchserve": _version("torchserve"),
        "torch_model_archiver": _version("torch-model-archiver"),
        "kserve_storage": _version("kserve-storage"),
        "google_cloud_storage": _version("google-cloud-storage"),
        "locust": _version("locust"),
        "kubernetes_client": _version("kubernetes"),
        "java": _java_version(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "gpus": _gpus(),
    }

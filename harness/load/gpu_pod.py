"""GPU truth from the predictor pod: nvidia-smi in the model container, through the Kubernetes exec API.

Flow: `PodGpuSampler(run, where)` (run = `Kube.exec` bound to the pod and container) runs, every
`interval_s` and one at a time, `nvidia-smi --query-gpu=...` and `--query-compute-apps=...` (each
with a timeout), parses their CSV and attributes memory to the model: the compute apps whose
process is a python (TorchServe's workers, the ModelServer) are the model's, any other is named
as another process. In a container nvidia-smi may list no process at all (PID namespaces): then
the device's memory decides, and the figures say so. A refused exec or a missing nvidia-smi
ends the sampling with that reason (the caller may fall back to TorchServe's gauges).
"""
from __future__ import annotations

import re
from typing import Callable

from harness.kube.api import ExecRefused, ExecResult
from harness.load.gpu import DeviceSample, PeriodicSampler
from harness.load.result import GpuFigures

QUERY_GPU = ["nvidia-smi", "--query-gpu=index,name,memory.used,memory.total,utilization.gpu",
             "--format=csv,noheader,nounits"]
QUERY_APPS = ["nvidia-smi", "--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader,nounits"]
EXEC_TIMEOUT_S = 5.0
# TorchServe's workers and the ModelServer are python processes; names nvidia-smi cannot resolve in
# a container ("[Not Found]") are counted as the model's: the device plugin gives the pod its own GPU.
_MODEL_PROCESS = re.compile(r"(^|/)python[\d.]*$|model_service_worker|^\[.*\]$|^$")
_NOT_FOUND = re.compile(r"executable file not found|no such file or directory|not found in \$PATH", re.I)


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def _rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.split(",")] for line in text.splitlines() if line.strip()]


def parse_gpus(text: str) -> list[DeviceSample]:
    """`--query-gpu=index,name,memory.used,memory.total,utilization.gpu` CSV (noheader, nounits)."""
    out = []
    for row in _rows(text):
        if len(row) < 5:
            raise ValueError(f"unexpected nvidia-smi line: {','.join(row)!r}")
        index, name, used, total, util = row[0], ",".join(row[1:-3]), *row[-3:]
        out.append(DeviceSample(int(index), name, _num(used) or 0.0, _num(total), _num(util), None))
    return out


def parse_apps(text: str) -> list[tuple[int, str, float]]:
    """`--query-compute-apps=pid,process_name,used_memory` CSV: (pid, name, MiB) per process."""
    out = []
    for row in _rows(text):
        if len(row) < 3:
            raise ValueError(f"unexpected nvidia-smi line: {','.join(row)!r}")
        out.append((int(row[0]), ",".join(row[1:-1]), _num(row[-1]) or 0.0))
    return out


def attribute(devices: list[DeviceSample], apps: list[tuple[int, str, float]]) -> list[DeviceSample]:
    """The model's share of the listed processes. None listed: left unattributed (device memory
    decides). The query has no device column: the pod's total goes on its first device."""
    if not apps or not devices:
        return devices
    for d in devices:
        d.model_mb = 0.0
    for pid, name, mb in apps:
        if _MODEL_PROCESS.search(name):
            devices[0].model_mb += mb
        else:
            devices[0].others[f"pid {pid} {name}"] = mb
    return devices


class PodGpuSampler(PeriodicSampler):
    """Samples the pod's GPUs with nvidia-smi through `run(command, timeout_s) -> ExecResult`."""

    def __init__(self, run: Callable[[list[str], float], ExecResult], where: str, interval_s: float = 0.5) -> None:
        super().__init__(interval_s)
        self._exec = run
        self.where = where
        self.reason: str | None = None

    def start(self) -> "PodGpuSampler":
        self._run(join_s=2 * EXEC_TIMEOUT_S + 1)
        return self

    def _query(self, command: list[str]) -> str | None:
        """stdout, or None with self.reason set; raises _Stop when no later exec can do better."""
        try:
            r = self._exec(command, EXEC_TIMEOUT_S)
        except ExecRefused as exc:
            raise _Stop(f"the Kubernetes exec into {self.where} was refused ({exc}): "
                        "the harness needs create on pods/exec")
        except Exception as exc:  # the API server or the network: the next sample may work
            self.reason = f"exec into {self.where} failed: {type(exc).__name__}: {exc}"[:300]
            return None
        if r.exit_code == 0:
            return r.stdout
        if r.exit_code is None:
            self.reason = f"nvidia-smi in {self.where}: {r.message}"
            return None
        said = (r.message + " " + (r.stderr or r.stdout)).strip()
        if r.exit_code == 127 or _NOT_FOUND.search(said):
            raise _Stop(f"no nvidia-smi in {self.where}: {said}"[:400])
        raise _Stop(f"nvidia-smi failed in {self.where} (exit {r.exit_code}): {said}"[:400])

    def sample(self) -> bool:
        try:
            gpus = self._query(QUERY_GPU)
            apps = self._query(QUERY_APPS) if gpus is not None else None
        except _Stop as stop:
            self.reason = str(stop)
            return False
        if gpus is None or apps is None:
            return True
        try:
            self.acc.add(attribute(parse_gpus(gpus), parse_apps(apps)))
        except ValueError as exc:
            self.reason = f"nvidia-smi in {self.where}: {exc}"
            return False
        return True

    def stop(self) -> GpuFigures:
        self._halt()
        return self.acc.figures("pod-exec", self.where, self.reason)


class _Stop(Exception):
    """No later exec will answer (refused, no nvidia-smi, a failing driver)."""

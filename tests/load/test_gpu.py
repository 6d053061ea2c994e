"""GPU sampling: skips cleanly without NVML; the logic is checked with a fake NVML; a real-GPU
check runs only where NVIDIA's library finds a device."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.load.gpu import GpuSampler, load_nvml
from harness.load.result import ClientFigures, Percentiles, SelfCheck
from harness.load.slo import judge_step


class FakeNvml:
    def __init__(self, proc_mb: float | None) -> None:
        self.proc_mb = proc_mb
        self.shut = False

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(total=80 * 2**30, used=(self.proc_mb or 0) * 2**20 + 500 * 2**20)

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=40)

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        if self.proc_mb is None:
            raise RuntimeError("not supported in this container")
        return [SimpleNamespace(pid=1, usedGpuMemory=self.proc_mb * 2**20)] if self.proc_mb else []

    def nvmlShutdown(self):
        self.shut = True


def _client():
    return ClientFigures(requests=10, ok=10, errors=0, error_rate=0.0, duration_s=1, throughput_rps=10,
                         achieved_rps=10, latency_ms=Percentiles(count=10, p50=5), service_ms=Percentiles())


def test_without_nvml_it_skips_with_a_reason():
    nv, reason = load_nvml()
    if nv is not None:
        nv.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA GPU")
    figures = GpuSampler().start().stop()
    assert figures.status == "skipped" and figures.reason
    # a GPU scenario on a CPU machine is not failed for it
    assert judge_step(_client(), [], SelfCheck(valid=True), slo=None, gpu=figures, expect_gpu=True).status == "PASS"


def test_gpu_scenario_fails_when_the_model_never_used_gpu_memory():
    unused = GpuSampler(nvml=FakeNvml(proc_mb=0.0)).start().stop()
    assert unused.status == "sampled" and unused.used_memory is False
    assert unused.devices[0].name == "NVIDIA H100 80GB HBM3" and unused.devices[0].utilization_pct_max == 40
    v = judge_step(_client(), [], SelfCheck(valid=True), slo=None, gpu=unused, expect_gpu=True)
    assert v.status == "FAIL" and "never used GPU memory" in v.cause

    used = GpuSampler(nvml=FakeNvml(proc_mb=2048.0)).start().stop()
    assert used.used_memory is True and used.devices[0].process_memory_mb_max == 2048.0
    assert judge_step(_client(), [], SelfCheck(valid=True), slo=None, gpu=used, expect_gpu=True).status == "PASS"

    hidden = GpuSampler(nvml=FakeNvml(proc_mb=None)).start().stop()
    assert hidden.used_memory is None  # cannot tell: no verdict either way


@pytest.mark.gpu
def test_real_gpu_is_sampled():
    nv, reason = load_nvml()
    if nv is None:
        pytest.skip(f"no GPU: {reason}")
    nv.nvmlShutdown()
    figures = GpuSampler(interval_s=0.1).start().stop()
    assert figures.status == "sampled" and figures.devices and figures.devices[0].memory_total_mb > 0

"""GPU sampling: without NVML the figures say why (and a GPU scenario fails for it); the logic is
checked with a fake NVML, nvidia-smi's CSV and TorchServe's gauges; a real-GPU check runs only
where NVIDIA's library finds a device. Through the fake cluster: tests/kube/test_gpu_e2e.py."""
from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from harness.load.gpu import GpuSampler, load_nvml, local_model_pids, with_metrics_fallback
from harness.load.gpu_pod import attribute, parse_apps, parse_gpus
from harness.load.result import ClientFigures, GpuFigures, Percentiles, SelfCheck
from harness.load.slo import judge_step
from harness.report.gpu import gpu_summary


class FakeNvml:
    def __init__(self, proc_mb: float | None, pid: int = 1, other: tuple[int, float] | None = None) -> None:
        self.proc_mb = proc_mb
        self.pid = pid
        self.other = other
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
        procs = [SimpleNamespace(pid=self.pid, usedGpuMemory=self.proc_mb * 2**20)] if self.proc_mb else []
        if self.other:
            procs.append(SimpleNamespace(pid=self.other[0], usedGpuMemory=self.other[1] * 2**20))
        return procs

    def nvmlShutdown(self):
        self.shut = True


def _client():
    return ClientFigures(requests=10, ok=10, errors=0, error_rate=0.0, duration_s=1, throughput_rps=10,
                         achieved_rps=10, latency_ms=Percentiles(count=10, p50=5), service_ms=Percentiles())


def test_without_nvml_it_skips_with_a_reason_and_a_gpu_scenario_fails_for_it():
    nv, reason = load_nvml()
    if nv is not None:
        nv.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA GPU")
    figures = GpuSampler().start().stop()
    assert figures.status == "skipped" and figures.reason and figures.source == "local-nvml"
    v = judge_step(_client(), [], SelfCheck(valid=True), slo=None, gpu=figures, expect_gpu=True)
    assert v.status == "FAIL" and v.cause == f"this is a GPU scenario but no GPU could be sampled: {figures.reason}"
    # not a GPU scenario: nothing to say
    assert judge_step(_client(), [], SelfCheck(valid=True), slo=None, gpu=figures).status == "PASS"


def test_gpu_scenario_fails_when_the_model_never_used_gpu_memory():
    unused = GpuSampler(nvml=FakeNvml(proc_mb=0.0)).start().stop()
    assert unused.status == "sampled" and unused.used_memory is False and unused.source == "local-nvml"
    assert unused.devices[0].name == "NVIDIA H100 80GB HBM3" and unused.devices[0].utilization_pct_max == 40
    v = judge_step(_client(), [], SelfCheck(valid=True), slo=None, gpu=unused, expect_gpu=True)
    assert v.status == "FAIL" and "never used GPU memory" in v.cause and "NVML on this machine" in v.cause

    used = GpuSampler(nvml=FakeNvml(proc_mb=2048.0)).start().stop()
    assert used.used_memory is True and used.devices[0].process_memory_mb_max == 2048.0
    assert gpu_summary(used).startswith("source: NVML on the harness machine, this machine: NVIDIA H100 80GB HBM3: "
                                        "model 2048 MiB, device 2548/81920 MiB")
    assert judge_step(_client(), [], SelfCheck(valid=True), slo=None, gpu=used, expect_gpu=True).status == "PASS"

    hidden = GpuSampler(nvml=FakeNvml(proc_mb=None)).start().stop()
    # processes not listable: the device's memory decides, and the figures say so
    assert hidden.used_memory is True and hidden.attribution.startswith("device memory")


def test_local_nvml_counts_only_the_model_process_groups():
    """Another process on the device is not the model: its memory does not make a GPU scenario pass."""
    other_only = GpuSampler(nvml=FakeNvml(proc_mb=0.0, other=(99999999, 3000.0)), model_pids=lambda: {4242}).start().stop()
    assert other_only.used_memory is False and other_only.other_processes == ["pid 99999999 ? (3000 MiB)"]
    v = judge_step(_client(), [], SelfCheck(valid=True), slo=None, gpu=other_only, expect_gpu=True)
    assert v.status == "FAIL" and "only other processes did: pid 99999999" in v.cause
    mine = GpuSampler(nvml=FakeNvml(proc_mb=700.0, pid=4242, other=(99999999, 3000.0)),
                      model_pids=lambda: {4242}).start().stop()
    assert mine.used_memory is True and mine.devices[0].process_memory_mb_max == 700.0
    # the local target's endpoint names its process groups: their live members are the model's
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                             start_new_session=True)
    try:
        assert local_model_pids({"pid": child.pid, "front_pid": None})() == {child.pid}
    finally:
        child.communicate(b"")
    assert local_model_pids({})() is None


def test_nvidia_smi_csv_is_parsed_and_attributed_to_the_model():
    gpus = parse_gpus("0, NVIDIA A100-SXM4-40GB, 2300, 40960, 55\n1, NVIDIA A100-SXM4-40GB, 3, 40960, [N/A]\n")
    assert [(g.index, g.name, g.used_mb, g.total_mb, g.util) for g in gpus] == [
        (0, "NVIDIA A100-SXM4-40GB", 2300.0, 40960.0, 55.0), (1, "NVIDIA A100-SXM4-40GB", 3.0, 40960.0, None)]
    apps = parse_apps("31, /home/venv/bin/python, 1500\n32, python3.9, 300\n40, /opt/other/trainer, 800\n"
                      "41, [Not Found], 100\n")
    assert apps[0] == (31, "/home/venv/bin/python", 1500.0)
    dev = attribute(gpus, apps)
    # TorchServe's python workers, and names the container hides, are the model's; the trainer is not
    assert dev[0].model_mb == 1900.0 and dev[0].others == {"pid 40 /opt/other/trainer": 800.0}
    # no process listed (PID namespace): left to the device's memory
    assert attribute(parse_gpus("0, T4, 900, 15360, 3"), [])[0].model_mb is None
    with pytest.raises(ValueError):
        parse_gpus("No devices were found")


def test_torchserve_gauges_are_the_second_source():
    refused = GpuFigures(status="skipped", source="pod-exec", reason="the Kubernetes exec was refused (403)")
    gauges = [{"GPUMemoryUsed[0]": 1800.0, "GPUMemoryUtilization[0]": 10.0, "GPUUtilization[0]": 30.0, "CPUUtilization": 5},
              {"GPUMemoryUsed[0]": 2000.0, "GPUMemoryUtilization[0]": 12.5, "GPUUtilization[0]": 50.0}]
    gpu = with_metrics_fallback(refused, gauges)
    assert gpu.status == "sampled" and gpu.source == "torchserve-metrics" and "refused (403)" in gpu.reason
    d = gpu.devices[0]
    assert (d.memory_used_mb_max, d.memory_total_mb, d.utilization_pct_mean) == (2000.0, 16000.0, 40.0)
    assert gpu.used_memory is True and gpu.attribution.startswith("device memory")
    assert gpu_summary(gpu).startswith("source: TorchServe's GPU metrics, TorchServe's metrics endpoint: GPU 0: model ? MiB")
    # no GPU gauges either: the first source's reason stands
    assert with_metrics_fallback(refused, [{"CPUUtilization": 5}]) is refused


@pytest.mark.gpu
def test_real_gpu_is_sampled():
    nv, reason = load_nvml()
    if nv is None:
        pytest.skip(f"no GPU: {reason}")
    nv.nvmlShutdown()
    figures = GpuSampler(interval_s=0.1).start().stop()
    assert figures.status == "sampled" and figures.devices and figures.devices[0].memory_total_mb > 0

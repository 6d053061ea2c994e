"""Pod exec through the FAKE API server: the harness's `Kube.exec` over the websocket channel
protocol (stdout 1, stderr 2, Status on 3), its refusals, and the pod GPU sampler reading the
FAKE nvidia-smi through it. The command handler stands in for the fake kubelet's (which runs
the same FAKE nvidia-smi); the e2e through a real predictor pod is tests/kube/test_gpu_e2e.py."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from harness.kube.api import ExecRefused, Kube
from harness.load.gpu_pod import PodGpuSampler
from harness.load.slo import gpu_cause
from tests.fakes import FakeKubeApiServer
from tests.fakes.kserve_kubelet import FAKE_NVIDIA_SMI
from tests.fakes.kube_exec import EXEC_FORBIDDEN_ANNOTATION, set_exec_handler
from tests.helpers import eventually

NS = "team-a"


@pytest.fixture
def cluster(tmp_path):
    with FakeKubeApiServer() as server:
        with config.new_client_from_config(config_file=str(server.write_kubeconfig(tmp_path / "kc"))) as api:
            client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
            yield server, Kube(api)


def _pod(kube: Kube, name: str, annotations: dict | None = None) -> None:
    kube.core.create_namespaced_pod(NS, {"metadata": {"name": name, "annotations": annotations or {}},
                                         "spec": {"containers": [{"name": "kserve-container", "image": "x"}]}})


def _smi(state: str | None):
    def run(container: str, argv: list[str]) -> tuple[bytes, bytes, int]:
        if argv[0] == "nvidia-smi":
            if state is None:
                raise FileNotFoundError(argv[0])
            argv = [sys.executable, str(FAKE_NVIDIA_SMI), *argv[1:]]
        done = subprocess.run(argv, capture_output=True, env={**os.environ, "FAKE_NVIDIA_SMI": state or ""})
        return done.stdout, done.stderr, done.returncode
    return run


def test_exec_returns_stdout_stderr_and_the_exit_status(cluster):
    server, kube = cluster
    _pod(kube, "p")
    set_exec_handler(server.store, NS, "p", _smi(None))
    ok = kube.exec(NS, "p", "kserve-container", ["sh", "-c", "echo out; echo err >&2"], 10)
    assert (ok.stdout, ok.stderr, ok.exit_code, ok.message) == ("out\n", "err\n", 0, "")
    failed = kube.exec(NS, "p", "kserve-container", ["sh", "-c", "exit 3"], 10)
    assert failed.exit_code == 3 and "non-zero exit code" in failed.message
    missing = kube.exec(NS, "p", "kserve-container", ["nvidia-smi", "-L"], 10)
    assert missing.exit_code == -1 and "executable file not found" in missing.message


def test_exec_refused_by_rbac_names_the_status(cluster):
    server, kube = cluster
    _pod(kube, "p", {EXEC_FORBIDDEN_ANNOTATION: "true"})
    set_exec_handler(server.store, NS, "p", _smi("model"))
    with pytest.raises(ExecRefused) as refused:
        kube.exec(NS, "p", "kserve-container", ["nvidia-smi"], 10)
    assert refused.value.status == 403 and 'cannot create resource "pods/exec"' in str(refused.value)


@pytest.mark.parametrize("state, used, cause", [
    ("model", True, None),
    ("other", False, "only other processes did: pid 777 /usr/local/bin/other-job (5120 MiB)"),
    ("hidden", True, None),
    ("idle", False, "never used GPU memory during the step (nvidia-smi in the predictor pod;"),
    (None, None, "no GPU could be sampled: no nvidia-smi in pod team-a/p"),
])
def test_pod_sampler_reads_nvidia_smi_through_exec(cluster, state, used, cause):
    server, kube = cluster
    _pod(kube, "p")
    set_exec_handler(server.store, NS, "p", _smi(state))
    where = f"pod {NS}/p container kserve-container"
    gpu = PodGpuSampler(lambda cmd, t: kube.exec(NS, "p", "kserve-container", cmd, t), where, 0.05).start().stop()
    assert gpu.source == "pod-exec" and gpu.where == where
    assert gpu.used_memory is used
    if state is not None:
        assert gpu.status == "sampled" and gpu.devices[0].name == "NVIDIA H100 80GB HBM3"
        assert gpu.devices[0].memory_total_mb == 81559
    if state == "hidden":
        assert gpu.attribution.startswith("device memory") and gpu.devices[0].process_memory_mb_max is None
    if state == "model":
        assert gpu.devices[0].process_memory_mb_max == 1830 and gpu.attribution == "the model's compute processes"
    got = gpu_cause(gpu)
    assert (got is None) if cause is None else (cause in got), got


def test_an_unreachable_api_server_is_no_refusal_and_is_retried(cluster, tmp_path):
    server, kube = cluster
    _pod(kube, "p")
    server.stop()
    with pytest.raises(ApiException) as lost:
        kube.exec(NS, "p", "kserve-container", ["nvidia-smi"], 2)
    assert not isinstance(lost.value, ExecRefused)
    calls = []

    def run(cmd, timeout_s):
        calls.append(cmd)
        return kube.exec(NS, "p", "kserve-container", cmd, timeout_s)

    sampler = PodGpuSampler(run, "pod team-a/p container kserve-container", 0.01).start()
    eventually(lambda: len(calls) >= 2, what="a second exec after a failed one")
    gpu = sampler.stop()
    assert gpu.status == "skipped" and gpu.reason.startswith("exec into pod team-a/p container kserve-container failed")
    assert "no GPU could be sampled: exec into pod" in gpu_cause(gpu)

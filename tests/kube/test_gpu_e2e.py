"""`expect_gpu` on a cluster target, end to end through the FAKES: the harness samples the GPU in
the predictor pod (nvidia-smi in kserve-container through the API server's exec), not on this
machine. The pod's annotation tells the fake kubelet what its FAKE nvidia-smi reports (the model
used memory, only another process did, or no nvidia-smi at all) or makes the FAKE API server
refuse pods/exec (RBAC); TorchServe on this CPU machine has no GPU gauges, so a refused exec has
no second source either."""
from __future__ import annotations

import pytest

from harness.report.gpu import gpu_summary
from tests.fakes.kserve_kubelet import NVIDIA_SMI_ANNOTATION
from tests.fakes.kube_exec import EXEC_FORBIDDEN_ANNOTATION
from tests.helpers import SCENARIOS

LOAD = {"mode": "open", "rate": 5, "warmup_s": 0, "duration_s": 2, "expect_gpu": True,
        "requests": [str(SCENARIOS.parent / "fixtures/digits/request_v1.json")]}


@pytest.mark.parametrize("annotations, passed, cause", [
    ({NVIDIA_SMI_ANNOTATION: "model"}, True, None),
    ({NVIDIA_SMI_ANNOTATION: "other"}, False,
     "this is a GPU scenario but the model never used GPU memory during the step (nvidia-smi in the predictor "
     "pod: only other processes did: pid 777 /usr/local/bin/other-job (5120 MiB))"),
    ({}, False, "this is a GPU scenario but no GPU could be sampled: no nvidia-smi in pod {pod}: "
                "Internal error occurred: error executing command in container"),
    ({NVIDIA_SMI_ANNOTATION: "model", EXEC_FORBIDDEN_ANNOTATION: "true"}, False,
     "this is a GPU scenario but no GPU could be sampled: the Kubernetes exec into pod {pod} was refused (403 "
     'pods "'),
], ids=["model-used-memory", "only-another-process", "no-nvidia-smi", "exec-refused"])
def test_expect_gpu_is_judged_on_the_predictor_pods_gpu(fake_cluster, scenario_copy, annotations, passed, cause):
    cluster = fake_cluster()
    outcome = cluster.run(scenario_copy("digits.yaml", {"kubernetes": {"annotations": annotations}, "load": LOAD}),
                          run_load=True)
    report = outcome.report
    assert report.checks and all(c.passed for c in report.checks)
    step = report.load.steps[0]
    gpu = step.gpu
    pod = f"{outcome.namespace}/{report.endpoint['pod']} container kserve-container"
    assert gpu.source == "pod-exec" and gpu.where == f"pod {pod}"
    assert step.client.ok > 0 and step.client.errors == 0
    if passed:
        assert report.error is None and report.passed and step.verdict.status == "PASS", step.verdict.reasons
        [device] = gpu.devices
        assert (device.name, device.process_memory_mb_max, device.memory_total_mb) == ("NVIDIA H100 80GB HBM3", 1830, 81559)
        assert gpu.samples >= 2  # sampled during the step, not once
    else:
        assert not report.passed and report.exit_code == 1
        assert step.verdict.status == "FAIL" and step.verdict.cause.startswith(cause.format(pod=pod)), step.verdict.cause
        assert report.error["line"].startswith("failed: load FAIL: this is a GPU scenario")
    # the report's GPU section names its source
    summary = (outcome.run_dir / "summary.md").read_text()
    assert f"- {step.label}: {gpu_summary(gpu)}" in summary
    assert "source: nvidia-smi in the predictor pod (Kubernetes exec), pod " in summary
    assert "nvidia-smi in the predictor pod (Kubernetes exec)" in (outcome.run_dir / "report.html").read_text()
    cluster.assert_cleaned_up(outcome)

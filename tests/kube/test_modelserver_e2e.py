"""The ModelServer runtime (runtime: kserve) end to end on the FAKE cluster: `--target kubeconfig`.

The harness renders a KServe custom predictor (predictor.containers[0]: the ModelServer image,
`python /mnt/models/kserve_harness_predictor.py ...`, STORAGE_URI in its env); the fake KServe
controller injects the storage-initializer as KServe's pod mutator does, and the fake kubelet runs
the container's own command in the ModelServer image's environment, its /mnt/models being the
pod's real download. Predictions come from KServe's ModelServer through the API server's
port-forward (8080 REST, 8081 gRPC); a load() that raises is the real traceback in the container
log, restarts and CrashLoopBackOff. The fake cluster and its cleanup check are
tests/kube/fake_cluster.py's.
"""
from __future__ import annotations

import json
import time

import pytest

from tests.helpers import FIXTURES, SCENARIOS, TEST_DATA

MODELSERVER_IMAGE = "kserve-harness/kserve-modelserver:0.21.0"
REQUEST_V2 = FIXTURES / "digits" / "request_v2.json"


def _pod_specs(subscription, pod: str) -> dict:
    """The predictor pod's spec as its watch events showed it (the namespace is gone after the run)."""
    spec = None
    while (event := subscription.get(timeout=0)) is not None:
        if event.name == pod:
            spec = event.object["spec"]
    subscription.close()
    assert spec is not None, f"no watch event for pod {pod}"
    return spec


def _expected_logits() -> list[float]:
    rows = json.loads((FIXTURES / "digits" / "expected_v1.json").read_text())["predictions"]
    return [x for row in rows for x in row]


# --- (a) the shipped scenario --------------------------------------------------------------------

def test_digits_kserve_passes_through_kubeconfig_as_a_custom_predictor(fake_cluster):
    cluster = fake_cluster()
    pods = cluster.kube.store.subscribe("pods")
    outcome = cluster.run(SCENARIOS / "digits-kserve.yaml")
    report = outcome.report
    assert report.error is None, report.error
    assert report.passed and report.exit_code == 0
    assert [c.name for c in report.checks] == ["three-digits-v1"] and report.checks[0].passed
    endpoint = report.endpoint
    pod = endpoint["pod"]
    assert endpoint["forwarded"]["predictor"].endswith(f"-> {pod}:8080")  # the ModelServer itself
    assert endpoint["runtime_image"] == report.runtime.image == MODELSERVER_IMAGE
    assert (report.runtime.runtime, report.runtime.serving_path) == ("kserve", "modelserver")

    # What KServe makes of a custom predictor: the container as written, the storage-initializer
    # injected from its STORAGE_URI, /mnt/models mounted read-only, the default TCP probe on 8080.
    spec = _pod_specs(pods, pod)
    [init], [container] = spec["initContainers"], spec["containers"]
    storage_uri = next(e["value"] for e in container["env"] if e["name"] == "STORAGE_URI")
    assert init["name"] == "storage-initializer" and init["args"] == [storage_uri, "/mnt/models"]
    assert container["command"] == ["python", "/mnt/models/kserve_harness_predictor.py"]
    assert {"name": "kserve-provision-location", "mountPath": "/mnt/models", "readOnly": True} in \
        container["volumeMounts"]
    assert container["readinessProbe"]["tcpSocket"] == {"port": 8080}
    [ready] = cluster.controller.find("container-ready", outcome.namespace)
    assert set(json.loads(ready.detail)) == {"8080", "8081"}

    ns = outcome.namespace
    created = cluster.controller.find("isvc-created", ns)[0].mono
    isvc_ready = cluster.controller.find("isvc-ready", ns)[0].mono
    checked = outcome.clock.ended["checks"]
    print(f"\ndigits-kserve: InferenceService created -> Ready {isvc_ready - created:.2f}s -> checks passed "
          f"{checked - created:.2f}s (whole run {checked - outcome.started:.2f}s)")
    assert created < isvc_ready < checked
    cluster.assert_cleaned_up(outcome)


# --- (b) V2 and gRPC -----------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["v2", "grpc-v2"])
def test_v2_and_grpc_answer_the_models_tensor(fake_cluster, scenario_copy, protocol):
    """The ModelServer answers V2 with the tensor the model returned (shape [3, 10], unlike
    TorchServe's flattened envelope, so no expect file); grpc-v2 goes through pod port 8081."""
    cluster = fake_cluster()
    outcome = cluster.run(scenario_copy("digits-kserve.yaml", {
        "serving": {"protocol": protocol}, "checks": [{"name": "three-digits", "request": str(REQUEST_V2)}]}))
    report = outcome.report
    assert report.error is None, report.error
    assert report.passed and report.checks[0].status == 200
    body = json.loads((outcome.run_dir / report.checks[0].response_file).read_text())
    [out] = body["outputs"]
    assert out["shape"] == [3, 10], out
    assert max(abs(a - b) for a, b in zip(out["data"], _expected_logits())) < 1e-4
    endpoint = report.endpoint
    if protocol == "grpc-v2":
        assert endpoint["forwarded"]["grpc"].endswith(f"-> {endpoint['pod']}:8081")
        assert endpoint["grpc_target"] == endpoint["forwarded"]["grpc"].split(" -> ")[0]
    else:
        assert "grpc" not in endpoint["forwarded"]
    cluster.assert_cleaned_up(outcome)


# --- (c) a load() that raises --------------------------------------------------------------------

def test_load_that_raises_is_crash_loop_back_off_quoting_it(fake_cluster, scenario_copy):
    # The lint would stop this run before deploying (load() never sets ready): let it through.
    cluster = fake_cluster()
    outcome = cluster.run(scenario_copy("digits-kserve.yaml", {
        "model": {"handler": str(TEST_DATA / "modelserver_load_fails.py")}, "ignore_lints": ["kserve-load-never-ready"]}))
    took = time.monotonic() - outcome.started
    error = outcome.report.error
    assert outcome.report.exit_code == 1 and error["type"] == "DeployError", error
    assert error["what"].startswith("kserve-container is in CrashLoopBackOff (exit code 1, 1 restarts)")
    assert "RuntimeError: harness-test: load fails on purpose" in error["what"]  # the cause, in one line
    assert error["where"].endswith("container kserve-container")
    # The traceback came from the API server's pod log: the ModelServer's own stdout and stderr.
    assert "kubectl logs" in error["details"]
    assert "Traceback (most recent call last)" in error["details"]
    assert 'raise RuntimeError("harness-test: load fails on purpose")' in error["details"]
    assert cluster.controller.find("crash-loop-backoff", outcome.namespace)
    assert any(p.endswith("kserve-container.previous.log") for p in outcome.report.diagnostics)
    assert len(cluster.controller.find("container-terminated", outcome.namespace)) == 2  # it ran, restarted
    print(f"\nload() raising -> DeployError after {took:.1f}s")
    assert took < 60, f"named after {took:.0f}s: the deadline (120 s start-up), not the crash loop"
    cluster.assert_cleaned_up(outcome)


def test_memory_limit_below_the_modelservers_needs_is_oom_killed(fake_cluster, scenario_copy):
    """KServe defaults the missing cpu to 1 (request and limit): the pod is valid, and the
    watchdog plays the OOM killer on the ModelServer's process group."""
    cluster = fake_cluster()
    outcome = cluster.run(scenario_copy("digits-kserve.yaml", {"kubernetes": {"resources": {
        "requests": {"memory": "64Mi"}, "limits": {"memory": "64Mi"}}}}))
    error = outcome.report.error
    assert error["type"] == "DeployError", error
    assert error["what"].startswith("kserve-container was OOMKilled (memory limit 64Mi)")
    assert cluster.controller.find("oom-killed", outcome.namespace)
    cluster.assert_cleaned_up(outcome)


# --- the pod KServe renders for a custom predictor --------------------------------------------------

def test_a_custom_predictor_without_storage_uri_gets_no_storage_initializer():
    from tests.fakes.kserve_objects import render_custom_predictor_pod

    isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "custom", "namespace": "ns", "uid": "uid-1"},
            "spec": {"predictor": {"containers": [{"image": "example/custom:1", "ports": [
                {"containerPort": 9000, "name": "http1", "protocol": "TCP"}]}]}}}
    pod = render_custom_predictor_pod(isvc)
    [container] = pod["spec"]["containers"]
    assert "initContainers" not in pod["spec"] and "volumes" not in pod["spec"]
    assert "volumeMounts" not in container
    assert "internal.serving.kserve.io/storage-initializer-sourceuri" not in pod["metadata"]["annotations"]
    assert container["name"] == "kserve-container"  # KServe's defaulter names it
    assert container["readinessProbe"]["tcpSocket"] == {"port": 9000}  # the first declared port
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"},
                                      "limits": {"cpu": "1", "memory": "2Gi"}}

"""The Kubernetes target end to end, without a cluster: `--target kubeconfig` against FAKES.

The harness runs exactly as against a real cluster (kubeconfig, official client, REST, watches,
pod logs, websocket port-forward) but the cluster is `tests.fakes.FakeKubeApiServer` with
`tests.fakes.kserve_controller.FakeKServeController` behind it, which really runs kserve-storage
and TorchServe for each InferenceService. Nothing is mocked: the predictions come from TorchServe
through the API server's port-forward, and every failure below is produced by the real program
(kserve-storage's error, the crashing handler's traceback) or by the fake's documented rules
(image pull, memory limit, GPUs, ingress). Waits poll with monotonic deadlines; all traffic stays
on 127.0.0.1. After each run no process of the run or of its pod is left and the namespace is gone
(or kept and labelled, with --keep-on-fail).
"""
from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from harness.errors import DeployError
from harness.runtimes.torchserve.runtime import TorchServeRuntime
from harness.kube.naming import KEPT_LABEL, namespace_name
from harness.report.model import COLD_START_PHASES, load_report
from harness.runner import RunOptions, new_run_id
from harness.spec import load_scenario
from harness.storage import GcsStore
from harness.targets.registry import make_target
from harness.targets.settings import TargetSettings
from tests.helpers import SCENARIOS, eventually, processes_touching
from tests.kube.fake_cluster import CRASHING_HANDLER

ISVC = "inferenceservices.serving.kserve.io"


# --- (a) the shipped scenarios pass -----------------------------------------------------------------

@pytest.mark.parametrize("scenario", ["digits.yaml", "digits-v2.yaml"])
def test_shipped_scenario_passes_through_kubeconfig(fake_cluster, scenario):
    cluster = fake_cluster()
    outcome = cluster.run(SCENARIOS / scenario)
    report = outcome.report
    assert report.error is None, report.error
    assert report.passed and report.exit_code == 0
    assert report.checks and all(c.passed for c in report.checks)
    assert report.target["name"] == "kubeconfig"
    assert report.endpoint["cluster_version"]  # the API server's /version, for the fingerprint
    endpoint = report.endpoint
    pod = endpoint["pod"]
    assert endpoint["base_url"].startswith("http://127.0.0.1:")
    assert endpoint["forwarded"]["predictor"].endswith(f"-> {pod}:8080")  # the KServe front
    assert endpoint["serving_path"] == "front"
    # The pod runs the image torchserve.image names (runtimeVersion), and the report says so.
    assert endpoint["runtime_image"] == report.runtime.image == "pytorch/torchserve-kfs:0.12.0"
    assert report.runtime.ran == report.runtime.shipped and report.runtime.serving_path == "front"
    assert endpoint["namespace"] == outcome.namespace and pod.startswith(f"{endpoint['inferenceservice']}-predictor-")

    ns = outcome.namespace
    created = cluster.controller.find("isvc-created", ns)[0].mono
    ready = cluster.controller.find("isvc-ready", ns)[0].mono
    first = outcome.clock.ended["warm-up"]  # the first predict (the first check's request), HTTP 200
    correct = outcome.clock.ended["checks"]  # ... and its answer compared with the expected body
    print(f"\n{scenario}: InferenceService created -> Ready {ready - created:.2f}s -> first prediction "
          f"{first - created:.2f}s -> checks passed {correct - created:.2f}s "
          f"(whole run {correct - outcome.started:.2f}s)")
    assert created < ready < first <= correct
    cluster.assert_cleaned_up(outcome)


def test_cold_start_of_the_digits_scenario_is_read_phase_by_phase(fake_cluster):
    """The fake kubelet's events, conditions, container states and timestamped logs give every
    cold-start phase, in order, into report.json, summary.md and report.html."""
    cluster = fake_cluster()
    outcome = cluster.run(SCENARIOS / "digits.yaml")
    report = outcome.report
    assert report.passed, report.error
    cs = report.cold_start
    assert cs.origin.startswith("InferenceService creationTimestamp ")
    assert [p.name for p in cs.phases] == list(COLD_START_PHASES)
    assert [p.missing for p in cs.phases] == [None] * len(COLD_START_PHASES)
    ats = [p.at_s for p in cs.phases]
    assert ats == sorted(ats) and ats[0] >= 0, ats
    by = {p.name: p for p in cs.phases}
    uploaded = sum(o["size"] for o in report.storage["objects"])
    assert by["storage-download"].bytes == uploaded > 0
    settings = cluster.controller.settings
    for pull in ("init-image-pulled", "image-pulled"):  # the node's first pod pulls both images
        assert by[pull].bytes == settings.image_size_bytes
        assert by[pull].seconds == pytest.approx(settings.image_pull_s, abs=0.2)
    assert by["model-loaded"].seconds > 0 and by["first-answer"].detail == "check three-digits-v1 passed"
    table = "\n".join(f"  {p.name:<18} at {p.at_s:7.3f} s  {p.seconds:7.3f} s  {p.bytes or ''}" for p in cs.phases)
    print(f"\ncold start of digits.yaml on the fake cluster ({cs.origin}):\n{table}")
    summary = (outcome.run_dir / "summary.md").read_text()
    assert "## Cold start" in summary and "| model-loaded |" in summary
    assert "<h2>Cold start</h2>" in (outcome.run_dir / "report.html").read_text()
    assert load_report(outcome.run_dir).cold_start == cs
    cluster.assert_cleaned_up(outcome)


def test_direct_path_reaches_torchserve_behind_the_front(fake_cluster, scenario_copy):
    """serving.path: direct port-forwards the pod's TorchServe port (8085) instead of the front's 8080."""
    cluster = fake_cluster()
    outcome = cluster.run(scenario_copy("digits.yaml", {"serving": {"path": "direct"}}))
    report = outcome.report
    assert report.passed and report.error is None
    assert report.endpoint["serving_path"] == "direct"
    assert report.endpoint["forwarded"]["predictor"].endswith(f"-> {report.endpoint['pod']}:8085")
    cluster.assert_cleaned_up(outcome)


def test_grpc_v2_checks_and_load_go_through_the_port_forward(fake_cluster):
    """grpc-v2: the front's gRPC port 8081 is port-forwarded like 8080; the fake API server's
    port-forward is a raw TCP tunnel over the websocket, so HTTP/2 (h2c) passes unchanged."""
    cluster = fake_cluster()
    outcome = cluster.run(SCENARIOS / "digits-grpc.yaml", run_load=True)
    report = outcome.report
    assert report.error is None, report.error
    assert report.passed and report.exit_code == 0
    assert report.checks[0].passed and report.checks[0].status == 200
    endpoint = report.endpoint
    pod = endpoint["pod"]
    assert endpoint["protocol"] == "grpc-v2"
    assert endpoint["forwarded"]["grpc"].endswith(f"-> {pod}:8081")
    assert endpoint["grpc_target"] == endpoint["forwarded"]["grpc"].split(" -> ")[0]
    # The fake kubelet forwards pod port 8081 to the front's real gRPC port.
    [ready] = cluster.controller.find("container-ready", outcome.namespace)
    assert "8081" in json.loads(ready.detail)
    # Load over the same tunnel: every ModelInfer answered; TorchServe's metrics (their own
    # port-forward) saw the measured window's requests.
    step = report.load.steps[0]
    assert report.load.endpoint["url"] == f"grpc://{endpoint['grpc_target']}"
    assert step.client.ok > 0 and step.client.errors == 0, step.errors
    assert step.server.window.requests > 0
    print(f"\ndigits-grpc through the fake API server's port-forward: {step.client.throughput_rps:.1f} req/s, "
          f"p50 {step.client.latency_ms.p50:.1f} ms, p99 {step.client.latency_ms.p99:.1f} ms")
    cluster.assert_cleaned_up(outcome)


@pytest.mark.parametrize("scenario, ports", [
    ("digits.yaml", [{"containerPort": 8080, "name": "http1", "protocol": "TCP"}]),
    ("digits-grpc.yaml", [{"containerPort": 8081, "name": "h2c", "protocol": "TCP"}]),
])
def test_the_fake_predictor_pod_declares_the_ports_the_model_names(scenario, ports):
    from tests.fakes.kserve_objects import TORCHSERVE_RUNTIME, render_predictor_pod
    from harness.kube.manifest import render_inference_service

    spec = load_scenario(SCENARIOS / scenario)
    isvc = render_inference_service(spec, spec.storage.uri, "run-1")
    isvc["metadata"]["uid"] = "uid-1"
    [container] = render_predictor_pod(isvc, TORCHSERVE_RUNTIME)["spec"]["containers"]
    assert container["ports"] == ports
    assert {"name": "PROTOCOL_VERSION", "value": spec.serving.protocol} in container["env"]


def test_keep_on_fail_keeps_the_namespace_of_a_failed_check(fake_cluster, scenario_copy, tmp_path):
    import json

    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"predictions": [[0.0] * 10] * 3}))
    cluster = fake_cluster()
    outcome = cluster.run(scenario_copy("digits.yaml", {"checks": [{
        "name": "wrong", "request": str(SCENARIOS.parent / "fixtures/digits/request_v1.json"), "expect": str(wrong)}]}),
        keep_on_fail=True)
    assert outcome.report.exit_code == 1 and outcome.report.error["type"] == "ModelFailed"
    assert not outcome.report.checks[0].passed
    # Kept as it failed, pods still serving (for a human to poke at); the fixture's controller.stop()
    # then ends them and asserts nothing is left.
    namespace = cluster.kube.store.get("namespaces", outcome.namespace)
    assert namespace["metadata"]["labels"][KEPT_LABEL] == "true"
    assert cluster.kube.store.list("pods", outcome.namespace)


# --- (b) storage-initializer ----------------------------------------------------------------------

def test_bad_storage_uri_names_the_storage_initializer_with_kserve_storages_error(fake_cluster, tmp_path,
                                                                                  harness_options):
    """Upload to one prefix, point the InferenceService at another: the real kserve-storage error,
    named within seconds of the init container's failure (not at the 900 s readiness deadline).
    With --keep-on-fail the pod goes on as on a cluster: restart, Init:CrashLoopBackOff, KServe's
    ModelLoadFailed; stopping the controller ends it."""
    cluster = fake_cluster()
    spec = load_scenario(SCENARIOS / "digits.yaml")
    run_id = new_run_id("bad-uri")
    ns = namespace_name(run_id, spec.name)
    emulator_host = cluster.options.storage_emulator_host
    GcsStore.for_emulator(emulator_host).upload("gs://harness-e2e/uploaded/digits",
                                                TorchServeRuntime().model_files(spec, harness_options.cache_dir).objects)
    pod_events = cluster.kube.store.subscribe("pods")
    options = RunOptions(**{**vars(cluster.options), "keep_on_fail": True})
    target = make_target(options.target, TargetSettings(
        run_id=run_id, work_dir=tmp_path / "run", diagnostics_dir=tmp_path / "run" / "diagnostics",
        cache_dir=options.cache_dir, progress=options.progress, storage_emulator_host=emulator_host,
        kubeconfig=options.kubeconfig, keep_on_fail=True))
    with pytest.raises(DeployError) as info:
        with target:
            try:
                target.deploy(spec, "gs://harness-e2e/elsewhere/digits")
            finally:
                raised = time.monotonic()
    failed = cluster.controller.find("storage-initializer-failed", ns)
    assert failed, cluster.controller.marks
    latency = raised - failed[0].mono
    print(f"\nstorage-initializer failed -> DeployError raised {latency:.3f}s later")
    assert 0 <= latency < 5.0

    err = info.value
    pod = cluster.controller.find("pod-created", ns)[0].name
    log = (tmp_path / "kserve" / ns / pod / "storage-initializer.0.log").read_text()
    kserve_storage_error = log.strip().splitlines()[-1]  # what kserve-storage raised
    assert kserve_storage_error.startswith("RuntimeError: ")
    line = err.one_line()
    assert line.startswith("not ready: storage-initializer failed (exit code 1): ")
    assert kserve_storage_error in line
    assert err.where == f"pod {ns}/{pod} container storage-initializer"
    assert "gs://harness-e2e/elsewhere/digits" in err.details  # the whole init container log
    events = []
    while (event := pod_events.get(timeout=0)) is not None:
        events.append(event)
    pod_events.close()
    finished = dt.datetime.fromisoformat(failed_state(events, pod)["finishedAt"].replace("Z", "+00:00"))
    assert (dt.datetime.now(dt.timezone.utc) - finished).total_seconds() < 10

    # The kept pod carries on like a kubelet's: restarted once, then Init:CrashLoopBackOff.
    eventually(lambda: cluster.controller.find("crash-loop-backoff", ns), timeout_s=30,
               what="storage-initializer in CrashLoopBackOff")
    (init,) = cluster.kube.store.get("pods", pod, ns)["status"]["initContainerStatuses"]
    assert init["state"]["waiting"]["reason"] == "CrashLoopBackOff" and init["restartCount"] == 1
    assert init["lastState"]["terminated"]["exitCode"] == 1
    assert kserve_storage_error in cluster.kube.store.read_log(ns, pod, "storage-initializer", previous=True)
    failure = cluster.kube.store.get(ISVC, spec.name, ns)["status"]["modelStatus"]["lastFailureInfo"]
    assert failure["reason"] == "ModelLoadFailed" and kserve_storage_error in failure["message"]
    namespace = cluster.kube.store.get("namespaces", ns)
    assert namespace["metadata"]["labels"][KEPT_LABEL] == "true"
    cluster.controller.stop()  # what the fake never got to delete stops with it
    assert processes_touching(tmp_path / "kserve" / ns) == []


def failed_state(events, pod: str) -> dict:
    """The storage-initializer's terminated state (exit code 1) as the pod's watch events showed it."""
    for event in events:
        if event.name != pod:
            continue
        for cs in (event.object.get("status") or {}).get("initContainerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated")
            if term and term.get("exitCode") == 1:
                return term
    raise AssertionError(f"no terminated storage-initializer state was published for {pod}")


# --- (c)-(g) the other failure classes, through the runner ------------------------------------------

def test_crashing_handler_is_crash_loop_back_off_with_the_model_containers_log(fake_cluster, scenario_copy):
    cluster = fake_cluster()
    outcome = cluster.run(scenario_copy("digits.yaml", {"model": {"handler": str(CRASHING_HANDLER)}}))
    error = outcome.report.error
    assert outcome.report.exit_code == 1 and error["type"] == "DeployError", error
    assert error["what"].startswith("kserve-container is in CrashLoopBackOff (exit code 1, 1 restarts)")
    assert error["where"].endswith("container kserve-container")
    assert "kubectl logs" in error["details"]
    assert "RuntimeError: harness-test: this handler crashes on purpose during initialize" in error["details"]
    assert "RuntimeError: harness-test: this handler crashes on purpose" in error["what"]  # the cause, in one line
    assert cluster.controller.find("crash-loop-backoff", outcome.namespace)
    assert any(p.endswith("kserve-container.previous.log") for p in outcome.report.diagnostics)
    cluster.assert_cleaned_up(outcome)


def test_gpu_request_without_a_gpu_node_is_unschedulable(fake_cluster, scenario_copy):
    # With a cluster autoscaler that cannot help (GKE without a GPU pool): named once it says so.
    # Without one (kind), the harness waits UNSCHEDULABLE_GRACE_S for an autoscaler first.
    cluster = fake_cluster(gpus_available=0, cluster_autoscaler=True)
    outcome = cluster.run(scenario_copy("digits.yaml", {"kubernetes": {"gpus": 1}}), keep_on_fail=True)
    error = outcome.report.error
    assert error["type"] == "DeployError", error
    assert error["what"].startswith("pod digits-predictor-")
    assert "is unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu." in error["what"]
    assert "(cluster autoscaler: pod didn't trigger scale-up" in error["what"]
    assert "GPU" in error["hint"]
    assert time.monotonic() - outcome.started < 30  # not the readiness deadline, nor the autoscaler grace
    assert not cluster.controller.find("storage-initializer-started", outcome.namespace)
    cluster.assert_cleaned_up(outcome, kept=True)  # --keep-on-fail: the Pending pod stays to be read


def test_missing_runtime_image_is_an_image_pull_failure(fake_cluster, scenario_copy):
    cluster = fake_cluster()
    outcome = cluster.run(scenario_copy("digits.yaml", {"kubernetes": {"image": "kserve-harness/does-not-exist:0"}}))
    error = outcome.report.error
    assert error["type"] == "DeployError", error
    assert error["what"].startswith("image pull failure for kserve-container (kserve-harness/does-not-exist:0)")
    assert 'failed to pull and unpack image "docker.io/kserve-harness/does-not-exist:0"' in error["what"]
    assert cluster.controller.find("storage-initializer-succeeded", outcome.namespace)  # init ran first, for real
    cluster.assert_cleaned_up(outcome)


def test_memory_limit_below_the_runtimes_request_is_refused_by_the_api_server(fake_cluster, scenario_copy):
    """KServe merges the runtime's 2Gi request with the scenario's limit: no pod can be created."""
    cluster = fake_cluster()
    outcome = cluster.run(scenario_copy("digits.yaml", {"kubernetes": {"resources": {"limits": {"memory": "64Mi"}}}}))
    error = outcome.report.error
    assert error["type"] == "DeployError", error
    assert error["what"].startswith("predictor pods cannot be created: Error creating: Pod \"digits-predictor-")
    assert 'Invalid value: "2Gi": must be less than or equal to memory limit of 64Mi' in error["what"]
    cluster.assert_cleaned_up(outcome)


def test_memory_limit_below_torchserves_needs_is_oom_killed(fake_cluster, scenario_copy):
    cluster = fake_cluster()
    outcome = cluster.run(scenario_copy("digits.yaml", {"kubernetes": {"resources": {
        "requests": {"memory": "64Mi"}, "limits": {"memory": "64Mi"}}}}))
    error = outcome.report.error
    assert error["type"] == "DeployError", error
    assert error["what"].startswith("kserve-container was OOMKilled (memory limit 64Mi)")
    assert "exit code 137" in error["details"]
    assert cluster.controller.find("oom-killed", outcome.namespace)
    cluster.assert_cleaned_up(outcome)


def test_ingress_not_configured_is_named(fake_cluster, scenario_copy):
    """Reaching the model through the ingress needs status.url: the fake's ingress never works."""
    cluster = fake_cluster(ingress_configured=False)
    outcome = cluster.run(scenario_copy("digits.yaml", {"kubernetes": {"ingress": "ingress"}}))
    error = outcome.report.error
    assert error["type"] == "DeployError", error
    assert error["what"].startswith("ingress not configured: the predictor is ready but IngressReady is False")
    assert "IngressNotConfigured" in error["what"]
    assert cluster.controller.find("container-ready", outcome.namespace)  # the predictor itself served
    cluster.assert_cleaned_up(outcome)

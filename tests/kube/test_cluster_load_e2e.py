"""In-cluster load (`load.generator: cluster`) on the FAKE cluster: Locust pods from the official
image (run by tests.fakes.locust_kubelet as local processes with the pod's argv and env), the
records uploaded by the pods to the run's storage prefix on the GCS emulator, and the same exact
figures, self-check and verdict as local load. The fake cluster and its cleanup check are
tests/kube/fake_cluster.py's."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.kube import load_pods
from harness.load.spec import LoadSpec
from tests.fakes.locust_kubelet import FakeLocustKubelet
from tests.helpers import FIXTURES


REPO = Path(__file__).resolve().parents[2]


# --- manifests and config (no cluster) ---------------------------------------------------------------

def test_the_image_is_the_locust_the_harness_pins():
    pinned = re.search(r"^locust==(\S+)$", (REPO / "constraints.txt").read_text(), re.M).group(1)
    assert load_pods.LOCUST_VERSION == pinned
    assert load_pods.LOCUST_IMAGE == f"locustio/locust:{pinned}"


def test_configmap_holds_locustfile_plan_and_bodies():
    plan = load_pods.pod_plan({"base_url": "http://127.0.0.1:1", "bodies": ["/x/body-0.bin"], "out_dir": "/x"},
                              load_pods.in_cluster_url("digits", "kh-1-digits"), "b", "models/d/load/r1", 2)
    assert plan["base_url"] == "http://digits-predictor.kh-1-digits.svc.cluster.local"
    assert plan["bodies"] == ["/harness/body-0.bin", "/harness/body-1.bin"]
    assert plan["upload"] == {"bucket": "b", "prefix": "models/d/load/r1"} and plan["out_dir"] == load_pods.POD_OUT
    cm = load_pods.configmap_manifest("harness-load-r1", "ns", {"a": "b"}, "print(1)\n", plan, [b"{}", b"\x00\xff"])
    assert cm["data"]["locustfile.py"] == "print(1)\n" and json.loads(cm["data"]["plan.json"]) == plan
    assert base64.b64decode(cm["binaryData"]["body-1.bin"]) == b"\x00\xff"
    with pytest.raises(ConfigError, match="over Kubernetes' 1 MiB limit"):
        load_pods.configmap_manifest("c", "ns", {}, "", plan, [b"x" * 900_000])


def test_pod_runs_the_local_runners_command_from_the_pinned_image():
    pod = load_pods.pod_manifest("locust-r1-w1", "ns", {"k": "v"}, "harness-load-r1", 1, 30.0, "http://emu:9023")
    c = pod["spec"]["containers"][0]
    assert c["image"] == load_pods.LOCUST_IMAGE and pod["spec"]["restartPolicy"] == "Never"
    assert c["command"][:3] == ["locust", "-f", "/harness/locustfile.py"] and "--headless" in c["command"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["HARNESS_LOAD_PLAN"] == "/harness/plan.json" and env["HARNESS_LOAD_INDEX"] == "1"
    assert env["STORAGE_EMULATOR_HOST"] == "http://emu:9023"
    assert pod["spec"]["volumes"][0]["configMap"]["name"] == "harness-load-r1"


@pytest.mark.parametrize("args, message", [
    (("v1", "front", "local"), "needs a cluster target"),
    (("grpc-v2", "front", "kind"), "does not support serving.protocol grpc-v2"),
    (("v1", "direct", "gke"), "serving.path: direct"),
])
def test_cluster_load_that_cannot_run_is_a_one_line_config_error(args, message):
    with pytest.raises(ConfigError, match=message):
        load_pods.check_cluster_load(*args)


def test_generator_field():
    assert LoadSpec(mode="open", rate=1, duration_s=1).generator == "local"
    assert LoadSpec(mode="open", rate=1, duration_s=1, generator="cluster", workers=3).workers == 3
    with pytest.raises(ValueError, match="closed loop in one pod"):
        LoadSpec(mode="closed", users=2, duration_s=1, generator="cluster", workers=2)
    with pytest.raises(ValueError):
        LoadSpec(mode="open", rate=1, duration_s=1, generator="elsewhere")


# --- end to end on the fake cluster ----------------------------------------------------------------

LOAD = {"mode": "open", "rate": 10, "duration_s": 3, "warmup_s": 1, "workers": 2, "generator": "cluster",
        "requests": [str(FIXTURES / "digits" / "request_v1.json")], "slo": {"max_error_rate": 0, "min_rps": 5}}


def test_cluster_load_gives_exact_figures_from_the_pods_records(fake_cluster, scenario_copy, tmp_path):
    cluster = fake_cluster()
    with FakeLocustKubelet(cluster.kube.store, tmp_path / "locust-pods") as kubelet:
        outcome = cluster.run(scenario_copy("digits.yaml", {"load": LOAD}), run_load=True)
    # two pods of the official image, run as processes with the pod's argv and env, both exited 0
    assert sorted(name for _, name in kubelet.pods) == ["locust-r1-w0", "locust-r1-w1"]
    assert [r.group.exited() for r in kubelet.pods.values()] == [0, 0]
    report = outcome.report
    assert report.error is None, report.error
    load = report.load
    assert load.verdict.status == "PASS", load.verdict
    step = load.steps[0]
    run_dir = outcome.run_dir / "load" / "run"
    records = [json.loads(line) for p in sorted(run_dir.glob("records-*.jsonl")) for line in p.read_text().splitlines()]
    assert sorted(p.name for p in run_dir.glob("records-*.jsonl")) == ["records-0.jsonl", "records-1.jsonl"]
    measured = [r for r in records if r[1] == 0]
    assert step.client.requests == len(measured) == 30  # 10 req/s for 3 s, shared by two pods
    assert len(records) == 40 and all(r[5] == 200 for r in records)
    assert step.client.ok == 30 and step.client.errors == 0
    assert [p.role for p in step.generator.processes] == ["local", "local"]
    assert sum(p.sent for p in step.generator.processes) == 40 and step.generator.valid
    assert json.loads((run_dir / "plan.json").read_text())["base_url"].endswith(".svc.cluster.local")
    assert "uploaded records and status" in (run_dir / "locust-r1-w0.log").read_text()
    print(f"\nin-cluster load, 2 pods, open loop 10 req/s: {step.client.throughput_rps:.2f} req/s, "
          f"p50 {step.client.latency_ms.p50:.2f} ms, p99 {step.client.latency_ms.p99:.2f} ms")
    cluster.assert_cleaned_up(outcome)


def test_a_load_pod_that_cannot_pull_its_image_fails_in_one_line(fake_cluster, scenario_copy, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(load_pods, "LOCUST_IMAGE", "locustio/locust:does-not-exist")
    cluster = fake_cluster()
    with FakeLocustKubelet(cluster.kube.store, tmp_path / "locust-pods"):
        outcome = cluster.run(scenario_copy("digits.yaml", {"load": {**LOAD, "workers": 1}}), run_load=True)
    err = outcome.report.error
    assert err is not None and outcome.report.exit_code == 2  # the load generator's environment, not the model
    assert "load pod locust-r1-w0" in err["what"] and "does-not-exist" in err["what"], err
    assert "\n" not in err["what"]
    print(f"\n{err['what']}")
    cluster.assert_cleaned_up(outcome)


def test_a_load_pod_that_exits_non_zero_fails_quoting_its_log(fake_cluster, scenario_copy, tmp_path, monkeypatch):
    real = load_pods.locust_command
    monkeypatch.setattr(load_pods, "locust_command",
                        lambda timeout_s: [a.replace("locustfile.py", "no-such-locustfile.py") for a in real(timeout_s)])
    cluster = fake_cluster()
    with FakeLocustKubelet(cluster.kube.store, tmp_path / "locust-pods"):
        outcome = cluster.run(scenario_copy("digits.yaml", {"load": {**LOAD, "workers": 1}}), run_load=True)
    err = outcome.report.error
    assert err is not None and outcome.report.exit_code == 2  # the load generator's environment, not the model
    assert err["what"].startswith("load pod locust-r1-w0 exited with code 1: "), err
    assert "no-such-locustfile.py" in err["what"] and "\n" not in err["what"]
    assert "no-such-locustfile.py" in (outcome.run_dir / "load" / "run" / "locust-r1-w0.log").read_text()
    assert "no-such-locustfile.py" in (outcome.run_dir / "diagnostics" / "locust-r1-w0.log").read_text()
    assert err["diagnostics"] == [str(outcome.run_dir / "diagnostics" / "locust-r1-w0.log")]
    print(f"\n{err['what']}")
    cluster.assert_cleaned_up(outcome)


def test_cluster_load_on_the_local_target_fails_before_anything_is_built(scenario_copy, tmp_path):
    from harness.runner import RunOptions, ScenarioRun
    from harness.spec import load_scenario

    run = ScenarioRun(load_scenario(scenario_copy("digits.yaml", {"load": LOAD})),
                      RunOptions(target="local", report_dir=tmp_path / "reports"))
    report = run.execute()
    assert report.exit_code == 2 and "needs a cluster target" in report.error["what"], report.error
    assert [p.name for p in report.phases if p.name in ("archive", "upload", "deploy")] == []


def test_a_port_forward_that_limits_the_load_makes_the_step_invalid(fake_cluster, scenario_copy):
    """The fake tunnel holds each answer 1 s (its rule); TorchServe answers in milliseconds: the
    port-forward self-check says the tunnel, not the server, limited the step (exit 3)."""
    cluster = fake_cluster()
    cluster.kube.store.port_forward_delay_s = 1.0
    load = {**LOAD, "generator": "local", "workers": 1, "rate": 4, "slo": {"max_error_rate": 0}}
    outcome = cluster.run(scenario_copy("digits.yaml", {"load": load}), run_load=True)
    step = outcome.report.load.steps[0]
    assert step.verdict.status == "INVALID" and outcome.report.exit_code == 3, step.verdict
    reason = next(r for r in step.generator.reasons if "port-forward limited this step" in r)
    assert "load.generator: cluster" in reason and "\n" not in reason
    print(f"\n{reason}")
    cluster.assert_cleaned_up(outcome)

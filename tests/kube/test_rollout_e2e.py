"""Rollout under load on the FAKE cluster (`--target kubeconfig`, issue 12.4): the candidate replaces
the running InferenceService's predictor while the harness's own clients keep sending through a
Service-like port-forward; the fake KServe rolls the predictor Deployment (tests.fakes.kserve_rollout:
new pod Ready, then the old one drained and removed). The fake cluster and its cleanup check are
tests/kube/fake_cluster.py's."""
from __future__ import annotations

import yaml

from harness.kube.naming import isvc_name
from tests.kube.fake_cluster import CRASHING_HANDLER
from tests.kube.rollout_scenario import rollout_scenario


def test_clean_rolling_update_under_load_has_no_failed_request_and_promotes(fake_cluster, tmp_path):
    cluster = fake_cluster()
    isvcs = cluster.kube.store.subscribe("inferenceservices")
    outcome = cluster.run(rollout_scenario(tmp_path), run_load=True)
    report = outcome.report
    ro = report.rollout
    assert report.error is None and report.passed and report.exit_code == 0, (report.error, ro and ro.reasons)
    assert ro.outcome == "promoted" and ro.passed and ro.failed_requests == 0, ro.reasons
    base, cand = ro.sides[0], ro.sides[1]
    assert base.side == "baseline" and cand.side == "candidate"
    assert base.requests > 0 and cand.requests > 0 and base.errors == cand.errors == 0
    assert len(ro.baseline_pods) == 1 and len(ro.candidate_pods) == 1
    assert ro.baseline_pods != ro.candidate_pods
    assert all(c.passed for c in ro.candidate_slo) and {c.name for c in ro.candidate_slo} == {"p99_ms", "error_rate"}
    # The old pod was drained (out of the endpoints, still serving), then removed; the new one stays.
    drained = [m.name for m in cluster.controller.find("pod-draining", outcome.namespace)]
    assert drained == ro.baseline_pods
    # The InferenceService's predictor now reads the candidate's files (one spec update).
    uris = []
    while (event := isvcs.get(timeout=0)) is not None:
        if event.object["metadata"]["name"] == isvc_name("digits-rollout"):
            uris.append(event.object["spec"]["predictor"]["model"]["storageUri"])
    isvcs.close()
    assert uris[0].endswith("/digits-rollout") and uris[-1].endswith("/digits-rollout-candidate")
    # Windows: the baseline answers before the patch, the candidate after the rollout settled.
    first = next(w for w in ro.windows if w.requests)
    assert set(first.requests) == {"baseline"}
    assert "candidate" in ro.windows[-1].requests and "baseline" not in ro.windows[-1].requests
    assert (outcome.run_dir / "load" / "rollout-requests.jsonl").is_file()
    md = (outcome.run_dir / "summary.md").read_text()
    assert "## Rollout" in md and "promoted" in md
    junit = (outcome.run_dir / "junit.xml").read_text()
    assert "rollout: no failed request" in junit
    cluster.assert_cleaned_up(outcome)


def test_crashing_new_revision_keeps_traffic_on_the_old_pod_and_fails_the_run(fake_cluster, tmp_path):
    cluster = fake_cluster()
    outcome = cluster.run(rollout_scenario(tmp_path, candidate={"model": {"handler": str(CRASHING_HANDLER)}}),
                          run_load=True)
    report = outcome.report
    ro = report.rollout
    assert report.exit_code == 1 and not report.passed and ro is not None, report.error
    assert ro.outcome == "rolled back" and not ro.passed
    assert "CrashLoopBackOff" in ro.cause and "crashes on purpose" in ro.cause, ro.cause
    what = report.error["what"]
    assert what.startswith("rollout rolled back: new revision failed: kserve-container is in CrashLoopBackOff"), what
    assert "traffic stayed on the old revision" in what and "\n" not in what
    base, cand = ro.sides[0], ro.sides[1]
    assert base.requests > 0 and base.errors == 0
    assert cand.requests == 0  # the crashing pod never got a connection
    assert ro.failed_requests == 0
    # The old pod served all along: it was never drained; the crashing one was removed by the rollback.
    assert not [m for m in cluster.controller.find("pod-draining", outcome.namespace) if m.name in ro.baseline_pods]
    assert [m.name for m in cluster.controller.find("pod-draining", outcome.namespace)] == ro.candidate_pods
    assert cluster.controller.find("crash-loop-backoff", outcome.namespace)
    cluster.assert_cleaned_up(outcome)


def test_on_success_rollback_restores_the_baseline_after_a_clean_rollout(fake_cluster, tmp_path):
    cluster = fake_cluster()
    outcome = cluster.run(rollout_scenario(tmp_path, rollout={"on_success": "rollback"}), run_load=True)
    report = outcome.report
    ro = report.rollout
    assert report.error is None and report.exit_code == 0, (report.error, ro and ro.reasons)
    assert ro.outcome == "rolled back" and ro.passed and ro.failed_requests == 0 and ro.cause is None
    assert len(ro.baseline_pods) == 2 and len(ro.candidate_pods) == 1  # the old template came back in a new pod
    base, cand = ro.sides[0], ro.sides[1]
    assert base.requests > 0 and cand.requests > 0
    assert set(ro.windows[-1].requests) == {"baseline"}
    drained = [m.name for m in cluster.controller.find("pod-draining", outcome.namespace)]
    assert len(drained) == 2 and drained[0] in ro.baseline_pods and drained[1] == ro.candidate_pods[0]
    cluster.assert_cleaned_up(outcome)


def _canary_scenario(tmp_path, **rollout):
    return rollout_scenario(tmp_path, kubernetes={"deployment_mode": "Serverless"},
                            rollout={"strategy": "canary", "steps": [10, 50], "step_s": 2.0, "after_s": 1.0, **rollout})


def test_a_clean_canary_serves_the_candidate_at_each_step_then_promotes(fake_cluster, tmp_path):
    cluster = fake_cluster()
    outcome = cluster.run(_canary_scenario(tmp_path), run_load=True)
    report = outcome.report
    ro = report.rollout
    assert report.error is None and report.passed and report.exit_code == 0, (report.error, ro and ro.reasons)
    assert ro.strategy == "canary" and ro.outcome == "promoted" and ro.passed and ro.failed_requests == 0, ro.reasons
    name = isvc_name("digits-rollout")
    assert (ro.baseline_revision, ro.candidate_revision) == (f"{name}-predictor-00001", f"{name}-predictor-00002")
    assert [s.percent for s in ro.steps] == [10, 50, 100] and all(s.passed for s in ro.steps)
    for s in ro.steps:
        assert s.requests.get("candidate", 0) > 0 and not s.errors, s
        assert s.start_s < s.end_s
    assert ro.steps[0].candidate_share < ro.steps[1].candidate_share  # the split follows the steps
    assert all(p.startswith(f"{name}-predictor-00002-deployment-") for p in ro.candidate_pods)
    assert [m.name for m in cluster.controller.find("pod-draining", outcome.namespace)] == ro.baseline_pods
    isvc = cluster.kube.store.get("inferenceservices.serving.kserve.io", name, outcome.namespace) \
        if outcome.namespace in {n["metadata"]["name"] for n in cluster.kube.store.list("namespaces")} else None
    assert isvc is None or "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    md = (outcome.run_dir / "summary.md").read_text()
    assert "| 10 % |" in md and "| 50 % |" in md and "| 100 % |" in md
    junit = (outcome.run_dir / "junit.xml").read_text()
    assert junit.count("rollout: canary step") == 3
    lines = (outcome.run_dir / "load" / "rollout-requests.jsonl").read_text().splitlines()
    assert '"step":10' in "".join(lines) and '"step":50' in "".join(lines)
    cluster.assert_cleaned_up(outcome)


def test_a_canary_whose_candidate_slo_breaks_at_the_first_step_is_rolled_back(fake_cluster, tmp_path):
    cluster = fake_cluster()
    outcome = cluster.run(_canary_scenario(tmp_path, slo={"p50_ms": 0.001}), run_load=True)
    report = outcome.report
    ro = report.rollout
    assert report.exit_code == 1 and not report.passed and ro is not None, report.error
    assert ro.outcome == "rolled back" and not ro.passed and ro.cause is None
    assert [s.percent for s in ro.steps] == [10] and not ro.steps[0].passed  # it stopped advancing
    assert ro.reasons[0].startswith("step 10 %: candidate p50 "), ro.reasons
    assert report.error["what"].startswith("rollout rolled back: step 10 %: candidate p50 ")
    assert ro.failed_requests == 0 and ro.steps[0].requests.get("candidate", 0) > 0
    # canaryTrafficPercent 0: the candidate's pods drained, the baseline served alone again
    assert [m.name for m in cluster.controller.find("pod-draining", outcome.namespace)] == ro.candidate_pods
    assert set(ro.windows[-1].requests) == {"baseline"}
    cluster.assert_cleaned_up(outcome)


def test_a_crashing_canary_revision_gets_no_traffic_and_is_rolled_back(fake_cluster, tmp_path):
    cluster = fake_cluster()
    scenario = _canary_scenario(tmp_path)
    data = yaml.safe_load(scenario.read_text())
    data["candidate"]["model"]["handler"] = str(CRASHING_HANDLER)
    scenario.write_text(yaml.safe_dump(data, sort_keys=False))
    outcome = cluster.run(scenario, run_load=True)
    report = outcome.report
    ro = report.rollout
    assert report.exit_code == 1 and ro is not None and ro.outcome == "rolled back" and not ro.passed, report.error
    assert "CrashLoopBackOff" in ro.cause and ro.steps == [] and ro.failed_requests == 0, ro.reasons
    assert report.error["what"].startswith("rollout rolled back: new revision failed: kserve-container is in "
                                           "CrashLoopBackOff"), report.error["what"]
    assert ro.sides[0].requests > 0 and ro.sides[1].requests == 0  # a revision not Ready gets no traffic
    cluster.assert_cleaned_up(outcome)


def test_a_clean_canary_with_on_success_rollback_returns_all_traffic_to_the_baseline(fake_cluster, tmp_path):
    cluster = fake_cluster()
    outcome = cluster.run(_canary_scenario(tmp_path, steps=[50], on_success="rollback"), run_load=True)
    report = outcome.report
    ro = report.rollout
    assert report.error is None and report.exit_code == 0, (report.error, ro and ro.reasons)
    assert ro.outcome == "rolled back" and ro.passed and ro.failed_requests == 0 and ro.cause is None
    # The step is judged as in a promotion; no 100 % step follows it.
    assert [s.percent for s in ro.steps] == [50] and ro.steps[0].passed
    assert ro.steps[0].requests.get("candidate", 0) > 0 and ro.steps[0].requests.get("baseline", 0) > 0
    # canaryTrafficPercent 0: the candidate's pods drained, the baseline served alone again.
    assert [m.name for m in cluster.controller.find("pod-draining", outcome.namespace)] == ro.candidate_pods
    assert set(ro.windows[-1].requests) == {"baseline"}
    cluster.assert_cleaned_up(outcome)

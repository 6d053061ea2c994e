"""The rollout's spec validation, its verdict from request records, and its report views (no cluster)."""
from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest

from harness.errors import ConfigError
from harness.load.spec import SloSpec
from harness.report.model import Report, load_report
from harness.report.rollout import rollout_cases, rollout_markdown
from harness.report.writer import render_outputs, write_report
from harness.rollout.forward import pick_revision
from harness.rollout.model import RolloutRecord, RolloutResult, RolloutStep
from harness.rollout.run import check_rollout_target
from harness.rollout.verdict import judge, share_plausible, windows
from harness.runner import RunOptions, ScenarioRun
from harness.spec import load_scenario
from tests.kube.rollout_scenario import ROLLOUT, rollout_scenario


def test_the_shipped_rollout_scenario_loads_and_its_candidate_has_no_rollout():
    spec = load_scenario(ROLLOUT)
    assert spec.rollout.strategy == "rolling" and spec.rollout.on_success == "promote"
    cand = spec.candidate_scenario
    assert cand.rollout is None and cand.storage.uri.endswith("-candidate") and cand.model.version == "1.1"


@pytest.mark.parametrize("drop, changes, message", [
    (("candidate",), {}, "rollout: needs a candidate: section"),
    (("load",), {}, "rollout: needs a load: section"),
    ((), {"rollout": {"strategy": "blue-green"}}, "rollout.strategy"),
    ((), {"rollout": {"on_success": "keep"}}, "rollout.on_success"),
    ((), {"rollout": {"users": 0}}, "rollout.users"),
    ((), {"rollout": {"step_s": 3}}, "rollout.step_s is for strategy: canary"),
    ((), {"rollout": {"steps": [10]}}, "rollout.steps is for strategy: canary"),
    ((), {"rollout": {"strategy": "canary", "steps": [50, 10]}}, "canary steps must increase, got [50, 10]"),
    ((), {"rollout": {"strategy": "canary", "steps": [10, 10]}}, "canary steps must increase"),
    ((), {"rollout": {"strategy": "canary", "steps": [10, 100]}}, "each canary step is a traffic percent 1..99"),
    ((), {"rollout": {"strategy": "canary", "steps": [0]}}, "each canary step is a traffic percent 1..99"),
    ((), {"rollout": {"strategy": "canary", "steps": []}}, "give at least one canary step"),
    ((), {"rollout": {"strategy": "canary", "step_s": 0}}, "rollout.step_s"),
])
def test_bad_rollout_sections_are_one_line_config_errors(tmp_path, drop, changes, message):
    with pytest.raises(ConfigError) as info:
        load_scenario(rollout_scenario(tmp_path, drop, **changes))
    assert message in info.value.what and "\n" not in info.value.what, info.value.what


def test_a_rollout_on_the_local_target_is_refused_before_anything_runs(tmp_path):
    spec = load_scenario(ROLLOUT)
    with pytest.raises(ConfigError, match="rollout: needs a cluster target"):
        check_rollout_target(spec, "local")
    check_rollout_target(spec, "kubeconfig")  # fine on a cluster
    report = ScenarioRun(spec, RunOptions(target="local", report_dir=tmp_path)).execute()
    assert report.exit_code == 2 and report.error["what"].startswith("rollout: needs a cluster target")
    assert not any(p.name == "deploy" for p in report.phases)


def _rec(t, side, ok=True, ms=10.0, error=None):
    return RolloutRecord(t=t, side=side, pod=f"{side}-pod", ok=ok, latency_ms=ms, error=None if ok else error or "x")


def _result(**kw):
    return RolloutResult(outcome=kw.pop("outcome", "promoted"), baseline_pods=["b"], candidate_pods=["c"],
                         patched_at_s=1.0, **kw)


def test_a_clean_rollout_passes_with_both_sides_figured_per_window():
    records = [_rec(0.2, "baseline"), _rec(0.7, "baseline"), _rec(1.5, "baseline"), _rec(1.6, "candidate"),
               _rec(2.5, "candidate", ms=20.0)]
    res = judge(_result(), records, crashed=False, slo=SloSpec(p99_ms=50), width_s=1.0)
    assert res.passed and res.reasons == [] and res.failed_requests == 0
    assert [s.requests for s in res.sides] == [3, 2]
    assert [(c.name, c.passed) for c in res.candidate_slo] == [("p99_ms", True), ("error_rate", True)]
    assert [w.requests for w in res.windows] == [{"baseline": 2}, {"baseline": 1, "candidate": 1}, {"candidate": 1}]


def test_one_failed_request_after_the_patch_fails_the_rollout_but_one_before_it_does_not():
    before = [_rec(0.5, "baseline", ok=False, error="HTTP 503"), _rec(1.5, "candidate")]
    assert judge(_result(), before, crashed=False, slo=None).failed_requests == 0
    during = [_rec(0.5, "baseline"), _rec(1.2, "baseline", ok=False, error="RemoteDisconnected: x"),
              _rec(1.5, "candidate")]
    res = judge(_result(), during, crashed=False, slo=SloSpec(max_error_rate=1.0))
    assert not res.passed and res.failed_requests == 1
    assert res.reasons == ["1 failed request(s) during the rollout, e.g. RemoteDisconnected: x"]


def test_the_candidates_slo_is_judged_on_what_it_served_only():
    records = [_rec(0.5, "baseline", ms=500.0), _rec(1.5, "candidate", ms=80.0), _rec(1.6, "candidate", ms=90.0)]
    res = judge(_result(), records, crashed=False, slo=SloSpec(p50_ms=100))
    assert res.passed
    res = judge(_result(), records, crashed=False, slo=SloSpec(p50_ms=50))
    assert not res.passed and res.reasons[0].startswith("candidate SLO: p50_ms 85.0 > 50")


def test_a_candidate_that_served_nothing_after_a_promotion_fails():
    res = judge(_result(), [_rec(0.5, "baseline"), _rec(1.5, "baseline")], crashed=False, slo=None)
    assert not res.passed and "the candidate served no request during the rollout" in res.reasons


def test_a_crashed_new_revision_names_the_cause_and_where_the_traffic_stayed():
    res = _result(outcome="rolled back", cause="kserve-container is in CrashLoopBackOff (exit code 1): boom")
    records = [_rec(0.5, "baseline"), _rec(1.5, "baseline"), _rec(2.5, "baseline")]
    res = judge(res, records, crashed=True, slo=None)
    assert not res.passed and res.candidate_slo == []
    assert res.reasons == ["new revision failed: kserve-container is in CrashLoopBackOff (exit code 1): boom; traffic "
                           "stayed on the old revision (3 requests answered by it), 0 failed requests"]
    suite = ET.Element("testsuite")
    rollout_cases(suite, "digits", res)
    failed = {c.get("name"): c.find("failure").get("message") for c in suite if c.find("failure") is not None}
    assert failed == {"rollout: the new revision became Ready": f"new revision failed: {res.cause}",
                      "rollout: promoted": "outcome: rolled back"}
    md = "\n".join(rollout_markdown(res))
    assert md.startswith("## Rollout: rolled back — FAIL") and "`BBB`" in md


def test_windows_mark_the_errors_per_side():
    ws = windows([_rec(0.1, "baseline"), _rec(0.2, "candidate", ok=False)], 0.5)
    assert ws[0].errors == {"candidate": 1} and ws[0].requests == {"baseline": 1, "candidate": 1}
    assert ws[0].p50_ms == {"baseline": 10.0}


def test_report_json_round_trips_the_rollout_and_every_view_shows_it(tmp_path):
    res = judge(_result(), [_rec(0.5, "baseline"), _rec(1.5, "candidate", ok=False, error="HTTP 500: boom")],
                crashed=False, slo=None)
    report = Report(run_id="r", started_at="2026-12-03T00:00:00+00:00", scenario={"name": "digits-rollout"}, target={"name": "kubeconfig"},
                    rollout=res)
    write_report(report, tmp_path)
    back = load_report(tmp_path / "report.json")
    assert back.rollout == res and back.schema_version == "1.9"
    views = render_outputs(back)
    assert "## Rollout: promoted — FAIL" in views["summary.md"] and "`Bx`" in views["summary.md"]
    assert "<h2>Rollout: promoted — FAIL</h2>" in views["report.html"] and "HTTP 500: boom" in views["report.html"]
    suite = ET.fromstring(views["junit.xml"])
    cases = {c.get("name"): c for c in suite.iter("testcase") if c.get("classname", "").endswith(".rollout")}
    assert cases["rollout: no failed request during the rollout"].find("failure").get("message") == \
        "1 failed request(s), e.g. HTTP 500: boom"
    assert cases["rollout: the new revision became Ready"].find("failure") is None


def test_canary_steps_default_to_10_then_50_and_need_a_serverless_scenario(tmp_path):
    spec = load_scenario(rollout_scenario(tmp_path, rollout={"strategy": "canary"}))
    assert spec.rollout.steps is None and spec.rollout.percents() == [10, 50] and spec.rollout.step_s == 3.0
    with pytest.raises(ConfigError) as info:
        check_rollout_target(spec, "kubeconfig")
    assert info.value.what.startswith("rollout.strategy canary needs kubernetes.deployment_mode: Serverless")
    assert "\n" not in info.value.what and "Serverless" in info.value.hint
    serverless = load_scenario(rollout_scenario(tmp_path, rollout={"strategy": "canary", "steps": [5, 25, 75]},
                                                kubernetes={"deployment_mode": "Serverless"}))
    assert serverless.rollout.percents() == [5, 25, 75]
    check_rollout_target(serverless, "kubeconfig")
    rolling = load_scenario(rollout_scenario(tmp_path, kubernetes={"deployment_mode": "Serverless"}))
    check_rollout_target(rolling, "kubeconfig")  # rolling on Serverless stays allowed


def test_the_weighted_revision_choice_follows_the_traffic_percents():
    traffic = [{"tag": "latest", "revisionName": "d-predictor-00002", "percent": 10, "latestRevision": True},
               {"tag": "prev", "revisionName": "d-predictor-00001", "percent": 90, "latestRevision": False}]
    rng = random.Random(1234)
    picks = [pick_revision(traffic, rng) for _ in range(10000)]
    share = picks.count("d-predictor-00002") / len(picks)
    assert abs(share - 0.10) < 0.015, share  # 5 standard errors of a 10 % binomial share over 10 000 picks
    assert set(picks) == {"d-predictor-00001", "d-predictor-00002"}
    zero = [dict(traffic[0], percent=0), dict(traffic[1], percent=100)]
    assert {pick_revision(zero, rng) for _ in range(200)} == {"d-predictor-00001"}  # 0 % gets nothing
    assert pick_revision([], rng) is None


def _canary(steps, **kw):
    return _result(strategy="canary", steps=[RolloutStep(percent=p, start_s=a, end_s=b) for p, a, b in steps], **kw)


def test_each_canary_step_is_judged_on_its_own_answers_with_the_share_reported():
    records = [_rec(0.5, "baseline")] + [_rec(1.0 + i / 100, "candidate" if i % 10 == 0 else "baseline")
                                         for i in range(100)] + [_rec(3.0 + i / 100, "candidate" if i % 2 else
                                                                      "baseline") for i in range(100)]
    res = judge(_canary([(10, 1.0, 3.0), (50, 3.0, None)]), records, crashed=False, slo=SloSpec(p95_ms=30))
    assert res.passed, res.reasons
    s10, s50 = res.steps
    assert s10.requests == {"baseline": 90, "candidate": 10} and s10.candidate_share == 0.1 and s10.share_plausible
    assert s50.requests == {"baseline": 50, "candidate": 50} and s50.candidate_share == 0.5 and s50.passed
    assert s10.candidate_latency_ms.count == 10 and [c.name for c in s10.slo] == ["p95_ms", "error_rate"]
    assert {r.step for r in records if r.t < 1.0} == {0} and {r.step for r in records if 1.0 <= r.t < 3.0} == {10}


def test_a_canary_step_whose_candidate_slo_breaks_fails_naming_the_step():
    records = [_rec(1.0 + i / 10, "candidate" if i % 5 == 0 else "baseline", ms=41.2 if i % 5 == 0 else 5.0)
               for i in range(20)] + [_rec(3.5, "baseline")]
    res = judge(_canary([(10, 1.0, 3.0)], outcome="rolled back"), records, crashed=False, slo=SloSpec(p95_ms=30))
    assert not res.passed and res.reasons[0] == "step 10 %: candidate p95 41.2 ms > 30 ms", res.reasons
    assert not res.steps[0].passed and res.steps[0].reason == res.reasons[0]
    assert res.steps[0].share_plausible is not None  # reported, never a reason
    assert records[-1].step == 0  # after the rollback


def test_a_failed_request_fails_its_canary_step_and_a_step_the_candidate_did_not_serve_fails_too():
    records = [_rec(1.1, "candidate"), _rec(1.2, "baseline", ok=False, error="HTTP 503: x"), _rec(2.1, "baseline")]
    res = judge(_canary([(10, 1.0, 2.0), (50, 2.0, 3.0)]), records, crashed=False, slo=None)
    assert [s.reason for s in res.steps] == ["step 10 %: 1 failed request(s), e.g. HTTP 503: x",
                                             "step 50 %: the candidate served no request"]
    assert res.reasons[:2] == [s.reason for s in res.steps] and res.failed_requests == 1


def test_the_share_check_allows_the_small_sample_noise():
    assert share_plausible(10, 0.2, 20) and not share_plausible(10, 0.6, 200)
    assert share_plausible(10, None, 0) is None


def test_canary_steps_show_in_every_view(tmp_path):
    records = [_rec(1.1, "candidate", ms=41.2), _rec(1.2, "baseline")]
    res = judge(_canary([(10, 1.0, 2.0)], outcome="rolled back"), records, crashed=False, slo=SloSpec(p95_ms=30))
    report = Report(run_id="r", started_at="2026-12-03T00:00:00+00:00", scenario={"name": "digits-rollout"},
                    target={"name": "kubeconfig"}, rollout=res)
    write_report(report, tmp_path)
    back = load_report(tmp_path / "report.json")
    assert back.rollout.steps == res.steps
    views = render_outputs(back)
    assert "| 10 % |" in views["summary.md"] and "step 10 %: candidate p95 41.2 ms > 30 ms" in views["summary.md"]
    assert "<th>step</th>" in views["report.html"]
    suite = ET.fromstring(views["junit.xml"])
    step = next(c for c in suite.iter("testcase") if c.get("name") == "rollout: canary step 10 %")
    assert step.find("failure").get("message") == "step 10 %: candidate p95 41.2 ms > 30 ms"

"""The runner's side of reports: --trials repeats the load phase and keeps every trial; each
check's response body is saved and fingerprinted. The load engine is replaced by the factory."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import harness.runner
from harness.endpoint import Endpoint, Response
from harness.outputs import body_sha256
from harness.report.model import load_report
from harness.runner import RunOptions, ScenarioRun
from harness.spec import load_scenario
from harness.targets.base import Target
from tests.report.factory import make_load

LOAD = {"load": {"mode": "closed", "users": 4, "duration_s": 10, "warmup_s": 2,
                 "requests": ["../fixtures/digits/request_v1.json"]}}


@pytest.fixture
def fake_load_phase(monkeypatch):
    calls: list[Path] = []
    slow = {"factor": 1.0}

    def run_load_phase(spec, endpoint, out_dir, progress, target=None):
        calls.append(Path(out_dir))
        rng = np.random.default_rng(len(calls))
        p95_slo = 60.0 if slow["factor"] == 1.0 else 1.0
        return make_load(rng, Path(out_dir), slowdown=slow["factor"], p95_slo=p95_slo)

    monkeypatch.setattr(harness.runner, "run_load_phase", run_load_phase)
    return calls, slow


def _run(scenario_copy, tmp_path, trials: int) -> ScenarioRun:
    spec = load_scenario(scenario_copy("digits.yaml", LOAD))
    run = ScenarioRun(spec, RunOptions(report_dir=tmp_path / "reports", trials=trials))
    run.endpoint = Endpoint(base_url="http://127.0.0.1:1", model_name="digits", protocol="v1")
    return run


def test_trials_repeat_the_load_phase_and_keep_every_trial(scenario_copy, tmp_path, fake_load_phase):
    calls, _ = fake_load_phase
    run = _run(scenario_copy, tmp_path, trials=3)
    run._load()
    assert [p.name for p in calls] == ["trial1", "trial2", "trial3"]
    assert all(p.parent == run.run_dir / "load" for p in calls)
    r = run.report
    assert r.trials == 3 and len(r.load_trials) == 3 and r.load == r.load_trials[0]
    assert [h.trial for h in r.latency_histograms] == [1, 2, 3]
    assert sum(r.latency_histograms[0].counts) == r.load.steps[0].client.ok
    load_phase = r.phases[-1]
    assert load_phase.name == "load" and load_phase.status == "ok" and load_phase.detail == "3 trials"
    run.finish()
    again = load_report(run.run_dir)
    assert again.trials == 3 and len(again.load_results()) == 3
    assert "## Load trials (3)" in (run.run_dir / "summary.md").read_text()


def test_one_trial_keeps_the_old_layout(scenario_copy, tmp_path, fake_load_phase):
    calls, _ = fake_load_phase
    run = _run(scenario_copy, tmp_path, trials=1)
    run._load()
    assert calls == [run.run_dir / "load"]
    assert run.report.trials == 1 and run.report.load_trials == [] and run.report.load.steps
    assert len(run.report.load_results()) == 1


def test_a_failing_trial_fails_the_load_phase(scenario_copy, tmp_path, fake_load_phase):
    _, slow = fake_load_phase
    slow["factor"] = 2.0  # every trial misses its (1 ms) p95 SLO
    run = _run(scenario_copy, tmp_path, trials=2)
    run._load()
    assert run.report.phases[-1].status == "failed"


class _FakePredictor:
    def __init__(self, body: str) -> None:
        self.body = body

    def post(self, body, path=None):
        return Response(status=200, body=json.loads(self.body), text=self.body, elapsed_ms=3.2)


def test_checks_save_and_fingerprint_the_response(scenario_copy, tmp_path):
    spec = load_scenario(scenario_copy("digits.yaml"))
    expected = spec.checks[0].expect.read_text()
    run = ScenarioRun(spec, RunOptions(report_dir=tmp_path / "reports"))
    run._checks(_FakePredictor(expected))
    c = run.report.checks[0]
    assert c.passed and c.atol == spec.checks[0].atol
    assert (run.run_dir / c.response_file).read_text() == expected
    assert c.response_sha256 == body_sha256(expected)


class _StagedTarget(Target):
    """What a target leaves the runner after a deploy: its stage timings (cold start: the base's default)."""

    name = "staged"

    def storage(self):
        raise NotImplementedError

    def deploy(self, spec, storage_uri):
        self.timings.update({"storage-init": 0.75, "torchserve-ready": 3.5, "front-ready": 1.25})
        return Endpoint(base_url="http://127.0.0.1:1", model_name="digits", protocol="v1")

    def collect_diagnostics(self, dest):
        return []

    def teardown(self):
        pass


def test_a_target_without_pods_gives_its_stage_timings_as_the_cold_start(scenario_copy, tmp_path):
    spec = load_scenario(scenario_copy("digits.yaml"))
    run = ScenarioRun(spec, RunOptions(report_dir=tmp_path / "reports"))
    run._deploy(_StagedTarget())
    run._checks(_FakePredictor(spec.checks[0].expect.read_text()))
    cs = run.report.cold_start
    present = {p.name: (p.at_s, p.seconds, p.bytes) for p in cs.phases if p.missing is None}
    assert list(present) == ["storage-download", "model-loaded", "front-ready", "first-answer"]
    assert present["storage-download"] == (0.75, 0.75, None) and present["front-ready"] == (5.5, 1.25, None)
    answer = cs.phase("first-answer")
    assert answer.detail == f"check {spec.checks[0].name} passed" and answer.at_s >= 0 and answer.seconds is not None

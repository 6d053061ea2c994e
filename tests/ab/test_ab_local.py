"""A/B runs end to end on the local target: two real TorchServe deployments at once, the load
interleaved request by request between them (or in ABBA blocks, or both at once), outputs side by
side, and the verdict in every report format."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.report.compare import compare_runs
from tests.helpers import REPO, SCENARIOS

DATA = REPO / "tests" / "data"
TENSOR_HANDLER = REPO / "harness" / "runtimes" / "torchserve" / "handlers" / "tensor_handler.py"


def _candidate(handler: str) -> dict:
    """A candidate served by a tests/data handler built on the harness's tensor handler (shipped beside it)."""
    return {"model": {"handler": str(DATA / handler), "extra_files": [str(TENSOR_HANDLER)]}}


def _run_dir(report, options) -> Path:
    return options.report_dir.resolve() / report.run_id


def _junit_failures(run_dir: Path) -> list[str]:
    root = ET.parse(run_dir / "junit.xml").getroot()
    return [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]


def test_identical_candidate_no_regression_and_outputs_agree(run_scenario, harness_options):
    report = run_scenario(SCENARIOS / "digits-ab.yaml")
    assert report.passed and report.exit_code == 0, report.error
    ab = report.ab
    assert ab.verdict not in ("regression", "disagree"), ab.reasons
    assert ab.schedule == "interleaved" and ab.order == "A|B A|B A|B"
    assert len(ab.blocks) == 6 and all(b.status == "PASS" for b in ab.blocks)
    assert ab.outputs.outputs == ab.outputs.agree == 6 and ab.outputs.top1_agree == 6
    assert ab.outputs.max_abs_diff == 0.0
    assert {m.metric for m in ab.metrics} >= {"p50_ms", "throughput_rps", "error_rate", "server_inference_ms",
                                              "server_queue_ms"}
    run_dir = _run_dir(report, harness_options)
    assert "## A/B: " in (run_dir / "summary.md").read_text()
    assert "A/B" in (run_dir / "report.html").read_text()
    assert not _junit_failures(run_dir)
    assert json.loads((run_dir / "report.json").read_text())["schema_version"] == "1.9"
    rc = compare_runs(report, run_dir, report, run_dir)
    assert rc.ab is not None and rc.verdict != "regression"
    # One Locust run fed both sides, request by request: requests 2k and 2k+1 went one to each side.
    sides = [[json.loads(line) for line in (run_dir / "load" / "ab" / "run" / f"side-{i}" / "records-all.jsonl")
              .read_text().splitlines()] for i in (0, 1)]
    assert abs(len(sides[0]) - len(sides[1])) <= 1 and len(sides[0]) > 50
    assert {r[8] for r in sides[0]} == {0} and {r[8] for r in sides[1]} == {1}
    spans = [(min(r[3] for r in rows), max(r[4] for r in rows)) for rows in sides]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]  # the same stretch of time


def test_planted_slowdown_is_a_p50_regression_with_the_interval_above_0(run_scenario, scenario_copy,
                                                                         harness_options):
    # 5 pairs: relative differences swing with the baseline's block-to-block noise on a busy machine.
    scenario = scenario_copy("digits-ab.yaml", {"candidate": _candidate("slow_tensor_handler.py"),
                                                "load": {"users": 1, "ab": {"blocks": 5}}})
    report = run_scenario(scenario)
    assert report.exit_code == 1 and not report.passed
    p50 = next(m for m in report.ab.metrics if m.metric == "p50_ms")
    assert report.ab.verdict == "regression" and p50.verdict == "regression", p50.reason
    assert p50.low > 0 and p50.pairs == 5
    assert report.ab.outputs.all_agree  # slower, not different
    assert "A/B" in report.error["what"]
    assert "latency p50: regression" in _junit_failures(_run_dir(report, harness_options))


def test_a_different_model_is_reported_as_disagreement_with_examples(run_scenario, scenario_copy, harness_options):
    scenario = scenario_copy("digits-ab.yaml", {"candidate": _candidate("reversed_handler.py")}, drop=("load",))
    report = run_scenario(scenario)
    assert report.exit_code == 1 and report.ab.verdict == "disagree"
    out = report.ab.outputs
    assert out.agree == 0 and out.top1_agree < out.top1_compared == 3 and out.max_abs_diff > 1
    assert out.sources[0].differences and out.sources[0].differences[0].startswith("$[0][")
    assert report.checks[0].passed  # the baseline still answers correctly: only the candidate differs
    run_dir = _run_dir(report, harness_options)
    assert "Disagreements" in (run_dir / "summary.md").read_text()
    assert "outputs agree" in _junit_failures(run_dir)


def test_invalid_blocks_exit_3_and_trials_multiply_the_pairs(run_scenario, scenario_copy, harness_options):
    # A generator "busier than 0.01 % of a core" is every generator: every block is INVALID.
    scenario = scenario_copy("digits-ab.yaml", {"load": {"self_check": {"max_cpu_percent": 0.01},
                                                         "ab": {"schedule": "alternate", "blocks": 2, "block_s": 1,
                                                                "warmup_block_s": 0.5}}})
    report = run_scenario(scenario, trials=2)
    ab = report.ab
    assert len(ab.blocks) == 8 and ab.blocks_per_side == 4 and ab.order == "ABBAABBA"  # 2 pairs x --trials 2
    assert ab.verdict == "invalid" and len(ab.invalid_blocks) == 8
    assert report.exit_code == 3 and not report.passed
    assert "8 of 8 load block(s) INVALID" in report.error["what"]
    run_dir = _run_dir(report, harness_options)
    assert (run_dir / "load" / "ab" / "00-warm-up-candidate" / "result.json").is_file()
    assert "load blocks valid" in [c.get("name") for c in ET.parse(run_dir / "junit.xml").getroot().iter("testcase")]
    assert "8 block(s) INVALID" in (run_dir / "summary.md").read_text()


def test_concurrent_schedule_loads_both_sides_in_the_same_window(run_scenario, scenario_copy):
    scenario = scenario_copy("digits-ab.yaml", {"load": {"ab": {"schedule": "concurrent", "blocks": 2, "block_s": 1,
                                                                "warmup_block_s": 0}}})
    report = run_scenario(scenario)
    assert report.passed, report.error
    ab = report.ab
    assert ab.order == "A+B A+B" and ab.warmup_block_s == 0 and len(ab.blocks) == 4
    for pair in (1, 2):
        a, b = (json.loads(Path(x.result).read_text()) for x in ab.blocks if x.pair == pair)
        assert a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]  # the windows overlap
    assert next(m for m in ab.metrics if m.metric == "p50_ms").pairs == 2


def test_interleaved_grpc_v2_sends_each_side_its_own_model_infer(run_scenario, scenario_copy):
    # Each side's ModelInfer is built for its own endpoint; the candidate's model name differs here.
    scenario = scenario_copy("digits-grpc.yaml", {
        "candidate": {"model": {"name": "digits-next", "version": "2.0"}},
        "load": {"users": 2, "warmup_s": 0.5, "duration_s": 2,
                 "ab": {"blocks": 2, "block_s": 1, "warmup_block_s": 0.5,
                        "thresholds": {"p50_ms": None, "p95_ms": None, "p99_ms": None, "throughput_rps": None,
                                       "server_inference_ms": None}}}})
    report = run_scenario(scenario)
    assert report.passed, report.error
    ab = report.ab
    assert ab.schedule == "interleaved" and len(ab.blocks) == 4
    for b in ab.blocks:
        assert b.status == "PASS" and b.metrics["error_rate"] == 0.0 and b.metrics["throughput_rps"] > 0

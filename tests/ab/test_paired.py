"""A/B pieces without a server: paired statistics and verdicts, the ABBA order, outputs agreement
on canned answers, and the candidate section's validation."""
from __future__ import annotations

import json
import math

import pytest

from harness.ab.agreement import Source, compare_outputs, rows
from harness.ab.blocks import abba
from harness.ab.model import AbBlock
from harness.ab.paired import (AB_THRESHOLDS, ab_thresholds, judge_blocks, mean_interval, overall_verdict,
                               paired_differences, paired_metric)
from harness.endpoint import Response
from harness.errors import ConfigError
from harness.report.compare.thresholds import MetricThreshold
from harness.spec import load_scenario
from tests.helpers import FIXTURES


def test_mean_interval_is_the_paired_t_interval():
    mean, low, high = mean_interval([0.1, 0.2, 0.3])
    half = 4.303 * 0.1 / math.sqrt(3)  # t(0.975, df 2) x sd / sqrt(n)
    assert mean == pytest.approx(0.2) and low == pytest.approx(0.2 - half) and high == pytest.approx(0.2 + half)
    assert mean_interval([0.5]) == (0.5, None, None) and mean_interval([]) == (None, None, None)


def test_differences_are_relative_or_absolute_and_skip_missing_pairs():
    assert paired_differences([10.0, 20.0, None, 0.0], [11.0, 18.0, 5.0, 1.0], absolute=False) == \
        pytest.approx([0.1, -0.1])
    assert paired_differences([0.0, 0.01], [0.02, 0.01], absolute=True) == pytest.approx([0.02, 0.0])


REL = MetricThreshold(threshold=0.10)


@pytest.mark.parametrize("base, cand, worse_up, verdict", [
    ([10, 10, 10, 10], [15, 15.2, 14.8, 15.1], True, "regression"),      # +50 %, tight interval
    ([10, 10, 10, 10], [15, 15.2, 14.8, 15.1], False, "improvement"),    # the same on throughput
    ([10, 10, 10, 10], [10.1, 9.9, 10.05, 9.95], True, "no change"),     # interval inside ±10 %
    ([10, 10, 10, 10], [10.5, 10.5, 10.6, 10.4], True, "no change"),     # real, but +5 % < 10 %
    ([10, 10, 10, 10], [8, 16, 9, 15], True, "inconclusive"),            # +20 % but 0 inside the interval
    ([10], [20], True, "inconclusive"),                                  # one pair: no interval
])
def test_verdicts(base, cand, worse_up, verdict):
    pm = paired_metric("p50_ms", "latency p50", "ms", worse_up, REL, base, cand)
    assert pm.verdict == verdict, pm.reason
    assert pm.pairs == len(base) and pm.baseline == pytest.approx(sum(base) / len(base))


def test_report_only_metric_and_absolute_error_rate():
    assert paired_metric("server_queue_ms", "q", "ms", True, MetricThreshold(threshold=None),
                         [1, 2], [3, 4]).verdict == "info"
    err = paired_metric("error_rate", "error rate", "", True, MetricThreshold(threshold=0.01, absolute=True),
                        [0.0, 0.0, 0.0], [0.2, 0.21, 0.19])
    assert err.verdict == "regression" and err.mean == pytest.approx(0.2)


def test_abba_order_flips_every_pair():
    assert "".join("A" if s == "baseline" else "B" for _, s in abba(3)) == "ABBAAB"
    assert [p for p, _ in abba(2)] == [1, 1, 2, 2]


class Canned:
    def __init__(self, body, status: int = 200) -> None:
        self.text, self.status = json.dumps(body), status

    def post(self, body, path=None) -> Response:
        return Response(status=self.status, body=json.loads(self.text), text=self.text, elapsed_ms=1.0)


def test_rows_of_v1_and_v2_bodies():
    assert rows({"predictions": [[1, 2], [3, 4]]}) == [[1, 2], [3, 4]]
    assert rows({"outputs": [{"shape": [2, 2], "data": [1, 2, 3, 4]}]}) == [[1, 2], [3, 4]]
    assert rows("text") == ["text"]


def test_agreement_counts_rows_largest_difference_and_top1():
    src = [Source("check c", "check", b"{}", None, atol=1e-3)]
    same = compare_outputs(src, Canned({"predictions": [[0.1, 0.9], [0.8, 0.2]]}),
                           Canned({"predictions": [[0.1001, 0.9], [0.8, 0.2]]}))
    assert same.all_agree and same.agree == 2 and same.top1_agree == 2 and same.max_abs_diff == pytest.approx(1e-4)
    diff = compare_outputs(src, Canned({"predictions": [[0.1, 0.9], [0.8, 0.2]]}),
                           Canned({"predictions": [[0.9, 0.1], [0.8, 0.2]]}))
    assert not diff.all_agree and diff.agree == 1 and (diff.top1_compared, diff.top1_agree) == (2, 1)
    assert diff.max_abs_diff == pytest.approx(0.8) and diff.sources[0].differences[0].startswith("$[0][0]")
    status = compare_outputs(src, Canned({"predictions": [[1]]}), Canned({"error": "x"}, status=500))
    assert not status.all_agree and "HTTP status" in status.sources[0].differences[0]


BASE = f"""
name: digits
model: {{name: digits, serialized_file: {FIXTURES}/digits/model.pt}}
storage: {{uri: gs://harness-e2e/models/digits}}
"""


def _write(tmp_path, text: str):
    p = tmp_path / "s.yaml"
    p.write_text(BASE + text)
    return p


def test_candidate_overrides_the_model_and_gets_its_own_storage(tmp_path):
    spec = load_scenario(_write(tmp_path, "candidate: {model: {version: '2.0', handler: tensor}}\n"))
    cand = spec.candidate_scenario
    assert cand.model.version == "2.0" and cand.model.name == "digits"
    assert cand.storage.uri == "gs://harness-e2e/models/digits-candidate" and cand.name == "digits-candidate"


def test_candidate_from_another_scenario_file(tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(BASE.replace("name: digits\n", "name: other\n", 1))
    spec = load_scenario(_write(tmp_path, f"candidate: {{scenario: {other.name}}}\n"))
    assert spec.candidate_scenario.name == "other"


@pytest.mark.parametrize("text, field", [
    ("candidate: {model: {handlr: x.py}}\n", "candidate: model.handlr: unknown key"),
    ("candidate: {}\n", "candidate: Value error, empty"),
    ("candidate: {scenario: x.yaml, model: {version: '2'}}\n", "candidate: Value error, give candidate.scenario"),
    ("candidate: {runtime: onnx}\n", "candidate.runtime"),
    ("candidate: {model: {name: 'a b'}}\n", "candidate: model.name"),
    ("load: {users: 1, duration_s: 1, requests: [r.json], ab: {block_s: 1}}\n", "load.ab: an A/B block plan needs"),
    ("candidate: {model: {version: '2'}}\nload: {users: 1, requests: [r.json], stages: [{duration_s: 1, users: 1}], "
     "ab: {}}\n", "drop stages or sweep"),
    ("candidate: {model: {version: '2'}}\nload: {users: 1, duration_s: 1, requests: [r.json], ab: {thresholds: {p51_ms: 0.1}}}\n",
     "unknown metric(s) p51_ms"),
    ("candidate: {model: {version: '2'}}\nload: {users: 1, duration_s: 1, requests: [r.json], ab: {thresholds: {p50_ms: -1}}}\n",
     "a threshold must be >= 0"),
    ("candidate: {model: {version: '2'}}\nload: {users: 1, duration_s: 1, requests: [r.json], ab: {thresholds: {p50_ms: fast}}}\n",
     "load.ab.thresholds"),
])
def test_a_bad_candidate_is_one_config_line_naming_the_field(tmp_path, text, field):
    with pytest.raises(ConfigError) as err:
        load_scenario(_write(tmp_path, text))
    line = err.value.one_line()
    assert field in line and "\n" not in line, line


def test_a_candidate_lint_finding_stops_the_run_before_anything_deploys(tmp_path):
    from harness.progress import Progress
    from harness.runner import RunOptions, ScenarioRun

    spec = load_scenario(_write(tmp_path, "candidate: {model: {handler: missing_handler.py}}\n"))
    report = ScenarioRun(spec, RunOptions(report_dir=tmp_path / "r", progress=Progress(quiet=True))).execute()
    assert report.exit_code == 2 and report.error["what"].startswith("candidate: "), report.error
    assert not [p for p in report.phases if p.name in ("deploy", "candidate-deploy")]


def test_harness_lint_lints_the_candidate_too(tmp_path, capsys):
    from harness.cli import main

    path = _write(tmp_path, "candidate: {model: {handler: missing_handler.py}}\n")
    assert main(["lint", str(path)]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "candidate: " in out[0] and "missing_handler.py" in out[0], out


def test_ab_thresholds_override_only_what_they_name():
    th = ab_thresholds({"p50_ms": 0.05, "p99_ms": None, "error_rate": {"threshold": 0.02}})
    assert th["p50_ms"].threshold == 0.05 and th["p99_ms"].threshold is None
    assert th["error_rate"].threshold == 0.02 and th["error_rate"].absolute  # absolute kept from the default
    assert th["p95_ms"] == AB_THRESHOLDS["p95_ms"] and ab_thresholds({}) == AB_THRESHOLDS


def _blocks(p50s: list[tuple[float, float]], invalid_pairs: set[int] = frozenset()) -> list[AbBlock]:
    out = []
    for pair, (a, b) in enumerate(p50s, 1):
        for side, v in (("baseline", a), ("candidate", b)):
            out.append(AbBlock(side=side, pair=pair, order=len(out) + 1,
                               status="INVALID" if pair in invalid_pairs else "PASS",
                               metrics={"p50_ms": v, "throughput_rps": 1000 / v, "error_rate": 0.0}))
    return out


def test_an_8_percent_slowdown_in_tight_pairs_is_a_regression_at_the_ab_threshold():
    metrics, reasons = judge_blocks(_blocks([(10.0, 10.8), (10.4, 11.2), (9.8, 10.6), (10.1, 10.9)]), AB_THRESHOLDS)
    p50 = next(m for m in metrics if m.metric == "p50_ms")
    assert p50.verdict == "regression" and p50.pairs == 4 and p50.low > 0.05, p50.reason
    assert any(r.startswith("latency p50: regression") for r in reasons)
    assert overall_verdict(True, metrics, 4, measured=True) == "regression"


def test_pairs_with_an_invalid_block_are_left_out_and_under_2_valid_pairs_is_invalid():
    metrics, reasons = judge_blocks(_blocks([(10.0, 10.0), (10.0, 30.0), (10.0, 10.1)], invalid_pairs={2}),
                                    AB_THRESHOLDS)
    p50 = next(m for m in metrics if m.metric == "p50_ms")
    assert p50.pairs == 2 and 30.0 not in p50.diffs and abs(p50.mean) < 0.01  # the INVALID pair's +200% is out
    assert reasons[0].startswith("pair(s) 2 left out")
    metrics, _ = judge_blocks(_blocks([(10.0, 10.0), (10.0, 10.0)], invalid_pairs={1}), AB_THRESHOLDS)
    assert overall_verdict(True, metrics, max(m.pairs for m in metrics), measured=True) == "invalid"
    assert overall_verdict(False, metrics, 1, measured=True) == "disagree"  # different answers say more
    assert overall_verdict(True, [], 0, measured=False) == "no change"  # no load: outputs only

"""`harness compare`: the noise-aware verdict, correctness first, thresholds, CLI exit codes."""
from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.errors import ConfigError
from harness.report.compare import compare_paths, load_thresholds, render_compare_html, render_markdown, t975
from tests.report.factory import OUTPUTS, make_run


def _verdicts(comp, step="users=4"):
    return {m.metric: m.verdict for m in comp.runs[0].metrics if m.step == step}


def test_planted_30_percent_slowdown_is_a_regression(tmp_path):
    base = make_run(tmp_path / "b", seed=11)
    cur = make_run(tmp_path / "c", seed=12, slowdown=1.3)
    comp = compare_paths(base, cur)
    assert comp.verdict == "regression" and comp.exit_code() == 1
    v = _verdicts(comp)
    assert v["p50_ms"] == v["p95_ms"] == v["throughput_rps"] == "regression"
    p50 = next(m for m in comp.runs[0].metrics if m.metric == "p50_ms")
    assert 0.25 < p50.change < 0.35 and p50.low < p50.change < p50.high


def test_same_distribution_is_not_flagged_over_many_seeded_pairs(tmp_path):
    """Two runs drawn from the same distribution (plus 3% run-to-run machine noise): no false alarm."""
    verdicts = []
    for pair in range(10):
        base = make_run(tmp_path / f"b{pair}", seed=100 + pair, run_jitter=0.03)
        cur = make_run(tmp_path / f"c{pair}", seed=200 + pair, run_jitter=0.03)
        verdicts.append(compare_paths(base, cur).verdict)
    assert "regression" not in verdicts, verdicts


def test_trials_give_the_uncertainty_and_catch_the_slowdown(tmp_path):
    base = make_run(tmp_path / "b", seed=21, trials=3, run_jitter=0.02)
    same = make_run(tmp_path / "s", seed=22, trials=3, run_jitter=0.02)
    slow = make_run(tmp_path / "c", seed=23, trials=3, run_jitter=0.02, slowdown=1.3)
    assert compare_paths(base, same).verdict != "regression"
    comp = compare_paths(base, slow)
    assert comp.verdict == "regression"
    p50 = next(m for m in comp.runs[0].metrics if m.metric == "p50_ms")
    assert p50.baseline.source == "trials" and p50.baseline.n == 3 and p50.current.cv is not None


def test_trials_that_disagree_make_it_unstable_not_a_regression(tmp_path):
    base = make_run(tmp_path / "b", seed=31, trials=3, trial_slowdowns=[1.0, 1.01, 0.99])
    cur = make_run(tmp_path / "c", seed=32, trials=3, trial_slowdowns=[0.9, 1.3, 1.0])
    comp = compare_paths(base, cur)
    assert comp.verdict == "unstable" and comp.exit_code() == 0 and comp.exit_code(fail_on_unstable=True) == 1
    p50 = next(m for m in comp.runs[0].metrics if m.metric == "p50_ms")
    assert p50.verdict == "unstable" and "trials disagree" in p50.reason


def test_a_slow_first_trial_is_named_as_too_short_a_warm_up(tmp_path):
    base = make_run(tmp_path / "b", seed=33, trials=3, trial_slowdowns=[1.6, 1.0, 1.01])
    cur = make_run(tmp_path / "c", seed=34, trials=3, trial_slowdowns=[1.0, 1.01, 0.99])
    p50 = next(m for m in compare_paths(base, cur).runs[0].metrics if m.metric == "p50_ms")
    assert p50.verdict == "unstable" and "first trial is the outlier" in p50.reason and "warmup_s" in p50.reason


def test_a_generator_bottleneck_makes_metrics_unstable(tmp_path):
    base = make_run(tmp_path / "b", seed=41)
    cur = make_run(tmp_path / "c", seed=42, slowdown=1.05, valid=False)
    comp = compare_paths(base, cur)
    assert comp.verdict == "unstable"
    assert "bottleneck" in next(m for m in comp.runs[0].metrics if m.metric == "p50_ms").reason


def test_changed_outputs_are_a_regression_even_when_faster(tmp_path):
    changed = json.loads(json.dumps(OUTPUTS))
    changed["predictions"][1][2] = 11.76  # beyond atol 1e-5
    base = make_run(tmp_path / "b", seed=51)
    cur = make_run(tmp_path / "c", seed=52, slowdown=0.7, outputs=changed)
    comp = compare_paths(base, cur)
    assert comp.verdict == "regression"
    check = comp.runs[0].checks[0]
    assert check.verdict == "changed" and check.regression
    assert "$.predictions[1][2]" in check.diff[0]
    assert _verdicts(comp)["p50_ms"] == "improvement"


def test_outputs_within_tolerance_and_volatile_ids_are_not_a_change(tmp_path):
    close = json.loads(json.dumps(OUTPUTS))
    close["predictions"][0][0] += 4e-6  # within atol 1e-5
    base = make_run(tmp_path / "b", seed=61, outputs={**OUTPUTS, "id": "0f3c"})
    cur = make_run(tmp_path / "c", seed=62, outputs={**close, "id": "9a21"})
    comp = compare_paths(base, cur)
    assert comp.runs[0].checks[0].verdict == "within tolerance"
    assert comp.verdict != "regression"
    same_ids = compare_paths(make_run(tmp_path / "x", seed=63, outputs={**OUTPUTS, "id": "a"}),
                             make_run(tmp_path / "y", seed=64, outputs={**OUTPUTS, "id": "b"}))
    assert same_ids.runs[0].checks[0].verdict == "same"


def test_missing_response_files_with_a_different_hash_is_a_regression(tmp_path):
    changed = {"predictions": [[0.0]]}
    base = make_run(tmp_path / "b", seed=65)
    cur = make_run(tmp_path / "c", seed=66, outputs=changed)
    (cur / "responses" / "three-digits-v1.json").unlink()
    comp = compare_paths(base / "report.json", cur / "report.json")
    assert comp.runs[0].checks[0].verdict == "changed" and comp.verdict == "regression"


def test_a_failing_check_or_failed_run_is_a_regression(tmp_path):
    base = make_run(tmp_path / "b", seed=71)
    assert compare_paths(base, make_run(tmp_path / "c", seed=72, check_passed=False)).verdict == "regression"
    err = {"kind": "deploy error", "what": "never READY", "line": "deploy error: never READY"}
    comp = compare_paths(base, make_run(tmp_path / "d", seed=73, error=err, with_load=False))
    assert comp.verdict == "regression" and any("never READY" in r for r in comp.runs[0].reasons)


def test_folders_of_runs_are_paired_by_scenario(tmp_path):
    for seed, name, slow in ((1, "digits", 1.0), (2, "pipeline", 1.0)):
        make_run(tmp_path / "base", name=name, seed=seed, slowdown=slow)
    make_run(tmp_path / "cur", name="digits", seed=3)
    make_run(tmp_path / "cur", name="pipeline", seed=4, slowdown=1.3)
    make_run(tmp_path / "cur", name="pipeline", seed=5, run_id="pipeline-older",
             started_at="2026-11-24T10:00:00+00:00")  # older run of the same scenario: ignored
    comp = compare_paths(tmp_path / "base", tmp_path / "cur")
    by = {r.scenario: r.verdict for r in comp.runs}
    assert by["digits"] != "regression" and by["pipeline"] == "regression"
    assert next(r for r in comp.runs if r.scenario == "pipeline").current_run != "pipeline-older"


def test_older_baseline_runs_pool_their_trials_and_a_single_run_borrows_the_spread(tmp_path):
    for i in range(5):  # a noisy machine: +-25% from run to run
        make_run(tmp_path / "base", seed=300 + i, run_jitter=0.25, run_id=f"digits-{i}",
                 started_at=f"2026-11-2{i}T03:00:00+00:00")
    cur = make_run(tmp_path / "cur", seed=310, slowdown=1.2)  # inside that noise
    comp = compare_paths(tmp_path / "base", cur)
    rc = comp.runs[0]
    assert rc.runs == (5, 1) and rc.trials == (5, 1) and rc.baseline_run == "digits-4"
    p50 = next(m for m in rc.metrics if m.metric == "p50_ms")
    assert p50.baseline.source == "trials" and p50.current.source == "borrowed"
    assert p50.verdict != "regression"
    much_slower = make_run(tmp_path / "slow", seed=311, slowdown=3.0)
    assert compare_paths(tmp_path / "base", much_slower).verdict == "regression"


def test_a_scenario_missing_from_the_current_runs_is_a_regression(tmp_path):
    make_run(tmp_path / "base", name="digits", seed=1)
    make_run(tmp_path / "base", name="pipeline", seed=2)
    make_run(tmp_path / "cur", name="digits", seed=3)
    make_run(tmp_path / "cur", name="cifar", seed=4)
    comp = compare_paths(tmp_path / "base", tmp_path / "cur")
    assert comp.verdict == "regression"
    assert any("new (no baseline" in n for n in comp.unpaired)


def test_thresholds_are_configurable(tmp_path):
    base = make_run(tmp_path / "b", seed=81)
    cur = make_run(tmp_path / "c", seed=82, slowdown=1.3)
    lax = tmp_path / "lax.yaml"
    lax.write_text("k: 1.0\nmetrics:\n  p50_ms: 0.5\n  p95_ms: {threshold: 0.5}\n  p99_ms: 0.5\n"
                   "  throughput_rps: 0.5\n  server_inference_ms: null\n")
    comp = compare_paths(base, cur, load_thresholds(lax))
    assert comp.verdict != "regression"
    assert _verdicts(comp)["server_inference_ms"] == "info"
    comp = compare_paths(base, cur, load_thresholds(lax, ["p50_ms=0.1"]))
    assert _verdicts(comp)["p50_ms"] == "regression"


@pytest.mark.parametrize("content, overrides, match", [
    ("metrics:\n  p42_ms: 0.1\n", [], "unknown metric"),
    ("metrics:\n  p50_ms: -1\n", [], ">= 0"),
    ("k: [1\n", [], "not valid YAML"),
    ("surprise: 1\n", [], "surprise"),
    ("", ["p50_ms"], "METRIC=VALUE"),
    ("", ["p50_ms=fast"], "not a number"),
])
def test_bad_thresholds_are_one_line_config_errors(tmp_path, content, overrides, match):
    f = tmp_path / "t.yaml"
    f.write_text(content)
    with pytest.raises(ConfigError, match=match):
        load_thresholds(f, overrides)


def test_t_quantiles():
    assert t975(1) == pytest.approx(12.706)
    assert t975(10) == pytest.approx(2.228)
    assert t975(11) == pytest.approx(2.201, abs=0.005)
    assert t975(1e9) == pytest.approx(1.96, abs=1e-3)


def test_markdown_and_html_say_what_changed(tmp_path):
    comp = compare_paths(make_run(tmp_path / "b", seed=91, users=[1, 4], trials=2),
                         make_run(tmp_path / "c", seed=92, users=[1, 4], trials=2, slowdown=1.3))
    md = render_markdown(comp)
    assert md.startswith("# 🔴 REGRESSION") and "| users=4 | latency p50 (ms) |" in md
    html = render_compare_html(comp)
    assert "Change vs baseline · users=1" in html and "p95 latency against users" in html
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


# -- CLI -------------------------------------------------------------------------------------------
def test_cli_compare_exit_codes_and_outputs(tmp_path, capsys):
    base = make_run(tmp_path / "b", seed=101)
    same = make_run(tmp_path / "s", seed=102)
    slow = make_run(tmp_path / "c", seed=103, slowdown=1.3)
    assert main(["compare", str(base), str(same)]) == 0
    assert "harness compare" in capsys.readouterr().out
    out = tmp_path / "out"
    rc = main(["compare", str(base / "report.json"), str(slow), "--markdown", str(out / "c.md"),
               "--html", str(out / "c.html"), "--json", str(out / "c.json")])
    assert rc == 1
    err = capsys.readouterr().err
    assert err.startswith("REGRESSION: 1 run(s) compared, regression in digits")
    assert (out / "c.md").read_text().startswith("# 🔴 REGRESSION")
    assert (out / "c.html").read_text().startswith("<!DOCTYPE html>")
    assert json.loads((out / "c.json").read_text())["verdict"] == "regression"


def test_cli_compare_usage_errors_are_one_line(tmp_path, capsys):
    good = make_run(tmp_path / "g", seed=111)
    bad_json = tmp_path / "bad" / "report.json"
    bad_json.parent.mkdir()
    bad_json.write_text("{not json")
    future = tmp_path / "future" / "report.json"
    future.parent.mkdir()
    future.write_text(json.dumps({**json.loads((good / "report.json").read_text()), "schema_version": "9.0"}))
    wrong = tmp_path / "wrong" / "report.json"
    wrong.parent.mkdir()
    wrong.write_text(json.dumps({"schema_version": "1.1", "run_id": 3}))
    for args, match in (([str(tmp_path / "nope"), str(good)], "no such run directory"),
                        ([str(bad_json), str(good)], "not valid JSON"),
                        ([str(good), str(future)], "schema 9.0"),
                        ([str(good), str(wrong)], "does not match the report schema"),
                        ([str(good), str(good), "--thresholds", str(tmp_path / "none.yaml")], "thresholds file")):
        assert main(["compare", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert match in err and "\n" not in err and "Traceback" not in err
    assert main(["compare", str(good)]) == 2  # a usage mistake: one line, exit 2
    assert "usage error" in capsys.readouterr().err


def test_cli_report_rerenders_from_report_json(tmp_path, capsys):
    run = make_run(tmp_path, seed=121, trials=2)
    before = (run / "report.html").read_text()
    for name in ("report.html", "summary.md", "junit.xml"):
        (run / name).unlink()
    assert main(["report", str(run)]) == 0
    assert (run / "report.html").read_text() == before
    assert (run / "summary.md").is_file() and (run / "junit.xml").is_file()
    assert "wrote" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no report.json found" in capsys.readouterr().err


def test_cli_run_rejects_zero_trials(capsys):
    assert main(["run", "scenarios/digits.yaml", "--trials", "0"]) == 2
    assert "whole number >= 1" in capsys.readouterr().err

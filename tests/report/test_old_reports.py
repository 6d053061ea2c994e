"""Reports written before the typed load schema (1.3) still load, render, re-render and compare.

tests/report/data/report-1.2.json is the report.json of a real `harness run
scenarios/digits-grpc.yaml` on the local target, written by the harness at schema 1.2 (load as a
free JSON dict). It is kept as written: the run directory's other files are not there, so the
response files and raw load records are missing, which a report must survive.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.cli import main
from harness.errors import ConfigError
from harness.load.result import LoadResult, StepResult
from harness.report.compare import compare_paths, render_compare_html, render_markdown
from harness.report.model import SCHEMA_VERSION, Report, load_report
from harness.report.writer import render_outputs, rerender
from tests.helpers import REPO

OLD = Path(__file__).parent / "data" / "report-1.2.json"


def _copy(tmp_path: Path, name: str, raw: dict | None = None) -> Path:
    run = tmp_path / name
    run.mkdir(parents=True)
    if raw is None:
        shutil.copy(OLD, run / "report.json")
    else:
        (run / "report.json").write_text(json.dumps(raw))
    return run


def test_the_1_2_report_loads_typed():
    report = load_report(OLD)
    assert report.schema_version == "1.2" != SCHEMA_VERSION
    assert isinstance(report.load, LoadResult) and isinstance(report.load.steps[0], StepResult)
    p50 = report.load.steps[0].client.latency_ms.p50
    assert isinstance(p50, float) and p50 > 0
    assert report.load.verdict.status == "PASS" and report.load_results() == [report.load]
    assert report.unknown_fields == [] and report.cold_start is None  # before schema 1.5
    assert report.ab is None  # before schema 1.6


def test_the_1_2_report_renders(tmp_path):
    outputs = render_outputs(load_report(OLD))
    assert "## Load" in outputs["summary.md"] and "| users=4 |" in outputs["summary.md"]
    html = outputs["report.html"]
    assert html.startswith("<!DOCTYPE html>") and "<h2>Load</h2>" in html and "Latency over time" in html
    assert "report schema 1.2" in html
    assert "users=4: verdict" in outputs["junit.xml"]


def test_harness_report_rerenders_a_copy(tmp_path):
    run = _copy(tmp_path, "old-run")
    written = rerender(run)
    assert sorted(p.name for p in written) == ["junit.xml", "report.html", "summary.md"]
    done = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(run)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("wrote ") == 3
    assert "<h2>Load</h2>" in (run / "report.html").read_text()
    assert json.loads((run / "report.json").read_text()) == json.loads(OLD.read_text())  # not rewritten


def test_harness_compare_finds_no_regression_against_itself(tmp_path, capsys):
    base, cur = _copy(tmp_path, "base"), _copy(tmp_path, "cur")
    comp = compare_paths(base, cur)
    assert comp.verdict == "no change" and comp.exit_code() == 0
    rc = comp.runs[0]
    assert rc.checks[0].verdict == "same" and rc.load_verdicts == [("users=4", "PASS", "PASS")]
    p50 = next(m for m in rc.metrics if m.metric == "p50_ms")
    assert p50.change == 0.0 and p50.verdict == "no change"
    assert render_markdown(comp).startswith("# ⚪ NO CHANGE") and "<h1>NO CHANGE" in render_compare_html(comp)
    assert main(["compare", str(base), str(cur)]) == 0
    captured = capsys.readouterr()
    assert "NO CHANGE" in captured.out and captured.err.startswith("NO CHANGE: 1 run(s) compared")


def test_reading_is_tolerant_of_unknown_fields_and_says_which(tmp_path):
    raw = json.loads(OLD.read_text())
    raw["schema_version"] = "1.99"  # a newer minor version of the same schema
    raw["from_the_future"] = {"x": 1}
    raw["load"]["steps"][0]["queue_depth"] = 3
    raw["load"]["steps"][0]["client"]["p999_ms"] = 250.0
    report = load_report(_copy(tmp_path, "newer", raw))
    assert report.load.steps[0].client.latency_ms.p50 == pytest.approx(118.145)
    assert sorted(report.unknown_fields) == ["ClientFigures.p999_ms", "Report.from_the_future",
                                             "StepResult.queue_depth"]
    assert render_outputs(report)["report.html"]


def test_building_in_code_is_strict():
    with pytest.raises(ValidationError, match="unknown_field"):
        Report(run_id="r", started_at="now", scenario={"name": "s"}, target={"name": "local"}, unknown_field=1)
    step = json.loads(OLD.read_text())["load"]["steps"][0]
    with pytest.raises(ValidationError, match="queue_depth"):
        StepResult.model_validate({**step, "queue_depth": 3})  # no reading context: strict
    assert StepResult.model_validate(step).label == "users=4"


def test_another_major_version_is_refused(tmp_path):
    raw = {**json.loads(OLD.read_text()), "schema_version": "2.0"}
    with pytest.raises(ConfigError, match="report schema 2.0 is not readable"):
        load_report(_copy(tmp_path, "major", raw))

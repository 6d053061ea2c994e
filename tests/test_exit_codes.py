"""Exit codes CI can tell apart, and a report for every exit that is not 0.

Flow: a bug inside a run (fault injected into the runner) -> exit 4, one line, report.json error,
junit.xml error, traceback kept in diagnostics; a report directory that cannot be written -> exit
2 before anything runs; a full disk while writing the report (the kernel's ENOSPC, from /dev/full)
-> what was written stays, no temporary file is left, the error names the path; argparse mistakes
are one line.
"""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from harness.errors import EXIT_INTERNAL, EXIT_INVALID, EXIT_USAGE, EnvironmentProblem
from harness.report.model import Report
from harness.report.writer import write_report
from harness.runner import ScenarioRun
from tests.helpers import REPO, SCENARIOS, offline_gcs_credentials


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_a_bug_during_a_run_exits_4_with_a_report_and_a_traceback(run_scenario, monkeypatch, harness_options):
    def broken(self, predictor):
        raise KeyError("a harness bug")

    monkeypatch.setattr(ScenarioRun, "_checks", broken)
    report = run_scenario(SCENARIOS / "digits.yaml")
    assert report.exit_code == EXIT_INTERNAL and not report.passed
    assert report.error["type"] == "InternalError" and report.error["what"] == "KeyError: 'a harness bug'"
    assert "/harness/runner.py:" in report.error["where"]  # the innermost harness frame, not the test's
    run_dir = harness_options.report_dir / report.run_id
    assert "KeyError: 'a harness bug'" in (run_dir / "diagnostics" / "traceback.txt").read_text()
    suite = ET.parse(run_dir / "junit.xml").getroot().find("testsuite")
    assert suite.get("errors") == "1"


def test_an_unwritable_report_dir_is_one_line_and_exit_2_before_anything_runs(tmp_path):
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    done = _cli("run", str(SCENARIOS / "digits.yaml"), "--report-dir", str(a_file))
    assert done.returncode == EXIT_USAGE
    assert done.stderr.strip().splitlines() == [
        f"environment error: the report directory is not writable: File exists at {a_file} — "
        "pass a writable folder as --report-dir"]


def test_a_full_disk_while_reporting_keeps_what_was_written_and_names_the_path(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "summary.md.tmp").symlink_to("/dev/full")  # the kernel answers ENOSPC on write
    report = Report(run_id="r", started_at="now", target={"name": "local"}, scenario={"name": "s"})
    with pytest.raises(EnvironmentProblem) as info:
        write_report(report, run_dir)
    assert info.value.where == str(run_dir / "summary.md") and "No space left on device" in info.value.what
    assert Report.model_validate_json((run_dir / "report.json").read_text()).run_id == "r"
    assert sorted(p.name for p in run_dir.iterdir()) == ["report.json"]


@pytest.mark.parametrize("args,expected", [
    (["run", "x.yaml", "--workers", "0"], "argument --workers: expected a whole number >= 1, got '0'"),
    (["frobnicate"], "argument command: invalid choice: 'frobnicate'"),
])
def test_usage_mistakes_are_one_line(args, expected):
    done = _cli(*args)
    assert done.returncode == EXIT_USAGE
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("usage error: harness") and expected in line


def test_an_invalid_measurement_with_passing_checks_exits_3(run_scenario, scenario_copy):
    """A generator held to an impossible CPU limit makes the load INVALID: not the model's failure.

    (A rate the machine cannot generate would do too, but it also overloads the server here, whose
    errors then make the run FAIL; the CPU limit judges the generator alone.)"""
    report = run_scenario(scenario_copy("digits.yaml", {"load": {
        "mode": "open", "rate": 20, "duration_s": 2, "self_check": {"max_cpu_percent": 0.001},
        "requests": [str(SCENARIOS.parent / "fixtures/digits/request_v1.json")]}}))
    assert all(c.passed for c in report.checks) and report.load.verdict.status == "INVALID", report.load.verdict
    assert report.exit_code == EXIT_INVALID and not report.passed
    assert report.error["type"] == "InvalidMeasurement" and report.error["what"].startswith("load INVALID: ")


def test_real_gcs_that_cannot_be_reached_is_one_line(tmp_path):
    """--real-gcs with credentials whose token endpoint does not answer (no network): one line,
    exit 2, within seconds. The token endpoint is a closed port on 127.0.0.1, so nothing leaves
    this machine; google-auth fails exactly as it does without network."""
    creds = offline_gcs_credentials(tmp_path / "sa.json")
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(SCENARIOS / "digits.yaml"), "--real-gcs",
                           "--report-dir", str(tmp_path / "reports")], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(creds)})
    assert done.returncode == EXIT_USAGE, done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("environment error:")]
    assert len(errors) == 1 and "cannot authenticate to Google Cloud" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    report = Report.model_validate_json(next((tmp_path / "reports").glob("*/report.json")).read_text())
    assert report.error["type"] == "EnvironmentProblem" and report.exit_code == EXIT_USAGE

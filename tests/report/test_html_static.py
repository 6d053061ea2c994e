"""report.html, junit.xml and summary.md as files: self-contained, complete, valid."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from harness.report.model import SCHEMA_VERSION, load_report
from tests.report.factory import make_run


def _svgs(html: str) -> list[str]:
    return re.findall(r"<svg class=\"plot\".*?</svg>", html, flags=re.S)


def test_report_html_is_self_contained_and_has_every_section(tmp_path):
    run = make_run(tmp_path, seed=1)
    html = (run / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    # no scripts, stylesheets, images or fonts from anywhere; the only URL is the SVG namespace
    assert "<script" not in html and "<link" not in html and "<img" not in html and "@import" not in html
    urls = set(re.findall(r"https?://[^\s\"'<]+", html.replace('xmlns="http://www.w3.org/2000/svg"', "")))
    assert urls == {"http://127.0.0.1:8085", "http://127.0.0.1:8085/v1/models/digits:predict"}  # as text only
    assert not re.search(r'(src|href)="https?:', html)
    for section in ("PASS: digits on local", "Prediction checks", "Load", "SLOs", "Load generator self-check",
                    "Server (TorchServe metrics)", "Phases", "What was tested, on what", "Files and diagnostics"):
        assert section in html, section
    for fact in ("TorchServe", "KServe", "torch", "Python", "archive sha256", "scenario", "GPU", "machine",
                 "2 cores, 7.7 GiB"):
        assert f">{fact}<" in html or fact in html
    svgs = _svgs(html)
    assert len(svgs) >= 6
    for svg in svgs:
        ET.fromstring(svg)  # each plot is well-formed XML


def test_links_are_relative_to_the_run_directory(tmp_path):
    run = make_run(tmp_path, seed=2)
    html = (run / "report.html").read_text()
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert "responses/three-digits-v1.json" in hrefs and "load/result.json" in hrefs
    assert all(not h.startswith("/") for h in hrefs)
    for h in hrefs:
        if h != "load/result.json":  # the factory writes no load result file
            assert (run / h).is_file(), h


def test_report_json_round_trips_with_the_new_fields(tmp_path):
    run = make_run(tmp_path, seed=3, trials=3, users=[1, 4])
    report = load_report(run)
    assert report.schema_version == SCHEMA_VERSION == "1.9"
    assert report.trials == 3 and len(report.load_trials) == 3 and report.load == report.load_trials[0]
    assert len(report.load_results()) == 3
    assert {(h.trial, h.step) for h in report.latency_histograms} == {(t, s) for t in (1, 2, 3)
                                                                     for s in ("users=1", "users=4")}
    check = report.checks[0]
    assert len(check.response_sha256) == 64 and check.response_file == "responses/three-digits-v1.json"
    assert check.atol == 1e-5


def test_a_run_without_load_and_with_an_error_still_renders(tmp_path):
    err = {"kind": "deploy error", "what": "TorchServe <worker> never READY", "line": "deploy error: ...",
           "where": "x", "hint": "see the log", "details": "boom"}
    run = make_run(tmp_path, seed=4, with_load=False, error=err)
    html = (run / "report.html").read_text()
    assert "FAIL: digits" in html and "TorchServe &lt;worker&gt; never READY" in html
    assert "<h2>Load</h2>" not in html and _svgs(html) == []
    md = (run / "summary.md").read_text()
    assert md.startswith("# FAIL: digits on local")


def test_summary_has_the_trials_table(tmp_path):
    md = (make_run(tmp_path, seed=5, trials=3) / "summary.md").read_text()
    assert "## Load trials (3)" in md and "| 3 | users=4 | PASS |" in md and "trial-to-trial CV" in md


def test_junit_has_one_case_per_check_and_per_slo(tmp_path):
    run = make_run(tmp_path, seed=6, trials=2, users=[1, 4], check_passed=False, p95_slo=25.0)
    root = ET.parse(run / "junit.xml").getroot()
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    names = [c.get("name") for c in cases]
    assert "run" in names and "three-digits-v1" in names
    assert "[trial 2] users=4: p95_ms <= 25" in names and "[trial 1] users=1: error_rate <= 0.01" in names
    assert int(suite.get("tests")) == len(cases) == 1 + 1 + 2 * 2 * 3
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert "expected 11.75" in failed["three-digits-v1"].get("message")
    assert "observed 30" in failed["[trial 1] users=4: p95_ms <= 25"].get("message")
    assert int(suite.get("failures")) == len(failed) and root.get("failures") == suite.get("failures")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["trials"] == "2" and props["archive_sha256"] == "cd" * 32


def test_junit_reports_a_failed_run_as_an_error(tmp_path):
    err = {"kind": "lint error", "what": "batch_size 4 with the kserve envelope", "line": "lint error: batch",
           "hint": "use batch_size 1"}
    root = ET.parse(make_run(tmp_path, seed=7, with_load=False, error=err) / "junit.xml").getroot()
    run_case = next(c for c in root.iter("testcase") if c.get("name") == "run")
    e = run_case.find("error")
    assert e.get("type") == "lint error" and "use batch_size 1" in e.text
    assert root.get("errors") == "1"

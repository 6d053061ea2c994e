"""The A/B section in every output, from a report built in code: report.json round trip,
summary.md, report.html (no script), junit.xml and `harness compare`."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.ab.model import AbBlock, AbResult, AbSide, OutputsAgreement, OutputsSource
from harness.ab.paired import paired_metric
from harness.report.compare import compare_runs
from harness.report.compare.render import render_compare_html, render_markdown
from harness.report.compare.thresholds import MetricThreshold
from harness.report.compare.verdict import Comparison
from harness.report.model import load_report
from harness.report.writer import write_report
from tests.report.factory import make_run


def _ab() -> AbResult:
    side = AbSide(role="baseline", scenario="digits", model="digits (handler tensor)", runtime="torchserve")
    p50 = paired_metric("p50_ms", "latency p50", "ms", True, MetricThreshold(threshold=0.1),
                        [10.0, 10.2, 9.9], [13.0, 13.1, 12.8])
    src = OutputsSource(name="check three-digits-v1", kind="check", atol=1e-4, status=(200, 200), outputs=3, agree=2,
                        max_abs_diff=0.5, top1_compared=3, top1_agree=2,
                        differences=["$[1][0]: expected 0.5, got 1.0 (|diff| 0.5 > atol 0.0001)"])
    ab = AbResult(baseline=side, candidate=side.model_copy(update={"role": "candidate", "scenario": "digits-candidate"}),
                  block_s=2.0, blocks_per_side=3, order="ABBAAB", metrics=[p50],
                  blocks=[AbBlock(side="baseline", pair=1, order=1, status="PASS", metrics={"p50_ms": 10.0})],
                  outputs=OutputsAgreement(sources=[src], outputs=3, agree=2, max_abs_diff=0.5, top1_compared=3,
                                           top1_agree=2),
                  verdict="disagree", reasons=["outputs: 1 of 3 disagree beyond the check's tolerance"])
    return ab


def test_ab_section_in_every_output(tmp_path):
    run_dir = make_run(tmp_path, with_load=False)
    report = load_report(run_dir)
    report.ab = _ab()
    write_report(report, run_dir)
    again = load_report(run_dir)
    assert again.ab == report.ab and again.ab.failed and again.unknown_fields == []
    md = (run_dir / "summary.md").read_text()
    assert "## A/B: disagree" in md and "+29.2% [" in md and "outputs agree within tolerance: 2/3" in md
    assert "top-1 agreement 2/3" in md and "$[1][0]: expected 0.5" in md
    html = (run_dir / "report.html").read_text()
    assert "A/B:" in html and "Disagreements" in html and "<script" not in html
    failures = {c.get("name") for c in ET.parse(run_dir / "junit.xml").getroot().iter("testcase")
                if c.find("failure") is not None}
    assert failures == {"latency p50: regression", "outputs agree"}


def test_compare_shows_the_paired_verdict_and_a_failed_ab_is_a_regression(tmp_path):
    base = make_run(tmp_path / "a", with_load=False)
    cur = make_run(tmp_path / "b", with_load=False)
    report = load_report(cur)
    report.ab = _ab()
    write_report(report, cur)
    rc = compare_runs(load_report(base), base, load_report(cur), cur)
    assert rc.verdict == "regression" and rc.ab.verdict == "disagree"
    assert any(r.startswith("A/B run disagree") for r in rc.reasons)
    comp = Comparison(verdict=rc.verdict, runs=[rc])
    assert "### A/B: disagree" in render_markdown(comp) and "A/B:" in render_compare_html(comp)

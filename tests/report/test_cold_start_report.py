"""The cold-start section: report.json round trip, summary.md, report.html, and `harness compare`."""
from __future__ import annotations

import json
from pathlib import Path

from harness.cli import main
from harness.kube.cold_start import kube_cold_start, stage_cold_start, with_first_answer
from harness.report.compare import compare_paths, load_thresholds, render_compare_html, render_markdown
from harness.report.model import load_report
from harness.report.writer import render_outputs
from tests.report.factory import make_run

GKE = json.loads((Path(__file__).parents[1] / "kube" / "data" / "cold-start-gke.json").read_text())


def _local(model_loaded_s: float = 4.25, storage_s: float = 1.5):
    """A local run's cold start (1 ms resolution), its first answer 0.3 s after the front."""
    cs = stage_cold_start({"storage-init": storage_s, "torchserve-ready": model_loaded_s, "front-ready": 2.0}, 1000.0)
    return with_first_answer(cs, 1000.0 + storage_s + model_loaded_s + 2.3, "check three-digits-v1 passed")


def _gke():
    return kube_cold_start(GKE["isvc"], GKE["pod"], GKE["events"], init_log=GKE["init_log"],
                           model_log=GKE["model_log"], uploaded=GKE["uploaded"])


def test_summary_and_html_show_every_phase_and_why_one_is_absent(tmp_path):
    run = make_run(tmp_path, with_load=False, cold_start=with_first_answer(_gke(), None, "no check passed"))
    report = load_report(run)
    assert report.cold_start == with_first_answer(_gke(), None, "no check passed")
    out = render_outputs(report)
    md = out["summary.md"]
    assert "## Cold start" in md and "t = 0: InferenceService creationTimestamp 2026-11-20T14:12:05Z" in md
    assert "| image-pulled | 76.00 | 62.11 | 5804432937 | event Pulled — pulled pytorch/torchserve-kfs:0.12.0" in md
    assert "| storage-download | 13.00 | 7.00 (±1 s) | 15836 |" in md
    assert "| first-answer | — | — | | absent: no check passed |" in md
    html = out["report.html"]
    assert "<h2>Cold start</h2>" in html and "absent: no check passed" in html
    assert html.count('class="bar" style="margin-left:') == 7  # one bar per present phase


def test_a_planted_cold_start_regression_is_named_and_an_unchanged_one_is_not(tmp_path):
    base = make_run(tmp_path / "b", with_load=False, cold_start=_local())
    same = make_run(tmp_path / "s", with_load=False, cold_start=_local(model_loaded_s=4.5))  # +0.25 s: noise
    slow = make_run(tmp_path / "c", with_load=False, cold_start=_local(model_loaded_s=8.0))
    unchanged = compare_paths(base, same)
    assert unchanged.verdict == "no change" and unchanged.exit_code() == 0
    assert {c.phase: c.verdict for c in unchanged.runs[0].cold_start}["model-loaded"] == "no change"

    comp = compare_paths(base, slow)
    assert comp.verdict == "regression" and comp.exit_code() == 1
    rc = comp.runs[0]
    verdicts = {c.phase: c.verdict for c in rc.cold_start}
    assert verdicts["model-loaded"] == verdicts["total"] == "regression"
    assert verdicts["storage-download"] == verdicts["front-ready"] == "no change"
    assert "scheduled" not in verdicts  # on neither side: not a row
    assert any(r.startswith("cold start model-loaded: slower, 4.25 s → 8.00 s (+3.75 s, +88%)") for r in rc.reasons)
    md = render_markdown(comp)
    assert "| model-loaded | 4.25 | 8.00 | +3.75 | 🔴 **regression** |" in md
    assert "<h3>Cold start</h3>" in render_compare_html(comp)
    assert main(["compare", str(base), str(slow)]) == 1
    faster = compare_paths(slow, base)
    assert {c.phase: c.verdict for c in faster.runs[0].cold_start}["model-loaded"] == "improvement"
    assert faster.verdict == "improvement"


def test_one_second_timestamps_are_not_mistaken_for_a_change(tmp_path):
    """A cluster's phases timed from 1 s timestamps swing by up to 2 s between runs."""
    slower = _gke()
    front = next(p for p in slower.phases if p.name == "front-ready")
    front.seconds += 1.5  # 4.28 -> 5.78 s: +35%, but within what two 1 s truncations allow
    comp = compare_paths(make_run(tmp_path / "b", with_load=False, cold_start=_gke()),
                         make_run(tmp_path / "c", with_load=False, cold_start=slower))
    change = next(c for c in comp.runs[0].cold_start if c.phase == "front-ready")
    assert change.verdict == "no change" and change.margin_s == 2.0 and comp.verdict == "no change"


def test_cold_start_thresholds_are_configurable(tmp_path):
    path = tmp_path / "th.yaml"
    path.write_text("cold_start: {relative: 0.05, absolute_s: 0.1}\n")
    th = load_thresholds(path)
    comp = compare_paths(make_run(tmp_path / "b", with_load=False, cold_start=_local()),
                         make_run(tmp_path / "c", with_load=False, cold_start=_local(model_loaded_s=4.5)), th)
    assert comp.verdict == "regression"


def test_runs_without_a_cold_start_compare_as_before(tmp_path):
    comp = compare_paths(make_run(tmp_path / "b", with_load=False), make_run(tmp_path / "c", with_load=False,
                                                                             cold_start=_local()))
    assert comp.verdict == "no change"
    assert {c.reason for c in comp.runs[0].cold_start} == {"not measured on both sides"}

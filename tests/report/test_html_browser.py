"""report.html and compare.html in a real headless browser (Debian's chromium).

Checks: the page loads from file:// with no console error, no uncaught exception and no request
leaving the file (self-contained); every plot's <svg> is laid out with a real size and holds
drawn marks with a non-zero box; and a screenshot of each plot is not blank (decoded PNG: several
colours, enough non-white pixels). Skips with a reason when /usr/bin/chromium is absent.
Set HARNESS_SCREENSHOT_DIR to keep the full-page screenshots.
"""
from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

import pytest

from harness.report.compare import compare_paths, render_compare_html
from tests.report.browser import CHROMIUM, Browser, decode_png, region_stats
from tests.report.factory import make_run

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")

PLOTS_JS = """
(() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  return Array.from(document.querySelectorAll('svg.plot')).map(svg => {
    const r = svg.getBoundingClientRect();
    const marks = Array.from(svg.querySelectorAll('.mark'));
    const drawn = marks.filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; });
    return {title: svg.getAttribute('aria-label'), x: r.left + window.scrollX, y: r.top + window.scrollY,
            width: r.width, height: r.height, marks: marks.length, drawn: drawn.length};
  });
})()
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser.start(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield b
    finally:
        b.close()


def _check_page(browser: Browser, page: Path, min_plots: int, shot_name: str) -> list[dict]:
    browser.open(page.resolve().as_uri())
    plots = browser.evaluate(PLOTS_JS)
    assert browser.console_errors() == []
    assert browser.external_requests() == [], "the page must not fetch anything"
    assert len(plots) >= min_plots, [p["title"] for p in plots]
    for p in plots:
        assert p["width"] >= 300 and p["height"] >= 150, p
        assert p["marks"] > 0 and p["drawn"] == p["marks"], p
    full = browser.screenshot()
    keep = os.environ.get("HARNESS_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / shot_name).write_bytes(full)
    width, height = struct.unpack(">II", full[16:24])  # IHDR
    assert full[:8] == b"\x89PNG\r\n\x1a\n" and width >= 1000 and height >= 1000, (width, height)
    for p in plots:  # each plot, cut from the rendered page at half scale, must show ink
        clip = {"x": p["x"], "y": p["y"], "width": p["width"], "height": p["height"], "scale": 0.5}
        data = browser.send("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True})
        png = decode_png(base64.b64decode(data["data"]))
        colours, ink = region_stats(png, 0, 0, png[0], png[1])
        assert colours >= 4 and ink > 0.02, (p["title"], colours, ink)
    return plots


def test_report_html_single_run_renders(browser, tmp_path):
    run = make_run(tmp_path, seed=3)
    plots = _check_page(browser, run / "report.html", min_plots=6, shot_name="report-single.png")
    titles = " | ".join(p["title"] for p in plots)
    for expected in ("Latency percentiles", "Latency histogram", "Latency over time", "Throughput over time",
                     "Batch sizes", "Server queue vs inference time"):
        assert expected in titles


def test_report_html_sweep_with_trials_renders(browser, tmp_path):
    run = make_run(tmp_path, seed=4, users=[1, 2, 4, 8], trials=3)
    plots = _check_page(browser, run / "report.html", min_plots=12, shot_name="report-sweep-trials.png")
    titles = " | ".join(p["title"] for p in plots)
    assert "Throughput against users" in titles and "Latency against users" in titles
    assert "Latency across trials" in titles and "trial 3" in titles


def test_report_html_without_load_or_after_a_failure_renders(browser, tmp_path):
    run = make_run(tmp_path, seed=5, with_load=False, check_passed=False,
                   error={"kind": "deploy error", "what": "TorchServe worker never became READY", "line": "x",
                          "where": "http://127.0.0.1:8081/models/digits", "hint": "see the model log",
                          "details": "Traceback...\nRuntimeError: boom"})
    browser.open((run / "report.html").resolve().as_uri())
    assert browser.console_errors() == []
    assert browser.external_requests() == []
    text = browser.evaluate("document.body.innerText")
    assert "FAIL" in text and "never became READY" in text and "differences" in text
    assert browser.evaluate("document.querySelectorAll('svg.plot').length") == 0


def test_compare_html_renders(browser, tmp_path):
    base = make_run(tmp_path / "base", seed=6, users=[1, 2, 4], trials=2)
    cur = make_run(tmp_path / "cur", seed=7, users=[1, 2, 4], trials=2, slowdown=1.3)
    page = tmp_path / "compare.html"
    page.write_text(render_compare_html(compare_paths(base, cur)))
    plots = _check_page(browser, page, min_plots=5, shot_name="compare.png")
    assert any("Change vs baseline" in p["title"] for p in plots)
    assert "REGRESSION" in browser.evaluate("document.body.innerText")

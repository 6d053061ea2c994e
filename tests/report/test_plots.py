"""The SVG plot module: valid SVG, sensible ticks, gaps for missing values, nothing for no data."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from harness.report.plots import Band, ChangeRow, Series, bar_chart, change_chart, histogram, line_chart, nice_ticks

NS = {"s": "http://www.w3.org/2000/svg"}


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert int(root.get("width")) > 0 and int(root.get("height")) > 0
    assert root.find("s:title", NS).text
    return root


def _marks(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter() if "mark" in (e.get("class") or "").split()]


def test_nice_ticks_cover_the_range_with_round_steps():
    assert nice_ticks(0, 37) == [0, 10, 20, 30, 40]
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    t = nice_ticks(12.3, 12.3)  # a flat series still gets an axis
    assert t[0] < 12.3 < t[-1]
    t = nice_ticks(-3.2, 41.0)
    assert t[0] <= -3.2 and t[-1] >= 41.0 and len(t) <= 12


def test_line_chart_breaks_lines_at_missing_values_and_draws_bands():
    svg = line_chart([Series("p95", [0, 1, 2, 3, 4], [10.0, None, 12.0, 13.0, float("nan")]),
                      Series("p50", [0, 1, 2, 3, 4], [5, 6, 5, 6, 5], dashed=True)],
                     title="Latency <over> time", x_label="s", y_label="ms", bands=[Band(0, 1, "warm-up")],
                     hlines=[(15.0, "p95 SLO")])
    root = _parse(svg)
    marks = _marks(root)
    # p95: a lone point (circle) and a 2-point segment; p50: one polyline
    assert len(marks) == 3
    assert root.get("data-marks") == "3"
    assert "Latency &lt;over&gt; time" in svg  # escaped
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "warm-up" in texts and "p95 SLO" in texts and "p50" in texts  # legend with 2 series


def test_charts_without_data_render_nothing():
    assert line_chart([Series("x", [], [])], title="t", x_label="x", y_label="y") == ""
    assert line_chart([Series("x", [1, 2], [None, None])], title="t", x_label="x", y_label="y") == ""
    assert bar_chart(["a"], [("g", [None])], title="t", x_label="x", y_label="y") == ""
    assert histogram([0, 1, 2], [0, 0], title="t", x_label="x") == ""
    assert change_chart([], title="t") == ""


def test_bar_chart_groups_and_whiskers():
    svg = bar_chart(["users=1", "users=4"], [("p50", [3.0, 4.0]), ("p99", [5.0, None])], title="t",
                    x_label="step", y_label="ms", errors=[[(2.5, 3.5), (3.0, 5.0)], [None, None]])
    root = _parse(svg)
    assert len(_marks(root)) == 3


def test_histogram_bars_and_pale_tail_bucket():
    edges = [0, 1, 2, 3, 4, 20]
    root = _parse(histogram(edges, [1, 5, 9, 2, 1], title="h", x_label="ms", markers=[(2.5, "p50")]))
    marks = _marks(root)
    assert len(marks) == 5
    assert "tail" in marks[-1].get("class")
    xs = [float(m.get("x")) for m in marks]
    assert xs == sorted(xs)


def test_change_chart_has_one_bar_per_judged_metric():
    rows = [ChangeRow("p50", 0.31, 0.28, 0.34, 0.10, True, "regression"),
            ChangeRow("throughput", -0.2, -0.25, -0.15, 0.10, False, "regression"),
            ChangeRow("queue", None)]
    root = _parse(change_chart(rows, title="Change"))
    assert len(_marks(root)) == 2
    assert not any(math.isnan(float(r.get("width"))) for r in _marks(root))

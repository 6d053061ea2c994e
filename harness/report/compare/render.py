"""How `harness compare` shows its verdict: markdown (the CI summary and the terminal) and a
self-contained compare.html with plots of baseline against current.

Reads the typed Comparison (harness.report.compare.verdict) and, for the plots, the two typed
reports each RunComparison keeps; the page helpers come from harness.report.html.
"""
from __future__ import annotations

from harness.load.result import LoadResult, StepResult
from harness.report.ab import ab_markdown
from harness.report.compare.statistics import Estimate
from harness.report.compare.thresholds import MetricThreshold
from harness.report.compare.verdict import Comparison, MetricChange, RunComparison
from harness.report.html import ab_html, badge, esc, figure, fmt, page, plots, table
from harness.report.plots import ChangeRow, Series, bar_chart, change_chart, line_chart
from harness.report.trials import step_metrics, step_x

ICON = {"regression": "🔴", "unstable": "🟡", "improvement": "🟢", "no change": "⚪", "info": "·", "n/a": "·"}


def fmt_change(m: MetricChange) -> str:
    if m.change is None:
        return "—"
    if m.absolute:
        text = f"{m.change:+.4g}"
        if m.low is not None and m.high is not None and m.high != m.low:
            text += f" ± {(m.high - m.low) / 2:.2g}"
        return text
    text = f"{100 * m.change:+.1f}%"
    if m.low is not None and m.high is not None and m.high != m.low:
        text += f" ± {100 * (m.high - m.low) / 2:.1f}%"
    return text


def _val(e: Estimate, unit: str) -> str:
    if e.value is None:
        return "—"
    digits = 4 if unit == "" else 2
    text = f"{e.value:.{digits}f}"
    if e.n > 1 and e.cv is not None:
        text += f" (n={e.n}, CV {100 * e.cv:.0f}%)"
    return text


def _threshold(m: MetricChange | MetricThreshold) -> str:
    if m.threshold is None:
        return "report only"
    return f"{m.threshold:g} abs" if m.absolute else f"{100 * m.threshold:g}%"


def _s(v: float | None, sign: str = "") -> str:
    return "—" if v is None else f"{v:{sign}.2f}"


def render_markdown(comp: Comparison) -> str:
    head = {"regression": "REGRESSION", "unstable": "UNSTABLE", "improvement": "IMPROVEMENT", "no change": "NO CHANGE"}
    lines = [f"# {ICON[comp.verdict]} {head[comp.verdict]}: harness compare", "",
             f"baseline `{comp.baseline}` · current `{comp.current}` · k = {comp.thresholds.k:g}", ""]
    for note in comp.unpaired:
        lines.append(f"- {note}")
    if comp.unpaired:
        lines.append("")
    for rc in comp.runs:
        lines += [f"## {ICON[rc.verdict]} {rc.scenario} on {rc.target}: {rc.verdict}", "",
                  f"baseline `{rc.baseline_run}` → current `{rc.current_run}` · trials {rc.trials[0]} → {rc.trials[1]}"
                  + (f" · runs pooled {rc.runs[0]} → {rc.runs[1]}" if rc.runs != (1, 1) else ""), ""]
        lines += [f"- {r}" for r in rc.reasons]
        if rc.reasons:
            lines.append("")
        if rc.checks:
            lines += ["| check | outputs | |", "|---|---|---|"]
            lines += [f"| {c.name} | {'**' + c.verdict + '**' if c.regression else c.verdict} | {c.detail} |"
                      for c in rc.checks]
            lines.append("")
        if rc.metrics:
            lines += ["| step | metric | baseline | current | change ± 95% | threshold | verdict |",
                      "|---|---|---:|---:|---:|---:|---|"]
            for m in rc.metrics:
                if m.verdict == "n/a" and m.baseline.value is None and m.current.value is None:
                    continue
                v = f"**{m.verdict}**" if m.verdict == "regression" else m.verdict
                lines.append(f"| {m.step} | {m.label}{' (' + m.unit + ')' if m.unit else ''} | {_val(m.baseline, m.unit)} | "
                             f"{_val(m.current, m.unit)} | {fmt_change(m)} | {_threshold(m)} | {ICON[m.verdict]} {v} |")
            lines.append("")
        lines += ab_markdown(rc.ab, "###")
        if rc.cold_start:
            lines += ["| cold-start phase | baseline (s) | current (s) | change | verdict |", "|---|---:|---:|---:|---|"]
            lines += [f"| {c.phase} | {_s(c.baseline)} | {_s(c.current)} | {_s(c.change_s, '+')} | "
                      f"{ICON[c.verdict]} {'**' + c.verdict + '**' if c.verdict == 'regression' else c.verdict} |"
                      for c in rc.cold_start]
            lines.append("")
        if rc.environment_changes:
            lines += ["<details><summary>what changed between the runs</summary>", "",
                      "| | baseline | current |", "|---|---|---|"]
            lines += [f"| {k} | {b} | {c} |" for k, b, c in rc.environment_changes]
            lines += ["", "</details>", ""]
    return "\n".join(lines) + "\n"


def render_compare_html(comp: Comparison) -> str:
    body = [f'<div class="banner {comp.verdict.replace(" ", "-")}"><h1>{esc(comp.verdict.upper())}: '
            f"harness compare</h1><div class=\"meta\">baseline <code>{esc(comp.baseline)}</code> · current "
            f"<code>{esc(comp.current)}</code> · k = {comp.thresholds.k:g}</div></div>"]
    if comp.unpaired:
        body.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in comp.unpaired) + "</ul>")
    for rc in comp.runs:
        body.append(f"<h2>{badge(rc.verdict)} {esc(rc.scenario)} on {esc(rc.target)}</h2>"
                    f"<p class=\"muted\">baseline <code>{esc(rc.baseline_run)}</code> → current "
                    f"<code>{esc(rc.current_run)}</code> · trials {rc.trials[0]} → {rc.trials[1]}"
                    + (f" · runs pooled {rc.runs[0]} → {rc.runs[1]}" if rc.runs != (1, 1) else "") + "</p>")
        if rc.reasons:
            body.append("<ul>" + "".join(f"<li>{esc(r)}</li>" for r in rc.reasons) + "</ul>")
        if rc.checks:
            body.append("<h3>Prediction outputs</h3>" + table(
                ["check", "outputs", "detail"],
                [(c.name, badge("regression" if c.regression else "no change") + " " + esc(c.verdict), c.detail)
                 for c in rc.checks], raw=(1,)))
            for c in rc.checks:
                if c.diff:
                    body.append(f"<details><summary>{esc(c.name)}: differences</summary>"
                                f"<pre>{esc(chr(10).join(c.diff))}</pre></details>")
        judged = [m for m in rc.metrics if m.change is not None]
        figs = []
        for label in dict.fromkeys(m.step for m in judged):
            rows = [ChangeRow(label=m.label, change=m.change, low=m.low, high=m.high, threshold=m.threshold,
                              bad_when_higher=m.higher_is_worse, verdict=m.verdict if m.verdict != "info" else "no change")
                    for m in judged if m.step == label and not m.absolute]
            figs.append(figure(change_chart(rows, title=f"Change vs baseline · {label}"),
                               "relative change of each metric; bars coloured by verdict"))
        if rc.metrics:
            body.append("<h3>Performance</h3>" + table(
                ["step", "metric", "baseline", "current", "change ± 95%", "threshold", "verdict", "why"],
                [(m.step, f"{m.label}{' (' + m.unit + ')' if m.unit else ''}", _val(m.baseline, m.unit),
                  _val(m.current, m.unit), fmt_change(m), _threshold(m),
                  badge(m.verdict) if m.verdict not in ("info", "n/a") else esc(m.verdict), m.reason)
                 for m in rc.metrics if not (m.baseline.value is None and m.current.value is None)],
                numeric=(2, 3, 4), raw=(6,)))
        body.append(ab_html(rc.ab))
        if rc.cold_start:
            body.append("<h3>Cold start</h3>" + table(
                ["phase", "baseline (s)", "current (s)", "change (s)", "verdict", "why"],
                [(c.phase, _s(c.baseline), _s(c.current), _s(c.change_s, "+"),
                  badge(c.verdict) if c.verdict != "n/a" else "n/a", c.reason) for c in rc.cold_start],
                numeric=(1, 2, 3), raw=(4,)))
        figs += _compare_plots(rc)
        body.append(plots(*figs))
        if rc.environment_changes:
            body.append("<details><summary>what changed between the runs</summary>" + table(
                ["", "baseline", "current"], [(k, fmt(b), fmt(c)) for k, b, c in rc.environment_changes]) + "</details>")
    body.append("<footer>kserve-harness compare · thresholds: " + esc(", ".join(
        f"{k} {_threshold(v)}" for k, v in comp.thresholds.metrics.items())) + "</footer>")
    return page(f"compare · {comp.verdict}", body)


def _compare_plots(rc: RunComparison) -> list[str]:
    """Baseline against current: percentiles per step, p95 over time (first trial), sweep curves."""
    if rc._reports is None:
        return []
    base, cur = rc._reports
    b_res, c_res = base.load_results(), cur.load_results()
    if not b_res or not c_res:
        return []
    figs = []
    by = {(m.step, m.metric): m for m in rc.metrics}
    labels = list(dict.fromkeys(m.step for m in rc.metrics))
    groups, errs = [], []
    for metric in ("p50_ms", "p99_ms"):
        for side in ("baseline", "current"):
            vals, bars = [], []
            for label in labels:
                e: Estimate = getattr(by[(label, metric)], side) if (label, metric) in by else Estimate()
                vals.append(e.value)
                half = e.half_width()
                bars.append((e.value - half, e.value + half) if half and e.value is not None else None)
            groups.append((f"{side} {metric.split('_')[0]}", vals))
            errs.append(bars)
    figs.append(figure(bar_chart(labels, groups, errors=errs, title="Latency: baseline vs current", x_label="step",
                                 y_label="latency (ms)"), "whiskers: 95% interval of each side's estimate"))
    b_steps, c_steps = b_res[0].steps, c_res[0].steps
    if len(c_steps) == 1 and len(b_steps) == 1:
        sides = (("baseline", b_steps[0], True), ("current", c_steps[0], False))
        series = [Series(f"{name} p95", [iv.t_s for iv in s.intervals], [iv.p95_ms for iv in s.intervals],
                         dashed=dashed) for name, s, dashed in sides]
        figs.append(figure(line_chart(series, title="p95 latency over time (trial 1)", x_label="seconds from start",
                                      y_label="latency (ms)"), "dashed: baseline"))
        tp = [Series(name, [iv.t_s for iv in s.intervals], [iv.rps for iv in s.intervals], dashed=dashed)
              for name, s, dashed in sides]
        figs.append(figure(line_chart(tp, title="Throughput over time (trial 1)", x_label="seconds from start",
                                      y_label="2xx per second"), "dashed: baseline"))
    xs_b = [step_x(s) for s in b_steps]
    xs_c = [step_x(s) for s in c_steps]
    if len(b_steps) > 1 and None not in xs_b and None not in xs_c:
        x_label = "users" if b_steps[0].mode == "closed" else "offered rate (req/s)"
        sides = (("baseline", b_res, True), ("current", c_res, False))
        series = [_sweep_p95(name, res, dashed) for name, res, dashed in sides]
        figs.append(figure(line_chart(series, title=f"p95 latency against {x_label}", x_label=x_label,
                                      y_label="latency (ms)"), "shaded: lowest to highest trial"))
        tps = [Series(name, [step_x(s) for s in res[0].steps],
                      [step_metrics(s)["throughput_rps"] for s in res[0].steps], dashed=dashed, markers=True)
               for name, res, dashed in sides]
        figs.append(figure(line_chart(tps, title=f"Throughput against {x_label}", x_label=x_label,
                                      y_label="2xx per second"), "trial 1 of each side"))
    return figs


def _sweep_p95(name: str, results: list[LoadResult], dashed: bool) -> Series:
    """p95 against the swept quantity: the mean over trials, shaded from the lowest to the highest."""
    first: list[StepResult] = results[0].steps
    means, lows, highs = [], [], []
    for s in first:
        vals = [step_metrics(x)["p95_ms"] for r in results for x in r.steps if x.label == s.label]
        vals = [v for v in vals if v is not None]
        means.append(sum(vals) / len(vals) if vals else None)
        lows.append(min(vals) if vals else None)
        highs.append(max(vals) if vals else None)
    return Series(f"{name} p95", [step_x(s) for s in first], means, dashed=dashed, markers=True,
                  band=(lows, highs) if len(results) > 1 else None)

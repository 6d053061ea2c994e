"""The load section of summary.md: the one markdown rendering of load results.

Flow: `render_load_markdown(results)` takes every trial's LoadResult (`Report.load_results()`) and
returns the section's lines: the first trial's verdict, its per-step table (for KServe's
ModelServer also the server's mean latency per stage), SLOs and errors, then (with several
trials) each trial's figures per step and the spread across trials. Anything that
shows a load table in markdown calls this; report.html has its own (harness.report.html.load_html).
"""
from __future__ import annotations

from harness.load.result import LoadResult
from harness.report.trials import METRICS, spread, trial_rows


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _f(v: float | None, digits: int = 1) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def stage_columns(means: list[dict[str, float]]) -> list[str]:
    """The stage columns to show for these windows' stage_latency_mean_ms ([] when none has any,
    as for TorchServe); explain only when some window saw it."""
    if not any(means):
        return []
    return ["preprocess", "predict", *(["explain"] if any("explain" in m for m in means) else []),
            "postprocess", "request"]


def _stage_table(load: LoadResult) -> list[str]:
    """The ModelServer's mean latency per stage and step ([] for TorchServe)."""
    windows = [(step.label, step.server.window if step.server else None) for step in load.steps]
    means = [(label, w.stage_latency_mean_ms if w else {}) for label, w in windows]
    cols = stage_columns([m for _, m in means])
    if not cols:
        return []
    lines = ["", "Server stages (KServe ModelServer `request_<stage>_seconds`, mean ms per request):", "",
             "| step | " + " | ".join(f"{k} ms" for k in cols) + " |", "|---|" + "---:|" * len(cols)]
    lines += [f"| {label} | " + " | ".join(_f(m.get(k), 3) or "—" for k in cols) + " |" for label, m in means]
    return lines


def render_load_markdown(results: list[LoadResult]) -> list[str]:
    """summary.md's load section ([] without a load phase)."""
    if not results:
        return []
    return _first_trial(results[0]) + _trials(results)


def _first_trial(load: LoadResult) -> list[str]:
    verdict = load.verdict
    lines = ["## Load", "", f"**{verdict.status}**" + (f" — {verdict.cause}" if verdict.cause else ""), ""]
    lines += [f"- {r}" for r in verdict.reasons]
    lines += ["", "| step | req/s | p50 ms | p90 ms | p95 ms | p99 ms | max ms | errors | batch (mean) | "
              "queue ms | inference ms | generator | verdict |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for step in load.steps:
        c, lat = step.client, step.client.latency_ms
        window = step.server.window if step.server else None
        lines.append(
            f"| {step.label} | {c.throughput_rps:.1f} | {_ms(lat.p50)} | {_ms(lat.p90)} | "
            f"{_ms(lat.p95)} | {_ms(lat.p99)} | {_ms(lat.max)} | {c.errors} | "
            f"{_ms(window.mean_batch_size if window else None)} | "
            f"{_ms(window.queue_latency_mean_ms if window else None)} | "
            f"{_ms(window.inference_latency_mean_ms if window else None)} | "
            f"{'ok' if step.generator.valid else 'INVALID'} | {step.verdict.status} |")
    lines += _stage_table(load)
    slo = [s for step in load.steps for s in step.verdict.slo]
    if slo:
        lines += ["", "| SLO | limit | observed | result |", "|---|---:|---:|---|"]
        lines += [f"| {s.name} | {s.limit} | {_ms(s.observed)} | {'pass' if s.passed else '**FAIL**'} |" for s in slo]
    errors = [e for step in load.steps for e in step.errors]
    if errors:
        lines += ["", "| HTTP status | count | message | cause |", "|---:|---:|---|---|"]
        lines += [f"| {e.status} | {e.count} | {e.message[:80]} | {e.cause or ''} |" for e in errors[:10]]
    lines.append("")
    return lines


def _trials(results: list[LoadResult]) -> list[str]:
    """Each trial's figures per step, then the spread across trials ([] for a single trial)."""
    if len(results) < 2:
        return []
    lines = [f"## Load trials ({len(results)})", "",
             "| trial | step | verdict | p50 ms | p95 ms | p99 ms | req/s | error rate |",
             "|---:|---|---|---:|---:|---:|---:|---:|"]
    rows = trial_rows(results)
    for r in rows:
        lines.append(f"| {r['trial']} | {r['step']} | {r['status']} | {_f(r['p50_ms'], 2)} | {_f(r['p95_ms'], 2)} | "
                     f"{_f(r['p99_ms'], 2)} | {_f(r['throughput_rps'])} | {_f(r['error_rate'], 4)} |")
    lines += ["", "| step | metric | mean | trial-to-trial CV |", "|---|---|---:|---:|"]
    for label in dict.fromkeys(r["step"] for r in rows):
        for metric in ("p50_ms", "p95_ms", "p99_ms", "throughput_rps"):
            mean, cv = spread([r[metric] for r in rows if r["step"] == label])
            if mean is not None:
                lines.append(f"| {label} | {METRICS[metric][0]} | {mean:.2f} | "
                             f"{'' if cv is None else f'{100 * cv:.1f}%'} |")
    lines.append("")
    return lines

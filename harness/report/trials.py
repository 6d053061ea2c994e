"""Load trials as the report sees them: per-step figures, verdicts, latency histograms.

Flow: `harness run --trials N` repeats the load phase N times (runner `_load`); every trial's
LoadResult is kept (`Report.load_trials`, `Report.load_results()`). This module reads them as plain
JSON dicts (what report.json holds), so a report written by an older harness still renders:

  * `step_metrics(step)`: the numbers compare and the trial tables use, by metric name;
  * `latency_histograms(result, trial)`: per-step client latency histograms from the raw
    per-request records the load engine leaves beside its result (empty when they are gone);
  * `trials_markdown(report)`: the trial-by-trial table for summary.md.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# metric name -> (label, unit, higher is worse)
METRICS: dict[str, tuple[str, str, bool]] = {
    "p50_ms": ("latency p50", "ms", True),
    "p90_ms": ("latency p90", "ms", True),
    "p95_ms": ("latency p95", "ms", True),
    "p99_ms": ("latency p99", "ms", True),
    "throughput_rps": ("throughput", "req/s", False),
    "error_rate": ("error rate", "", True),
    "server_inference_ms": ("server inference (mean)", "ms", True),
    "server_queue_ms": ("server queue (mean)", "ms", True),
}


def get_path(d: Any, *path: str) -> Any:
    """d[path[0]][path[1]]..., or None where a level is missing or not a mapping."""
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def trial_status(result: dict | None) -> str:
    """PASS / FAIL / INVALID of one LoadResult dict (PASS when it says nothing)."""
    if not result:
        return "PASS"
    status = get_path(result, "verdict", "status")
    if status:
        return str(status)
    return "PASS" if result.get("passed", True) else "FAIL"


def trial_passed(result: dict | None) -> bool:
    return trial_status(result) == "PASS"


def steps(result: dict | None) -> list[dict]:
    return list((result or {}).get("steps") or [])


def step_metrics(step: dict) -> dict[str, float | None]:
    """One step's values of every metric in METRICS (None where the run did not measure it)."""
    client = step.get("client") or {}
    lat = client.get("latency_ms") or {}
    window = get_path(step, "server", "window") or {}
    return {
        "p50_ms": _num(lat.get("p50")),
        "p90_ms": _num(lat.get("p90")),
        "p95_ms": _num(lat.get("p95")),
        "p99_ms": _num(lat.get("p99")),
        "throughput_rps": _num(client.get("throughput_rps")),
        "error_rate": _num(client.get("error_rate")),
        "server_inference_ms": _num(window.get("inference_latency_mean_ms")),
        "server_queue_ms": _num(window.get("queue_latency_mean_ms")),
    }


def interval_samples(step: dict, metric: str) -> list[float]:
    """Per-interval values of a metric in the measured window (warm-up left out): the within-run
    spread compare uses when there is a single trial (batch means)."""
    ivs = [iv for iv in step.get("intervals") or [] if not iv.get("warmup")]
    if metric in ("p50_ms", "p95_ms", "p99_ms"):
        return [v for iv in ivs if (iv.get("ok") or 0) > 0 and (v := _num(iv.get(metric))) is not None]
    if metric == "p90_ms":
        return []
    if metric == "throughput_rps":
        return [v for iv in ivs if (v := _num(iv.get("rps"))) is not None]
    if metric == "error_rate":
        return [(iv.get("errors") or 0) / iv["sent"] for iv in ivs if iv.get("sent")]
    series = get_path(step, "server", "series") or []
    key = {"server_inference_ms": "inference_latency_mean_ms", "server_queue_ms": "queue_latency_mean_ms"}[metric]
    return [v for w in series if (v := _num(w.get(key))) is not None]


def step_x(step: dict) -> float | None:
    """The swept quantity of a step: users (closed loop) or requested rate (open loop)."""
    client = step.get("client") or {}
    return _num(client.get("users")) if step.get("mode") == "closed" else _num(client.get("requested_rps"))


# -- latency histograms from raw records ----------------------------------------------------------
def _run_dirs(result: dict) -> list[tuple[Path, int]]:
    """(Locust run directory, stage index) for each step, in step order (see harness/load/runner.py)."""
    from harness.load.spec import LoadSpec

    base = get_path(result, "artifacts", "dir")
    if not base:
        return []
    runs = LoadSpec.model_validate(result["config"]).runs()
    out = []
    for ri, stages in enumerate(runs):
        run_dir = Path(base) / (f"run{ri + 1}" if len(runs) > 1 else "run")
        out += [(run_dir, si) for si in range(len(stages))]
    return out


def histogram_of(values_ms, bins: int = 40) -> tuple[list[float], list[int]]:
    """Equal-width bins from the minimum to the 99.5th percentile, plus one last bin up to the
    maximum when the tail is long (so one outlier does not squash the picture)."""
    import numpy as np

    v = np.sort(np.asarray(values_ms, dtype=float))
    if v.size == 0:
        return [], []
    lo, hi, top = float(v[0]), float(np.percentile(v, 99.5)), float(v[-1])
    if hi <= lo:
        hi = lo + max(abs(lo) * 0.01, 0.001)
    long_tail = top > hi + 2 * (hi - lo) / bins
    edges = list(np.linspace(lo, hi if long_tail else max(top, hi), bins + 1))
    if long_tail:
        edges.append(top)
    counts, _ = np.histogram(v, bins=np.asarray(edges))
    return [round(e, 3) for e in edges], [int(c) for c in counts]


def latency_histograms(result: dict | None, trial: int) -> list:
    """One LatencyHistogram per step of a LoadResult, from its raw records; [] when they are gone."""
    from harness.report.model import LatencyHistogram

    if not result:
        return []
    try:
        from harness.load import figures

        dirs = _run_dirs(result)
        out, cache = [], {}
        for step, (run_dir, stage) in zip(steps(result), dirs):
            if run_dir not in cache:
                cache[run_dir] = figures.read_records(run_dir)
            rec = figures.step_records(cache[run_dir], stage)
            ok = rec.ok
            start = rec.t_sent if step.get("mode") == "closed" else rec.t_int
            values = (rec.t_done[ok] - start[ok]) * 1000.0
            edges, counts = histogram_of(values)
            if counts:
                out.append(LatencyHistogram(trial=trial, step=step.get("label", "?"), edges_ms=edges, counts=counts))
        return out
    except Exception:  # records are an optional extra: a report must never fail for want of them
        return []


# -- tables ----------------------------------------------------------------------------------------
def _f(v: float | None, digits: int = 1) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def trial_rows(results: list[dict]) -> list[dict]:
    rows = []
    for ti, result in enumerate(results, 1):
        for step in steps(result):
            m = step_metrics(step)
            rows.append({"trial": ti, "step": step.get("label", "?"), "status": get_path(step, "verdict", "status") or "",
                         "valid": get_path(step, "generator", "valid"), **m})
    return rows


def spread(values: list[float]) -> tuple[float | None, float | None]:
    """(mean, coefficient of variation) of a list of trial values."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None
    mean = sum(vals) / len(vals)
    if len(vals) < 2 or mean == 0:
        return mean, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return mean, sd / abs(mean)


def trials_markdown(results: list[dict]) -> list[str]:
    """summary.md section: each trial's figures per step, then the spread across trials."""
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

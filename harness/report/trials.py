"""Load trials as the report sees them: per-step figures, verdicts, latency histograms.

Flow: `harness run --trials N` repeats the load phase N times (runner `_load`); every trial's
LoadResult is kept (`Report.load_trials`, `Report.load_results()`). This module reads the typed
results (harness.load.result; a report read back is validated into the same models):

  * `step_metrics(step)`: the numbers compare and the trial tables use, by metric name;
  * `interval_samples(step, metric)`: per-interval values, the within-run spread compare uses;
  * `latency_histograms(result, trial)`: per-step client latency histograms from the raw
    per-request records the load engine leaves beside its result (empty when they are gone);
  * `trial_rows(results)` and `spread(values)`: what the trial tables of summary.md and
    report.html show (harness.load.summary and harness.report.html render them).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness.load import figures
from harness.load.result import LoadResult, StepResult
from harness.load.spec import LoadSpec
from harness.report.model import LatencyHistogram

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


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def trial_status(result: LoadResult | None) -> str:
    """PASS / FAIL / INVALID of one load result (PASS without one)."""
    return "PASS" if result is None else str(result.verdict.status)


def trial_passed(result: LoadResult | None) -> bool:
    return trial_status(result) == "PASS"


def steps(result: LoadResult | None) -> list[StepResult]:
    return list(result.steps) if result is not None else []


def step_metrics(step: StepResult) -> dict[str, float | None]:
    """One step's values of every metric in METRICS (None where the run did not measure it)."""
    client, lat = step.client, step.client.latency_ms
    window = step.server.window if step.server else None
    return {
        "p50_ms": _num(lat.p50),
        "p90_ms": _num(lat.p90),
        "p95_ms": _num(lat.p95),
        "p99_ms": _num(lat.p99),
        "throughput_rps": _num(client.throughput_rps),
        "error_rate": _num(client.error_rate),
        "server_inference_ms": _num(window.inference_latency_mean_ms) if window else None,
        "server_queue_ms": _num(window.queue_latency_mean_ms) if window else None,
    }


def interval_samples(step: StepResult, metric: str) -> list[float]:
    """Per-interval values of a metric in the measured window (warm-up left out): the within-run
    spread compare uses when there is a single trial (batch means)."""
    ivs = [iv for iv in step.intervals if not iv.warmup]
    if metric in ("p50_ms", "p95_ms", "p99_ms"):
        return [v for iv in ivs if iv.ok > 0 and (v := _num(getattr(iv, metric))) is not None]
    if metric == "p90_ms":
        return []
    if metric == "throughput_rps":
        return [v for iv in ivs if (v := _num(iv.rps)) is not None]
    if metric == "error_rate":
        return [iv.errors / iv.sent for iv in ivs if iv.sent]
    series = step.server.series if step.server else []
    key = {"server_inference_ms": "inference_latency_mean_ms", "server_queue_ms": "queue_latency_mean_ms"}[metric]
    return [v for w in series if (v := _num(getattr(w, key))) is not None]


def step_x(step: StepResult) -> float | None:
    """The swept quantity of a step: users (closed loop) or requested rate (open loop)."""
    return _num(step.client.users) if step.mode == "closed" else _num(step.client.requested_rps)


# -- latency histograms from raw records ----------------------------------------------------------
def _run_dirs(result: LoadResult) -> list[tuple[Path, int]]:
    """(Locust run directory, stage index) for each step, in step order (see harness/load/runner.py)."""
    base = result.artifacts.get("dir")
    if not base:
        return []
    runs = LoadSpec.model_validate(result.config).runs()
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


def latency_histograms(result: LoadResult | None, trial: int) -> list:
    """One LatencyHistogram per step of a LoadResult, from its raw records; [] when they are gone."""
    if result is None:
        return []
    try:
        dirs = _run_dirs(result)
        out, cache = [], {}
        for step, (run_dir, stage) in zip(steps(result), dirs):
            if run_dir not in cache:
                cache[run_dir] = figures.read_records(run_dir)
            rec = figures.step_records(cache[run_dir], stage)
            ok = rec.ok
            start = rec.t_sent if step.mode == "closed" else rec.t_int
            values = (rec.t_done[ok] - start[ok]) * 1000.0
            edges, counts = histogram_of(values)
            if counts:
                out.append(LatencyHistogram(trial=trial, step=step.label, edges_ms=edges, counts=counts))
        return out
    except Exception:  # records are an optional extra: a report must never fail for want of them
        return []


# -- tables ----------------------------------------------------------------------------------------
def trial_rows(results: list[LoadResult]) -> list[dict]:
    """One row per trial and step: trial (1-based), step label, verdict, generator valid, METRICS."""
    rows = []
    for ti, result in enumerate(results, 1):
        for step in steps(result):
            rows.append({"trial": ti, "step": step.label, "status": step.verdict.status,
                         "valid": step.generator.valid, **step_metrics(step)})
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

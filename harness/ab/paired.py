"""Paired differences: per block pair candidate - baseline, their mean and a t-based 95% interval.

Both sides of a pair ran over the same time (interleaved request by request, or back to back in
ABBA order), so the machine's drift is in both and cancels in the difference; the pairs' spread is
the noise. Verdict per metric, with the A/B thresholds (`AB_THRESHOLDS`, overridden by
`load.ab.thresholds`; tighter than `harness compare`'s, which must also absorb run-to-run drift;
benchmarks/ab_sensitivity.py measured what they catch):
    regression    the interval excludes 0 on the worse side and the mean is past the threshold
    improvement   the same on the better side
    no change     the interval lies within ±threshold, or excludes 0 but the mean is within it
    inconclusive  otherwise (too few or too noisy pairs to tell)
"""
from __future__ import annotations

import math

from pydantic import ValidationError

from harness.ab.model import AbBlock, PairedMetric
from harness.report.compare.statistics import t975
from harness.report.compare.thresholds import MetricThreshold, merge_overrides
from harness.report.trials import METRICS

# What counts as a change between the two sides of an A/B run: half of `harness compare`'s (which
# must also absorb run-to-run drift the pairing cancels), not less. Two identical deployments served
# at the same time still differ here by up to ~11% at p50 in a short run on a busy 2-core machine
# (instance effects no pairing cancels), so a tighter default cries wolf; where the machine is quiet,
# load.ab.thresholds tightens it (benchmarks/ab_sensitivity.py measures the trade-off).
AB_THRESHOLDS: dict[str, MetricThreshold] = {
    "p50_ms": MetricThreshold(threshold=0.05),
    "p90_ms": MetricThreshold(threshold=None),
    "p95_ms": MetricThreshold(threshold=0.075),
    "p99_ms": MetricThreshold(threshold=0.10),
    "throughput_rps": MetricThreshold(threshold=0.05),
    "error_rate": MetricThreshold(threshold=0.01, absolute=True),
    "server_inference_ms": MetricThreshold(threshold=0.075),
    "server_queue_ms": MetricThreshold(threshold=None),  # queueing swings with arrival jitter: shown, not judged
}


def ab_thresholds(overrides: dict[str, float | dict | None]) -> dict[str, MetricThreshold]:
    """AB_THRESHOLDS with `load.ab.thresholds` applied (a number: relative threshold; null: not judged).

    Raises:
        ValueError: an unknown metric or a bad value (pydantic turns it into the scenario's one-line error).
    """
    out = {}
    for name, fields in merge_overrides(AB_THRESHOLDS, overrides).items():
        try:
            out[name] = MetricThreshold.model_validate(fields)
        except ValidationError as exc:
            raise ValueError(f"{name}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    return out


def paired_differences(baseline: list[float | None], candidate: list[float | None], *,
                       absolute: bool) -> list[float]:
    """Per pair: candidate - baseline, or candidate / baseline - 1; pairs missing a side (or a 0 baseline,
    relative) are left out."""
    out = []
    for a, b in zip(baseline, candidate):
        if a is None or b is None or (not absolute and a == 0):
            continue
        out.append(b - a if absolute else b / a - 1.0)
    return out


def mean_interval(diffs: list[float]) -> tuple[float | None, float | None, float | None]:
    """Mean of the differences and its two-sided 95% Student t interval (None, None without 2 pairs)."""
    if not diffs:
        return None, None, None
    n = len(diffs)
    mean = sum(diffs) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def judge(pm: PairedMetric, spec: MetricThreshold) -> None:
    """Set pm's verdict and reason from its interval and the metric's threshold."""
    pm.threshold = spec.threshold
    if pm.mean is None:
        pm.verdict, pm.reason = "n/a", "not measured on both sides"
        return
    unit = f" {pm.unit}".rstrip() if pm.absolute else ""
    shown = (lambda v: f"{v:+.4g}{unit}") if pm.absolute else (lambda v: f"{100 * v:+.1f}%")
    what = shown(pm.mean) + (f" [{shown(pm.low)}, {shown(pm.high)}]" if pm.low is not None else "")
    if spec.threshold is None:
        pm.verdict, pm.reason = "info", f"{what} (shown, not judged)"
        return
    if pm.low is None:
        pm.verdict, pm.reason = "inconclusive", f"{what}: one pair, no interval"
        return
    t = spec.threshold
    sign = 1.0 if pm.higher_is_worse else -1.0
    bad, lo, hi = sign * pm.mean, min(sign * pm.low, sign * pm.high), max(sign * pm.low, sign * pm.high)
    limit = shown(t).lstrip("+")
    if lo > 0 and bad > t:
        pm.verdict, pm.reason = "regression", f"{what}: worse, past the threshold {limit}"
    elif hi < 0 and -bad > t:
        pm.verdict, pm.reason = "improvement", f"{what}: better, past the threshold {limit}"
    elif -t <= lo and hi <= t:
        pm.verdict, pm.reason = "no change", f"{what}: within ±{limit}"
    elif (lo > 0 or hi < 0) and abs(bad) <= t:
        pm.verdict, pm.reason = "no change", f"{what}: a real difference, but within ±{limit}"
    else:
        pm.verdict, pm.reason = "inconclusive", f"{what}: the interval reaches past ±{limit}"


def paired_metric(metric: str, label: str, unit: str, higher_is_worse: bool, spec: MetricThreshold,
                  baseline: list[float | None], candidate: list[float | None]) -> PairedMetric:
    """One metric's paired comparison over the block pairs (baseline[i] and candidate[i] are pair i)."""
    diffs = paired_differences(baseline, candidate, absolute=spec.absolute)
    mean, low, high = mean_interval(diffs)

    def avg(vals: list[float | None]) -> float | None:
        vals = [v for v in vals if v is not None]
        return sum(vals) / len(vals) if vals else None

    pm = PairedMetric(metric=metric, label=label, unit=unit, higher_is_worse=higher_is_worse, absolute=spec.absolute,
                      pairs=len(diffs), baseline=avg(baseline), candidate=avg(candidate), diffs=diffs, mean=mean,
                      low=low, high=high)
    judge(pm, spec)
    return pm


def judge_blocks(blocks: list[AbBlock], thresholds: dict[str, MetricThreshold]) -> tuple[list[PairedMetric], list[str]]:
    """Every metric's paired verdict over the block pairs, and the reasons worth a line (left-out
    pairs, regressions). A pair with an INVALID block (the generator was the bottleneck) measures
    nothing and is left out."""
    reasons = []
    invalid = {b.pair for b in blocks if b.status == "INVALID"}
    if invalid:
        reasons.append(f"pair(s) {', '.join(map(str, sorted(invalid)))} left out: a block was INVALID "
                       "(the load generator, not the server, limited it)")
    by = {(b.side, b.pair): b for b in blocks if b.pair not in invalid}
    kept = sorted({p for _, p in by if ("baseline", p) in by and ("candidate", p) in by})
    metrics = [paired_metric(metric, label, unit, worse_up, thresholds[metric],
                             [by[("baseline", p)].metrics.get(metric) for p in kept],
                             [by[("candidate", p)].metrics.get(metric) for p in kept])
               for metric, (label, unit, worse_up) in METRICS.items()]
    reasons += [f"{m.label}: {m.verdict}, {m.reason}" for m in metrics if m.verdict == "regression"]
    return metrics, reasons


def overall_verdict(outputs_agree: bool, metrics: list[PairedMetric], valid_pairs: int, measured: bool) -> str:
    """disagree > regression > invalid (under 2 valid pairs) > inconclusive > improvement > no change."""
    verdicts = {m.verdict for m in metrics}
    if not outputs_agree:
        return "disagree"
    if "regression" in verdicts:
        return "regression"
    if measured and valid_pairs < 2:
        return "invalid"
    for v in ("inconclusive", "improvement"):
        if v in verdicts:
            return v
    return "no change"

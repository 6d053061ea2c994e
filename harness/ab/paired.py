"""Paired differences: per block pair candidate - baseline, their mean and a t-based 95% interval.

Both sides of a pair ran back to back (ABBA order), so the machine's drift is in both and cancels
in the difference; the pairs' spread is the noise. Verdict per metric, with the threshold of
`harness compare` (harness/report/compare/thresholds.py):
    regression    the interval excludes 0 on the worse side and the mean is past the threshold
    improvement   the same on the better side
    no change     the interval lies within ±threshold, or excludes 0 but the mean is within it
    inconclusive  otherwise (too few or too noisy pairs to tell)
"""
from __future__ import annotations

import math

from harness.ab.model import PairedMetric
from harness.report.compare.statistics import t975
from harness.report.compare.thresholds import MetricThreshold


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

"""Each side's estimate of a metric and its uncertainty, for `harness compare`.

With several trials a side's estimate is the mean over trials and its variance the trial-to-trial
spread; with one trial, the spread of the per-interval values in the measured window (batch means,
n shrunk for autocorrelation); a single run compared with several borrows their run-to-run spread
(`borrow_spread`). `t975` is the two-sided 95% Student t quantile the intervals use.
"""
from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field

from harness.load.result import StepResult
from harness.report.trials import interval_samples, spread

_T975 = [(1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (6, 2.447), (7, 2.365), (8, 2.306),
         (9, 2.262), (10, 2.228), (12, 2.179), (15, 2.131), (20, 2.086), (25, 2.060), (30, 2.042), (40, 2.021),
         (60, 2.000), (120, 1.980), (math.inf, 1.960)]


def t975(df: float) -> float:
    """Two-sided 95% Student t quantile (table, linear in 1/df between entries)."""
    if not df or df < 1:
        return _T975[0][1]
    for (d0, t0), (d1, t1) in zip(_T975, _T975[1:]):
        if d0 <= df <= d1:
            if d1 == math.inf:
                w = (1 / d0 - 1 / df) / (1 / d0)
            else:
                w = (1 / d0 - 1 / df) / (1 / d0 - 1 / d1)
            return t0 + w * (t1 - t0)
    return 1.960


class Estimate(BaseModel):
    value: float | None = None
    var: float | None = Field(None, description="variance of the estimate")
    df: float | None = None
    n: int = Field(0, description="trials")
    cv: float | None = Field(None, description="trial-to-trial coefficient of variation")
    sd: float | None = Field(None, description="trial-to-trial standard deviation")
    values: list[float] = Field(default_factory=list, description="the trial values, in run order")
    source: Literal["trials", "intervals", "borrowed", "single", "none"] = Field(
        "none", description="trials: spread of the trials; intervals: within-run batch means; borrowed: a "
                            "single run given the other side's run-to-run spread (prediction interval)")

    def half_width(self) -> float | None:
        """Half-width of the 95% interval of the estimate (None without a spread)."""
        return t975(self.df) * math.sqrt(self.var) if self.var and self.df else None


def estimate(trial_values: list[float | None], steps_of_trials: list[StepResult], metric: str) -> Estimate:
    """One side's estimate of a metric from each trial's value of one step (and, for a single
    trial, that step's per-interval values)."""
    vals = [v for v in trial_values if v is not None]
    if not vals:
        return Estimate()
    if len(vals) >= 2:
        mean, cv = spread(vals)
        sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
        return Estimate(value=mean, var=sd * sd / len(vals), df=len(vals) - 1, n=len(vals), cv=cv, sd=sd,
                        source="trials", values=vals)
    samples = interval_samples(steps_of_trials[0], metric) if steps_of_trials else []
    if len(samples) >= 3:
        n = len(samples)
        m = sum(samples) / n
        ss = sum((s - m) ** 2 for s in samples)
        var = ss / (n - 1)
        # Neighbouring intervals are correlated (a slow spell lasts seconds): shrink n to the
        # effective sample size n(1 - r1)/(1 + r1) from the lag-1 autocorrelation r1.
        r1 = sum((a - m) * (b - m) for a, b in zip(samples, samples[1:])) / ss if ss > 0 else 0.0
        n_eff = min(n, max(2.0, n * (1 - r1) / (1 + r1))) if r1 > 0 else float(n)
        return Estimate(value=vals[0], var=var / n_eff, df=n_eff - 1, n=1, source="intervals")
    return Estimate(value=vals[0], n=1, source="single")


def borrow_spread(a: Estimate, b: Estimate) -> None:
    """A single run compared with several: it is one draw from the same run-to-run spread, so it
    gets the other side's per-run variance (a prediction interval) instead of its within-run one,
    which cannot see the noise between runs."""
    for one, many in ((a, b), (b, a)):
        if one.n == 1 and one.value is not None and many.source == "trials" and many.sd is not None:
            one.var, one.df, one.source = many.sd ** 2, many.df, "borrowed"

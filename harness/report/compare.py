"""`harness compare BASELINE CURRENT`: a noise-aware regression gate between runs.

Flow: `collect(path)` reads one report (a run directory or a report.json) or every run under a
reports folder; `pair_runs` pairs baseline and current runs by scenario and target (two single
runs are paired whatever their names: comparing two model versions); `compare_runs` judges a pair:

  * correctness first: a check that fails now, a check no longer run, or prediction outputs that
    changed beyond the check's tolerance (responses/<check>.json, compared value by value with
    its atol/rtol; equal hashes short-cut it) is a regression whatever the latency;
  * then, per load step (matched by label) and metric (`trials.METRICS`): the change and its 95%
    interval. With several trials a side's estimate is the mean over trials and its uncertainty
    the trial-to-trial spread (Welch t); with one trial, the spread of the per-interval values in
    the measured window (batch means). Verdict per metric:
        regression    the change is worse than max(threshold, k x interval half-width)
        unstable      trials disagree (CV > threshold), the generator was the bottleneck, or the
                      change is past the threshold but inside the noise (inconclusive)
        improvement   better than max(threshold, k x half-width)
        no change     otherwise
  * a load verdict that went PASS -> FAIL is a regression.
The set's verdict is the worst of its pairs; `exit_code` is 1 on a regression (or, with
--fail-on-unstable, on unstable), else 0. Thresholds are per metric, configurable (YAML file or
--threshold METRIC=VALUE); `render_markdown` / `render_compare_html` present the result.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from harness.errors import ConfigError
from harness.report.model import Report
from harness.report.trials import METRICS, interval_samples, spread, step_metrics, step_x, steps

Verdict = Literal["regression", "unstable", "improvement", "no change"]
MetricVerdict = Literal["regression", "unstable", "improvement", "no change", "info", "n/a"]
_ORDER = {"no change": 0, "improvement": 1, "unstable": 2, "regression": 3}


# -- thresholds ------------------------------------------------------------------------------------
class MetricThreshold(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(description="largest change that is not a regression: relative (0.1 = 10%) or, "
                                                "with absolute, in the metric's unit; null = report only, never judge")
    absolute: bool = Field(False, description="the threshold is an absolute difference, not a fraction")

    @field_validator("threshold")
    @classmethod
    def _non_negative(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError("a threshold must be >= 0")
        return v


DEFAULT_METRICS: dict[str, MetricThreshold] = {
    "p50_ms": MetricThreshold(threshold=0.10),
    "p90_ms": MetricThreshold(threshold=None),
    "p95_ms": MetricThreshold(threshold=0.15),
    "p99_ms": MetricThreshold(threshold=0.15),
    "throughput_rps": MetricThreshold(threshold=0.10),
    "error_rate": MetricThreshold(threshold=0.01, absolute=True),
    "server_inference_ms": MetricThreshold(threshold=0.15),
    "server_queue_ms": MetricThreshold(threshold=None),  # queueing swings with arrival jitter: shown, not judged
}


class Thresholds(BaseModel):
    """What counts as a change. File format (YAML), every key optional:

        k: 1.0                      # a change must also exceed k x the 95% interval half-width
        metrics:
          p50_ms: 0.10              # shorthand: relative threshold
          error_rate: {threshold: 0.01, absolute: true}
          server_queue_ms: null     # report only
    """

    model_config = ConfigDict(extra="forbid")

    k: float = Field(1.0, ge=0, description="multiplier on the 95% interval half-width")
    unstable_cv: float | None = Field(None, gt=0, description="trial-to-trial CV that makes a metric unstable "
                                                               "(default: the metric's own threshold)")
    metrics: dict[str, MetricThreshold] = Field(default_factory=lambda: dict(DEFAULT_METRICS))

    @field_validator("metrics", mode="before")
    @classmethod
    def _merge_defaults(cls, v: Any) -> Any:
        if v is None:
            return dict(DEFAULT_METRICS)
        if not isinstance(v, dict):
            raise ValueError("metrics must be a mapping of metric name to threshold")
        unknown = sorted(set(v) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
        merged: dict[str, Any] = {k: m.model_dump() for k, m in DEFAULT_METRICS.items()}
        for name, spec in v.items():
            if spec is None or isinstance(spec, (int, float)):
                merged[name] = {**merged[name], "threshold": spec}
            else:
                merged[name] = {**merged[name], **spec}
        return merged


def load_thresholds(path: Path | None, overrides: list[str] | None = None) -> Thresholds:
    """Thresholds from an optional YAML file plus METRIC=VALUE overrides (VALUE: a number or 'none').

    Raises:
        ConfigError: unreadable file, unknown metric, bad value.
    """
    data: dict = {}
    where = str(path) if path else "--threshold"
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError("thresholds file not found", where=str(path), hint="give a YAML file (see docs/reports.md)")
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"thresholds file is not valid YAML: {exc}", where=str(path)) from exc
        if not isinstance(data, dict):
            raise ConfigError("a thresholds file must be a YAML mapping", where=str(path))
    metrics = dict(data.get("metrics") or {})
    for item in overrides or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--threshold takes METRIC=VALUE, got {item!r}", where="--threshold",
                              hint=f"metrics: {', '.join(METRICS)}")
        try:
            metrics[name.strip()] = None if value.strip().lower() in ("none", "null", "") else float(value)
        except ValueError as exc:
            raise ConfigError(f"--threshold {item!r}: not a number", where="--threshold") from exc
    if metrics:
        data["metrics"] = metrics
    try:
        return Thresholds.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"invalid thresholds: {loc}: {first['msg']}", where=where,
                          hint="see docs/reports.md for the format") from exc


# -- statistics ------------------------------------------------------------------------------------
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


def estimate(trial_values: list[float | None], steps_of_trials: list[dict], metric: str) -> Estimate:
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


# -- results ---------------------------------------------------------------------------------------
class MetricChange(BaseModel):
    step: str
    metric: str
    label: str
    unit: str
    baseline: Estimate
    current: Estimate
    change: float | None = Field(None, description="relative (0.1 = +10%) or absolute, see absolute")
    low: float | None = None
    high: float | None = None
    absolute: bool = False
    threshold: float | None = None
    margin: float | None = Field(None, description="max(threshold, k x half-width): what a change must exceed")
    higher_is_worse: bool = True
    verdict: MetricVerdict = "n/a"
    reason: str = ""


class CheckChange(BaseModel):
    name: str
    verdict: Literal["same", "within tolerance", "changed", "failing", "missing", "new", "unknown"]
    regression: bool
    detail: str = ""
    diff: list[str] = Field(default_factory=list)


class RunComparison(BaseModel):
    scenario: str
    target: str | None = None
    baseline_run: str | None = None
    current_run: str | None = None
    baseline_dir: str | None = None
    current_dir: str | None = None
    verdict: Verdict = "no change"
    reasons: list[str] = Field(default_factory=list)
    checks: list[CheckChange] = Field(default_factory=list)
    metrics: list[MetricChange] = Field(default_factory=list)
    load_verdicts: list[tuple[str, str, str]] = Field(default_factory=list, description="(step, baseline, current)")
    environment_changes: list[tuple[str, Any, Any]] = Field(default_factory=list)
    trials: tuple[int, int] = Field((0, 0), description="load trials on each side (pooled runs included)")
    runs: tuple[int, int] = Field((1, 1), description="runs on each side (a folder with several runs of a "
                                                      "scenario pools their trials)")
    _reports: tuple[Report, Report] | None = PrivateAttr(None)  # kept for the HTML plots


class Comparison(BaseModel):
    verdict: Verdict = "no change"
    runs: list[RunComparison] = Field(default_factory=list)
    unpaired: list[str] = Field(default_factory=list, description="notes on runs found on one side only")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    baseline: str = ""
    current: str = ""

    def exit_code(self, fail_on_unstable: bool = False) -> int:
        if self.verdict == "regression" or (fail_on_unstable and self.verdict == "unstable"):
            return 1
        return 0


# -- reading ---------------------------------------------------------------------------------------
def collect(path: Path) -> list[tuple[Report, Path]]:
    """(report, run directory) for a run directory, a report.json, or every run under a folder.

    Raises:
        ConfigError: nothing found, or a report that cannot be read.
    """
    from harness.report.render import load_report

    path = Path(path)
    if path.is_file() or (path / "report.json").is_file():
        file = path if path.is_file() else path / "report.json"
        return [(load_report(file), file.parent)]
    if not path.is_dir():
        raise ConfigError("no such run directory or report.json", where=str(path),
                          hint="give a run directory (reports/<run-id>), its report.json, or a folder of runs")
    files = sorted({*path.glob("*/report.json"), *path.glob("*/*/report.json"), *path.glob("*/*/*/report.json")})
    if not files:
        raise ConfigError("no report.json under this folder", where=str(path),
                          hint="give a run directory (reports/<run-id>), its report.json, or a folder of runs")
    return [(load_report(f), f.parent) for f in files]


Runs = list[tuple[Report, Path]]


def pair_runs(base: Runs, cur: Runs) -> tuple[list[tuple[Runs, Runs]], list[str]]:
    """(baseline runs, current runs) per scenario and target, oldest first (the last one is the run
    whose outputs are compared); a side is [] when that scenario ran on one side only. Two single
    runs are paired whatever their names."""
    if len(base) == 1 and len(cur) == 1:
        return [(base, cur)], []

    def grouped(runs: Runs) -> dict[tuple, Runs]:
        by: dict[tuple, Runs] = {}
        for r, d in runs:
            by.setdefault((r.scenario.get("name"), r.target.get("name")), []).append((r, d))
        return {k: sorted(v, key=lambda x: x[0].started_at or "") for k, v in by.items()}

    b, c = grouped(base), grouped(cur)
    pairs, notes = [], []
    for key in sorted(set(b) | set(c), key=lambda k: (str(k[0]), str(k[1]))):
        pairs.append((b.get(key, []), c.get(key, [])))
        if key not in c:
            notes.append(f"{key[0]} on {key[1]}: in the baseline, not in the current runs")
        elif key not in b:
            notes.append(f"{key[0]} on {key[1]}: new (no baseline run)")
    return pairs, notes


# -- judging ---------------------------------------------------------------------------------------
def _compare_checks(base: Report, bdir: Path, cur: Report, cdir: Path) -> list[CheckChange]:
    from harness.report.responses import outputs_diff

    out = []
    b_checks = {c.name: c for c in base.checks}
    c_checks = {c.name: c for c in cur.checks}
    for name in list(dict.fromkeys([*b_checks, *c_checks])):
        b, c = b_checks.get(name), c_checks.get(name)
        if c is None:
            out.append(CheckChange(name=name, verdict="missing", regression=True, detail="not run in the current run"))
            continue
        if not c.passed:
            out.append(CheckChange(name=name, verdict="failing", regression=True,
                                   detail=c.diff[0] if c.diff else "check failed", diff=c.diff))
            continue
        if b is None:
            out.append(CheckChange(name=name, verdict="new", regression=False, detail="no baseline for this check"))
            continue
        if b.status != c.status:
            out.append(CheckChange(name=name, verdict="changed", regression=True,
                                   detail=f"HTTP status {b.status} -> {c.status}"))
            continue
        if not b.response_sha256 or not c.response_sha256:
            out.append(CheckChange(name=name, verdict="unknown", regression=False,
                                   detail="no outputs fingerprint in one of the reports (schema < 1.1)"))
            continue
        if b.response_sha256 == c.response_sha256:
            out.append(CheckChange(name=name, verdict="same", regression=False, detail="identical outputs"))
            continue
        bf = bdir / b.response_file if b.response_file else None
        cf = cdir / c.response_file if c.response_file else None
        if not (bf and bf.is_file() and cf and cf.is_file()):
            out.append(CheckChange(name=name, verdict="changed", regression=True,
                                   detail="outputs hash differs and the response files are not there to compare "
                                          "within tolerance"))
            continue
        atol = c.atol if c.atol is not None else (b.atol if b.atol is not None else 1e-5)
        rtol = c.rtol if c.rtol is not None else (b.rtol or 0.0)
        diff = outputs_diff(bf.read_text(), cf.read_text(), atol=atol, rtol=rtol)
        if diff:
            out.append(CheckChange(name=name, verdict="changed", regression=True,
                                   detail=f"prediction outputs changed beyond atol {atol:g}: {diff[0]}", diff=diff))
        else:
            out.append(CheckChange(name=name, verdict="within tolerance", regression=False,
                                   detail=f"outputs differ only within atol {atol:g}"))
    return out


def _judge(mc: MetricChange, spec: MetricThreshold, th: Thresholds, invalid: str | None) -> None:
    b, c = mc.baseline, mc.current
    if b.value is None or c.value is None:
        mc.verdict, mc.reason = "n/a", "not measured on both sides"
        return
    if spec.threshold is None:
        mc.verdict = "info"
    if mc.absolute:
        change = c.value - b.value
        se = math.sqrt((b.var or 0.0) + (c.var or 0.0))
    else:
        if b.value == 0:
            if spec.threshold is not None:
                mc.verdict = "n/a" if c.value else "no change"
            mc.reason = "baseline is 0: no relative change" if c.value else ""
            return
        change = c.value / b.value - 1.0
        se = math.sqrt((c.var or 0.0) / b.value ** 2 + (c.value ** 2) * (b.var or 0.0) / b.value ** 4)
    dfs = [(v, d) for v, d in ((b.var, b.df), (c.var, c.df)) if v and d]
    df = ((sum(v for v, _ in dfs) ** 2) / sum(v * v / d for v, d in dfs)) if dfs else math.inf
    half = t975(df) * se if se > 0 else 0.0
    mc.change, mc.low, mc.high = change, change - half, change + half
    if spec.threshold is None:
        mc.verdict = "info"
        return
    margin = max(spec.threshold, th.k * half)
    mc.margin = margin
    bad = change if mc.higher_is_worse else -change
    limit = th.unstable_cv if th.unstable_cv is not None else spec.threshold
    if mc.absolute:
        shaky = [f"{name} trials spread {e.sd:.3g}" for name, e in (("baseline", b), ("current", c))
                 if e.sd is not None and e.sd > (th.unstable_cv or spec.threshold)]
    else:
        shaky = [f"{name} trials disagree (CV {100 * e.cv:.1f}% > {100 * limit:.0f}%)" + _first_trial_hint(e, limit)
                 for name, e in (("baseline", b), ("current", c)) if e.cv is not None and e.cv > limit]
    unit = "" if not mc.absolute else f" {mc.unit}".rstrip()
    shown = f"{change:+.4g}{unit}" if mc.absolute else f"{100 * change:+.1f}%"
    limit_shown = f"{margin:.4g}{unit}" if mc.absolute else f"{100 * margin:.1f}%"
    if bad > margin:
        mc.verdict, mc.reason = "regression", f"{shown} is worse than the margin ±{limit_shown}"
    elif invalid:
        mc.verdict, mc.reason = "unstable", invalid
    elif shaky:
        mc.verdict, mc.reason = "unstable", "; ".join(shaky)
    elif bad > spec.threshold:
        mc.verdict, mc.reason = "unstable", (f"{shown} is past the threshold but inside the noise "
                                              f"(95% interval ±{limit_shown}): inconclusive")
    elif -bad > margin:
        mc.verdict, mc.reason = "improvement", f"{shown} is better than the margin ±{limit_shown}"
    else:
        mc.verdict, mc.reason = "no change", f"{shown} within ±{limit_shown}"


def _first_trial_hint(e: Estimate, limit: float) -> str:
    """Name the usual cause when the first trial alone disagrees: the system was still warming up."""
    if len(e.values) < 3:
        return ""
    first, rest = e.values[0], e.values[1:]
    mean_rest, cv_rest = spread(rest)
    if cv_rest is not None and cv_rest <= limit and mean_rest and abs(first / mean_rest - 1) > limit:
        return (f": the first trial is the outlier ({100 * (first / mean_rest - 1):+.0f}% vs the others), the "
                "system was still warming up: raise load.warmup_s")
    return ""


def _env_changes(base: Report, cur: Report) -> list[tuple[str, Any, Any]]:
    out = []
    pairs = [("scenario sha256", base.scenario.get("sha256"), cur.scenario.get("sha256")),
             ("archive sha256", base.archive.sha256 if base.archive else None, cur.archive.sha256 if cur.archive else None),
             ("target", base.target.get("name"), cur.target.get("name"))]
    keys = list(dict.fromkeys([*base.environment, *cur.environment]))
    pairs += [(k, base.environment.get(k), cur.environment.get(k)) for k in keys]
    for key, b, c in pairs:
        if b != c:
            out.append((key, b, c))
    return out


def compare_runs(base: Report, bdir: Path, cur: Report, cdir: Path, th: Thresholds | None = None, *,
                 baseline_pool: list[Report] = (), current_pool: list[Report] = ()) -> RunComparison:
    """Judge one pair of runs. `base` and `cur` are the runs whose outputs are compared; the
    optional pools are more (older) runs of the same scenario whose trials join the performance
    sample, so the run-to-run noise is measured rather than assumed."""
    th = th or Thresholds()
    rc = RunComparison(scenario=str(cur.scenario.get("name")), target=cur.target.get("name"),
                       baseline_run=base.run_id, current_run=cur.run_id, baseline_dir=str(bdir), current_dir=str(cdir),
                       environment_changes=_env_changes(base, cur))
    rc._reports = (base, cur)
    if base.scenario.get("name") != cur.scenario.get("name"):
        rc.scenario = f"{base.scenario.get('name')} → {cur.scenario.get('name')}"
    if cur.error:
        rc.reasons.append(f"the current run failed: {cur.error.get('line') or cur.error.get('what')}")
    if base.error:
        rc.reasons.append(f"the baseline run failed ({base.error.get('line') or base.error.get('what')}): "
                          "its figures are not a baseline")
    rc.checks = _compare_checks(base, bdir, cur, cdir)
    b_res = [r for run in (*baseline_pool, base) for r in run.load_results()]
    c_res = [r for run in (*current_pool, cur) for r in run.load_results()]
    rc.trials = (len(b_res), len(c_res))
    rc.runs = (1 + len(baseline_pool), 1 + len(current_pool))
    if b_res and not c_res and not cur.error:
        rc.reasons.append("the baseline has a load phase, the current run has none")
    labels_b = list(dict.fromkeys(s.get("label") for r in b_res for s in steps(r)))
    labels_c = list(dict.fromkeys(s.get("label") for r in c_res for s in steps(r)))
    if b_res and c_res:
        for label in [x for x in labels_c if x not in labels_b]:
            rc.reasons.append(f"load step {label}: no baseline (not compared)")
        for label in [x for x in labels_b if x not in labels_c]:
            rc.reasons.append(f"load step {label}: in the baseline only (not compared)")
    for label in [x for x in labels_c if x in labels_b]:
        b_steps = [s for r in b_res for s in steps(r) if s.get("label") == label]
        c_steps = [s for r in c_res for s in steps(r) if s.get("label") == label]
        b_status = _worst([_step_status(s) for s in b_steps])
        c_status = _worst([_step_status(s) for s in c_steps])
        rc.load_verdicts.append((label, b_status, c_status))
        invalid = None
        if any(not (s.get("generator") or {}).get("valid", True) for s in b_steps + c_steps):
            invalid = "the load generator was the bottleneck in a trial (self-check INVALID): figures not comparable"
        for metric, (name, unit, worse_up) in METRICS.items():
            spec = th.metrics.get(metric, DEFAULT_METRICS[metric])
            bv = [step_metrics(s)[metric] for s in b_steps]
            cv = [step_metrics(s)[metric] for s in c_steps]
            b_est, c_est = estimate(bv, b_steps, metric), estimate(cv, c_steps, metric)
            borrow_spread(b_est, c_est)
            mc = MetricChange(step=label, metric=metric, label=name, unit=unit, absolute=spec.absolute,
                              threshold=spec.threshold, higher_is_worse=worse_up, baseline=b_est, current=c_est)
            _judge(mc, spec, th, invalid)
            rc.metrics.append(mc)
    rc.verdict = _run_verdict(rc, base, cur)
    return rc


def _step_status(step: dict) -> str:
    return str((step.get("verdict") or {}).get("status") or "PASS")


def _worst(statuses: list[str]) -> str:
    rank = {"PASS": 0, "INVALID": 1, "FAIL": 2}
    return max(statuses, key=lambda s: rank.get(s, 3)) if statuses else "—"


def _run_verdict(rc: RunComparison, base: Report, cur: Report) -> Verdict:
    verdict: Verdict = "no change"
    bad = [c for c in rc.checks if c.regression]
    for c in bad:
        rc.reasons.append(f"check {c.name}: {c.verdict}: {c.detail}")
    for label, b, c in rc.load_verdicts:
        if c == "FAIL" and b != "FAIL":
            rc.reasons.append(f"load step {label}: verdict {b} -> FAIL")
            bad.append(label)
    if cur.error or bad or any(m.verdict == "regression" for m in rc.metrics) \
            or (base.load_results() and not cur.load_results()):
        return "regression"
    if base.error:
        return "unstable"
    for m in rc.metrics:
        if _ORDER.get(m.verdict, -1) > _ORDER[verdict]:
            verdict = m.verdict  # type: ignore[assignment]
    return verdict


def compare_paths(baseline: Path, current: Path, th: Thresholds | None = None) -> Comparison:
    """Compare everything found at two paths (see `collect`)."""
    th = th or Thresholds()
    pairs, notes = pair_runs(collect(baseline), collect(current))
    comp = Comparison(thresholds=th, unpaired=notes, baseline=str(baseline), current=str(current))
    for b, c in pairs:
        if b and c:
            # Older baseline runs pool their trials (the noise between runs, measured); on the
            # current side only the latest run is judged (an older one may predate the change).
            comp.runs.append(compare_runs(b[-1][0], b[-1][1], c[-1][0], c[-1][1], th,
                                          baseline_pool=[r for r, _ in b[:-1]]))
        elif b and not c:
            last = b[-1][0]
            rc = RunComparison(scenario=str(last.scenario.get("name")), target=last.target.get("name"),
                               baseline_run=last.run_id, verdict="regression",
                               reasons=["no current run of this scenario (it vanished from the run set)"])
            comp.runs.append(rc)
    comp.verdict = max((r.verdict for r in comp.runs), key=lambda v: _ORDER[v], default="no change")
    return comp


# -- rendering -------------------------------------------------------------------------------------
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
        if rc.environment_changes:
            lines += ["<details><summary>what changed between the runs</summary>", "",
                      "| | baseline | current |", "|---|---|---|"]
            lines += [f"| {k} | {b} | {c} |" for k, b, c in rc.environment_changes]
            lines += ["", "</details>", ""]
    return "\n".join(lines) + "\n"


def render_compare_html(comp: Comparison) -> str:
    from harness.report.html import badge, esc, figure, fmt, page, plots, table
    from harness.report.plots import ChangeRow, Series, bar_chart, change_chart, line_chart

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
        figs += _compare_plots(rc, comp, bar_chart, line_chart, Series, figure)
        body.append(plots(*figs))
        if rc.environment_changes:
            body.append("<details><summary>what changed between the runs</summary>" + table(
                ["", "baseline", "current"], [(k, fmt(b), fmt(c)) for k, b, c in rc.environment_changes]) + "</details>")
    body.append("<footer>kserve-harness compare · thresholds: " + esc(", ".join(
        f"{k} {_threshold(v)}" for k, v in comp.thresholds.metrics.items())) + "</footer>")
    return page(f"compare · {comp.verdict}", body)


def _compare_plots(rc: RunComparison, comp: Comparison, bar_chart, line_chart, Series, figure) -> list[str]:
    """Baseline against current: percentiles per step, p95 over time (first trial), sweep curves."""
    if rc._reports is None:
        return []
    base, cur = rc._reports
    if not base.load_results() or not cur.load_results():
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
                half = t975(e.df) * math.sqrt(e.var) if e.var and e.df else None
                bars.append((e.value - half, e.value + half) if half and e.value is not None else None)
            groups.append((f"{side} {metric.split('_')[0]}", vals))
            errs.append(bars)
    figs.append(figure(bar_chart(labels, groups, errors=errs, title="Latency: baseline vs current", x_label="step",
                                 y_label="latency (ms)"), "whiskers: 95% interval of each side's estimate"))
    b_steps, c_steps = steps(base.load_results()[0]), steps(cur.load_results()[0])
    if len(c_steps) == 1 and len(b_steps) == 1:
        series = []
        for name, s, dashed in (("baseline p95", b_steps[0], True), ("current p95", c_steps[0], False)):
            ivs = s.get("intervals") or []
            series.append(Series(name, [iv["t_s"] for iv in ivs], [iv.get("p95_ms") for iv in ivs], dashed=dashed))
        figs.append(figure(line_chart(series, title="p95 latency over time (trial 1)", x_label="seconds from start",
                                      y_label="latency (ms)"), "dashed: baseline"))
        tp = [Series(name, [iv["t_s"] for iv in (s.get("intervals") or [])],
                     [iv.get("rps") for iv in (s.get("intervals") or [])], dashed=dashed)
              for name, s, dashed in (("baseline", b_steps[0], True), ("current", c_steps[0], False))]
        figs.append(figure(line_chart(tp, title="Throughput over time (trial 1)", x_label="seconds from start",
                                      y_label="2xx per second"), "dashed: baseline"))
    xs_b = [step_x(s) for s in b_steps]
    xs_c = [step_x(s) for s in c_steps]
    if len(b_steps) > 1 and None not in xs_b and None not in xs_c:
        series = []
        for name, res, dashed in (("baseline", base.load_results(), True), ("current", cur.load_results(), False)):
            st = steps(res[0])
            xs = [step_x(s) for s in st]
            means, lows, highs = [], [], []
            for s in st:
                vals = [step_metrics(x)["p95_ms"] for r in res for x in steps(r) if x.get("label") == s.get("label")]
                vals = [v for v in vals if v is not None]
                means.append(sum(vals) / len(vals) if vals else None)
                lows.append(min(vals) if vals else None)
                highs.append(max(vals) if vals else None)
            series.append(Series(f"{name} p95", xs, means, dashed=dashed, markers=True,
                                 band=(lows, highs) if len(res) > 1 else None))
        x_label = "users" if b_steps[0].get("mode") == "closed" else "offered rate (req/s)"
        figs.append(figure(line_chart(series, title=f"p95 latency against {x_label}", x_label=x_label,
                                      y_label="latency (ms)"), "shaded: lowest to highest trial"))
        tps = []
        for name, res, dashed in (("baseline", base.load_results(), True), ("current", cur.load_results(), False)):
            st = steps(res[0])
            tps.append(Series(name, [step_x(s) for s in st],
                              [step_metrics(s)["throughput_rps"] for s in st], dashed=dashed, markers=True))
        figs.append(figure(line_chart(tps, title=f"Throughput against {x_label}", x_label=x_label,
                                      y_label="2xx per second"), "trial 1 of each side"))
    return figs

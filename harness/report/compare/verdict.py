"""The verdict of `harness compare`: pairing runs, comparing checks and metrics, judging.

Flow: `collect(path)` reads one report (a run directory or a report.json) or every run under a
reports folder; `pair_runs` pairs baseline and current runs by scenario and target; `compare_runs`
judges a pair from the typed reports (Report, LoadResult, StepResult): correctness first
(`_compare_checks`), the cold start phase by phase (`_compare_cold_start`), then per load step and
metric an estimate on each side (harness.report.compare.statistics) judged against its threshold
(`_judge`); `compare_paths` does it for everything at two paths and takes the worst verdict. `Comparison.exit_code` is the CLI's
exit status. Nothing here renders (harness.report.compare.render does).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from harness.ab.model import AbResult
from harness.errors import ConfigError, is_verdict
from harness.outputs import outputs_diff
from harness.report.compare.statistics import Estimate, borrow_spread, estimate, t975
from harness.report.compare.thresholds import DEFAULT_METRICS, ColdStartThreshold, MetricThreshold, Thresholds
from harness.report.model import COLD_START_PHASES, ColdStartPhase, Report, load_report
from harness.report.trials import METRICS, spread, step_metrics

Verdict = Literal["regression", "unstable", "improvement", "no change"]
MetricVerdict = Literal["regression", "unstable", "improvement", "no change", "info", "n/a"]
_ORDER = {"no change": 0, "improvement": 1, "unstable": 2, "regression": 3}

EXIT_NO_REGRESSION, EXIT_REGRESSION = 0, 1


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


class ColdStartChange(BaseModel):
    phase: str  # a COLD_START_PHASES name, or "total" (the time to the first answer)
    baseline: float | None = Field(None, description="seconds; the mean over the baseline runs")
    current: float | None = None
    change_s: float | None = None
    margin_s: float | None = Field(None, description="what a change must exceed, besides the relative threshold")
    verdict: MetricVerdict = "n/a"
    reason: str = ""


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
    cold_start: list[ColdStartChange] = Field(default_factory=list)
    load_verdicts: list[tuple[str, str, str]] = Field(default_factory=list, description="(step, baseline, current)")
    environment_changes: list[tuple[str, Any, Any]] = Field(default_factory=list)
    ab: AbResult | None = Field(None, description="the current run's own paired A/B verdict, when it is an A/B run")
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
        """1 on a regression (or, with fail_on_unstable, on unstable), else 0."""
        if self.verdict == "regression" or (fail_on_unstable and self.verdict == "unstable"):
            return EXIT_REGRESSION
        return EXIT_NO_REGRESSION


# -- reading ---------------------------------------------------------------------------------------
def collect(path: Path) -> list[tuple[Report, Path]]:
    """(report, run directory) for a run directory, a report.json, or every run under a folder.

    Raises:
        ConfigError: nothing found, or a report that cannot be read.
    """
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


def _cold_phase(report: Report, name: str) -> ColdStartPhase | None:
    """A present phase's figure, as `seconds`; "total" is the first answer's offset."""
    cs = report.cold_start
    p = cs.phase("first-answer" if name == "total" else name) if cs else None
    if p is None or p.at_s is None:
        return None
    return p.model_copy(update={"seconds": p.at_s}) if name == "total" else p


def _compare_cold_start(base_runs: list[Report], cur: Report, spec: ColdStartThreshold) -> list[ColdStartChange]:
    """Each phase present on both sides: the current run against the baseline runs' mean."""
    out = []
    for name in (*COLD_START_PHASES, "total"):
        b_phases = [p for r in base_runs if (p := _cold_phase(r, name))]
        c = _cold_phase(cur, name)
        if not b_phases and c is None:
            continue
        cc = ColdStartChange(phase=name, current=c.seconds if c else None)
        out.append(cc)
        if not b_phases or c is None:
            cc.reason = "not measured on both sides"
            continue
        vals = [p.seconds for p in b_phases]
        mean, cv = spread(vals)
        cc.baseline, cc.change_s = mean, c.seconds - mean
        # Several baseline runs: the current one must also leave their 95% prediction interval.
        sd = (cv or 0.0) * abs(mean)
        predicted = t975(len(vals) - 1) * sd * math.sqrt(1 + 1 / len(vals)) if sd else 0.0
        cc.margin_s = max(spec.absolute_s, b_phases[-1].resolution_s + c.resolution_s, predicted)
        relative = cc.change_s / mean if mean > 0 else math.copysign(math.inf, cc.change_s)
        shown = f"{mean:.2f} s → {c.seconds:.2f} s ({cc.change_s:+.2f} s" + (
            f", {100 * relative:+.0f}%)" if math.isfinite(relative) else ")")
        past = abs(cc.change_s) > cc.margin_s and abs(relative) > spec.relative
        cc.verdict = ("regression" if cc.change_s > 0 else "improvement") if past else "no change"
        cc.reason = f"{shown} {'past' if past else 'within'} ±{cc.margin_s:.2f} s and ±{100 * spec.relative:.0f}%"
    return out


def _runtime_of(report: Report) -> str | None:
    rt = report.runtime
    return f"{rt.runtime} ({rt.image}, {rt.serving_path} path)" if rt else None


def _env_changes(base: Report, cur: Report) -> list[tuple[str, Any, Any]]:
    out = []
    pairs = [("scenario sha256", base.scenario.get("sha256"), cur.scenario.get("sha256")),
             ("archive sha256", base.archive.sha256 if base.archive else None, cur.archive.sha256 if cur.archive else None),
             ("target", base.target.get("name"), cur.target.get("name")),
             # A runtime move (TorchServe -> the ModelServer) is the change such a comparison is about.
             ("runtime", _runtime_of(base), _runtime_of(cur))]
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
    if _run_failed(cur):
        rc.reasons.append(f"the current run failed: {cur.error.get('line') or cur.error.get('what')}")
    if _run_failed(base):
        rc.reasons.append(f"the baseline run failed ({base.error.get('line') or base.error.get('what')}): "
                          "its figures are not a baseline")
    rc.checks = _compare_checks(base, bdir, cur, cdir)
    rc.ab = cur.ab
    rc.cold_start = _compare_cold_start([*baseline_pool, base], cur, th.cold_start)
    b_res = [r for run in (*baseline_pool, base) for r in run.load_results()]
    c_res = [r for run in (*current_pool, cur) for r in run.load_results()]
    rc.trials = (len(b_res), len(c_res))
    rc.runs = (1 + len(baseline_pool), 1 + len(current_pool))
    if b_res and not c_res and not _run_failed(cur):
        rc.reasons.append("the baseline has a load phase, the current run has none")
    labels_b = list(dict.fromkeys(s.label for r in b_res for s in r.steps))
    labels_c = list(dict.fromkeys(s.label for r in c_res for s in r.steps))
    if b_res and c_res:
        for label in [x for x in labels_c if x not in labels_b]:
            rc.reasons.append(f"load step {label}: no baseline (not compared)")
        for label in [x for x in labels_b if x not in labels_c]:
            rc.reasons.append(f"load step {label}: in the baseline only (not compared)")
    for label in [x for x in labels_c if x in labels_b]:
        b_steps = [s for r in b_res for s in r.steps if s.label == label]
        c_steps = [s for r in c_res for s in r.steps if s.label == label]
        b_status = _worst([s.verdict.status for s in b_steps])
        c_status = _worst([s.verdict.status for s in c_steps])
        rc.load_verdicts.append((label, b_status, c_status))
        invalid = None
        if any(not s.generator.valid for s in b_steps + c_steps):
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


def _run_failed(report: Report) -> bool:
    """The run did not complete (a verdict error is judged from its checks and load instead)."""
    return bool(report.error) and not is_verdict(report.error)


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
    if rc.ab is not None and rc.ab.failed:  # its candidate regressed or disagreed within the run itself
        rc.reasons.append(f"A/B run {rc.ab.verdict}: {rc.ab.reasons[0] if rc.ab.reasons else 'see its A/B section'}")
        bad.append("ab")
    for cc in rc.cold_start:
        if cc.verdict == "regression":
            rc.reasons.append(f"cold start {cc.phase}: slower, {cc.reason}")
            bad.append(cc.phase)
    if _run_failed(cur) or bad or any(m.verdict == "regression" for m in rc.metrics) \
            or (base.load_results() and not cur.load_results()):
        return "regression"
    if _run_failed(base):
        return "unstable"
    for m in (*rc.metrics, *rc.cold_start):
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

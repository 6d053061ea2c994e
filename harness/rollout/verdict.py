"""Judge a rollout from its request records: no failed request from the patch on, the candidate's SLO
on what it served, and the outcome the scenario asked for; for a canary also each traffic step on
its own (its failed requests, the candidate's SLO on what it served at that step). Pure functions
(unit-tested)."""
from __future__ import annotations

import math

import numpy as np

from harness.load.result import Percentiles, SloCheck
from harness.load.spec import SloSpec
from harness.rollout.model import RolloutRecord, RolloutResult, RolloutStep, RolloutWindow, SideFigures


def percentiles(values: list[float]) -> Percentiles:
    if not values:
        return Percentiles()
    a = np.asarray(values, dtype=float)
    q = np.percentile(a, [50, 90, 95, 99])
    return Percentiles(count=len(values), min=float(a.min()), mean=float(a.mean()), p50=float(q[0]),
                       p90=float(q[1]), p95=float(q[2]), p99=float(q[3]), max=float(a.max()))


def windows(records: list[RolloutRecord], width_s: float) -> list[RolloutWindow]:
    out: dict[int, RolloutWindow] = {}
    lat: dict[tuple[int, str], list[float]] = {}
    for r in records:
        i = int(r.t // width_s)
        w = out.setdefault(i, RolloutWindow(start_s=round(i * width_s, 3)))
        w.requests[r.side] = w.requests.get(r.side, 0) + 1
        if not r.ok:
            w.errors[r.side] = w.errors.get(r.side, 0) + 1
        else:
            lat.setdefault((i, r.side), []).append(r.latency_ms)
    for (i, side), values in lat.items():
        out[i].p50_ms[side] = round(float(np.percentile(values, 50)), 3)
    return [out[i] for i in sorted(out)]


def side_figures(records: list[RolloutRecord], side: str, pods: list[str]) -> SideFigures:
    mine = [r for r in records if r.side == side]
    return SideFigures(side=side, pods=pods, requests=len(mine), errors=sum(not r.ok for r in mine),
                       latency_ms=percentiles([r.latency_ms for r in mine if r.ok]))


def candidate_slo(fig: SideFigures, slo: SloSpec | None) -> list[SloCheck]:
    slo = slo or SloSpec()
    checks = []
    for name in ("p50", "p90", "p95", "p99", "max"):
        limit = getattr(slo, f"{name}_ms")
        if limit is not None:
            obs = getattr(fig.latency_ms, name)
            checks.append(SloCheck(name=f"{name}_ms", limit=limit, observed=obs, passed=obs is not None and obs <= limit))
    budget = slo.max_error_rate if slo.max_error_rate is not None else 0.0
    rate = fig.errors / fig.requests if fig.requests else None
    checks.append(SloCheck(name="error_rate", limit=budget, observed=rate, passed=rate is not None and rate <= budget))
    return checks


def assign_steps(records: list[RolloutRecord], steps: list[RolloutStep]) -> None:
    """Each record's step: the percent whose [start_s, end_s) holds its answer; 0 outside every step
    (before the first, or after a rollback)."""
    for r in records:
        r.step = next((s.percent for s in steps if s.start_s is not None and s.start_s <= r.t
                       and (s.end_s is None or r.t < s.end_s)), 0)


def share_plausible(percent: int, share: float | None, n: int) -> bool | None:
    """The observed candidate share is within 3 binomial standard errors (plus one request) of percent."""
    if share is None or not n:
        return None
    p = percent / 100.0
    return abs(share - p) <= 3 * math.sqrt(p * (1 - p) / n) + 1.0 / n


def _broken_text(c: SloCheck) -> str:
    if c.name.endswith("_ms"):
        obs = "none" if c.observed is None else f"{c.observed:.1f} ms"
        return f"candidate {c.name[:-3]} {obs} > {c.limit:g} ms"
    return f"candidate {c.name.replace('_', ' ')} {c.observed if c.observed is None else round(c.observed, 4)} " \
           f"> {c.limit:g}"


def step_figures(step: RolloutStep, records: list[RolloutRecord], slo: SloSpec | None) -> RolloutStep:
    """Fill `step` (percent, start_s, end_s set) from the records answered within it, and judge it."""
    mine = [r for r in records if step.start_s is not None and step.start_s <= r.t
            and (step.end_s is None or r.t < step.end_s)]
    step.requests, step.errors = {}, {}
    for r in mine:
        step.requests[r.side] = step.requests.get(r.side, 0) + 1
        if not r.ok:
            step.errors[r.side] = step.errors.get(r.side, 0) + 1
    cand = side_figures(mine, "candidate", [])
    step.candidate_share = round(cand.requests / len(mine), 4) if mine else None
    step.share_plausible = share_plausible(step.percent, step.candidate_share, len(mine))
    step.candidate_latency_ms = cand.latency_ms
    step.slo = candidate_slo(cand, slo) if cand.requests else []
    failed = [r for r in mine if not r.ok]
    if failed:
        step.reason = f"step {step.percent} %: {len(failed)} failed request(s), e.g. {failed[0].error or 'error'}"
    elif not cand.requests:
        step.reason = f"step {step.percent} %: the candidate served no request"
    else:
        broken = [c for c in step.slo if not c.passed]
        step.reason = f"step {step.percent} %: " + ", ".join(_broken_text(c) for c in broken) if broken else None
    step.passed = step.reason is None
    return step


def judge(result: RolloutResult, records: list[RolloutRecord], *, crashed: bool, slo: SloSpec | None,
          width_s: float = 1.0) -> RolloutResult:
    """Fill the figures and the verdict of `result` (its pods, cause, outcome and patched_at_s set; for a
    canary its steps' percent, start_s and end_s too)."""
    if result.strategy == "canary":
        assign_steps(records, result.steps)
    step_reasons = [s.reason for s in (step_figures(s, records, slo) for s in result.steps) if s.reason]
    result.windows = windows(records, width_s)
    result.sides = [side_figures(records, "baseline", result.baseline_pods),
                    side_figures(records, "candidate", result.candidate_pods)]
    if any(r.side == "unknown" for r in records):
        result.sides.append(side_figures(records, "unknown", []))
    after = [r for r in records if result.patched_at_s is None or r.t >= result.patched_at_s]
    failed = [r for r in after if not r.ok]
    result.failed_requests = len(failed)
    result.errors = list(dict.fromkeys(r.error or "error" for r in failed))[:10]
    reasons = []
    if crashed:
        reasons.append(f"new revision failed: {result.cause or 'unknown cause'}; traffic stayed on the old revision"
                       f" ({result.sides[0].requests} requests answered by it), {len(failed)} failed requests")
    if failed:
        reasons.append(f"{len(failed)} failed request(s) during the rollout"
                       + (f", e.g. {result.errors[0]}" if result.errors else ""))
    if not records:
        reasons.append("no request was answered during the rollout")
    cand = result.sides[1]
    if not crashed:
        result.candidate_slo = candidate_slo(cand, slo)
        broken = [c for c in result.candidate_slo if not c.passed]
        if cand.requests == 0:
            reasons.append("the candidate served no request during the rollout")
        elif broken:
            reasons.append("candidate SLO: " + ", ".join(
                f"{c.name} {c.observed if c.observed is None else round(c.observed, 4)} > {c.limit}" for c in broken))
    if result.outcome == "failed" and not crashed:
        reasons.append("the rollout did not settle")
    result.reasons = step_reasons + reasons
    result.passed = not result.reasons
    return result

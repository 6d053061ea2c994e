"""Serverless canary steps (`rollout.strategy: canary`, KServe's canaryTrafficPercent).

Flow (`run_canary(c, ro)`, from harness.rollout.run): the candidate's predictor is set with
`canaryTrafficPercent: <first step>`; Knative stamps a new revision and, once it is Ready, KServe
splits the traffic between it (the latest ready revision) and the latest rolled-out one
(status.components.predictor.traffic). Each step starts when the split is observed in that status
and holds `step_s` of load; the ServiceForward picks a revision per request with those weights (the
harness stands in for Knative's ingress split) and the load opens a connection per request. Each
step is judged as it ends (failed requests, the candidate's SLO at that step): a failed step stops
the rollout and rolls back (canaryTrafficPercent: 0: all traffic to the rolled-out revision), as a
canary pipeline does. After the last step: promote (the predictor without canaryTrafficPercent:
100 % to the candidate, the old revision's pods drain; the 100 % step is judged too), or, with
on_success: rollback, canaryTrafficPercent: 0. A new revision with a named cause at the first step
is rolled back the same way. Each answer's side is its pod's serving.knative.dev/revision.
"""
from __future__ import annotations

import copy
import time
from typing import Callable

from harness.rollout.cluster import Rollout, follow, hold, pod_failure, set_predictor
from harness.rollout.forward import traffic_of
from harness.rollout.model import RolloutStep
from harness.rollout.verdict import step_figures

POLL_S = 0.1  # a step starts when its split is seen: poll the status closely


def _predictor_status(c: Rollout) -> tuple[dict, dict]:
    """(status.components.predictor, the InferenceService)."""
    isvc = c.kube.get_isvc(c.ns, c.isvc)
    return ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}, isvc


def _split(isvc: dict) -> dict[str, int]:
    """revision -> percent of the traffic (targets of one revision summed)."""
    out: dict[str, int] = {}
    for t in traffic_of(isvc):
        if t.get("revisionName"):
            out[t["revisionName"]] = out.get(t["revisionName"], 0) + int(t.get("percent") or 0)
    return out


def _await_split(c: Rollout, want: Callable[[dict, dict], bool], *, watch_new: bool,
                 deadline: float) -> str | None:
    """Poll until want(predictor status, split) holds (None), or (watch_new) a pod of a new revision
    fails (its cause), or the deadline passes (a line saying so)."""
    while True:
        status, isvc = _predictor_status(c)
        if want(status, _split(isvc)):
            return None
        if watch_new:
            for p in c.pods.refresh():
                if c.pods.hash_of[p["metadata"]["name"]] not in c.old_hashes:
                    cause = pod_failure(c.kube, c.ns, p)
                    if cause:
                        return cause
        if time.monotonic() > deadline:
            return "the traffic split asked for was not in the InferenceService's status within the rollout timeout"
        time.sleep(POLL_S)


def _canary_predictor(c: Rollout, percent: int | None) -> dict:
    pred = copy.deepcopy(c.new_predictor)
    pred.pop("canaryTrafficPercent", None)
    if percent is not None:
        pred["canaryTrafficPercent"] = percent
    return pred


def _start_step(c: Rollout, percent: int) -> RolloutStep:
    now = round(c.load.now(), 3)
    c.pods.refresh()  # the candidate's pods are known before its answers are attributed
    if c.result.steps:
        c.result.steps[-1].end_s = now
    step = RolloutStep(percent=percent, start_s=now)
    c.result.steps.append(step)
    return step


def _canary_rollback(c: Rollout, ro, why: str) -> None:
    """canaryTrafficPercent: 0 (all traffic to the rolled-out revision), followed in the status."""
    c.say(f"  rollout: {why}; rolling back (canaryTrafficPercent: 0)")
    set_predictor(c.kube, c.ns, c.isvc, _canary_predictor(c, 0))
    base = c.result.baseline_revision
    back = _await_split(c, lambda st, split: split.get(base) == 100, watch_new=False,
                        deadline=time.monotonic() + ro.timeout_s)
    if c.result.steps and c.result.steps[-1].end_s is None:
        c.result.steps[-1].end_s = round(c.load.now(), 3)
    c.result.outcome = "rolled back" if back is None else "failed"


def run_canary(c: Rollout, ro) -> bool:
    """The Serverless canary steps; True when the new revision failed."""
    result = c.result
    status, _ = _predictor_status(c)
    base = result.baseline_revision = status.get("latestRolledoutRevision") or next(iter(sorted(c.old_hashes)), None)
    slo = ro.slo or c.run.spec.load.slo
    for i, percent in enumerate(ro.percents()):
        if i == 0:
            result.patched_at_s = round(c.load.now(), 3)
        c.say(f"  rollout: canary step {percent} % to the candidate {c.run.spec.candidate_scenario.name}")
        set_predictor(c.kube, c.ns, c.isvc, _canary_predictor(c, percent))

        def at_step(st: dict, split: dict, p: int = percent) -> bool:
            cand = st.get("latestReadyRevision")
            return cand not in (None, base) and split.get(cand) == p and split.get(base) == 100 - p

        failure = _await_split(c, at_step, watch_new=True, deadline=time.monotonic() + ro.timeout_s)
        if failure is not None:
            result.cause = failure
            _canary_rollback(c, ro, f"new revision failed at step {percent} % ({failure})")
            return True
        result.candidate_revision = _predictor_status(c)[0].get("latestReadyRevision")
        step = _start_step(c, percent)
        hold(ro.step_s)
        judged = step_figures(step.model_copy(update={"end_s": c.load.now()}), c.load.records(c.side_of), slo)
        if not judged.passed:
            _canary_rollback(c, ro, judged.reason)
            result.settled_at_s = round(c.load.now(), 3)
            hold(ro.after_s)
            return False
    if ro.on_success == "rollback":
        _canary_rollback(c, ro, "clean; rolling back as asked (on_success: rollback)")
    else:
        _canary_promote(c, ro)
    result.settled_at_s = round(c.load.now(), 3)
    hold(ro.after_s)
    return False


def _canary_promote(c: Rollout, ro) -> None:
    """The predictor without canaryTrafficPercent: 100 % to the candidate (a step judged as the others),
    then the old revision's pods drain."""
    c.say("  rollout: promoting the candidate to 100 %")
    set_predictor(c.kube, c.ns, c.isvc, _canary_predictor(c, None))
    cand = c.result.candidate_revision
    failure = _await_split(c, lambda st, split: split.get(cand) == 100 and st.get("latestRolledoutRevision") == cand,
                           watch_new=False, deadline=time.monotonic() + ro.timeout_s)
    if failure is not None:
        c.result.outcome = "failed"
        return
    _start_step(c, 100)
    gone = follow(c.pods, c.old_hashes, want_old=False, deadline=time.monotonic() + ro.timeout_s)
    c.result.outcome = "promoted" if gone is None else "failed"

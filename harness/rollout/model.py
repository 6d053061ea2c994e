"""A rollout's result in report.json (`rollout`): what happened, per side, per time window and (canary)
per traffic step."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.load.result import Percentiles, SloCheck
from harness.schema import Schema

Side = Literal["baseline", "candidate", "unknown"]


class _M(Schema):
    pass


class RolloutRecord(_M):
    """One request of the rollout load (kept in load/rollout-requests.jsonl, not in report.json)."""

    t: float = Field(description="seconds since the load started, at the answer")
    side: Side = Field(description="the revision whose pod served the connection")
    pod: str | None = None
    ok: bool
    latency_ms: float
    error: str | None = None
    step: int | None = Field(None, description="canary: the candidate's traffic percent in force at the answer "
                                               "(0 before the first step)")


class SideFigures(_M):
    side: Side
    pods: list[str] = Field(default_factory=list)
    requests: int = 0
    errors: int = 0
    latency_ms: Percentiles = Field(default_factory=Percentiles)


class RolloutWindow(_M):
    start_s: float
    requests: dict[str, int] = Field(default_factory=dict, description="side -> answers in this window")
    errors: dict[str, int] = Field(default_factory=dict, description="side -> failed requests in this window")
    p50_ms: dict[str, float] = Field(default_factory=dict, description="side -> p50 latency of its 2xx answers")


class RolloutStep(_M):
    """One canary step: the requests answered while `percent` % of the traffic went to the candidate."""

    percent: int
    start_s: float | None = Field(None, description="when the step's traffic split was observed in the status")
    end_s: float | None = Field(None, description="when the next traffic change was observed (or the load ended)")
    requests: dict[str, int] = Field(default_factory=dict, description="side -> answers in this step")
    errors: dict[str, int] = Field(default_factory=dict, description="side -> failed requests in this step")
    candidate_share: float | None = Field(None, description="observed share of the answers the candidate gave")
    share_plausible: bool | None = Field(None, description="the observed share is within 3 standard errors of "
                                                           "percent (reported, not judged: the sample is small)")
    candidate_latency_ms: Percentiles = Field(default_factory=Percentiles)
    slo: list[SloCheck] = Field(default_factory=list, description="the candidate's SLO on this step's answers")
    passed: bool = False
    reason: str | None = Field(None, description="why the step failed, one line naming it")


class RolloutResult(_M):
    strategy: Literal["rolling", "canary"] = "rolling"
    on_success: Literal["promote", "rollback"] = "promote"
    outcome: Literal["promoted", "rolled back", "failed"] = Field(
        "failed", description="promoted: the candidate serves; rolled back: the baseline serves again (by request, "
                              "or because the new revision failed); failed: the harness could not tell")
    passed: bool = False
    reasons: list[str] = Field(default_factory=list, description="why it did not pass, one line each")
    cause: str | None = Field(None, description="the new revision's failure, named (e.g. CrashLoopBackOff)")
    baseline_pods: list[str] = Field(default_factory=list)
    candidate_pods: list[str] = Field(default_factory=list)
    patched_at_s: float | None = Field(None, description="when the predictor was patched (seconds since the load start)")
    settled_at_s: float | None = Field(None, description="when the rollout settled: one revision left serving")
    failed_requests: int = Field(0, description="failed requests from the patch to the end of the load")
    sides: list[SideFigures] = Field(default_factory=list)
    windows: list[RolloutWindow] = Field(default_factory=list)
    candidate_slo: list[SloCheck] = Field(default_factory=list, description="the candidate's SLO on the requests "
                                                                            "it served")
    errors: list[str] = Field(default_factory=list, description="distinct error texts (first 10)")
    baseline_revision: str | None = Field(None, description="canary: the revision rolled out before the patch")
    candidate_revision: str | None = Field(None, description="canary: the candidate's revision")
    steps: list[RolloutStep] = Field(default_factory=list, description="canary: each traffic step reached, in order "
                                                                       "(the promotion's 100 % last)")

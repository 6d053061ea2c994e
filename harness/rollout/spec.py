"""The scenario's `rollout:` section: roll the candidate out as a new revision of the running
InferenceService while load runs, and judge it (harness.rollout.run).

`strategy: rolling` (RawDeployment: the predictor's Deployment rolls its pod) or `strategy: canary`
(Serverless: `spec.predictor.canaryTrafficPercent` steps, e.g. 10 % then 50 %, each held `step_s`
under load and judged, then promoted to 100 %).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.load.spec import SloSpec

DEFAULT_STEPS = (10, 50)


class RolloutSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: Literal["rolling", "canary"] = Field(
        "rolling", description="rolling: patch the predictor (RawDeployment) and follow the Deployment's rolling "
                               "update (new pod Ready, then the old one removed); canary: Serverless "
                               "canaryTrafficPercent steps, then promote")
    steps: list[int] | None = Field(
        None, description="canary: the candidate's traffic percents, increasing, each 1..99 (default [10, 50]); "
                          "100 % (the promotion) follows")
    step_s: float = Field(3.0, gt=0, le=3600, description="canary: seconds of load held at each step")
    on_success: Literal["promote", "rollback"] = Field(
        "promote", description="after a clean rollout keep the candidate (promote) or restore the baseline (rollback)")
    users: int = Field(2, ge=1, le=64, description="concurrent closed-loop clients kept running through the rollout")
    before_s: float = Field(2.0, ge=0, le=600, description="seconds of load on the baseline before the patch")
    after_s: float = Field(3.0, ge=0, le=600, description="seconds of load after the rollout settled")
    timeout_s: float = Field(300.0, gt=0, le=7200, description="how long the new revision may take to be Ready")
    window_s: float = Field(1.0, gt=0, le=60, description="width of the per-side time windows in the report")
    slo: SloSpec | None = Field(None, description="the candidate's objectives, judged on the requests it served "
                                                  "(default: the load section's slo)")

    @field_validator("steps")
    @classmethod
    def _increasing_percents(cls, v: list[int] | None) -> list[int] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("give at least one canary step (a traffic percent 1..99), or leave steps out")
        if any(not 1 <= p <= 99 for p in v):
            raise ValueError(f"each canary step is a traffic percent 1..99 (100 % is the promotion), got {v}")
        if any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError(f"canary steps must increase, got {v}")
        return v

    @model_validator(mode="after")
    def _steps_are_for_canary(self) -> "RolloutSpec":
        given = [k for k in ("steps", "step_s") if k in self.model_fields_set]
        if self.strategy == "rolling" and given:
            raise ValueError(f"rollout.{given[0]} is for strategy: canary (strategy is rolling)")
        return self

    def percents(self) -> list[int]:
        """The canary steps in force (the default when none were given)."""
        return list(self.steps) if self.steps is not None else list(DEFAULT_STEPS)

"""The scenario's `rollout:` section: roll the candidate out as a new revision of the running
InferenceService while load runs, and judge it (harness.rollout.run).

Only `strategy: rolling` (RawDeployment: the predictor's Deployment rolls its pod) is implemented;
Serverless `canaryTrafficPercent` steps are not (yet).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.load.spec import SloSpec


class RolloutSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: Literal["rolling"] = Field(
        "rolling", description="rolling: patch the predictor (RawDeployment) and follow the Deployment's rolling "
                               "update (new pod Ready, then the old one removed)")
    on_success: Literal["promote", "rollback"] = Field(
        "promote", description="after a clean rollout keep the candidate (promote) or restore the baseline (rollback)")
    users: int = Field(2, ge=1, le=64, description="concurrent closed-loop clients kept running through the rollout")
    before_s: float = Field(2.0, ge=0, le=600, description="seconds of load on the baseline before the patch")
    after_s: float = Field(3.0, ge=0, le=600, description="seconds of load after the rollout settled")
    timeout_s: float = Field(300.0, gt=0, le=7200, description="how long the new revision may take to be Ready")
    window_s: float = Field(1.0, gt=0, le=60, description="width of the per-side time windows in the report")
    slo: SloSpec | None = Field(None, description="the candidate's objectives, judged on the requests it served "
                                                  "(default: the load section's slo)")

"""The report's `ab` section: both sides, the paired verdict per metric, and the outputs' agreement."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.schema import Schema

PairedVerdict = Literal["regression", "improvement", "no change", "inconclusive", "info", "n/a"]


class AbSide(Schema):
    role: Literal["baseline", "candidate"]
    scenario: str
    model: str  # model name and handler, as deployed
    runtime: str
    base_url: str = ""


class AbBlock(Schema):
    """One measured load block of one side (its full figures: result.json under `result`)."""

    side: Literal["baseline", "candidate"]
    pair: int  # 1-based: the block pair it belongs to
    order: int  # 1-based position in the run
    status: str  # the block's load verdict (PASS / FAIL / INVALID)
    metrics: dict[str, float | None] = Field(default_factory=dict)  # harness.report.trials.METRICS of the block
    result: str = ""  # the block's result.json


class PairedMetric(Schema):
    metric: str
    label: str
    unit: str
    higher_is_worse: bool = True
    absolute: bool = False  # the difference is candidate - baseline in the unit, else relative (0.1 = +10%)
    pairs: int = 0
    baseline: float | None = None  # mean over the baseline's blocks
    candidate: float | None = None
    diffs: list[float] = Field(default_factory=list, description="per pair: candidate - baseline (relative or absolute)")
    mean: float | None = None
    low: float | None = None  # 95% interval of the mean difference (t, pairs - 1 degrees of freedom)
    high: float | None = None
    threshold: float | None = None
    verdict: PairedVerdict = "n/a"
    reason: str = ""


class OutputsSource(Schema):
    """One request body sent to both sides: how many outputs (rows) agree within its tolerance."""

    name: str  # "check NAME" or "load request FILE"
    kind: Literal["check", "load"]
    atol: float
    rtol: float = 0.0
    status: tuple[int | None, int | None] = (None, None)  # HTTP status (baseline, candidate)
    outputs: int = 0
    agree: int = 0
    max_abs_diff: float | None = None
    top1_compared: int = 0  # rows that look like per-class scores
    top1_agree: int = 0
    differences: list[str] = Field(default_factory=list, description="the first differences, as value_diff lines")


class OutputsAgreement(Schema):
    sources: list[OutputsSource] = Field(default_factory=list)
    outputs: int = 0
    agree: int = 0
    max_abs_diff: float | None = None
    top1_compared: int = 0
    top1_agree: int = 0

    @property
    def all_agree(self) -> bool:
        return self.agree == self.outputs and all(s.status[0] == s.status[1] for s in self.sources)


class AbResult(Schema):
    baseline: AbSide
    candidate: AbSide
    block_s: float | None = None
    warmup_block_s: float = 0.0  # each side's unmeasured block before the first pair
    blocks_per_side: int = 0
    schedule: Literal["interleaved", "alternate", "concurrent"] | None = None  # load.ab.schedule
    order: str = ""  # e.g. "ABBAABBA"; interleaved "A|B A|B" (a window of each), concurrent "A+B A+B"
    blocks: list[AbBlock] = Field(default_factory=list)
    metrics: list[PairedMetric] = Field(default_factory=list)
    outputs: OutputsAgreement = Field(default_factory=OutputsAgreement)
    verdict: Literal["regression", "disagree", "invalid", "inconclusive", "improvement", "no change"] = "no change"
    reasons: list[str] = Field(default_factory=list)

    @property
    def failed(self) -> bool:
        """The candidate regresses or answers differently: the run's exit is 1."""
        return self.verdict in ("regression", "disagree")

    @property
    def invalid_blocks(self) -> list[AbBlock]:
        """Blocks the load generator limited (self-check INVALID): a run with any exits 3 unless it failed."""
        return [b for b in self.blocks if b.status == "INVALID"]

"""The scenario's `load:` section: what traffic to send, for how long, and what counts as passing.

Flow: `ScenarioSpec.load` is a `LoadSpec` (strict: unknown keys rejected, every field described);
`LoadSpec.steps()` expands a plain run, `stages:` or a `sweep:` into `StepPlan`s; the runner
(harness/load/runner.py) executes them and `slo.py` judges each against `slo:`.

Paths in `requests:` are relative to the scenario YAML; `harness.spec.load_scenario` makes them
absolute with every other path of the scenario.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from harness.errors import ConfigError


def non_empty_path(v: Any) -> Any:
    """A path field's check: "" (or blanks) would resolve to the scenario's own folder."""
    if isinstance(v, str) and not v.strip():
        raise ValueError("empty path: give a file path (relative to the scenario file)")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no endless runs or waits


class SloSpec(_Strict):
    """Service-level objectives; each one given is checked per step, all must hold to PASS."""

    p50_ms: float | None = Field(None, gt=0, description="client p50 latency limit, ms")
    p90_ms: float | None = Field(None, gt=0, description="client p90 latency limit, ms")
    p95_ms: float | None = Field(None, gt=0, description="client p95 latency limit, ms")
    p99_ms: float | None = Field(None, gt=0, description="client p99 latency limit, ms")
    max_ms: float | None = Field(None, gt=0, description="client maximum latency limit, ms")
    max_error_rate: float | None = Field(
        None, ge=0, le=1, description="largest allowed fraction of failed requests (0.01 = 1%)")
    min_rps: float | None = Field(None, ge=0, description="lowest allowed successful responses per second")
    max_queue_ms: float | None = Field(
        None, gt=0, description="largest allowed mean server queue latency (TorchServe ts_queue_latency), ms")


class SelfCheckSpec(_Strict):
    """When the load generator itself is the bottleneck, the step is INVALID, not the server's figure."""

    max_cpu_percent: float = Field(
        90.0, gt=0, le=100, description="a generator process busier than this (% of one core) makes the step invalid")
    max_send_lag_p95_ms: float = Field(
        25.0, gt=0, description="open loop: 95th percentile of (actual - intended send time) allowed, ms")
    min_rate_ratio: float = Field(
        0.97, gt=0, le=1, description="open loop: achieved send rate / requested rate must reach this")


class StageSpec(_Strict):
    """One stage of a staged run: the load changes in one run, each stage is reported as a step."""

    duration_s: float = Field(gt=0, le=86400, description="measured seconds of this stage (after its warmup)")
    warmup_s: float = Field(0.0, ge=0, le=3600, description="seconds at the start of the stage left out of its figures")
    rate: float | None = Field(None, gt=0, description="open loop: requests per second in this stage")
    users: int | None = Field(None, ge=1, description="closed loop: concurrent users in this stage")
    spawn_rate: float | None = Field(None, gt=0, description="closed loop: users started per second (default: all at once)")


class SweepSpec(_Strict):
    """Repeat the whole run (warmup included) once per value; each value is its own step."""

    param: Literal["rate", "users"] = Field(description="what to sweep: rate (open loop) or users (closed loop)")
    values: list[float] = Field(min_length=1, description="the values, in run order")

    @model_validator(mode="after")
    def _positive(self) -> "SweepSpec":
        if any(v <= 0 for v in self.values):
            raise ValueError("sweep values must be positive")
        if self.param == "users" and any(v != int(v) for v in self.values):
            raise ValueError("a users sweep takes whole numbers")
        return self


class AbSpec(_Strict):
    """A/B runs (a scenario with a `candidate:`): the load goes to both baseline and candidate over
    the same time, in pairs of short blocks, so drift over the run hits both sides alike."""

    schedule: Literal["interleaved", "alternate", "concurrent"] = Field(
        "interleaved", description="interleaved: one load whose consecutive requests go one to each side, cut into "
                                   "windows of block_s (a pair = one window of each side; noise hits both alike, "
                                   "request by request); alternate: one side at a time, blocks in ABBA order; "
                                   "concurrent: both sides loaded at once by two loads in each pair (the loads "
                                   "share the machine)")
    block_s: float = Field(5.0, gt=0, le=3600, description="measured seconds of each block (interleaved: each window)")
    blocks: int | None = Field(None, ge=2, le=500, description="blocks per side; default duration_s / block_s, "
                                                               "at least 2")
    warmup_s: float = Field(0.5, ge=0, le=60, description="seconds at the start of each block left out "
                                                          "(each block opens new connections)")
    warmup_block_s: float = Field(
        3.0, ge=0, le=600,
        description="seconds of unmeasured load on each side before the first pair: a fresh deployment is slower "
                    "at first (TorchServe's JVM compiles its hot paths over its first ~1000 requests), and the "
                    "baseline has already answered the checks; 0 = none")
    thresholds: dict[str, float | dict | None] = Field(
        default_factory=dict,
        description="per metric, the paired change that is not yet a regression (0.02 = 2%; null = shown, not "
                    "judged; {threshold: 0.01, absolute: true}); unnamed metrics keep harness.ab.paired's defaults (names checked by ScenarioSpec)")


class LoadSpec(_Strict):
    mode: Literal["open", "closed"] = Field(
        "closed", description="open: fixed arrival rate, latency from each request's intended send time; "
                              "closed: `users` each send, wait for the answer, (think), send again")
    rate: float | None = Field(None, gt=0, description="open loop: requests per second")
    users: int | None = Field(None, ge=1, description="closed loop: concurrent users")
    spawn_rate: float | None = Field(None, gt=0, description="closed loop: users started per second (default: all at once)")
    wait_time_s: float = Field(0.0, ge=0, description="closed loop: think time between a user's requests")
    duration_s: float | None = Field(None, gt=0, le=86400, description="measured seconds (after warmup); not with stages")
    warmup_s: float = Field(0.0, ge=0, le=3600, description="seconds at the start of each run left out of the figures")
    stages: list[StageSpec] | None = Field(
        None, min_length=1, description="a load profile in one run; each stage is reported as its own step")
    sweep: SweepSpec | None = Field(None, description="repeat the run for each value of rate or users")
    requests: list[Annotated[Path, BeforeValidator(non_empty_path)]] = Field(
        default_factory=list, description="request body files (relative to the scenario YAML), sent in turn")
    path: str | None = Field(None, description="URL path to POST to; default the endpoint's predict path "
                                               "(none over grpc-v2: every request is a ModelInfer call)")
    workers: int = Field(
        1, ge=1, le=64, description="Locust processes generating load: 1 = one process, N > 1 = Locust master + N workers")
    generator: Literal["local", "cluster"] = Field(
        "local", description="where Locust runs: local = on this machine (through the port-forward on a cluster "
                             "target); cluster = as pods in the run's namespace, sending to the predictor's in-cluster "
                             "address (harness.kube.load_pods; kind/gke/kubeconfig targets only)")
    timeout_s: float = Field(30.0, gt=0, le=600, description="per-request timeout (connect and read)")
    max_in_flight: int = Field(
        1000, ge=1, description="open loop, per process: requests awaiting an answer before new ones are "
                                "dropped (counted as errors, never delayed: the offered rate stays honest)")
    interval_s: float = Field(1.0, gt=0, description="width of the time-series intervals")
    scrape_interval_s: float = Field(2.0, gt=0, description="how often the server's metrics are scraped during a run")
    expect_gpu: bool = Field(
        False, description="the predictor should run on a GPU: fail if its model never used GPU memory, or if no GPU "
                           "could be sampled (in the predictor pod on clusters, NVML locally)")
    slo: SloSpec | None = Field(None, description="objectives judged per step")
    self_check: SelfCheckSpec = Field(default_factory=SelfCheckSpec, description="load-generator validity limits")
    ab: AbSpec | None = Field(None, description="A/B block plan (needs a candidate: section); defaults apply "
                                                "when the scenario has a candidate and no ab:")

    @model_validator(mode="after")
    def _consistent(self) -> "LoadSpec":
        own, other = ("rate", "users") if self.mode == "open" else ("users", "rate")
        if getattr(self, other) is not None:
            raise ValueError(f"`{other}` is for {'closed' if self.mode == 'open' else 'open'} loop; "
                             f"mode is {self.mode!r} (use `{own}`)")
        if self.mode == "open" and (self.spawn_rate is not None or self.wait_time_s):
            raise ValueError("spawn_rate and wait_time_s are for closed loop (mode: closed)")
        if self.stages and self.sweep:
            raise ValueError("give either stages or sweep, not both")
        if self.generator == "cluster" and self.mode == "closed" and self.workers > 1:
            raise ValueError("generator: cluster runs closed loop in one pod; use workers: 1 (or mode: open)")
        if self.ab and (self.stages or self.sweep):
            raise ValueError("ab: an A/B run alternates one plain load step; drop stages or sweep")
        if self.stages:
            if self.duration_s is not None:
                raise ValueError("with stages, each stage has its own duration_s (remove the top-level one)")
            for i, st in enumerate(self.stages):
                if getattr(st, own) is None or getattr(st, other) is not None:
                    raise ValueError(f"stages[{i}]: a {self.mode}-loop stage takes `{own}` (and not `{other}`)")
                if self.mode == "open" and st.spawn_rate is not None:
                    raise ValueError(f"stages[{i}]: spawn_rate is for closed loop")
            return self
        if self.duration_s is None:
            raise ValueError("duration_s is required (or give stages)")
        if self.sweep:
            if self.sweep.param != own:
                raise ValueError(f"a {self.mode}-loop run sweeps `{own}`, not `{self.sweep.param}`")
            if getattr(self, own) is not None:
                raise ValueError(f"`{own}` is given both directly and by the sweep; keep one")
        elif getattr(self, own) is None:
            raise ValueError(f"mode {self.mode!r} needs `{own}` (or a sweep over it)")
        return self

    # -- expansion --------------------------------------------------------------------------
    def runs(self) -> list[list["StagePlan"]]:
        """The Locust runs to make: each run is a list of stages (steps) executed back to back."""
        if self.stages:
            return [[StagePlan(label=_label(self.mode, getattr(st, "rate" if self.mode == "open" else "users"), i),
                               duration_s=st.duration_s,
                               warmup_s=(self.warmup_s if i == 0 else 0.0) + st.warmup_s,
                               rate=st.rate, users=st.users, spawn_rate=st.spawn_rate or st.users)
                     for i, st in enumerate(self.stages)]]
        values = self.sweep.values if self.sweep else [self.rate if self.mode == "open" else self.users]
        plans = []
        for v in values:
            if self.mode == "open":
                plans.append([StagePlan(label=_label("open", v), duration_s=self.duration_s, warmup_s=self.warmup_s,
                                        rate=float(v))])
            else:
                u = int(v)
                plans.append([StagePlan(label=_label("closed", u), duration_s=self.duration_s,
                                        warmup_s=self.warmup_s, users=u, spawn_rate=self.spawn_rate or float(u))])
        return plans

    def ab_blocks(self) -> tuple[int, "LoadSpec"]:
        """Blocks per side, and the load each block runs (a plain step of block_s seconds)."""
        ab = self.ab or AbSpec()
        blocks = ab.blocks or max(2, round(self.duration_s / ab.block_s))
        return blocks, self.model_copy(update={"duration_s": ab.block_s, "warmup_s": ab.warmup_s, "ab": None})

    def read_bodies(self) -> list[bytes]:
        """The request bodies named by `requests:` (paths already resolved by load_scenario)."""
        bodies = []
        for p in self.requests:
            if not p.is_file():
                raise ConfigError("load request body file not found", where=str(p),
                                  hint="`load.requests` paths are relative to the scenario YAML")
            bodies.append(p.read_bytes())
        return bodies


class StagePlan(_Strict):
    """One measured step as the runner executes it (derived, not part of the file format)."""

    label: str
    duration_s: float
    warmup_s: float
    rate: float | None = None
    users: int | None = None
    spawn_rate: float | None = None


def _label(mode: str, value: float | int | None, index: int | None = None) -> str:
    prefix = f"stage{index + 1} " if index is not None else ""
    if mode == "open":
        return f"{prefix}rate={value:g}/s"
    return f"{prefix}users={value}"

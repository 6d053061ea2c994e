"""The report.json schema: one run of one scenario on one target.

Flow: the runner fills a `Report` phase by phase (so a crash still leaves what was done);
harness.report.writer writes it and what is rendered from it; `load_report(path)` reads one back,
checked against its `schema_version`. Every model derives harness.schema.Schema: an unknown field
is an error when a report is built in code, and dropped (listed in `Report.unknown_fields`) when
one is read. Bump SCHEMA_VERSION when a field changes meaning.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError

from harness.ab.model import AbResult
from harness.errors import ConfigError
from harness.load.result import LoadResult
from harness.rollout.model import RolloutResult
from harness.schema import Schema, reading_context

SCHEMA_VERSION = "1.9"
# 1.1 (additive): CheckResult.atol/rtol/response_sha256/response_file; Report.trials, load_trials,
# latency_histograms; report.html and junit.xml beside report.json. See docs/reports.md.
# 1.2 (additive): Report.runtime (the runtime image, what it ships, what ran, where they differ, and
# the serving path every check and load figure was measured on) and Report.lint_warnings; a 1.1
# report reads with both empty.
# 1.3: load/load_trials typed as LoadResult; models strict when built (harness.schema), reading tolerates unknown fields.
# 1.4 (additive): RuntimeInfo.runtime (torchserve or kserve: which model server served); ServerWindow
# stage latencies (the ModelServer's preprocess/predict/postprocess); older reports read as torchserve.
# 1.5 (additive): Report.cold_start (the deploy phase by phase, to the first correct answer); older
# reports read with none.
# 1.6 (additive): Report.ab (an A/B run: both sides, per-block figures, the paired verdict per metric and
# the outputs' agreement; harness.ab.model); older reports read with none.
# 1.7 (additive): AbResult.warmup_block_s and the A/B verdict "invalid" (under 2 valid block pairs);
# the paired verdict uses the A/B thresholds (harness.ab.paired.AB_THRESHOLDS, load.ab.thresholds).
# 1.8 (additive): `rollout` (RolloutResult), a rollout under load (harness.rollout).
# 1.9 (additive): rollout.strategy canary: rollout.steps (per traffic step), baseline/candidate_revision;
# AbResult.schedule (load.ab.schedule; the default is now interleaved). Older reports read with none.


class Phase(Schema):
    name: str
    seconds: float
    status: str = "ok"  # ok | failed | skipped
    detail: str = ""


class CheckResult(Schema):
    name: str
    passed: bool
    status: int | None = None
    expected_status: int = 200
    elapsed_ms: float | None = None
    diff: list[str] = Field(default_factory=list)
    request: str = ""
    expect: str | None = None
    response_excerpt: str = ""
    atol: float | None = None
    rtol: float | None = None
    response_sha256: str | None = None  # of the raw response body: the correctness fingerprint
    response_file: str | None = None  # the full body, relative to the run directory


class LatencyHistogram(Schema):
    """Client latency of one load step's successful requests, from the raw per-request timings."""

    trial: int  # 1-based
    step: str  # the step's label
    edges_ms: list[float]
    counts: list[int]


class ArchiveInfo(Schema):
    path: str
    sha256: str
    inputs_hash: str
    reused: bool


class RuntimeInfo(Schema):
    """The runtime image the run stands for, and what really served the model."""

    runtime: str = "torchserve"  # the scenario's runtime: torchserve (kserve-torchserve) or kserve (ModelServer)
    image: str  # the image reference the manifest renders (pytorch/torchserve-kfs:<tag>[-gpu], or kubernetes.image)
    tag: str  # torchserve.image or kserve.image: the row of that runtime's image table
    shipped: dict[str, str]  # what that image ships (torchserve, torch, torchvision, captum, kserve, python)
    ran: dict[str, str] = Field(default_factory=dict)  # what served; {} when nothing was deployed
    ran_source: str = ""  # where `ran` comes from: the runtime environment measured, or the image's own table
    differences: list[str] = Field(default_factory=list)  # "torch: image 2.4.0, ran 2.4.0+cu121"-style lines
    serving_path: str = "front"  # front | direct: what every check and load figure was measured on


COLD_START_PHASES = ("scheduled", "init-image-pulled", "storage-download", "image-pulled", "container-started",
                     "model-loaded", "front-ready", "first-answer")


class ColdStartPhase(Schema):
    """One step of a cold start. `at_s` is when it ended, from the cold start's origin; `seconds`
    is its own duration when the source states one (an image pull, the storage-initializer's run),
    else the time since the previous present phase ended. Absent data leaves both None and says why."""

    name: str  # one of COLD_START_PHASES
    at_s: float | None = None
    seconds: float | None = None
    resolution_s: float = 0.001  # how coarse its timestamps are (Kubernetes': 1 s), so compare can allow for it
    bytes: int | None = None  # storage-download: the model files; image pulls: the image size the kubelet reported
    source: str = ""  # what it was read from ("pod condition ContainersReady", "event Pulled", ...)
    detail: str = ""
    missing: str | None = None  # why it is absent (then at_s and seconds are None)


class ColdStart(Schema):
    """The deploy, phase by phase, from the origin to the first correct answer."""

    origin: str  # what t = 0 is ("InferenceService creationTimestamp 2026-...Z", "deploy start (local)")
    origin_epoch: float  # the same instant, Unix seconds (to place harness-side phases on one timeline)
    phases: list[ColdStartPhase] = Field(default_factory=list)  # in COLD_START_PHASES order

    def phase(self, name: str) -> ColdStartPhase | None:
        return next((p for p in self.phases if p.name == name), None)


class Report(Schema):
    schema_version: str = SCHEMA_VERSION
    run_id: str
    scenario: dict[str, Any]  # name, file, sha256, description
    target: dict[str, Any]  # name, plus target facts (ports, namespace, pod, cluster version)
    started_at: str
    finished_at: str | None = None
    passed: bool = False
    exit_code: int | None = None
    error: dict[str, Any] | None = None
    environment: dict[str, Any] = Field(default_factory=dict)
    archive: ArchiveInfo | None = None
    storage: dict[str, Any] = Field(default_factory=dict)
    endpoint: dict[str, Any] = Field(default_factory=dict)
    phases: list[Phase] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    load: LoadResult | None = None  # the (first trial's) load result
    trials: int = 1  # load repeats asked for (harness run --trials N)
    load_trials: list[LoadResult] = Field(default_factory=list)  # every trial's LoadResult when trials > 1
    latency_histograms: list[LatencyHistogram] = Field(default_factory=list)
    diagnostics: list[str] = Field(default_factory=list)
    runtime: RuntimeInfo | None = None
    lint_warnings: list[dict[str, Any]] = Field(default_factory=list)  # LintError.to_dict() of each warning
    cold_start: ColdStart | None = None
    ab: AbResult | None = None  # an A/B run (a scenario with a candidate:)
    rollout: RolloutResult | None = None  # a rollout under load (a scenario with rollout:), since 1.8

    # fields a tolerant read dropped ("Model.field"); set by load_report, never written
    _unknown_fields: list[str] = PrivateAttr(default_factory=list)

    def load_results(self) -> list[LoadResult]:
        """Every load trial's LoadResult, in run order; [] without a load phase."""
        return list(self.load_trials) or ([self.load] if self.load is not None else [])

    @property
    def unknown_fields(self) -> list[str]:
        """What `load_report` dropped because this harness does not know it ("Model.field")."""
        return list(self._unknown_fields)


def load_report(path: Path) -> Report:
    """report.json from a run directory or the file itself, validated by its `schema_version`:
    the same major version reads (an older minor fills what it lacks with defaults; unknown fields,
    as a newer minor may add, are dropped and listed in `Report.unknown_fields`); another major
    does not.

    Raises:
        ConfigError: missing, not JSON, not a report, or another major schema version.
    """
    path = Path(path)
    file = path / "report.json" if path.is_dir() else path
    if not file.is_file():
        raise ConfigError("no report.json found", where=str(file),
                          hint="give a run directory (reports/<run-id>) or its report.json")
    try:
        raw = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"report.json is not valid JSON: {exc}", where=str(file)) from exc
    version = str(raw.get("schema_version", "")) if isinstance(raw, dict) else ""
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ConfigError(f"report schema {version or '(none)'} is not readable by this harness "
                          f"(reads {SCHEMA_VERSION.split('.')[0]}.x)", where=str(file),
                          hint="re-run the scenario, or use the harness version that wrote it")
    ctx = reading_context()
    try:
        report = Report.model_validate(raw, context=ctx)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"report.json does not match the report schema: {loc}: {first['msg']}",
                          where=str(file)) from exc
    report._unknown_fields = list(ctx["dropped"])
    return report

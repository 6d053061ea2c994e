"""The report.json schema: one run of one scenario on one target.

Flow: the runner fills a `Report` phase by phase (so a crash still leaves what was done), and
`write_report(report, run_dir)` writes report.json and summary.md atomically.
Bump SCHEMA_VERSION when a field changes meaning; readers check it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

SCHEMA_VERSION = "1.1"
# 1.1 (additive): CheckResult.atol/rtol/response_sha256/response_file; Report.trials, load_trials,
# latency_histograms; report.html and junit.xml beside report.json. See docs/reports.md.


class Phase(BaseModel):
    name: str
    seconds: float
    status: str = "ok"  # ok | failed | skipped
    detail: str = ""


class CheckResult(BaseModel):
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


class LatencyHistogram(BaseModel):
    """Client latency of one load step's successful requests, from the raw per-request timings."""

    trial: int  # 1-based
    step: str  # the step's label
    edges_ms: list[float]
    counts: list[int]


class ArchiveInfo(BaseModel):
    path: str
    sha256: str
    inputs_hash: str
    reused: bool


class Report(BaseModel):
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
    load: Any = None  # the (first trial's) LoadResult, as JSON
    trials: int = 1  # load repeats asked for (harness run --trials N)
    load_trials: list[Any] = Field(default_factory=list)  # every trial's LoadResult when trials > 1
    latency_histograms: list[LatencyHistogram] = Field(default_factory=list)
    diagnostics: list[str] = Field(default_factory=list)

    def load_results(self) -> list[dict]:
        """Every load trial's LoadResult (JSON dicts), in run order; [] without a load phase."""
        return list(self.load_trials) or ([self.load] if self.load else [])


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_report(report: Report, run_dir: Path) -> Path:
    """report.json first, then what is rendered from it: summary.md, report.html, junit.xml."""
    from harness.report.render import render_outputs

    run_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(run_dir / "report.json", json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
    for name, text in render_outputs(report).items():
        _atomic_write(run_dir / name, text)
    return run_dir / "report.json"


def read_report(path: Path) -> Report:
    path = path / "report.json" if path.is_dir() else path
    return Report.model_validate_json(path.read_text())

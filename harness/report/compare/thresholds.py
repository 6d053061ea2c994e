"""What counts as a change in `harness compare`: a threshold per metric, and k.

`Thresholds` holds them (defaults: `DEFAULT_METRICS`); `load_thresholds(path, overrides)` reads the
YAML file and the --threshold METRIC=VALUE overrides, every mistake a one-line ConfigError.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import ConfigError
from harness.report.trials import METRICS


class MetricThreshold(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(description="largest change that is not a regression: relative (0.1 = 10%) or, "
                                                "with absolute, in the metric's unit; null = report only, never judge")
    absolute: bool = Field(False, description="the threshold is an absolute difference, not a fraction")

    @field_validator("threshold")
    @classmethod
    def _non_negative(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError("a threshold must be >= 0")
        return v


DEFAULT_METRICS: dict[str, MetricThreshold] = {
    "p50_ms": MetricThreshold(threshold=0.10),
    "p90_ms": MetricThreshold(threshold=None),
    "p95_ms": MetricThreshold(threshold=0.15),
    "p99_ms": MetricThreshold(threshold=0.15),
    "throughput_rps": MetricThreshold(threshold=0.10),
    "error_rate": MetricThreshold(threshold=0.01, absolute=True),
    "server_inference_ms": MetricThreshold(threshold=0.15),
    "server_queue_ms": MetricThreshold(threshold=None),  # queueing swings with arrival jitter: shown, not judged
}


def merge_overrides(defaults: dict[str, MetricThreshold], overrides: dict[str, Any]) -> dict[str, dict]:
    """`defaults` with per-metric overrides applied, as fields to validate: a number is the threshold,
    null means report only, a mapping sets fields (harness compare's `metrics:`, load.ab.thresholds).

    Raises:
        ValueError: an unknown metric, or a value that is neither a number, null nor a mapping.
    """
    unknown = sorted(set(overrides) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
    merged = {k: m.model_dump() for k, m in defaults.items()}
    for name, spec in overrides.items():
        if spec is None or isinstance(spec, (int, float)) and not isinstance(spec, bool):
            spec = {"threshold": spec}
        if not isinstance(spec, dict):
            raise ValueError(f"{name}: give a number, null or {{threshold: N, absolute: true}}")
        merged[name] = {**merged[name], **spec}
    return merged


class ColdStartThreshold(BaseModel):
    """A cold-start phase regresses when it is slower by more than both: a fraction of the baseline
    and a number of seconds (at least what its timestamps' resolution can swing it by, and, with
    several baseline runs, their 95% prediction interval)."""

    model_config = ConfigDict(extra="forbid")

    relative: float = Field(0.25, ge=0, description="fraction of the baseline phase (0.25 = 25%)")
    absolute_s: float = Field(0.5, ge=0, description="seconds")


class Thresholds(BaseModel):
    """What counts as a change. File format (YAML), every key optional:

        k: 1.0                      # a change must also exceed k x the 95% interval half-width
        metrics:
          p50_ms: 0.10              # shorthand: relative threshold
          error_rate: {threshold: 0.01, absolute: true}
          server_queue_ms: null     # report only
        cold_start: {relative: 0.25, absolute_s: 0.5}
    """

    model_config = ConfigDict(extra="forbid")

    k: float = Field(1.0, ge=0, description="multiplier on the 95% interval half-width")
    unstable_cv: float | None = Field(None, gt=0, description="trial-to-trial CV that makes a metric unstable "
                                                               "(default: the metric's own threshold)")
    metrics: dict[str, MetricThreshold] = Field(default_factory=lambda: dict(DEFAULT_METRICS))
    cold_start: ColdStartThreshold = Field(default_factory=ColdStartThreshold)

    @field_validator("metrics", mode="before")
    @classmethod
    def _merge_defaults(cls, v: Any) -> Any:
        if v is None:
            return dict(DEFAULT_METRICS)
        if not isinstance(v, dict):
            raise ValueError("metrics must be a mapping of metric name to threshold")
        return merge_overrides(DEFAULT_METRICS, v)


def load_thresholds(path: Path | None, overrides: list[str] | None = None) -> Thresholds:
    """Thresholds from an optional YAML file plus METRIC=VALUE overrides (VALUE: a number or 'none').

    Raises:
        ConfigError: unreadable file, unknown metric, bad value.
    """
    data: dict = {}
    where = str(path) if path else "--threshold"
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError("thresholds file not found", where=str(path), hint="give a YAML file (see docs/reports.md)")
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"thresholds file is not valid YAML: {exc}", where=str(path)) from exc
        if not isinstance(data, dict):
            raise ConfigError("a thresholds file must be a YAML mapping", where=str(path))
    metrics = dict(data.get("metrics") or {})
    for item in overrides or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--threshold takes METRIC=VALUE, got {item!r}", where="--threshold",
                              hint=f"metrics: {', '.join(METRICS)}")
        try:
            metrics[name.strip()] = None if value.strip().lower() in ("none", "null", "") else float(value)
        except ValueError as exc:
            raise ConfigError(f"--threshold {item!r}: not a number", where="--threshold") from exc
    if metrics:
        data["metrics"] = metrics
    try:
        return Thresholds.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"invalid thresholds: {loc}: {first['msg']}", where=where,
                          hint="see docs/reports.md for the format") from exc

"""Load tests: Locust against the predictor, exact client figures, server metrics, SLO verdict.

Public API (imported lazily: harness.spec imports harness.load.spec, so this package must not
import the runner, and through it harness.spec, at import time):

    from harness.load import run_load, LoadSpec, LoadResult, ExpectedBatching
    result = run_load(scenario.load, endpoint, scenario.load.read_bodies(), out_dir)

See README.md beside this file.
"""
from __future__ import annotations

_EXPORTS = {
    "run_load": "harness.load.runner",
    "preflight": "harness.load.runner",
    "ExpectedBatching": "harness.load.runner",
    "LoadProgress": "harness.load.runner",
    "LoadSpec": "harness.load.spec",
    "SloSpec": "harness.load.spec",
    "LoadResult": "harness.load.result",
    "StepResult": "harness.load.result",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'harness.load' has no attribute {name!r}")

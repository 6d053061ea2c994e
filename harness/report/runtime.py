"""Rendering helpers for the report's runtime section (built by the runtime: `Runtime.info`).

`rows(runtime)` is the package table both renderers print; `path_sentence(runtime)` says what
the serving path means; `runtime_name(runtime)` names the model server.
"""
from __future__ import annotations

from harness.report.model import RuntimeInfo

PATHS = {
    "front": "KServe's front (its ModelServer on the pod's port 8080), then TorchServe: what a cluster serves",
    "direct": "TorchServe's inference port directly, without KServe's front (for comparison; not what a cluster serves)",
    "modelserver": "KServe's Python ModelServer itself on the pod's port 8080 (a custom predictor): what a cluster serves",
}
NAMES = {"torchserve": "kserve-torchserve (TorchServe behind KServe's front)",
         "kserve": "KServe's Python ModelServer (custom predictor)"}


def rows(runtime: RuntimeInfo) -> list[tuple[str, str, str, str]]:
    """(package, image ships, ran, 'differs' or '') per package."""
    differing = {line.split(":", 1)[0] for line in runtime.differences}
    return [(name, want, runtime.ran.get(name, "—"), "differs" if name in differing else "")
            for name, want in runtime.shipped.items()]


def path_sentence(runtime: RuntimeInfo) -> str:
    return PATHS.get(runtime.serving_path, runtime.serving_path)


def runtime_name(runtime: RuntimeInfo) -> str:
    return NAMES.get(runtime.runtime, runtime.runtime)

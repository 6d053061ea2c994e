"""The one list of serving runtimes; `runtime_for(spec)` is the scenario's."""
from __future__ import annotations

import yaml

from harness.runtimes.base import Runtime
from harness.runtimes.kserve.runtime import KServeRuntime
from harness.runtimes.torchserve.runtime import TorchServeRuntime
from harness.spec import ScenarioSpec

RUNTIMES: dict[str, Runtime] = {runtime.name: runtime for runtime in (TorchServeRuntime(), KServeRuntime())}


def runtime_for(spec: ScenarioSpec) -> Runtime:
    return RUNTIMES[spec.runtime]


def render_manifest_yaml(spec: ScenarioSpec, storage_uri: str | None = None, run_id: str | None = None) -> str:
    """The scenario runtime's InferenceService as YAML (what `harness render SCENARIO` prints).

    Args:
        spec: the scenario.
        storage_uri: where the model lives; default: the scenario's storage.uri.
        run_id: the run id label, when rendering for a run.
    """
    obj = runtime_for(spec).inference_service(spec, storage_uri or spec.storage.uri, run_id)
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)

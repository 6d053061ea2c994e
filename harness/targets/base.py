"""What every target (local, kind, GKE, any kubeconfig) provides.

Flow: `target.deploy(spec, storage_uri)` -> `Endpoint`; checks and load runs only ever see the
Endpoint; `target.collect_diagnostics(dir)` saves logs before `target.teardown()` removes
everything the target created. Targets are context managers: leaving the block tears down, even
when deploy failed halfway.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from harness.spec import ScenarioSpec


@dataclass(frozen=True)
class Endpoint:
    """How to reach a deployed predictor.

    Attributes:
        base_url: scheme, host and port, e.g. http://127.0.0.1:8080 (no trailing slash).
        model_name: the model name in request URLs.
        protocol: "v1" or "v2".
        host_header: Host header to send (ingress routing by status.url), or None.
        management_url: TorchServe management API, when the target can reach it.
        metrics_url: TorchServe Prometheus metrics endpoint (.../metrics), when reachable.
        info: target-specific facts for the report (pod name, ports, namespace...).
    """

    base_url: str
    model_name: str
    protocol: Literal["v1", "v2"]
    host_header: str | None = None
    management_url: str | None = None
    metrics_url: str | None = None
    info: dict = field(default_factory=dict)

    @property
    def predict_path(self) -> str:
        if self.protocol == "v1":
            return f"/v1/models/{self.model_name}:predict"
        return f"/v2/models/{self.model_name}/infer"

    @property
    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.host_header:
            h["Host"] = self.host_header
        return h


@runtime_checkable
class Target(Protocol):
    """A place where a scenario's model is served."""

    name: str

    def deploy(self, spec: ScenarioSpec, storage_uri: str) -> Endpoint:
        """Make the model servable from `storage_uri`; return when it is ready (or raise DeployError)."""

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        """Save logs, states and events under `dest`; return the files written."""

    def teardown(self) -> None:
        """Remove everything this target created. Safe to call twice and after a failed deploy."""

    def __enter__(self) -> "Target": ...

    def __exit__(self, *exc: object) -> None: ...

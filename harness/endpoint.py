"""How to reach a deployed predictor, and what it answers: what checks and load runs see of a target.

Every target's deploy() returns an `Endpoint`; clients (harness.predict, harness.grpc_client, the
load generator) take nothing else, so they work alike on every target and runtime.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal


@dataclass
class Response:
    """One predictor answer."""

    status: int
    body: Any  # parsed JSON, or the text when it is not JSON
    text: str
    elapsed_ms: float


@dataclass(frozen=True)
class Endpoint:
    """How to reach a deployed predictor.

    Attributes:
        base_url: scheme, host and port, e.g. http://127.0.0.1:8080 (no trailing slash).
        model_name: the model name in request URLs.
        protocol: "v1", "v2" or "grpc-v2".
        host_header: Host header to send (ingress routing by status.url), or None.
        management_url: TorchServe management API, when the target can reach it.
        metrics_url: TorchServe Prometheus metrics endpoint (.../metrics), when reachable.
        grpc_target: host:port of the Open Inference Protocol gRPC server (protocol grpc-v2).
        info: target-specific facts for the report (pod name, ports, namespace...).
        gpu_sampler: `gpu_sampler(interval_s)` samples the GPU where the model runs (a cluster
            target's predictor pod); None: the load runner samples this machine (NVML).
    """

    base_url: str
    model_name: str
    protocol: Literal["v1", "v2", "grpc-v2"]
    host_header: str | None = None
    management_url: str | None = None
    metrics_url: str | None = None
    grpc_target: str | None = None
    info: dict = field(default_factory=dict)
    gpu_sampler: Callable[[float], Any] | None = field(default=None, compare=False, repr=False)

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

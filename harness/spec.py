"""The scenario file: a strict, validated description of one model's trip through KServe.

Flow: `load_scenario(path)` reads YAML -> `ScenarioSpec` (pydantic, unknown keys rejected);
every relative path is resolved against the YAML file's folder, so a scenario can be run from
anywhere. Cross-field rules that are *mistakes in intent* (not schema errors) live in lints.py.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import ConfigError
from harness.load.spec import LoadSpec

BUILTIN_HANDLERS = {
    # our own handler shipped in the package
    "tensor",
    # TorchServe's built-in handlers, passed to torch-model-archiver by name
    "image_classifier", "image_segmenter", "object_detector", "text_classifier", "base_handler",
}

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class ModelSpec(Strict):
    name: str = Field(description="torch-model-archiver --model-name; the model name in request URLs")
    version: str = Field("1.0", description="torch-model-archiver --version")
    serialized_file: Path = Field(description="weights or TorchScript file (--serialized-file)")
    model_file: Path | None = Field(None, description="Python file defining an eager model (--model-file)")
    handler: str = Field("tensor", description="built-in handler name, or a path to a handler .py")
    extra_files: list[Path] = Field(default_factory=list, description="files or folders for --extra-files")
    requirements_file: Path | None = Field(
        None, description="per-model pip requirements (--requirements-file); needs install_py_dep_per_model=true")

    @field_validator("name")
    @classmethod
    def _name_is_url_safe(cls, v: str) -> str:
        if not _MODEL_NAME.match(v):
            raise ValueError("model name must be letters, digits, '_', '.', '-' (it appears in URLs and file names)")
        return v

    @property
    def builtin_handler(self) -> bool:
        return self.handler in BUILTIN_HANDLERS


class TorchServeSpec(Strict):
    batch_size: int = Field(1, ge=1, description="model_snapshot batchSize")
    max_batch_delay_ms: int | None = Field(None, ge=0, description="model_snapshot maxBatchDelay")
    min_workers: int = Field(1, ge=1, description="model_snapshot minWorkers")
    max_workers: int = Field(1, ge=1, description="model_snapshot maxWorkers")
    response_timeout_s: int = Field(120, ge=1, description="model_snapshot responseTimeout")
    startup_timeout_s: float = Field(120.0, gt=0, description="deadline for a READY worker plus warm-up")
    properties: dict[str, Any] = Field(default_factory=dict, description="any other config.properties key")

    @model_validator(mode="after")
    def _workers_ordered(self) -> "TorchServeSpec":
        if self.max_workers < self.min_workers:
            raise ValueError(f"max_workers ({self.max_workers}) is below min_workers ({self.min_workers})")
        return self


class StorageSpec(Strict):
    uri: str = Field(description="gs://bucket/dir where config/ and model-store/ are uploaded")

    @field_validator("uri")
    @classmethod
    def _gs_uri(cls, v: str) -> str:
        if not v.startswith("gs://") or len(v) <= len("gs://"):
            raise ValueError("storage.uri must be a gs:// URI, like gs://my-bucket/models/cifar")
        return v.rstrip("/")

    @property
    def bucket(self) -> str:
        return self.uri[len("gs://"):].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        parts = self.uri[len("gs://"):].split("/", 1)
        return parts[1] if len(parts) > 1 else ""


Envelope = Literal["kserve", "kservev2", "none"]


class ServingSpec(Strict):
    protocol: Literal["v1", "v2"] = Field("v1", description="KServe protocolVersion")
    envelope: Envelope | None = Field(
        None,
        description="TorchServe service envelope; default kserve (v1) / kservev2 (v2) as KServe sets it. "
                    "'none' turns envvars config off so the handler parses the protocol itself "
                    "(needed for batch_size > 1, see the batching lint)")

    @property
    def effective_envelope(self) -> Envelope:
        if self.envelope is not None:
            return self.envelope
        return "kserve" if self.protocol == "v1" else "kservev2"


# --- Kubernetes targets (kind / GKE / any kubeconfig) ------------------------------------------
# Kubernetes quantity grammar, as the InferenceService CRD checks it ("500m", "2Gi", "1.5", "1e3").
_QUANTITY = re.compile(r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")


class ResourceQuantities(Strict):
    """One side (requests or limits) of a container's resources."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    cpu: str | None = Field(None, description='CPU quantity, e.g. "1" or "500m"')
    memory: str | None = Field(None, description='memory quantity, e.g. "2Gi"')
    gpu: int | None = Field(None, ge=0, alias="nvidia.com/gpu",
                            description="NVIDIA GPUs (the nvidia.com/gpu extended resource)")

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantity(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("a quantity must be a number or a string like 500m / 2Gi")
        if isinstance(v, (int, float)):
            v = str(v)  # YAML reads `cpu: 1` as an int; the API wants a quantity string
        if isinstance(v, str) and not _QUANTITY.match(v):
            raise ValueError(f"{v!r} is not a Kubernetes quantity (like 500m, 1, 2Gi)")
        return v

    def as_manifest(self) -> dict[str, str]:
        out = {k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v is not None}
        if self.gpu is not None:
            out["nvidia.com/gpu"] = str(self.gpu)
        return out


class ResourcesSpec(Strict):
    """Resources of the model server container (predictor.model.resources)."""

    requests: ResourceQuantities = Field(default_factory=ResourceQuantities, description="resource requests")
    limits: ResourceQuantities = Field(default_factory=ResourceQuantities, description="resource limits")


class Toleration(Strict):
    """A pod toleration (for tainted GPU node pools, e.g. nvidia.com/gpu=present:NoSchedule)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    key: str | None = Field(None, description="taint key; empty with operator Exists tolerates everything")
    operator: Literal["Exists", "Equal"] = Field("Equal", description="Exists or Equal")
    value: str | None = Field(None, description="taint value (operator Equal)")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="taint effect to tolerate; empty matches all effects")
    toleration_seconds: int | None = Field(None, alias="tolerationSeconds",
                                           description="NoExecute only: how long the pod stays bound")

    @model_validator(mode="after")
    def _key_rules(self) -> "Toleration":
        # The API server's own rules, caught here so the scenario file gets the error.
        if self.key is None and self.operator != "Exists":
            raise ValueError("a toleration without a key needs operator: Exists")
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator: Exists takes no value")
        return self

    def as_manifest(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


# KServe >= 0.16 calls the modes Standard and Knative; it still accepts the legacy names, and
# KServe 0.15 only knows those, so the manifest always carries the legacy spelling.
_DEPLOYMENT_MODE_ALIASES = {"Standard": "RawDeployment", "Knative": "Serverless"}


class KubernetesSpec(Strict):
    """What the InferenceService carries besides the model (used by the Kubernetes targets)."""

    annotations: dict[str, str] = Field(default_factory=dict, description="InferenceService annotations")
    deployment_mode: Literal["RawDeployment", "Serverless"] = Field(
        "RawDeployment",
        description="serving.kserve.io/deploymentMode: RawDeployment (plain Deployment; KServe >= 0.16 "
                    "calls it Standard) or Serverless (Knative; newer name Knative). Either name is accepted")
    service_account: str | None = Field(
        None, description="predictor serviceAccountName: the account whose secret or workload identity "
                          "gives the storage-initializer access to the bucket")
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec,
                                     description="model server container requests and limits")
    gpus: int = Field(0, ge=0, description="shortcut for resources.limits['nvidia.com/gpu']")
    runtime: str | None = Field(
        None, description="ServingRuntime / ClusterServingRuntime name; default: KServe picks the runtime "
                          "for modelFormat pytorch (kserve-torchserve)")
    runtime_version: str | None = Field(None, description="predictor.model.runtimeVersion (the runtime image tag)")
    image: str | None = Field(None, description="predictor.model.image: replaces the runtime's container image")
    args: list[str] = Field(default_factory=list, description="extra arguments for the model server container")
    node_selector: dict[str, str] = Field(default_factory=dict, description="predictor nodeSelector")
    tolerations: list[Toleration] = Field(default_factory=list, description="predictor tolerations")
    ready_timeout_s: float = Field(900.0, gt=0, description="deadline for the InferenceService to become Ready")
    ingress: Literal["port-forward", "ingress"] = Field(
        "port-forward",
        description="how the harness reaches the predictor: port-forward to the pod's port 8080, or "
                    "the ingress gateway with the Host header from status.url")
    ingress_url: str | None = Field(
        None, description="ingress gateway address (http://host:port) for ingress: ingress; default: "
                          "status.url itself")

    @field_validator("deployment_mode", mode="before")
    @classmethod
    def _legacy_mode_name(cls, v: Any) -> Any:
        return _DEPLOYMENT_MODE_ALIASES.get(v, v)

    @field_validator("ingress_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+$", v.rstrip("/")):
            raise ValueError("ingress_url must be scheme://host[:port], like http://127.0.0.1:8081")
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _one_gpu_count(self) -> "KubernetesSpec":
        limit = self.resources.limits.gpu
        if self.gpus and limit is not None and limit != self.gpus:
            raise ValueError(f"gpus ({self.gpus}) and resources.limits['nvidia.com/gpu'] ({limit}) disagree")
        return self

    @property
    def gpu_count(self) -> int:
        """GPUs the model server asks for (the shortcut or the explicit limit)."""
        return self.gpus or (self.resources.limits.gpu or 0)


class CheckSpec(Strict):
    name: str = Field(description="check name in the report")
    request: Path = Field(description="JSON file: the exact request body to POST")
    expect: Path | None = Field(None, description="JSON file: expected response body (or a subset of it)")
    path: str | None = Field(None, description="URL path; default /v1/models/NAME:predict or /v2/models/NAME/infer")
    atol: float = Field(1e-5, ge=0, description="absolute float tolerance")
    rtol: float = Field(0.0, ge=0, description="relative float tolerance")
    expect_status: int = Field(200, description="expected HTTP status")


class ScenarioSpec(Strict):
    name: str = Field(description="scenario name (report and run id)")
    description: str = Field("", description="free text for the report")
    model: ModelSpec
    torchserve: TorchServeSpec = Field(default_factory=TorchServeSpec)
    storage: StorageSpec
    serving: ServingSpec = Field(default_factory=ServingSpec)
    kubernetes: KubernetesSpec = Field(default_factory=KubernetesSpec)
    checks: list[CheckSpec] = Field(default_factory=list)
    ignore_lints: list[str] = Field(
        default_factory=list,
        description="lint codes to let through on purpose (e.g. envelope-batching, to reproduce that bug)")
    load: LoadSpec | None = Field(None, description="load test: Locust traffic, SLOs (see harness/load/README.md)")

    # Set by load_scenario: where the YAML came from (not part of the file format).
    source: Path | None = Field(None, exclude=True)

    @field_validator("name")
    @classmethod
    def _scenario_name(cls, v: str) -> str:
        if not _MODEL_NAME.match(v):
            raise ValueError("scenario name must be letters, digits, '_', '.', '-'")
        return v

    def file_hash(self) -> str:
        return hashlib.sha256(self.source.read_bytes()).hexdigest() if self.source else ""


def _resolve_paths(spec: ScenarioSpec, base: Path) -> None:
    """Make every file path absolute, relative to the scenario file's folder."""
    def res(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else (base / p).resolve())

    m = spec.model
    m.serialized_file = res(m.serialized_file)
    m.model_file = res(m.model_file)
    m.requirements_file = res(m.requirements_file)
    m.extra_files = [res(p) for p in m.extra_files]
    if not m.builtin_handler:
        m.handler = str(res(Path(m.handler)))
    for c in spec.checks:
        c.request = res(c.request)
        c.expect = res(c.expect)
    if spec.load is not None:
        spec.load.requests = [res(p) for p in spec.load.requests]


def _format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling; see the README for the format)"
        lines.append(f"{loc}: {msg}")
    return "; ".join(lines)


def load_scenario(path: str | Path) -> ScenarioSpec:
    """Read and validate a scenario YAML file.

    Raises:
        ConfigError: the file is missing, not YAML, or does not match the format.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("scenario file not found", where=str(path), hint="give the path to a scenario .yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", where=where) from exc
    if not isinstance(raw, dict):
        raise ConfigError("a scenario must be a YAML mapping", where=str(path))
    try:
        spec = ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid scenario: {_format_validation_error(exc)}", where=str(path),
                          hint="fix the keys named above") from exc
    spec.source = path.resolve()
    _resolve_paths(spec, path.resolve().parent)
    return spec

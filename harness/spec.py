"""The scenario file: a strict, validated description of one model's trip through KServe.

Flow: `load_scenario(path)` reads YAML -> `ScenarioSpec` (pydantic, unknown keys rejected);
every relative path is resolved against the YAML file's folder, so a scenario can be run from
anywhere. Cross-field rules that are *mistakes in intent* (not schema errors) live in lints.py.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo,
                      field_validator, model_validator)

from harness.ab.paired import ab_thresholds
from harness.errors import ConfigError
from harness.load.spec import LoadSpec, non_empty_path
from harness.report.responses import response_filename
from harness.rollout.spec import RolloutSpec
from harness.runtimes.kserve.image import DEFAULT_IMAGE as DEFAULT_MODELSERVER_IMAGE
from harness.runtimes.kserve.image import IMAGES as MODELSERVER_IMAGES
from harness.runtimes.kserve.image import ModelServerImage
from harness.runtimes.torchserve.image import DEFAULT_IMAGE, IMAGES, RuntimeImage, kfs_tag_of
from harness.runtimes.torchserve.properties import is_key, property_syntax_problem

BUILTIN_HANDLERS = {
    # our own handler shipped in the package
    "tensor",
    # TorchServe's built-in handlers, passed to torch-model-archiver by name
    "image_classifier", "image_segmenter", "object_detector", "text_classifier", "base_handler",
}

# Names become file and folder names (NAME.mar, the run id): 200 characters leave room under 255.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
# Google Cloud Storage's bucket naming rules (dotted names may be longer, up to 222).
_BUCKET = re.compile(r"^[a-z0-9](?:[a-z0-9_.-]{1,61}|[a-z0-9_.-]{62,220})[a-z0-9]$")
_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_JAVA_INT_MAX = 2 ** 31 - 1  # TorchServe parses model_snapshot numbers as Java ints

# A path field: "" would resolve to the scenario's own folder, never what was meant.
FilePath = Annotated[Path, BeforeValidator(non_empty_path)]


class Strict(BaseModel):
    # No inf/nan anywhere: `startup_timeout_s: .inf` would be a wait that never ends.
    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


class ModelSpec(Strict):
    name: str = Field(description="torch-model-archiver --model-name; the model name in request URLs")
    version: str = Field("1.0", description="torch-model-archiver --version")
    serialized_file: FilePath = Field(description="weights or TorchScript file (--serialized-file)")
    model_file: FilePath | None = Field(None, description="Python file defining an eager model (--model-file)")
    handler: str = Field("tensor", description="built-in handler name, or a path to a handler .py")
    extra_files: list[FilePath] = Field(default_factory=list, description="files or folders for --extra-files")
    requirements_file: FilePath | None = Field(
        None, description="per-model pip requirements (--requirements-file); needs install_py_dep_per_model=true")

    @field_validator("name")
    @classmethod
    def _name_is_url_safe(cls, v: str) -> str:
        if not _MODEL_NAME.fullmatch(v):
            raise ValueError("model name must be up to 200 letters, digits, '_', '.', '-' (it appears in URLs and "
                             "file names)")
        return v

    @field_validator("version")
    @classmethod
    def _version_is_url_safe(cls, v: str) -> str:
        if not _MODEL_NAME.fullmatch(v):
            raise ValueError(f"model version {v!r} must be letters, digits, '_', '.', '-' (like \"1.0\"; it is a "
                             "model_snapshot key and a URL segment)")
        return v

    @field_validator("handler")
    @classmethod
    def _handler_given(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("empty handler: name a built-in handler (tensor, image_classifier, ...) or a .py file")
        return v

    @property
    def builtin_handler(self) -> bool:
        return self.handler in BUILTIN_HANDLERS


class TorchServeSpec(Strict):
    batch_size: int = Field(1, ge=1, le=_JAVA_INT_MAX, description="model_snapshot batchSize")
    max_batch_delay_ms: int | None = Field(None, ge=0, le=_JAVA_INT_MAX, description="model_snapshot maxBatchDelay")
    min_workers: int = Field(1, ge=1, le=_JAVA_INT_MAX, description="model_snapshot minWorkers")
    max_workers: int = Field(1, ge=1, le=_JAVA_INT_MAX, description="model_snapshot maxWorkers")
    response_timeout_s: int = Field(120, ge=1, le=3600, description="model_snapshot responseTimeout")
    startup_timeout_s: float = Field(120.0, gt=0, le=3600, description="deadline for a READY worker plus warm-up")
    image: str = Field(
        DEFAULT_IMAGE,
        description=f"kserve-torchserve runtime image tag ({', '.join(sorted(IMAGES))}; KServe's own default is "
                    "0.9.0): rendered as predictor.model.runtimeVersion (<image>-gpu when the predictor asks for "
                    "GPUs), so the cluster runs pytorch/torchserve-kfs:<image>; the local target runs the runtime "
                    "environment with that image's TorchServe, torch, torchvision and kserve")
    properties: dict[str, Any] = Field(default_factory=dict, description="any other config.properties key")

    @field_validator("image")
    @classmethod
    def _known_image(cls, v: str) -> str:
        if v not in IMAGES:
            raise ValueError(f"unknown kserve-torchserve image {v!r}; known: {', '.join(sorted(IMAGES))}")
        return v

    @field_validator("properties")
    @classmethod
    def _one_line_each(cls, v: dict[str, Any]) -> dict[str, Any]:
        # Each key=value must stay one line of config.properties: a newline in a value would
        # inject lines (another model_store, token auth back on) into the file KServe serves from.
        for key, value in v.items():
            problem = property_syntax_problem(key, value)
            if problem:
                raise ValueError(f"torchserve.properties.{problem}" if is_key(key)
                                 else f"torchserve.properties: {problem}")
        return v

    @property
    def runtime_image(self) -> RuntimeImage:
        return IMAGES[self.image]

    @model_validator(mode="after")
    def _workers_ordered(self) -> "TorchServeSpec":
        if self.max_workers < self.min_workers:
            raise ValueError(f"max_workers ({self.max_workers}) is below min_workers ({self.min_workers})")
        return self


class ModelServerSpec(Strict):
    """KServe's Python ModelServer (runtime: kserve): its command-line options, and its image."""

    image: str = Field(
        DEFAULT_MODELSERVER_IMAGE,
        description=f"ModelServer image tag ({', '.join(sorted(MODELSERVER_IMAGES))}): the kserve and torch "
                    "releases the container holds (harness/runtimes/kserve/image/Dockerfile builds it); the local "
                    "target runs an environment with the same releases")
    workers: int = Field(1, ge=1, le=64, description="--workers: uvicorn worker processes (each loads the model)")
    max_threads: int = Field(4, ge=1, le=1024, description="--max_threads: gRPC server threads")
    max_asyncio_workers: int | None = Field(None, ge=1, le=1024,
                                            description="--max_asyncio_workers: threads for blocking predict calls")
    startup_timeout_s: float = Field(120.0, gt=0, le=3600, description="deadline for the model's load() and readiness")

    @field_validator("image")
    @classmethod
    def _known_image(cls, v: str) -> str:
        if v not in MODELSERVER_IMAGES:
            raise ValueError(f"unknown ModelServer image {v!r}; known: {', '.join(sorted(MODELSERVER_IMAGES))}")
        return v

    @property
    def runtime_image(self) -> ModelServerImage:
        return MODELSERVER_IMAGES[self.image]


class StorageSpec(Strict):
    uri: str = Field(description="gs://bucket/dir where config/ and model-store/ are uploaded")

    @field_validator("uri")
    @classmethod
    def _gs_uri(cls, v: str) -> str:
        if not v.startswith("gs://") or len(v) <= len("gs://"):
            raise ValueError("storage.uri must be a gs:// URI, like gs://my-bucket/models/cifar")
        bucket = v[len("gs://"):].split("/", 1)[0]
        too_long = max(len(part) for part in bucket.split(".")) > 63  # dotted names: each part, up to 222 in all
        if not _BUCKET.fullmatch(bucket) or ".." in bucket or bucket.startswith("goog") or _IPV4.match(bucket) \
                or too_long:
            raise ValueError(f"{bucket!r} is not a valid GCS bucket name (3-63 lowercase letters, digits, "
                             "'-', '_' or '.', starting and ending with a letter or digit)")
        if not v.isprintable():
            raise ValueError(f"storage.uri {v!r} holds a control character")
        prefix = v[len("gs://"):].rstrip("/").partition("/")[2]
        if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
            raise ValueError(f"storage.uri {v!r} has an empty, '.' or '..' path segment: GCS takes them "
                             "literally, kserve-storage and the upload would not agree on the objects")
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
    protocol: Literal["v1", "v2", "grpc-v2"] = Field(
        "v1", description="KServe protocolVersion: v1 or v2 REST, or grpc-v2 (Open Inference Protocol over gRPC: "
                          "ModelInfer on the front's gRPC port 8081, V2 request and expected files as for v2)")
    envelope: Envelope | None = Field(
        None,
        description="TorchServe service envelope; default kserve (v1) / kservev2 (v2) as KServe sets it. "
                    "'none' turns envvars config off so the handler parses the protocol itself "
                    "(needed for batch_size > 1, see the batching lint)")
    path: Literal["front", "direct"] = Field(
        "front",
        description="front: every request goes to KServe's front (port 8080 in the pod), as on a cluster; "
                    "direct: straight to TorchServe's inference port, for comparison")

    @property
    def effective_envelope(self) -> Envelope:
        if self.envelope is not None:
            return self.envelope
        return "kserve" if self.protocol == "v1" else "kservev2"  # what KServe sets per protocolVersion

    @model_validator(mode="after")
    def _grpc_needs_the_front(self) -> "ServingSpec":
        # TorchServe's own gRPC API (7070) is its Predictions call, not the Open Inference Protocol:
        # only KServe's front answers ModelInfer.
        if self.protocol == "grpc-v2" and self.path == "direct":
            raise ValueError("serving.protocol grpc-v2 with serving.path direct: TorchServe's own gRPC API is not "
                             "the Open Inference Protocol (only KServe's front serves ModelInfer); use path: front")
        return self


# --- Kubernetes targets (kind / GKE / any kubeconfig) ------------------------------------------
# Kubernetes quantity grammar, as the InferenceService CRD checks it ("500m", "2Gi", "1.5", "1e3").
_QUANTITY = re.compile(r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")


class ResourceQuantities(Strict):
    """One side (requests or limits) of a container's resources."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

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

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

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

_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _qualified_name(key: str) -> bool:
    """An annotation or label key: [DNS-subdomain prefix/]name (apimachinery IsQualifiedName)."""
    prefix, _, name = key.rpartition("/")
    if prefix and not (len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return bool(_LABEL_NAME.fullmatch(name))


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
    runtime_version: str | None = Field(
        None, description="predictor.model.runtimeVersion; set by torchserve.image (the one source of truth): "
                          "given here it must be what torchserve.image renders, else it is a config error")
    image: str | None = Field(
        None, description="predictor.model.image: replaces the runtime's container image (then no runtimeVersion "
                          "is rendered: KServe would retag this image with it); a pytorch/torchserve-kfs "
                          "reference must carry torchserve.image's tag; any other image is taken as built on "
                          "torchserve.image")
    args: list[str] = Field(default_factory=list, description="extra arguments for the model server container")
    node_selector: dict[str, str] = Field(default_factory=dict, description="predictor nodeSelector")
    tolerations: list[Toleration] = Field(default_factory=list, description="predictor tolerations")
    ready_timeout_s: float = Field(900.0, gt=0, le=7200, description="deadline for the InferenceService to become Ready")
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

    # The API server's own name rules, caught here so that the scenario file gets the error.
    @field_validator("annotations", "node_selector")
    @classmethod
    def _qualified_keys(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for key, value in v.items():
            if not _qualified_name(key):
                raise ValueError(f"{key!r} is not a Kubernetes key ([prefix/]name: name up to 63 letters, digits, "
                                 "'-', '_', '.', starting and ending with a letter or digit; prefix a DNS name)")
            if info.field_name == "node_selector" and not (value == "" or _LABEL_NAME.fullmatch(value)):
                raise ValueError(f"label value {value!r} of {key!r} is not valid (up to 63 letters, digits, '-', "
                                 "'_', '.', starting and ending with a letter or digit)")
        return v

    @field_validator("service_account", "runtime")
    @classmethod
    def _object_name(cls, v: str | None) -> str | None:
        if v is not None and not (len(v) <= 253 and _DNS_SUBDOMAIN.fullmatch(v)):
            raise ValueError(f"{v!r} is not a Kubernetes object name (lowercase letters, digits, '-' and '.', "
                             "starting and ending with a letter or digit)")
        return v

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
    name: str = Field(description="check name in the report (and of its saved response, responses/NAME.json)")
    request: FilePath = Field(description="JSON file: the exact request body to POST")
    expect: FilePath | None = Field(None, description="JSON file: expected response body (or a subset of it)")
    path: str | None = Field(None, description="URL path; default /v1/models/NAME:predict or /v2/models/NAME/infer "
                                               "(verb explain: /v1/models/NAME:explain; none over grpc-v2)")
    verb: Literal["predict", "explain"] = Field(
        "predict", description="predict, or explain: KServe V1 `:explain` (protocol v1 only), which TorchServe's "
                               "image handlers answer with captum attributions")
    # 1e-4: float32 logits of size ~10-20 differ by up to ~4e-6 across CPU math kernels (AVX-512,
    # AVX2, MKL's compatible mode; fixtures/README.md), so a tighter default would fail on another CPU.
    atol: float = Field(1e-4, ge=0, description="absolute float tolerance (default 1e-4, holds across CPU kernels)")
    rtol: float = Field(0.0, ge=0, description="relative float tolerance")
    expect_status: int = Field(200, ge=100, le=599,
                               description="expected HTTP status; over grpc-v2 OK is 200 and any other gRPC code "
                                           "its HTTP equivalent (google.rpc.Code: INVALID_ARGUMENT 400, NOT_FOUND "
                                           "404, UNKNOWN and INTERNAL 500, ...; harness/grpc_client.py)")


RUNTIME_NAMES = ("torchserve", "kserve")
RuntimeName = Literal["torchserve", "kserve"]


class CandidateSpec(Strict):
    """The version an A/B run measures against this scenario's model (the baseline), both deployed at once."""

    scenario: FilePath | None = Field(None, description="another scenario file: the candidate is that scenario "
                                                        "(same serving protocol; its load and checks are not used)")
    model: dict[str, Any] | None = Field(None, description="overrides deep-merged over this scenario's model: section")
    runtime: RuntimeName | None = Field(None, description="serve the candidate on this runtime instead")

    @model_validator(mode="after")
    def _one_source(self) -> "CandidateSpec":
        if self.scenario is not None and (self.model is not None or self.runtime is not None):
            raise ValueError("give candidate.scenario, or candidate.model / candidate.runtime overrides, not both")
        if self.scenario is None and self.model is None and self.runtime is None:
            raise ValueError("empty: name another scenario (scenario: FILE) or override the baseline "
                             "(model: {...}, runtime: ...)")
        return self


class ScenarioSpec(Strict):
    name: str = Field(description="scenario name (report and run id)")
    description: str = Field("", description="free text for the report")
    runtime: RuntimeName = Field(
        "torchserve", description="the model server: torchserve (KServe's kserve-torchserve runtime: TorchServe "
                                  "behind KServe's front) or kserve (KServe's own Python ModelServer as a custom "
                                  "predictor: the built-in tensor model or a kserve.Model file)")
    model: ModelSpec
    torchserve: TorchServeSpec = Field(default_factory=TorchServeSpec,
                                       description="TorchServe's options (runtime: torchserve only)")
    kserve: ModelServerSpec = Field(default_factory=ModelServerSpec,
                                    description="the ModelServer's options (runtime: kserve only)")
    storage: StorageSpec
    serving: ServingSpec = Field(default_factory=ServingSpec)
    kubernetes: KubernetesSpec = Field(default_factory=KubernetesSpec)
    checks: list[CheckSpec] = Field(default_factory=list)
    ignore_lints: list[str] = Field(
        default_factory=list,
        description="lint codes to let through on purpose (e.g. envelope-batching, to reproduce that bug)")
    load: LoadSpec | None = Field(None, description="load test: Locust traffic, SLOs (see harness/load/README.md)")
    candidate: CandidateSpec | None = Field(
        None, description="A/B run: deploy this version beside the model, compare outputs and alternate the load "
                          "between both (local target)")
    rollout: RolloutSpec | None = Field(
        None, description="roll the candidate out as a new revision of the running InferenceService under load "
                          "(cluster targets; needs candidate: and load:; harness/rollout/)")

    # Set by load_scenario: where the YAML came from (not part of the file format).
    source: Path | None = Field(None, exclude=True)
    _candidate: "ScenarioSpec | None" = PrivateAttr(None)  # the candidate, resolved by load_scenario

    @field_validator("name")
    @classmethod
    def _scenario_name(cls, v: str) -> str:
        if not _MODEL_NAME.fullmatch(v):
            raise ValueError("scenario name must be up to 200 letters, digits, '_', '.', '-'")
        return v

    @field_validator("checks")
    @classmethod
    def _distinct_check_names(cls, v: list[CheckSpec]) -> list[CheckSpec]:
        # Each check's response is saved as responses/<sanitised name>.json: two names that
        # sanitise alike (or differ only in case, on a case-insensitive disk) would overwrite each other.
        seen: dict[str, int] = {}
        for i, c in enumerate(v):
            if not c.name.strip():
                raise ValueError(f"checks[{i}].name is empty: give each check a name")
            if not c.name.isprintable():
                raise ValueError(f"checks[{i}].name {c.name!r} holds a control character: it is one line in reports")
            saved = response_filename(c.name)
            j = seen.setdefault(saved.casefold(), i)
            if j != i:
                raise ValueError(f"checks[{j}].name {v[j].name!r} and checks[{i}].name {c.name!r} are both saved as "
                                 f"{saved}: give the checks distinct names (letters, digits, '_', '.', '-')")
        return v

    @model_validator(mode="after")
    def _explain_checks(self) -> "ScenarioSpec":
        for i, c in enumerate(self.checks):
            if c.verb != "explain":
                continue
            # KServe's front forwards :explain to TorchServe's V1 explain URL only (kserve.Model.explain).
            if self.serving.protocol != "v1":
                raise ValueError(f"checks[{i}] ({c.name}): verb explain needs serving.protocol v1, "
                                 f"not {self.serving.protocol} (KServe's :explain is a V1 endpoint)")
            if c.path is None:
                c.path = f"/v1/models/{self.model.name}:explain"
            elif not c.path.endswith(":explain"):
                raise ValueError(f"checks[{i}] ({c.name}): verb explain with path {c.path!r}; "
                                 "drop path (default /v1/models/NAME:explain) or end it in :explain")
        return self

    @model_validator(mode="after")
    def _sections_of_its_runtime(self) -> "ScenarioSpec":
        # A section for the other runtime would be ignored in silence: the user meant something by it.
        other = {"torchserve": "kserve", "kserve": "torchserve"}[self.runtime]
        if other in self.model_fields_set:
            raise ValueError(f"{other}: this section applies to runtime: {other}, and this scenario's runtime is "
                             f"{self.runtime}; drop it (or set runtime: {other})"
                             + ("; the ModelServer's own options are under kserve: (workers, max_threads, "
                                "startup_timeout_s)" if other == "torchserve" else ""))
        return self

    @model_validator(mode="after")
    def _ab_needs_a_candidate(self) -> "ScenarioSpec":
        if self.load is not None and self.load.ab is not None and self.candidate is None:
            raise ValueError("load.ab: an A/B block plan needs a candidate: section (the version to compare with)")
        if self.load is not None and self.load.ab is not None:
            try:
                ab_thresholds(self.load.ab.thresholds)
            except ValueError as exc:
                raise ValueError(f"load.ab.thresholds: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _rollout_needs_a_candidate_and_load(self) -> "ScenarioSpec":
        if self.rollout is None:
            return self
        if self.candidate is None:
            raise ValueError("rollout: needs a candidate: section (the new revision to roll out)")
        if self.load is None:
            raise ValueError("rollout: needs a load: section (its requests are kept running through the rollout)")
        if self.load.ab is not None:
            raise ValueError("rollout: and load.ab together: a scenario is an A/B run or a rollout, not both")
        return self

    @property
    def candidate_scenario(self) -> "ScenarioSpec | None":
        """The candidate of an A/B run as a whole scenario (None without a candidate: section)."""
        return self._candidate

    @property
    def startup_timeout_s(self) -> float:
        """The deadline for the runtime's model to load and serve."""
        return (self.kserve if self.runtime == "kserve" else self.torchserve).startup_timeout_s

    @property
    def runtime_version(self) -> str | None:
        """predictor.model.runtimeVersion: torchserve.image's tag (-gpu with GPUs); None with kubernetes.image
        or for the ModelServer (a custom predictor names its image, not a runtime version)."""
        if self.kubernetes.image or self.runtime == "kserve":
            return None
        return self.torchserve.runtime_image.runtime_version(gpu=self.kubernetes.gpu_count > 0)

    @model_validator(mode="after")
    def _one_runtime_image(self) -> "ScenarioSpec":
        # torchserve.image decides the image; the kubernetes fields may only repeat it.
        if self.runtime == "kserve":
            return self  # the ModelServer's image is kubernetes.image (or kserve.image's default)
        k, tag = self.kubernetes, self.torchserve.image
        if k.image and k.runtime_version:
            raise ValueError(f"kubernetes.image ({k.image!r}) and kubernetes.runtime_version "
                             f"({k.runtime_version!r}) together: KServe retags the image with runtimeVersion; "
                             "keep one (torchserve.image sets the runtime version)")
        if k.runtime_version is not None and k.runtime_version != self.runtime_version:
            raise ValueError(f"kubernetes.runtime_version ({k.runtime_version!r}) contradicts torchserve.image "
                             f"({tag!r}), which renders runtimeVersion {self.runtime_version!r}: drop "
                             "kubernetes.runtime_version and set torchserve.image")
        kfs_tag = kfs_tag_of(k.image) if k.image else None
        if kfs_tag is not None and kfs_tag != tag:
            raise ValueError(f"kubernetes.image ({k.image!r}) is the {kfs_tag} image but torchserve.image is "
                             f"{tag!r}: set torchserve.image: {kfs_tag!r} (known: {', '.join(sorted(IMAGES))}) "
                             "or drop kubernetes.image")
        return self

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
    if spec.candidate is not None:
        spec.candidate.scenario = res(spec.candidate.scenario)


def _deep_merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _candidate_scenario(raw: dict, spec: ScenarioSpec, path: Path) -> ScenarioSpec:
    """The candidate as a whole scenario: another file, or this one with its overrides."""
    c = spec.candidate
    if c.scenario is not None:
        cand = load_scenario(c.scenario)
        if cand.candidate is not None:
            raise ConfigError("candidate.scenario names a scenario with a candidate: of its own", where=str(c.scenario),
                              hint="a candidate is one version: drop its candidate: section")
    else:
        craw = {k: v for k, v in raw.items() if k not in ("candidate", "load", "rollout")}  # the baseline's load drives both
        # A name and storage place of its own: the candidate is uploaded beside the baseline, never over it.
        craw["name"] = f"{spec.name[:190]}-candidate"
        craw["model"] = _deep_merge(raw["model"], c.model or {})
        craw["storage"] = {**raw["storage"], "uri": f"{spec.storage.uri}-candidate"}
        if c.runtime is not None and c.runtime != spec.runtime:
            craw["runtime"] = c.runtime
            craw.pop(spec.runtime, None)  # the baseline runtime's section does not apply to the candidate
        try:
            cand = ScenarioSpec.model_validate(craw)
        except ValidationError as exc:
            raise ConfigError(f"invalid scenario: candidate: {_format_validation_error(exc)}", where=str(path),
                              hint="fix candidate.model / candidate.runtime (they override the baseline's sections)"
                              ) from exc
        cand.source = path.resolve()
        _resolve_paths(cand, path.resolve().parent)
    if cand.serving.protocol != spec.serving.protocol:
        raise ConfigError(f"candidate: serving.protocol {cand.serving.protocol} differs from the baseline's "
                          f"{spec.serving.protocol}: both sides are sent the same request bodies", where=str(path),
                          hint="give the candidate the baseline's protocol")
    return cand


def _format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling; see the README for the format)"
        lines.append(f"{loc}: {msg}")
    return "; ".join(lines)


def load_scenario(path: str | Path, runtime: str | None = None) -> ScenarioSpec:
    """Read and validate a scenario YAML file.

    Args:
        path: the YAML file.
        runtime: serve it on this runtime instead of the file's (`harness run --runtime kserve`);
            the file is validated as if it said so, so a section of the other runtime is an error.

    Raises:
        ConfigError: the file is missing, not YAML, or does not match the format.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError("the scenario path is a directory", where=str(path), hint="give the path to a scenario .yaml")
    if path.exists() and not path.is_file():
        raise ConfigError("the scenario path is not a regular file", where=str(path),
                          hint="give the path to a scenario .yaml")
    if not path.is_file():
        raise ConfigError("scenario file not found", where=str(path), hint="give the path to a scenario .yaml")
    raw = _read_yaml(path)
    if raw is None:
        raise ConfigError("the file is empty (no YAML document)", where=str(path),
                          hint="a scenario needs at least name, model and storage (see the README)")
    if not isinstance(raw, dict):
        raise ConfigError(f"a scenario must be a YAML mapping, not a {type(raw).__name__}", where=str(path))
    if _expanded_size(raw, {}) > MAX_VALUES:
        raise ConfigError(f"the file's aliases expand to more than {MAX_VALUES} values (a YAML bomb?)",
                          where=str(path), hint="write the values out instead of nesting aliases")
    if "source" in raw:  # a field load_scenario sets, not part of the file format
        raise ConfigError("invalid scenario: source: unknown key (check its spelling; see the README for the format)",
                          where=str(path), hint="fix the keys named above")
    if runtime is not None:
        if runtime not in RUNTIME_NAMES:
            raise ConfigError(f"unknown runtime {runtime!r}", where="--runtime",
                              hint=f"use one of: {', '.join(RUNTIME_NAMES)}")
        raw = {**raw, "runtime": runtime}
    try:
        spec = ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid scenario: {_format_validation_error(exc)}", where=str(path),
                          hint="fix the keys named above") from exc
    spec.source = path.resolve()
    _resolve_paths(spec, path.resolve().parent)
    if spec.candidate is not None:
        spec._candidate = _candidate_scenario(raw, spec, path)
    for i, p in enumerate(spec.model.extra_files):
        # torch-model-archiver splits --extra-files at commas, then globs each piece
        if "," in str(p):
            raise ConfigError(f"model.extra_files[{i}] has a comma in its path ({p}): torch-model-archiver's "
                              "--extra-files is comma-separated and would look for the pieces instead",
                              where=str(path),
                              hint="rename the file or folder (or the folder above it) without a comma")
        if any(ch in str(p) for ch in "*?[]"):
            raise ConfigError(f"model.extra_files[{i}] has a wildcard character (*, ? or []) in its path ({p}): "
                              "torch-model-archiver would glob it instead of copying that file",
                              where=str(path), hint="rename it without *, ?, [ or ], or list the folder that holds it")
    return spec


MAX_SCENARIO_BYTES = 1 << 20  # a scenario is a page of YAML; anything this big is a wrong file
MAX_VALUES = 100_000  # values after alias expansion (a "billion laughs" file expands to 10^9)


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml's SafeLoader, but a key given twice in one mapping is an error (yaml lets the last win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may override, by design
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in first_line:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first given on line {first_line[key]}; YAML would "
                                    "keep only the last)", key_node.start_mark)
                first_line[key] = key_node.start_mark.line + 1
            except TypeError:
                continue  # an unhashable key: SafeLoader's own error names it
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> Any:
    def fail(what: str, line: int | None = None, hint: str | None = None, exc: BaseException | None = None):
        raise ConfigError(what, where=f"{path}:{line}" if line else str(path), hint=hint) from exc

    try:
        if path.stat().st_size > MAX_SCENARIO_BYTES:
            fail(f"the file is too large for a scenario ({path.stat().st_size} bytes, the limit is "
                 f"{MAX_SCENARIO_BYTES})", hint="is this the scenario YAML?")
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except UnicodeDecodeError as exc:
        fail(f"not UTF-8 text (byte {exc.start}): a scenario file must be UTF-8 YAML", hint="save the file as UTF-8",
             exc=exc)
    except OSError as exc:
        fail(f"cannot read the scenario file: {exc.strerror or exc}", exc=exc)
    except RecursionError as exc:
        fail("the YAML is nested too deeply", exc=exc)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML forbids (NUL, other controls)
            problem = f"character {chr(exc.character)!r} at character {exc.position} is not allowed in YAML"
        else:
            problem = " ".join(filter(None, [getattr(exc, "context", None), getattr(exc, "problem", None)])) or exc
        fail(f"not valid YAML: {' '.join(str(problem).split())}", line=mark.line + 1 if mark else None, exc=exc)


def _expanded_size(value: Any, memo: dict[int, int]) -> int:
    """How many values `value` holds once every alias is written out (shared nodes counted each time)."""
    if not isinstance(value, (dict, list)):
        return 1
    if id(value) not in memo:
        memo[id(value)] = 0  # a recursive alias counts once
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        memo[id(value)] = 1 + sum(min(_expanded_size(v, memo), MAX_VALUES + 1) for v in items)
    return memo[id(value)]

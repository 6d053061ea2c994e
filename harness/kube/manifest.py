"""The InferenceService for a scenario, and its check against KServe's real CRD schema.

Flow: `render_inference_service(spec, storage_uri, run_id)` builds the kserve-torchserve
serving.kserve.io/v1beta1 object as a plain dict (the `kserve` SDK's models break with kubernetes
37, and a dict is what the CustomObjectsApi sends anyway); `inference_service(spec, run_id,
predictor)` is the part every runtime shares (harness/runtimes/kserve/manifest.py renders the
ModelServer's custom predictor with it);
`validate_against_crd` checks any such dict against the CRD's openAPIV3Schema the way
`kubectl apply` (strict field validation, the default since Kubernetes 1.27) would: unknown fields
are errors, not silently pruned.
"""
from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError
from harness.kube.naming import isvc_name, run_labels
from harness.spec import ScenarioSpec

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
ISTIO_INJECT_ANNOTATION = "sidecar.istio.io/inject"
MODEL_FORMAT = "pytorch"
# grpc-v2: KServe's front serves gRPC on 8081; KServe's TorchServe docs expose it as the model's
# port, named h2c (HTTP/2 cleartext) so Knative and the ingress route HTTP/2 to it.
GRPC_PORT = 8081
GRPC_PORTS = [{"containerPort": GRPC_PORT, "name": "h2c", "protocol": "TCP"}]


def render_inference_service(spec: ScenarioSpec, storage_uri: str, run_id: str | None) -> dict[str, Any]:
    """The kserve-torchserve InferenceService (modelFormat pytorch) that serves `spec`'s model from `storage_uri`.

    Args:
        spec: the scenario (its `kubernetes` section shapes the predictor).
        storage_uri: gs:// prefix holding config/config.properties and model-store/NAME.mar.
        run_id: labels the object (and its pods) for cleanup; None leaves the label out
            (`harness render`, before any run exists).

    Returns:
        The manifest as a plain dict, ready for CustomObjectsApi or yaml.safe_dump.
    """
    k = spec.kubernetes
    model: dict[str, Any] = {
        "modelFormat": {"name": MODEL_FORMAT},
        "protocolVersion": spec.serving.protocol,
        "storageUri": storage_uri,
    }
    if k.runtime:
        model["runtime"] = k.runtime
    # torchserve.image, always: KServe's own default for pytorch is still the 0.9.0 image. KServe
    # swaps it in as the runtime container's tag verbatim (UpdateImageTag), -gpu included.
    if spec.runtime_version:
        model["runtimeVersion"] = spec.runtime_version
    if k.image:
        model["image"] = k.image
    if k.args:
        model["args"] = list(k.args)
    if spec.serving.protocol == "grpc-v2":
        model["ports"] = [dict(p) for p in GRPC_PORTS]
    if res := resources(spec):
        model["resources"] = res
    return inference_service(spec, run_id, {"model": model})


def inference_service(spec: ScenarioSpec, run_id: str | None, predictor: dict[str, Any]) -> dict[str, Any]:
    """The InferenceService around a runtime's predictor body ({"model": ...} or {"containers": [...]}):
    metadata, labels, annotations and the pod-level fields of the scenario's `kubernetes` section."""
    k = spec.kubernetes
    labels = run_labels(run_id, spec.name) if run_id else {
        key: value for key, value in run_labels("x", spec.name).items() if key != "kserve-harness/run-id"}
    annotations = {
        # The design notes' manual manifest misspelt this key, so the sidecar was injected anyway;
        # with the sidecar the storage-initializer cannot reach storage before istio-proxy is up.
        ISTIO_INJECT_ANNOTATION: "false",
        DEPLOYMENT_MODE_ANNOTATION: k.deployment_mode,
        **k.annotations,
    }
    predictor = dict(predictor)
    # Pod labels too, so `kubectl get pods -l kserve-harness/run-id=...` finds the predictor.
    predictor["labels"] = dict(labels)
    if k.service_account:
        predictor["serviceAccountName"] = k.service_account
    if k.node_selector:
        predictor["nodeSelector"] = dict(k.node_selector)
    if k.tolerations:
        predictor["tolerations"] = [t.as_manifest() for t in k.tolerations]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": isvc_name(spec.name), "labels": labels, "annotations": annotations},
        "spec": {"predictor": predictor},
    }


def resources(spec: ScenarioSpec) -> dict[str, dict[str, str]]:
    r = spec.kubernetes.resources
    requests = r.requests.as_manifest()
    limits = r.limits.as_manifest()
    if spec.kubernetes.gpus:
        # Extended resources need only the limit: the scheduler copies it into the request.
        limits["nvidia.com/gpu"] = str(spec.kubernetes.gpus)
    out = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


# --- validation against the CRD ---------------------------------------------------------------

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@functools.lru_cache(maxsize=4)
def _load_schema(crd_path: str, version: str, strict: bool) -> dict:
    path = Path(crd_path)
    if not path.is_file():
        raise ConfigError("InferenceService CRD not found", where=crd_path,
                          hint="point at serving.kserve.io_inferenceservices.yaml from the KServe release")
    # The full CRD is ~2 MB of YAML: the C loader reads it in a fraction of the pure-Python time.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(path.read_text(), Loader=loader)  # noqa: S506 - a safe loader either way
    for v in crd.get("spec", {}).get("versions", []):
        if v.get("name") == version:
            schema = copy.deepcopy(v["schema"]["openAPIV3Schema"])
            return _to_json_schema(schema, strict)
    raise ConfigError(f"the CRD has no version {version}", where=crd_path)


def _to_json_schema(node: Any, strict: bool) -> Any:
    """Turn an OpenAPI v3 structural schema into JSON Schema the way the API server reads it.

    - `x-kubernetes-int-or-string` without a type accepts integers and strings;
    - `nullable: true` accepts null;
    - strict: an object with `properties` and no `additionalProperties` rejects other keys, unless
      it says `x-kubernetes-preserve-unknown-fields` (the API server would prune them; strict
      field validation, kubectl's default, reports them instead).
    """
    if isinstance(node, list):
        return [_to_json_schema(n, strict) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v, strict) for k, v in node.items()}
    if out.get("x-kubernetes-int-or-string") and "type" not in out and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if (strict and out.get("type") == "object" and "properties" in out
            and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def _metadata_errors(obj: dict) -> list[str]:
    # The CRD schema leaves metadata to the API server's ObjectMeta checks; these are the ones a
    # rendered manifest can get wrong.
    errors = []
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return ["metadata: required object is missing"]
    name = meta.get("name")
    if not isinstance(name, str) or not _DNS1035.match(name) or len(name) > 63:
        errors.append(f"metadata.name: {name!r} is not a DNS-1035 label (KServe requires one)")
    for field in ("labels", "annotations"):
        for key, value in (meta.get(field) or {}).items():
            if not _QUALIFIED_NAME.match(str(key)):
                errors.append(f"metadata.{field}: key {key!r} is not a qualified name")
            if not isinstance(value, str):
                errors.append(f"metadata.{field}.{key}: value {value!r} must be a string")
            elif field == "labels" and (len(value) > 63 or not _LABEL_VALUE.match(value)):
                errors.append(f"metadata.labels.{key}: {value!r} is not a valid label value")
    return errors


def crd_errors(obj: dict, crd_path: str | Path, *, version: str = VERSION, strict: bool = True) -> list[str]:
    """Every way `obj` breaks the CRD schema (empty when it is valid), one line each."""
    import jsonschema  # imported here: only validation needs it

    schema = _load_schema(str(crd_path), version, strict)
    validator = jsonschema.Draft7Validator(schema)
    errors = []
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        errors.append(f"{where}: {err.message}")
    if obj.get("apiVersion") != f"{GROUP}/{version}":
        errors.append(f"apiVersion: {obj.get('apiVersion')!r} is not {GROUP}/{version}")
    if obj.get("kind") != KIND:
        errors.append(f"kind: {obj.get('kind')!r} is not {KIND}")
    return errors + _metadata_errors(obj)


def validate_against_crd(obj: dict, crd_path: str | Path, *, version: str = VERSION, strict: bool = True) -> None:
    """Check `obj` against the InferenceService CRD's openAPIV3Schema.

    Args:
        obj: the manifest (a dict).
        crd_path: serving.kserve.io_inferenceservices.yaml.
        version: the CRD version whose schema applies.
        strict: reject unknown fields, as kubectl's default strict field validation does.

    Raises:
        ConfigError: listing every violation (the first in the one-liner, all in details).
    """
    errors = crd_errors(obj, crd_path, version=version, strict=strict)
    if errors:
        raise ConfigError(
            f"InferenceService does not match the CRD schema: {errors[0]}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            where=str(crd_path), details="\n".join(errors),
            hint="fix the scenario's kubernetes section (see `harness render`)")

"""Objects of the FAKE KServe controller: what it installs, the predictor pod it renders, and the
InferenceService status it writes back. Pure functions over plain dicts (no store, no threads).

Flow: `install_kserve(store)` puts the CRD, the kserve-torchserve ClusterServingRuntime and the
default ClusterStorageContainer in the fake store (so `kserve_installed()` is true);
`render_predictor_pod(isvc, runtime)` builds the pod KServe's RawDeployment mode would end up
with (Deployment -> ReplicaSet -> Pod, collapsed into one Pod owned by the InferenceService);
`render_custom_predictor_pod(isvc)` the same for a custom predictor (predictor.containers: no
runtime; the storage-initializer only when the container's env has STORAGE_URI);
`propagate_status(isvc, pods, ...)` computes `.status` the way KServe's
PropagateRawStatus/PropagateModelStatus do (conditions, url, address, modelStatus).

Sources: ../shared/kserve/kserve-torchserve.yaml and storagecontainer-default.yaml (copied below
with their images filled in, as KServe's install does), KServe's
pkg/apis/serving/v1beta1/inference_service_status.go for modelStatus, predictor_custom.go and
inference_service_defaults.go for the custom predictor, and the raw deployment reconciler's
default readiness probe.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

from tests.fakes.kube_resources import ResourceType

ISVC_RESOURCE = "inferenceservices.serving.kserve.io"
CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
STORAGE_INITIALIZER = "storage-initializer"
MODEL_CONTAINER = "kserve-container"
MODEL_MOUNT = "/mnt/models"
PROVISION_VOLUME = "kserve-provision-location"
PREDICTOR_PORT = 8080  # the KServe front's REST port
GRPC_PORT = 8081  # the KServe front's gRPC port (h2c)
SOURCE_URI_ANNOTATION = "internal.serving.kserve.io/storage-initializer-sourceuri"
DEFAULT_RUNTIME = "kserve-torchserve"
STORAGE_INITIALIZER_IMAGE = "kserve/storage-initializer:v0.20.0"  # the release clusters/kind installs
# KServe's kustomization sets pytorch/torchserve-kfs:0.9.0 here; the harness always renders the
# runtimeVersion, and a hand-written InferenceService without one runs the default image's
# environment (the one built on every machine) rather than building another.
TORCHSERVE_IMAGE = "pytorch/torchserve-kfs:0.12.0"
ENVELOPES = {"v1": "kserve", "v2": "kservev2", "grpc-v2": "kservev2"}
STORAGE_URI_ENV = "STORAGE_URI"  # a custom predictor names its model location in this env variable
# inferenceservice-config's `resource` defaults, which KServe's defaulter gives a custom predictor
CUSTOM_DEFAULT_RESOURCES = {"cpu": "1", "memory": "2Gi"}
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for pod-template-hash

# ../shared/kserve/kserve-torchserve.yaml, with TORCHSERVE_IMAGE for its image.
TORCHSERVE_RUNTIME: dict[str, Any] = {
    "apiVersion": "serving.kserve.io/v1alpha1",
    "kind": "ClusterServingRuntime",
    "metadata": {"name": DEFAULT_RUNTIME, "annotations": {"serving.kserve.io/server-type": "torchserve"}},
    "spec": {
        "annotations": {"prometheus.kserve.io/port": "8082", "prometheus.kserve.io/path": "/metrics"},
        "supportedModelFormats": [{"name": "pytorch", "version": "1", "autoSelect": True, "priority": 2}],
        "protocolVersions": ["v1", "v2", "grpc-v2"],
        "containers": [{
            "name": MODEL_CONTAINER,
            "image": TORCHSERVE_IMAGE,
            "args": ["torchserve", "--start", f"--model-store={MODEL_MOUNT}/model-store",
                     f"--ts-config={MODEL_MOUNT}/config/config.properties"],
            "env": [{"name": "TS_SERVICE_ENVELOPE", "value": "{{.Labels.serviceEnvelope}}"}],
            "securityContext": {"runAsUser": 1000, "allowPrivilegeEscalation": False, "privileged": False,
                                "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
        }],
    },
}

# ../shared/kserve/storagecontainer-default.yaml (the storage-initializer's resources).
DEFAULT_STORAGE_CONTAINER: dict[str, Any] = {
    "apiVersion": "serving.kserve.io/v1alpha1",
    "kind": "ClusterStorageContainer",
    "metadata": {"name": "default"},
    "spec": {
        "container": {"name": STORAGE_INITIALIZER, "image": STORAGE_INITIALIZER_IMAGE,
                      "imagePullPolicy": "IfNotPresent",
                      "resources": {"requests": {"memory": "100Mi", "cpu": "100m"},
                                    "limits": {"memory": "1Gi", "cpu": "1"}}},
        "supportedUriFormats": [{"prefix": p} for p in ("gs://", "s3://", "hdfs://", "hf://", "webhdfs://")],
        "workloadType": "initContainer",
    },
}

# Enough of the InferenceService CRD for discovery and `kserve_installed()`; the fake API server
# itself does not validate custom resources (the harness checks manifests against the real CRD).
ISVC_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": ISVC_RESOURCE},
    "spec": {
        "group": "serving.kserve.io", "scope": "Namespaced",
        "names": {"kind": "InferenceService", "plural": "inferenceservices", "singular": "inferenceservice",
                  "shortNames": ["isvc"], "listKind": "InferenceServiceList"},
        "versions": [{"name": "v1beta1", "served": True, "storage": True, "subresources": {"status": {}}}],
    },
}

CRD_TYPE = ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
                        namespaced=False, unconditional_update=False)


def install_kserve(store) -> None:
    """Make the fake store look like a cluster with KServe installed (idempotent)."""
    from tests.fakes.kube_errors import FakeKubeError

    if not any(t.key == CRD_TYPE.key for t in store.registry.all()):
        store.registry.register(CRD_TYPE)
    for resource, obj in ((CRD_RESOURCE, ISVC_CRD), ("clusterservingruntimes.serving.kserve.io", TORCHSERVE_RUNTIME),
                          ("clusterstoragecontainers.serving.kserve.io", DEFAULT_STORAGE_CONTAINER)):
        try:
            store.create(resource, copy.deepcopy(obj))
        except FakeKubeError as exc:
            if exc.code != 409:
                raise


# --- quantities and images ------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_FACTORS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def parse_quantity(value: object) -> float:
    """A Kubernetes quantity ("512Mi", "1.5G", "500m", 2) as a plain number (bytes, cores)."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    return float(match.group(1)) * _FACTORS[match.group(2)]


def image_reference(image: str) -> str:
    """The fully qualified reference containerd reports ("docker.io/library/x:latest")."""
    name, digest = (image.split("@", 1) + [""])[:2]
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}"
    if digest:
        return f"{name}@{digest}"
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _with_tag(image: str, tag: str) -> str:
    repo = image.split("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    return f"{repo}:{tag}"


def gpu_request(pod: dict) -> int:
    """nvidia.com/gpu the pod asks for (extended resources: the limit is the request)."""
    total = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        res = c.get("resources") or {}
        value = (res.get("requests") or {}).get("nvidia.com/gpu") or (res.get("limits") or {}).get("nvidia.com/gpu")
        total += int(parse_quantity(value)) if value else 0
    return total


def memory_limit(container: dict) -> int | None:
    value = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return int(parse_quantity(value)) if value else None


def pod_spec_errors(pod: dict) -> list[str]:
    """What the API server's pod validation would reject here: requests above limits."""
    errors = []
    spec = pod.get("spec") or {}
    for field, containers in (("initContainers", spec.get("initContainers")), ("containers", spec.get("containers"))):
        for i, c in enumerate(containers or []):
            res = c.get("resources") or {}
            for name, request in (res.get("requests") or {}).items():
                limit = (res.get("limits") or {}).get(name)
                if limit is not None and parse_quantity(request) > parse_quantity(limit):
                    errors.append(f'spec.{field}[{i}].resources.requests: Invalid value: "{request}": must be '
                                  f"less than or equal to {name} limit of {limit}")
    return errors


# --- the predictor pod ----------------------------------------------------------------------------

def select_runtime(isvc: dict, runtimes: list[dict]) -> tuple[dict | None, str | None, str | None]:
    """(runtime, failure reason, message) as KServe picks a runtime for the predictor."""
    model = ((isvc.get("spec") or {}).get("predictor") or {}).get("model") or {}
    name = model.get("runtime")
    fmt = (model.get("modelFormat") or {}).get("name")
    if name:
        found = next((r for r in runtimes if r["metadata"]["name"] == name), None)
        if found is None:
            return None, "RuntimeNotRecognized", f"Waiting for runtime to become available: {name}"
        return found, None, None
    for runtime in runtimes:
        formats = runtime.get("spec", {}).get("supportedModelFormats") or []
        if any(f.get("name") == fmt and f.get("autoSelect") for f in formats):
            return runtime, None, None
    return None, "NoSupportingRuntime", f"No runtime found to support predictor with model type: {{{fmt}}}"


def _merge_resources(base: dict, override: dict) -> dict:
    out: dict[str, dict[str, str]] = {}
    for side in ("requests", "limits"):
        merged = {**((base or {}).get(side) or {}), **((override or {}).get(side) or {})}
        if merged:
            out[side] = {k: str(v) for k, v in merged.items()}
    gpus = (out.get("limits") or {}).get("nvidia.com/gpu")
    if gpus:  # the API server defaults the request of an extended resource to its limit
        out.setdefault("requests", {})["nvidia.com/gpu"] = gpus
    return out


def template_hash(isvc: dict) -> str:
    digest = hashlib.sha256(json.dumps(isvc.get("spec"), sort_keys=True).encode()
                            + isvc["metadata"].get("uid", "").encode()).digest()
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:10])


def render_predictor_pod(isvc: dict, runtime: dict, *, storage_initializer_image: str = STORAGE_INITIALIZER_IMAGE,
                         storage_resources: dict | None = None) -> dict:
    """The predictor pod of `isvc` (RawDeployment), ready for `store.create("pods", ...)`.

    Its name is generated as `<isvc>-predictor-<template hash>-<5 chars>`, like a Deployment's pod.
    """
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    model = predictor.get("model") or {}
    protocol = model.get("protocolVersion") or "v1"
    rc = copy.deepcopy(runtime["spec"]["containers"][0])
    image = model.get("image") or (_with_tag(rc["image"], model["runtimeVersion"]) if model.get("runtimeVersion")
                                   else rc["image"])
    envelope = ENVELOPES.get(protocol, "kserve")
    # KServe's TorchServe defaulting appends PROTOCOL_VERSION (the front reads it) to the model's env.
    env = [{"name": e["name"], "value": str(e.get("value", "")).replace("{{.Labels.serviceEnvelope}}", envelope)}
           for e in rc.get("env") or []] + list(model.get("env") or []) + [{"name": "PROTOCOL_VERSION",
                                                                         "value": protocol}]
    container = {
        "name": MODEL_CONTAINER, "image": image, "imagePullPolicy": "IfNotPresent",
        "args": list(rc.get("args") or []) + list(model.get("args") or []),
        "env": env, "resources": _merge_resources(rc.get("resources") or {}, model.get("resources") or {}),
        # KServe merges the model's container fields over the runtime's: ports the model names
        # (grpc-v2: 8081 h2c) replace the default HTTP port.
        "ports": copy.deepcopy(model.get("ports")) or [{"containerPort": PREDICTOR_PORT, "name": "http1",
                                                         "protocol": "TCP"}],
        "volumeMounts": [_model_mount()],
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    if rc.get("securityContext"):
        container["securityContext"] = rc["securityContext"]
    uri = model.get("storageUri", "")
    init = _storage_initializer(uri, storage_initializer_image, storage_resources)
    return _pod(isvc, container, init, uri)


def custom_storage_uri(isvc: dict) -> str | None:
    """A custom predictor's model location: its kserve-container's STORAGE_URI (KServe's GetStorageUri)."""
    container = _custom_container(isvc)
    return next((str(e.get("value", "")) for e in container.get("env") or [] if e.get("name") == STORAGE_URI_ENV),
                None)


def is_custom_predictor(isvc: dict) -> bool:
    """The predictor names its own containers instead of a model (KServe's CustomPredictor)."""
    return bool((((isvc.get("spec") or {}).get("predictor") or {}).get("containers")))


def _custom_container(isvc: dict) -> dict:
    containers = ((isvc.get("spec") or {}).get("predictor") or {}).get("containers") or [{}]
    return next((c for c in containers if c.get("name") == MODEL_CONTAINER), containers[0])


def render_custom_predictor_pod(isvc: dict, *, storage_initializer_image: str = STORAGE_INITIALIZER_IMAGE,
                                storage_resources: dict | None = None) -> dict:
    """The pod of a custom predictor (predictor.containers), as KServe's defaulter, RawDeployment
    reconciler and pod mutator leave it: the user's kserve-container as written (command, args,
    env, ports), plus KServe's default resources and TCP readiness probe, and, when its env has
    STORAGE_URI, the storage-initializer and the read-only /mnt/models mount.
    """
    container = copy.deepcopy(_custom_container(isvc))
    container["name"] = MODEL_CONTAINER  # KServe's defaulter names the first container so
    container.setdefault("imagePullPolicy", "IfNotPresent")
    container["resources"] = _custom_resources(container.get("resources") or {})
    container.setdefault("readinessProbe", _default_readiness_probe(container))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    uri = custom_storage_uri(isvc)
    init = None
    if uri is not None:  # the injector acts on the source URI annotation the controller set from STORAGE_URI
        container["volumeMounts"] = list(container.get("volumeMounts") or []) + [_model_mount()]
        init = _storage_initializer(uri, storage_initializer_image, storage_resources)
    return _pod(isvc, container, init, uri)


def _custom_resources(resources: dict) -> dict:
    """KServe's setResourceRequirementDefaults: each of cpu and memory the user left out of
    requests or limits gets the inferenceservice-config default (1 CPU, 2Gi)."""
    out = {side: {k: str(v) for k, v in (resources.get(side) or {}).items()} for side in ("requests", "limits")}
    for side in ("requests", "limits"):
        for name, value in CUSTOM_DEFAULT_RESOURCES.items():
            out[side].setdefault(name, value)
    gpus = out["limits"].get("nvidia.com/gpu")
    if gpus:  # the API server defaults the request of an extended resource to its limit
        out["requests"].setdefault("nvidia.com/gpu", gpus)
    return out


def _default_readiness_probe(container: dict) -> dict:
    """KServe's RawDeployment default for kserve-container: TCP on its first declared port, else 8080."""
    ports = container.get("ports") or []
    port = ports[0]["containerPort"] if ports else PREDICTOR_PORT
    return {"tcpSocket": {"port": port}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
            "failureThreshold": 3}


def _model_mount() -> dict:
    return {"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT, "readOnly": True}


def _storage_initializer(uri: str, image: str, resources: dict | None) -> dict:
    """The init container KServe's storage-initializer injector adds: [uri, /mnt/models]."""
    return {
        "name": STORAGE_INITIALIZER, "image": image, "imagePullPolicy": "IfNotPresent",
        "args": [uri, MODEL_MOUNT],
        "resources": copy.deepcopy(resources or DEFAULT_STORAGE_CONTAINER["spec"]["container"]["resources"]),
        "volumeMounts": [{"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT}],
        # KServe's injector sets this: a failed download's log tail becomes the termination message.
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _pod(isvc: dict, container: dict, init: dict | None, uri: str | None) -> dict:
    """The Deployment's pod around the predictor's container (and the storage-initializer, if any)."""
    meta = isvc["metadata"]
    name = meta["name"]
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    spec: dict[str, Any] = {
        "containers": [container],
        "restartPolicy": "Always", "schedulerName": "default-scheduler", "terminationGracePeriodSeconds": 30,
        "serviceAccountName": predictor.get("serviceAccountName") or "default",
    }
    if init is not None:
        spec = {"initContainers": [init], **spec, "volumes": [{"name": PROVISION_VOLUME, "emptyDir": {}}]}
    for key in ("nodeSelector", "tolerations", "affinity", "imagePullSecrets"):
        if predictor.get(key):
            spec[key] = copy.deepcopy(predictor[key])
    thash = template_hash(isvc)
    labels = {**(predictor.get("labels") or {}), ISVC_LABEL: name, "component": "predictor",
              "app": f"isvc.{name}-predictor", "pod-template-hash": thash}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if not k.startswith("kubectl.kubernetes.io/")}
    if uri is not None:
        annotations[SOURCE_URI_ANNOTATION] = uri
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": f"{name}-predictor-{thash}-", "labels": labels, "annotations": annotations,
            "ownerReferences": [{"apiVersion": isvc.get("apiVersion", "serving.kserve.io/v1beta1"),
                                 "kind": "InferenceService", "name": name, "uid": meta["uid"],
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": spec,
    }


# --- the InferenceService status --------------------------------------------------------------------

def _condition(obj: dict | None, ctype: str) -> dict | None:
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c.get("type") == ctype), None)


def _is_true(cond: dict | None) -> bool:
    return bool(cond) and cond.get("status") == "True"


def _cond(ctype: str, ok: bool, previous: dict, now: str, reason: str | None = None,
          message: str | None = None) -> dict:
    status = "True" if ok else "False"
    old = previous.get(ctype) or {}
    out = {"type": ctype, "status": status,
           "lastTransitionTime": old.get("lastTransitionTime") if old.get("status") == status else now}
    if not ok:
        out.update({k: v for k, v in (("reason", reason), ("message", message)) if v})
    if ctype in ("LatestDeploymentReady", "RoutesReady"):
        out["severity"] = "Info"
    return out


def _container_status(pod: dict, field: str, name: str) -> dict:
    return next((cs for cs in (pod.get("status") or {}).get(field) or [] if cs.get("name") == name), {})


def model_status(previous: dict, pods: list[dict], ready: bool) -> dict:
    """modelStatus as KServe's PropagateModelStatus writes it (RawDeployment).

    As upstream: a storage-initializer or kserve-container that terminated with reason Error, or
    waits in CrashLoopBackOff, sets lastFailureInfo ModelLoadFailed (never cleared afterwards).
    """
    status = copy.deepcopy(previous or {})
    states = status.setdefault("states", {})

    def update(state: str, failure: dict | None = None) -> None:
        states["targetModelState"] = state
        if state in ("Pending", "Loading"):
            status["transitionStatus"] = "InProgress"
        elif state == "Loaded":
            status["transitionStatus"] = "UpToDate"
            status["copies"] = {"totalCopies": len(pods)}
            states["activeModelState"] = "Loaded"
        elif state == "FailedToLoad":
            status["transitionStatus"] = "BlockedByFailedLoad"
        if failure is not None:
            status["lastFailureInfo"] = failure

    def failure(term: dict) -> dict:
        info = {"reason": "ModelLoadFailed", "exitCode": term.get("exitCode", 1)}
        if term.get("message"):
            info["message"] = term["message"]
        return info

    if not pods:
        update("Pending")
        return status
    pod = pods[0]
    si = _container_status(pod, "initContainerStatuses", STORAGE_INITIALIZER)
    state, last = si.get("state") or {}, (si.get("lastState") or {}).get("terminated")
    if state.get("running") is not None:
        if not last:
            update("Loading")
        return status  # upstream requeues while an init container loops between error and running
    if (state.get("terminated") or {}).get("reason") == "Error":
        update("FailedToLoad", failure(state["terminated"]))
        return status
    if (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff" and last:
        update("FailedToLoad", failure(last))
        return status
    if ready:
        update("Loaded")
        return status
    mc = _container_status(pod, "containerStatuses", MODEL_CONTAINER)
    if mc:
        state, last = mc.get("state") or {}, (mc.get("lastState") or {}).get("terminated")
        if (state.get("terminated") or {}).get("reason") == "Error":
            update("FailedToLoad", failure(state["terminated"]))
        elif (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff" and last:
            update("FailedToLoad", failure(last))
        else:
            update("Pending")
    return status


def propagate_status(isvc: dict, pods: list[dict], *, now: str, ingress_configured: bool, url: str,
                     address_url: str, failure: tuple[str, str] | None = None) -> dict:
    """The InferenceService's `.status` for the current state of its predictor pods.

    Args:
        isvc: the InferenceService as stored (its previous status keeps transition times).
        pods: its live predictor pods, oldest first.
        now: RFC 3339 time for conditions that change now.
        ingress_configured: False plays a cluster without a working ingress: IngressReady stays
            False (IngressNotConfigured) and status.url is never set.
        url: status.url when the ingress works.
        address_url: status.address.url (the cluster-local Service address).
        failure: (reason, message) when no runtime serves the predictor (InvalidSpec).
    """
    prev_status = isvc.get("status") or {}
    previous = {c["type"]: c for c in prev_status.get("conditions") or []}
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    ready = any(_is_true(_condition(p, "Ready")) for p in live)
    conditions = []
    if failure:
        reason, message = failure
        conditions.append(_cond("PredictorReady", False, previous, now, reason, message))
    else:
        conditions.append(_cond("PredictorReady", ready, previous, now, "MinimumReplicasUnavailable",
                                "Deployment does not have minimum availability."))
    conditions.append(_cond("IngressReady", ingress_configured, previous, now, "IngressNotConfigured",
                            "Ingress has not yet been reconciled."))
    all_ready = ready and ingress_configured and not failure
    first_false = next((c for c in conditions if c["status"] == "False"), {})
    conditions.append(_cond("Ready", all_ready, previous, now, first_false.get("reason"), first_false.get("message")))
    conditions.sort(key=lambda c: c["type"])
    status: dict[str, Any] = {
        "observedGeneration": isvc["metadata"].get("generation", 1),
        "conditions": conditions,
        "address": {"url": address_url},
        "components": {"predictor": {}},
        "deploymentMode": "RawDeployment",
    }
    if ingress_configured:
        status["url"] = url
        status["components"]["predictor"]["url"] = url
    if failure:
        ms = copy.deepcopy(prev_status.get("modelStatus") or {})
        ms["transitionStatus"] = "InvalidSpec"
        ms.setdefault("states", {})["targetModelState"] = "FailedToLoad"
        ms["lastFailureInfo"] = {"reason": failure[0], "message": failure[1]}
        status["modelStatus"] = ms
    else:
        status["modelStatus"] = model_status(prev_status.get("modelStatus") or {}, live, all_ready)
    return status

"""The ModelServer's InferenceService: a KServe custom predictor (runtime: kserve).

Flow: `render(spec, storage_uri, run_id)` -> predictor.containers[0] named kserve-container, as
KServe documents a custom Python predictor: the ModelServer image, the command the local target
runs too (python /mnt/models/kserve_harness_predictor.py + layout.predictor_args), STORAGE_URI in
its env so KServe injects the storage-initializer that downloads the model to /mnt/models, and
for grpc-v2 the h2c port 8081 (REST is KServe's default container port 8080, not listed).
"""
from __future__ import annotations

from typing import Any

from harness.kube.manifest import GRPC_PORTS, inference_service, resources
from harness.runtimes.kserve.layout import ENTRY, MODEL_MOUNT, predictor_args
from harness.spec import ScenarioSpec

CONTAINER_NAME = "kserve-container"  # the name KServe gives (and expects of) the predictor's container
GPU_SUFFIX = "-gpu"  # image/Dockerfile's CUDA variant, built with torch from this index
GPU_TORCH_INDEX = "https://download.pytorch.org/whl/cu126"


def image_of(spec: ScenarioSpec) -> str:
    """kubernetes.image, else the ModelServer image of kserve.image (-gpu when GPUs are asked for)."""
    if spec.kubernetes.image:
        return spec.kubernetes.image
    return spec.kserve.runtime_image.reference + (GPU_SUFFIX if spec.kubernetes.gpu_count else "")


def render(spec: ScenarioSpec, storage_uri: str, run_id: str | None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image_of(spec),
        "command": ["python", f"{MODEL_MOUNT}/{ENTRY.name}"],
        "args": predictor_args(spec) + list(spec.kubernetes.args),
        "env": [{"name": "STORAGE_URI", "value": storage_uri}],
    }
    if spec.serving.protocol == "grpc-v2":
        container["ports"] = [dict(p) for p in GRPC_PORTS]
    if res := resources(spec):
        container["resources"] = res
    return inference_service(spec, run_id, {"containers": [container]})

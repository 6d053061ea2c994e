"""KServe's own Python ModelServer behind the Runtime interface (runtime: kserve).

Flow: `model_files` = layout.model_objects (predictor entry, model, handler, extra files at the top
of the storage URI) -> `start_local` = the ModelServer image's environment (built once), then
`python <model_dir>/kserve_harness_predictor.py ...` as the container runs it, retried on fresh
ports when another process took one meanwhile -> `inference_service` = a custom predictor
(manifest.py) -> `info` = the image and what really served.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from harness.errors import DeployError
from harness.progress import Progress
from harness.report.model import ArchiveInfo, RuntimeInfo
from harness.runtimes.base import ImageBuild, LocalServer, ModelFiles, Runtime
from harness.runtimes.environment import runtime_environment
from harness.runtimes.kserve import lints, manifest
from harness.runtimes.kserve.layout import ENTRY, model_objects, objects_sha256, predictor_args
from harness.runtimes.kserve.process import POD_HTTP_PORT, ModelServerProcess
from harness.runtimes.what_ran import fill_what_ran
from harness.spec import ScenarioSpec


IMAGE_CONTEXT = Path(__file__).resolve().parent / "image"  # the Dockerfile of the ModelServer image


def _port_taken(exc: DeployError) -> bool:
    return "address already in use" in (exc.details or "").lower()


class KServeRuntime(Runtime):
    name = "kserve"
    lint_rules = lints.RULES
    warnings = lints.WARNINGS

    def model_files(self, spec: ScenarioSpec, cache_dir: Path) -> ModelFiles:
        objects = model_objects(spec)
        digest = objects_sha256(objects)
        return ModelFiles(objects=objects,
                          archive=ArchiveInfo(path=str(spec.model.serialized_file), sha256=digest,
                                              inputs_hash=digest, reused=False))

    def start_local(self, spec: ScenarioSpec, model_dir: Path, work_dir: Path, cache_dir: Path,
                    progress: Progress, started: Callable[[LocalServer], None], attempts: int = 3) -> ModelServerProcess:
        env = runtime_environment(spec.kserve.runtime_image, cache_dir, progress)
        for attempt in range(1, attempts + 1):
            work = work_dir / ("modelserver" if attempt == 1 else f"modelserver-retry{attempt}")
            server = ModelServerProcess(env, [model_dir / ENTRY.name, *predictor_args(spec, model_dir)], work,
                                        protocol=spec.serving.protocol)
            started(server)
            server.start()
            if env.build_seconds:
                server.timings["runtime-env"] = env.build_seconds
            try:
                server.timings["modelserver-ready"] = server.wait_ready(spec.model.name, spec.startup_timeout_s)
                return server
            except DeployError as exc:
                if attempt == attempts or not _port_taken(exc):
                    raise  # the caller stops the server it was handed, after saving its logs
                server.stop()
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def inference_service(self, spec: ScenarioSpec, storage_uri: str, run_id: str | None) -> dict[str, Any]:
        return manifest.render(spec, storage_uri, run_id)

    def pod_ports(self, spec: ScenarioSpec) -> dict[str, int]:
        # The ModelServer is the only server in the pod: no port besides KServe's 8080 (8081 for
        # gRPC, which the target adds), no management API; its metrics are 8080's /metrics.
        return {"metrics": POD_HTTP_PORT}

    def image_build(self, spec: ScenarioSpec) -> ImageBuild | None:
        if spec.kubernetes.image:
            return None  # the user's own image, from their registry
        img = spec.kserve.runtime_image
        args = {"KSERVE_VERSION": img.kserve, "TORCH_VERSION": img.torch}
        if spec.kubernetes.gpu_count:
            args["TORCH_INDEX"] = manifest.GPU_TORCH_INDEX
        return ImageBuild(manifest.image_of(spec), IMAGE_CONTEXT, args)

    def info(self, spec: ScenarioSpec, endpoint_info: dict[str, Any] | None) -> RuntimeInfo:
        img = spec.kserve.runtime_image
        # Every request reaches the ModelServer itself on the pod's 8080: there is no front to pass.
        out = RuntimeInfo(runtime=self.name, image=manifest.image_of(spec), tag=img.tag, shipped=img.shipped(),
                          serving_path="modelserver")
        return fill_what_ran(out, endpoint_info)

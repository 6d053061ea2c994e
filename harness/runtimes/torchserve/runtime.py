"""KServe's TorchServe runtime behind the Runtime interface: its archive, lints, processes and report section.

Flow: `model_files` = the .mar (torch-model-archiver, cached by inputs) and config.properties in
the layout KServe's kserve-torchserve container reads (config/, model-store/); `start_local` =
the image's Python environment (built once), TorchServe then KServe's front (`ImageServer`),
retried on fresh ports when another process took one meanwhile; `info` = the image the run stands
for, what it ships and what really served.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from harness.errors import DeployError
from harness.kube.manifest import render_inference_service
from harness.progress import Progress
from harness.report.model import ArchiveInfo, RuntimeInfo
from harness.runtimes.base import LocalServer, ModelFiles, Runtime
from harness.runtimes.torchserve import lints
from harness.runtimes.torchserve.archive import build_archive, render_config_properties
from harness.runtimes.environment import runtime_environment
from harness.runtimes.torchserve.image import REPOSITORY
from harness.runtimes.what_ran import fill_what_ran
from harness.runtimes.torchserve.server import ImageServer
from harness.spec import ScenarioSpec


# TorchServe's inference, management and metrics ports as archive.py writes config.properties.
DEFAULT_INFERENCE_PORT = 8085
DEFAULT_MANAGEMENT_PORT = 8085
DEFAULT_METRICS_PORT = 8082


def _port_of(address: object, default: int) -> int:
    match = re.search(r":(\d+)\s*$", str(address or ""))
    return int(match.group(1)) if match else default


class TorchServeRuntime(Runtime):
    name = "torchserve"
    lint_rules = lints.RULES
    warnings = lints.WARNINGS

    def model_files(self, spec: ScenarioSpec, cache_dir: Path) -> ModelFiles:
        archive = build_archive(spec, cache_dir)
        config_text = render_config_properties(spec)
        return ModelFiles(
            objects={"config/config.properties": config_text.encode(),
                     f"model-store/{archive.path.name}": archive.path.read_bytes()},
            archive=ArchiveInfo(path=str(archive.path), sha256=archive.sha256, inputs_hash=archive.inputs_hash,
                                reused=archive.reused),
            reused=archive.reused, diagnostics={"config.properties": config_text})

    def start_local(self, spec: ScenarioSpec, model_dir: Path, work_dir: Path, cache_dir: Path,
                    progress: Progress, started: Callable[[LocalServer], None], attempts: int = 3) -> ImageServer:
        env = runtime_environment(spec.torchserve.runtime_image, cache_dir, progress)
        for attempt in range(1, attempts + 1):
            work = work_dir / ("torchserve" if attempt == 1 else f"torchserve-retry{attempt}")
            server = ImageServer(model_dir, work, env=env, envelope=spec.serving.effective_envelope,
                                 protocol=spec.serving.protocol, front=spec.serving.path == "front")
            started(server)
            server.start()
            if env.build_seconds:
                server.timings["runtime-env"] = env.build_seconds
            try:
                server.wait_ready(spec.model.name, spec.torchserve.startup_timeout_s)
                return server
            except DeployError as exc:
                # A port another process grabbed between our pick and TorchServe's bind: new ports.
                if attempt == attempts or "Address already in use" not in (exc.details or ""):
                    raise  # the caller stops the server it was handed, after saving its logs
                server.stop()
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def inference_service(self, spec: ScenarioSpec, storage_uri: str, run_id: str | None) -> dict[str, Any]:
        return render_inference_service(spec, storage_uri, run_id)

    def pod_ports(self, spec: ScenarioSpec) -> dict[str, int]:
        # TorchServe's ports as config.properties sets them (archive.py writes the defaults).
        props = spec.torchserve.properties
        return {"inference": _port_of(props.get("inference_address"), DEFAULT_INFERENCE_PORT),
                "management": _port_of(props.get("management_address"), DEFAULT_MANAGEMENT_PORT),
                "metrics": _port_of(props.get("metrics_address"), DEFAULT_METRICS_PORT)}

    def info(self, spec: ScenarioSpec, endpoint_info: dict[str, Any] | None) -> RuntimeInfo:
        img = spec.torchserve.runtime_image
        out = RuntimeInfo(image=spec.kubernetes.image or f"{REPOSITORY}:{spec.runtime_version}", tag=img.tag,
                          shipped=img.shipped(), serving_path=spec.serving.path)
        return fill_what_ran(out, endpoint_info)

"""What a serving runtime provides, so that every target can serve a scenario on any runtime.

Flow: `runtime_for(spec)` (harness.runtimes.registry) -> `runtime.lint_rules` join the generic
lints -> `runtime.model_files(spec, cache_dir)` builds what is uploaded under the storage URI (the
objects of the layout the runtime's container reads from /mnt/models) -> a target downloads them
with the storage-initializer and, locally, `runtime.start_local(...)` starts the runtime's
processes and waits until they serve; on a cluster `runtime.inference_service(...)` is what is
created and `runtime.pod_ports(spec)` what is port-forwarded -> `runtime.info(spec, endpoint_info)`
is the report's runtime section.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from harness.errors import LintError
from harness.progress import Progress
from harness.report.model import ArchiveInfo, RuntimeInfo
from harness.spec import ScenarioSpec

Rule = Callable[[ScenarioSpec], Iterator[LintError]]


@dataclass
class ModelFiles:
    """What is uploaded under the storage URI: object name -> content, and the archive it came from."""

    objects: dict[str, bytes]
    archive: ArchiveInfo
    reused: bool = False
    diagnostics: dict[str, str] = field(default_factory=dict)  # file name -> text, saved to diagnostics/


@dataclass(frozen=True)
class ImageBuild:
    """A container image the harness builds itself: its reference, build context and build args."""

    reference: str
    context: Path
    args: dict[str, str] = field(default_factory=dict)


class LocalServer(Protocol):
    """A runtime's processes serving one model directory on this machine."""

    timings: dict[str, float]

    def endpoint_facts(self) -> dict[str, Any]:
        """URLs and ports for the Endpoint: base_url, management_url, metrics_url, grpc_target, info."""

    def log_files(self) -> list[Path]: ...

    def config_files(self) -> list[tuple[Path, str]]:
        """(path, name in diagnostics/) of the configuration the processes really ran with."""

    def stop(self) -> None: ...


class Runtime(ABC):
    """One model server, as KServe runs it."""

    name: str
    lint_rules: list[Rule]
    warnings: frozenset[str] = frozenset()  # lint codes that warn instead of stopping the run

    @abstractmethod
    def model_files(self, spec: ScenarioSpec, cache_dir: Path) -> ModelFiles:
        """Build (or reuse) what is uploaded under spec.storage.uri."""

    @abstractmethod
    def start_local(self, spec: ScenarioSpec, model_dir: Path, work_dir: Path, cache_dir: Path,
                    progress: Progress, started: Callable[[LocalServer], None]) -> LocalServer:
        """Start the runtime's processes on `model_dir` (the storage-initializer's download) and
        return once they serve, or raise DeployError naming why not. `started` is handed each
        server before it starts, so the caller collects its logs and stops it whatever happens."""

    @abstractmethod
    def inference_service(self, spec: ScenarioSpec, storage_uri: str, run_id: str | None) -> dict[str, Any]:
        """The InferenceService that serves the model from `storage_uri` on a cluster."""

    @abstractmethod
    def pod_ports(self, spec: ScenarioSpec) -> dict[str, int]:
        """The predictor pod's ports besides KServe's 8080, by role: "inference" (the runtime's own,
        for serving.path: direct), "management" and "metrics", each only when the runtime has it."""

    def image_build(self, spec: ScenarioSpec) -> ImageBuild | None:
        """The image the predictor runs when it is the harness's own (a kind cluster loads it into its
        nodes first); None when a registry has it (kserve-torchserve's images, any kubernetes.image)."""
        return None

    @abstractmethod
    def info(self, spec: ScenarioSpec, endpoint_info: dict[str, Any] | None) -> RuntimeInfo:
        """The report's runtime section (endpoint_info None before anything is deployed)."""

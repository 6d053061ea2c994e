"""The embedded local target: KServe's data path without Kubernetes.

Flow: deploy() = storage-initializer (kserve-storage downloads the storageUri into
<run>/mnt/models, as the init container does into /mnt/models) -> TorchServe started as the
kserve-torchserve runtime starts it -> READY worker -> Endpoint on 127.0.0.1.
collect_diagnostics() copies the storage-initializer log, both config.properties and every
TorchServe log; teardown() stops the whole TorchServe process group.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from harness.errors import DeployError
from harness.spec import ScenarioSpec
from harness.targets.base import Endpoint
from harness.targets.storage_initializer import run_storage_initializer
from harness.targets.torchserve import TorchServe


class LocalTarget:
    name = "local"

    def __init__(self, work_dir: Path, *, emulator_host: str | None) -> None:
        self.work_dir = work_dir
        self.emulator_host = emulator_host
        self.model_dir = work_dir / "mnt" / "models"
        self.storage_log = work_dir / "storage-initializer.log"
        self.server: TorchServe | None = None
        self.timings: dict[str, float] = {}

    def deploy(self, spec: ScenarioSpec, storage_uri: str) -> Endpoint:
        self.timings["storage-init"] = run_storage_initializer(
            storage_uri, self.model_dir, self.storage_log, emulator_host=self.emulator_host)
        self.timings["torchserve-ready"] = self._start_torchserve(spec)
        return Endpoint(
            base_url=self.server.inference_url, model_name=spec.model.name, protocol=spec.serving.protocol,
            management_url=self.server.management_url, metrics_url=self.server.metrics_url,
            info={"pid": self.server.group.pid if self.server.group else None,
                  "ports": vars(self.server.ports), "model_dir": str(self.model_dir)},
        )

    def _start_torchserve(self, spec: ScenarioSpec, attempts: int = 3) -> float:
        """Start TorchServe; on a port another process grabbed in the meantime, retry on new ports."""
        start = time.monotonic()
        for attempt in range(1, attempts + 1):
            work = self.work_dir / ("torchserve" if attempt == 1 else f"torchserve-retry{attempt}")
            self.server = TorchServe(self.model_dir, work, envelope=spec.serving.effective_envelope).start()
            try:
                self.server.wait_ready(spec.model.name, spec.torchserve.startup_timeout_s)
                return time.monotonic() - start
            except DeployError as exc:
                if attempt == attempts or "Address already in use" not in (exc.details or ""):
                    raise
                self.server.stop()
        raise AssertionError("unreachable")

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        sources = [(self.storage_log, "storage-initializer.log"),
                   (self.model_dir / "config" / "config.properties", "config.properties.downloaded")]
        if self.server:
            sources.append((self.server.config_path, "config.properties.local"))
            sources += [(p, p.name) for p in self.server.log_files()]
        written = []
        for src, name in sources:
            if src.is_file():
                shutil.copyfile(src, dest / name)
                written.append(dest / name)
        return written

    def teardown(self) -> None:
        if self.server:
            self.server.stop()

    def __enter__(self) -> "LocalTarget":
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

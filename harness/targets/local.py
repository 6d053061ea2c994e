"""The embedded local target: KServe's data path without Kubernetes.

Flow: storage() = real GCS (--real-gcs), the emulator the user named, or a private GCS emulator
on 127.0.0.1 that this target starts and stops. deploy() = storage-initializer (kserve-storage
downloads the storageUri into <run>/mnt/models, as the init container does into /mnt/models) ->
the scenario's runtime starts its processes on that folder as its container would (TorchServe:
the runtime image's environment, TorchServe, then KServe's front before it) and waits until they
serve -> Endpoint on 127.0.0.1 (the pod's port 8080, or TorchServe itself for
`serving.path: direct`). collect_diagnostics() copies the storage-initializer log, the downloaded
and the local configuration and every process log; teardown() stops the runtime's processes and
the private emulator.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from harness.endpoint import Endpoint
from harness.kube.cold_start import stage_cold_start
from harness.report.model import ColdStart
from harness.runtimes.base import LocalServer
from harness.runtimes.registry import runtime_for
from harness.spec import ScenarioSpec
from harness.storage import GcsEmulator, GcsStore
from harness.storage.initializer import run_storage_initializer
from harness.targets.base import StorageSite, Target
from harness.targets.settings import TargetSettings


class LocalTarget(Target):
    name = "local"

    def __init__(self, settings: TargetSettings) -> None:
        super().__init__()
        self.settings = settings
        self.work_dir = settings.work_dir
        self.model_dir = self.work_dir / "mnt" / "models"
        self.storage_log = self.work_dir / "storage-initializer.log"
        self.server: LocalServer | None = None
        self.emulator: GcsEmulator | None = None
        self.site: StorageSite | None = None

    def storage(self) -> StorageSite:
        if self.site is None:
            if self.settings.real_gcs:
                self.site = StorageSite(GcsStore.for_gcs(), "gcs")
            else:
                host = self.settings.storage_emulator_host
                if host is None:  # a private emulator, for this run only
                    self.emulator = GcsEmulator(self.settings.diagnostics_dir).start()
                    host = self.emulator.host
                self.site = StorageSite(GcsStore.for_emulator(host), "gcs-emulator", host)
        return self.site

    def cold_start(self, uploaded: dict[str, int], started: float) -> ColdStart | None:
        log = self.storage_log.read_text(errors="replace") if self.storage_log.is_file() else ""
        return stage_cold_start(self.timings, started, storage_log=log, uploaded=uploaded)

    def deploy(self, spec: ScenarioSpec, storage_uri: str) -> Endpoint:
        self.timings["storage-init"] = run_storage_initializer(
            storage_uri, self.model_dir, self.storage_log, emulator_host=self.storage().emulator_host)
        self.server = runtime_for(spec).start_local(spec, self.model_dir, self.work_dir, self.settings.cache_dir,
                                                    self.settings.progress, started=self._started)
        self.timings.update(self.server.timings)
        facts = self.server.endpoint_facts()
        return Endpoint(base_url=facts["base_url"], model_name=spec.model.name, protocol=spec.serving.protocol,
                        management_url=facts["management_url"], metrics_url=facts["metrics_url"],
                        grpc_target=facts["grpc_target"],
                        info={"serving_path": spec.serving.path, "model_dir": str(self.model_dir), **facts["info"]})

    def _started(self, server: LocalServer) -> None:
        self.server = server

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        sources = [(self.storage_log, "storage-initializer.log"),
                   (self.model_dir / "config" / "config.properties", "config.properties.downloaded")]
        if self.server:
            sources += self.server.config_files()
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
        if self.emulator:
            self.emulator.stop()
            self.emulator = None

"""What every target (local, kind, GKE, any kubeconfig) provides, and in which order the runner uses it.

Flow: `with target:` acquires where models run (kind: create or reuse the cluster and check
KServe; kubeconfig/gke: reach the API server and check KServe; local: nothing yet) and releases it
on the way out, even when acquiring failed halfway -> `target.storage()` says where the model must
be uploaded so that this target's storage-initializer can read it -> `target.deploy(spec,
storage_uri)` -> `Endpoint`; checks and load only ever see the Endpoint -> `target.timings` holds
the deploy's sub-phases -> `target.cold_start(uploaded, started)` that deploy phase by phase ->
`target.mark_failed()` after a failed check or SLO ->
`target.collect_diagnostics(dir)` saves logs before `teardown()` removes everything it created.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from harness.endpoint import Endpoint
from harness.kube.cold_start import stage_cold_start
from harness.report.model import ColdStart
from harness.spec import ScenarioSpec
from harness.storage import GcsStore


@dataclass(frozen=True)
class StorageSite:
    """Where a target's storage-initializer reads models from, and how to upload there.

    Attributes:
        store: the uploader (real GCS, or a GCS emulator).
        backend: "gcs" or "gcs-emulator" (for the report).
        emulator_host: the emulator the upload goes to (None for real GCS).
    """

    store: GcsStore
    backend: str
    emulator_host: str | None = None


class Target(ABC):
    """A place where a scenario's model is served."""

    name: str

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}  # the latest deploy's sub-phases, seconds, in order

    def acquire(self) -> None:
        """Reach (or create) where models run; raise EnvironmentProblem naming what is missing."""

    @abstractmethod
    def storage(self) -> StorageSite:
        """Where the model must be uploaded for this target's storage-initializer to read it."""

    @abstractmethod
    def deploy(self, spec: ScenarioSpec, storage_uri: str) -> Endpoint:
        """Make the model servable from `storage_uri`; return when it is ready (or raise DeployError)."""

    def cold_start(self, uploaded: dict[str, int], started: float) -> ColdStart | None:
        """The latest deploy phase by phase. By default its sub-phases (`timings`), back to back from
        `started` (epoch seconds); `uploaded` (object path -> bytes) sizes the download."""
        return stage_cold_start(self.timings, started, uploaded=uploaded)

    def mark_failed(self) -> None:
        """The latest scenario failed after deploy (a check or an SLO): keep what --keep-on-fail keeps."""

    @abstractmethod
    def collect_diagnostics(self, dest: Path) -> list[Path]:
        """Save logs, states and events under `dest`; return the files written."""

    @abstractmethod
    def teardown(self) -> None:
        """Remove everything this target created. Safe to call twice and after a failed acquire or deploy."""

    def __enter__(self) -> "Target":
        try:
            self.acquire()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.mark_failed()
        self.teardown()

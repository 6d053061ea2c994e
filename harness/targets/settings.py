"""What the CLI or the pytest plugin says about the target, handed to whichever target is made."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.progress import Progress


@dataclass
class TargetSettings:
    """What the CLI or the pytest plugin says about the target; each target reads what it needs."""

    run_id: str
    work_dir: Path  # the run's working directory (the local target's processes live there)
    diagnostics_dir: Path
    cache_dir: Path
    progress: Progress
    real_gcs: bool = False
    storage_emulator_host: str | None = None  # an emulator the predictor can reach, named by the user
    kubeconfig: str | None = None
    context: str | None = None
    keep_on_fail: bool = False
    keep_cluster: bool = False

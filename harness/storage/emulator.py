"""A GCS emulator (gcp-storage-emulator) on 127.0.0.1, for runs that need no cloud credentials.

Flow: `with GcsEmulator(log_dir) as emu:` starts it in its own process group on a free port,
waits until it answers, and stops it (whole group) on exit. `emu.host` is the value for
STORAGE_EMULATOR_HOST — with the scheme, since kserve-storage fails without it.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx

from harness.errors import EnvironmentProblem
from harness.procs import ProcessGroup
from harness.waits import free_port, wait_until


class GcsEmulator:
    def __init__(self, log_dir: Path, *, startup_timeout_s: float = 20.0) -> None:
        self.port = free_port()
        self.host = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / "gcs-emulator.log"
        self.startup_timeout_s = startup_timeout_s
        exe = shutil.which("gcp-storage-emulator", path=str(Path(sys.executable).parent))
        cmd = [exe] if exe else [sys.executable, "-m", "gcp_storage_emulator"]
        self.group = ProcessGroup(
            [*cmd, "start", "--host", "127.0.0.1", "--port", str(self.port), "--in-memory"],
            name="GCS emulator", log_path=self.log_path,
        )

    def _answers(self) -> bool | None:
        if (code := self.group.exited()) is not None:
            log = self.log_path.read_text(errors="replace")[-2000:]
            raise EnvironmentProblem(f"GCS emulator exited with status {code} during start-up",
                                     where=str(self.log_path), details=log)
        try:
            httpx.get(f"{self.host}/storage/v1/b", timeout=1.0)
            return True
        except httpx.TransportError:
            return None

    def start(self) -> "GcsEmulator":
        self.group.start()
        try:
            wait_until(self._answers, what="GCS emulator answering", where=self.host,
                       timeout_s=self.startup_timeout_s, error=EnvironmentProblem,
                       hint=f"see {self.log_path}")
        except BaseException:
            self.group.stop()
            raise
        return self

    def stop(self) -> None:
        self.group.stop(grace_s=3.0)

    def __enter__(self) -> "GcsEmulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

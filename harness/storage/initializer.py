"""The storage-initializer step, as KServe's init container runs it: kserve-storage downloads
the storageUri into the model directory. Run as its own process (download.py beside this file,
by path: it imports nothing of the harness), so its output is a log of its own, its environment (STORAGE_EMULATOR_HOST) is its own, and a failure
is an exit status — exactly what the Kubernetes targets read from the init container.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from harness.errors import DeployError
from harness.procs import merged_env

DOWNLOAD_SCRIPT = Path(__file__).with_name("download.py")


def run_storage_initializer(uri: str, dest: Path, log_path: Path, *, emulator_host: str | None,
                            timeout_s: float = 300.0) -> float:
    """Download `uri` into `dest` in a child process; its output goes to `log_path`.

    Returns the seconds it took. Raises DeployError quoting the log's last line on failure.
    """
    env = {"STORAGE_EMULATOR_HOST": emulator_host} if emulator_host else {}
    start = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.run([sys.executable, str(DOWNLOAD_SCRIPT), uri, str(dest)],
                                  env=merged_env(env), stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s,
                                  start_new_session=True)
        except subprocess.TimeoutExpired as exc:
            raise DeployError(f"storage-initializer did not finish within {timeout_s:.0f}s", where=uri,
                              diagnostics=[log_path]) from exc
    if proc.returncode != 0:
        text = log_path.read_text(errors="replace").strip()
        last = text.splitlines()[-1] if text else "no output"
        raise DeployError(f"storage-initializer failed: {last}", where=uri, details=text[-4000:],
                          hint="check storage.uri and that the upload reached it", diagnostics=[log_path])
    return time.monotonic() - start



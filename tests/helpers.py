"""Shared test helpers: where ../shared is, and what a run left running."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FIXTURES = REPO / "fixtures"
SCENARIOS = REPO / "scenarios"


def processes_touching(path: Path) -> list[str]:
    """Processes whose command line, environment or open files mention `path` (a run directory).

    Every process a run starts inherits TMPDIR, a log file descriptor or a path under its run
    directory, so this finds TorchServe's launcher, its JVM and its Python workers, the
    storage-initializer and the GCS emulator without mistaking another run's processes for ours.
    """
    needle = str(path).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            hit = needle in cmdline or needle in (entry / "environ").read_bytes()
            if not hit:
                hit = any(needle in os.readlink(fd).encode() for fd in (entry / "fd").iterdir())
        except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError):
            continue
        if hit:
            found.append(f"{entry.name}: {cmdline.replace(bytes(1), b' ').decode(errors='replace')[:200]}")
    return found


def eventually(probe: Callable[[], T], timeout_s: float = 10.0, what: str = "condition") -> T:
    """Poll `probe` until it returns something truthy (returned); fail the test at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g}s")
        time.sleep(0.02)  # sleep-ok: the poll interval of a deadline loop

"""Shared test helpers: where ../shared is, and what a run left running."""
from __future__ import annotations

import importlib.util
import json
import os
import time
import types
from pathlib import Path
from typing import Callable, TypeVar

from harness.report.model import Report
from harness.waits import port_is_free

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FIXTURES = REPO / "fixtures"
SCENARIOS = REPO / "scenarios"
TEST_DATA = REPO / "tests" / "data"


def load_file_module(path: Path, name: str) -> types.ModuleType:
    """Import a script that is not on sys.path (fixtures/build_*.py, a handler file) as `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def offline_gcs_credentials(path: Path) -> Path:
    """Write service-account credentials whose token endpoint is a closed local port: a GCS client
    can be built from them, and any call fails on this machine (as without network) instead of
    reaching Google."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from harness.waits import free_port

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "harness-test", "private_key_id": "1", "private_key": key,
        "client_email": "harness@harness-test.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": f"http://127.0.0.1:{free_port()}/token"}))
    return path


def run_ports(report: Report) -> list[int]:
    ports = list(report.endpoint.get("ports", {}).values()) + list((report.endpoint.get("front_ports") or {}).values())
    host = report.storage.get("emulator_host")
    return ports + ([int(host.rsplit(":", 1)[1])] if host else [])


def assert_nothing_left(report: Report, report_dir: Path) -> None:
    run_dir = report_dir / report.run_id
    assert processes_touching(run_dir) == []
    assert [p for p in run_ports(report) if not port_is_free(p)] == []

"""Fixtures for the load engine's tests: the calibrated predictor and the fast endpoint, each in
its own process group (so a test can kill one mid-run), on a free port of 127.0.0.1."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness.procs import ProcessGroup
from harness.endpoint import Endpoint
from harness.waits import free_port, wait_until

HERE = Path(__file__).resolve().parent
MODEL = "calibrated"
BODY = b'{"instances": [[1.0, 2.0]]}'


@dataclass
class Server:
    group: ProcessGroup
    port: int
    endpoint: Endpoint

    def kill(self) -> None:
        self.group.stop(grace_s=2.0)


def _start(script: str, args: list[str], log: Path, metrics: bool) -> Server:
    port = free_port()
    group = ProcessGroup([sys.executable, str(HERE / script), "--port", str(port), *args],
                         name=script, log_path=log).start()
    base = f"http://127.0.0.1:{port}"

    def up() -> bool | None:
        if group.exited() is not None:
            raise RuntimeError(f"{script} exited: {log.read_text()[-500:]}")
        try:
            return httpx.post(f"{base}/v1/models/{MODEL}:predict", content=BODY, timeout=2).status_code < 500 or None
        except httpx.HTTPError:
            return None

    try:
        wait_until(up, what=f"{script} answering", where=base, timeout_s=15, interval_s=0.05)
    except BaseException:
        group.stop()
        raise
    ep = Endpoint(base_url=base, model_name=MODEL, protocol="v1",
                  management_url=base if metrics else None, metrics_url=f"{base}/metrics" if metrics else None)
    return Server(group, port, ep)


@pytest.fixture
def calibrated(tmp_path):
    """Factory: calibrated(service_ms=50, workers=4, batch_size=1, delay_ms=0, envelope_bug=False)."""
    started: list[Server] = []

    def make(service_ms: float = 50.0, workers: int = 4, batch_size: int = 1, delay_ms: float = 0.0,
             envelope_bug: bool = False) -> Server:
        args = ["--model", MODEL, "--service-ms", str(service_ms), "--workers", str(workers),
                "--batch-size", str(batch_size), "--max-batch-delay-ms", str(delay_ms)]
        if envelope_bug:
            args.append("--envelope-bug")
        srv = _start("calibrated_server.py", args, tmp_path / f"calibrated-{len(started)}.log", metrics=True)
        started.append(srv)
        return srv

    yield make
    for s in started:
        s.group.stop()


@pytest.fixture
def fast_server(tmp_path):
    srv = _start("fast_server.py", [], tmp_path / "fast.log", metrics=False)
    yield srv
    srv.group.stop()

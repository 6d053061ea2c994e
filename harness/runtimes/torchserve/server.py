"""What the kserve-torchserve container runs: TorchServe, then KServe's front in front of it.

Flow: `ImageServer(model_dir, work_dir, env=..., envelope=..., protocol=...)` -> `start()` starts
TorchServe from the runtime environment (as the image's entrypoint does first) ->
`wait_ready(model)` waits for TorchServe's READY worker (the readiness truth, with the worker's own
error when it dies), then starts the front and waits for KServe's readiness endpoints ->
`stop()` stops the front and TorchServe, each by its process group. Used by the local target and
by the fake kubelet alike, so pod port 8080 is the front there too.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from harness.procs import ProcessGroup

from harness.runtimes.environment import RuntimeEnv
from harness.runtimes.torchserve.front import KServeFront
from harness.runtimes.torchserve.process import TorchServe


class ImageServer:
    """TorchServe plus its KServe front, for one model directory.

    Args:
        model_dir: the storage-initializer's download (config/ and model-store/).
        work_dir: logs and local config of both processes.
        env: the runtime environment both run from.
        envelope: TS_SERVICE_ENVELOPE (kserve, kservev2 or none).
        protocol: the front's PROTOCOL_VERSION (v1, v2, grpc-v2).
        front: False runs TorchServe alone (serving.path: direct needs no front at all).
    """

    def __init__(self, model_dir: Path, work_dir: Path, *, env: RuntimeEnv, envelope: str, protocol: str,
                 front: bool = True) -> None:
        self.env = env
        self.protocol = protocol
        self.torchserve = TorchServe(model_dir, work_dir, envelope=envelope, executable=env.torchserve)
        self.front = KServeFront(env, self.torchserve.config_path, work_dir, protocol=protocol) if front else None
        self.timings: dict[str, float] = {}

    @property
    def work_dir(self) -> Path:
        return self.torchserve.work_dir

    def start(self) -> "ImageServer":
        self.torchserve.start()
        return self

    def wait_ready(self, model_name: str, timeout_s: float) -> float:
        """TorchServe READY, then the front ready, within one deadline; the seconds it took."""
        start = time.monotonic()
        self.timings["torchserve-ready"] = self.torchserve.wait_ready(model_name, timeout_s)
        if self.front:
            self.front.start()
            left = max(1.0, timeout_s - (time.monotonic() - start))
            self.timings["front-ready"] = self.front.wait_ready(model_name, left)
        return time.monotonic() - start

    def groups(self) -> list[ProcessGroup]:
        """The process groups started so far (TorchServe's, then the front's)."""
        return [g for g in (self.torchserve.group, self.front.group if self.front else None) if g]

    def exited(self) -> int | None:
        """The exit status of whichever process ended first, or None while all run."""
        for group in self.groups():
            if (code := group.exited()) is not None:
                return code
        return None

    def terminate(self) -> None:
        """SIGTERM every group now, without waiting (stop() does the waiting)."""
        for group in self.groups():
            if group.pid:
                try:
                    os.killpg(group.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def endpoint_facts(self) -> dict[str, Any]:
        """The Endpoint's URLs and the report's facts (LocalServer protocol)."""
        ts, front = self.torchserve, self.front
        return {"base_url": front.url if front else ts.inference_url, "management_url": ts.management_url,
                "metrics_url": ts.metrics_url,
                # grpc-v2 is the front's (TorchServe's own gRPC API is not the Open Inference Protocol).
                "grpc_target": front.grpc_target if front and self.protocol == "grpc-v2" else None,
                "info": {"pid": ts.group.pid if ts.group else None,
                         "front_pid": front.group.pid if front and front.group else None, "ports": vars(ts.ports),
                         "front_ports": {"http": front.http_port, "grpc": front.grpc_port} if front else None,
                         "runtime_env": str(self.env.root), "runtime_versions": self.env.versions}}

    def config_files(self) -> list[tuple[Path, str]]:
        return [(self.torchserve.config_path, "config.properties.local")]

    def stdout_files(self) -> list[Path]:
        """What the container would print: TorchServe's output, then the front's."""
        return [self.torchserve.work_dir / "torchserve.out"] + ([self.front.log_path] if self.front else [])

    def log_files(self) -> list[Path]:
        return self.torchserve.log_files() + ([self.front.log_path] if self.front else [])

    def stop(self) -> None:
        # Both at once: nothing is served any more, and TorchServe's JVM shutdown (~2.5 s) dominates.
        front = threading.Thread(target=self.front.stop, name="stop-kserve-front") if self.front else None
        if front:
            front.start()
        try:
            self.torchserve.stop()
        finally:
            if front:
                front.join()

    def __enter__(self) -> "ImageServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""One KServe Python ModelServer process, started from a runtime environment.

Flow: `ModelServerProcess(env, argv, work_dir, protocol=...)` -> `start()` runs `env.python *argv`
in its own process group on free 127.0.0.1 ports (in a pod: REST 8080, gRPC 8081, KServe's
defaults) -> `wait_ready(model)` polls KServe's own readiness endpoints (V1 `/v1/models/NAME`, V2
`/v2/health/ready` and `/v2/models/NAME/ready`) and fails at once, quoting the process's error,
when it exits -> `stop()`. Both runtimes use it: the ModelServer runtime's predictor, and the
KServe front before TorchServe (harness/runtimes/torchserve/front.py).
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx

from harness.errors import DeployError
from harness.procs import ProcessGroup
from harness.runtimes.environment import RuntimeEnv
from harness.waits import free_port, wait_until

POD_HTTP_PORT = 8080
POD_GRPC_PORT = 8081
_ERROR_LINE = re.compile(r"^\w+(\.\w+)*(Error|Exception|Exit): ")


class ModelServerProcess:
    """A kserve ModelServer (any script that starts one) on free ports.

    Args:
        env: the runtime environment whose python runs it.
        argv: the script and its arguments; --http_port and --grpc_port are appended.
        work_dir: its working directory and log.
        protocol: v1, v2 or grpc-v2: which readiness endpoints answer for it.
        name: how messages name it.
        log_name: its output file in work_dir (and in the report's diagnostics/).
        extra_env: environment variables besides the harness's.
        ready_hint: what a readiness timeout message tells the user to read.
    """

    def __init__(self, env: RuntimeEnv, argv: list[str | Path], work_dir: Path, *, protocol: str,
                 name: str = "KServe ModelServer", log_name: str = "modelserver.out",
                 extra_env: dict[str, str] | None = None, ready_hint: str | None = None) -> None:
        self.env = env
        self.argv = list(argv)
        self.work_dir = work_dir
        self.protocol = protocol
        self.name = name
        self.extra_env = dict(extra_env or {})
        self.ready_hint = ready_hint or f"its output is {log_name} in the report's diagnostics/"
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.log_path = work_dir / log_name
        self.group: ProcessGroup | None = None
        self.timings: dict[str, float] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"

    def start(self) -> "ModelServerProcess":
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.group = ProcessGroup(
            [self.env.python, *self.argv, f"--http_port={self.http_port}", f"--grpc_port={self.grpc_port}"],
            name=self.name, log_path=self.log_path, cwd=self.work_dir,
            env={"PYTHONUNBUFFERED": "1", **self.extra_env},
        ).start()
        return self

    def stop(self) -> None:
        if self.group:
            self.group.stop(grace_s=5.0)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def error_line(self) -> str:
        """The process's error: its last Python exception line, else its last log line."""
        lines = self.output().strip().splitlines()
        errors = [ln.strip() for ln in lines if _ERROR_LINE.match(ln.strip())]
        return errors[-1] if errors else (lines[-1].strip() if lines else "no output")

    def _ready_paths(self, model: str) -> list[str]:
        if self.protocol == "v1":
            return [f"/v1/models/{model}"]
        return ["/v2/health/ready", f"/v2/models/{model}/ready"]

    def _probe(self, model: str) -> bool | None:
        if self.group and (code := self.group.exited()) is not None:
            raise DeployError(f"the {self.name} exited with status {code} during start-up: {self.error_line()}",
                              where=str(self.log_path), details=self.output()[-4000:], hint=self.ready_hint)
        try:
            for path in self._ready_paths(model):
                r = httpx.get(f"{self.url}{path}", timeout=2.0, trust_env=False)
                if r.status_code != 200 or (path.startswith("/v1/") and not r.json().get("ready")):
                    return None
        except (httpx.TransportError, ValueError):
            return None
        return True

    def wait_ready(self, model: str, timeout_s: float) -> float:
        """Block until KServe's readiness endpoints say ready; the seconds it took."""
        start = time.monotonic()
        wait_until(lambda: self._probe(model), what=f"the {self.name} ready for {model!r}", where=self.url,
                   timeout_s=timeout_s, interval_s=0.1, last_seen=self.error_line, hint=self.ready_hint)
        return time.monotonic() - start

    # -- LocalServer (harness.runtimes.base) ------------------------------------------------------
    def endpoint_facts(self) -> dict[str, Any]:
        return {"base_url": self.url, "management_url": None, "metrics_url": self.metrics_url,
                "grpc_target": self.grpc_target if self.protocol == "grpc-v2" else None,
                "info": {"pid": self.group.pid if self.group else None,
                         "ports": {"http": self.http_port, "grpc": self.grpc_port},
                         "runtime_env": str(self.env.root), "runtime_versions": self.env.versions}}

    def log_files(self) -> list[Path]:
        return [self.log_path]

    def config_files(self) -> list[tuple[Path, str]]:
        return []

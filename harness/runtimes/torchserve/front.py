"""The KServe front of the kserve-torchserve image, started from the runtime environment.

Flow: `KServeFront(env, config_path, work_dir, protocol)` is a KServe ModelServer process
(harness/runtimes/kserve/process.py) running wrapper/kserve_front.py with the runtime
environment's python, on free 127.0.0.1 ports (in a pod: REST 8080, gRPC 8081); its readiness is
KServe's own endpoints, and it fails at once, quoting the front's error, when the process exits.
"""
from __future__ import annotations

from pathlib import Path

from harness.runtimes.environment import RuntimeEnv
from harness.runtimes.kserve.process import ModelServerProcess

WRAPPER = Path(__file__).resolve().parent / "wrapper" / "kserve_front.py"


class KServeFront(ModelServerProcess):
    """One KServe ModelServer in front of one TorchServe.

    Args:
        env: the runtime environment (its python runs the front, as in the image).
        config_path: the config.properties TorchServe was started with (addresses, model_snapshot).
        work_dir: where its log goes.
        protocol: PROTOCOL_VERSION: v1, v2 or grpc-v2.
        load_delay_s: MODEL_LOAD_DELAY. The image's default is 30 s between readiness tries; the
            harness starts the front only once TorchServe is READY, so the first try succeeds.
    """

    def __init__(self, env: RuntimeEnv, config_path: Path, work_dir: Path, *, protocol: str,
                 load_delay_s: float = 0.5) -> None:
        super().__init__(env, [WRAPPER, f"--config_path={config_path}"], work_dir, protocol=protocol,
                         name="KServe front", log_name="kserve-front.out",
                         extra_env={"PROTOCOL_VERSION": protocol, "MODEL_LOAD_DELAY": str(load_delay_s),
                                    "MODEL_LOAD_MAX_TRY": "20", "MODEL_LOAD_TIMEOUT": "5"},
                         ready_hint="TorchServe was READY; the front's log is kserve-front.out in diagnostics/")
        self.config_path = config_path
        self.load_delay_s = load_delay_s

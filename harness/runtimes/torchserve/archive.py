"""Build the TorchServe archive and the config.properties KServe's TorchServe runtime reads.

Flow: `render_config_properties(spec)` -> the text uploaded as config/config.properties;
`build_archive(spec, cache_dir)` -> NAME.mar built by the real torch-model-archiver, reused when
the content hash of every input (files, flags, archiver version) is unchanged.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import version
from pathlib import Path

from harness.errors import ConfigError
from harness.runtimes.torchserve import batch_metric
from harness.procs import run
from harness.spec import ScenarioSpec

# Where KServe mounts the storage-initializer's download inside the predictor pod.
KSERVE_MODEL_DIR = "/mnt/models"
DEFAULT_MAX_BATCH_DELAY_MS = 100  # TorchServe's own default

_TORCHSERVE_HANDLER_FILES = {"tensor": "tensor_handler.py"}


def handler_argument(spec: ScenarioSpec) -> str:
    """What to pass as --handler: our packaged file, a TorchServe built-in name, or the user's path."""
    handler = spec.model.handler
    if handler in _TORCHSERVE_HANDLER_FILES:
        return str(resources.files("harness.runtimes.torchserve.handlers") / _TORCHSERVE_HANDLER_FILES[handler])
    return handler


def model_snapshot(spec: ScenarioSpec) -> dict:
    """The model_snapshot entry: registers the model at start-up with its batching settings."""
    user = spec.torchserve.properties.get("model_snapshot")
    if user is not None:
        return json.loads(user) if isinstance(user, str) else user
    ts = spec.torchserve
    return {
        "name": "startup.cfg",
        "modelCount": 1,
        "models": {
            spec.model.name: {
                spec.model.version: {
                    "defaultVersion": True,
                    "marName": f"{spec.model.name}.mar",
                    "minWorkers": ts.min_workers,
                    "maxWorkers": ts.max_workers,
                    "batchSize": ts.batch_size,
                    "maxBatchDelay": ts.max_batch_delay_ms if ts.max_batch_delay_ms is not None
                    else DEFAULT_MAX_BATCH_DELAY_MS,
                    "responseTimeout": ts.response_timeout_s,
                }
            }
        },
    }


def _prop_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def config_properties(spec: ScenarioSpec) -> dict[str, str]:
    """config.properties as KServe's TorchServe runtime needs it, as an ordered mapping."""
    props: dict[str, object] = {
        "inference_address": "http://0.0.0.0:8085",
        "management_address": "http://0.0.0.0:8085",
        "metrics_address": "http://0.0.0.0:8082",
        "grpc_inference_port": 7070,
        "grpc_management_port": 7071,
        # KServe passes the protocol's envelope in TS_SERVICE_ENVELOPE; TorchServe only reads
        # environment variables when this is on. 'none' turns it off: the handler parses itself.
        "enable_envvars_config": spec.serving.effective_envelope != "none",
        "disable_token_authorization": True,  # else every call gets 400 without a token
        "enable_metrics_api": True,
        "metrics_mode": "prometheus",
        "metrics_format": "prometheus",
        # Expose handler metrics (the batch-size counter) on the Prometheus endpoint without a yaml.
        "model_metrics_auto_detect": True,
        "model_store": f"{KSERVE_MODEL_DIR}/model-store",
    }
    props.update({k: v for k, v in spec.torchserve.properties.items() if k != "model_snapshot"})
    props["model_snapshot"] = model_snapshot(spec)
    return {k: _prop_value(v) for k, v in props.items()}


def render_config_properties(spec: ScenarioSpec) -> str:
    lines = [f"# rendered by kserve-harness for scenario {spec.name}"]
    lines += [f"{k}={v}" for k, v in config_properties(spec).items()]
    return "\n".join(lines) + "\n"


def parse_properties(text: str) -> dict[str, str]:
    """Read a config.properties (key=value lines, # comments)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def write_properties(props: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in props.items())


# -- the archive -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Archive:
    path: Path
    sha256: str  # of the .mar file itself
    inputs_hash: str  # of everything that went into it (the cache key)
    reused: bool
    seconds: float


def _hash_path(h: "hashlib._Hash", path: Path) -> None:
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and "__pycache__" not in child.parts:
                h.update(str(child.relative_to(path)).encode())
                h.update(child.read_bytes())
    else:
        h.update(path.read_bytes())


def archiver_command(spec: ScenarioSpec, export_path: Path) -> list[str]:
    m = spec.model
    cmd = [
        sys.executable, "-m", "model_archiver.model_packaging",
        "--model-name", m.name, "--version", m.version,
        "--serialized-file", str(m.serialized_file),
        "--handler", handler_argument(spec),
        "--runtime", "python",
        "--export-path", str(export_path), "--force",
    ]
    if m.model_file:
        cmd += ["--model-file", str(m.model_file)]
    cmd += ["--extra-files", ",".join(str(p) for p in extra_files(spec))]
    if m.requirements_file:
        cmd += ["--requirements-file", str(m.requirements_file)]
    return cmd


def extra_files(spec: ScenarioSpec) -> list[Path]:
    """The user's extra files plus batch_metric.py, so that any handler can count its batches."""
    return [*spec.model.extra_files, batch_metric.source_path()]


def inputs_hash(spec: ScenarioSpec) -> str:
    h = hashlib.sha256()
    h.update(f"torch-model-archiver {version('torch-model-archiver')}".encode())
    m = spec.model
    h.update(json.dumps([m.name, m.version, m.handler], sort_keys=True).encode())
    files = [m.serialized_file, m.model_file, m.requirements_file, *extra_files(spec)]
    if not m.builtin_handler or m.handler in _TORCHSERVE_HANDLER_FILES:
        files.append(Path(handler_argument(spec)))
    for p in files:
        if p is not None:
            h.update(b"\0" + str(p.name).encode() + b"\0")
            _hash_path(h, p)
    return h.hexdigest()


def build_archive(spec: ScenarioSpec, cache_dir: Path) -> Archive:
    """Build NAME.mar with torch-model-archiver, or reuse the cached one for identical inputs."""
    start = time.monotonic()
    key = inputs_hash(spec)
    slot = cache_dir / "archives" / key[:24]
    mar = slot / f"{spec.model.name}.mar"
    reused = mar.is_file()
    if not reused:
        _build_into_slot(spec, slot)
    digest = hashlib.sha256(mar.read_bytes()).hexdigest()
    return Archive(path=mar, sha256=digest, inputs_hash=key, reused=reused, seconds=time.monotonic() - start)


def _build_into_slot(spec: ScenarioSpec, slot: Path) -> None:
    """Build in a folder of this process's own, then publish it by one rename.

    Any number of runs may build the same archive at once (two CI jobs after a model change): each
    builds privately; the first rename wins and the others, finding the slot taken by an archive
    built from the same inputs, drop theirs. A half-built archive is never visible.
    """
    slot.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{slot.name}.partial-", dir=slot.parent))
    scratch = Path(tempfile.mkdtemp(prefix=f"{slot.name}.scratch-", dir=slot.parent))
    try:
        # torch-model-archiver stages files in $TMPDIR/<model name>: a private TMPDIR per build,
        # or two concurrent builds of one model delete each other's files.
        run(archiver_command(spec, tmp), what="torch-model-archiver failed", error=ConfigError,
            env={"TMPDIR": str(scratch)}, hint="check model.serialized_file, model.handler and model.extra_files")
        try:
            tmp.rename(slot)
        except OSError:  # another run published the same inputs first (ENOTEMPTY / EEXIST)
            if not (slot / f"{spec.model.name}.mar").is_file():  # a broken slot from an old harness
                shutil.rmtree(slot, ignore_errors=True)
                tmp.rename(slot)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)

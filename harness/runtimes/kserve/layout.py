"""What the ModelServer runtime uploads under the storage URI, and how its predictor is started.

Flow: `model_objects(spec)` -> object name -> bytes: the harness's predictor entry
(kserve_harness_predictor.py), the serialized model, the user's kserve.Model file and every extra
file, all at the top of the storage URI, the layout a KServe custom predictor reads from
/mnt/models -> `predictor_args(spec, model_dir)`, the one command line the local target and the
InferenceService both run.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from harness.errors import ConfigError
from harness.spec import ScenarioSpec

MODEL_MOUNT = "/mnt/models"  # where KServe mounts the storage-initializer's download
ENTRY = Path(__file__).resolve().parent / "predictor" / "kserve_harness_predictor.py"


def _files_under(path: Path) -> list[tuple[str, Path]]:
    """(object name, file): a file as its name, a folder as name/relative path of each file in it."""
    if path.is_file():
        return [(path.name, path)]
    return [(f"{path.name}/{p.relative_to(path).as_posix()}", p) for p in sorted(path.rglob("*")) if p.is_file()]


def model_objects(spec: ScenarioSpec) -> dict[str, bytes]:
    """Everything the predictor needs, by object name under the storage URI.

    Raises:
        ConfigError: two inputs would land on the same object name.
    """
    m = spec.model
    named: list[tuple[str, str, Path]] = [("the harness's predictor entry", ENTRY.name, ENTRY),
                                          ("model.serialized_file", m.serialized_file.name, m.serialized_file)]
    if m.handler != "tensor":
        named.append(("model.handler", Path(m.handler).name, Path(m.handler)))
    for i, extra in enumerate(m.extra_files):
        named += [(f"model.extra_files[{i}]", name, path) for name, path in _files_under(extra)]
    objects: dict[str, bytes] = {}
    owner: dict[str, str] = {}
    for key, name, path in named:
        if name in owner:
            raise ConfigError(f"{key} and {owner[name]} are both uploaded as {name!r} (the ModelServer reads every "
                              "file from the top of /mnt/models)", where=str(spec.source or spec.name),
                              hint="rename one of the files")
        owner[name] = key
        objects[name] = path.read_bytes()
    return objects


def objects_sha256(objects: dict[str, bytes]) -> str:
    """One digest over the names and contents, order-independent (the report's archive sha256)."""
    h = hashlib.sha256()
    for name in sorted(objects):
        h.update(name.encode() + b"\0" + hashlib.sha256(objects[name]).digest())
    return h.hexdigest()


def predictor_args(spec: ScenarioSpec, model_dir: str | Path = MODEL_MOUNT) -> list[str]:
    """The predictor's arguments after its script (KServe's ModelServer flags included)."""
    k, m = spec.kserve, spec.model
    args = [f"--model_name={m.name}", f"--model_dir={model_dir}", f"--serialized_file={m.serialized_file.name}",
            f"--handler={'tensor' if m.handler == 'tensor' else Path(m.handler).name}",
            f"--workers={k.workers}", f"--max_threads={k.max_threads}"]
    if k.max_asyncio_workers is not None:
        args.append(f"--max_asyncio_workers={k.max_asyncio_workers}")
    return args

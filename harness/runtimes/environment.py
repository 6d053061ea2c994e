"""A runtime image's Python environment, built once per image and shared by every run.

Flow: `runtime_environment(image, cache_dir)` -> an existing, complete venv under
<cache>/runtimes/<image.env_name>-<hash> (hash of its requirements), or one built now under a
file lock (any number of concurrent runs and CI jobs wait for the one builder) -> `RuntimeEnv`
with its python and the versions it really holds. Every runtime's processes run from there, so
they import what the image ships (TorchServe's workers: torch, torchvision, captum; KServe's
ModelServer: its `kserve` release), apart from the harness's own environment (whose torch and
kubernetes pins differ).

An image is any object with `reference`, `env_name`, `torch`, `local_requirements()` (torch
first), `import_check` (Python that imports what must work) and `size_note` (for the progress line).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import EnvironmentProblem
from harness.procs import run
from harness.progress import Progress
from typing import Protocol

_COMPLETE = "harness-runtime.json"  # written last: an environment without it is unfinished
_PACKAGES = ("torch", "torchvision", "captum", "torchserve", "kserve", "numpy", "grpcio", "protobuf")  # those present
BUILD_TIMEOUT_S = 1800.0


class EnvironmentImage(Protocol):
    """What the builder needs of a runtime image (TorchServe's RuntimeImage, the ModelServerImage)."""

    reference: str
    env_name: str
    torch: str
    import_check: str  # Python that imports what the runtime needs
    size_note: str  # "about 5.5 GB, ~2 min", for the progress line

    def local_requirements(self) -> list[str]: ...


def default_cache_dir() -> Path:
    """~/.cache/kserve-harness (XDG_CACHE_HOME respected): archives and runtime environments."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kserve-harness"


@dataclass(frozen=True)
class RuntimeEnv:
    """A finished runtime environment.

    Attributes:
        root: the venv folder.
        image: the image it stands in for.
        versions: the versions of the packages that matter, as installed.
        build_seconds: how long building it took (0 when it was reused).
    """

    root: Path
    image: EnvironmentImage
    versions: dict[str, str]
    build_seconds: float = 0.0

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def torchserve(self) -> Path:
        return self.root / "bin" / "torchserve"

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file() and not p.is_symlink())


def env_dir(image: EnvironmentImage, cache_dir: Path) -> Path:
    key = hashlib.sha256(json.dumps(image.local_requirements()).encode()).hexdigest()[:10]
    return cache_dir / "runtimes" / f"{image.env_name}-{key}"


def read_environment(image: EnvironmentImage, cache_dir: Path) -> RuntimeEnv | None:
    """The finished environment for `image`, or None when it has not been built (nothing is built)."""
    return _read_complete(env_dir(image, cache_dir), image)


def _read_complete(root: Path, image: EnvironmentImage) -> RuntimeEnv | None:
    try:
        meta = json.loads((root / _COMPLETE).read_text())
    except (OSError, ValueError):
        return None
    if not (root / "bin" / "python").exists():
        return None
    return RuntimeEnv(root=root, image=image, versions=meta.get("versions", {}))


_VERSIONS = f"""
import importlib.metadata as m, json, platform
out = {{"python": platform.python_version()}}
for name in {_PACKAGES!r}:
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        pass
print(json.dumps(out))
"""


def _build(root: Path, image: EnvironmentImage, progress: Progress) -> RuntimeEnv:
    start = time.monotonic()
    shutil.rmtree(root, ignore_errors=True)  # a half-built one from a killed build
    root.parent.mkdir(parents=True, exist_ok=True)
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    hint = "check that PyPI is reachable and the disk has ~7 GB free; then run `harness runtime build`"
    with progress.phase("runtime-env", f"building the {image.reference} Python environment once "
                                       f"(torch {image.torch}, {image.size_note})"):
        run([base_python, "-m", "venv", str(root)], what="python -m venv", timeout=120, hint=hint)
        pip = [str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        reqs = image.local_requirements()
        # torch first, pinned exactly, so nothing later can pull another build of it.
        first = [r for r in reqs if r.startswith(("torch==", "torchvision=="))]
        run(pip + first, what=f"pip install {' '.join(first)}", timeout=BUILD_TIMEOUT_S, hint=hint)
        run(pip + reqs, what=f"pip install {' '.join(r for r in reqs if r not in first)}", timeout=BUILD_TIMEOUT_S,
            hint=hint)
        run([str(root / "bin" / "python"), "-c", image.import_check], what="importing the runtime's packages",
            timeout=300, hint="the runtime environment is broken; delete it and rebuild: harness runtime build")
        versions = json.loads(run([str(root / "bin" / "python"), "-c", _VERSIONS], what="reading versions",
                                  timeout=120).stdout)
        seconds = round(time.monotonic() - start, 1)
        (root / _COMPLETE).write_text(json.dumps({"image": image.reference, "requirements": reqs,
                                                  "versions": versions, "build_seconds": seconds}, indent=2))
    return RuntimeEnv(root=root, image=image, versions=versions, build_seconds=seconds)


def runtime_environment(image: EnvironmentImage, cache_dir: Path, progress: Progress | None = None) -> RuntimeEnv:
    """The runtime environment for `image`, built first when it does not exist yet.

    Raises:
        EnvironmentProblem: it could not be built (pip failed, no network, no disk).
    """
    root = env_dir(image, cache_dir)
    if env := _read_complete(root, image):
        return env
    progress = progress or Progress()
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        lock = open(root.parent / f"{root.name}.lock", "w")
    except OSError as exc:
        raise EnvironmentProblem(f"cannot create the runtime environment folder: {exc.strerror}",
                                 where=str(root.parent), hint="pass a writable --cache-dir") from exc
    with lock:
        if not _try_lock(lock):
            progress.say(f"  waiting for another run that is building {root.name}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            # Someone else may have finished it while we waited for the lock.
            return _read_complete(root, image) or _build(root, image, progress)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _try_lock(lock) -> bool:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False

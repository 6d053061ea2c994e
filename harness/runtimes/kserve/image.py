"""The ModelServer runtime image: KServe's Python ModelServer with torch, as the harness builds it.

Flow: a scenario with `runtime: kserve` names an image tag (`kserve.image`, default DEFAULT_IMAGE)
-> `ModelServerImage` says what the container holds (the `kserve` release, torch, Python), built
from image/Dockerfile (harness/runtimes/kserve/image/) -> `local_requirements()`, what the local
runtime environment installs: the same releases, each an exact pin. KServe publishes no PyTorch
ModelServer image (its answer for PyTorch is a custom predictor, kserve/kserve#5159), so the
image is this project's: users build it once and push it where their cluster pulls from.
"""
from __future__ import annotations

from dataclasses import dataclass

REPOSITORY = "kserve-harness/kserve-modelserver"


@dataclass(frozen=True)
class ModelServerImage:
    """One ModelServer image.

    Attributes:
        tag: the image tag (the kserve release it runs).
        kserve: the `kserve` package (its ModelServer serves V1, V2 and gRPC).
        torch: torch in the image (the CPU build; the -gpu variant has the CUDA build of the same release).
        python: the image's Python (image/Dockerfile's base image).
    """

    tag: str
    kserve: str
    torch: str
    python: str

    @property
    def reference(self) -> str:
        return f"{REPOSITORY}:{self.tag}"

    @property
    def env_name(self) -> str:
        return f"kserve-modelserver-{self.tag}"

    def shipped(self) -> dict[str, str]:
        return {"kserve": self.kserve, "torch": self.torch, "python": self.python}

    def local_requirements(self) -> list[str]:
        """pip requirements of the local environment (torch first, so nothing pulls another build)."""
        return [f"torch=={self.torch}", f"kserve=={self.kserve}"]

    # What the environment builder imports to prove the environment works, and how big it gets.
    import_check = "import torch, kserve, grpc, prometheus_client"
    size_note = "about 1.3 GB, ~1.5 min"


IMAGES: dict[str, ModelServerImage] = {
    # kserve 0.21.0 (2026-09, the newest release) with torch 2.13.0 on Python 3.11: the torch the
    # harness itself runs, so the ModelServer and the in-process reference compute alike.
    "0.21.0": ModelServerImage("0.21.0", kserve="0.21.0", torch="2.13.0", python="3.11"),
}
DEFAULT_IMAGE = "0.21.0"

"""The kserve-torchserve runtime images, what each ships, and what this machine runs for it.

Flow: a scenario names an image tag (`torchserve.image`, default DEFAULT_IMAGE) -> `RuntimeImage`
says what the cluster runs (`pytorch/torchserve-kfs:<tag>`: TorchServe, torch, torchvision, captum
and the `kserve` package of pytorch/serve's `kubernetes/kserve/` at that tag) -> the manifest's
`runtimeVersion` (`runtime_version()`, `-gpu` for GPU predictors) -> `local_requirements()`, what
the local runtime environment installs: the image's own releases, each an exact pin.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

REPOSITORY = "pytorch/torchserve-kfs"
GPU_SUFFIX = "-gpu"  # KServe: PyTorchServingGPUSuffix (pkg/apis/serving/v1beta1/predictor_torchserve.go)


@dataclass(frozen=True)
class RuntimeImage:
    """One `pytorch/torchserve-kfs` release, from pytorch/serve at the same tag.

    Attributes:
        tag: the image tag (and pytorch/serve release).
        torchserve: TorchServe version in the image.
        torch: torch in the image (requirements/torch_linux.txt; the -gpu image has the CUDA build).
        torchvision: torchvision in the image (same file).
        captum: captum in the image (requirements/common.txt).
        kserve: the `kserve[storage]` release the image's front runs (kubernetes/kserve/requirements.txt).
        python: the image's Python (docker/build_image.sh PYTHON_VERSION).
        token_auth: TorchServe enforces token authorization by default (0.11.1 on).
    """

    tag: str
    torchserve: str
    torch: str
    torchvision: str
    captum: str
    kserve: str
    python: str
    token_auth: bool

    @property
    def reference(self) -> str:
        return f"{REPOSITORY}:{self.tag}"

    @property
    def env_name(self) -> str:
        return f"torchserve-kfs-{self.tag}"

    # What the environment builder imports to prove the environment works, and how big it gets.
    import_check = "import torch, torchvision, torchvision.ops, captum, kserve, ts, grpc"
    size_note = "about 5.5 GB, ~2 min"

    def runtime_version(self, gpu: bool = False) -> str:
        """predictor.model.runtimeVersion: KServe puts it in place of the runtime image's tag as
        given, so a GPU predictor must name the -gpu image itself (UpdateImageTag appends the
        suffix only when no runtimeVersion is set)."""
        return self.tag + GPU_SUFFIX if gpu else self.tag

    def shipped(self) -> dict[str, str]:
        return {"torchserve": self.torchserve, "torch": self.torch, "torchvision": self.torchvision,
                "captum": self.captum, "kserve": self.kserve, "python": self.python}

    def local_requirements(self) -> list[str]:
        """pip requirements of the local environment for this image (torch and torchvision first).

        The image's own releases: PyPI has all of them for this machine's Python (its torch is the
        CUDA build where the image has the CPU one; on a CPU machine both compute the same)."""
        return [f"torch=={self.torch}", f"torchvision=={self.torchvision}", f"captum=={self.captum}",
                f"torchserve=={self.torchserve}", f"kserve[storage]=={self.kserve}"]


# What KServe deploys for `modelFormat: pytorch` without a runtimeVersion: `pytorch/torchserve-kfs:0.9.0`
# in every release up to the newest (config/runtimes/kustomization.yaml, images: kserve-torchserve ->
# newName pytorch/torchserve-kfs, newTag 0.9.0, at kserve v0.15.2, v0.19.0, v0.20.0 and aaac4e294, the
# commit of ../shared/kserve; charts/kserve-runtime-configs/values.yaml torchserve.tag 0.9.0 at v0.20.0).
# A runtimeVersion replaces that tag verbatim (pkg/controller/v1beta1/inferenceservice/utils/utils.go
# UpdateImageTag); without one, a predictor with nvidia.com/gpu limits gets "-gpu" appended.
IMAGES: dict[str, RuntimeImage] = {
    # pytorch/serve v0.9.0 (2023-10-12): torch 2.1.0+cpu, torchvision 0.16.0+cpu, captum 0.6.0, and
    # kserve[storage]>=0.11.0 - unpinned, so the release current when the image was built: 0.11.1
    # (2023-09-22; 0.11.2 came 2023-11-15). Python 3.9 (Ubuntu 20.04).
    "0.9.0": RuntimeImage("0.9.0", torchserve="0.9.0", torch="2.1.0", torchvision="0.16.0", captum="0.6.0",
                          kserve="0.11.1", python="3.9", token_auth=False),
    # pytorch/serve v0.12.0 (2024-09-24): torch 2.4.0+cpu, torchvision 0.19.0+cpu, captum 0.6.0,
    # kserve[storage]==0.13.0. Python 3.9.
    "0.12.0": RuntimeImage("0.12.0", torchserve="0.12.0", torch="2.4.0", torchvision="0.19.0", captum="0.6.0",
                           kserve="0.13.0", python="3.9", token_auth=True),
}

# The newest image, not KServe's default (0.9.0): TorchServe 0.12.0 is the release the harness
# itself is built and tested against (the archiver, the config keys it writes), and 0.9.0 predates
# the token authorization and model-API settings every current TorchServe needs. KServe's default
# is one `torchserve.image: "0.9.0"` away; every run reports the image it rendered.
DEFAULT_IMAGE = "0.12.0"


def image(tag: str) -> RuntimeImage:
    """The image for `tag` (KeyError names the known ones)."""
    try:
        return IMAGES[tag]
    except KeyError:
        raise KeyError(f"unknown kserve-torchserve image {tag!r}; known: {', '.join(sorted(IMAGES))}") from None


_KFS_REFERENCE = re.compile(r"^(?:(?:docker\.io|index\.docker\.io)/)?pytorch/torchserve-kfs(?::(?P<tag>[\w.-]+))?$")


def kfs_tag_of(reference: str) -> str | None:
    """The tag of a `pytorch/torchserve-kfs` reference, without -gpu ("docker.io/pytorch/torchserve-kfs:
    0.12.0-gpu" -> "0.12.0"; untagged -> "latest"); None for any other image (or a digest)."""
    match = _KFS_REFERENCE.match(reference.strip())
    if not match:
        return None
    return (match["tag"] or "latest").removesuffix(GPU_SUFFIX)


def runtime_image_of(reference: str) -> RuntimeImage:
    """The image a container reference stands for ("pytorch/torchserve-kfs:0.12.0-gpu" -> 0.12.0);
    an unknown or untagged reference stands for DEFAULT_IMAGE (a custom image built on it)."""
    return IMAGES.get(kfs_tag_of(reference) or "", IMAGES[DEFAULT_IMAGE])

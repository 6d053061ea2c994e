"""The `mnist` fixture agrees with its requests and expected responses, without TorchServe.

Flow: manifest hashes -> the eager model (mnist_net.py + model.pth) on the request PNGs through
our transform gives expected_v1.json and the right digits -> our Integrated Gradients gives
expected_explain_v1.json -> the TorchScript model for image_classifier holds the same weights and,
fed ImageClassifier-style input, answers as the eager model does -> a rebuild gives the same
requests and TorchScript code (same torch) on any CPU, and on the same ATen kernels weights and
expected values within the cross-CPU tolerance. tests/test_image_handlers.py and scenarios/mnist.yaml
serve it.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import zipfile

import pytest
import torch

from tests.helpers import FIXTURES, load_file_module
from tests.numeric import CROSS_CPU_ATOL, json_differences, tensor_differences

MNIST = FIXTURES / "mnist"
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")


bm = load_file_module(MNIST / "build_mnist.py", "fixtures_build_mnist")


def _json(name: str):
    return json.loads((MNIST / name).read_text())


@pytest.fixture(scope="module")
def manifest() -> dict:
    return _json("manifest.json")


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    net = bm.load_net_module().MnistNet()
    net.load_state_dict(torch.load(str(MNIST / "model.pth"), map_location="cpu", weights_only=True))
    return net.eval()


def _request_pngs(name: str) -> list[bytes]:
    return [base64.b64decode(row["data"]) for row in _json(name)["instances"]]


def test_generated_files_match_manifest_hashes(manifest):
    assert set(manifest["sha256"]) == set(bm.GENERATED) - {"manifest.json"}
    for rel, digest in manifest["sha256"].items():
        assert hashlib.sha256((MNIST / rel).read_bytes()).hexdigest() == digest, rel


def test_expected_predictions_are_the_models_and_right(model, manifest):
    pngs = _request_pngs("request_v1.json")
    with torch.inference_mode():
        digits = model(torch.stack([bm.mnist_transform(p) for p in pngs])).argmax(1).tolist()
    assert _json("expected_v1.json") == {"predictions": digits}
    assert digits == manifest["request_digits"] == manifest["predicted_digits"]
    assert len(set(digits)) == 3


def test_expected_explanations_are_integrated_gradients(model, manifest):
    (row,) = _json("request_explain_v1.json")["instances"]
    assert row["target"] == manifest["explain_target"]
    x = bm.mnist_transform(base64.b64decode(row["data"])).unsqueeze(0)
    got = {"explanations": bm.integrated_gradients(model, x, row["target"]).tolist()}
    assert json_differences(_json("expected_explain_v1.json"), got) == []


def test_torchscript_model_is_the_same_net_behind_an_imagenet_adapter(model):
    scripted = torch.jit.load(str(MNIST / "model_imagenet.pt"), map_location="cpu").eval()
    inner = {k.removeprefix("net."): v for k, v in scripted.state_dict().items() if k.startswith("net.")}
    assert tensor_differences(model.state_dict(), inner) == []
    # A 28x28 grey image blown up 8x to 224x224, in 3 channels, ImageNet-normalised: the adapter
    # must undo exactly that and give the eager model's answer on the 28x28 original.
    grey = (torch.stack([bm.mnist_transform(p) for p in _request_pngs("request_v1.json")]) * bm.MNIST_STD
            + bm.MNIST_MEAN)
    big = grey.repeat_interleave(8, dim=2).repeat_interleave(8, dim=3).expand(-1, 3, -1, -1)
    mean = torch.tensor(bm.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(bm.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        want = model((grey - bm.MNIST_MEAN) / bm.MNIST_STD)
        got = scripted((big - mean) / std)
    assert (got - want).abs().max().item() <= CROSS_CPU_ATOL


def test_labels_name_the_ten_digits():
    assert _json("index_to_name.json") == {str(i): name for i, name in enumerate(bm.LABELS)}


# Everything build_mnist.py writes that no training touches: the same bytes on any CPU.
KERNEL_FREE = ("index_to_name.json", "request_v1.json", "request_explain_v1.json")
# Tensor storages, and the archive id torch derives from their contents.
_TENSOR_RECORD = re.compile(r"/(data/\d+|\.data/serialization_id)$")
# TorchScript's debug records quote torch's own source with the path it is installed at (the
# venv's site-packages): they differ between checkouts, and only feed error messages.
_DEBUG_RECORD = re.compile(r"\.debug_pkl$")


def _code_records(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist()
                if not _TENSOR_RECORD.search(n) and not _DEBUG_RECORD.search(n)}


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory, manifest):
    pytest.importorskip("sklearn", reason="scikit-learn (the dev extra) is needed to rebuild the fixtures")
    if torch.__version__ != manifest["versions"]["torch"]:
        pytest.skip(f"made with torch {manifest['versions']['torch']}, this is {torch.__version__}: "
                    "the archive layout and TorchScript code are only promised for the same torch")
    from harness.procs import run

    out = tmp_path_factory.mktemp("mnist-rebuilt")
    run([sys.executable, str(MNIST / "build_mnist.py"), "--out", str(out)], what="build_mnist.py", timeout=300)
    return out


@pytest.mark.slow
def test_rebuild_gives_the_same_requests_and_code(rebuilt):
    for rel in KERNEL_FREE:
        assert (rebuilt / rel).read_bytes() == (MNIST / rel).read_bytes(), f"{rel} differs when rebuilt"
    for rel in ("model.pth", "model_imagenet.pt"):
        assert _code_records(rebuilt / rel) == _code_records(MNIST / rel), f"{rel}: code or layout differs"


def _weights(path) -> dict[str, torch.Tensor]:
    if path.suffix == ".pt":  # TorchScript
        return torch.jit.load(str(path), map_location="cpu").state_dict()
    return torch.load(str(path), map_location="cpu", weights_only=True)


def _manifest_but_hashes(path) -> dict:
    manifest = json.loads(path.read_text())
    hashes = manifest.pop("sha256")
    manifest["sha256 of kernel-free files"] = {rel: hashes[rel] for rel in KERNEL_FREE}
    return manifest


@pytest.mark.slow
def test_rebuild_on_the_same_aten_kernels_agrees_within_tolerance(rebuilt, manifest):
    # Within tolerance, not the same bytes: MKL and oneDNN choose their kernels by the CPU's own
    # extensions, which ATen's capability does not name. A CI CPU with the same AVX512 ATen wrote
    # the same weights but explanations 1 float32 ulp away (oneDNN's convolution backward).
    import PIL

    made = (manifest["aten_cpu_capability"], manifest["versions"]["pillow"])
    here = (torch.backends.cpu.get_cpu_capability(), PIL.__version__)
    if made != here:
        pytest.skip(f"made with ATen kernels and Pillow {made}, this is {here}: minibatch training carries "
                    "kernel rounding into the weights, so only the requests and code are compared")
    for rel in ("model.pth", "model_imagenet.pt"):
        assert tensor_differences(_weights(MNIST / rel), _weights(rebuilt / rel)) == [], f"{rel}: weights differ"
    for rel in ("expected_v1.json", "expected_explain_v1.json"):
        assert json_differences(_json(rel), json.loads((rebuilt / rel).read_text())) == [], f"{rel} differs"
    assert json_differences(_manifest_but_hashes(MNIST / "manifest.json"),
                            _manifest_but_hashes(rebuilt / "manifest.json")) == []

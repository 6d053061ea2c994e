"""TorchServe's image handlers through the harness, on the real MNIST PNGs of ../shared/corpus.

Flow: the ten corpus PNGs (digits 0-9), the corpus V1 request `kserve-torchserve-v1/mnist.json`
and V2 BYTES request `mnist_v2_bytes.json` -> other requests written into tmp_path -> (1) the
built-in `image_classifier` handler serving the fixture's TorchScript model over V1 (base64
`instances`) and V2 (BYTES): top-5 class -> probability per image; (2) a model written like
pytorch/serve's MNIST example (eager `model_file`, a handler subclassing ImageClassifier with its
own transform) over V1: the digit per image and `:explain` (captum's Integrated Gradients), and
over V2 BYTES (the corpus request as it is). Expected values are computed here,
never by TorchServe: predictions by the fixture's model in this process (torch 2.13) on our own
PIL/torch transforms (fixtures/mnist/build_mnist.py); attributions by captum in the runtime
environment's python on our transform (tests/data/captum_reference.py), outside TorchServe.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
import torch
import yaml

from harness.procs import run
from harness.runtimes.environment import read_environment
from harness.runtimes.torchserve.image import DEFAULT_IMAGE, image
from tests.helpers import FIXTURES, SHARED, load_file_module
from tests.numeric import CROSS_CPU_ATOL

MNIST = FIXTURES / "mnist"
CORPUS = SHARED / "corpus"
TEST_PNGS = CORPUS / "torchserve-mnist" / "test_data"
CORPUS_V1 = CORPUS / "kserve-torchserve-v1" / "mnist.json"  # one instance: 2.png, "target": 0
# V2 BYTES, as pytorch/serve's KServe tests send it: one input, data [<base64 of 0.png>], shape [-1].
CORPUS_V2_BYTES = CORPUS / "torchserve-kserve" / "kf_request_json" / "v2" / "mnist" / "mnist_v2_bytes.json"
CAPTUM_REFERENCE = Path(__file__).parent / "data" / "captum_reference.py"

# One tolerance for every float here, the project's cross-CPU one (tests/numeric.py). Measured on
# this machine, with the runtime environment on torch 2.14.1 + captum 0.9.0 and on torch 2.4.0 +
# captum 0.6.0 (the 0.12.0 image's): top-5 probabilities, in-process reference (torch 2.13) against
# TorchServe: max |diff| 0.0 over all 50; attributions (|value| up to 0.67, median 0.028):
# TorchServe's captum against captum outside it 0.0, our own Integrated Gradients (torch 2.13)
# against captum 8.1e-8. Deliberate changes are far above it: one quadrature step more or less
# moves attributions by 0.05, Normalize's std 0.3081 -> 0.31 by 0.025, another target by 1.08.
ATOL = CROSS_CPU_ATOL
IG_STEPS = 15  # what VisionHandler.get_insights asks captum for

pytestmark = [
    pytest.mark.skipif(not TEST_PNGS.is_dir(), reason=f"{TEST_PNGS} is absent (../shared is not beside the repo)"),
    # TorchServe 0.12 loads .pt files with torch.jit.load, which torch 2.13 deprecates.
    pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning"),
]


bm = load_file_module(MNIST / "build_mnist.py", "fixtures_build_mnist")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def corpus_pngs() -> list[bytes]:
    return [(TEST_PNGS / f"{digit}.png").read_bytes() for digit in range(10)]


def rgb_png(grey_png: bytes) -> bytes:
    """The same picture as an RGB PNG: ImageClassifier's default transform needs 3 channels."""
    from PIL import Image

    buf = io.BytesIO()
    Image.open(io.BytesIO(grey_png)).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def eager_model() -> torch.nn.Module:
    model = bm.load_net_module().MnistNet()
    model.load_state_dict(torch.load(str(MNIST / "model.pth"), map_location="cpu", weights_only=True))
    return model.eval()


def write_json(path: Path, body: object) -> Path:
    path.write_text(json.dumps(body))
    return path


def write_scenario(tmp_path: Path, name: str, model: dict, protocol: str, checks: list[dict]) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "model": {"version": "1.0", **model},
        "storage": {"uri": f"gs://harness-e2e/models/{name}"},
        "serving": {"protocol": protocol}, "checks": checks,
    }, sort_keys=False))
    return path


def response(harness_options, report, check_name: str):
    check = next(c for c in report.checks if c.name == check_name)
    return json.loads((harness_options.report_dir / report.run_id / check.response_file).read_text())


def assert_passed(report) -> None:
    assert report.error is None, report.error["line"]
    failed = {c.name: c.diff for c in report.checks if not c.passed}
    assert report.passed and not failed, failed


# --- the built-in image_classifier ----------------------------------------------------------------

@pytest.fixture(scope="module")
def top5_reference() -> list[dict[str, float]]:
    """The TorchScript model on our own version of ImageClassifier's default transform."""
    labels = json.loads((MNIST / "index_to_name.json").read_text())
    model = torch.jit.load(str(MNIST / "model_imagenet.pt"), map_location="cpu").eval()
    batch = torch.stack([bm.imagenet_transform(rgb_png(p)) for p in corpus_pngs()])
    with torch.inference_mode():
        log_probs = model(batch)
    # Top-5 is a set: the 5th and 6th likeliest classes must be told apart far beyond float noise
    # (their log-probabilities; kernel differences move those by ~1e-6).
    ranked = log_probs.sort(dim=1, descending=True).values
    assert bool(((ranked[:, 4] - ranked[:, 5]) > 1e-3).all()), ranked[:, 4:6]
    return bm.top5(log_probs, labels)


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_image_classifier_returns_the_top5_of_each_png(run_scenario, harness_options, tmp_path, top5_reference,
                                                       protocol):
    images = [rgb_png(p) for p in corpus_pngs()]
    if protocol == "v1":
        request = {"instances": [{"data": b64(img)} for img in images]}
        expected = {"predictions": top5_reference}
    else:  # one BYTES input per image: the kservev2 envelope hands the handler data[0] of each
        request = {"id": "pngs-0-9", "inputs": [{"name": f"image-{i}", "shape": [1], "datatype": "BYTES",
                                                 "data": [b64(img)]} for i, img in enumerate(images)]}
        expected = {"id": "pngs-0-9", "model_name": "mnist-ic", "outputs": [
            {"name": f"image-{i}", "shape": [1], "datatype": "BYTES", "data": [top5]}
            for i, top5 in enumerate(top5_reference)]}
    checks = [{"name": "ten-pngs", "request": str(write_json(tmp_path / "request.json", request)),
               "expect": str(write_json(tmp_path / "expected.json", expected)), "atol": ATOL}]
    if protocol == "v1":
        # The default transform normalises 3 channels: a grey PNG fails in the handler (TorchServe
        # 503, which KServe's front answers as 500), as it would in the kserve-torchserve image.
        grey = {"instances": [{"data": b64(corpus_pngs()[2])}]}
        checks.append({"name": "grey-png-is-refused", "request": str(write_json(tmp_path / "grey.json", grey)),
                       "expect_status": 500})
    path = write_scenario(tmp_path, f"image-classifier-{protocol}", protocol=protocol, checks=checks, model={
        "name": "mnist-ic", "serialized_file": str(MNIST / "model_imagenet.pt"), "handler": "image_classifier",
        "extra_files": [str(MNIST / "index_to_name.json")]})
    report = run_scenario(path)
    assert_passed(report)
    # compare() treats objects as subsets: the top-5 classes must also be exactly the same five.
    body = response(harness_options, report, "ten-pngs")
    served = body["predictions"] if protocol == "v1" else [o["data"][0] for o in body["outputs"]]
    assert [list(s) for s in served] == [list(r) for r in top5_reference]


# --- a model written like pytorch/serve's MNIST example -----------------------------------------------

def captum_attributions(pngs: list[Path], target: int, cache_dir: Path) -> list:
    env = read_environment(image(DEFAULT_IMAGE), cache_dir)
    if env is None:
        pytest.skip("the runtime environment is not built yet (harness runtime build)")
    out = run([str(env.python), str(CAPTUM_REFERENCE), str(MNIST / "build_mnist.py"), str(MNIST / "model.pth"),
               str(target), str(IG_STEPS), *map(str, pngs)], what="captum reference", timeout=120)
    return json.loads(out.stdout)


def test_mnist_example_style_model_predicts_and_explains(run_scenario, harness_options, tmp_path):
    pngs = corpus_pngs()
    model = eager_model()
    with torch.inference_mode():
        digits = model(torch.stack([bm.mnist_transform(p) for p in pngs])).argmax(1).tolist()
    corpus_request = json.loads(CORPUS_V1.read_text())
    (instance,) = corpus_request["instances"]
    two = tmp_path / "corpus-mnist.png"
    two.write_bytes(base64.b64decode(instance["data"]))
    assert two.read_bytes() == pngs[2]  # the corpus request carries test_data/2.png
    target = instance["target"]  # 0, as upstream sends it: the class the attributions explain

    expected_explain = {"explanations": captum_attributions([two], target, harness_options.cache_dir)}
    # Our own Integrated Gradients (which made the shipped fixture's expected_explain_v1.json)
    # agrees with captum too.
    ours = bm.integrated_gradients(model, bm.mnist_transform(pngs[2]).unsqueeze(0), target).tolist()
    assert torch.allclose(torch.tensor(ours), torch.tensor(expected_explain["explanations"]), rtol=0, atol=ATOL)

    checks = [
        {"name": "ten-pngs",
         "request": str(write_json(tmp_path / "ten.json", {"instances": [{"data": b64(p)} for p in pngs]})),
         "expect": str(write_json(tmp_path / "ten_expected.json", {"predictions": digits}))},
        {"name": "corpus-request", "request": str(CORPUS_V1),
         "expect": str(write_json(tmp_path / "corpus_expected.json", {"predictions": [digits[2]]}))},
        {"name": "corpus-explain", "verb": "explain", "request": str(CORPUS_V1),
         "expect": str(write_json(tmp_path / "explain_expected.json", expected_explain)), "atol": ATOL},
    ]
    path = write_scenario(tmp_path, "mnist-example", protocol="v1", checks=checks, model={
        "name": "mnist", "serialized_file": str(MNIST / "model.pth"), "model_file": str(MNIST / "mnist_net.py"),
        "handler": str(MNIST / "mnist_handler.py")})
    report = run_scenario(path)
    assert_passed(report)
    explanations = response(harness_options, report, "corpus-explain")["explanations"]
    assert torch.tensor(explanations).shape == (1, 1, 28, 28)
    assert response(harness_options, report, "ten-pngs") == {"predictions": digits}


def test_mnist_example_style_model_over_v2_bytes(run_scenario, tmp_path):
    request = json.loads(CORPUS_V2_BYTES.read_text())
    (tensor,) = request["inputs"]
    png = base64.b64decode(tensor["data"][0])
    assert png == corpus_pngs()[0]
    with torch.inference_mode():
        digit = eager_model()(bm.mnist_transform(png).unsqueeze(0)).argmax(1).item()
    # The kservev2 envelope: one output per input, named after it, the handler's int as INT64.
    expected = {"id": request["id"], "model_name": "mnist",
                "outputs": [{"name": tensor["name"], "shape": [1], "datatype": "INT64", "data": [digit]}]}
    path = write_scenario(tmp_path, "mnist-example-v2", protocol="v2", model={
        "name": "mnist", "serialized_file": str(MNIST / "model.pth"), "model_file": str(MNIST / "mnist_net.py"),
        "handler": str(MNIST / "mnist_handler.py")}, checks=[
        {"name": "corpus-bytes", "request": str(CORPUS_V2_BYTES),
         "expect": str(write_json(tmp_path / "expected.json", expected))}])
    assert_passed(run_scenario(path))

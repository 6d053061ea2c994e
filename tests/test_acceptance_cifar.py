"""Real third-party acceptance: KServe ModelMesh's TorchScript CIFAR-10 model, served through the
harness with the built-in tensor handler (TorchServe) or tensor model (KServe's ModelServer), returns
the 10 documented logits for the documented ship image within tests.numeric.CROSS_CPU_ATOL (float32
logits differ across CPU kernels), over V1, over V2 and over grpc-v2 with the V2 files
(../shared/corpus/modelmesh-pytorch-cifar/EXPECTED.md), on both runtimes."""
from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers import SHARED
from tests.numeric import CROSS_CPU_ATOL

CIFAR = SHARED / "corpus" / "modelmesh-pytorch-cifar"
pytestmark = pytest.mark.skipif(not CIFAR.is_dir(), reason=f"{CIFAR} is absent (../shared is not beside the repo)")


def documented_logits() -> list[float]:
    return json.loads((CIFAR / "example-models_pytorch_expected_output.json").read_text())["OUTPUT__0"]


@pytest.fixture
def cifar_scenario(tmp_path):
    """Write the scenario and the exact request bodies (V1 built from the documented V2 tensor)."""
    import numpy as np

    v2 = json.loads((CIFAR / "example-models_pytorch_request.v2rest.json").read_text())
    tensor = v2["inputs"][0]
    image = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
    (tmp_path / "v1.json").write_text(json.dumps({"instances": image.tolist()}))
    (tmp_path / "v2.json").write_text(json.dumps(v2))
    (tmp_path / "v1_expected.json").write_text(json.dumps({"predictions": [documented_logits()]}))
    # TorchServe's kservev2 envelope names the output after the input and flattens it; the
    # ModelServer's tensor model answers the tensor as the model returned it.
    (tmp_path / "v2_expected.json").write_text(json.dumps(
        {"outputs": [{"name": "INPUT__0", "shape": [10], "data": documented_logits()}]}))
    (tmp_path / "v2_expected_kserve.json").write_text(json.dumps(
        {"outputs": [{"name": "output-0", "shape": [1, 10], "datatype": "FP32", "data": documented_logits()}]}))

    def make(protocol: str, runtime: str = "torchserve"):
        path = tmp_path / f"cifar-{protocol}-{runtime}.yaml"
        files = "v2" if protocol == "grpc-v2" else protocol  # grpc-v2 sends the V2 request, answers V2 JSON
        expected = f"{files}_expected_kserve.json" if runtime == "kserve" and files == "v2" else f"{files}_expected.json"
        path.write_text(yaml.safe_dump({
            "name": f"cifar-{protocol}-{runtime}",
            "runtime": runtime,
            "model": {"name": "cifar", "version": "1.0", "serialized_file": str(CIFAR / "model.pt"), "handler": "tensor"},
            "storage": {"uri": f"gs://harness-e2e/models/cifar-{protocol}"},
            "serving": {"protocol": protocol},
            "checks": [{"name": "ship", "request": f"{files}.json", "expect": expected,
                        "atol": CROSS_CPU_ATOL}],
        }))
        return path

    return make


@pytest.mark.parametrize("runtime", ["torchserve", "kserve"])
@pytest.mark.parametrize("protocol", ["v1", "v2", "grpc-v2"])
def test_cifar_documented_logits(run_scenario, cifar_scenario, protocol, runtime):
    report = run_scenario(cifar_scenario(protocol, runtime))
    assert report.error is None, report.error["line"]
    assert report.passed, report.checks[0].diff
    body = json.loads(report.checks[0].response_excerpt) if len(report.checks[0].response_excerpt) < 500 else None
    if body:  # argmax is the documented class 8 (ship)
        values = body["predictions"][0] if protocol == "v1" else body["outputs"][0]["data"]
        assert values.index(max(values)) == 8

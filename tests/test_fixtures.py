"""The sample models under fixtures/ agree with their requests and expected responses.

Flow: parse every JSON file -> run the committed digits TorchScript model on the V1 and V2
requests and compare with expected_v1/expected_v2 -> rebuild the pipeline model from its
sub_module code + model.pth and compare with its expected_v1 -> drive the pipeline handler
in-process -> regenerate everything with build_fixtures.py into a temp dir and compare bytes.
No TorchServe here; tests/ integration tiers serve these fixtures for real.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DIGITS = FIXTURES / "digits"
PIPELINE = FIXTURES / "pipeline"
TOL = 1e-6

# torch 2.13 deprecates TorchScript loading in favour of torch.export; TorchServe 0.12 still loads
# .pt files with torch.jit.load, so the fixture stays TorchScript on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")


def _load_build_module() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("fixtures_build_fixtures", FIXTURES / "build_fixtures.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_fixtures = _load_build_module()


def _json(path: Path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def manifest() -> dict:
    return _json(FIXTURES / "manifest.json")


@pytest.fixture(scope="module")
def digits_model():
    return torch.jit.load(str(DIGITS / "model.pt"), map_location="cpu").eval()


@pytest.mark.parametrize("path", sorted(FIXTURES.rglob("*.json")), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_json_parses(path: Path) -> None:
    assert isinstance(_json(path), dict)


def test_generated_files_match_manifest_hashes(manifest: dict) -> None:
    assert set(manifest["sha256"]) == set(build_fixtures.GENERATED) - {"manifest.json"}
    for rel, digest in manifest["sha256"].items():
        assert hashlib.sha256((FIXTURES / rel).read_bytes()).hexdigest() == digest, rel


def test_digits_requests_shapes(manifest: dict) -> None:
    v1 = _json(DIGITS / "request_v1.json")["instances"]
    assert len(v1) == 3 and all(len(row) == 64 for row in v1)
    assert all(0.0 <= v <= 1.0 for row in v1 for v in row)
    (inp,) = _json(DIGITS / "request_v2.json")["inputs"]
    assert inp["name"] == "input-0" and inp["datatype"] == "FP32" and inp["shape"] == [3, 64]
    assert inp["data"] == [v for row in v1 for v in row]
    bad = _json(DIGITS / "request_v1_bad_shape.json")["instances"]
    assert len(bad) == 3 and all(len(row) == 10 for row in bad)
    digits = manifest["digits"]["request_digits"]
    assert len(set(digits)) == 3, "the three request images must show different digits"


def test_digits_expected_v1(digits_model) -> None:
    instances = _json(DIGITS / "request_v1.json")["instances"]
    with torch.inference_mode():
        got = digits_model(torch.tensor(instances, dtype=torch.float32)).numpy()
    expected = np.array(_json(DIGITS / "expected_v1.json")["predictions"])
    assert expected.shape == (3, 10)
    np.testing.assert_allclose(got, expected, rtol=TOL, atol=TOL)


def test_digits_expected_v2(digits_model) -> None:
    (inp,) = _json(DIGITS / "request_v2.json")["inputs"]
    x = torch.tensor(inp["data"], dtype=torch.float32).reshape(inp["shape"])
    with torch.inference_mode():
        got = digits_model(x).numpy().astype(np.float64).ravel()
    expected = _json(DIGITS / "expected_v2.json")
    assert expected["id"] == "digits-1" and expected["model_name"] == "digits"
    (out,) = expected["outputs"]
    assert out["name"] == "input-0" and out["datatype"] == "FP64" and out["shape"] == [30]
    np.testing.assert_allclose(got, np.array(out["data"]), rtol=TOL, atol=TOL)
    # V2 carries the same numbers as V1, flattened row-major.
    v1 = _json(DIGITS / "expected_v1.json")["predictions"]
    assert out["data"] == [v for row in v1 for v in row]


def test_digits_predictions_are_right(manifest: dict) -> None:
    logits = np.array(_json(DIGITS / "expected_v1.json")["predictions"])
    assert logits.argmax(axis=1).tolist() == manifest["digits"]["request_digits"]


@pytest.fixture()
def pipeline_code():
    with build_fixtures.pipeline_modules() as (config, net):
        yield config, net


def _pipeline_model(config, net):
    model = net.DigitsNet(config.INPUT_SIZE, config.HIDDEN_SIZE, config.NUM_CLASSES)
    model.load_state_dict(torch.load(str(PIPELINE / "model.pth"), map_location="cpu", weights_only=True))
    return model.eval()


def _assert_pipeline_predictions(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert set(g) == set(e)
        assert g["score"] == pytest.approx(e["score"], rel=TOL, abs=TOL)
        assert {k: v for k, v in g.items() if k != "score"} == {k: v for k, v in e.items() if k != "score"}


def test_pipeline_expected_v1(pipeline_code, manifest: dict) -> None:
    config, net = pipeline_code
    model = _pipeline_model(config, net)
    instances = _json(PIPELINE / "request_v1.json")["instances"]
    assert len(instances) == 3 and all(len(row) == config.INPUT_SIZE for row in instances)
    with torch.inference_mode():
        indices, scores = net.top1(model(torch.tensor(instances, dtype=torch.float32)))
    expected = _json(PIPELINE / "expected_v1.json")["predictions"]
    pin = build_fixtures.pinned_version(PIPELINE / "extra" / "requirements.txt", "tabulate")
    got = [
        {"class": i, "label": config.LABELS[i], "score": s,
         "summary": f"{config.LABELS[i]}  {s:.{config.SCORE_DECIMALS}f}", "tabulate_version": pin}
        for i, s in zip(indices, scores)
    ]
    _assert_pipeline_predictions(got, expected)
    assert indices == manifest["pipeline"]["request_digits"]


def test_pipeline_requirements_pin_one_package() -> None:
    lines = [ln for ln in (PIPELINE / "extra" / "requirements.txt").read_text().splitlines() if ln.strip()]
    assert len(lines) == 1 and "==" in lines[0]


def _fake_tabulate(version: str) -> types.ModuleType:
    """Stand-in for the per-model dependency (absent from this venv on purpose).

    Reproduces tabulate(tablefmt="plain", disable_numparse=True) for one row of strings only; the
    real package was checked through TorchServe when the fixture was made.
    """
    module = types.ModuleType("tabulate")
    module.__version__ = version

    def tabulate(rows, tablefmt, disable_numparse):
        assert tablefmt == "plain" and disable_numparse and len(rows) == 1
        return "  ".join(rows[0])

    module.tabulate = tabulate
    return module


def test_pipeline_handler_in_process(pipeline_code, monkeypatch) -> None:
    pytest.importorskip("ts.torch_handler.base_handler", reason="torchserve is not installed")
    spec = importlib.util.spec_from_file_location("fixtures_pipeline_handler", PIPELINE / "handler.py")
    handler_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler_module)
    pin = build_fixtures.pinned_version(PIPELINE / "extra" / "requirements.txt", "tabulate")
    monkeypatch.setitem(sys.modules, "tabulate", _fake_tabulate(pin))

    context = types.SimpleNamespace(
        system_properties={"model_dir": str(PIPELINE)},
        manifest={"model": {"modelName": "pipeline", "serializedFile": "model.pth"}},
    )
    handler = handler_module.PipelineHandler()
    handler.initialize(context)
    instances = _json(PIPELINE / "request_v1.json")["instances"]  # what the kserve envelope hands over
    got = handler.postprocess(handler.inference(handler.preprocess(instances)))
    _assert_pipeline_predictions(got, _json(PIPELINE / "expected_v1.json")["predictions"])

    with pytest.raises(ValueError, match="expected a list of 64 floats, got 10"):
        handler.preprocess(_json(DIGITS / "request_v1_bad_shape.json")["instances"])


def test_build_fixtures_regenerates_identical_bytes(tmp_path: Path, manifest: dict) -> None:
    pytest.importorskip("sklearn", reason="scikit-learn (the dev extra) is needed to rebuild the fixtures")
    made_with = manifest["versions"]["torch"]
    if torch.__version__ != made_with:
        pytest.skip(f"fixtures were made with torch {made_with}, this is {torch.__version__}: "
                    "bytes are only promised for the same torch")
    from harness.procs import run

    run([sys.executable, str(FIXTURES / "build_fixtures.py"), "--out", str(tmp_path)],
        what="fixtures/build_fixtures.py", timeout=120)
    for rel in build_fixtures.GENERATED:
        assert (tmp_path / rel).read_bytes() == (FIXTURES / rel).read_bytes(), f"{rel} differs when rebuilt"

"""The sample models under fixtures/ agree with their requests and expected responses.

Flow: parse every JSON file -> run the committed digits TorchScript model on the V1 and V2
requests and compare with expected_v1/expected_v2 -> rebuild the pipeline model from its
sub_module code + model.pth and compare with its expected_v1 -> drive the pipeline handler
in-process -> regenerate everything with build_fixtures.py into a temp dir and compare: requests
byte for byte, computed numbers (logits, scores, weights) within tests.numeric.CROSS_CPU_ATOL,
everything around them exactly. Every float computed here is held to that one tolerance: float32
kernels differ across CPUs (tests/test_cpu_kernels.py reruns this module under other kernels).
No TorchServe here; tests/ integration tiers serve these fixtures for real.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.numeric import CROSS_CPU_ATOL, json_differences, tensor_differences

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DIGITS = FIXTURES / "digits"
PIPELINE = FIXTURES / "pipeline"

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
    np.testing.assert_allclose(got, expected, rtol=0, atol=CROSS_CPU_ATOL)


def test_digits_expected_v2(digits_model) -> None:
    (inp,) = _json(DIGITS / "request_v2.json")["inputs"]
    x = torch.tensor(inp["data"], dtype=torch.float32).reshape(inp["shape"])
    with torch.inference_mode():
        got = digits_model(x).numpy().astype(np.float64).ravel()
    expected = _json(DIGITS / "expected_v2.json")
    assert expected["id"] == "digits-1" and expected["model_name"] == "digits"
    (out,) = expected["outputs"]
    assert out["name"] == "input-0" and out["datatype"] == "FP64" and out["shape"] == [30]
    np.testing.assert_allclose(got, np.array(out["data"]), rtol=0, atol=CROSS_CPU_ATOL)
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
        assert g["score"] == pytest.approx(e["score"], rel=0, abs=CROSS_CPU_ATOL)
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


# What the CPU's float kernels compute: compared within CROSS_CPU_ATOL after a rebuild. Everything
# else (the requests hold k/16 pixels, exact in float32) must come back byte for byte.
COMPUTED_JSON = ("digits/expected_v1.json", "digits/expected_v2.json", "pipeline/expected_v1.json")
MODELS = ("digits/model.pt", "pipeline/model.pth")
# Raw tensor storages, and the archive id torch derives from their contents.
_TENSOR_RECORD = re.compile(r"/(data/\d+|\.data/serialization_id)$")


def _archive_records(path: Path) -> dict[str, bytes]:
    """Every record of a torch zip archive except the raw tensor data: code, pickles, layout."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist() if not _TENSOR_RECORD.search(name)}


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".pt":
        return torch.jit.load(str(path), map_location="cpu").state_dict()
    return torch.load(str(path), map_location="cpu", weights_only=True)


def test_build_fixtures_regenerates_the_committed_fixtures(tmp_path: Path, manifest: dict) -> None:
    pytest.importorskip("sklearn", reason="scikit-learn (the dev extra) is needed to rebuild the fixtures")
    made_with = manifest["versions"]["torch"]
    if torch.__version__ != made_with:
        pytest.skip(f"fixtures were made with torch {made_with}, this is {torch.__version__}: "
                    "the archive layout and TorchScript code are only promised for the same torch")
    from harness.procs import run

    run([sys.executable, str(FIXTURES / "build_fixtures.py"), "--out", str(tmp_path)],
        what="fixtures/build_fixtures.py", timeout=120)
    exact = [rel for rel in build_fixtures.GENERATED if rel not in (*COMPUTED_JSON, *MODELS, "manifest.json")]
    for rel in exact:
        assert (tmp_path / rel).read_bytes() == (FIXTURES / rel).read_bytes(), f"{rel} differs when rebuilt"
    for rel in COMPUTED_JSON:
        assert json_differences(_json(FIXTURES / rel), _json(tmp_path / rel)) == [], f"{rel} differs when rebuilt"
    for rel in MODELS:
        assert _archive_records(tmp_path / rel) == _archive_records(FIXTURES / rel), f"{rel}: code or layout differs"
        assert tensor_differences(_state_dict(FIXTURES / rel), _state_dict(tmp_path / rel)) == [], rel
    assert torch.jit.load(str(tmp_path / MODELS[0])).code == torch.jit.load(str(FIXTURES / MODELS[0])).code

    # The hashes name the committed bytes (test_generated_files_match_manifest_hashes); a rebuild
    # may differ only in those of files carrying computed floats.
    rebuilt = _json(tmp_path / "manifest.json")
    rebuilt_hashes, committed_hashes = rebuilt.pop("sha256"), manifest["sha256"]
    assert rebuilt == {k: v for k, v in manifest.items() if k != "sha256"}
    assert rebuilt_hashes.keys() == committed_hashes.keys()
    assert {rel: rebuilt_hashes[rel] for rel in exact} == {rel: committed_hashes[rel] for rel in exact}

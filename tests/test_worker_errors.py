"""A TorchServe worker that dies while importing its handler is reported by the cause.

Flow: a real TorchServe whose worker cannot import the handler -> the DeployError's one line
names the first exception of the worker's chain that is not TorchServe's own handler lookup:
(1) a handler file importing a missing module, through the whole run (local target, KServe
front): `No module named 'does_not_exist'`, not the loader's fallback
`ts.torch_handler.missing_import_handler`; (2) the built-in image_classifier in an environment
without torchvision (the harness's own, as the local target was before it ran the runtime
image's environment): `No module named 'torchvision'`, not the lookup `image_classifier`.
"""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
import yaml

from harness.runtimes.torchserve.runtime import TorchServeRuntime
from harness.errors import DeployError
from harness.spec import load_scenario
from harness.runtimes.torchserve.process import TorchServe, worker_error
from tests.helpers import FIXTURES

MISSING_IMPORT_HANDLER = Path(__file__).parent / "data" / "missing_import_handler.py"


def test_missing_import_names_the_first_exception(run_scenario, scenario_copy):
    start = time.monotonic()
    report = run_scenario(scenario_copy("digits.yaml", {"model": {"handler": str(MISSING_IMPORT_HANDLER)}}))
    took = time.monotonic() - start
    assert report.exit_code == 1 and report.error["type"] == "DeployError"
    line = report.error["line"]
    assert "keeps dying: ModuleNotFoundError: No module named 'does_not_exist'" in line
    assert "ts.torch_handler" not in line
    # The details hold the traceback of that exception: the handler's own import line.
    assert "import does_not_exist" in report.error["details"]
    assert took < 90, f"the cause was known at the first deaths but the run took {took:.0f}s"


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None,
                    reason="the harness's environment has torchvision: image_classifier would load")
def test_builtin_handler_missing_a_package_names_that_package(tmp_path):
    scenario = tmp_path / "image-classifier.yaml"
    scenario.write_text(yaml.safe_dump({
        "name": "image-classifier", "model": {
            "name": "mnist-ic", "serialized_file": str(FIXTURES / "mnist" / "model_imagenet.pt"),
            "handler": "image_classifier"},
        "storage": {"uri": "gs://harness-e2e/models/image-classifier"}}))
    spec = load_scenario(scenario)
    model_dir = tmp_path / "mnt" / "models"
    for name, content in TorchServeRuntime().model_files(spec, tmp_path / "cache").objects.items():
        (model_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (model_dir / name).write_bytes(content)
    # No executable: TorchServe from the harness's own environment, whose python lacks torchvision.
    with TorchServe(model_dir, tmp_path / "torchserve", envelope="kserve") as ts:
        with pytest.raises(DeployError) as info:
            ts.wait_ready("mnist-ic", timeout_s=90)
    assert "keeps dying: ModuleNotFoundError: No module named 'torchvision'" in info.value.what
    assert "from torchvision import transforms" in info.value.details


def test_a_traceback_still_being_written_is_not_quoted_by_its_lookup(tmp_path):
    # model_log.log of the test above, captured from a real run. TorchServe's frontend writes the
    # worker's stderr line by line, so the readiness probe can read any prefix of it; a prefix
    # holding only the handler lookup ("No module named 'image_classifier'") must give no error
    # yet (the probe then waits its grace period) rather than quote the lookup as the cause.
    lines = (Path(__file__).parent / "data" / "model_log_image_classifier.log").read_text().splitlines()
    log = tmp_path / "model_log.log"
    quoted = set()
    for n in range(len(lines) + 1):
        log.write_text("\n".join(lines[:n]) + "\n")
        if err := worker_error(log):
            quoted.add(err.splitlines()[-1])
    assert quoted == {"ModuleNotFoundError: No module named 'torchvision'"}

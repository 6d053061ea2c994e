"""Each kserve-torchserve image's releases really serve the model locally, and the report says so."""
from __future__ import annotations

import pytest

from harness.runtimes.environment import default_cache_dir, read_environment
from harness.runtimes.torchserve.image import DEFAULT_IMAGE, image
from tests.helpers import SCENARIOS

SERVED = ("torchserve", "torch", "torchvision", "captum", "kserve")


def _torchserve_log_version(harness_options, report) -> str:
    logs = (harness_options.report_dir / report.run_id / "diagnostics").glob("*.log")
    for line in (line for log in logs for line in log.read_text(errors="replace").splitlines()):
        if "Torchserve version:" in line:
            return line.rsplit(":", 1)[1].strip()
    raise AssertionError("no TorchServe log line names its version")


def test_the_default_image_serves_with_its_own_releases(run_scenario, harness_options):
    report = run_scenario(SCENARIOS / "digits.yaml")
    assert report.passed, report.error
    rt, img = report.runtime, image(DEFAULT_IMAGE)
    assert rt.image == img.reference and rt.serving_path == "front"
    assert {k: rt.ran[k].split("+")[0] for k in SERVED} == {k: img.shipped()[k] for k in SERVED}
    assert [d for d in rt.differences if not d.startswith("python:")] == []  # only the interpreter differs
    assert _torchserve_log_version(harness_options, report) == img.torchserve
    summary = (harness_options.report_dir / report.run_id / "summary.md").read_text()
    assert f"| torch | {img.torch} | {rt.ran['torch']} |" in summary


def test_kserves_default_image_0_9_0_serves_digits(run_scenario, scenario_copy, harness_options):
    if read_environment(image("0.9.0"), default_cache_dir()) is None:
        pytest.skip("the 0.9.0 runtime environment is not built here (harness runtime build --image 0.9.0, ~5 GB)")
    report = run_scenario(scenario_copy("digits.yaml", {"torchserve": {"image": "0.9.0"}}))
    assert report.passed, report.error
    assert report.runtime.image == "pytorch/torchserve-kfs:0.9.0"
    assert (report.runtime.ran["torchserve"], report.runtime.ran["torch"], report.runtime.ran["kserve"]) == (
        "0.9.0", "2.1.0", "0.11.1")
    assert _torchserve_log_version(harness_options, report) == "0.9.0"


def test_every_torchserve_builtin_handler_imports_in_the_runtime_environment():
    """The README calls these built-in: each must import where TorchServe's workers run (the image's
    packages), not only in the harness's own environment."""
    from harness.procs import run
    from harness.runtimes.environment import runtime_environment
    from harness.spec import BUILTIN_HANDLERS

    env = runtime_environment(image(DEFAULT_IMAGE), default_cache_dir())
    names = sorted(BUILTIN_HANDLERS - {"tensor"})
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module('ts.torch_handler.' + n)\nprint('ok')"
    out = run([str(env.python), "-c", code, *names], what="importing TorchServe's built-in handlers", timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "ok", out.stdout

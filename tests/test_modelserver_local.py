"""The second runtime on the embedded local target: KServe's own Python ModelServer, for real.

The same digits model and checks as the TorchServe scenarios; a user's kserve.Model file; and the
failures a custom predictor has (load() raising, a model that registers another name), each named
from the ModelServer's own output, with nothing left running."""
from __future__ import annotations

import json
import time

import pytest

from harness.errors import ConfigError
from harness.spec import load_scenario
from tests.helpers import FIXTURES, SCENARIOS, TEST_DATA as DATA, assert_nothing_left



def test_digits_on_the_modelserver_passes_and_leaves_nothing(run_scenario, harness_options):
    report = run_scenario(SCENARIOS / "digits-kserve.yaml")
    assert report.passed and report.exit_code == 0, report.error
    assert [p.name for p in report.phases] == ["target", "archive", "upload", "storage-init", "modelserver-ready",
                                               "warm-up", "checks", "teardown"]
    rt = report.runtime
    assert (rt.runtime, rt.image, rt.serving_path) == ("kserve", "kserve-harness/kserve-modelserver:0.21.0",
                                                       "modelserver")
    assert rt.ran["kserve"] == "0.21.0" and rt.differences == []
    run_dir = harness_options.report_dir / report.run_id
    # What the container would print is in the report, and the upload is the custom-predictor layout.
    log = (run_dir / "diagnostics" / "modelserver.out").read_text()
    assert "Uvicorn running" in log or "Started server process" in log
    assert [o["name"].rsplit("/", 1)[1] for o in report.storage["objects"]] == ["kserve_harness_predictor.py",
                                                                                "model.pt"]
    assert_nothing_left(report, harness_options.report_dir)


def test_v2_answers_the_tensor_the_model_returned(deploy_scenario, scenario_copy):
    dep = deploy_scenario(scenario_copy("digits-kserve.yaml", {"serving": {"protocol": "v2"}, "checks": []}))
    body = json.loads((FIXTURES / "digits/request_v2.json").read_text())
    r = dep.predictor.post(json.dumps(body).encode())
    assert r.status == 200, r.text
    out = r.body["outputs"][0]
    assert (out["name"], out["shape"], out["datatype"]) == ("output-0", [3, 10], "FP32")
    v1 = json.loads((FIXTURES / "digits/expected_v1.json").read_text())["predictions"]
    flat = [x for row in v1 for x in row]
    assert max(abs(a - b) for a, b in zip(out["data"], flat)) < 1e-4  # the V1 expectation, same model
    assert r.body["id"] == body["id"]


def test_a_users_kserve_model_file_serves(run_scenario, scenario_copy):
    path = scenario_copy("digits-kserve.yaml", {"model": {"handler": str(DATA / "modelserver_model.py")}})
    report = run_scenario(path)
    assert report.passed, report.error or report.checks[0].diff
    assert "models/digits-kserve/modelserver_model.py" in [o["name"] for o in report.storage["objects"]]


def test_load_that_raises_fails_fast_quoting_it(run_scenario, scenario_copy, harness_options):
    path = scenario_copy("digits-kserve.yaml", {"model": {"handler": str(DATA / "modelserver_load_fails.py")},
                                                "ignore_lints": ["kserve-load-never-ready"]})
    start = time.monotonic()
    report = run_scenario(path)
    took = time.monotonic() - start
    assert report.exit_code == 1 and report.error["type"] == "DeployError"
    assert "exited with status" in report.error["what"]
    assert "RuntimeError: harness-test: load fails on purpose" in report.error["what"]
    assert took < 60, f"the process had exited but the run took {took:.0f}s (deadline 120s)"
    assert "diagnostics/modelserver.out" in report.diagnostics
    assert_nothing_left(report, harness_options.report_dir)


def test_a_model_registering_another_name_is_named(run_scenario, scenario_copy, tmp_path):
    handler = tmp_path / "renamed.py"
    handler.write_text((DATA / "modelserver_model.py").read_text().replace("super().__init__(name)",
                                                                             'super().__init__("cifar")'))
    path = scenario_copy("digits-kserve.yaml", {"model": {"handler": str(handler)},
                                                "ignore_lints": ["kserve-model-name-mismatch"]})
    report = run_scenario(path)
    assert report.exit_code == 1 and "registers itself as 'cifar'" in report.error["what"]


def test_runtime_override_rejects_the_other_runtimes_section():
    with pytest.raises(ConfigError, match="torchserve: this section applies to runtime: torchserve"):
        load_scenario(SCENARIOS / "digits.yaml", runtime="kserve")
    with pytest.raises(ConfigError, match="unknown runtime 'triton'"):
        load_scenario(SCENARIOS / "digits-kserve.yaml", runtime="triton")
    with pytest.raises(ConfigError, match="kserve: this section applies to runtime: kserve"):
        load_scenario(SCENARIOS / "digits-kserve.yaml", runtime="torchserve")


def test_compare_a_torchserve_run_with_a_modelserver_run(run_scenario, harness_options):
    from harness import compare_paths
    from harness.report.compare.thresholds import Thresholds

    runs = [run_scenario(SCENARIOS / name) for name in ("digits.yaml", "digits-kserve.yaml")]
    assert all(r.passed for r in runs), [r.error for r in runs]
    base, cur = (harness_options.report_dir / r.run_id for r in runs)
    # Two runtimes start up differently and, on a busy machine, by seconds more or less from run to
    # run: this test is about outputs and the runtime row, so cold start is not judged here.
    comp = compare_paths(base, cur, Thresholds(cold_start={"relative": 0.25, "absolute_s": 3600}))
    (run,) = comp.runs
    # Same model, same request: the outputs agree within the check's tolerance on both runtimes.
    assert [(c.name, c.verdict in ("same", "within tolerance")) for c in run.checks] == [("three-digits-v1", True)]
    assert run.verdict == "no change" and comp.exit_code(False) == 0
    changes = {key: (b, c) for key, b, c in run.environment_changes}
    assert changes["runtime"][0].startswith("torchserve (pytorch/torchserve-kfs:0.12.0")
    assert changes["runtime"][1].startswith("kserve (kserve-harness/kserve-modelserver:0.21.0, modelserver path")

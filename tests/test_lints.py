"""Each lint fires on its mistake, with its own code, and `harness lint` exits 2."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.cli import main
from harness.lints import lint
from harness.runtimes.environment import default_cache_dir, read_environment
from harness.runtimes.torchserve.image import image
from harness.spec import load_scenario


def codes(path: Path) -> list[str]:
    return [f.code for f in lint(load_scenario(path))]


def test_storage_uri_without_directory(scenario_copy):
    assert codes(scenario_copy("digits.yaml", {"storage": {"uri": "gs://bucket-only"}})) == ["storage-uri-no-dir"]


def test_check_url_naming_another_model(scenario_copy):
    path = scenario_copy("digits.yaml", {"checks": [{"name": "c", "request": str(Path(__file__)),
                                                     "path": "/v1/models/mnist:predict"}]})
    assert "request-model-name" in codes(path)


def test_request_body_naming_another_model(scenario_copy, tmp_path):
    body = tmp_path / "req.json"
    body.write_text(json.dumps({"model_name": "mnist", "inputs": []}))
    path = scenario_copy("digits-v2.yaml", {"checks": [{"name": "c", "request": str(body)}]})
    assert codes(path) == ["request-model-name"]


def test_v2_body_on_a_v1_scenario(scenario_copy, tmp_path):
    body = tmp_path / "req.json"
    body.write_text(json.dumps({"inputs": []}))
    assert codes(scenario_copy("digits.yaml", {"checks": [{"name": "c", "request": str(body)}]})) == ["request-protocol"]


def test_requirements_without_per_model_install(scenario_copy, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("tabulate==0.9.0\n")
    assert codes(scenario_copy("digits.yaml", {"model": {"requirements_file": str(req)}})) == ["requirements-not-installed"]
    ok = scenario_copy("digits.yaml", {"model": {"requirements_file": str(req)},
                                       "torchserve": {"properties": {"install_py_dep_per_model": True}}})
    assert codes(ok) == []


def test_mar_name_not_matching_the_archive(scenario_copy):
    snapshot = {"name": "startup.cfg", "modelCount": 1,
                "models": {"digits": {"1.0": {"defaultVersion": True, "marName": "mnist.mar", "minWorkers": 1,
                                              "maxWorkers": 1, "batchSize": 1, "maxBatchDelay": 10}}}}
    path = scenario_copy("digits.yaml", {"torchserve": {"properties": {"model_snapshot": json.dumps(snapshot)}}})
    assert codes(path) == ["mar-name"]


def test_envelope_with_batching_names_the_upstream_bug(scenario_copy):
    path = scenario_copy("digits.yaml", {"torchserve": {"batch_size": 4, "max_batch_delay_ms": 20}})
    findings = lint(load_scenario(path))
    assert [f.code for f in findings] == ["envelope-batching"]
    assert "503" in findings[0].what and "#1302" in findings[0].what
    fixed = scenario_copy("digits.yaml", {"torchserve": {"batch_size": 4, "max_batch_delay_ms": 20},
                                          "serving": {"envelope": "none"}})
    assert codes(fixed) == []


def test_batching_without_delay(scenario_copy):
    path = scenario_copy("digits.yaml", {"torchserve": {"batch_size": 4}, "serving": {"envelope": "none"}})
    assert codes(path) == ["batch-delay-missing"]


def test_istio_annotation_typo_from_the_design_notes(scenario_copy):
    path = scenario_copy("digits.yaml", {"kubernetes": {"annotations": {"isdecar.istio.is/inject": "false"}}})
    assert codes(path) == ["istio-annotation-typo"]


def test_missing_handler_and_serialized_file(scenario_copy, tmp_path):
    path = scenario_copy("digits.yaml", {"model": {"handler": str(tmp_path / "nope.py"),
                                                   "serialized_file": str(tmp_path / "nope.pt")}})
    assert sorted(codes(path)) == ["file-missing", "handler-missing"]


def test_tensor_handler_rejects_a_state_dict(scenario_copy, tmp_path):
    fake_state_dict = tmp_path / "weights.pth"
    with zipfile.ZipFile(fake_state_dict, "w") as zf:  # the layout torch.save gives a state_dict
        zf.writestr("weights/data.pkl", b"")
        zf.writestr("weights/data/0", b"")
    assert codes(scenario_copy("digits.yaml", {"model": {"serialized_file": str(fake_state_dict)}})) == ["not-torchscript"]


def test_cli_lint_exit_codes(scenario_copy, capsys):
    assert main(["lint", str(scenario_copy("digits.yaml"))]) == 0
    bad = scenario_copy("digits.yaml", {"storage": {"uri": "gs://bucket-only"}})
    assert main(["lint", str(bad)]) == 2
    out = capsys.readouterr().out
    assert "lint storage-uri-no-dir:" in out and "gs://bucket-only/digits" in out


def test_cli_run_stops_at_lint_with_exit_2_and_writes_a_report(scenario_copy, tmp_path, capsys):
    bad = scenario_copy("digits.yaml", {"storage": {"uri": "gs://bucket-only"}})
    assert main(["run", str(bad), "--report-dir", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "storage-uri-no-dir" in err and "Traceback" not in err
    report = json.loads(next((tmp_path / "r").glob("*/report.json")).read_text())
    assert report["error"]["type"] == "LintError" and report["phases"][-1]["name"] == "teardown"


def test_expected_body_must_be_json(scenario_copy, tmp_path):
    bad = tmp_path / "expected.json"
    bad.write_text("{not json")
    path = scenario_copy("digits.yaml", {"checks": [{"name": "c", "request": str(tmp_path / "expected.json"),
                                                     "expect": str(bad)}]})
    assert "expect-json" in codes(path)


# --- the runtime image: model files from a newer torch, config keys the image's TorchServe lacks ---

def _torch_save(path: Path, python: str | None = None) -> Path:
    """A state_dict saved by the harness's torch (2.13), or by another environment's python."""
    code = "import sys, torch; torch.save({'w': torch.zeros(2, 2)}, sys.argv[1])"
    subprocess.run([python or sys.executable, "-c", code, str(path)], check=True, capture_output=True, timeout=300)
    return path


def test_a_model_saved_by_a_newer_torch_warns_naming_both_versions(scenario_copy, tmp_path):
    weights = _torch_save(tmp_path / "weights.pth")
    for tag, torch_version in (("0.12.0", "2.4.0"), ("0.9.0", "2.1.0")):
        spec = load_scenario(scenario_copy("pipeline.yaml", {"model": {"serialized_file": str(weights)},
                                                             "torchserve": {"image": tag}}))
        (finding,) = [f for f in lint(spec) if f.code == "torch-newer-than-image"]
        assert finding.severity == "warning" and finding.one_line().startswith("lint warning torch-newer-than-image:")
        assert "'.format_version' record" in finding.what and f"ships torch {torch_version}" in finding.what
        assert f"torch=={torch_version}" in finding.hint


def test_a_model_saved_by_the_images_own_torch_does_not_warn(scenario_copy, tmp_path):
    env = read_environment(image("0.12.0"), default_cache_dir())
    if env is None:
        pytest.skip("the 0.12.0 runtime environment is not built here (harness runtime build)")
    weights = _torch_save(tmp_path / "weights.pth", str(env.python))  # torch 2.4.0, as in the image
    spec = load_scenario(scenario_copy("pipeline.yaml", {"model": {"serialized_file": str(weights)}}))
    assert "torch-newer-than-image" not in [f.code for f in lint(spec)]


def test_torchscript_names_no_producer_so_it_does_not_warn():
    # fixtures/digits/model.pt was saved by torch 2.13 (fixtures/manifest.json), yet its archive
    # holds only records torch 2.1 writes too: nothing in it says which torch wrote it.
    assert "torch-newer-than-image" not in codes(Path(__file__).parents[1] / "scenarios" / "digits.yaml")


def test_config_keys_the_images_torchserve_does_not_read_warn(scenario_copy):
    props = {"enable_model_api": True, "default_startup_timeout": 60, "install_py_dep_per_model": True}
    old = lint(load_scenario(scenario_copy("digits.yaml", {"torchserve": {"image": "0.9.0", "properties": props}})))
    assert [(f.code, f.severity) for f in old] == [("property-unknown-to-image", "warning")] * 2
    assert "'enable_model_api' is read by TorchServe 0.11.1 and later" in old[0].what and "0.9.0" in old[0].what
    assert codes(scenario_copy("digits.yaml", {"torchserve": {"image": "0.12.0", "properties": props}})) == []


def test_token_authorization_turned_on_is_an_error_where_the_image_enforces_it(scenario_copy):
    props = {"properties": {"disable_token_authorization": False}}
    new = lint(load_scenario(scenario_copy("digits.yaml", {"torchserve": {"image": "0.12.0", **props}})))
    assert [(f.code, f.severity) for f in new] == [("token-auth-on", "error")]
    old = lint(load_scenario(scenario_copy("digits.yaml", {"torchserve": {"image": "0.9.0", **props}})))
    assert [(f.code, f.severity) for f in old] == [("property-unknown-to-image", "warning")]


def test_warnings_do_not_block_lint_or_run_but_are_reported(scenario_copy, tmp_path, capsys):
    warned = scenario_copy("digits.yaml", {"torchserve": {"image": "0.9.0", "properties": {"enable_model_api": True}}})
    assert main(["lint", str(warned)]) == 0
    assert "lint warning property-unknown-to-image:" in capsys.readouterr().out
    # With an error beside it the run stops at lint: the warning is in the progress, report.json and summary.md.
    both = scenario_copy("digits.yaml", {"storage": {"uri": "gs://bucket-only"},
                                         "torchserve": {"image": "0.9.0", "properties": {"enable_model_api": True}}})
    assert main(["run", str(both), "--report-dir", str(tmp_path / "r")]) == 2
    captured = capsys.readouterr()
    assert "lint warning property-unknown-to-image:" in captured.out + captured.err
    run_dir = next((tmp_path / "r").glob("*/"))
    report = json.loads((run_dir / "report.json").read_text())
    assert [w["code"] for w in report["lint_warnings"]] == ["property-unknown-to-image"]
    assert report["lint_warnings"][0]["severity"] == "warning" and report["error"]["code"] == "storage-uri-no-dir"
    assert "## Lint warnings" in (run_dir / "summary.md").read_text()
    assert report["runtime"]["image"] == "pytorch/torchserve-kfs:0.9.0" and report["runtime"]["ran"] == {}


def test_torchserve_flags_an_old_image_rejects_are_errors(scenario_copy):
    args = {"args": ["--disable-token-auth", "--enable-model-api"]}
    old = lint(load_scenario(scenario_copy("digits.yaml", {"torchserve": {"image": "0.9.0"}, "kubernetes": args})))
    assert [(f.code, f.severity) for f in old] == [("arg-unknown-to-image", "error")] * 2
    assert "kubernetes.args[1]" in old[1].where and "TorchServe 0.9.0" in old[1].what
    assert codes(scenario_copy("digits.yaml", {"kubernetes": args})) == []  # 0.12.0 accepts both (KServe's samples pass them)

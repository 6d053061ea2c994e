"""Each lint fires on its mistake, with its own code, and `harness lint` exits 2."""
import json
import zipfile
from pathlib import Path


from harness.cli import main
from harness.lints import lint
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

"""The embedded local target with real TorchServe: failures are named, nothing is left behind."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from harness.report.model import Report
from harness.waits import port_is_free
from tests.helpers import FIXTURES, REPO, assert_nothing_left

CRASHING_HANDLER = Path(__file__).parent / "data" / "crashing_handler.py"


def test_pass_leaves_nothing_running(run_scenario, harness_options):
    from tests.helpers import SCENARIOS

    report = run_scenario(SCENARIOS / "digits.yaml")
    assert report.passed and report.exit_code == 0
    assert [p.name for p in report.phases] == ["target", "archive", "upload", "storage-init", "torchserve-ready",
                                               "front-ready", "warm-up", "checks", "teardown"]
    # Every request went through KServe's front, as on a cluster, and its log is in the report.
    assert report.endpoint["serving_path"] == "front" and report.endpoint["front_pid"]
    front_log = (harness_options.report_dir / report.run_id / "diagnostics" / "kserve-front.out").read_text()
    posts = re.findall(r'"POST /v1/models/digits(?::|%3A)predict HTTP/1.1" 200', front_log)
    assert len(posts) == 2  # the warm-up and the check
    # Cold start from the local stages: the download's bytes are the uploaded archive's and config's.
    download = report.cold_start.phase("storage-download")
    assert download.bytes == sum(o["size"] for o in report.storage["objects"])
    assert report.cold_start.phase("first-answer").at_s > report.cold_start.phase("front-ready").at_s
    assert_nothing_left(report, harness_options.report_dir)


def test_direct_path_skips_the_front(run_scenario, scenario_copy, harness_options):
    report = run_scenario(scenario_copy("digits.yaml", {"serving": {"path": "direct"}}))
    assert report.passed and report.endpoint["serving_path"] == "direct"
    assert report.endpoint["front_pid"] is None and "front-ready" not in [p.name for p in report.phases]
    assert str(report.endpoint["ports"]["inference"]) in report.endpoint["base_url"]
    assert_nothing_left(report, harness_options.report_dir)


def test_failed_check_exits_1_with_a_readable_diff(run_scenario, scenario_copy, harness_options):
    wrong = json.loads((FIXTURES / "digits/expected_v1.json").read_text())
    wrong["predictions"][1][3] += 0.5
    path = scenario_copy("digits.yaml")
    bad_expect = path.parent / "wrong_expected.json"
    bad_expect.write_text(json.dumps(wrong))
    path = scenario_copy("digits.yaml", {"checks": [{"name": "wrong", "request": str(FIXTURES / "digits/request_v1.json"),
                                                     "expect": str(bad_expect)}]})
    report = run_scenario(path)
    assert not report.passed and report.exit_code == 1
    # The verdict explains itself in report.json's error too: what failed first, where, what to do.
    assert report.error["type"] == "ModelFailed" and report.error["what"].startswith("1 of 1 check(s) failed; wrong: ")
    assert report.error["where"].endswith("request_v1.json") and "responses/wrong.json" in report.error["hint"]
    (check,) = report.checks
    assert check.diff[0].startswith("$.predictions[1][3]: expected")
    assert "> atol 0.0001" in check.diff[0]  # the default tolerance
    assert_nothing_left(report, harness_options.report_dir)


def test_crashing_handler_fails_fast_quoting_the_worker_error(run_scenario, scenario_copy, harness_options):
    path = scenario_copy("digits.yaml", {"model": {"handler": str(CRASHING_HANDLER)},
                                         "torchserve": {"startup_timeout_s": 120}})
    start = time.monotonic()
    report = run_scenario(path)
    took = time.monotonic() - start
    assert report.exit_code == 1 and report.error["type"] == "DeployError"
    assert "keeps dying" in report.error["what"]
    assert "harness-test: this handler crashes on purpose" in report.error["what"]
    assert took < 90, f"the cause was known early but the run took {took:.0f}s (deadline 120s)"
    assert "diagnostics/model_log.log" in report.diagnostics
    assert_nothing_left(report, harness_options.report_dir)


def test_bad_input_is_a_failed_check_not_a_crash(run_scenario, scenario_copy, harness_options):
    path = scenario_copy("digits.yaml", {"checks": [
        {"name": "good", "request": str(FIXTURES / "digits/request_v1.json"),
         "expect": str(FIXTURES / "digits/expected_v1.json")},
        {"name": "bad-shape", "request": str(FIXTURES / "digits/request_v1_bad_shape.json"),
         "expect": str(FIXTURES / "digits/expected_v1.json")}]})
    report = run_scenario(path)
    assert [c.passed for c in report.checks] == [True, False] and report.exit_code == 1, report.error
    # KServe's front turns TorchServe's 503 into a 500 that quotes it: what a cluster answers.
    assert report.checks[1].diff[0].startswith("HTTP status: expected 200, got 500")
    assert "503 Service Unavailable" in report.checks[1].diff[0]
    assert_nothing_left(report, harness_options.report_dir)


def test_two_deployments_coexist_and_answer(deploy_scenario, tmp_path):
    from tests.helpers import SCENARIOS

    v1 = deploy_scenario(SCENARIOS / "digits.yaml")
    v2 = deploy_scenario(SCENARIOS / "digits-v2.yaml")
    assert v1.endpoint.base_url != v2.endpoint.base_url
    r1 = v1.predictor.post((FIXTURES / "digits/request_v1.json").read_bytes())
    r2 = v2.predictor.post((FIXTURES / "digits/request_v2.json").read_bytes())
    assert r1.status == 200 and len(r1.body["predictions"]) == 3
    assert r2.status == 200 and r2.body["outputs"][0]["shape"] == [30]
    # The management API confirms what config.properties asked for.
    desc = httpx.get(f"{v1.endpoint.management_url}/models/digits", timeout=5).json()[0]
    assert desc["batchSize"] == 1 and desc["workers"][0]["status"] == "READY"


def test_ctrl_c_during_startup_stops_everything(tmp_path, scenario_copy):
    report_dir = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(scenario_copy("digits.yaml")),
                             "--report-dir", str(report_dir)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not list(report_dir.glob("*/work/torchserve/torchserve.out")):  # TorchServe is starting
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "TorchServe never started"
            time.sleep(0.05)  # sleep-ok: polling a condition with a deadline
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    report = Report.model_validate_json(next(report_dir.glob("*/report.json")).read_text())
    assert report.error["type"] == "Interrupted"
    assert_nothing_left(report, report_dir)


def test_an_external_emulator_is_used_and_left_running(run_scenario, tmp_path):
    from harness.storage import GcsEmulator
    from tests.helpers import SCENARIOS

    with GcsEmulator(tmp_path / "emu") as emu:
        report = run_scenario(SCENARIOS / "digits.yaml", storage_emulator_host=emu.host)
        assert report.passed and report.storage["emulator_host"] == emu.host
        assert not port_is_free(emu.port)  # the run did not stop what it did not start
    assert "gcs-emulator.log" not in " ".join(report.diagnostics)


def test_a_refusal_by_the_management_api_ends_readiness_at_once(run_scenario, scenario_copy, harness_options):
    """Token authorization on (let through its lint on purpose): TorchServe answers 400 to every
    management call. That is a refusal, not slowness: exit 2 quoting TorchServe, long before the
    300 s start-up deadline, and the live key file never reaches the report."""
    path = scenario_copy("digits.yaml", {"torchserve": {"startup_timeout_s": 300,
                                                        "properties": {"disable_token_authorization": False}},
                                         "ignore_lints": ["token-auth-on"]})
    start = time.monotonic()
    report = run_scenario(path)
    took = time.monotonic() - start
    assert report.exit_code == 2 and report.error["type"] == "ConfigError"
    assert "HTTP 400 Token Authorization failed" in report.error["what"]
    assert took < 60, f"a refusal took {took:.0f}s (deadline 300s)"
    assert not list((harness_options.report_dir / report.run_id).rglob("key_file.json"))
    assert_nothing_left(report, harness_options.report_dir)

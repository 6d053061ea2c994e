"""The report's runtime section: the image, what ran, where they differ, the serving path; old reports."""
from __future__ import annotations

import json

from harness.report.model import SCHEMA_VERSION, Report, load_report
from harness.report.writer import rerender, write_report
from harness.runtimes.torchserve.runtime import TorchServeRuntime

runtime_info = TorchServeRuntime().info
from harness.spec import load_scenario
from tests.helpers import SCENARIOS
from tests.report.factory import make_run

# What the 0.12.0 runtime environment records about itself (harness-runtime.json "versions").
LOCAL_VERSIONS = {"python": "3.11.7", "torch": "2.4.0", "torchvision": "0.19.0", "captum": "0.6.0",
                  "torchserve": "0.12.0", "kserve": "0.13.0", "numpy": "1.26.4"}


def test_local_run_records_the_image_what_ran_and_the_differences(scenario_copy):
    spec = load_scenario(scenario_copy("digits.yaml"))
    rt = runtime_info(spec, {"runtime_versions": LOCAL_VERSIONS, "runtime_env": "/cache/torchserve-kfs-0.12.0-x"})
    assert rt.image == "pytorch/torchserve-kfs:0.12.0" and rt.tag == "0.12.0" and rt.serving_path == "front"
    assert rt.shipped == {"torchserve": "0.12.0", "torch": "2.4.0", "torchvision": "0.19.0", "captum": "0.6.0",
                          "kserve": "0.13.0", "python": "3.9"}
    assert rt.ran["torch"] == "2.4.0" and "numpy" not in rt.ran  # only what the image table names
    assert rt.differences == ["python: image 3.9, ran 3.11.7"]
    assert "/cache/torchserve-kfs-0.12.0-x" in rt.ran_source


def test_a_cluster_ran_the_image_the_pod_names(scenario_copy):
    spec = load_scenario(scenario_copy("digits.yaml", {"torchserve": {"image": "0.9.0"}, "kubernetes": {"gpus": 1},
                                                       "serving": {"path": "direct"}}))
    rt = runtime_info(spec, {"runtime_image": "pytorch/torchserve-kfs:0.9.0-gpu"})
    assert rt.image == "pytorch/torchserve-kfs:0.9.0-gpu" and rt.ran == rt.shipped and rt.differences == []
    assert rt.shipped["kserve"] == "0.11.1" and rt.serving_path == "direct"
    assert "not read from the pod" in rt.ran_source


def test_before_deploy_only_the_image_is_known(scenario_copy):
    rt = runtime_info(load_scenario(scenario_copy("digits.yaml")), None)
    assert (rt.ran, rt.differences, rt.ran_source) == ({}, [], "not deployed")


def _report_with_runtime(spec, path: str) -> Report:
    report = Report(run_id="digits-20261202-1", scenario={"name": "digits"}, target={"name": "local"},
                    started_at="2026-12-02T10:00:00+00:00", passed=True, exit_code=0)
    report.runtime = runtime_info(spec, {"runtime_versions": {**LOCAL_VERSIONS, "torch": "2.14.1"},
                                         "runtime_env": "/cache/env"})
    report.runtime.serving_path = path
    report.lint_warnings = [{"code": "torch-newer-than-image", "what": "weights.pth was written by a newer torch",
                             "hint": "save it with torch 2.4.0", "severity": "warning"}]
    return report


def test_summary_and_html_show_versions_and_path_in_one_place_each(scenario_copy, tmp_path):
    spec = load_scenario(scenario_copy("digits.yaml"))
    write_report(_report_with_runtime(spec, "direct"), tmp_path)
    md = (tmp_path / "summary.md").read_text()
    assert md.count("## Runtime") == 1
    assert "every check and load figure measured on the **direct** path" in md
    assert "| torch | 2.4.0 | 2.14.1 | **differs** |" in md and "| torchserve | 0.12.0 | 0.12.0 |  |" in md
    assert "## Lint warnings" in md and "`torch-newer-than-image`" in md
    html = (tmp_path / "report.html").read_text()
    assert html.count("<h2>Runtime</h2>") == 1 and "<b>direct</b> path" in html
    assert '<span class="badge differs">differs</span>' in html and "<h2>Lint warnings</h2>" in html
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["schema_version"] == SCHEMA_VERSION == "1.9"
    assert report["runtime"]["differences"] == ["torch: image 2.4.0, ran 2.14.1", "python: image 3.9, ran 3.11.7"]


def test_a_1_1_report_without_the_runtime_section_still_loads_and_renders(tmp_path):
    run = make_run(tmp_path, seed=7, with_load=False)
    raw = json.loads((run / "report.json").read_text())
    for key in ("runtime", "lint_warnings"):
        raw.pop(key)
    (run / "report.json").write_text(json.dumps({**raw, "schema_version": "1.1"}))
    report = load_report(run)
    assert report.schema_version == "1.1" and report.runtime is None and report.lint_warnings == []
    rerender(run)
    assert "## Runtime" not in (run / "summary.md").read_text()
    assert "<h2>Runtime</h2>" not in (run / "report.html").read_text()


def test_every_shipped_scenario_has_a_runtime_image():
    for path in sorted(SCENARIOS.glob("*.yaml")):
        spec = load_scenario(path)
        assert runtime_info(spec, None).image.startswith("pytorch/torchserve-kfs:"), path

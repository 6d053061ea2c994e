"""The nightly CI example: valid YAML, real paths, and CLI calls the harness accepts."""
from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from harness.cli import build_parser
from tests.helpers import REPO

WORKFLOW = REPO / ".github" / "workflows" / "nightly.yml"


def _steps() -> list[dict]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert data[True]["schedule"] and "workflow_dispatch" in data[True]  # YAML 1.1 reads `on:` as True
    assert data["permissions"]["actions"] == "read"
    return data["jobs"]["scenarios"]["steps"]


def test_the_workflow_runs_scenarios_on_kind_keeps_the_runs_and_compares():
    steps = _steps()
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    for action in ("actions/checkout", "helm/kind-action", "dawidd6/action-download-artifact",
                   "actions/upload-artifact"):
        assert action in uses, action
    kind = next(s for s in steps if s.get("uses", "").startswith("helm/kind-action"))
    assert (REPO / kind["with"]["config"]).is_file()
    run_text = "\n".join(s.get("run", "") for s in steps)
    assert "clusters/kind/up.sh" in run_text and (REPO / "clusters/kind/up.sh").is_file()
    assert "pytest scenarios --target kind" in run_text and "--junitxml" in run_text
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    download = next(s for s in steps if s.get("uses", "").startswith("dawidd6/action-download-artifact"))
    assert upload["with"]["name"] == download["with"]["name"] and upload["if"] == "always()"
    assert download["with"]["workflow_conclusion"] == "success"  # "last good run"


def test_the_compare_call_parses_with_the_real_cli():
    step = next(s for s in _steps() if s.get("id") == "compare")
    joined = step["run"].replace("\\\n", " ")  # shell line continuations
    line = next(x for x in joined.splitlines() if "harness compare" in x)
    args = shlex.split(line.replace("$REPORTS", "reports/nightly"))
    args = args[args.index("compare"):]
    ns = build_parser().parse_args(args)
    assert ns.baseline == Path("baseline") and ns.current == Path("reports/nightly/runs")
    assert ns.markdown and ns.html and ns.json


def test_the_history_step_keeps_report_json_and_responses_of_the_last_nights(tmp_path):
    import subprocess

    from tests.report.factory import make_run

    step = next(s for s in _steps() if s.get("name", "").startswith("Carry the baseline history"))
    for night in ("20261120-031700-1", "20261121-031700-2", "20261122-031700-3", "20261123-031700-4"):
        make_run(tmp_path / "baseline" / "history" / night, seed=int(night[-1]))
    make_run(tmp_path / "baseline" / "runs", seed=5)
    (tmp_path / "baseline" / "night.txt").write_text("20261124-031700-5\n")
    reports = tmp_path / "reports" / "nightly"
    reports.mkdir(parents=True)
    env = {"PATH": "/usr/bin:/bin", "REPORTS": "reports/nightly", "GITHUB_RUN_ID": "6"}
    subprocess.run(["bash", "-euo", "pipefail", "-c", step["run"]], cwd=tmp_path, env=env, check=True, timeout=60)
    history = sorted(p.name for p in (reports / "history").iterdir())
    assert history == ["20261121-031700-2", "20261122-031700-3", "20261123-031700-4", "20261124-031700-5"]
    kept = sorted(str(p.relative_to(reports / "history")) for p in (reports / "history").rglob("*") if p.is_file())
    assert kept and all(k.endswith("report.json") or "/responses/" in k for k in kept)
    assert (reports / "night.txt").read_text().strip().endswith("-6")

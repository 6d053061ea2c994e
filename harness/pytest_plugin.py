"""pytest plugin (entry point `kserve_harness`): --target and friends, and fixtures that deploy.

Fixtures:
    harness_options: the RunOptions built from the command line (session scope).
    run_scenario:    `run_scenario(path) -> Report`, the whole scenario as `harness run` runs it.
    deploy_scenario: `deploy_scenario(path) -> Deployment`, the model deployed and warmed up, with
                     `.endpoint` and `.predictor`; torn down (and its report written) after the test.
Plain `pytest` uses the embedded local target; cluster tiers need an explicit --target.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from harness.cli import TARGETS
from harness.errors import HarnessError
from harness.predict import Predictor
from harness.progress import Progress
from harness.report.model import Report
from harness.runner import RunOptions, ScenarioRun
from harness.spec import ScenarioSpec, load_scenario
from harness.targets.base import Endpoint


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kserve-harness")
    group.addoption("--target", choices=TARGETS, default="local",
                    help="where scenarios deploy: local (default, no cluster), kind, gke or kubeconfig")
    group.addoption("--kubeconfig", default=None, help="kubeconfig for the cluster targets")
    group.addoption("--kube-context", default=None, help="kubeconfig context for the cluster targets")
    group.addoption("--keep-cluster", action="store_true", help="kind: keep the cluster after the session")
    group.addoption("--keep-on-fail", action="store_true", help="keep the namespace of a failed scenario")
    group.addoption("--real-gcs", action="store_true", help="upload to real GCS instead of the emulator")
    group.addoption("--storage-emulator-host", default=None, metavar="URL",
                    help="upload to this running GCS emulator (kind: http://127.0.0.1:9023) instead of a private one")
    group.addoption("--trials", type=int, default=1, help="repeat each scenario's load phase N times")
    group.addoption("--harness-report-dir", default=None,
                    help="where run directories go (default: a temporary directory per session)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: needs a real Kubernetes cluster (--target kind|gke|kubeconfig)")
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU")


@pytest.fixture(scope="session")
def harness_options(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> RunOptions:
    cfg = request.config
    report_dir = cfg.getoption("--harness-report-dir")
    return RunOptions(
        target=cfg.getoption("--target"),
        report_dir=Path(report_dir) if report_dir else tmp_path_factory.mktemp("harness-reports"),
        real_gcs=cfg.getoption("--real-gcs"),
        storage_emulator_host=cfg.getoption("--storage-emulator-host"),
        kubeconfig=cfg.getoption("--kubeconfig"),
        context=cfg.getoption("--kube-context"),
        keep_on_fail=cfg.getoption("--keep-on-fail"),
        keep_cluster=cfg.getoption("--keep-cluster"),
        trials=cfg.getoption("--trials"),
        progress=Progress(quiet=True),
    )


def _as_spec(scenario: str | Path | ScenarioSpec) -> ScenarioSpec:
    return scenario if isinstance(scenario, ScenarioSpec) else load_scenario(scenario)


@pytest.fixture
def run_scenario(harness_options: RunOptions) -> Callable[..., Report]:
    """Run a scenario end to end; returns its Report (report.json is written too)."""

    def _run(scenario: str | Path | ScenarioSpec, **overrides) -> Report:
        options = RunOptions(**{**vars(harness_options), **overrides})
        return ScenarioRun(_as_spec(scenario), options).execute()

    return _run


@dataclass
class Deployment:
    spec: ScenarioSpec
    endpoint: Endpoint
    predictor: Predictor
    run: ScenarioRun


@pytest.fixture
def deploy_scenario(harness_options: RunOptions):
    """Deploy a scenario's model and hand back a Deployment; everything is torn down after the test."""
    with ExitStack() as stack:
        runs: list[ScenarioRun] = []

        def _deploy(scenario: str | Path | ScenarioSpec, **overrides) -> Deployment:
            options = RunOptions(**{**vars(harness_options), **overrides})
            run = ScenarioRun(_as_spec(scenario), options)
            runs.append(run)
            stack.callback(run.finish)
            try:
                endpoint = stack.enter_context(run.deployed())
            except HarnessError as exc:
                run.record_error(exc)
                pytest.fail(exc.one_line(), pytrace=False)
            predictor = stack.enter_context(Predictor(endpoint))
            return Deployment(spec=run.spec, endpoint=endpoint, predictor=predictor, run=run)

        yield _deploy

"""pytest plugin (entry point `kserve_harness`): --target and friends, and fixtures that deploy.

Fixtures:
    harness_options: the RunOptions built from the command line (session scope).
    run_scenario:    `run_scenario(path) -> Report`, the whole scenario as `harness run` runs it.
    deploy_scenario: `deploy_scenario(path) -> Deployment`, the model deployed and warmed up, with
                     `.endpoint` and `.predictor`; torn down (and its report written) after the test.
Plain `pytest` uses the embedded local target; cluster tiers need an explicit --target.

Every option but --target carries a `--harness-` prefix so that the plugin coexists with
pytest-kind (--cluster-name, --keep-cluster, --kubeconfig, --kind-image, --kind-bin,
--kind-kubectl-bin; fixture kind_cluster) and pytest-kubernetes (--k8s-*; fixtures k8s,
k8s_manager, remaining_clusters_teardown) installed beside it: argparse refuses a flag registered
twice. tests/test_plugin_coexistence.py loads all three.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from harness.endpoint import Endpoint
from harness.errors import HarnessError
from harness.predict import Predictor, predictor_for
from harness.progress import Progress
from harness.report.model import Report
from harness.runner import RunOptions, ScenarioRun
from harness.spec import ScenarioSpec, load_scenario
from harness.targets.registry import CLUSTER_TARGETS, LOCAL, TARGET_NAMES


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kserve-harness")
    group.addoption("--target", choices=TARGET_NAMES, default=LOCAL,
                    help=f"where scenarios deploy: {LOCAL} (default, no cluster), {', '.join(CLUSTER_TARGETS)}")
    group.addoption("--harness-kubeconfig", default=None, help="kubeconfig for the cluster targets")
    group.addoption("--harness-kube-context", default=None, help="kubeconfig context for the cluster targets")
    group.addoption("--harness-keep-cluster", action="store_true", help="kind: keep the cluster after the session")
    group.addoption("--harness-keep-on-fail", action="store_true", help="keep the namespace of a failed scenario")
    group.addoption("--harness-real-gcs", action="store_true", help="upload to real GCS instead of the emulator")
    group.addoption("--harness-storage-emulator-host", default=None, metavar="URL",
                    help="upload to this running GCS emulator (kind: http://127.0.0.1:9023) instead of a private one")
    group.addoption("--harness-trials", type=int, default=1, help="repeat each scenario's load phase N times")
    group.addoption("--harness-report-dir", default=None,
                    help="where run directories go (default: a temporary directory per session)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers",
                            f"cluster: needs a real Kubernetes cluster (--target {'|'.join(CLUSTER_TARGETS)})")
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU")


@pytest.fixture(scope="session")
def harness_options(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> RunOptions:
    cfg = request.config
    report_dir = cfg.getoption("--harness-report-dir")
    return RunOptions(
        target=cfg.getoption("--target"),
        report_dir=Path(report_dir) if report_dir else tmp_path_factory.mktemp("harness-reports"),
        real_gcs=cfg.getoption("--harness-real-gcs"),
        storage_emulator_host=cfg.getoption("--harness-storage-emulator-host"),
        kubeconfig=cfg.getoption("--harness-kubeconfig"),
        context=cfg.getoption("--harness-kube-context"),
        keep_on_fail=cfg.getoption("--harness-keep-on-fail"),
        keep_cluster=cfg.getoption("--harness-keep-cluster"),
        trials=cfg.getoption("--harness-trials"),
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
            predictor = stack.enter_context(predictor_for(endpoint))
            return Deployment(spec=run.spec, endpoint=endpoint, predictor=predictor, run=run)

        yield _deploy

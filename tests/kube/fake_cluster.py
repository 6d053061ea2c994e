"""A FAKE cluster for `--target kubeconfig` runs: the fake API server, the fake KServe controller
(which really runs kserve-storage and TorchServe per InferenceService) and the cluster's own GCS
emulator, with the harness's options pointed at them.

Flow: tests/kube/conftest.py's `fake_cluster` fixture starts one per call and stops them all after
the test -> `FakeCluster.run(scenario)` runs the harness as `harness run --target kubeconfig` does ->
`assert_cleaned_up(outcome)`: no process left, the namespace gone (or kept and labelled).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from harness.kube.naming import KEPT_LABEL, namespace_name
from harness.progress import Progress
from harness.report.model import Report
from harness.runner import RunOptions, ScenarioRun
from harness.spec import load_scenario
from tests.fakes import FakeKubeApiServer
from tests.fakes.kserve_controller import FakeKServeController
from tests.helpers import eventually, processes_touching

CRASHING_HANDLER = Path(__file__).resolve().parents[1] / "data" / "crashing_handler.py"


class PhaseClock(Progress):
    """Progress that remembers when each of the runner's phases ended (monotonic clock)."""

    def __init__(self) -> None:
        super().__init__(quiet=True)
        self.ended: dict[str, float] = {}
        self.failed: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str, doing: str) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.failed[name] = time.monotonic()
            raise
        self.ended[name] = time.monotonic()


@dataclass
class Outcome:
    report: Report
    run_dir: Path
    namespace: str
    clock: PhaseClock
    started: float


@dataclass
class FakeCluster:
    """A fake API server + fake KServe, and the harness's options for `--target kubeconfig` on it."""

    kube: FakeKubeApiServer
    controller: FakeKServeController
    kubeconfig: Path
    options: RunOptions
    outcomes: list[Outcome] = field(default_factory=list)

    def run(self, scenario: Path, **overrides) -> Outcome:
        """`harness run SCENARIO --target kubeconfig --kubeconfig ...`, through the runner."""
        clock = PhaseClock()
        options = RunOptions(**{**vars(self.options), "progress": clock, **overrides})
        run = ScenarioRun(load_scenario(scenario), options)
        started = time.monotonic()
        report = run.execute()
        outcome = Outcome(report, run.run_dir, namespace_name(run.run_id, run.spec.name), clock, started)
        self.outcomes.append(outcome)
        return outcome

    def assert_cleaned_up(self, outcome: Outcome, *, kept: bool = False) -> None:
        """No process of the run or of its pod is left; the namespace is gone (or kept, labelled)."""
        pods = self.controller.work_dir / outcome.namespace
        eventually(lambda: not processes_touching(pods) and not processes_touching(outcome.run_dir),
                   timeout_s=30, what=f"processes of {outcome.namespace} gone: "
                   f"{processes_touching(pods) + processes_touching(outcome.run_dir)}")
        namespaces = {n["metadata"]["name"]: n for n in self.kube.store.list("namespaces")}
        if kept:
            assert namespaces[outcome.namespace]["metadata"]["labels"][KEPT_LABEL] == "true"
        else:
            assert outcome.namespace not in namespaces

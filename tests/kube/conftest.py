"""Shared fixtures for the Kubernetes tests: ../shared lookup, a scenario factory and the fake cluster."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.runner import RunOptions
from harness.spec import ScenarioSpec
from harness.storage import GcsEmulator
from tests.fakes import FakeKubeApiServer
from tests.fakes.kserve_controller import FakeKServeController
from tests.helpers import processes_touching
from tests.kube.fake_cluster import FakeCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
CRD_PATH = SHARED / "kserve" / "serving.kserve.io_inferenceservices.yaml"


@pytest.fixture
def crd_path() -> Path:
    if not CRD_PATH.is_file():
        pytest.skip(f"the KServe CRD is not available: {CRD_PATH} is absent (../shared is not checked out)")
    return CRD_PATH


def scenario(name: str = "mnist", *, protocol: str = "v1", **kubernetes: Any) -> ScenarioSpec:
    """A valid scenario with a `kubernetes` section built from keyword arguments."""
    return ScenarioSpec.model_validate({
        "name": name,
        "model": {"name": "mnist", "serialized_file": "mnist_cnn.pt", "handler": "image_classifier"},
        "storage": {"uri": "gs://kserve-harness-test/models/mnist"},
        "serving": {"protocol": protocol},
        "kubernetes": kubernetes,
    })


@pytest.fixture
def fake_cluster(tmp_path: Path, harness_options: RunOptions):
    """Start a fake cluster: `fake_cluster(**FakeKServeController kwargs) -> FakeCluster`
    (tests/kube/fake_cluster.py); stop all it started after the test."""
    started: list[tuple[FakeKubeApiServer, FakeKServeController, GcsEmulator]] = []

    def _start(**controller_kwargs) -> FakeCluster:
        # The cluster's own GCS emulator, as kind's in-cluster one: its storage-initializer reads
        # it, and the harness is told to upload there (--storage-emulator-host).
        emulator = GcsEmulator(tmp_path).start()
        kube = FakeKubeApiServer().start()
        controller = FakeKServeController(kube.store, tmp_path / "kserve", emulator_host=emulator.host,
                                          **controller_kwargs)
        started.append((kube, controller, emulator))
        controller.start()
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        options = RunOptions(**{**vars(harness_options), "target": "kubeconfig", "kubeconfig": str(kubeconfig),
                                "context": None, "report_dir": tmp_path / "reports", "run_load": False,
                                "storage_emulator_host": emulator.host})
        return FakeCluster(kube, controller, kubeconfig, options)

    yield _start
    for kube, controller, emulator in started:
        controller.stop()
        kube.stop()
        emulator.stop()
    assert processes_touching(tmp_path) == []

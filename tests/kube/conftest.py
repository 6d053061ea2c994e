"""Shared fixtures for the Kubernetes tests: ../shared lookup and a scenario factory."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.spec import ScenarioSpec

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

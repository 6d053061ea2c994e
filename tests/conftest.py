"""Fixtures shared by the harness's own tests."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import FIXTURES, SCENARIOS


@pytest.fixture
def scenario_copy(tmp_path: Path):
    """Write a variant of a shipped scenario into tmp_path (paths made absolute) and return its path.

    Usage: scenario_copy("digits.yaml", {"torchserve": {"batch_size": 4}}) deep-merges the change.
    """

    def _make(name: str, changes: dict | None = None, *, drop: tuple[str, ...] = ()) -> Path:
        source = SCENARIOS / name
        data = yaml.safe_load(source.read_text())
        _absolutise(data, source.parent)
        _merge(data, changes or {})
        for dotted in drop:
            *parents, last = dotted.split(".")
            node = data
            for p in parents:
                node = node[p]
            node.pop(last, None)
        out = tmp_path / name
        out.write_text(yaml.safe_dump(data, sort_keys=False))
        return out

    return _make


def _absolutise(data: dict, base: Path) -> None:
    model = data["model"]
    for key in ("serialized_file", "model_file", "requirements_file"):
        if model.get(key):
            model[key] = str((base / model[key]).resolve())
    model["extra_files"] = [str((base / p).resolve()) for p in model.get("extra_files", [])]
    if model.get("handler", "tensor").endswith(".py"):
        model["handler"] = str((base / model["handler"]).resolve())
    for check in data.get("checks", []):
        for key in ("request", "expect"):
            if check.get(key):
                check[key] = str((base / check[key]).resolve())
    load = data.get("load")
    if load and load.get("requests"):
        load["requests"] = [str((base / p).resolve()) for p in load["requests"]]


def _merge(into: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@pytest.fixture
def digits_model(tmp_path: Path) -> Path:
    target = tmp_path / "model.pt"
    shutil.copyfile(FIXTURES / "digits" / "model.pt", target)
    return target

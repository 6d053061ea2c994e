"""tests/kube/data/digits-rollout.yaml written into a tmp folder (its paths made absolute), with changes."""
from __future__ import annotations

from pathlib import Path

import yaml

ROLLOUT = Path(__file__).parent / "data" / "digits-rollout.yaml"


def rollout_scenario(tmp_path: Path, drop: tuple[str, ...] = (), **changes) -> Path:
    """Top-level sections in `drop` are removed; each of `changes` is merged into its section."""
    data = yaml.safe_load(ROLLOUT.read_text())
    here = ROLLOUT.parent
    data["model"]["serialized_file"] = str((here / data["model"]["serialized_file"]).resolve())
    for c in data["checks"]:
        c["request"], c["expect"] = (str((here / c[k]).resolve()) for k in ("request", "expect"))
    data["load"]["requests"] = [str((here / r).resolve()) for r in data["load"]["requests"]]
    for key in drop:
        data.pop(key)
    for section, values in changes.items():
        data[section] = {**(data.get(section) or {}), **values}
    out = tmp_path / "rollout.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out

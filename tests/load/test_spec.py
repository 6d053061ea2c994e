"""The `load:` section: strict, cross-field rules, expansion into steps, paths from the YAML."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from harness.errors import ConfigError
from harness.load.spec import LoadSpec, SloSpec
from harness.spec import load_scenario

EXAMPLE = {
    "mode": "open", "rate": 20, "duration_s": 20, "warmup_s": 3, "requests": ["request.json"], "workers": 1,
    "slo": {"p95_ms": 200, "p99_ms": 400, "max_error_rate": 0.01, "min_rps": 15},
}


def _scenario(tmp_path: Path, load: dict) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "request.json").write_text('{"instances": [[1, 2]]}')
    path = tmp_path / "sub" / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "model": {"name": "m", "serialized_file": "m.pt"},
                                    "storage": {"uri": "gs://bkt/d"}, "load": load}))
    return path


def test_issue_example_loads_and_request_paths_resolve_against_the_yaml(tmp_path):
    spec = load_scenario(_scenario(tmp_path, EXAMPLE))
    assert spec.load.requests == [(tmp_path / "sub" / "request.json").resolve()]
    assert spec.load.read_bodies() == [b'{"instances": [[1, 2]]}']
    assert spec.load.slo == SloSpec(p95_ms=200, p99_ms=400, max_error_rate=0.01, min_rps=15)
    [[plan]] = spec.load.runs()
    assert (plan.rate, plan.duration_s, plan.warmup_s) == (20, 20, 3)


def test_unknown_key_in_load_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"load\.ratee: unknown key"):
        load_scenario(_scenario(tmp_path, {**EXAMPLE, "ratee": 3}))


@pytest.mark.parametrize("load, message", [
    ({"mode": "open", "users": 3, "duration_s": 5}, "`users` is for closed loop"),
    ({"mode": "closed", "rate": 3, "duration_s": 5}, "`rate` is for open loop"),
    ({"mode": "open", "duration_s": 5}, "needs `rate`"),
    ({"mode": "open", "rate": 5}, "duration_s is required"),
    ({"mode": "open", "duration_s": 5, "sweep": {"param": "users", "values": [1]}}, "sweeps `rate`"),
    ({"mode": "open", "rate": 5, "duration_s": 5, "sweep": {"param": "rate", "values": [1]}}, "both directly"),
    ({"mode": "closed", "stages": [{"duration_s": 2, "rate": 3}]}, "takes `users`"),
    ({"mode": "closed", "users": 2, "duration_s": 5, "slo": {"p95": 3}}, "Extra inputs"),
    ({"mode": "open", "rate": 5, "duration_s": 5, "spawn_rate": 2}, "for closed loop"),
    ({"mode": "closed", "sweep": {"param": "users", "values": [1.5]}, "duration_s": 5}, "whole numbers"),
])
def test_cross_field_mistakes_are_named(load, message):
    with pytest.raises(ValidationError, match=message):
        LoadSpec.model_validate(load)


def test_sweep_and_stages_expand_into_steps():
    sweep = LoadSpec.model_validate({"mode": "closed", "duration_s": 5, "warmup_s": 1,
                                     "sweep": {"param": "users", "values": [1, 4]}})
    runs = sweep.runs()
    assert [[p.label for p in r] for r in runs] == [["users=1"], ["users=4"]]
    assert runs[1][0].spawn_rate == 4 and runs[1][0].warmup_s == 1
    staged = LoadSpec.model_validate({"mode": "open", "warmup_s": 2,
                                      "stages": [{"duration_s": 3, "rate": 5}, {"duration_s": 4, "rate": 9, "warmup_s": 1}]})
    [stages] = staged.runs()
    assert [(p.rate, p.warmup_s, p.duration_s) for p in stages] == [(5, 2, 3), (9, 1, 4)]


def test_missing_body_file_is_a_config_error(tmp_path):
    spec = LoadSpec.model_validate({"mode": "open", "rate": 1, "duration_s": 1, "requests": [str(tmp_path / "nope.json")]})
    with pytest.raises(ConfigError, match="not found"):
        spec.read_bodies()


def test_every_field_is_described():
    from harness.load.spec import SelfCheckSpec, StageSpec, SweepSpec

    for model in (LoadSpec, SloSpec, SelfCheckSpec, StageSpec, SweepSpec):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"

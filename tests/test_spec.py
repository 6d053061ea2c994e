from pathlib import Path

import pytest
import yaml

from harness.errors import ConfigError
from harness.lints import lint
from harness.spec import load_scenario
from tests.helpers import SCENARIOS


def test_relative_paths_resolve_against_the_yaml_file():
    spec = load_scenario(SCENARIOS / "digits.yaml")
    assert spec.model.serialized_file == (SCENARIOS.parent / "fixtures/digits/model.pt").resolve()
    assert spec.checks[0].request.is_file()


def test_unknown_key_is_an_error_naming_the_key(scenario_copy):
    path = scenario_copy("digits.yaml", {"torchserve": {"batch_szie": 4}})
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert "torchserve.batch_szie: unknown key" in err.value.what
    assert str(path) in err.value.one_line()


@pytest.mark.parametrize("uri", ["s3://bucket/dir", "gs://", "bucket/dir"])
def test_storage_uri_must_be_gs(scenario_copy, uri):
    with pytest.raises(ConfigError, match="storage.uri"):
        load_scenario(scenario_copy("digits.yaml", {"storage": {"uri": uri}}))


def test_bad_yaml_reports_the_line(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_scenario(bad)
    assert f"{bad}:" in err.value.where


def test_missing_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_workers_must_be_ordered(scenario_copy):
    with pytest.raises(ConfigError, match="max_workers"):
        load_scenario(scenario_copy("digits.yaml", {"torchserve": {"min_workers": 3, "max_workers": 1}}))


@pytest.mark.parametrize("path", sorted(SCENARIOS.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_validates_and_lints_clean(path: Path):
    spec = load_scenario(path)
    # Errors only: a warning (e.g. a .pth fixture saved by the harness's newer torch) lets the run go on.
    assert [f for f in lint(spec) if f.severity == "error"] == [], [f.one_line() for f in lint(spec)]
    assert yaml.safe_load(path.read_text())["name"] == spec.name

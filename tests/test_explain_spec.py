"""`verb: explain` in a scenario's checks: KServe V1 `:explain`, and the mistakes around it.

Flow: scenarios/mnist.yaml's explain check -> its default path /v1/models/NAME:explain; an
explain check with serving.protocol v2, or with a path that is no `:explain` URL -> a one-line
ConfigError naming the check. (scenarios/test_scenarios.py serves it for real.)
"""
from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.lints import lint
from harness.spec import load_scenario
from tests.helpers import SCENARIOS


def _explain_check(spec):
    return next(c for c in spec.checks if c.verb == "explain")


def test_explain_defaults_to_the_v1_explain_url():
    spec = load_scenario(SCENARIOS / "mnist.yaml")
    assert [c.verb for c in spec.checks] == ["predict", "explain"]
    assert spec.checks[0].path is None  # the protocol's predict path, as before
    assert _explain_check(spec).path == "/v1/models/mnist:explain"
    assert [f for f in lint(spec) if f.severity == "error"] == []


def test_explain_follows_the_model_name(scenario_copy):
    spec = load_scenario(scenario_copy("mnist.yaml", {"model": {"name": "digits-cnn"}}))
    assert _explain_check(spec).path == "/v1/models/digits-cnn:explain"


def test_explain_needs_protocol_v1(scenario_copy):
    with pytest.raises(ConfigError) as info:
        load_scenario(scenario_copy("mnist.yaml", {"serving": {"protocol": "v2"}}))
    assert "checks[1] (explain-integrated-gradients): verb explain needs serving.protocol v1, not v2" in info.value.what
    assert "\n" not in info.value.one_line()


def test_explain_with_a_predict_path_is_refused(scenario_copy):
    path = scenario_copy("mnist.yaml")
    text = path.read_text().replace("verb: explain", "verb: explain\n  path: /v1/models/mnist:predict")
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"verb explain with path '/v1/models/mnist:predict'"):
        load_scenario(path)


def test_unknown_verb_is_a_config_error(scenario_copy):
    path = scenario_copy("mnist.yaml")
    path.write_text(path.read_text().replace("verb: explain", "verb: explian"))
    with pytest.raises(ConfigError, match=r"checks\.1\.verb: Input should be 'predict' or 'explain'"):
        load_scenario(path)

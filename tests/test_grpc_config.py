"""grpc-v2 in the scenario file and its lints: V2 bodies are grpc-v2 bodies, a URL path makes no
sense over gRPC, a body that cannot be encoded as ModelInfer is named before anything deploys,
and TorchServe's own gRPC port (path: direct) is refused as the config error it is."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ConfigError
from harness.lints import lint, lint_codes
from harness.spec import load_scenario
from tests.helpers import FIXTURES, SCENARIOS

V1_BODY = FIXTURES / "digits" / "request_v1.json"
V2_BODY = FIXTURES / "digits" / "request_v2.json"


def codes(path: Path) -> list[str]:
    return [f.code for f in lint(load_scenario(path))]


def test_the_shipped_grpc_scenario_is_clean_and_speaks_grpc_v2(capsys):
    spec = load_scenario(SCENARIOS / "digits-grpc.yaml")
    assert spec.serving.protocol == "grpc-v2" and spec.serving.path == "front"
    assert spec.serving.effective_envelope == "kservev2"  # what KServe sets for grpc-v2 too
    assert spec.load is not None and spec.load.requests == [V2_BODY.resolve()]
    assert main(["lint", str(SCENARIOS / "digits-grpc.yaml")]) == 0, capsys.readouterr()


def test_v2_bodies_pass_and_v1_bodies_are_the_wrong_protocol(scenario_copy):
    ok = scenario_copy("digits-grpc.yaml", {"checks": [{"name": "c", "request": str(V2_BODY)}]})
    assert codes(ok) == []
    v1 = scenario_copy("digits-grpc.yaml", {"checks": [{"name": "c", "request": str(V1_BODY)}]})
    [finding] = lint(load_scenario(v1))
    assert finding.code == "request-protocol" and "V1 body but serving.protocol is grpc-v2" in finding.what
    assert codes(scenario_copy("digits-grpc.yaml", {"load": {"requests": [str(V1_BODY)]}})) == ["request-protocol"]


@pytest.mark.parametrize("changes, key", [
    ({"checks": [{"name": "c", "request": str(V2_BODY), "path": "/v2/models/digits/infer"}]}, "checks[0].path"),
    ({"load": {"path": "/v2/models/digits/infer"}}, "load.path"),
])
def test_a_url_path_over_grpc_is_linted(scenario_copy, changes, key):
    [finding] = lint(load_scenario(scenario_copy("digits-grpc.yaml", changes)))
    assert finding.code == "grpc-path" and finding.what.startswith(f"{key} '/v2/models/digits/infer' is a URL")
    assert "drop the path" in finding.hint


def test_a_v2_body_that_cannot_be_encoded_is_linted(scenario_copy, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3]}]}))
    [finding] = lint(load_scenario(scenario_copy("digits-grpc.yaml", {"checks": [{"name": "c", "request": str(bad)}]})))
    assert finding.code == "grpc-request"
    assert "cannot be sent as a ModelInfer request: inputs[0] (x): 3 values do not fit shape [2, 3]" in finding.what
    # The same body over V2 REST is the server's to judge: no lint there.
    assert codes(scenario_copy("digits-v2.yaml", {"checks": [{"name": "c", "request": str(bad)}]})) == []


def test_the_new_codes_are_lint_codes():
    assert {"grpc-path", "grpc-request", "grpc-no-queue-latency"} <= lint_codes()


def test_grpc_v2_on_torchserves_own_grpc_port_is_a_config_error(scenario_copy):
    with pytest.raises(ConfigError) as info:
        load_scenario(scenario_copy("digits-grpc.yaml", {"serving": {"path": "direct"}}))
    line = info.value.one_line()
    assert "grpc-v2 with serving.path direct" in line and "use path: front" in line and "\n" not in line


def test_a_queue_latency_slo_over_grpc_is_linted(scenario_copy):
    # TorchServe's gRPC jobs record no ts_queue_latency_microseconds: the SLO could never pass.
    path = scenario_copy("digits-grpc.yaml", {"load": {"slo": {"max_queue_ms": 50}}})
    assert codes(path) == ["grpc-no-queue-latency"]
    rest = scenario_copy("digits-v2.yaml", {"load": {"mode": "open", "rate": 5, "requests": [str(V2_BODY)],
                                                      "duration_s": 2, "slo": {"max_queue_ms": 50}}})
    assert codes(rest) == []

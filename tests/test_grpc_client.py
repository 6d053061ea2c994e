"""grpc-v2 checks' client (harness.grpc_client): V2 REST JSON in, ModelInfer over real gRPC, V2 JSON out.

The conversions are checked field by field; the client itself against a real gRPC server
(tests/grpc_server.py, tritonclient's generated servicer) that echoes each input, as raw or typed
contents, and refuses on request: what comes back is exactly what was sent, every gRPC status
becomes its documented HTTP status, and a server that is not there is one PredictorError line.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from tritonclient.grpc import service_pb2

from harness.errors import ConfigError, PredictorError
from harness.grpc_client import GRPC_TO_HTTP, GrpcPredictor, model_infer_request, response_json
from harness.outputs import value_diff as compare
from harness.predict import Predictor, predictor_for
from harness.endpoint import Endpoint
from harness.waits import free_port
from tests import grpc_server
from tests.helpers import FIXTURES

DIGITS_V2 = FIXTURES / "digits" / "request_v2.json"
MIXED = {"id": "r-7", "parameters": {"trace": "yes", "n": 3},
         "inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [0.5, -1.25, 3.0, 1e-7]},
                    {"name": "ids", "shape": [3], "datatype": "INT64", "data": [1, -2, 2 ** 40]},
                    {"name": "text", "shape": [2], "datatype": "BYTES", "data": ["héllo", "a b"]},
                    {"name": "flags", "shape": [2], "datatype": "BOOL", "data": [True, False]}],
         "outputs": [{"name": "x"}]}


def endpoint(target: str | None, model: str = "echo") -> Endpoint:
    return Endpoint(base_url="http://127.0.0.1:1", model_name=model, protocol="grpc-v2", grpc_target=target)


@pytest.fixture
def echo(tmp_path):
    """Factory: echo(typed=False, fail_every=0, model="echo") -> a running tests/grpc_server.py."""
    started = []

    def make(**kw):
        srv = grpc_server.start(tmp_path / f"grpc-server-{len(started)}.log", **kw)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


# --- V2 JSON -> ModelInferRequest ---------------------------------------------------------------

def test_the_digits_v2_request_becomes_its_model_infer_request():
    body = json.loads(DIGITS_V2.read_text())
    req = model_infer_request(DIGITS_V2.read_bytes(), "digits")
    assert (req.model_name, req.id, req.model_version) == ("digits", body["id"], "")
    [tensor] = req.inputs
    spec = body["inputs"][0]
    assert (tensor.name, tensor.datatype, list(tensor.shape)) == (spec["name"], "FP32", spec["shape"])
    # The values travel as raw little-endian float32, exactly the request's numbers.
    assert req.raw_input_contents[0] == np.asarray(spec["data"], dtype="<f4").tobytes()


def test_every_datatype_parameters_and_requested_outputs_are_encoded():
    req = model_infer_request(MIXED, "m")
    assert [t.name for t in req.inputs] == ["x", "ids", "text", "flags"]
    assert req.raw_input_contents[1] == np.asarray([1, -2, 2 ** 40], dtype="<i8").tobytes()
    # BYTES: each element a 4-byte little-endian length, then its UTF-8 bytes.
    word = "héllo".encode()
    assert req.raw_input_contents[2] == len(word).to_bytes(4, "little") + word + (3).to_bytes(4, "little") + b"a b"
    assert req.raw_input_contents[3] == b"\x01\x00"
    assert req.parameters["trace"].string_param == "yes" and req.parameters["n"].int64_param == 3
    assert [o.name for o in req.outputs] == ["x"]


@pytest.mark.parametrize("body, words", [
    (b"{not json", "not JSON"),
    ({"instances": [[1.0]]}, "not a V2 inference request"),
    ({"inputs": []}, "not a V2 inference request"),
    ({"inputs": [{"name": "x", "shape": [1], "data": [1.0]}]}, "inputs[0] lacks datatype"),
    ({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
     "3 values do not fit shape [2, 3]"),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP33", "data": [1]}]}, "unknown datatype 'FP33'"),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": ["one"]}]}, "one"),
])
def test_a_body_that_is_no_v2_request_says_what_is_wrong(body, words):
    with pytest.raises(ValueError) as info:
        model_infer_request(body, "m")
    assert words in str(info.value)


# --- ModelInferResponse -> V2 JSON ---------------------------------------------------------------

def _response(typed: bool) -> service_pb2.ModelInferResponse:
    r = service_pb2.ModelInferResponse(model_name="m", model_version="2", id="r-1")
    values = [-4.303396701812744, 0.1, 1e300]
    out = r.outputs.add(name="logits", datatype="FP64", shape=[3])
    strings = r.outputs.add(name="labels", datatype="BYTES", shape=[2])
    if typed:
        out.contents.fp64_contents.extend(values)
        strings.contents.bytes_contents.extend([b"seven", b"\xff\xfe"])
    else:
        r.raw_output_contents.append(np.asarray(values, dtype="<f8").tobytes())
        r.raw_output_contents.append((5).to_bytes(4, "little") + b"seven" + (2).to_bytes(4, "little") + b"\xff\xfe")
    return r


@pytest.mark.parametrize("typed", [False, True], ids=["raw", "typed"])
def test_responses_read_the_same_from_raw_and_typed_contents(typed):
    doc = response_json(_response(typed))
    assert doc == {"model_name": "m", "model_version": "2", "id": "r-1", "parameters": None, "outputs": [
        {"name": "logits", "shape": [3], "datatype": "FP64", "data": [-4.303396701812744, 0.1, 1e300]},
        # text as REST shows it; bytes that are no UTF-8 as base64
        {"name": "labels", "shape": [2], "datatype": "BYTES", "data": ["seven", "//4="]}]}


# --- the client against a real gRPC server --------------------------------------------------------

@pytest.mark.parametrize("typed", [False, True], ids=["raw", "typed"])
def test_what_goes_out_comes_back_unchanged(echo, typed):
    srv = echo(typed=typed)
    with GrpcPredictor(endpoint(srv.target)) as client:
        r = client.post(json.dumps(MIXED))
    assert r.status == 200 and r.elapsed_ms > 0
    assert r.body["id"] == "r-7" and r.body["model_name"] == "echo" and r.body["parameters"] == {"echoed": True}
    expected = [{**t, "shape": t["shape"]} for t in MIXED["inputs"]]
    expected[0]["data"] = np.asarray(expected[0]["data"], dtype=np.float32).tolist()  # float32 on the wire
    # Exact: the same numbers and strings, in V2 REST's shape, so harness.outputs.value_diff applies as is.
    assert compare({"outputs": expected}, r.body, atol=0.0) == []
    assert json.loads(r.text) == r.body


def test_the_digits_request_round_trips_through_compare(echo):
    srv = echo()
    body = json.loads(DIGITS_V2.read_text())
    with predictor_for(endpoint(srv.target)) as client:
        assert isinstance(client, GrpcPredictor)
        r = client.post(DIGITS_V2.read_bytes())
    sent = body["inputs"][0]
    assert compare({"outputs": [sent]}, r.body, atol=0.0) == []


def test_a_rest_endpoint_still_gets_the_rest_predictor():
    rest = Endpoint(base_url="http://127.0.0.1:1", model_name="m", protocol="v2")
    with predictor_for(rest) as client:
        assert isinstance(client, Predictor)


@pytest.mark.parametrize("kw, model, status, code", [
    ({"fail_every": 1}, "echo", 400, "INVALID_ARGUMENT"),
    ({}, "other", 404, "NOT_FOUND"),
])
def test_grpc_errors_are_the_http_status_google_rpc_maps_them_to(echo, kw, model, status, code):
    srv = echo(model="echo", **kw)
    with GrpcPredictor(endpoint(srv.target, model)) as client:
        r = client.post(DIGITS_V2.read_bytes())
    assert (r.status, r.body["grpc_status"]) == (status, code) == (GRPC_TO_HTTP[code], code)
    assert r.body["error"] and json.loads(r.text) == r.body


def test_nothing_listening_is_one_predictor_error_line():
    target = f"127.0.0.1:{free_port()}"
    with GrpcPredictor(endpoint(target), timeout_s=5) as client:
        with pytest.raises(PredictorError) as info:
            client.post(DIGITS_V2.read_bytes())
    line = info.value.one_line()
    assert "\n" not in line and "UNAVAILABLE" in line and target in line


def test_a_url_path_or_a_v1_body_is_a_config_error_not_a_call(echo):
    srv = echo()
    with GrpcPredictor(endpoint(srv.target)) as client:
        with pytest.raises(ConfigError, match="cannot be sent over grpc-v2"):
            client.post(DIGITS_V2.read_bytes(), "/v2/models/echo/infer")
        with pytest.raises(ConfigError, match="not a V2 inference request"):
            client.post({"instances": [[1.0]]})


def test_an_endpoint_without_a_grpc_address_is_named():
    with pytest.raises(ConfigError, match="no gRPC address"):
        GrpcPredictor(endpoint(None))

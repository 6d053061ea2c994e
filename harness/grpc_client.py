"""Talk to a predictor over grpc-v2 (KServe's Open Inference Protocol over gRPC) like `Predictor`.

Flow: `GrpcPredictor(endpoint).post(body)` -> the V2 REST request JSON (`{"id", "inputs": [{"name",
"shape", "datatype", "data"}], "outputs", "parameters"}`) becomes tritonclient `InferInput`s and
one `ModelInferRequest` (`model_infer_request`) -> `ModelInfer` on `endpoint.grpc_target` through
tritonclient's generated stub -> the `ModelInferResponse` turned back into the V2 REST JSON shape
(`response_json`: `{"model_name", "model_version", "id", "parameters", "outputs": [{"name",
"datatype", "shape", "data"}]}`), so one expected file and `harness.outputs.value_diff` serve both
protocols. Checks and the load generator send the very same message (`model_infer_request`).

Status: gRPC OK is 200; any other code is the HTTP status Google's API design maps it to
(`GRPC_TO_HTTP`: INVALID_ARGUMENT 400, NOT_FOUND 404, UNKNOWN and INTERNAL 500, UNIMPLEMENTED
501, ...), the body `{"error": details, "grpc_status": CODE}`. KServe 0.13's gRPC server answers
every model error with UNKNOWN (500, as its REST side answers most of them). UNAVAILABLE and
DEADLINE_EXCEEDED mean nothing answered: a `PredictorError`, as a refused or timed-out HTTP call.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any

import grpc
import numpy as np
from tritonclient.grpc import InferInput, InferRequestedOutput, service_pb2, service_pb2_grpc
from tritonclient.grpc._utils import _get_inference_request
from tritonclient.utils import InferenceServerException, triton_to_np_dtype

from harness.errors import ConfigError, PredictorError
from harness.endpoint import Response
from harness.endpoint import Endpoint

MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"  # what the load report names as its "path"

# google.rpc.Code's documented HTTP mapping (googleapis/google/rpc/code.proto).
GRPC_TO_HTTP: dict[str, int] = {
    "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501,
    "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500, "UNAUTHENTICATED": 401,
}
# Codes the client library itself produces when nothing answered (refused, reset, timed out).
TRANSPORT_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"})

# OIP typed-contents field per datatype (a response carries either these or raw_output_contents).
_CONTENTS_FIELD = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}


def channel_options(endpoint: Endpoint) -> list[tuple[str, Any]]:
    """gRPC channel arguments: the ingress's Host header becomes the :authority, as for REST."""
    opts: list[tuple[str, Any]] = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    if endpoint.host_header:
        opts.append(("grpc.default_authority", endpoint.host_header))
    return opts


# --- V2 JSON -> ModelInferRequest ------------------------------------------------------------------

def _input(i: int, spec: Any) -> InferInput:
    if not isinstance(spec, dict):
        raise ValueError(f"inputs[{i}] is not an object")
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in spec]
    if missing:
        raise ValueError(f"inputs[{i}] lacks {', '.join(missing)}")
    datatype, shape = spec["datatype"], spec["shape"]
    dtype = triton_to_np_dtype(datatype)
    if dtype is None:
        raise ValueError(f"inputs[{i}] ({spec['name']}): unknown datatype {datatype!r}")
    data = spec["data"]
    if datatype == "BYTES":
        # A JSON string element is its UTF-8 bytes on the wire (gRPC carries bytes, not text).
        flat = np.array(data, dtype=object).flatten()
        values = np.array([v.encode() if isinstance(v, str) else v for v in flat], dtype=object)
    else:
        values = np.array(data, dtype=dtype)
    try:
        values = values.reshape(shape)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"inputs[{i}] ({spec['name']}): {values.size} values do not fit shape {shape}") from exc
    tensor = InferInput(str(spec["name"]), list(shape), datatype)
    tensor.set_data_from_numpy(values)
    return tensor


def model_infer_request(body: bytes | str | dict, model_name: str) -> service_pb2.ModelInferRequest:
    """The ModelInferRequest for a V2 REST request body (what tritonclient's `infer` would send).

    Raises:
        ValueError: the body is not a V2 inference request (no `inputs`, a tensor that does not fit
            its shape or datatype, ...), with what is wrong.
    """
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise ValueError('not a V2 inference request: it needs "inputs": [{"name", "shape", "datatype", "data"}]')
    try:
        inputs = [_input(i, spec) for i, spec in enumerate(body["inputs"])]
        outputs = [InferRequestedOutput(str(o["name"])) for o in body.get("outputs") or []]
        # tritonclient's own request builder (InferenceServerClient.infer calls it), so the message is
        # exactly the library's; the pinned tritonclient release keeps this private name stable.
        return _get_inference_request(
            model_name=model_name, inputs=inputs, model_version="", request_id=str(body.get("id") or ""),
            outputs=outputs or None, sequence_id=0, sequence_start=False, sequence_end=False, priority=0,
            timeout=None, parameters=body.get("parameters") or None)
    except InferenceServerException as exc:
        raise ValueError(exc.message()) from None
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None


# --- ModelInferResponse -> V2 JSON -----------------------------------------------------------------

def _parameters(params) -> dict | None:
    out = {}
    for key, p in params.items():
        choice = p.WhichOneof("parameter_choice")
        out[key] = getattr(p, choice) if choice else None
    return out or None


def _text(value: bytes) -> str:
    """BYTES elements as REST shows them: text, or base64 when they are not UTF-8."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return base64.b64encode(value).decode()


def response_json(response: service_pb2.ModelInferResponse) -> dict:
    """The V2 REST JSON body for a ModelInferResponse (data flattened, as REST sends it)."""
    outputs = []
    for index, o in enumerate(response.outputs):
        if index < len(response.raw_output_contents):
            raw = response.raw_output_contents[index]
            if o.datatype == "BYTES":  # each element: 4-byte little-endian length, then the bytes
                data, at = [], 0
                while at < len(raw):
                    n = int.from_bytes(raw[at:at + 4], "little")
                    data.append(_text(raw[at + 4:at + 4 + n]))
                    at += 4 + n
            else:
                data = np.frombuffer(raw, dtype=triton_to_np_dtype(o.datatype)).tolist()
        else:
            field = _CONTENTS_FIELD.get(o.datatype)
            data = list(getattr(o.contents, field)) if field else []
            if o.datatype == "BYTES":
                data = [_text(v) for v in data]
        out = {"name": o.name, "shape": list(o.shape), "datatype": o.datatype, "data": data}
        if params := _parameters(o.parameters):
            out["parameters"] = params
        outputs.append(out)
    return {"model_name": response.model_name, "model_version": response.model_version or None,
            "id": response.id, "parameters": _parameters(response.parameters), "outputs": outputs}


# --- the client -------------------------------------------------------------------------------------

class GrpcPredictor:
    """A grpc-v2 client for one Endpoint, with `Predictor`'s interface (`post(body, path) -> Response`).

    Args:
        endpoint: its `grpc_target` (host:port of the front's gRPC port) is called.
        timeout_s: the deadline of each call.
    """

    def __init__(self, endpoint: Endpoint, *, timeout_s: float = 60.0) -> None:
        if not endpoint.grpc_target:
            raise ConfigError("the endpoint has no gRPC address for serving.protocol grpc-v2",
                              where=endpoint.base_url, hint="the target must set Endpoint.grpc_target")
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.channel = grpc.insecure_channel(endpoint.grpc_target, options=channel_options(endpoint))
        self.stub = service_pb2_grpc.GRPCInferenceServiceStub(self.channel)

    def post(self, body: bytes | str | dict, path: str | None = None) -> Response:
        """ModelInfer with `body` (a V2 REST request); `path` must be None (gRPC has no URL)."""
        where = f"grpc://{self.endpoint.grpc_target}{MODEL_INFER}"
        if path is not None:
            raise ConfigError(f"a URL path ({path}) cannot be sent over grpc-v2", where=where,
                              hint="drop the check's path: every grpc-v2 request is a ModelInfer call")
        try:
            request = model_infer_request(body, self.endpoint.model_name)
        except ValueError as exc:
            raise ConfigError(f"the request cannot be sent over grpc-v2: {exc}", where=where,
                              hint="grpc-v2 requests are V2 bodies, as for protocol v2") from None
        start = time.perf_counter()
        try:
            answer = self.stub.ModelInfer(request, timeout=self.timeout_s)
        except grpc.RpcError as exc:
            elapsed = (time.perf_counter() - start) * 1000
            code = exc.code().name if exc.code() else "UNKNOWN"
            if code in TRANSPORT_CODES:
                raise PredictorError(f"gRPC call failed: {code}: {' '.join((exc.details() or '').split())}", where=where,
                                     hint="the predictor's gRPC port is not reachable; see the diagnostics") from None
            doc = {"error": exc.details() or "", "grpc_status": code}
            text = json.dumps(doc)
            return Response(status=GRPC_TO_HTTP.get(code, 500), body=doc, text=text, elapsed_ms=elapsed)
        elapsed = (time.perf_counter() - start) * 1000
        doc = response_json(answer)
        return Response(status=200, body=doc, text=json.dumps(doc), elapsed_ms=elapsed)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "GrpcPredictor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

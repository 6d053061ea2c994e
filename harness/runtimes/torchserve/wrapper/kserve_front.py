"""KServe's Python front of the kserve-torchserve image, written for the harness.

Runs in the runtime environment (not the harness's): `python kserve_front.py --config_path
CONFIG --http_port P --grpc_port Q` with PROTOCOL_VERSION=v1|v2|grpc-v2 in the environment.

It behaves as pytorch/serve's `kubernetes/kserve/kserve_wrapper` does in the image: read
config.properties, register one `kserve.Model` per model of `model_snapshot` (or "model"), wait
for TorchServe's READY worker through its management API (MODEL_LOAD_MAX_TRY / MODEL_LOAD_DELAY /
MODEL_LOAD_TIMEOUT, as the image reads them), then serve KServe's REST (V1, V2) and gRPC (Open
Inference Protocol) endpoints through the real `kserve.ModelServer`: V1/V2 REST and `:explain`
are forwarded to TorchServe's REST API by kserve's own Model code; `grpc-v2` goes to TorchServe's
gRPC inference API (its `Predictions` call, the V2 request as JSON in `input["data"]`).
Only the standard library, kserve (and what it depends on: httpx, grpc, protobuf) are imported.
"""
from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import time
import urllib.error
import urllib.request

import grpc
import kserve
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from kserve.model_repository import ModelRepository
from kserve.model_server import ModelServer
from kserve.protocol.grpc.grpc_predict_v2_pb2 import ModelInferRequest, ModelInferResponse
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

log = logging.getLogger("kserve-front")

DEFAULT_INFERENCE_ADDRESS = "http://127.0.0.1:8085"
DEFAULT_GRPC_INFERENCE_PORT = "7070"


# --- config.properties ---------------------------------------------------------------------------

def parse_config(path: str) -> dict:
    """Model names and TorchServe addresses from config.properties, as the image's wrapper reads them."""
    props: dict[str, str] = {}
    with open(path) as f:
        for line in f:
            if not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                props[key.strip()] = value.strip()
    snapshot = json.loads(props.get("model_snapshot", "{}") or "{}")
    names = list(snapshot.get("models", {})) or ["model"]
    inference = props.get("inference_address", DEFAULT_INFERENCE_ADDRESS)
    host = inference.split("//", 1)[-1].rsplit(":", 1)[0]
    return {
        "model_names": names,
        "inference_address": inference,
        "management_address": props.get("management_address", inference),
        "grpc_inference_address": f"{host}:{props.get('grpc_inference_port', DEFAULT_GRPC_INFERENCE_PORT)}",
        "model_store": props.get("model_store", "/mnt/models/model-store"),
    }


# --- TorchServe's gRPC inference API ---------------------------------------------------------------
# TorchServe ships no Python stubs; its two messages are declared here from its inference.proto
# (package org.pytorch.serve.grpc.inference) and protobuf builds the classes.

def _torchserve_messages():
    f = descriptor_pb2.FileDescriptorProto(name="harness_torchserve_inference.proto",
                                           package="org.pytorch.serve.grpc.inference", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto
    req = f.message_type.add(name="PredictionsRequest")
    req.field.add(name="model_name", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    req.field.add(name="model_version", number=2, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    entry = req.nested_type.add(name="InputEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=T.TYPE_BYTES, label=T.LABEL_OPTIONAL)
    req.field.add(name="input", number=3, type=T.TYPE_MESSAGE, label=T.LABEL_REPEATED,
                  type_name=".org.pytorch.serve.grpc.inference.PredictionsRequest.InputEntry")
    resp = f.message_type.add(name="PredictionResponse")
    resp.field.add(name="prediction", number=1, type=T.TYPE_BYTES, label=T.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    classes = []
    for name in ("PredictionsRequest", "PredictionResponse"):
        desc = pool.FindMessageTypeByName(f"org.pytorch.serve.grpc.inference.{name}")
        if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.21
            classes.append(message_factory.GetMessageClass(desc))
        else:
            classes.append(message_factory.MessageFactory(pool).GetPrototype(desc))
    return classes


PredictionsRequest, PredictionResponse = _torchserve_messages()
PREDICTIONS_METHOD = "/org.pytorch.serve.grpc.inference.InferenceAPIsService/Predictions"

def to_torchserve(request: InferRequest):
    """InferRequest -> TorchServe PredictionsRequest carrying the V2 JSON body (BYTES as base64)."""
    inputs = []
    for t in request.inputs:
        values = t.as_numpy().flatten().tolist()
        if t.datatype == "BYTES":
            # gRPC carries raw bytes; REST already carries base64 text, as TorchServe expects it.
            values = [base64.b64encode(v).decode() if isinstance(v, bytes) else v for v in values]
        inputs.append({"name": t.name, "shape": list(t.shape), "datatype": t.datatype, "data": values})
    body = {"id": request.id, "inputs": inputs}
    return PredictionsRequest(model_name=request.model_name, input={"data": json.dumps(body).encode()})


def from_torchserve(response) -> InferResponse:
    """TorchServe's prediction (the kservev2 envelope's JSON) -> InferResponse."""
    decoded = json.loads(response.prediction.decode())
    outputs = [InferOutput(name=o["name"], shape=list(o["shape"]), datatype=o["datatype"], data=o["data"])
               for o in decoded["outputs"]]
    return InferResponse(model_name=decoded.get("model_name", ""), response_id=decoded.get("id"),
                         infer_outputs=outputs, from_grpc=True)


# --- the model -------------------------------------------------------------------------------------

class TorchserveModel(kserve.Model):
    """One model of TorchServe, seen through KServe's data plane."""

    def __init__(self, name: str, config: dict, protocol: str) -> None:
        super().__init__(name)
        self.protocol = protocol
        self.management_address = config["management_address"]
        rest_host = config["inference_address"].split("//", 1)[-1]
        self.predictor_host = config["grpc_inference_address"] if protocol == "grpc-v2" else rest_host
        self.explainer_host = rest_host
        self._ts_channel = None

    def load(self) -> bool:
        """Ready when TorchServe reports a READY worker (the image's MODEL_LOAD_* settings)."""
        tries = int(os.environ.get("MODEL_LOAD_MAX_TRY", 10))
        delay = float(os.environ.get("MODEL_LOAD_DELAY", 30))
        timeout = float(os.environ.get("MODEL_LOAD_TIMEOUT", 5))
        url = f"{self.management_address}/models/{self.name}"
        for attempt in range(1, tries + 1):
            log.info("Loading %s .. %d of %d tries..", self.name, attempt, tries)
            try:
                with urllib.request.urlopen(url, timeout=timeout) as r:
                    workers = json.loads(r.read())[0].get("workers", [])
                self.ready = any(w.get("status") == "READY" for w in workers)
            except (urllib.error.URLError, OSError, ValueError, IndexError) as exc:
                log.info("The model %s is not ready: %s", self.name, exc)
            if self.ready:
                log.info("The model %s is ready", self.name)
                return True
            time.sleep(delay)
        log.error("The model %s did not become ready after %d tries", self.name, tries)
        return False

    def _torchserve_call(self):
        if self._ts_channel is None:
            self._ts_channel = grpc.aio.insecure_channel(self.predictor_host)
        return self._ts_channel.unary_unary(PREDICTIONS_METHOD, request_serializer=PredictionsRequest.SerializeToString,
                                            response_deserializer=PredictionResponse.FromString)

    async def _grpc_predict(self, payload, headers=None) -> ModelInferResponse:
        if isinstance(payload, ModelInferRequest):
            payload = InferRequest.from_grpc(payload)
        response = await self._torchserve_call()(to_torchserve(payload), timeout=self.timeout)
        return from_torchserve(response).to_grpc()

    def postprocess(self, response, headers=None):
        """REST callers get JSON-ready bodies, gRPC callers protobuf, whatever the backend spoke."""
        grpc_caller = bool(headers) and "grpc" in headers.get("user-agent", "")
        if isinstance(response, ModelInferResponse):
            return response if grpc_caller else InferResponse.from_grpc(response).to_rest()
        if isinstance(response, InferResponse):
            return response.to_grpc() if grpc_caller else response.to_rest()
        return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config_path", default=os.environ.get("CONFIG_PATH", "/mnt/models/config/config.properties"))
    args, _ = parser.parse_known_args()  # kserve's own parser reads --http_port / --grpc_port
    logging.basicConfig(level=kserve.constants.KSERVE_LOGLEVEL)
    config = parse_config(args.config_path)
    protocol = os.environ.get("PROTOCOL_VERSION", "v1")
    log.info("Wrapper: models %s, TorchServe %s (gRPC %s), protocol %s", config["model_names"],
             config["inference_address"], config["grpc_inference_address"], protocol)
    models = []
    for name in config["model_names"]:
        model = TorchserveModel(name, config, protocol)
        model.load()
        models.append(model)
    ModelServer(registered_models=ModelRepository(config["model_store"])).start(models)


if __name__ == "__main__":
    main()

"""The harness's built-in `tensor` handler: serves any TorchScript model on KServe's protocols.

Flow: TorchServe loads the TorchScript file (BaseHandler.initialize) -> `handle` gets either
  * the `kserve` envelope's V1 instances (nested lists, one item per instance),
  * the `kservev2` envelope's V2 inputs (dicts with name/datatype/shape/data, already reshaped),
  * or, with no envelope, TorchServe's raw batch (one {"body": ...} per HTTP request) that this
    handler parses itself — the way to get real dynamic batching, since the envelopes answer
    only the first request of a batch (pytorch/serve #1302, #2158).
Every request of a batch goes through the model in one forward pass; outputs return as lists.
"""
from __future__ import annotations

import json
import logging

import torch
from batch_metric import batch_len, record_batch_size  # shipped beside this file in every .mar (archive.py)
from ts.torch_handler.base_handler import BaseHandler

logger = logging.getLogger(__name__)

_V2_DTYPES = {
    "FP32": torch.float32, "FP64": torch.float64, "FP16": torch.float16,
    "INT64": torch.int64, "INT32": torch.int32, "INT16": torch.int16, "INT8": torch.int8,
    "UINT8": torch.uint8, "BOOL": torch.bool,
}
_TORCH_TO_V2 = {v: k for k, v in _V2_DTYPES.items()}


def _is_raw_request(item: object) -> bool:
    return isinstance(item, dict) and ("body" in item or ("data" in item and isinstance(item["data"], (bytes, bytearray, str))))


def _body_json(item: dict) -> dict:
    body = item.get("body") if item.get("body") is not None else item.get("data")
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8")
    if isinstance(body, str):
        body = json.loads(body)
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object with 'instances' (V1) or 'inputs' (V2)")
    return body


class TensorHandler(BaseHandler):
    """TorchScript model in, lists out; V1 instances or V2 FP32/INT tensors."""

    def _forward(self, tensor: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(tensor.to(self.device))
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.detach().cpu()

    # -- envelope modes -----------------------------------------------------------------------
    def _v1_instances(self, instances: list) -> list:
        batch = torch.tensor(instances, dtype=torch.float32)
        return self._forward(batch).tolist()

    def _v2_inputs(self, inputs: list[dict]) -> list:
        outputs = []
        for inp in inputs:
            dtype = _V2_DTYPES.get(inp.get("datatype", "FP32"))
            if dtype is None:
                raise ValueError(f"tensor handler: datatype {inp.get('datatype')!r} is not supported")
            outputs.append(self._forward(torch.tensor(inp["data"], dtype=dtype)).tolist())
        return outputs

    # -- raw mode (no envelope): parse V1 / V2 ourselves, batch across requests ----------------
    def _raw_batch(self, data: list[dict]) -> list:
        bodies = [_body_json(item) for item in data]
        tensors, counts = [], []
        for body in bodies:
            if "instances" in body:
                t = torch.tensor(body["instances"], dtype=torch.float32)
            elif "inputs" in body:
                inp = body["inputs"][0]
                t = torch.tensor(inp["data"], dtype=_V2_DTYPES[inp.get("datatype", "FP32")]).reshape(inp["shape"])
            else:
                raise ValueError("request body has neither 'instances' (V1) nor 'inputs' (V2)")
            tensors.append(t)
            counts.append(t.shape[0])
        out = self._forward(torch.cat(tensors))
        responses, start = [], 0
        for body, n in zip(bodies, counts):
            part = out[start:start + n]
            start += n
            if "instances" in body:
                responses.append({"predictions": part.tolist()})
            else:
                flat = part.flatten()
                response = {
                    "model_name": self.context.manifest["model"]["modelName"],
                    "model_version": self.context.manifest["model"].get("modelVersion"),
                    "outputs": [{
                        "name": body["inputs"][0].get("name", "output-0"),
                        "shape": list(part.shape),
                        "datatype": _TORCH_TO_V2.get(flat.dtype, "FP32"),
                        "data": flat.tolist(),
                    }],
                }
                if body.get("id"):
                    response["id"] = body["id"]
                responses.append(response)
        return responses

    def handle(self, data, context):
        self.context = context
        if not data:
            return []
        record_batch_size(context, batch_len(data, context))
        first = data[0]
        if _is_raw_request(first):
            return self._raw_batch(data)
        if isinstance(first, dict) and "datatype" in first:
            return self._v2_inputs(data)
        return self._v1_instances(data)

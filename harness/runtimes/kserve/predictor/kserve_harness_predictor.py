"""The harness's ModelServer predictor (runtime: kserve), uploaded beside the model under the storage URI.

Runs in the ModelServer image (or the local runtime environment) as the container's command:

    python /mnt/models/kserve_harness_predictor.py --model_name NAME --model_dir /mnt/models \
        --serialized_file model.pt [--handler tensor | --handler my_model.py] [KServe's own flags]

KServe's own ModelServer flags (--http_port, --grpc_port, --workers, --max_threads, ...) are read by
kserve itself. `--handler tensor` serves any TorchScript file (V1 `instances` and V2 tensors, each
request one forward pass); a .py handler is a file defining one `kserve.Model` subclass, built as
Cls(name) (plus model_dir= / serialized_file= when its __init__ takes them) and loaded before the
server starts. It imports only the standard library, kserve and torch: no harness code is in the image.
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
import uuid
from pathlib import Path

import torch
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer, model_server
from kserve.errors import InvalidInput

_V2_DTYPES = {"FP32": torch.float32, "FP64": torch.float64, "FP16": torch.float16, "INT64": torch.int64,
              "INT32": torch.int32, "INT16": torch.int16, "INT8": torch.int8, "UINT8": torch.uint8,
              "BOOL": torch.bool}
_TORCH_TO_V2 = {v: k for k, v in _V2_DTYPES.items()}


class TensorModel(Model):
    """Any TorchScript model: V1 instances or V2 tensors in, lists out."""

    def __init__(self, name: str, model_dir: str, serialized_file: str) -> None:
        super().__init__(name)
        self.path = Path(model_dir) / serialized_file
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = None

    def load(self) -> bool:
        self.model = torch.jit.load(str(self.path), map_location=self.device).eval()
        self.ready = True
        return self.ready

    def _forward(self, tensor: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(tensor.to(self.device))
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.detach().cpu()

    def predict(self, payload, headers=None):
        if isinstance(payload, InferRequest):
            outputs = []
            for i, inp in enumerate(payload.inputs):
                if inp.datatype not in _V2_DTYPES:
                    raise InvalidInput(f"input {inp.name!r}: datatype {inp.datatype} is not a tensor type this "
                                       f"model takes ({', '.join(_V2_DTYPES)})")
                out = self._forward(torch.from_numpy(inp.as_numpy().copy()))
                output = InferOutput(name=f"output-{i}", shape=list(out.shape),
                                     datatype=_TORCH_TO_V2.get(out.dtype, "FP32"))
                output.set_data_from_numpy(out.numpy(), binary_data=False)
                outputs.append(output)
            # V2 requires a response id; a request without one gets a fresh one, as KServe's own servers do.
            return InferResponse(response_id=payload.id or str(uuid.uuid4()), model_name=self.name, infer_outputs=outputs)
        instances = payload.get("instances") if isinstance(payload, dict) else None
        if instances is None:
            raise InvalidInput('a V1 request is {"instances": [...]}')
        try:
            batch = torch.tensor(instances, dtype=torch.float32)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"instances are not a rectangular numeric tensor: {exc}") from exc
        return {"predictions": self._forward(batch).tolist()}


def _user_model_class(path: Path) -> type:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)  # its own `if __name__ == "__main__":` server does not start
    classes = [c for c in vars(module).values()
               if inspect.isclass(c) and issubclass(c, Model) and c.__module__ == module.__name__]
    if len(classes) != 1:
        found = ", ".join(c.__name__ for c in classes) or "none"
        raise SystemExit(f"HandlerError: {path.name} must define exactly one kserve.Model subclass (found: {found})")
    return classes[0]


def _build(args: argparse.Namespace) -> Model:
    if args.handler == "tensor":
        return TensorModel(args.model_name, args.model_dir, args.serialized_file)
    cls = _user_model_class(Path(args.model_dir) / args.handler)
    params = inspect.signature(cls.__init__).parameters
    extra = {key: value for key, value in (("model_dir", args.model_dir), ("serialized_file", args.serialized_file))
             if key in params}
    return cls(args.model_name, **extra)


def main() -> None:
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_dir", default="/mnt/models", help="where the storage-initializer put the model")
    parser.add_argument("--serialized_file", required=True, help="the model file's name in model_dir")
    parser.add_argument("--handler", default="tensor", help="tensor, or a .py file in model_dir")
    args, _ = parser.parse_known_args()
    model = _build(args)
    if model.name != args.model_name:
        raise SystemExit(f"HandlerError: the model registers itself as {model.name!r}, but requests name "
                         f"{args.model_name!r} (model.name): pass the name it is given to super().__init__")
    model.load()
    if not model.ready:
        raise SystemExit(f"HandlerError: {type(model).__name__}.load() returned without setting self.ready = True: "
                         "KServe would report the model not ready for ever")
    ModelServer().start([model])


if __name__ == "__main__":
    main()

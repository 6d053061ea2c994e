"""A real Open Inference Protocol gRPC server with a known service time, for the grpc-v2 tests.

Flow: `python tests/grpc_server.py --port P --model m --service-ms 20 --workers 4` serves
`inference.GRPCInferenceService` (tritonclient's generated servicer) on 127.0.0.1:P. ModelInfer
waits for one of `--workers` slots, spends exactly `--service-ms` in it, and echoes every input
back as an output of the same name, datatype and shape: as raw_output_contents, or with
`--typed` as the typed contents field (what KServe's front sends for list data). `--fail-every N`
answers every Nth request with INVALID_ARGUMENT "harness test: every Nth request refused"; another model
name gets NOT_FOUND. ServerReady answers ready. `start(...)` runs it in its own process group
and waits until it answers, so a test can kill it mid-run.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

TYPED_FIELD = {"FP32": "fp32_contents", "FP64": "fp64_contents", "INT64": "int64_contents",
               "INT32": "int_contents", "BOOL": "bool_contents", "BYTES": "bytes_contents"}


class Echo(service_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.slots = threading.Semaphore(args.workers)
        self.count = 0
        self.lock = threading.Lock()

    def ServerReady(self, request, context):  # noqa: N802 - the proto's method name
        return service_pb2.ServerReadyResponse(ready=True)

    def ModelInfer(self, request, context):  # noqa: N802
        if request.model_name != self.args.model:
            context.abort(grpc.StatusCode.NOT_FOUND, f"model {request.model_name!r} is not served here")
        with self.lock:
            self.count += 1
            n = self.count
        if self.args.fail_every and n % self.args.fail_every == 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"harness test: every {self.args.fail_every}th request refused")
        with self.slots:
            end = time.perf_counter() + self.args.service_ms / 1000.0
            while (left := end - time.perf_counter()) > 0:  # exact service time, not sleep's rounding
                time.sleep(left if left > 0.002 else 0)  # sleep-ok: this IS the simulated service time
        response = service_pb2.ModelInferResponse(model_name=request.model_name, model_version="1", id=request.id)
        response.parameters["echoed"].bool_param = True
        for i, tensor in enumerate(request.inputs):
            out = response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=list(tensor.shape))
            raw = request.raw_input_contents[i] if i < len(request.raw_input_contents) else None
            if self.args.typed and raw is not None:
                _typed(out, tensor.datatype, raw)
            elif raw is not None:
                response.raw_output_contents.append(raw)
        return response


def _typed(out, datatype: str, raw: bytes) -> None:
    import numpy as np

    if datatype == "BYTES":  # raw BYTES: each element a 4-byte little-endian length, then the bytes
        at = 0
        while at < len(raw):
            n = int.from_bytes(raw[at:at + 4], "little")
            out.contents.bytes_contents.append(raw[at + 4:at + 4 + n])
            at += 4 + n
        return
    dtype = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32, "BOOL": np.bool_}[datatype]
    getattr(out.contents, TYPED_FIELD[datatype]).extend(np.frombuffer(raw, dtype=dtype).tolist())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--model", default="echo")
    p.add_argument("--service-ms", type=float, default=0.0)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--typed", action="store_true")
    p.add_argument("--fail-every", type=int, default=0)
    args = p.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(Echo(args), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"serving {args.model} on 127.0.0.1:{args.port}", flush=True)
    server.wait_for_termination()


# --- for the tests -------------------------------------------------------------------------------

@dataclass
class Running:
    group: object  # harness.procs.ProcessGroup
    target: str

    def stop(self) -> None:
        self.group.stop(grace_s=2.0)


def start(log: Path, *, model: str = "echo", service_ms: float = 0.0, workers: int = 4, typed: bool = False,
          fail_every: int = 0) -> Running:
    """Start the server in its own process group; return once ServerReady answers."""
    from harness.procs import ProcessGroup
    from harness.waits import free_port, wait_until

    port = free_port()
    cmd = [sys.executable, __file__, "--port", str(port), "--model", model, "--service-ms", str(service_ms),
           "--workers", str(workers), "--fail-every", str(fail_every)] + (["--typed"] if typed else [])
    group = ProcessGroup(cmd, name="test gRPC server", log_path=log).start()
    target = f"127.0.0.1:{port}"
    channel = grpc.insecure_channel(target)
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)

    def up() -> bool | None:
        if group.exited() is not None:
            raise RuntimeError(f"the test gRPC server exited: {log.read_text()[-500:]}")
        try:
            return stub.ServerReady(service_pb2.ServerReadyRequest(), timeout=1).ready or None
        except grpc.RpcError:
            return None

    try:
        wait_until(up, what="the test gRPC server ready", where=target, timeout_s=20, interval_s=0.05)
    except BaseException:
        group.stop()
        raise
    finally:
        channel.close()
    return Running(group, target)


if __name__ == "__main__":
    main()

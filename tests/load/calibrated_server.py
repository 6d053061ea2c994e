"""A predictor with a known service time, for testing the load engine's accuracy and faults.

Flow: a threaded stdlib HTTP/1.1 server on 127.0.0.1 takes POST /v1/models/NAME:predict (and
/v2/models/NAME/infer) into a queue; `--workers` threads each take a batch like TorchServe's
batch aggregator (up to `--batch-size` requests, waiting at most `--max-batch-delay-ms` after the
first), spend exactly `--service-ms` per batch, and answer every request of it. It also speaks
the bits of TorchServe the harness reads: GET /metrics (Prometheus text with TorchServe's metric
names, the HarnessBatchSize counter included), GET /models/NAME (management description) and
/ping. `--envelope-bug` answers every request of a batch larger than one with TorchServe's 503
"number of batch response mismatched", as the KServe envelope does (pytorch/serve #1302).

Run: python tests/load/calibrated_server.py --port 8080 --model m --service-ms 50 --workers 4
"""
from __future__ import annotations

import argparse
import json
import queue
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Item:
    __slots__ = ("arrived", "done", "status", "body")

    def __init__(self) -> None:
        self.arrived = time.perf_counter()
        self.done = threading.Event()
        self.status = 200
        self.body = b""


class Model:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.q: queue.Queue[Item] = queue.Queue()
        self.lock = threading.Lock()
        self.requests = 0
        self.queue_us = 0.0
        self.inference_us = 0.0
        self.batches: dict[int, int] = {}
        self.status_counts: dict[str, int] = {"2XX": 0, "4XX": 0, "5XX": 0}
        for i in range(args.workers):
            threading.Thread(target=self._worker, name=f"worker-{i}", daemon=True).start()

    def _take_batch(self) -> list[Item]:
        first = self.q.get()
        batch = [first]
        deadline = time.perf_counter() + self.args.max_batch_delay_ms / 1000.0
        while len(batch) < self.args.batch_size:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            try:
                batch.append(self.q.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _worker(self) -> None:
        ok = json.dumps({"predictions": [[0.1, 0.9]]}).encode()
        bug = json.dumps({"code": 503, "type": "InternalServerException",
                          "message": "number of batch response mismatched"}).encode()
        free_since = 0.0
        while True:
            batch = self._take_batch()
            start = time.perf_counter()
            if len(batch) == 1:
                # An idle worker starts at the request's arrival: the thread hand-off is not service.
                start = max(batch[0].arrived, free_since)
            # Sleep to an absolute deadline: the service time is the fixture's known truth.
            end = start + self.args.service_ms / 1000.0
            while (left := end - time.perf_counter()) > 0.001:
                time.sleep(left - 0.0008)  # sleep-ok: this IS the simulated service time
            while time.perf_counter() < end:  # the last ms: spin, sleep() overshoots
                pass
            finished = time.perf_counter()
            free_since = finished
            failed = self.args.envelope_bug and len(batch) > 1
            with self.lock:
                self.batches[len(batch)] = self.batches.get(len(batch), 0) + 1
                for it in batch:
                    self.requests += 1
                    self.queue_us += (start - it.arrived) * 1e6
                    self.inference_us += (finished - start) * 1e6
                    self.status_counts["5XX" if failed else "2XX"] += 1
            for it in batch:
                it.status, it.body = (503, bug) if failed else (200, ok)
                it.done.set()

    def metrics_text(self) -> str:
        a, host = self.args, socket.gethostname()
        ml = f'model_name="{a.model}",model_version="default",hostname="{host}",'
        with self.lock:
            lines = [
                "# HELP ts_inference_requests_total Torchserve prometheus counter metric with unit: Count",
                "# TYPE ts_inference_requests_total counter",
                f"ts_inference_requests_total{{{ml}}} {float(self.requests)}",
                "# HELP ts_queue_latency_microseconds Torchserve prometheus counter metric with unit: Microseconds",
                "# TYPE ts_queue_latency_microseconds counter",
                f"ts_queue_latency_microseconds{{{ml}}} {self.queue_us}",
                "# HELP ts_inference_latency_microseconds Torchserve prometheus counter metric with unit: Microseconds",
                "# TYPE ts_inference_latency_microseconds counter",
                f"ts_inference_latency_microseconds{{{ml}}} {self.inference_us}",
                "# HELP HarnessBatchSize Torchserve prometheus counter metric with unit: Count",
                "# TYPE HarnessBatchSize counter",
            ]
            for size, n in sorted(self.batches.items()):
                lines.append(f'HarnessBatchSize_total{{ModelName="{a.model}",Level="Model",BatchSize="{size}",'
                             f'Hostname="{host}",}} {float(n)}')
            for cls, n in self.status_counts.items():
                lines += [f"# TYPE Requests{cls} counter", f'Requests{cls}_total{{Level="Host",Hostname="{host}",}} {float(n)}']
        return "\n".join(lines) + "\n"

    def description(self) -> list[dict]:
        a = self.args
        return [{
            "modelName": a.model, "modelVersion": "1.0", "modelUrl": f"{a.model}.mar", "runtime": "python",
            "minWorkers": a.workers, "maxWorkers": a.workers, "batchSize": a.batch_size,
            "maxBatchDelay": a.max_batch_delay_ms, "loadedAtStartup": True,
            "workers": [{"id": str(9000 + i), "status": "READY", "gpu": False, "memoryUsage": 0}
                        for i in range(a.workers)],
        }]


def make_handler(model: Model):
    a = model.args
    predict_paths = {f"/v1/models/{a.model}:predict", f"/v2/models/{a.model}/infer"}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet: the harness keeps the log small
            pass

        def setup(self) -> None:
            super().setup()
            # One write per response and no Nagle: else a 40 ms delayed-ACK stall lands in latency.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            head = (f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                    f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            self.wfile.write(head + body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.path not in predict_paths:
                self._reply(404, b'{"code":404,"message":"Model not found"}')
                return
            item = Item()
            model.q.put(item)
            item.done.wait()
            self._reply(item.status, item.body)

        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._reply(200, model.metrics_text().encode(), "text/plain; version=0.0.4")
            elif self.path == f"/models/{a.model}":
                self._reply(200, json.dumps(model.description()).encode())
            elif self.path == "/ping":
                self._reply(200, b'{"status":"Healthy"}')
            else:
                self._reply(404, b'{"code":404,"message":"not found"}')

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # listen backlog: bursts of new connections must not be refused


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", default="calibrated")
    ap.add_argument("--service-ms", type=float, default=50.0, help="time spent per batch")
    ap.add_argument("--workers", type=int, default=4, help="batches served in parallel")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--max-batch-delay-ms", type=float, default=0.0)
    ap.add_argument("--envelope-bug", action="store_true", help="503 every request of a batch > 1")
    args = ap.parse_args()
    model = Model(args)
    server = _Server(("127.0.0.1", args.port), make_handler(model))
    print(f"calibrated server on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

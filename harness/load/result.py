"""What a load run produced: one JSON-serialisable model the report renders.

Flow: runner.run_load builds a `LoadResult` holding one `StepResult` per measured step (a plain
run has one; `stages:` and `sweep:` have one per stage or value). Each step carries the client
figures from raw per-request timings, the errors by status and message, the time series, the
generator's self-check, the server's view (Prometheus counters before/after/during, the model
description, the batch-size histogram; for KServe's ModelServer the mean latency of each stage),
GPU samples and its verdict. The run's verdict is the worst of its steps: FAIL > INVALID > PASS.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.schema import Schema

Status = Literal["PASS", "FAIL", "INVALID"]


class _M(Schema):
    """Strict in code, tolerant of unknown fields when a report is read (see harness.schema)."""


class Percentiles(_M):
    """Exact order statistics of raw timings (numpy linear interpolation between ranks), ms."""

    count: int = Field(0, description="how many timings")
    min: float | None = None
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None


class ClientFigures(_M):
    requests: int = Field(description="requests due in the measured window (warmup excluded), dropped ones included")
    ok: int = Field(description="2xx answers")
    errors: int = Field(description="everything else: HTTP errors, transport errors, dropped, unanswered")
    error_rate: float = Field(description="errors / requests")
    duration_s: float = Field(description="the measured window's length")
    throughput_rps: float = Field(description="2xx answers per second")
    achieved_rps: float = Field(description="requests actually sent per second")
    requested_rps: float | None = Field(None, description="open loop: the arrival rate asked for")
    users: int | None = Field(None, description="closed loop: concurrent users")
    latency_ms: Percentiles = Field(description="2xx answers: completion - intended send time "
                                                "(closed loop: - actual send time)")
    service_ms: Percentiles = Field(description="2xx answers: completion - actual send time")
    bytes_received: int = 0


class ErrorGroup(_M):
    status: int = Field(description="HTTP status; 0 transport error, -1 dropped at the in-flight limit, "
                                    "-2 no answer before the end of the run")
    message: str
    count: int
    first_s: float = Field(description="first occurrence, seconds from the run's start")
    last_s: float
    cause: str | None = Field(None, description="a known cause, named (for example the envelope batching bug)")


class Interval(_M):
    t_s: float = Field(description="interval start, seconds from the run's start (by intended send time)")
    stage: int | None = None
    warmup: bool = False
    sent: int = 0
    ok: int = 0
    errors: int = 0
    rps: float = Field(0.0, description="2xx answers per second for requests due in this interval")
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None


class GeneratorProcess(_M):
    pid: int
    role: str
    cpu_percent: float = Field(description="CPU time / wall time of the process while it ran, % of one core")
    sent: int = 0


class SelfCheck(_M):
    valid: bool = Field(description="false: the load generator was the bottleneck; figures are not the server's")
    reasons: list[str] = Field(default_factory=list)
    processes: list[GeneratorProcess] = Field(default_factory=list)
    max_cpu_percent: float | None = None
    machine_cpu_percent: float | None = Field(None, description="whole machine, mean during the run (context)")
    requested_rps: float | None = None
    achieved_rps: float | None = None
    rate_ratio: float | None = None
    send_lag_ms: Percentiles = Field(default_factory=Percentiles, description="open loop: actual - intended send time")
    dropped: int = 0


class ModelDescription(_M):
    """What TorchServe's management API says is in effect."""

    batch_size: int | None = None
    max_batch_delay_ms: float | None = None
    workers: int = 0
    ready_workers: int = 0
    gpu_workers: int = 0
    raw: list | dict | None = None


class ServerWindow(_M):
    """Deltas over a window of the server's Prometheus metrics: TorchServe's counters, or KServe
    ModelServer's request_<stage>_seconds histograms (harness.load.server_metrics)."""

    t_s: float | None = Field(None, description="window start, seconds from the run's start")
    duration_s: float | None = None
    requests: float | None = Field(None, description="TorchServe: ts_inference_requests_total delta; ModelServer: "
                                                     "request_predict_seconds_count delta (+ request_explain_seconds_count)")
    requests_rps: float | None = Field(None, description="requests / duration_s")
    queue_latency_mean_ms: float | None = Field(None, description="TorchServe: delta ts_queue_latency_microseconds / "
                                                                  "requests; ModelServer: none (it has no queue metric)")
    inference_latency_mean_ms: float | None = Field(None, description="TorchServe: delta ts_inference_latency_microseconds / "
                                                                      "requests; ModelServer: the predict (+ explain) "
                                                                      "histogram's mean, the model's compute time")
    status_counts: dict[str, float] = Field(default_factory=dict, description="Requests2XX/4XX/5XX deltas")
    batch_histogram: dict[int, float] = Field(default_factory=dict, description="batch size -> batches")
    mean_batch_size: float | None = None
    stage_latency_mean_ms: dict[str, float] = Field(
        default_factory=dict, description="ModelServer: mean ms per request of each stage observed in the window "
        "(preprocess, predict, postprocess, explain: delta request_<stage>_seconds_sum / _count) and `request`, "
        "preprocess + predict/explain + postprocess; empty for TorchServe and in reports before it existed")


class ServerFigures(_M):
    description: ModelDescription | None = None
    description_error: str | None = None
    expected_batch_size: int | None = None
    expected_max_batch_delay_ms: float | None = None
    before: dict[str, float] = Field(default_factory=dict, description="raw counters before the step")
    after: dict[str, float] = Field(default_factory=dict, description="raw counters after the step")
    window: ServerWindow | None = Field(None, description="after - before")
    series: list[ServerWindow] = Field(default_factory=list, description="deltas between scrapes during the step")
    batch_metric_seen: bool = Field(False, description="the handler-side HarnessBatchSize metric was present")
    scrape_errors: list[str] = Field(default_factory=list)


class GpuDevice(_M):
    index: int
    name: str
    memory_total_mb: float | None
    memory_used_mb_max: float
    process_memory_mb_max: float | None = Field(None, description="GPU memory held by the model's processes "
                                                                  "(None: the processes could not be listed)")
    utilization_pct_mean: float | None = None
    utilization_pct_max: float | None = None


class GpuFigures(_M):
    status: Literal["sampled", "skipped"]
    source: Literal["pod-exec", "torchserve-metrics", "local-nvml"] | None = Field(
        None, description="where the figures come from: nvidia-smi in the predictor pod (Kubernetes exec), "
                          "TorchServe's GPU gauges, or NVML on the machine running the harness")
    where: str | None = Field(None, description="the pod and container, or this machine")
    reason: str | None = None
    samples: int = 0
    devices: list[GpuDevice] = Field(default_factory=list)
    used_memory: bool | None = Field(None, description="the model's processes held GPU memory during the step")
    attribution: str | None = Field(None, description="how memory was attributed to the model: its processes, "
                                                      "or the device's memory when no process could be listed")
    other_processes: list[str] = Field(default_factory=list,
                                       description="compute processes on the devices that are not the model's")


class SloCheck(_M):
    name: str
    limit: float
    observed: float | None
    passed: bool


class Verdict(_M):
    status: Status
    reasons: list[str] = Field(default_factory=list)
    cause: str | None = Field(None, description="the named cause of a failure, when known")
    slo: list[SloCheck] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


class StepResult(_M):
    index: int
    label: str
    mode: Literal["open", "closed"]
    warmup_s: float
    duration_s: float
    client: ClientFigures
    errors: list[ErrorGroup] = Field(default_factory=list)
    intervals: list[Interval] = Field(default_factory=list)
    generator: SelfCheck
    server: ServerFigures | None = None
    gpu: GpuFigures | None = None
    verdict: Verdict


class LoadResult(_M):
    config: dict = Field(description="the LoadSpec as run")
    endpoint: dict = Field(description="url, model, protocol, path")
    started_at: float = Field(description="epoch seconds")
    finished_at: float
    steps: list[StepResult]
    verdict: Verdict = Field(description="worst of the steps")
    best_passing: str | None = Field(None, description="sweep/stages: label of the heaviest step that passed")
    artifacts: dict[str, str] = Field(default_factory=dict, description="raw records, Locust logs, result.json")

    @property
    def passed(self) -> bool:
        return self.verdict.status == "PASS"

"""The server's side of a load run, for both runtimes: Prometheus metrics and the model description.

Which metrics come from which runtime:
  - TorchServe (runtime: torchserve), its metrics endpoint: the counters ts_inference_requests_total,
    ts_queue_latency_microseconds, ts_inference_latency_microseconds, Requests2XX/4XX/5XX, the
    handler-side HarnessBatchSize counter per batch size (harness/runtimes/torchserve/batch_metric.py)
    and the host/model gauges (GPUMemoryUsed, QueueTime, ...); its management API's GET
    /models/NAME gives the batch size, delay and workers really in effect.
  - KServe's Python ModelServer (runtime: kserve), <base_url>/metrics: the histograms
    request_preprocess_seconds, request_predict_seconds, request_postprocess_seconds and
    request_explain_seconds (kserve/metrics.py, label model_name), of which only the _sum and
    _count samples are read (_bucket and _created are ignored). Each request observes
    preprocess, then predict (or explain), then postprocess; there is no queue metric, no
    cross-request batching and no management API (nothing to describe).

Flow: `ServerProbe(endpoint)`; `describe()` reads the management description (TorchServe only);
`scrape()` reads {metrics_url} into a `Snapshot` of this model's counters and stage histograms;
`window(a, b)` turns two snapshots into deltas: requests and their rate, mean queue and inference
latency per request, the batch histogram (TorchServe), mean latency per stage (ModelServer, whose
requests and inference latency are its predict histogram's). The runner scrapes before, during
(time series) and after each step.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import httpx

from harness.runtimes.torchserve.batch_metric import BATCH_SIZE_LABEL, BATCH_SIZE_METRIC
from harness.load.result import ModelDescription, ServerWindow
from harness.endpoint import Endpoint

# name{labels} value [timestamp]
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(\s+\S+)?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
# KServe ModelServer histograms: request_<stage>_seconds_{sum,count}{model_name="..."}
MODELSERVER_STAGES = ("preprocess", "predict", "postprocess", "explain")
_STAGE_SAMPLE = re.compile(r"^request_(" + "|".join(MODELSERVER_STAGES) + r")_seconds_(sum|count)$")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_prometheus(text: str) -> list[Sample]:
    """Parse Prometheus text exposition (0.0.4), including TorchServe's trailing `,}`."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        name, raw_labels, value = m.group(1), m.group(2), m.group(3)
        labels: dict[str, str] = {}
        if raw_labels:
            body = raw_labels[1:-1]
            pos = 0
            while pos < len(body):
                lm = _LABEL.match(body, pos)
                if not lm:
                    break
                labels[lm.group(1)] = re.sub(r'\\[\\"n]', lambda e: _UNESCAPE[e.group(0)], lm.group(2))
                pos = lm.end()
        try:
            v = float(value)
        except ValueError:
            continue
        out.append(Sample(name, labels, v))
    return out


def _base(name: str) -> str:
    # prometheus simpleclient exposes counter NAME as NAME_total (and NAME_created)
    return name[:-6] if name.endswith("_total") and name != "ts_inference_requests_total" else name


@dataclass
class Snapshot:
    """This model's counters at one moment (TorchServe's, or the ModelServer's stage histograms)."""

    t: float
    requests: float | None = None
    queue_us: float | None = None
    inference_us: float | None = None
    status: dict[str, float] = field(default_factory=dict)
    batches: dict[int, float] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    # ModelServer: stage -> (sum of seconds, count) of request_<stage>_seconds
    stages: dict[str, tuple[float, float]] = field(default_factory=dict)

    def flat(self) -> dict[str, float]:
        d: dict[str, float] = {}
        for k in ("requests", "queue_us", "inference_us"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        d.update({f"status_{k}": v for k, v in self.status.items()})
        d.update({f"batch_size_{k}": v for k, v in sorted(self.batches.items())})
        d.update({f"gauge_{k}": v for k, v in self.gauges.items()})
        for k, (total, count) in self.stages.items():
            d[f"{k}_seconds_sum"], d[f"{k}_seconds_count"] = total, count
        return d


_GAUGES = ("GPUMemoryUsed", "GPUMemoryUtilization", "GPUUtilization", "CPUUtilization", "MemoryUsed",
           "QueueTime", "WorkerThreadTime", "HandlerTime", "PredictionTime")


def snapshot_from_samples(samples: list[Sample], model: str, t: float | None = None) -> Snapshot:
    snap = Snapshot(t=time.time() if t is None else t)

    def add(attr: str, v: float) -> None:
        setattr(snap, attr, (getattr(snap, attr) or 0.0) + v)

    for s in samples:
        name = _base(s.name)
        if name.endswith("_created"):
            continue
        lm = s.labels.get("model_name", s.labels.get("ModelName"))
        if name == "ts_inference_requests_total" and lm in (model, None):
            add("requests", s.value)
        elif name == "ts_queue_latency_microseconds" and lm in (model, None):
            add("queue_us", s.value)
        elif name == "ts_inference_latency_microseconds" and lm in (model, None):
            add("inference_us", s.value)
        elif name in ("Requests2XX", "Requests4XX", "Requests5XX"):
            key = name[len("Requests"):]
            snap.status[key] = snap.status.get(key, 0.0) + s.value
        elif name == BATCH_SIZE_METRIC and lm in (model, None) and BATCH_SIZE_LABEL in s.labels:
            try:
                size = int(float(s.labels[BATCH_SIZE_LABEL]))
            except ValueError:
                continue
            snap.batches[size] = snap.batches.get(size, 0.0) + s.value
        elif name in _GAUGES and lm in (model, None):
            key = name + (f"[{s.labels['DeviceId']}]" if "DeviceId" in s.labels else "")
            snap.gauges[key] = s.value
        elif (sm := _STAGE_SAMPLE.match(name)) and lm in (model, None):
            total, count = snap.stages.get(sm.group(1), (0.0, 0.0))
            snap.stages[sm.group(1)] = (total + s.value, count) if sm.group(2) == "sum" else (total, count + s.value)
    return snap


def _stage_deltas(a: Snapshot, b: Snapshot) -> dict[str, tuple[float, float]]:
    """stage -> (seconds, count) observed between a and b. A histogram appears on /metrics only once
    observed (absent = nothing yet); a count that went down means a restart: the delta is then b's."""
    out = {}
    for k, (total, count) in b.stages.items():
        total0, count0 = a.stages.get(k, (0.0, 0.0))
        out[k] = (total - total0, count - count0) if count >= count0 else (total, count)
    return out


def _stage_means_ms(deltas: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Mean ms per observation of each stage seen in the window, and `request`: preprocess +
    predict/explain (together, one per request) + postprocess."""
    means = {k: total / count * 1000.0 for k, (total, count) in deltas.items() if count > 0}
    if not means:
        return {}
    verb = [deltas[k] for k in ("predict", "explain") if k in deltas]
    verb_n = sum(c for _, c in verb)
    request = means.get("preprocess", 0.0) + means.get("postprocess", 0.0)
    request += sum(t for t, _ in verb) / verb_n * 1000.0 if verb_n > 0 else 0.0
    out = {k: round(means[k], 3) for k in MODELSERVER_STAGES if k in means}
    out["request"] = round(request, 3)
    return out


def window(a: Snapshot, b: Snapshot, t0: float | None = None) -> ServerWindow:
    """Deltas from `a` to `b` (a counter that went down means a restart: the delta is then `b`)."""
    def d(x: float | None, y: float | None) -> float | None:
        if x is None or y is None:
            return y if x is None and y is not None else None
        return y - x if y >= x else y

    dur = b.t - a.t
    req = d(a.requests, b.requests)
    q, inf = d(a.queue_us, b.queue_us), d(a.inference_us, b.inference_us)
    stages = _stage_deltas(a, b)
    if req is None and stages:
        # a ModelServer (no ts_ counters): the requests its model served, their mean compute time
        verb = [stages[k] for k in ("predict", "explain") if k in stages]
        req = sum(c for _, c in verb)
        inf = sum(t for t, _ in verb) * 1e6  # microseconds, as TorchServe's counter
    hist = {k: d(a.batches.get(k, 0.0), v) for k, v in b.batches.items()}
    hist = {k: v for k, v in sorted(hist.items()) if v}
    n_batches = sum(hist.values())
    return ServerWindow(
        t_s=round(a.t - t0, 3) if t0 is not None else None, duration_s=round(dur, 3),
        requests=req, requests_rps=round(req / dur, 3) if req is not None and dur > 0 else None,
        queue_latency_mean_ms=round(q / req / 1000.0, 3) if q is not None and req else None,
        inference_latency_mean_ms=round(inf / req / 1000.0, 3) if inf is not None and req else None,
        status_counts={k: d(a.status.get(k, 0.0), v) or 0.0 for k, v in b.status.items()},
        batch_histogram=hist,
        mean_batch_size=round(sum(k * v for k, v in hist.items()) / n_batches, 3) if n_batches else None,
        stage_latency_mean_ms=_stage_means_ms(stages),
    )


def parse_description(doc: list | dict) -> ModelDescription:
    """TorchServe's GET /models/NAME answer (a list with one entry per version)."""
    entry = doc[0] if isinstance(doc, list) and doc else doc
    if not isinstance(entry, dict):
        raise ValueError("unexpected management answer")
    workers = entry.get("workers") or []
    delay = entry.get("maxBatchDelay")
    return ModelDescription(
        batch_size=entry.get("batchSize"),
        max_batch_delay_ms=float(delay) if delay is not None else None,
        workers=len(workers),
        ready_workers=sum(1 for w in workers if str(w.get("status", "")).upper() == "READY"),
        gpu_workers=sum(1 for w in workers if w.get("gpu")),
        raw=doc,
    )


class ServerProbe:
    """Reads a predictor's management description and metrics, when the endpoint exposes them
    (a ModelServer has metrics only: its endpoint's management_url is None)."""

    def __init__(self, endpoint: Endpoint, *, timeout_s: float = 3.0) -> None:
        self.endpoint = endpoint
        self.client = httpx.Client(timeout=timeout_s, trust_env=False)

    @property
    def has_metrics(self) -> bool:
        return bool(self.endpoint.metrics_url)

    @property
    def has_management(self) -> bool:
        return bool(self.endpoint.management_url)

    def describe(self) -> ModelDescription:
        if not self.endpoint.management_url:
            raise ValueError("no management URL for this endpoint")
        url = f"{self.endpoint.management_url.rstrip('/')}/models/{self.endpoint.model_name}"
        r = self.client.get(url)
        r.raise_for_status()
        return parse_description(r.json())

    def scrape(self) -> Snapshot:
        url = self.endpoint.metrics_url
        t = time.time()
        r = self.client.get(url)
        r.raise_for_status()
        return snapshot_from_samples(parse_prometheus(r.text), self.endpoint.model_name, t)

    def close(self) -> None:
        self.client.close()

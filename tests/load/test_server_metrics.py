"""Prometheus parsing (TorchServe's dialect), counter windows, the management description."""
from __future__ import annotations

import pytest

from harness.load.server_metrics import parse_description, parse_prometheus, snapshot_from_samples, window

# As TorchServe 0.12's simpleclient prints it: trailing commas, _total suffixes, other models too.
TEXT = """\
# HELP ts_inference_requests_total Torchserve prometheus counter metric with unit: Count
# TYPE ts_inference_requests_total counter
ts_inference_requests_total{model_name="m",model_version="default",hostname="h",} {req}
ts_inference_requests_total{model_name="other",model_version="default",hostname="h",} 999.0
# TYPE ts_queue_latency_microseconds counter
ts_queue_latency_microseconds_total{model_name="m",model_version="default",hostname="h",} {queue}
# TYPE ts_inference_latency_microseconds counter
ts_inference_latency_microseconds{model_name="m",model_version="default",hostname="h",} {inf}
# TYPE HarnessBatchSize counter
HarnessBatchSize_total{ModelName="m",Level="Model",BatchSize="1",Hostname="h",} {b1}
HarnessBatchSize_total{ModelName="m",Level="Model",BatchSize="4",Hostname="h",} {b4}
HarnessBatchSize_created{ModelName="m",Level="Model",BatchSize="4",Hostname="h",} 1.7E9
Requests2XX_total{Level="Host",Hostname="h",} {ok}
GPUMemoryUsed{Level="Host",DeviceId="0",Hostname="h",} 1234.0
weird_label{msg="a \\"quoted\\", comma",} 1
"""


def snap(t, req, queue, inf, b1, b4, ok):
    text = TEXT
    for k, v in dict(req=req, queue=queue, inf=inf, b1=b1, b4=b4, ok=ok).items():
        text = text.replace("{" + k + "}", str(float(v)))
    return snapshot_from_samples(parse_prometheus(text), "m", t)


def test_parser_handles_torchserve_dialect():
    samples = parse_prometheus(TEXT.replace("{req}", "1").replace("{queue}", "2").replace("{inf}", "3")
                               .replace("{b1}", "4").replace("{b4}", "5").replace("{ok}", "6"))
    by = {(s.name, s.labels.get("model_name")): s for s in samples}
    assert by[("ts_inference_requests_total", "m")].labels == {"model_name": "m", "model_version": "default", "hostname": "h"}
    assert by[("ts_inference_requests_total", "other")].value == 999.0
    weird = next(s for s in samples if s.name == "weird_label")
    assert weird.labels["msg"] == 'a "quoted", comma'


def test_window_gives_mean_latencies_and_batch_histogram():
    a = snap(100.0, req=10, queue=10_000, inf=500_000, b1=10, b4=0, ok=10)
    b = snap(110.0, req=50, queue=210_000, inf=2_500_000, b1=12, b4=9.5 * 0 + 9, ok=50)
    w = window(a, b, t0=95.0)
    assert w.requests == 40 and w.requests_rps == 4.0 and w.t_s == 5.0
    assert w.queue_latency_mean_ms == pytest.approx(5.0)
    assert w.inference_latency_mean_ms == pytest.approx(50.0)
    assert w.batch_histogram == {1: 2, 4: 9}
    assert w.mean_batch_size == pytest.approx((2 + 36) / 11, abs=1e-3)
    assert w.status_counts["2XX"] == 40
    assert b.gauges["GPUMemoryUsed[0]"] == 1234.0
    assert "other" not in str(b.flat())


def test_counter_reset_counts_from_zero():
    a = snap(0, req=100, queue=1, inf=1, b1=100, b4=0, ok=100)
    b = snap(5, req=7, queue=1, inf=1, b1=7, b4=0, ok=7)  # TorchServe restarted in between
    assert window(a, b).requests == 7


def test_management_description():
    doc = [{"modelName": "m", "batchSize": 4, "maxBatchDelay": 100,
            "workers": [{"id": "9000", "status": "READY", "gpu": True}, {"id": "9001", "status": "UNLOADING", "gpu": False}]}]
    d = parse_description(doc)
    assert (d.batch_size, d.max_batch_delay_ms, d.workers, d.ready_workers, d.gpu_workers) == (4, 100.0, 2, 1, 1)


# Captured from TorchServe 0.12 (metrics_mode=prometheus, model_metrics_auto_detect=true) with the
# batch_metric wrapper in the handler, batchSize 4: its counters carry no _total suffix.
REAL = """\
# HELP ts_inference_requests_total Torchserve prometheus counter metric with unit: Count
# TYPE ts_inference_requests_total counter
ts_inference_requests_total{model_name="tiny",model_version="default",hostname="vm",} 400.0
# TYPE Requests2XX counter
Requests2XX{Level="Host",Hostname="vm",} 408.0
# TYPE HarnessBatchSize counter
HarnessBatchSize{ModelName="tiny",Level="Model",BatchSize="4",Hostname="vm",} 100.0
# TYPE ts_inference_latency_microseconds counter
ts_inference_latency_microseconds{model_name="tiny",model_version="default",hostname="vm",} 1.705421507199998E7
# TYPE ts_queue_latency_microseconds counter
ts_queue_latency_microseconds{model_name="tiny",model_version="default",hostname="vm",} 7541317.976999999
"""


def test_real_torchserve_output():
    s = snapshot_from_samples(parse_prometheus(REAL), "tiny", 0.0)
    assert (s.requests, s.batches, s.status) == (400.0, {4: 100.0}, {"2XX": 408.0})
    assert s.inference_us == pytest.approx(1.705421507199998e7) and s.queue_us == pytest.approx(7541317.977)

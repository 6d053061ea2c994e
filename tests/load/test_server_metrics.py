"""Prometheus parsing (TorchServe's dialect, KServe ModelServer's histograms), counter windows,
the management description."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.load.result import ServerWindow
from harness.load.server_metrics import parse_description, parse_prometheus, snapshot_from_samples, window
from harness.schema import reading_context

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


# KServe's Python ModelServer (kserve 0.21.0, runtime: kserve): /metrics of the harness's own
# predictor (harness/runtimes/kserve/predictor/kserve_harness_predictor.py, --handler tensor) serving
# fixtures/digits/model.pt, captured from one real server: right after start-up (no request yet),
# after 5 POST /v1/models/digits:predict of fixtures/digits/request_v1.json, and after 20 more.
DATA = Path(__file__).parent / "data"
MS_FRESH, MS_5, MS_25 = (DATA / f"modelserver_metrics{s}.txt" for s in ("_fresh", "", "_later"))


def ms_snap(path: Path, t: float, model: str = "digits"):
    return snapshot_from_samples(parse_prometheus(path.read_text()), model, t)


def _sample(path: Path, name: str) -> float:
    """A sample's value, read from the capture itself (not retyped here)."""
    line = next(ln for ln in path.read_text().splitlines() if ln.startswith(name + "{"))
    return float(line.rsplit(" ", 1)[1])


def test_real_modelserver_output_gives_the_stage_histograms():
    s = ms_snap(MS_5, 1.0)
    assert set(s.stages) == {"preprocess", "predict", "postprocess"}  # no explain observed: no sample at all
    for stage in s.stages:
        total, count = s.stages[stage]
        # _sum and _count only: every _bucket (cumulative counts) and _created (epoch seconds) is left out
        assert count == 5.0 == _sample(MS_5, f"request_{stage}_seconds_count")
        assert total == _sample(MS_5, f"request_{stage}_seconds_sum") and 0 < total < 1
    # none of TorchServe's counters, and nothing else of the process's (python_gc_*, process_*)
    assert (s.requests, s.queue_us, s.inference_us, s.status, s.batches, s.gauges) == (None, None, None, {}, {}, {})
    assert s.flat() == {f"{k}_seconds_{p}": v for k, (total, count) in s.stages.items()
                        for p, v in (("sum", total), ("count", count))}
    assert ms_snap(MS_5, 1.0, model="other").stages == {}
    assert ms_snap(MS_FRESH, 0.0).stages == {}  # a labelled histogram shows no sample before it is observed


def test_modelserver_window_is_the_predict_histogram_and_the_stage_means():
    a, b = ms_snap(MS_5, 100.0), ms_snap(MS_25, 110.0)
    w = window(a, b, t0=95.0)
    assert (w.t_s, w.duration_s, w.requests, w.requests_rps) == (5.0, 10.0, 20.0, 2.0)
    means = {k: (b.stages[k][0] - a.stages[k][0]) / 20 * 1000.0 for k in ("preprocess", "predict", "postprocess")}
    assert set(w.stage_latency_mean_ms) == {"preprocess", "predict", "postprocess", "request"}
    for k, v in means.items():
        assert w.stage_latency_mean_ms[k] == pytest.approx(v, abs=1e-3), k
    assert w.stage_latency_mean_ms["request"] == pytest.approx(sum(means.values()), abs=1e-3)
    assert w.stage_latency_mean_ms["predict"] > w.stage_latency_mean_ms["preprocess"] > 0
    # the model's compute time, where TorchServe's inference latency goes; no queue metric
    assert w.inference_latency_mean_ms == pytest.approx(means["predict"], abs=1e-3)
    assert w.queue_latency_mean_ms is None
    assert (w.status_counts, w.batch_histogram, w.mean_batch_size) == ({}, {}, None)


def test_modelserver_window_from_before_the_first_request():
    w = window(ms_snap(MS_FRESH, 0.0), ms_snap(MS_5, 5.0))
    assert w.requests == 5.0 and w.requests_rps == 1.0
    assert w.stage_latency_mean_ms["predict"] == pytest.approx(_sample(MS_5, "request_predict_seconds_sum") / 5 * 1000,
                                                               abs=1e-3)


def test_modelserver_restart_and_idle_windows():
    later, first = ms_snap(MS_25, 0.0), ms_snap(MS_5, 5.0)
    assert window(later, first).requests == 5.0  # the server restarted in between: count from zero
    idle = window(first, ms_snap(MS_5, 7.0))
    assert (idle.requests, idle.requests_rps, idle.inference_latency_mean_ms, idle.stage_latency_mean_ms) == (
        0.0, 0.0, None, {})


def test_modelserver_explain_requests():
    text = MS_25.read_text().replace("request_predict_seconds", "request_explain_seconds")
    w = window(ms_snap(MS_FRESH, 0.0), snapshot_from_samples(parse_prometheus(text), "digits", 10.0))
    assert w.requests == 25.0 and set(w.stage_latency_mean_ms) == {"preprocess", "explain", "postprocess", "request"}
    assert w.inference_latency_mean_ms == pytest.approx(w.stage_latency_mean_ms["explain"], abs=1e-3)


def test_torchserve_windows_have_no_stages():
    w = window(snap(0.0, req=1, queue=1, inf=1, b1=1, b4=0, ok=1), snap(1.0, req=3, queue=5, inf=9, b1=3, b4=0, ok=3))
    assert w.stage_latency_mean_ms == {} and w.requests == 2 and w.inference_latency_mean_ms == pytest.approx(0.004)
    assert "stage" not in str(snap(0.0, req=1, queue=1, inf=1, b1=1, b4=0, ok=1).flat())


def test_reports_from_before_the_stage_field_still_load():
    old = {"t_s": 2.0, "duration_s": 10.0, "requests": 40.0, "requests_rps": 4.0, "queue_latency_mean_ms": 5.0,
           "inference_latency_mean_ms": 50.0, "status_counts": {"2XX": 40.0}, "batch_histogram": {"1": 40.0},
           "mean_batch_size": 1.0}
    w = ServerWindow.model_validate(old, context=reading_context())
    assert w.stage_latency_mean_ms == {} and w.requests == 40.0
    new = window(ms_snap(MS_5, 0.0), ms_snap(MS_25, 10.0))
    assert ServerWindow.model_validate_json(new.model_dump_json()) == new

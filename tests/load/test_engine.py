"""The load engine end to end against predictors whose truth is known (tests/load/conftest.py).

Accuracy (issue point 8): a predictor with a fixed 50 ms service time and room to spare (4
parallel workers at 20 req/s, so nothing queues) must read p50 within 5% of 50 ms, and the open
loop must achieve its requested rate within 2%. Faults: a predictor killed mid-run, an
unreachable endpoint, a rate this machine cannot generate, the envelope batching bug.
"""
from __future__ import annotations

import time

import pytest

from harness.errors import PredictorError
from harness.load.runner import ExpectedBatching, run_load
from harness.load.spec import LoadSpec
from harness.load.figures import ENVELOPE_BATCHING_CAUSE
from tests.load.conftest import BODY

SERVICE_MS = 50.0


def spec(**kw) -> LoadSpec:
    return LoadSpec.model_validate(kw)


def test_open_loop_accuracy_p50_and_rate(calibrated, tmp_path):
    srv = calibrated(service_ms=SERVICE_MS, workers=4)
    rate, duration = 20.0, 15.0
    result = run_load(spec(mode="open", rate=rate, duration_s=duration, warmup_s=2,
                           slo={"p95_ms": 500, "max_error_rate": 0.0, "min_rps": 19}),
                      srv.endpoint, [BODY], tmp_path / "out")
    step = result.steps[0]
    c = step.client
    print(f"open loop: p50 {c.latency_ms.p50:.2f} ms (truth {SERVICE_MS} ms), achieved {c.achieved_rps:.3f} req/s "
          f"(requested {rate}), throughput {c.throughput_rps:.3f}, send lag p95 {step.generator.send_lag_ms.p95} ms")
    assert c.requests == int(rate * duration) and c.errors == 0
    assert abs(c.latency_ms.p50 - SERVICE_MS) / SERVICE_MS <= 0.05
    assert abs(c.achieved_rps - rate) / rate <= 0.02
    assert abs(c.throughput_rps - rate) / rate <= 0.02
    # latency is counted from the intended send time, so it can never be below the service time
    assert c.latency_ms.min >= SERVICE_MS * 0.99
    assert step.generator.valid, step.generator.reasons
    assert result.verdict.status == "PASS", result.verdict.reasons
    # the server's own view of the measured window agrees
    w = step.server.window
    assert w.requests == pytest.approx(rate * duration, abs=3)
    assert w.inference_latency_mean_ms == pytest.approx(SERVICE_MS, rel=0.05)
    assert w.batch_histogram and set(w.batch_histogram) == {1}
    assert step.server.description.batch_size == 1 and step.server.description.ready_workers == 4
    # the time series covers the run: warmup bins first, then measured bins at ~rate
    measured = [iv for iv in step.intervals if not iv.warmup]
    assert len(measured) >= duration - 1 and all(iv.sent >= rate - 2 for iv in measured[:-1])
    assert (tmp_path / "out" / "result.json").is_file()


def test_closed_loop_users_and_think_time(calibrated, tmp_path):
    srv = calibrated(service_ms=SERVICE_MS, workers=4)
    result = run_load(spec(mode="closed", users=2, duration_s=4, warmup_s=1), srv.endpoint, [BODY], tmp_path)
    c = result.steps[0].client
    # two users, each one request at a time: ~2 / 51 ms
    assert c.users == 2 and c.errors == 0
    assert abs(c.latency_ms.p50 - SERVICE_MS) / SERVICE_MS <= 0.05
    assert 2 * 1000 / SERVICE_MS * 0.85 <= c.throughput_rps <= 2 * 1000 / SERVICE_MS
    assert result.verdict.status == "PASS", result.verdict.reasons


def test_killed_predictor_ends_in_time_and_fails_with_cause(calibrated, tmp_path):
    srv = calibrated(service_ms=20, workers=4)
    killed_at = []

    def progress(p):
        if not killed_at and p.ok >= 40:  # well into the run: kill the predictor's whole process group
            srv.kill()
            killed_at.append(p.elapsed_s)

    planned = 1 + 6
    t = time.monotonic()
    result = run_load(spec(mode="open", rate=20, duration_s=6, warmup_s=1, timeout_s=5,
                           slo={"max_error_rate": 0.05}), srv.endpoint, [BODY], tmp_path, progress=progress)
    wall = time.monotonic() - t
    assert killed_at, "the progress callback never saw the run"
    assert wall < planned + 15, f"run took {wall:.1f}s"
    step = result.steps[0]
    assert step.client.ok > 0 and step.client.errors > 0
    assert step.client.requests == 120  # every due request is accounted for: answered or failed
    transport = [g for g in step.errors if g.status == 0]
    assert transport and sum(g.count for g in transport) >= 20
    assert result.verdict.status == "FAIL"
    assert "stopped answering" in result.verdict.cause
    assert any("refused" in (g.cause or "") or "refused" in g.message.lower() for g in transport)


def test_unreachable_endpoint_fails_fast_in_one_line(tmp_path):
    from harness.endpoint import Endpoint
    from harness.waits import free_port

    ep = Endpoint(base_url=f"http://127.0.0.1:{free_port()}", model_name="m", protocol="v1")
    t = time.monotonic()
    with pytest.raises(PredictorError) as info:
        run_load(spec(mode="open", rate=5, duration_s=5), ep, [BODY], tmp_path)
    assert time.monotonic() - t < 5
    line = info.value.one_line()
    assert "unreachable" in line and "\n" not in line
    assert not list(tmp_path.glob("run*/records-*"))  # nothing was started


def test_rate_the_machine_cannot_generate_is_invalid(fast_server, tmp_path):
    t = time.monotonic()
    result = run_load(spec(mode="open", rate=50000, duration_s=2, timeout_s=5), fast_server.endpoint, [BODY], tmp_path)
    assert time.monotonic() - t < 2 + 15
    step = result.steps[0]
    assert not step.generator.valid
    assert step.verdict.status == "INVALID" and result.verdict.status == "INVALID"
    assert any("could not generate 50000 req/s" in r for r in step.generator.reasons), step.generator.reasons


def test_envelope_batching_bug_is_named(calibrated, tmp_path):
    srv = calibrated(service_ms=20, workers=1, batch_size=4, delay_ms=30, envelope_bug=True)
    result = run_load(spec(mode="open", rate=60, duration_s=3, warmup_s=0.5, timeout_s=5),
                      srv.endpoint, [BODY], tmp_path)
    step = result.steps[0]
    bug = [g for g in step.errors if g.status == 503 and g.cause == ENVELOPE_BATCHING_CAUSE]
    assert bug and bug[0].message == "number of batch response mismatched"
    assert result.verdict.status == "FAIL"
    assert "number of batch response mismatched" in result.verdict.cause and "#1302" in result.verdict.cause
    assert "batchSize 4" in result.verdict.cause
    assert max(step.server.window.batch_histogram) > 1


def test_batch_histogram_and_batching_not_in_effect(calibrated, tmp_path):
    srv = calibrated(service_ms=40, workers=1, batch_size=4, delay_ms=50)
    result = run_load(spec(mode="open", rate=60, duration_s=3, warmup_s=1, timeout_s=5, slo={"p99_ms": 1000}),
                      srv.endpoint, [BODY], tmp_path, expected=ExpectedBatching(batch_size=8, max_batch_delay_ms=50))
    step = result.steps[0]
    s = step.server
    assert s.batch_metric_seen and s.window.mean_batch_size > 1.5
    assert sum(k * v for k, v in s.window.batch_histogram.items()) == pytest.approx(s.window.requests, abs=4)
    assert s.window.queue_latency_mean_ms > 0
    assert step.client.errors == 0
    assert result.verdict.status == "FAIL"
    assert "batch size in effect is 4" in result.verdict.cause and "asks for 8" in result.verdict.cause


def test_two_locust_workers_share_the_open_loop(calibrated, tmp_path):
    srv = calibrated(service_ms=20, workers=4)
    result = run_load(spec(mode="open", rate=40, duration_s=4, warmup_s=1, workers=2), srv.endpoint, [BODY], tmp_path)
    step = result.steps[0]
    assert [p.role for p in step.generator.processes] == ["worker", "worker"]
    assert all(p.sent > 0 for p in step.generator.processes)
    assert step.client.requests == 160 and step.client.errors == 0
    assert abs(step.client.achieved_rps - 40) / 40 <= 0.02
    assert result.verdict.status == "PASS", result.verdict.reasons


def test_sweep_and_stages_report_one_step_each(calibrated, tmp_path):
    srv = calibrated(service_ms=10, workers=4)
    sweep = run_load(spec(mode="closed", sweep={"param": "users", "values": [1, 2]}, duration_s=2, warmup_s=0.5,
                          slo={"p95_ms": 200}),
                     srv.endpoint, [BODY, BODY], tmp_path / "sweep")
    assert [s.label for s in sweep.steps] == ["users=1", "users=2"]
    assert sweep.steps[1].client.throughput_rps > sweep.steps[0].client.throughput_rps * 1.5
    assert sweep.best_passing == "users=2"
    staged = run_load(spec(mode="open", stages=[{"duration_s": 2, "rate": 10}, {"duration_s": 2, "rate": 30}],
                           warmup_s=0.5), srv.endpoint, [BODY], tmp_path / "stages")
    assert [s.client.requests for s in staged.steps] == [20, 60]
    assert [round(s.client.achieved_rps) for s in staged.steps] == [10, 30]
    assert staged.steps[1].server.window.requests == pytest.approx(60, abs=3)

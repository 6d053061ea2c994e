"""Client figures from raw records: exact percentiles, errors, intervals, self-check, verdict."""
from __future__ import annotations

import numpy as np
import pytest

from harness.load import figures as fig
from harness.load.result import ClientFigures, GeneratorProcess, Percentiles, SelfCheck
from harness.load.slo import judge_run, judge_step
from harness.load.spec import SelfCheckSpec, SloSpec, StagePlan

T0 = 1_800_000_000.0


def rows_open(n: int, rate: float, lat_ms, *, lag_ms=0.0, status=200, err=None, warm_first: int = 0, start=0.0):
    out = []
    for i in range(n):
        t_int = T0 + start + i / rate
        lat = lat_ms[i] if hasattr(lat_ms, "__getitem__") else lat_ms
        out.append([0, int(i < warm_first), t_int, t_int + lag_ms / 1000, t_int + lat / 1000, status, 10, err])
    return out


def test_percentiles_are_exact_not_bucketed():
    lat = [147.0, 151.3, 149.9, 148.2, 1000.0] * 20  # Locust would round 147 to 150
    rec = fig.records_from_rows(rows_open(100, 10, lat))
    c = fig.client_figures(fig.step_records(rec, 0), StagePlan(label="x", duration_s=10, warmup_s=0, rate=10), "open")
    expected = np.percentile(lat, [50, 90, 95, 99])
    assert (c.latency_ms.p50, c.latency_ms.p90, c.latency_ms.p95, c.latency_ms.p99) == pytest.approx(list(expected), abs=1e-3)
    assert c.latency_ms.min == pytest.approx(147.0, abs=1e-3) and c.latency_ms.max == pytest.approx(1000.0, abs=1e-3)
    assert c.throughput_rps == 10 and c.achieved_rps == 10 and c.error_rate == 0


def test_warmup_is_excluded_and_open_latency_counts_from_intended_time():
    rows = rows_open(30, 10, 50.0, lag_ms=20.0, warm_first=10)
    rec = fig.records_from_rows(rows)
    step = fig.step_records(rec, 0)
    c = fig.client_figures(step, StagePlan(label="x", duration_s=2, warmup_s=1, rate=10), "open")
    assert c.requests == 20
    assert c.latency_ms.p50 == pytest.approx(50.0, abs=1e-3)   # completion - intended
    assert c.service_ms.p50 == pytest.approx(30.0, abs=1e-3)   # completion - actual send


def test_errors_grouped_by_status_and_message_with_known_causes():
    rows = (rows_open(5, 10, 10.0)
            + rows_open(3, 10, 10.0, status=503, err="number of batch response mismatched")
            + rows_open(2, 10, 1.0, status=0, err="ConnectionRefusedError: [Errno 111] Connection refused"))
    rec = fig.records_from_rows(rows)
    groups = fig.error_groups(rec)
    assert [(g.status, g.count) for g in groups] == [(503, 3), (0, 2)]
    assert groups[0].cause == fig.ENVELOPE_BATCHING_CAUSE
    assert "refused connections" in groups[1].cause


def test_predictor_death_is_recognised_only_when_answers_stop_for_good():
    alive = rows_open(20, 10, 10.0)
    dead = [[0, 0, T0 + 2 + i / 10, T0 + 2 + i / 10, T0 + 2 + i / 10, 0, 0, "ConnectionRefusedError: refused"]
            for i in range(20)]
    assert "stopped answering 2.0 s into the run" in fig.predictor_death(fig.records_from_rows(alive + dead))
    # a blip followed by recovery is not a death
    assert fig.predictor_death(fig.records_from_rows(alive + dead[:2] + rows_open(20, 10, 10.0, start=2.5))) is None
    # refused from the very start: unreachable, not a death mid-run
    assert fig.predictor_death(fig.records_from_rows(dead)) is None
    # a server that answers 500 and closes the connection each time is alive (uvicorn, KServe's front)
    failing = [row for i in range(20) for row in (
        rows_open(1, 10, 10.0, start=2 + i / 10, status=500, err="HTTPStatusError")
        + [[0, 0, T0 + 2.05 + i / 10, T0 + 2.05 + i / 10, T0 + 2.05 + i / 10, 0, 0, "HTTPConnectionClosed"]])]
    assert fig.predictor_death(fig.records_from_rows(alive + failing)) is None


def test_intervals_bin_by_intended_time():
    rec = fig.records_from_rows(rows_open(30, 10, 20.0, warm_first=10))
    ivs = fig.intervals(rec, 1.0, "open")
    assert len(ivs) == 3 and [iv.sent for iv in ivs] == [10, 10, 10]
    assert [iv.warmup for iv in ivs] == [True, False, False]
    assert ivs[1].rps == 10 and ivs[1].p50_ms == pytest.approx(20.0, abs=1e-3)


def test_generator_that_fell_behind_makes_the_step_invalid():
    plan = StagePlan(label="x", duration_s=10, warmup_s=0, rate=100)
    # only 500 of 1000 due requests left, late
    rec = fig.records_from_rows(rows_open(500, 50, 5.0, lag_ms=300.0))
    procs = [GeneratorProcess(pid=1, role="local", cpu_percent=99.0)]
    check = fig.self_check(fig.step_records(rec, 0), plan, "open", procs, SelfCheckSpec())
    assert not check.valid
    assert any("could not generate 100 req/s" in r for r in check.reasons)
    assert any("99% of a core" in r for r in check.reasons)
    client = fig.client_figures(fig.step_records(rec, 0), plan, "open")
    v = judge_step(client, [], check, slo=SloSpec(p95_ms=1000))
    assert v.status == "INVALID"


def test_drops_at_the_in_flight_limit_are_the_servers_not_the_generators():
    plan = StagePlan(label="x", duration_s=1, warmup_s=0, rate=100)
    rows = rows_open(50, 100, 900.0) + [[0, 0, T0 + 0.5 + i / 100, T0 + 0.5 + i / 100, T0 + 0.5 + i / 100, -1, 0,
                                         "dropped: 50 requests already awaiting an answer"] for i in range(50)]
    rec = fig.records_from_rows(rows)
    check = fig.self_check(fig.step_records(rec, 0), plan, "open", [], SelfCheckSpec())
    assert check.valid and check.dropped == 50


def _client(**kw) -> ClientFigures:
    base = dict(requests=100, ok=100, errors=0, error_rate=0.0, duration_s=10, throughput_rps=10, achieved_rps=10,
                latency_ms=Percentiles(count=100, p50=40, p90=60, p95=70, p99=90, max=120), service_ms=Percentiles())
    base.update(kw)
    return ClientFigures(**base)


def test_slo_verdicts_and_run_verdict_is_the_worst_step():
    ok = SelfCheck(valid=True)
    slo = SloSpec(p95_ms=80, p99_ms=100, max_error_rate=0.01, min_rps=9)
    v1 = judge_step(_client(), [], ok, slo=slo)
    assert v1.status == "PASS" and all(c.passed for c in v1.slo)
    v2 = judge_step(_client(latency_ms=Percentiles(count=100, p50=40, p95=95, p99=150)), [], ok, slo=slo)
    assert v2.status == "FAIL"
    assert any("p95_ms: observed 95, needed at most 80" in r for r in v2.reasons)
    v3 = judge_step(_client(errors=1, ok=99, error_rate=0.01), [], ok, slo=None)
    assert v3.status == "FAIL" and any("error_rate" in r for r in v3.reasons)  # no budget given: 0
    run = judge_run([v1, v2], ["a", "b"])
    assert run.status == "FAIL" and run.reasons[0].startswith("b: ")


def test_a_failing_run_names_the_cause_its_errors_carry():
    rows = rows_open(10, 10, 1.0, status=404, err="Model not found: tiny")
    rec = fig.records_from_rows(rows)
    plan = StagePlan(label="x", duration_s=1, warmup_s=0, rate=10)
    v = judge_step(fig.client_figures(rec, plan, "open"), fig.error_groups(rec), SelfCheck(valid=True), slo=None)
    assert v.status == "FAIL" and "does not serve this model" in v.cause

"""The load engine over grpc-v2: Locust's users send ModelInfer calls on a gevent-cooperative gRPC
channel, against a real gRPC server with a known service time (tests/grpc_server.py).

The same figures, self-check and verdict as over HTTP (tests/load/test_engine.py): raw timings
read the true service time, the open loop keeps its rate, every gRPC status is counted under its
HTTP equivalent with the server's message, and a server killed mid-run is named as having
stopped answering (transport failures, status 0). Runs are a few seconds, on 127.0.0.1 only.
"""
from __future__ import annotations

import json
import time

import pytest

from harness.errors import ConfigError, PredictorError
from harness.load.runner import run_load
from harness.load.spec import LoadSpec
from harness.endpoint import Endpoint
from harness.waits import free_port
from tests import grpc_server
from tests.helpers import FIXTURES

BODY = (FIXTURES / "digits" / "request_v2.json").read_bytes()
MODEL = "echo"
SERVICE_MS = 100.0  # long beside the Python gRPC server's own ~2 ms per call, which the latency includes


def spec(**kw) -> LoadSpec:
    return LoadSpec.model_validate(kw)


def endpoint(target: str) -> Endpoint:
    return Endpoint(base_url="http://127.0.0.1:1", model_name=MODEL, protocol="grpc-v2", grpc_target=target)


@pytest.fixture
def server(tmp_path):
    started = []

    def make(**kw):
        srv = grpc_server.start(tmp_path / f"grpc-server-{len(started)}.log", model=MODEL, **kw)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def test_open_loop_over_grpc_reads_the_true_service_time_at_its_rate(server, tmp_path):
    srv = server(service_ms=SERVICE_MS, workers=4)
    rate, duration = 20.0, 6.0
    result = run_load(spec(mode="open", rate=rate, duration_s=duration, warmup_s=1,
                           slo={"p95_ms": 500, "max_error_rate": 0.0}), endpoint(srv.target), [BODY], tmp_path)
    step = result.steps[0]
    c = step.client
    print(f"grpc open loop: p50 {c.latency_ms.p50:.2f} ms (truth {SERVICE_MS} ms), p99 {c.latency_ms.p99:.2f} ms, "
          f"achieved {c.achieved_rps:.3f} req/s, send lag p95 {step.generator.send_lag_ms.p95} ms")
    assert c.requests == int(rate * duration) and c.errors == 0
    assert abs(c.latency_ms.p50 - SERVICE_MS) / SERVICE_MS <= 0.05
    assert c.latency_ms.min >= SERVICE_MS * 0.99  # from the intended send time: never below the service time
    assert abs(c.achieved_rps - rate) / rate <= 0.02
    assert step.generator.valid, step.generator.reasons
    assert result.verdict.status == "PASS", result.verdict.reasons
    assert result.endpoint == {"url": f"grpc://{srv.target}", "model": MODEL, "protocol": "grpc-v2",
                               "path": "/inference.GRPCInferenceService/ModelInfer"}
    # Every response counted its bytes (the serialized ModelInferResponse echoing 192 float32 values).
    assert c.bytes_received >= c.ok * 192 * 4
    plan = json.loads((tmp_path / "run" / "plan.json").read_text())
    assert plan["protocol"] == "grpc-v2" and plan["grpc_target"] == srv.target


def test_grpc_errors_count_under_their_http_status_with_the_servers_message(server, tmp_path):
    srv = server(service_ms=5, workers=2, fail_every=5)
    result = run_load(spec(mode="closed", users=2, duration_s=3, warmup_s=0.5), endpoint(srv.target), [BODY], tmp_path)
    step = result.steps[0]
    [group] = step.errors
    assert group.status == 400  # INVALID_ARGUMENT
    assert group.message == "INVALID_ARGUMENT: harness test: every 5th request refused"
    assert step.client.error_rate == pytest.approx(0.2, abs=0.03)
    assert result.verdict.status == "FAIL"  # no error budget was given


def test_a_grpc_server_killed_mid_run_stopped_answering(server, tmp_path):
    srv = server(service_ms=20, workers=4)
    killed = []

    def progress(p):
        if not killed and p.ok >= 40:
            srv.stop()
            killed.append(p.elapsed_s)

    t = time.monotonic()
    result = run_load(spec(mode="open", rate=20, duration_s=6, warmup_s=1, timeout_s=5, slo={"max_error_rate": 0.05}),
                      endpoint(srv.target), [BODY], tmp_path, progress=progress)
    assert killed and time.monotonic() - t < 7 + 15
    step = result.steps[0]
    assert step.client.requests == 120 and step.client.ok > 0  # the measured window: every due request
    transport = [g for g in step.errors if g.status == 0]
    assert transport and sum(g.count for g in transport) >= 20
    assert all(g.message.startswith("UNAVAILABLE: ") for g in transport), transport
    assert result.verdict.status == "FAIL" and "stopped answering" in result.verdict.cause


def test_an_unreachable_grpc_port_fails_fast_in_one_line(tmp_path):
    target = f"127.0.0.1:{free_port()}"
    with pytest.raises(PredictorError) as info:
        run_load(spec(mode="open", rate=5, duration_s=5), endpoint(target), [BODY], tmp_path)
    line = info.value.one_line()
    assert "unreachable" in line and f"grpc://{target}" in line and "\n" not in line
    assert not list(tmp_path.glob("run*/records-*"))


def test_a_body_that_is_no_v2_request_is_a_config_error_before_any_load(server, tmp_path):
    srv = server()
    with pytest.raises(ConfigError) as info:
        run_load(spec(mode="open", rate=5, duration_s=2), endpoint(srv.target), [b'{"instances": [[1]]}'], tmp_path)
    assert "load request 0 cannot be sent over grpc-v2" in info.value.what
    assert not list(tmp_path.glob("run*/records-*"))

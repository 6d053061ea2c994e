"""The port-forward self-check (harness.load.tunnel_check): a step limited by the tunnel (the
harness process relaying it saturated, or requests spending far longer outside the server than in
it) through a port-forward is INVALID with one line; in-cluster load has no tunnel to judge."""
from __future__ import annotations

from harness.load.result import ServerFigures, ServerWindow
from harness.load.tunnel_check import server_time_ms, tunnel_reason


def test_time_outside_the_server_through_the_tunnel_is_flagged():
    reason = tunnel_reason(420.0, 20.0, through_port_forward=True)
    assert reason is not None and "\n" not in reason
    assert "400.0 ms of each request's 420.0 ms was spent outside the server's own 20.0 ms" in reason
    assert "load.generator: cluster" in reason


def test_a_saturated_relay_is_flagged_even_without_server_figures():
    reason = tunnel_reason(None, None, through_port_forward=True, relay_cpu_percent=97.0, max_cpu_percent=90)
    assert reason is not None and "relaying it was 97% busy (limit 90% of a core)" in reason
    assert tunnel_reason(None, None, through_port_forward=True, relay_cpu_percent=60.0) is None


def test_no_judgement_without_a_tunnel_or_a_server_figure():
    assert tunnel_reason(900.0, 20.0, through_port_forward=False, relay_cpu_percent=99.0) is None  # in-cluster
    assert tunnel_reason(900.0, None, through_port_forward=True) is None  # no metrics: cannot tell
    assert tunnel_reason(None, 20.0, through_port_forward=True) is None  # no 2xx answer


def test_a_busy_server_or_a_small_hop_is_not_the_tunnels_doing():
    assert tunnel_reason(150.0, 5.0, through_port_forward=True) is None  # 145 ms outside: under the floor
    assert tunnel_reason(1200.0, 300.0, through_port_forward=True) is None  # 900 ms outside < 4 x 300 ms inside
    assert tunnel_reason(1600.0, 300.0, through_port_forward=True) is not None  # 1300 ms outside > 4 x 300 ms


def test_server_time_is_torchserves_queue_plus_inference_or_the_modelservers_request():
    ts = ServerFigures(window=ServerWindow(queue_latency_mean_ms=3.0, inference_latency_mean_ms=7.5))
    assert server_time_ms(ts) == 10.5
    ms = ServerFigures(window=ServerWindow(inference_latency_mean_ms=4.0, stage_latency_mean_ms={"request": 6.0}))
    assert server_time_ms(ms) == 6.0
    assert server_time_ms(ServerFigures()) is None and server_time_ms(None) is None

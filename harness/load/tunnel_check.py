"""Self-check of a port-forwarded load run: was the tunnel, not the server, the limit?

Flow: after a step's figures (harness.load.runner.steps_of), when the load went through a
port-forward (`Endpoint.info["forwarded"]`, generator: local on a cluster target), the client's
mean service time (actual send -> answer, 2xx) is compared with the time the server itself
accounts for per request over the same window: TorchServe's queue + inference latency, or the
ModelServer's whole request (its `request` stage). What is left is time spent outside the server:
the API server's port-forward tunnel, the kubelet's stream, and (TorchServe) KServe's front.
When that outside time is both over `MIN_OUTSIDE_MS` and over `OUTSIDE_RATIO` times the server's
own time, or when the harness process — which relays every forwarded byte — was as busy as the
generator self-check allows a Locust process to be (`self_check.max_cpu_percent`), the tunnel
limited what was measured: the step is INVALID with one line, as when the load generator is the
bottleneck; `load.generator: cluster` measures the same scenario without it. Without a server
figure (no metrics, no 2xx answer) only the relay's CPU is judged.

Caveat, said in the reason: behind TorchServe the front's time counts as outside; a front that
saturates would be blamed on the tunnel too. The ModelServer's figure includes its own front.
"""
from __future__ import annotations

from harness.load.result import ClientFigures, ServerFigures

MIN_OUTSIDE_MS = 200.0  # outside time that only a saturated hop explains (a loopback hop + the front: a few ms)
OUTSIDE_RATIO = 4.0  # ... and several times the server's own time


def server_time_ms(server: ServerFigures | None) -> float | None:
    """Per-request time the server accounts for over the step's window, or None."""
    w = server.window if server else None
    if w is None:
        return None
    if "request" in (w.stage_latency_mean_ms or {}):
        return w.stage_latency_mean_ms["request"]
    if w.inference_latency_mean_ms is None:
        return None
    return (w.queue_latency_mean_ms or 0.0) + w.inference_latency_mean_ms


def tunnel_reason(client_service_mean_ms: float | None, server_ms: float | None, *, through_port_forward: bool,
                  relay_cpu_percent: float | None = None, max_cpu_percent: float = 90.0,
                  min_outside_ms: float = MIN_OUTSIDE_MS, ratio: float = OUTSIDE_RATIO) -> str | None:
    """One line when the port-forward, not the server, limited the step; else None.

    Two signs, either is enough: the harness process, which relays every forwarded byte (two
    threads per connection, WebSocket framing in Python), was as busy as a load generator may be
    (`max_cpu_percent` of a core, the generator self-check's limit); or the requests spent far
    more time outside the server than in it (`min_outside_ms` and `ratio` times the server's time).
    """
    if not through_port_forward:
        return None
    if relay_cpu_percent is not None and relay_cpu_percent >= max_cpu_percent:
        return (f"the port-forward limited this step, not the server: the harness process relaying it was "
                f"{relay_cpu_percent:.0f}% busy (limit {max_cpu_percent:g}% of a core); "
                "rerun with load.generator: cluster")
    if client_service_mean_ms is None or server_ms is None:
        return None
    outside = client_service_mean_ms - server_ms
    if outside <= min_outside_ms or outside <= ratio * server_ms:
        return None
    return (f"the port-forward limited this step, not the server: {outside:.1f} ms of each request's "
            f"{client_service_mean_ms:.1f} ms was spent outside the server's own {server_ms:.1f} ms "
            "(the tunnel and whatever sits between it and the server); rerun with load.generator: cluster")


def check_step(endpoint_info: dict, client: ClientFigures, server: ServerFigures | None, *,
               through_port_forward: bool | None = None, relay_cpu_percent: float | None = None,
               max_cpu_percent: float = 90.0) -> str | None:
    """`tunnel_reason` for one step; `through_port_forward` defaults to whether the endpoint was forwarded."""
    if through_port_forward is None:
        through_port_forward = bool((endpoint_info or {}).get("forwarded"))
    return tunnel_reason(client.service_ms.mean if client.service_ms else None, server_time_ms(server),
                         through_port_forward=through_port_forward, relay_cpu_percent=relay_cpu_percent,
                         max_cpu_percent=max_cpu_percent)

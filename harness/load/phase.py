"""The load phase of a scenario run: the scenario's `load:` section against its Endpoint.

Flow: read the request bodies -> run_load (Locust in its own processes) with the batch size and
delay the scenario configured -> LoadResult, with a progress line every few seconds.
"""
from __future__ import annotations

import time
from pathlib import Path

from harness.load.result import LoadResult
from harness.load.runner import ExpectedBatching, LoadProgress, run_load
from harness.progress import Progress
from harness.spec import ScenarioSpec
from harness.endpoint import Endpoint


def expected_batching(spec: ScenarioSpec) -> ExpectedBatching | None:
    """The batching the scenario configured. Only TorchServe batches across requests; the
    ModelServer runs each request on its own."""
    ts = spec.torchserve
    return (ExpectedBatching(batch_size=ts.batch_size, max_batch_delay_ms=ts.max_batch_delay_ms)
            if spec.runtime == "torchserve" else None)


def run_load_phase(spec: ScenarioSpec, endpoint: Endpoint, out_dir: Path, progress: Progress,
                   target=None) -> LoadResult:
    last = [0.0]

    def report(p: LoadProgress) -> None:
        now = time.monotonic()
        if now - last[0] >= 5.0:
            last[0] = now
            progress.say(f"  load {p.label} ({p.run + 1}/{p.runs}): {p.elapsed_s:.0f}/{p.planned_s:.0f}s, "
                         f"sent {p.sent}, ok {p.ok}, errors {p.errors}, in flight {p.in_flight}")

    expected = expected_batching(spec)
    run_factory = None
    if spec.load.generator == "cluster":  # Locust as pods in the run's namespace
        from harness.kube.load_pods import cluster_load_for, make_cluster_run

        run_factory = make_cluster_run(cluster_load_for(target, spec))
    result = run_load(spec.load, endpoint, spec.load.read_bodies(), out_dir, report, expected=expected,
                      run_factory=run_factory)
    for step in result.steps:
        c = step.client
        lat = c.latency_ms
        progress.say(f"  {step.label}: {c.throughput_rps:.1f} req/s, p50 {lat.p50:.1f} ms, p95 {lat.p95:.1f} ms, "
                     f"errors {c.errors} → {step.verdict.status}" if lat and lat.count else
                     f"  {step.label}: no successful request → {step.verdict.status}")
    progress.say(f"  load verdict: {result.verdict.status}"
                 + (f" — {result.verdict.cause or '; '.join(result.verdict.reasons[:2])}"
                    if result.verdict.status != "PASS" else ""))
    return result

"""The verdict of a load step, and of a run.

Flow: `judge_step(...)` looks first for a named cause (the predictor died, the envelope batching
bug, a batch configuration not in effect, a GPU scenario that never touched GPU memory or
whose GPU could not be sampled at all): any of
them is a FAIL with that cause. Otherwise a generator that was the bottleneck makes the step
INVALID (its numbers are not the server's). Otherwise every objective in `slo:` is checked
(an error budget of 0 applies when `max_error_rate` is not given): all hold = PASS.
`judge_run` takes the worst step: FAIL > INVALID > PASS.
"""
from __future__ import annotations

from harness.load.figures import ENVELOPE_BATCHING_CAUSE
from harness.load.result import ClientFigures, ErrorGroup, GpuFigures, SelfCheck, ServerFigures, SloCheck, Verdict
from harness.load.spec import SloSpec

_RANK = {"PASS": 0, "INVALID": 1, "FAIL": 2}


def slo_checks(client: ClientFigures, slo: SloSpec | None, server: ServerFigures | None = None) -> list[SloCheck]:
    slo = slo or SloSpec()
    checks = []
    lat = client.latency_ms
    for name in ("p50", "p90", "p95", "p99", "max"):
        limit = getattr(slo, f"{name}_ms")
        if limit is not None:
            obs = getattr(lat, name)
            checks.append(SloCheck(name=f"{name}_ms", limit=limit, observed=obs,
                                   passed=obs is not None and obs <= limit))
    budget = slo.max_error_rate if slo.max_error_rate is not None else 0.0
    checks.append(SloCheck(name="error_rate", limit=budget, observed=client.error_rate,
                           passed=client.requests > 0 and client.error_rate <= budget))
    if slo.min_rps is not None:
        checks.append(SloCheck(name="min_rps", limit=slo.min_rps, observed=client.throughput_rps,
                               passed=client.throughput_rps >= slo.min_rps))
    if slo.max_queue_ms is not None:
        q = server.window.queue_latency_mean_ms if server and server.window else None
        checks.append(SloCheck(name="max_queue_ms", limit=slo.max_queue_ms, observed=q,
                               passed=q is not None and q <= slo.max_queue_ms))
    return checks


def named_causes(errors: list[ErrorGroup], death: str | None, server: ServerFigures | None,
                 gpu: GpuFigures | None, expect_gpu: bool) -> list[str]:
    causes = []
    if death:
        causes.append(death)
    env = sum(g.count for g in errors if g.cause == ENVELOPE_BATCHING_CAUSE)
    if env:
        bs = server.description.batch_size if server and server.description else None
        causes.append(f"{env} requests failed with TorchServe's 503 'number of batch response mismatched'"
                      + (f" (batchSize {bs} in effect)" if bs else "") + f": {ENVELOPE_BATCHING_CAUSE}")
    if server and server.description:
        d = server.description
        if server.expected_batch_size is not None and d.batch_size != server.expected_batch_size:
            causes.append(f"the batch size in effect is {d.batch_size} (TorchServe management API), "
                          f"the scenario asks for {server.expected_batch_size}")
        if (server.expected_max_batch_delay_ms is not None and d.max_batch_delay_ms is not None
                and abs(d.max_batch_delay_ms - server.expected_max_batch_delay_ms) > 1e-6):
            causes.append(f"the max batch delay in effect is {d.max_batch_delay_ms:g} ms, "
                          f"the scenario asks for {server.expected_max_batch_delay_ms:g} ms")
    if expect_gpu:
        cause = gpu_cause(gpu)
        if cause:
            causes.append(cause)
    return causes


_SOURCES = {"pod-exec": "nvidia-smi in the predictor pod", "torchserve-metrics": "TorchServe's GPU metrics",
            "local-nvml": "NVML on this machine"}


def gpu_cause(gpu: GpuFigures | None) -> str | None:
    """Why a GPU scenario's step fails on its GPU figures, in one line naming the source; None: it used one."""
    if gpu is None or gpu.status != "sampled":
        why = gpu.reason if gpu and gpu.reason else "no GPU source answered"
        return f"this is a GPU scenario but no GPU could be sampled: {why}"
    if gpu.used_memory:
        return None
    source = _SOURCES.get(gpu.source or "", gpu.source or "the GPU sampler")
    if gpu.other_processes:
        return (f"this is a GPU scenario but the model never used GPU memory during the step ({source}: only "
                f"other processes did: {', '.join(gpu.other_processes)})")
    return (f"this is a GPU scenario but the model never used GPU memory during the step ({source}; it ran on "
            "the CPU: check the handler's device and the worker's GPU assignment)")


def judge_step(client: ClientFigures, errors: list[ErrorGroup], generator: SelfCheck, *,
               slo: SloSpec | None, death: str | None = None, server: ServerFigures | None = None,
               gpu: GpuFigures | None = None, expect_gpu: bool = False) -> Verdict:
    checks = slo_checks(client, slo, server)
    causes = named_causes(errors, death, server, gpu, expect_gpu)
    missed = [c for c in checks if not c.passed]
    reasons = list(causes)
    if client.requests == 0:
        reasons.append("no requests were measured in this step")
    if not generator.valid:
        reasons += [f"invalid: {r}" for r in generator.reasons]
    for c in missed:
        obs = "none" if c.observed is None else f"{c.observed:g}"
        word = "at least" if c.name == "min_rps" else "at most"
        reasons.append(f"SLO {c.name}: observed {obs}, needed {word} {c.limit:g}")
    if causes or (client.requests == 0):
        status = "FAIL"
    elif not generator.valid:
        status = "INVALID"
    elif missed:
        status = "FAIL"
    else:
        status = "PASS"
    cause = causes[0] if causes else None
    if cause is None and status == "FAIL" and any(c.name == "error_rate" for c in missed):
        # the errors themselves say why, when their message is a known one
        cause = next((g.cause for g in sorted(errors, key=lambda g: -g.count) if g.cause), None)
    return Verdict(status=status, reasons=reasons, cause=cause, slo=checks)


def judge_run(verdicts: list[Verdict], labels: list[str]) -> Verdict:
    if not verdicts:
        return Verdict(status="FAIL", reasons=["no step ran"])
    worst = max(verdicts, key=lambda v: _RANK[v.status])
    reasons = [f"{lab}: {r}" for v, lab in zip(verdicts, labels) for r in v.reasons if v.status != "PASS"]
    return Verdict(status=worst.status, reasons=reasons, cause=next((v.cause for v in verdicts if v.cause), None))

"""Synthetic, realistic runs for the report tests, built through the real pydantic models.

`make_run(tmp, ...)` writes a run directory (report.json, summary.md, report.html, junit.xml,
responses/, load/run/records-0.jsonl) the way `harness run` would: per-request latencies drawn
from a seeded log-normal around `base_ms` (times `slowdown`), figures computed from them, the
time series per second, TorchServe-like server metrics and a batch histogram.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.load.result import (ClientFigures, GeneratorProcess, Interval, LoadResult, ModelDescription,
                                 Percentiles, SelfCheck, ServerFigures, ServerWindow, SloCheck, StepResult, Verdict)
from harness.report.model import ArchiveInfo, CheckResult, ColdStart, Phase, Report
from harness.report.writer import write_report
from harness.report.responses import save_response
from harness.report.trials import latency_histograms

OUTPUTS = {"predictions": [[-3.1416, 2.5, 11.75, -0.5, 4.25, 0.125, -7.0, 1.5, 3.0, 9.875]] * 3}


def _pct(v: np.ndarray) -> Percentiles:
    if v.size == 0:
        return Percentiles(count=0)
    p = np.percentile(v, [50, 90, 95, 99])
    return Percentiles(count=int(v.size), min=float(v.min()), mean=float(v.mean()), p50=float(p[0]),
                       p90=float(p[1]), p95=float(p[2]), p99=float(p[3]), max=float(v.max()))


def make_step(rng: np.random.Generator, *, index: int = 0, users: int = 4, base_ms: float = 20.0,
              sigma: float = 0.25, slowdown: float = 1.0, duration_s: float = 10.0, warmup_s: float = 2.0,
              error_rate: float = 0.0, p95_slo: float | None = 60.0, valid: bool = True, t_offset: float = 0.0
              ) -> tuple[StepResult, list[list]]:
    """One closed-loop step and its raw records ([stage, warm, t_int, t_sent, t_done, status, nbytes, error])."""
    median = base_ms * slowdown
    mean_s = median * np.exp(sigma ** 2 / 2) / 1000.0
    n_total = int(users * (duration_s + warmup_s) / mean_s)
    lat = rng.lognormal(np.log(median), sigma, n_total)
    t_sent = np.sort(rng.uniform(0.0, duration_s + warmup_s, n_total))
    status = np.where(rng.random(n_total) < error_rate, 503, 200)
    warm = t_sent < warmup_s
    t0 = 1_700_000_000.0 + t_offset
    rows = [[index, int(w), t0 + t, t0 + t, t0 + t + lv / 1000.0, int(s), 120 if s == 200 else 40,
             None if s == 200 else "HTTP 503: Service Unavailable"]
            for t, lv, s, w in zip(t_sent, lat, status, warm)]
    m = ~warm
    ok = m & (status == 200)
    n, n_ok = int(m.sum()), int(ok.sum())
    client = ClientFigures(requests=n, ok=n_ok, errors=n - n_ok, error_rate=(n - n_ok) / n if n else 0.0,
                           duration_s=duration_s, throughput_rps=n_ok / duration_s, achieved_rps=n / duration_s,
                           users=users, latency_ms=_pct(lat[ok]), service_ms=_pct(lat[ok]))
    intervals = []
    for b in range(int(duration_s + warmup_s)):
        sel = (t_sent >= b) & (t_sent < b + 1)
        sok = sel & (status == 200)
        lv = lat[sok]
        intervals.append(Interval(
            t_s=float(b), stage=index, warmup=b < warmup_s, sent=int(sel.sum()), ok=int(sok.sum()),
            errors=int((sel & (status != 200)).sum()), rps=float(sok.sum()),
            p50_ms=float(np.percentile(lv, 50)) if lv.size else None,
            p95_ms=float(np.percentile(lv, 95)) if lv.size else None,
            p99_ms=float(np.percentile(lv, 99)) if lv.size else None, max_ms=float(lv.max()) if lv.size else None))
    inference = 0.55 * median
    queue = 0.3 * median * (users - 1)
    series = [ServerWindow(t_s=warmup_s + 2 * i, duration_s=2.0, requests=n_ok / duration_s * 2,
                           requests_rps=n_ok / duration_s, queue_latency_mean_ms=queue * rng.uniform(0.8, 1.2),
                           inference_latency_mean_ms=inference * rng.uniform(0.95, 1.05),
                           batch_histogram={1: n_ok / duration_s * 2}, mean_batch_size=1.0)
              for i in range(int(duration_s // 2))]
    server = ServerFigures(
        description=ModelDescription(batch_size=1, max_batch_delay_ms=100, workers=1, ready_workers=1),
        expected_batch_size=1, before={"ts_inference_requests_total": 10.0},
        after={"ts_inference_requests_total": 10.0 + n_ok},
        window=ServerWindow(t_s=warmup_s, duration_s=duration_s, requests=float(n_ok), requests_rps=n_ok / duration_s,
                            queue_latency_mean_ms=queue, inference_latency_mean_ms=inference,
                            status_counts={"2XX": float(n_ok), "5XX": float(n - n_ok)},
                            batch_histogram={1: float(n_ok)}, mean_batch_size=1.0),
        series=series, batch_metric_seen=True)
    slo = []
    if p95_slo is not None:
        slo.append(SloCheck(name="p95_ms", limit=p95_slo, observed=client.latency_ms.p95,
                            passed=client.latency_ms.p95 <= p95_slo))
    slo.append(SloCheck(name="error_rate", limit=0.01, observed=client.error_rate, passed=client.error_rate <= 0.01))
    generator = SelfCheck(valid=valid, reasons=[] if valid else ["a load-generator process used 97% of a core"],
                          processes=[GeneratorProcess(pid=4242, role="local", cpu_percent=31.5 if valid else 97.0,
                                                      sent=n_total)],
                          max_cpu_percent=31.5 if valid else 97.0, machine_cpu_percent=64.0)
    if not valid:
        verdict = Verdict(status="INVALID", reasons=generator.reasons, slo=slo)
    elif all(s.passed for s in slo):
        verdict = Verdict(status="PASS", slo=slo)
    else:
        verdict = Verdict(status="FAIL", reasons=[f"{s.name}: {s.observed:g} > {s.limit:g}" for s in slo if not s.passed],
                          slo=slo)
    step = StepResult(index=index, label=f"users={users}", mode="closed", warmup_s=warmup_s, duration_s=duration_s,
                      client=client, intervals=intervals, generator=generator, server=server, verdict=verdict)
    return step, rows


def make_load(rng: np.random.Generator, out_dir: Path, *, users: list[int] | None = None, **kw) -> LoadResult:
    """A LoadResult (one step, or a users sweep) with its raw records written where the engine puts them."""
    users = users or [4]
    steps = []
    for i, u in enumerate(users):
        run_dir = out_dir / (f"run{i + 1}" if len(users) > 1 else "run")
        run_dir.mkdir(parents=True, exist_ok=True)
        step, rows = make_step(rng, index=i, users=u, **kw)
        # The engine numbers stages within a Locust run: a sweep value is its own run, stage 0.
        for r in rows:
            r[0] = 0
        (run_dir / "records-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        steps.append(step)
    worst = max((s.verdict.status for s in steps), key=lambda s: {"PASS": 0, "INVALID": 1, "FAIL": 2}[s])
    config = {"mode": "closed", "duration_s": kw.get("duration_s", 10.0), "warmup_s": kw.get("warmup_s", 2.0),
              "requests": ["request_v1.json"], "slo": {"p95_ms": 60.0}}
    if len(users) > 1:
        config["sweep"] = {"param": "users", "values": [float(u) for u in users]}
    else:
        config["users"] = users[0]
    return LoadResult(config=config, endpoint={"url": "http://127.0.0.1:8085", "model": "digits", "protocol": "v1",
                                               "path": "/v1/models/digits:predict"},
                      started_at=1_700_000_000.0, finished_at=1_700_000_012.0, steps=steps,
                      verdict=Verdict(status=worst, reasons=[r for s in steps for r in s.verdict.reasons]),
                      best_passing=steps[-1].label if len(steps) > 1 else None,
                      artifacts={"dir": str(out_dir), "result": str(out_dir / "result.json")})


def make_run(root: Path, *, name: str = "digits", seed: int = 1, slowdown: float = 1.0, trials: int = 1,
             users: list[int] | None = None, outputs: dict | None = None, check_passed: bool = True,
             with_load: bool = True, error: dict | None = None, run_jitter: float = 0.0, run_id: str | None = None,
             started_at: str = "2026-11-25T10:00:00+00:00", trial_slowdowns: list[float] | None = None,
             cold_start: ColdStart | None = None, **step_kw) -> Path:
    """Write a complete run directory under root and return it."""
    rng = np.random.default_rng(seed)
    run_id = run_id or f"{name}-20261125-100000-{seed:04x}"
    run_dir = root / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    report = Report(
        run_id=run_id, started_at=started_at, finished_at="2026-11-25T10:01:02+00:00",
        scenario={"name": name, "file": f"/work/main/scenarios/{name}.yaml", "sha256": "ab" * 32,
                  "description": "8x8 digits MLP, V1 protocol"},
        target={"name": "local"},
        environment={"harness": "0.1.0", "python": "3.11.2", "torch": "2.13.0", "torchserve": "0.12.0",
                     "torch_model_archiver": "0.12.0", "kserve_storage": "0.15.0", "locust": "2.32.0",
                     "java": 'openjdk version "17.0.12"', "os": "Linux-6.1-x86_64", "machine": "x86_64",
                     "cpu_count": 2, "memory_gib": 7.7, "gpus": []},
        archive=ArchiveInfo(path="/cache/digits.mar", sha256="cd" * 32, inputs_hash="ef" * 32, reused=True),
        endpoint={"base_url": "http://127.0.0.1:8085", "model_name": "digits", "protocol": "v1"},
        phases=[Phase(name="archive", seconds=0.02, detail="reused (inputs unchanged)"),
                Phase(name="upload", seconds=0.41), Phase(name="storage-init", seconds=1.9),
                Phase(name="torchserve-ready", seconds=5.3), Phase(name="warm-up", seconds=0.2),
                Phase(name="checks", seconds=0.05, detail="1/1 passed")],
        error=error, cold_start=cold_start,
    )
    text = json.dumps(outputs if outputs is not None else OUTPUTS)
    rel, sha = save_response(run_dir, "three-digits-v1", text)
    report.checks.append(CheckResult(
        name="three-digits-v1", passed=check_passed, status=200, elapsed_ms=6.2, atol=1e-5, rtol=0.0,
        diff=[] if check_passed else ["$.predictions[0][2]: expected 11.75, got 12.5 (|diff| 0.75 > atol 1e-05)"],
        request="/work/main/fixtures/digits/request_v1.json", expect="/work/main/fixtures/digits/expected_v1.json",
        response_excerpt=text[:500], response_sha256=sha, response_file=rel))
    if with_load:
        results = []
        for t in range(trials):
            factor = slowdown * (1.0 + run_jitter * rng.standard_normal())
            if trial_slowdowns:
                factor = slowdown * trial_slowdowns[t]
            out = run_dir / "load" / (f"trial{t + 1}" if trials > 1 else "")
            res = make_load(rng, out, users=users, slowdown=factor, t_offset=100.0 * t, **step_kw)
            results.append(res)
            report.latency_histograms += latency_histograms(res, t + 1)
        report.load, report.trials = results[0], trials
        report.load_trials = results if trials > 1 else []
        report.phases.append(Phase(name="load", seconds=12.0 * trials))
    report.passed = check_passed and error is None and all(
        r.verdict.status == "PASS" for r in report.load_results())
    report.exit_code = 0 if report.passed else 1
    report.phases.append(Phase(name="teardown", seconds=1.1))
    write_report(report, run_dir)
    return run_dir

"""Exact client figures from the raw per-request records the locustfile wrote.

Flow: `read_records(dir)` -> `Records` (numpy columns); `client_figures`, `error_groups`,
`intervals` and `self_check` compute one step's numbers from it. Percentiles are order
statistics of the raw timings (numpy's linear interpolation between ranks), never Locust's
rounded buckets. Known failure signatures are named here (`KNOWN_CAUSES`), and a predictor
that died mid-run is recognised from the shape of its transport errors (`predictor_death`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.load.result import ClientFigures, ErrorGroup, GeneratorProcess, Interval, Percentiles, SelfCheck
from harness.load.spec import SelfCheckSpec, StagePlan

STATUS_TRANSPORT = 0
STATUS_DROPPED = -1
STATUS_UNANSWERED = -2

ENVELOPE_BATCHING_CAUSE = (
    "TorchServe's KServe envelope fails batched requests: with TS_SERVICE_ENVELOPE=kserve/kservev2 and "
    "batchSize > 1 the envelope answers one request per batch and TorchServe returns 503 "
    "'number of batch response mismatched' for the rest (pytorch/serve #1302, #2158); use batch_size 1, "
    "or serving.envelope 'none' with a handler that parses the protocol itself")

# (substring of the error message, cause) — matched case-insensitively.
KNOWN_CAUSES: list[tuple[str, str]] = [
    ("number of batch response mismatched", ENVELOPE_BATCHING_CAUSE),
    ("model not found", "the predictor does not serve this model (wrong model name or path, or the model is not loaded)"),
    ("connection refused", "the predictor refused connections (not listening: stopped, crashed or not started)"),
    ("timed out", "no answer within the request timeout (predictor hung or far overloaded)"),
    ("timeout", "no answer within the request timeout (predictor hung or far overloaded)"),
    ("dropped:", "the server did not keep up: requests piled up to the in-flight limit and new ones were dropped"),
    ("no answer before the end of the run", "requests still unanswered when the run ended"),
]


def known_cause(message: str) -> str | None:
    low = message.lower()
    for needle, cause in KNOWN_CAUSES:
        if needle in low:
            return cause
    return None


@dataclass
class Records:
    """All requests of one Locust run, as columns. Times are epoch seconds."""

    stage: np.ndarray
    warm: np.ndarray
    t_int: np.ndarray
    t_sent: np.ndarray
    t_done: np.ndarray
    status: np.ndarray
    nbytes: np.ndarray
    error: list[str | None]
    t0: float  # the run's start: earliest intended send time

    def __len__(self) -> int:
        return len(self.status)

    @property
    def ok(self) -> np.ndarray:
        return (self.status >= 200) & (self.status < 300)

    def select(self, mask: np.ndarray) -> "Records":
        idx = np.flatnonzero(mask)
        return Records(self.stage[idx], self.warm[idx], self.t_int[idx], self.t_sent[idx], self.t_done[idx],
                       self.status[idx], self.nbytes[idx], [self.error[i] for i in idx], self.t0)


def read_records(run_dir: Path, t0: float | None = None) -> Records:
    rows: list[list] = []
    for path in sorted(run_dir.glob("records-*.jsonl")):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except ValueError:  # a line cut short by a killed process
                        continue
    return records_from_rows(rows, t0)


def records_from_rows(rows: list[list], t0: float | None = None) -> Records:
    if rows:
        cols = list(zip(*rows))
        arr = lambda i, dt: np.asarray(cols[i], dtype=dt)  # noqa: E731
        rec = Records(arr(0, np.int64), arr(1, np.int64), arr(2, np.float64), arr(3, np.float64),
                      arr(4, np.float64), arr(5, np.int64), arr(6, np.int64), list(cols[7]), 0.0)
    else:
        e = np.zeros(0)
        rec = Records(e.astype(np.int64), e.astype(np.int64), e, e, e, e.astype(np.int64), e.astype(np.int64), [], 0.0)
    rec.t0 = t0 if t0 is not None else (float(rec.t_int.min()) if len(rec) else 0.0)
    return rec


def percentiles(values_ms: np.ndarray) -> Percentiles:
    v = np.asarray(values_ms, dtype=np.float64)
    if v.size == 0:
        return Percentiles(count=0)
    p = np.percentile(v, [50, 90, 95, 99])
    r = lambda x: round(float(x), 3)  # noqa: E731  (µs resolution)
    return Percentiles(count=int(v.size), min=r(v.min()), mean=r(v.mean()), p50=r(p[0]), p90=r(p[1]),
                       p95=r(p[2]), p99=r(p[3]), max=r(v.max()))


def step_records(rec: Records, stage: int) -> Records:
    """The measured requests of one stage (warmup excluded)."""
    return rec.select((rec.stage == stage) & (rec.warm == 0))


def client_figures(step: Records, plan: StagePlan, mode: str) -> ClientFigures:
    n = len(step)
    ok = step.ok
    sent = step.status != STATUS_DROPPED
    dur = plan.duration_s
    start = step.t_int if mode == "open" else step.t_sent
    return ClientFigures(
        requests=n, ok=int(ok.sum()), errors=int(n - ok.sum()),
        error_rate=round(float((n - ok.sum()) / n), 6) if n else 0.0,
        duration_s=dur,
        throughput_rps=round(float(ok.sum()) / dur, 4),
        achieved_rps=round(float(sent.sum()) / dur, 4),
        requested_rps=plan.rate if mode == "open" else None,
        users=plan.users if mode == "closed" else None,
        latency_ms=percentiles((step.t_done[ok] - start[ok]) * 1000.0),
        service_ms=percentiles((step.t_done[ok] - step.t_sent[ok]) * 1000.0),
        bytes_received=int(step.nbytes.sum()),
    )


def error_groups(step: Records) -> list[ErrorGroup]:
    groups: dict[tuple[int, str], list[float]] = {}
    for i in np.flatnonzero(~step.ok):
        msg = step.error[i] or f"HTTP {int(step.status[i])}"
        key = (int(step.status[i]), msg)
        t = float(step.t_int[i] - step.t0)
        g = groups.get(key)
        if g is None:
            groups[key] = [1, t, t]
        else:
            g[0] += 1
            g[1] = min(g[1], t)
            g[2] = max(g[2], t)
    out = [ErrorGroup(status=s, message=m, count=int(c), first_s=round(a, 3), last_s=round(b, 3), cause=known_cause(m))
           for (s, m), (c, a, b) in groups.items()]
    return sorted(out, key=lambda g: -g.count)


def predictor_death(rec: Records) -> str | None:
    """Name it when the predictor answered, then stopped answering for good.

    True when, after the first transport error (refused/reset/timed out), almost nothing was
    answered (< 5%) while successes came before it. Any HTTP status counts as an answer: a server
    that fails requests is alive, and one that closes the connection after each 500 (uvicorn does,
    so KServe's front does) leaves transport errors among its answers.
    """
    measured = rec.select(rec.status != STATUS_DROPPED)
    if not len(measured):
        return None
    order = np.argsort(measured.t_sent)
    status = measured.status[order]
    transport = np.flatnonzero(status == STATUS_TRANSPORT)
    if not transport.size:
        return None
    first = int(transport[0])
    before_ok = int(((status[:first] >= 200) & (status[:first] < 300)).sum())
    after = status[first:]
    if before_ok == 0 or (after > 0).sum() > 0.05 * after.size:
        return None
    t = float(measured.t_sent[order][first] - rec.t0)
    msg = measured.error[int(order[first])] or "transport error"
    failed = int(((after < 200) | (after >= 300)).sum())
    return (f"the predictor stopped answering {t:.1f} s into the run: {failed} requests failed after that "
            f"({msg}); it was killed, crashed or restarted")


def intervals(rec: Records, interval_s: float, mode: str) -> list[Interval]:
    if not len(rec):
        return []
    rel = rec.t_int - rec.t0
    bins = np.floor(rel / interval_s).astype(np.int64)
    ok = rec.ok
    start = rec.t_int if mode == "open" else rec.t_sent
    lat = (rec.t_done - start) * 1000.0
    out = []
    for b in range(int(bins.max()) + 1):
        m = bins == b
        if not m.any():
            out.append(Interval(t_s=round(b * interval_s, 3)))
            continue
        okm = m & ok
        lv = lat[okm]
        pct = np.percentile(lv, [50, 95, 99]) if lv.size else [None, None, None]
        stages = rec.stage[m]
        out.append(Interval(
            t_s=round(b * interval_s, 3), stage=int(np.bincount(stages[stages >= 0]).argmax()) if (stages >= 0).any() else None,
            warmup=bool(rec.warm[m].mean() > 0.5), sent=int((m & (rec.status != STATUS_DROPPED)).sum()),
            ok=int(okm.sum()), errors=int((m & ~ok).sum()), rps=round(float(okm.sum()) / interval_s, 3),
            p50_ms=_r(pct[0]), p95_ms=_r(pct[1]), p99_ms=_r(pct[2]), max_ms=_r(lv.max()) if lv.size else None,
        ))
    return out


def _r(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 3)


def self_check(step: Records, plan: StagePlan, mode: str, processes: list[GeneratorProcess],
               limits: SelfCheckSpec, machine_cpu_percent: float | None = None) -> SelfCheck:
    """Was the generator, not the server, the bottleneck? Then the step is invalid."""
    reasons: list[str] = []
    sent = step.status != STATUS_DROPPED
    dropped = int((~sent).sum())
    lag = percentiles((step.t_sent[sent] - step.t_int[sent]) * 1000.0) if mode == "open" else Percentiles()
    achieved = float(sent.sum()) / plan.duration_s
    max_cpu = max((p.cpu_percent for p in processes), default=None)
    check = SelfCheck(valid=True, processes=processes, max_cpu_percent=max_cpu,
                      machine_cpu_percent=machine_cpu_percent, send_lag_ms=lag, dropped=dropped)
    if max_cpu is not None and max_cpu >= limits.max_cpu_percent:
        reasons.append(f"a load-generator process used {max_cpu:.0f}% of a core (limit {limits.max_cpu_percent:.0f}%): "
                       "add workers (load.workers) or lower the load")
    if mode == "open":
        requested = float(plan.rate or 0.0)
        sent_ratio = achieved / requested if requested else 1.0
        # Due requests dropped at the in-flight limit were offered on time, so they are the
        # server's doing -- unless requests also left late: then the generator was behind.
        offered_ratio = (achieved + dropped / plan.duration_s) / requested if requested else 1.0
        lag_bad = lag.p95 is not None and lag.p95 > limits.max_send_lag_p95_ms
        check.requested_rps, check.achieved_rps = requested, round(achieved, 4)
        check.rate_ratio = round(sent_ratio, 4)
        if offered_ratio < limits.min_rate_ratio or (lag_bad and sent_ratio < limits.min_rate_ratio):
            reasons.append(f"this machine could not generate {requested:g} req/s with {len(processes) or 1} "
                           f"load process(es): it sent {achieved:.1f} req/s ({sent_ratio:.1%} of the rate, "
                           f"limit {limits.min_rate_ratio:.0%})"
                           + (f", send lag p95 {lag.p95:.1f} ms" if lag.p95 is not None else ""))
        elif lag_bad:
            reasons.append(f"requests left late: send lag p95 {lag.p95:.1f} ms (limit {limits.max_send_lag_p95_ms:g} ms)")
    else:
        check.achieved_rps = round(achieved, 4)
    check.valid = not reasons
    check.reasons = reasons
    return check

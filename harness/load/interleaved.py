"""Interleaved load on two endpoints (an A/B run's `load.ab.schedule: interleaved`): one Locust run
whose requests go in turn to each endpoint, and per endpoint the figures of each time window, as
if every window were a block of its own.

Flow: `run_interleaved(spec, endpoints, bodies, stages, out_dir)`:
  1. the plan gets `sides` (each endpoint's address, path, headers and bodies); the locustfile sends
     requests 2k and 2k+1 one to each side, in an order a hash of k picks (locustfile.side_of);
  2. one Locust run (harness.load.runner's `LocustRun`), whose every scrape reads both servers' metrics,
     at each window's edges too;
  3. the records, split by side into side-N/, and each side's scrapes give its steps, one per stage
     (= per window), computed by the runner's own `steps_of`;
  4. per side, one LoadResult per window.
Both sides live through the same moments of the machine, request by request: drift and
second-scale noise (other work on a shared machine, GC pauses elsewhere) hit both alike, which
alternating blocks cannot give, since a block of A and a block of B never run at the same time.
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Callable

from harness.endpoint import Endpoint
from harness.load.gpu import sampler_for, with_metrics_fallback
from harness.load.result import LoadResult
from harness.load.runner import (ExpectedBatching, LoadProgress, LocustRun, describe, locust_plan, prepare_bodies,
                                 probe_for, result_endpoint, steps_of)
from harness.load.server_metrics import ServerProbe
from harness.load.slo import judge_run
from harness.load.spec import LoadSpec, StagePlan


class InterleavedRun(LocustRun):
    """One Locust run over several endpoints; `_scrape` reads every side's metrics."""

    def __init__(self, spec: LoadSpec, endpoints: list[Endpoint], stages: list[StagePlan], run_dir: Path,
                 probes: list[ServerProbe | None], progress: Callable[[LoadProgress], None] | None) -> None:
        super().__init__(spec, endpoints[0], stages, run_dir, probes[0], progress, 0, 1)
        self.endpoints, self.probes = endpoints, probes
        self.side_snapshots: list[list] = [[] for _ in endpoints]
        self.side_scrape_errors: list[list[str]] = [[] for _ in endpoints]

    def plan_doc(self, bodies: list[bytes]) -> dict:
        sides = [self.side_plan(ep, self.write_bodies(ep, bodies, f"side{i}-body"))
                 for i, ep in enumerate(self.endpoints)]
        return {**locust_plan(self.spec, self.endpoint, self.stages, self.run_dir, []), "sides": sides}

    def _scrape(self) -> None:
        for probe, snaps, errors in zip(self.probes, self.side_snapshots, self.side_scrape_errors):
            if not probe or not probe.has_metrics:
                continue
            try:
                snaps.append(probe.scrape())
            except Exception as exc:  # a dead server must not stop the run: it is what we measure
                msg = f"{type(exc).__name__}: {exc}"[:200]
                if msg not in errors:
                    errors.append(msg)

    def side_view(self, i: int) -> LocustRun:
        """Side i as a run of its own: its records (split off into side-i/), scrapes and share of the rate."""
        view = copy.copy(self)
        view.run_dir = self.run_dir / f"side-{i}"
        view.endpoint, view.probe = self.endpoints[i], self.probes[i]
        view.snapshots, view.scrape_errors = self.side_snapshots[i], self.side_scrape_errors[i]
        n = len(self.endpoints)
        view.stages = [s.model_copy(update={"rate": s.rate / n}) if s.rate else s for s in self.stages]
        return view


def split_records(run_dir: Path, sides: int) -> None:
    """records-*.jsonl -> side-N/records-all.jsonl by each row's side field; the generators' status
    files go to every side (the self-check reads them)."""
    rows: list[list[str]] = [[] for _ in range(sides)]
    for path in sorted(run_dir.glob("records-*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # a line cut short by a killed process
                continue
            side = row[8] if len(row) > 8 and isinstance(row[8], int) and 0 <= row[8] < sides else 0
            rows[side].append(line)
    for i, lines in enumerate(rows):
        d = run_dir / f"side-{i}"
        d.mkdir(exist_ok=True)
        (d / "records-all.jsonl").write_text("".join(line + "\n" for line in lines))
        for status in run_dir.glob("status-*.json"):
            (d / status.name).write_bytes(status.read_bytes())


def run_interleaved(spec: LoadSpec, endpoints: list[Endpoint], bodies: list[bytes], stages: list[StagePlan],
                    out_dir: Path, progress: Callable[[LoadProgress], None] | None = None, *,
                    expected: list[ExpectedBatching | None] | None = None) -> list[list[LoadResult]]:
    """Per endpoint, one LoadResult per stage (its window), from one interleaved Locust run.

    Raises:
        ConfigError: no request body.
        PredictorError: an endpoint does not answer a TCP connect (one line, before any load).
        EnvironmentProblem: Locust itself could not run.
    """
    out_dir = prepare_bodies(bodies, out_dir, endpoints)
    started_at = time.time()
    probes = [probe_for(ep) for ep in endpoints]
    descriptions = [describe(probe) for probe in probes]
    expected = expected or [None] * len(endpoints)
    run = InterleavedRun(spec, endpoints, stages, out_dir / "run", probes, progress)
    samplers = [sampler_for(ep).start() for ep in endpoints]
    try:
        try:
            run.execute(bodies)
        finally:
            gpus = [with_metrics_fallback(s.stop(), [x.gauges for x in snaps])
                    for s, snaps in zip(samplers, run.side_snapshots)]
        split_records(run.run_dir, len(endpoints))
        out = []
        for i, ep in enumerate(endpoints):
            view = run.side_view(i)
            steps = steps_of(view, spec, gpus[i], *descriptions[i], expected[i], 0)
            out.append([LoadResult(config=spec.model_dump(mode="json"), endpoint=result_endpoint(spec, ep),
                                   started_at=started_at, finished_at=time.time(), steps=[step],
                                   verdict=judge_run([step.verdict], [step.label]),
                                   artifacts={"dir": str(view.run_dir)}) for step in steps])
    finally:
        for probe in probes:
            if probe:
                probe.close()
    return out

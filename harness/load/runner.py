"""Run a scenario's load against an Endpoint: Locust in its own processes, figures from raw records.

Flow: `run_load(spec, endpoint, bodies, out_dir)`:
  1. preflight: one TCP connect to the endpoint, its gRPC port for grpc-v2 (an unreachable one
     fails fast, one line);
  2. the management API's model description (batch size, delay, workers in effect), when the
     endpoint has a management URL (TorchServe; a ModelServer has none: nothing is described, and
     no description error is recorded);
  3. for each Locust run (one per sweep value; stages share one run): write plan.json + bodies
     (grpc-v2: each body as its serialized ModelInferRequest, harness.grpc_client),
     start Locust headless through harness.procs.ProcessGroup (one process, or a master and N
     workers: Locust's own distributed mode), scrape the server's metrics before, at each stage's
     boundaries, every `scrape_interval_s` and after, sample GPUs, report progress, and stop every
     process group by its deadline whatever happens;
  4. read the raw records, compute each step's figures, self-check, server window, verdict;
  5. write result.json and return the `LoadResult`.
Locust must not share this interpreter (it monkey-patches it), so nothing here imports it.
"""
from __future__ import annotations

import json
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import psutil

from harness.errors import ConfigError, EnvironmentProblem, PredictorError
from harness.load import figures as fig
from harness.load.gpu import sampler_for, with_metrics_fallback
from harness.load.result import GeneratorProcess, LoadResult, ModelDescription, ServerFigures, StepResult
from harness.load.server_metrics import ServerProbe, Snapshot, window
from harness.load.slo import judge_run, judge_step
from harness.load.spec import LoadSpec, StagePlan
from harness.load.tunnel_check import check_step as check_tunnel
from harness.procs import ProcessGroup
from harness.endpoint import Endpoint
from harness.waits import free_port

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_OWN = psutil.Process()  # the harness itself (a port-forward relays through it)
STARTUP_GRACE_S = 25.0  # Locust start-up (and, distributed, workers joining) beyond the plan's time


@dataclass(frozen=True)
class ExpectedBatching:
    """What the scenario asked TorchServe for; checked against the management API's answer."""

    batch_size: int | None = None
    max_batch_delay_ms: float | None = None


@dataclass(frozen=True)
class LoadProgress:
    """Handed to the `progress` callable about twice a second."""

    run: int
    runs: int
    label: str
    elapsed_s: float
    planned_s: float
    sent: int
    ok: int
    errors: int
    in_flight: int


def _grpc(endpoint: Endpoint) -> bool:
    return endpoint.protocol == "grpc-v2"


def preflight(endpoint: Endpoint, timeout_s: float = 3.0) -> None:
    """Fail fast, in one line, when nothing listens at the endpoint (its gRPC port for grpc-v2)."""
    if _grpc(endpoint) and not endpoint.grpc_target:
        raise ConfigError("the endpoint has no gRPC address for serving.protocol grpc-v2", where=endpoint.base_url,
                          hint="the target must set Endpoint.grpc_target")
    parts = urlsplit(f"grpc://{endpoint.grpc_target}" if _grpc(endpoint) else endpoint.base_url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"grpc://{endpoint.grpc_target}" if _grpc(endpoint) else endpoint.base_url
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PredictorError(f"endpoint unreachable ({reason}), no load was sent", where=where,
                             hint="is the predictor running and its port (or port-forward) up?") from exc


def _side_plan(spec: LoadSpec, endpoint: Endpoint, body_paths: list[Path]) -> dict:
    """Where the requests go and what they carry (an interleaved run's plan has one per side)."""
    return {
        "base_url": endpoint.base_url.rstrip("/"),
        "path": spec.path or endpoint.predict_path,
        "headers": endpoint.headers,
        "bodies": [str(p) for p in body_paths],
        **(_grpc_plan(endpoint) if _grpc(endpoint) else {}),
    }


def locust_plan(spec: LoadSpec, endpoint: Endpoint, stages: list[StagePlan], run_dir: Path, body_paths: list[Path]) -> dict:
    return {
        **_side_plan(spec, endpoint, body_paths),
        "mode": spec.mode,
        "stages": [{"duration_s": s.duration_s, "warmup_s": s.warmup_s, "rate": s.rate, "users": s.users,
                    "spawn_rate": s.spawn_rate} for s in stages],
        "drain_s": spec.timeout_s,
        "out_dir": str(run_dir),
        "processes": spec.workers,
        "timeout_s": spec.timeout_s,
        "max_in_flight": spec.max_in_flight,
        "wait_time_s": spec.wait_time_s,
        "protocol": endpoint.protocol,
    }


def _grpc_plan(endpoint: Endpoint) -> dict:
    """What the locustfile needs for grpc-v2: the target, channel options and the status mapping
    (harness.grpc_client decides it; the locustfile must not import the harness)."""
    from harness import grpc_client

    return {"protocol": "grpc-v2", "grpc_target": endpoint.grpc_target,
            "grpc_options": grpc_client.channel_options(endpoint), "grpc_to_http": grpc_client.GRPC_TO_HTTP,
            "grpc_transport_codes": sorted(grpc_client.TRANSPORT_CODES)}


def wire_bodies(endpoint: Endpoint, bodies: list[bytes]) -> list[bytes]:
    """The bytes each request sends: the body itself, or for grpc-v2 its serialized ModelInferRequest
    (built once here, so the generator's per-request cost is the call alone)."""
    if not _grpc(endpoint):
        return bodies
    from harness.grpc_client import model_infer_request

    out = []
    for i, body in enumerate(bodies):
        try:
            out.append(model_infer_request(body, endpoint.model_name).SerializeToString())
        except ValueError as exc:
            raise ConfigError(f"load request {i} cannot be sent over grpc-v2: {exc}", where=f"load.requests[{i}]",
                              hint="grpc-v2 requests are V2 bodies, as for protocol v2") from None
    return out


def _locust_groups(spec: LoadSpec, run_dir: Path, env: dict[str, str]) -> list[ProcessGroup]:
    common = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
              "--loglevel", "WARNING", "--stop-timeout", f"{spec.timeout_s:g}"]
    if spec.workers == 1:
        return [ProcessGroup(common, name="Locust", log_path=run_dir / "locust.log", env=env, cwd=run_dir)]
    port = free_port()
    groups = [ProcessGroup(common + ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                                     "--expect-workers", str(spec.workers), "--expect-workers-max-wait", "20"],
                           name="Locust master", log_path=run_dir / "locust-master.log", env=env, cwd=run_dir)]
    for i in range(spec.workers):
        groups.append(ProcessGroup(common + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                   name=f"Locust worker {i}", log_path=run_dir / f"locust-worker{i}.log",
                                   env=env, cwd=run_dir))
    return groups


def _read_status(run_dir: Path) -> list[dict]:
    out = []
    for p in run_dir.glob("status-*.json"):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):  # being replaced right now
            continue
    return out


def _log_tail(paths: list[Path], lines: int = 15) -> str:
    chunks = []
    for p in paths:
        try:
            tail = p.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            continue
        if tail:
            chunks.append(f"--- {p.name}\n" + "\n".join(tail))
    return "\n".join(chunks)


class LocustRun:
    """One Locust execution: its processes, scrapes, samples and deadline."""

    def __init__(self, spec: LoadSpec, endpoint: Endpoint, stages: list[StagePlan], run_dir: Path,
                 probe: ServerProbe | None, progress: Callable[[LoadProgress], None] | None,
                 index: int, count: int) -> None:
        self.spec, self.endpoint, self.stages, self.run_dir = spec, endpoint, stages, run_dir
        self.probe, self.progress, self.index, self.count = probe, progress, index, count
        self.planned_s = sum(s.warmup_s + s.duration_s for s in stages)
        self.snapshots: list[Snapshot] = []
        self.scrape_errors: list[str] = []
        self.machine_cpu: list[float] = []
        self.own_cpu: list[float] = []  # this process: it relays a port-forward's bytes (harness.load.tunnel_check)
        self.problems: list[str] = []
        self.t0: float | None = None

    def _scrape(self) -> None:
        if not self.probe or not self.probe.has_metrics:
            return
        try:
            self.snapshots.append(self.probe.scrape())
        except Exception as exc:  # a dead server must not stop the run: it is what we measure
            msg = f"{type(exc).__name__}: {exc}"[:200]
            if msg not in self.scrape_errors:
                self.scrape_errors.append(msg)

    def write_bodies(self, endpoint: Endpoint, bodies: list[bytes], prefix: str = "body") -> list[Path]:
        paths = []
        for i, b in enumerate(wire_bodies(endpoint, bodies)):
            p = self.run_dir / f"{prefix}-{i}.bin"
            p.write_bytes(b)
            paths.append(p)
        return paths

    def side_plan(self, endpoint: Endpoint, body_paths: list[Path]) -> dict:
        return _side_plan(self.spec, endpoint, body_paths)

    def plan_doc(self, bodies: list[bytes]) -> dict:
        return locust_plan(self.spec, self.endpoint, self.stages, self.run_dir, self.write_bodies(self.endpoint, bodies))

    def execute(self, bodies: list[bytes]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        plan_path = self.run_dir / "plan.json"
        plan_path.write_text(json.dumps(self.plan_doc(bodies), indent=1))
        env = {"HARNESS_LOAD_PLAN": str(plan_path), "PYTHONUNBUFFERED": "1"}
        groups = _locust_groups(self.spec, self.run_dir, env)
        self._scrape()
        psutil.cpu_percent(interval=None)
        _OWN.cpu_percent(interval=None)
        started = time.monotonic()
        deadline = started + self.planned_s + self.spec.timeout_s + STARTUP_GRACE_S + (10.0 if self.spec.workers > 1 else 0)
        try:
            for g in groups:
                g.start()
            self._watch(groups, started, deadline)
        finally:
            for g in groups:
                g.stop(grace_s=5.0)
        self._scrape()
        statuses = _read_status(self.run_dir)
        codes = [g.exited() for g in groups]
        if not statuses and not list(self.run_dir.glob("records-*.jsonl")):
            raise EnvironmentProblem(
                f"Locust did not run (exit status {codes})", where=str(self.run_dir),
                hint="see the Locust log in the run folder", details=_log_tail([g.log_path for g in groups]))

    def _watch(self, groups: list[ProcessGroup], started: float, deadline: float) -> None:
        next_scrape = time.monotonic() + self.spec.scrape_interval_s
        next_progress = 0.0
        boundaries: list[float] = []
        while True:
            now_m = time.monotonic()
            if all(g.exited() is not None for g in groups):
                return
            if now_m >= deadline:
                self.problems.append(f"Locust overran its deadline ({deadline - started:.0f} s) and was stopped")
                return
            statuses = _read_status(self.run_dir)
            if self.t0 is None:
                t0s = [s["t0"] for s in statuses if s.get("t0")]
                if t0s:
                    self.t0 = min(t0s)
                    acc = 0.0
                    for st in self.stages:  # scrape exactly at each measured window's edges
                        boundaries += [self.t0 + acc + st.warmup_s, self.t0 + acc + st.warmup_s + st.duration_s]
                        acc += st.warmup_s + st.duration_s
            if boundaries and time.time() >= boundaries[0]:
                boundaries.pop(0)
                self._scrape()
                next_scrape = time.monotonic() + self.spec.scrape_interval_s
            elif now_m >= next_scrape:
                self._scrape()
                next_scrape = now_m + self.spec.scrape_interval_s
            if now_m >= next_progress:
                self.machine_cpu.append(psutil.cpu_percent(interval=None))
                self.own_cpu.append(_OWN.cpu_percent(interval=None))
                if self.progress:
                    self.progress(LoadProgress(
                        run=self.index, runs=self.count, label=", ".join(s.label for s in self.stages),
                        elapsed_s=round(now_m - started, 2), planned_s=self.planned_s,
                        sent=sum(s.get("sent", 0) for s in statuses), ok=sum(s.get("ok", 0) for s in statuses),
                        errors=sum(s.get("errors", 0) for s in statuses),
                        in_flight=sum(s.get("in_flight", 0) for s in statuses)))
                next_progress = now_m + 0.5
            wait = 0.05 if boundaries else 0.1
            time.sleep(wait)  # the monitor's own poll period, bounded by `deadline` above


def _snapshot_at(snaps: list[Snapshot], t: float) -> Snapshot | None:
    """The scrape closest in time to t (scrapes are taken at the window edges on purpose)."""
    return min(snaps, key=lambda s: abs(s.t - t)) if snaps else None


def prepare_bodies(bodies: list[bytes], out_dir: Path, endpoints: list[Endpoint]) -> Path:
    """Before any load: bodies to send, the output folder, every endpoint reachable (one line each)."""
    if not bodies:
        raise ConfigError("no request body for the load run", where="load.requests",
                          hint="list request JSON files under load.requests")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for endpoint in endpoints:
        preflight(endpoint)
    return out_dir


def probe_for(endpoint: Endpoint) -> ServerProbe | None:
    return ServerProbe(endpoint) if (endpoint.metrics_url or endpoint.management_url) else None


def describe(probe: ServerProbe | None) -> tuple[ModelDescription | None, str | None]:
    """(the management API's model description, or why it could not be read). A ModelServer has
    metrics only: nothing to describe, and no error."""
    if not (probe and probe.has_management):
        return None, None
    try:
        return probe.describe(), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]


def run_load(load_spec: LoadSpec, endpoint: Endpoint, bodies: list[bytes], out_dir: Path,
             progress: Callable[[LoadProgress], None] | None = None, *,
             expected: ExpectedBatching | None = None, run_factory: Callable[..., "LocustRun"] | None = None) -> LoadResult:
    """Run the load a scenario describes and judge it.

    Args:
        load_spec: the scenario's `load:` section.
        endpoint: where the predictor is (management_url and metrics_url are used when set;
            a ModelServer's management_url is None: no description, no description error).
        bodies: request bodies, sent in turn (`LoadSpec.read_bodies()` reads `requests:`).
        out_dir: where plans, raw records, Locust logs and result.json go.
        progress: called with a `LoadProgress` about twice a second while Locust runs.
        expected: the batch size and delay the scenario configured; a mismatch with what the
            management API reports is a FAIL with that cause.
        run_factory: makes each Locust run (default `LocustRun`, local processes); in-cluster load
            passes harness.kube.load_pods.make_cluster_run(...).

    Returns:
        A `LoadResult`: one `StepResult` per step (plain run: 1; stages: one per stage; sweep:
        one per value, each its own Locust run), and the run's verdict (worst step).

    Raises:
        ConfigError: no request body; grpc-v2: no gRPC address, or a body that is no V2 request.
        PredictorError: nothing listens at the endpoint (one line, before any load).
        EnvironmentProblem: Locust itself could not run.
    """
    out_dir = prepare_bodies(bodies, out_dir, [endpoint])
    started_at = time.time()
    probe = probe_for(endpoint)
    description, description_error = describe(probe)
    runs = load_spec.runs()
    steps: list[StepResult] = []
    try:
        for ri, stages in enumerate(runs):
            run_dir = out_dir / (f"run{ri + 1}" if len(runs) > 1 else "run")
            # run_factory: harness.kube.load_pods.make_cluster_run for `load.generator: cluster`
            run = (run_factory or LocustRun)(load_spec, endpoint, stages, run_dir, probe, progress, ri, len(runs))
            sampler = sampler_for(endpoint).start()  # the predictor pod's GPU on a cluster, NVML locally
            try:
                run.execute(bodies)
            finally:
                gpu = with_metrics_fallback(sampler.stop(), [s.gauges for s in run.snapshots])
            steps += steps_of(run, load_spec, gpu, description, description_error, expected, len(steps))
    finally:
        if probe:
            probe.close()
    verdict = judge_run([s.verdict for s in steps], [s.label for s in steps])
    passing = [s for s in steps if s.verdict.status == "PASS"]
    best = max(passing, key=lambda s: (s.client.requested_rps or 0, s.client.users or 0)).label if passing else None
    result = LoadResult(
        config=load_spec.model_dump(mode="json"),
        endpoint=result_endpoint(load_spec, endpoint),
        started_at=started_at, finished_at=time.time(), steps=steps, verdict=verdict,
        best_passing=best if len(steps) > 1 else None,
        artifacts={"dir": str(out_dir), "result": str(out_dir / "result.json")},
    )
    (out_dir / "result.json").write_text(result.model_dump_json(indent=1))
    return result


def result_endpoint(load_spec: LoadSpec, endpoint: Endpoint) -> dict:
    """The report's `endpoint` of a load result: where the requests went and with what protocol."""
    if _grpc(endpoint):
        from harness.grpc_client import MODEL_INFER

        return {"url": f"grpc://{endpoint.grpc_target}", "model": endpoint.model_name, "protocol": endpoint.protocol,
                "path": MODEL_INFER}
    return {"url": endpoint.base_url, "model": endpoint.model_name, "protocol": endpoint.protocol,
            "path": load_spec.path or endpoint.predict_path}


def steps_of(run: LocustRun, spec: LoadSpec, gpu, description, description_error, expected: ExpectedBatching | None,
             first_index: int) -> list[StepResult]:
    """One StepResult per stage of a finished run, from its records, scrapes and samples."""
    statuses = _read_status(run.run_dir)
    t0 = run.t0 or min((s["t0"] for s in statuses if s.get("t0")), default=None)
    rec = fig.read_records(run.run_dir, t0)
    processes = [GeneratorProcess(pid=s["pid"], role=s.get("role", "?"), sent=s.get("sent", 0),
                                  cpu_percent=round(100.0 * s["cpu_seconds"] / s["wall_s"], 1) if s.get("wall_s") else 0.0)
                 for s in sorted(statuses, key=lambda s: s["pid"])]
    machine_cpu = round(sum(run.machine_cpu) / len(run.machine_cpu), 1) if run.machine_cpu else None
    death = fig.predictor_death(rec)
    all_intervals = fig.intervals(rec, spec.interval_s, spec.mode)
    steps = []
    acc = 0.0
    for si, plan in enumerate(run.stages):
        step = fig.step_records(rec, si)
        client = fig.client_figures(step, plan, spec.mode)
        errors = fig.error_groups(step)
        check = fig.self_check(step, plan, spec.mode, processes, spec.self_check, machine_cpu)
        if run.problems:
            check.reasons += run.problems
            check.valid = False
        server = None
        if run.probe:
            w_start = (rec.t0 + acc + plan.warmup_s)
            w_end = w_start + plan.duration_s
            server = ServerFigures(description=description, description_error=description_error,
                                   expected_batch_size=expected.batch_size if expected else None,
                                   expected_max_batch_delay_ms=expected.max_batch_delay_ms if expected else None,
                                   scrape_errors=run.scrape_errors)
            if run.snapshots:
                a = _snapshot_at(run.snapshots, w_start)
                b = _snapshot_at(run.snapshots, w_end)
                server.before, server.after = a.flat(), b.flat()
                server.window = window(a, b, rec.t0)
                in_win = [s for s in run.snapshots if a.t <= s.t <= b.t]
                server.series = [window(x, y, rec.t0) for x, y in zip(in_win, in_win[1:])]
                server.batch_metric_seen = any(s.batches for s in run.snapshots)
        lo, hi = acc, acc + plan.warmup_s + plan.duration_s
        step_intervals = [iv for iv in all_intervals if lo - 1e-9 <= iv.t_s < hi] if len(run.stages) > 1 else all_intervals
        step_death = death if any(g.status == fig.STATUS_TRANSPORT for g in errors) else None
        tunnel = check_tunnel(run.endpoint.info, client, server,
                              through_port_forward=getattr(run, "through_port_forward", None),
                              relay_cpu_percent=sum(run.own_cpu) / len(run.own_cpu) if run.own_cpu else None,
                              max_cpu_percent=spec.self_check.max_cpu_percent)
        if tunnel:  # the port-forward, not the server, limited it (harness.load.tunnel_check)
            check.reasons.append(tunnel)
            check.valid = False
        verdict = judge_step(client, errors, check, slo=spec.slo, death=step_death, server=server, gpu=gpu,
                             expect_gpu=spec.expect_gpu)
        steps.append(StepResult(index=first_index + si, label=plan.label, mode=spec.mode, warmup_s=plan.warmup_s,
                                duration_s=plan.duration_s, client=client, errors=errors, intervals=step_intervals,
                                generator=check, server=server, gpu=gpu, verdict=verdict))
        acc = hi
    return steps

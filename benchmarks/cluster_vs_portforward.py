"""In-cluster load beside port-forwarded load, for the same scenario in one run, on the FAKE cluster.

Flow: a GCS emulator, the fake API server, fake KServe (its kubelet runs the real TorchServe pod)
and the fake Locust kubelet (tests.fakes.locust_kubelet) start on 127.0.0.1; one `harness run
--target kubeconfig` of the scenario (default scenarios/digits.yaml with an open-loop load) deploys
once, and its load phase runs the scenario's load twice against that one InferenceService: first
`generator: local` (Locust on this machine, through the harness's port-forward), then
`generator: cluster` (Locust pods sending to the predictor Service). Both figure rows are printed
(and written to reports/benchmarks/cluster-vs-portforward-<time>.md), each with its verdict and
self-check reasons (a port-forward that limited the step says so).

    .venv/bin/python benchmarks/cluster_vs_portforward.py [--rate 50] [--duration 10] [--warmup 2] [--workers 1]

On the fake cluster "in-cluster" means the pod network stand-in (straight to the predictor pod's
local port), against the port-forward through the fake API server's websocket: the difference is
the tunnel's cost on this machine, not a real cluster's.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._side_by_side import write_table  # noqa: E402
from harness import runner as harness_runner  # noqa: E402
from harness.load.phase import run_load_phase  # noqa: E402
from harness.load.tunnel_check import server_time_ms  # noqa: E402
from harness.progress import Progress  # noqa: E402
from harness.runner import RunOptions, ScenarioRun  # noqa: E402
from harness.spec import load_scenario  # noqa: E402
from harness.storage import GcsEmulator  # noqa: E402
from tests.fakes import FakeKubeApiServer  # noqa: E402
from tests.fakes.kserve_controller import FakeKServeController  # noqa: E402
from tests.fakes.locust_kubelet import FakeLocustKubelet  # noqa: E402


def _scenario(path: Path, out: Path, args) -> Path:
    data = yaml.safe_load(path.read_text())
    for key in ("serialized_file", "model_file", "requirements_file"):
        if data["model"].get(key):
            data["model"][key] = str((path.parent / data["model"][key]).resolve())
    for check in data.get("checks", []):
        for key in ("request", "expect"):
            if check.get(key):
                check[key] = str((path.parent / check[key]).resolve())
    request = data["checks"][0]["request"]
    data["load"] = {"mode": "open", "rate": args.rate, "duration_s": args.duration, "warmup_s": args.warmup,
                    "workers": args.workers, "requests": [request], "slo": {"max_error_rate": 0.0}}
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _row(name: str, result) -> str:
    s = result.steps[0]
    c, lat = s.client, s.client.latency_ms
    reasons = "; ".join(s.generator.reasons) or "-"
    server = server_time_ms(s.server)
    return (f"| {name} | {c.requested_rps or 0:g} | {c.achieved_rps:.2f} | {c.throughput_rps:.2f} | "
            f"{lat.p50:.2f} | {lat.p95:.2f} | {lat.p99:.2f} | {c.service_ms.mean:.2f} | "
            f"{'-' if server is None else f'{server:.2f}'} | {c.errors} | {s.verdict.status} | {reasons} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "digits.yaml")
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--report-dir", type=Path, default=REPO / "reports" / "benchmarks")
    args = ap.parse_args()
    progress = Progress()
    results: dict[str, object] = {}

    def both_ways(spec, endpoint, out_dir, prog, target=None):
        for name, generator in (("port-forward (generator: local)", "local"), ("in-cluster (generator: cluster)",
                                                                               "cluster")):
            progress.say(f"== load via {name}")
            side = spec.model_copy(update={"load": spec.load.model_copy(update={"generator": generator})})
            results[name] = run_load_phase(side, endpoint, out_dir / generator, prog, target)
        return results["port-forward (generator: local)"]

    with tempfile.TemporaryDirectory(prefix="cluster-vs-pf-") as tmp:
        tmp = Path(tmp)
        with GcsEmulator(tmp) as emulator, FakeKubeApiServer() as kube, \
                FakeKServeController(kube.store, tmp / "kserve", emulator_host=emulator.host), \
                FakeLocustKubelet(kube.store, tmp / "locust-pods"):
            kubeconfig = kube.write_kubeconfig(tmp / "kubeconfig")
            options = RunOptions(target="kubeconfig", kubeconfig=str(kubeconfig), report_dir=tmp / "reports",
                                 storage_emulator_host=emulator.host, progress=progress)
            scenario = _scenario(args.scenario, tmp / args.scenario.name, args)
            harness_runner.run_load_phase = both_ways  # the run's load phase: both generators, one deployment
            try:
                report = ScenarioRun(load_scenario(scenario), options).execute()
            finally:
                harness_runner.run_load_phase = run_load_phase
    if report.error and len(results) < 2:
        print(f"run failed: {report.error.get('what')}", file=sys.stderr)
        return 1
    lines = [f"{args.scenario.name} on the fake cluster, open loop {args.rate:g} req/s for {args.duration:g} s "
             f"(+{args.warmup:g} s warm-up), {args.workers} Locust process(es)/pod(s), one InferenceService", "",
             "| load | requested req/s | achieved req/s | 2xx req/s | p50 ms | p95 ms | p99 ms | service mean ms | "
             "server ms/request | errors | verdict | self-check |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    lines += [_row(name, r) for name, r in results.items()]
    write_table(args.report_dir, "cluster-vs-portforward", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Through KServe's front or straight to TorchServe: the same server, measured side by side.

One deployment of a scenario on the local target (TorchServe plus its KServe front, as the
kserve-torchserve image runs them); then closed-loop Locust blocks alternate between the front
(what a cluster serves on port 8080) and TorchServe's own inference port, so machine drift hits
both paths alike. Prints per-path medians over the blocks (req/s, p50, p99), the front's cost,
the start-up phases (TorchServe READY, front ready) and the runtime environment's size and build
time; writes the table to <report-dir>/front-vs-direct-<time>.md.

    .venv/bin/python benchmarks/front_vs_direct.py [scenarios/digits.yaml] [--users 8] [--seconds 8] [--rounds 3]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from _side_by_side import Side, alternate_blocks, median, median_rows, write_table
from harness.errors import HarnessError
from harness.load.spec import LoadSpec
from harness.progress import Progress
from harness.runner import RunOptions, ScenarioRun
from harness.runtimes.environment import read_environment
from harness.spec import load_scenario

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", nargs="?", type=Path, default=REPO / "scenarios" / "digits.yaml")
    ap.add_argument("--users", type=int, default=8, help="closed-loop users per block")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per block")
    ap.add_argument("--rounds", type=int, default=3, help="front/direct block pairs")
    ap.add_argument("--report-dir", type=Path, default=REPO / "reports")
    args = ap.parse_args()
    try:
        spec = load_scenario(args.scenario)
    except HarnessError as exc:
        print(exc.one_line(), file=sys.stderr)
        return 2
    request = spec.checks[0].request
    spec.load = LoadSpec(mode="closed", users=args.users, duration_s=args.seconds, warmup_s=2.0, requests=[request])
    progress = Progress()
    options = RunOptions(report_dir=args.report_dir, progress=progress, run_load=False)
    run = ScenarioRun(spec, options)
    try:
        with run.deployed() as front:
            direct = dataclasses.replace(front, base_url=run.target.server.torchserve.inference_url)
            blocks = alternate_blocks({"front": Side(spec, front, run.run_dir / "load" / "front"),
                                       "direct": Side(spec, direct, run.run_dir / "load" / "direct")},
                                      args.rounds, progress)
    except HarnessError as exc:
        print(exc.one_line(), file=sys.stderr)
        return 1
    phases = {p.name: p.seconds for p in run.report.phases}
    env = read_environment(spec.torchserve.runtime_image, options.cache_dir)
    meta = json.loads((env.root / "harness-runtime.json").read_text())
    front_rps, direct_rps = median(blocks["front"], 0), median(blocks["direct"], 0)
    front_p50, direct_p50 = median(blocks["front"], 1), median(blocks["direct"], 1)
    write_table(args.report_dir, "front-vs-direct", [
        f"# Front vs direct: {spec.name} ({args.users} closed-loop users, {args.rounds} x {args.seconds:g} s "
        f"blocks per path, alternating)", "", *median_rows(blocks, "path"), "",
        f"front / direct throughput: {front_rps / direct_rps:.2f}; p50 added by the front: {front_p50 - direct_p50:+.1f} ms", "",
        f"start-up: storage-init {phases.get('storage-init', 0):.2f} s, TorchServe READY "
        f"{phases.get('torchserve-ready', 0):.2f} s, front ready {phases.get('front-ready', 0):.2f} s",
        f"runtime environment: {env.image.reference}, {env.size_bytes() / 1e9:.1f} GB, built in "
        f"{meta['build_seconds']:.0f} s ({', '.join(f'{k} {v}' for k, v in sorted(env.versions.items()))})"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""TorchServe (through KServe's front) or KServe's own Python ModelServer: the same model, side by side.

Both deployments on the local target, up for the whole run: scenarios/digits.yaml (kserve-torchserve:
KServe's front on the pod's 8080, TorchServe behind it) and scenarios/digits-kserve.yaml (the
ModelServer custom predictor on 8080), the same TorchScript file, request and checks. For each
user count, closed-loop Locust blocks alternate between the runtimes, so machine drift hits both
alike. Prints, per runtime: start-to-ready seconds (storage-initializer to ready, from the
deployment's own timings), and per user count the median req/s, p50 and p99 over the blocks;
writes the table to <report-dir>/runtimes-side-by-side-<time>.md.

    .venv/bin/python benchmarks/runtimes_side_by_side.py [--users 1 8] [--seconds 8] [--rounds 2]
"""
from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

from _side_by_side import Side, alternate_blocks, median, median_rows, write_table
from harness.errors import HarnessError
from harness.load.spec import LoadSpec
from harness.progress import Progress
from harness.runner import RunOptions, ScenarioRun
from harness.spec import load_scenario

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = {"torchserve": REPO / "scenarios" / "digits.yaml", "kserve": REPO / "scenarios" / "digits-kserve.yaml"}
# What counts as start to ready: the storage-initializer's download, then each runtime's own
# readiness (TorchServe's READY worker and the front; the ModelServer's load() and endpoints).
READY_PHASES = ("storage-init", "torchserve-ready", "front-ready", "modelserver-ready")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, nargs="+", default=[1, 8], help="closed-loop user counts")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per block")
    ap.add_argument("--rounds", type=int, default=2, help="torchserve/kserve block pairs per user count")
    ap.add_argument("--report-dir", type=Path, default=REPO / "reports")
    args = ap.parse_args()
    progress = Progress()
    lines = [f"# TorchServe (front) vs KServe ModelServer: digits, the same TorchScript file "
             f"({args.rounds} x {args.seconds:g} s closed-loop blocks per runtime and user count, alternating)", ""]
    try:
        specs = {name: load_scenario(path) for name, path in SCENARIOS.items()}
        request = specs["torchserve"].checks[0].request  # the same V1 body for both
        with ExitStack() as stack:
            runs = {n: ScenarioRun(s, RunOptions(report_dir=args.report_dir, progress=progress, run_load=False))
                    for n, s in specs.items()}
            endpoints = {n: stack.enter_context(r.deployed()) for n, r in runs.items()}
            lines += ["| runtime | start to ready (s) | of which |", "|---|---:|---|"]
            for name, run in runs.items():
                timings = {k: v for k, v in run.target.timings.items() if k in READY_PHASES}
                lines.append(f"| {name} | {sum(timings.values()):.2f} | "
                             + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()) + " |")
            lines.append("")
            for users in args.users:
                for spec in specs.values():
                    spec.load = LoadSpec(mode="closed", users=users, duration_s=args.seconds, warmup_s=2.0,
                                         requests=[request])
                sides = {n: Side(specs[n], endpoints[n], runs[n].run_dir / "load" / f"users{users}") for n in runs}
                blocks = alternate_blocks(sides, args.rounds, progress)
                lines += [f"## {users} user(s)", "", *median_rows(blocks, "runtime"), "",
                          f"kserve / torchserve throughput: {median(blocks['kserve'], 0) / median(blocks['torchserve'], 0):.2f}; "
                          f"p50 difference: {median(blocks['kserve'], 1) - median(blocks['torchserve'], 1):+.1f} ms", ""]
    except HarnessError as exc:
        print(exc.one_line(), file=sys.stderr)
        return 1
    write_table(args.report_dir, "runtimes-side-by-side", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""V2 REST or grpc-v2 through KServe's front: the same model, measured side by side.

Two deployments on the local target, both up for the whole run: the V2 scenario (the front's
REST port, forwarding to TorchServe's REST API) and the grpc-v2 one (ModelInfer on the front's
gRPC port, forwarding to TorchServe's gRPC API). Closed-loop Locust blocks with the same users,
seconds and request file alternate between them, so machine drift hits both alike. Prints the
per-protocol medians over the blocks (req/s, p50, p99) and writes the table to
<report-dir>/grpc-vs-rest-<time>.md.

    .venv/bin/python benchmarks/grpc_vs_rest.py [--users 4] [--seconds 8] [--rounds 3]
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
SCENARIOS = {"v2": REPO / "scenarios" / "digits-v2.yaml", "grpc-v2": REPO / "scenarios" / "digits-grpc.yaml"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=4, help="closed-loop users per block")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per block")
    ap.add_argument("--rounds", type=int, default=3, help="v2/grpc-v2 block pairs")
    ap.add_argument("--report-dir", type=Path, default=REPO / "reports")
    args = ap.parse_args()
    progress = Progress()
    try:
        specs = {p: load_scenario(path) for p, path in SCENARIOS.items()}
        request = specs["v2"].checks[0].request  # the same V2 body for both: grpc-v2 encodes it as ModelInfer
        for spec in specs.values():
            spec.load = LoadSpec(mode="closed", users=args.users, duration_s=args.seconds, warmup_s=2.0,
                                 requests=[request])
        with ExitStack() as stack:
            runs = {p: ScenarioRun(s, RunOptions(report_dir=args.report_dir, progress=progress, run_load=False))
                    for p, s in specs.items()}
            sides = {p: Side(specs[p], stack.enter_context(r.deployed()), r.run_dir / "load") for p, r in runs.items()}
            blocks = alternate_blocks(sides, args.rounds, progress)
    except HarnessError as exc:
        print(exc.one_line(), file=sys.stderr)
        return 1
    write_table(args.report_dir, "grpc-vs-rest", [
        f"# V2 REST vs grpc-v2 through the front: digits ({args.users} closed-loop users, {args.rounds} x "
        f"{args.seconds:g} s blocks per protocol, alternating)", "", *median_rows(blocks, "protocol"), "",
        f"grpc-v2 / v2 throughput: {median(blocks['grpc-v2'], 0) / median(blocks['v2'], 0):.2f}; "
        f"p50 difference: {median(blocks['grpc-v2'], 1) - median(blocks['v2'], 1):+.1f} ms"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

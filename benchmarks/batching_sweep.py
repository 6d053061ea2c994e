"""Batching sweep: one scenario at TorchServe batch size 1, 2, 4, 8 on the local target.

Prints throughput, latency and the batch sizes the server really formed per setting, and the
throughput gain over batch size 1; writes the table to <report-dir>/batching-sweep-<time>.md.

    .venv/bin/python benchmarks/batching_sweep.py [scenarios/batching.yaml] [--sizes 1 2 4 8] [--path front|direct]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _side_by_side import write_table
from harness.errors import HarnessError
from harness.progress import Progress
from harness.runner import RunOptions, ScenarioRun
from harness.spec import load_scenario

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", nargs="?", type=Path, default=REPO / "scenarios" / "batching.yaml")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--path", choices=("front", "direct"), default="front",
                    help="serving.path: through KServe's front (as on a cluster, default) or straight to TorchServe")
    ap.add_argument("--report-dir", type=Path, default=REPO / "reports")
    args = ap.parse_args()
    try:
        base = load_scenario(args.scenario)
    except HarnessError as exc:
        print(exc.one_line(), file=sys.stderr)
        return 2
    if base.load is None:
        print(f"error: {args.scenario} has no load: section", file=sys.stderr)
        return 2

    rows = []
    for size in args.sizes:
        spec = base.model_copy(deep=True)
        spec.name = f"{base.name}-b{size}"
        spec.torchserve.batch_size = size
        spec.serving.path = args.path
        spec.storage.uri = f"{base.storage.uri}-b{size}"
        print(f"== batch size {size}", file=sys.stderr)
        report = ScenarioRun(spec, RunOptions(report_dir=args.report_dir, progress=Progress())).execute()
        if report.error or not report.load:
            print(f"batch size {size}: {report.error['line'] if report.error else 'no load result'}", file=sys.stderr)
            return 1
        step = report.load.steps[0]
        w = step.server.window.model_dump() if step.server and step.server.window else {}
        rows.append((size, step.client.throughput_rps, step.client.latency_ms.model_dump(), w, step.verdict.status,
                     report.run_id))

    base_rps = rows[0][1] or float("nan")
    lines = [f"# Batching sweep: {base.name} through the {args.path} path ({base.load.mode} loop, "
             f"{base.load.users or base.load.rate} {'users' if base.load.mode == 'closed' else 'req/s'}, "
             f"{base.load.duration_s:g}s, delay {base.torchserve.max_batch_delay_ms} ms)", "",
             "| batch size | req/s | gain vs first | p50 ms | p95 ms | p99 ms | batches formed (size: count) | "
             "mean batch | queue ms | inference ms | verdict | run |",
             "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|"]
    for size, rps, lat, w, verdict, run_id in rows:
        hist = ", ".join(f"{k}: {v:.0f}" for k, v in sorted((w.get("batch_histogram") or {}).items(), key=lambda kv: int(kv[0])))
        lines.append(f"| {size} | {rps:.1f} | {rps / base_rps:.2f}x | {lat['p50']:.1f} | {lat['p95']:.1f} | {lat['p99']:.1f} | "
                     f"{hist} | {w.get('mean_batch_size') or 0:.2f} | {w.get('queue_latency_mean_ms') or 0:.1f} | "
                     f"{w.get('inference_latency_mean_ms') or 0:.1f} | {verdict} | {run_id} |")
    write_table(args.report_dir, "batching-sweep", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())

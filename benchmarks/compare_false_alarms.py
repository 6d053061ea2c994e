"""Benchmark (not a test): how often `harness compare` cries wolf, and whether it catches a real slowdown.

Flow, all on the embedded local target (real archive, GCS emulator, storage-initializer,
TorchServe, Locust), each run a full `harness run` (harness.runner.run_scenario):
  1. write a load scenario: scenarios/digits.yaml plus a short closed-loop `load:` section;
  2. run it 2 x --pairs times, unchanged; compare runs (1,2), (3,4), ... with the default
     thresholds: every "regression" there is a false alarm (also reported over every pair of
     those runs, not independent, for a larger count);
  3. measure the client service time p50 of those runs and plant a slowdown of --slowdown
     (default 30%) of it: benchmarks/slow_handler.py sleeps that long per request;
  4. run the slow scenario --slow-runs times and compare each against a baseline run: each
     "regression" is a catch.
Writes the run directories, every comparison (markdown) and summary.json under --out, and prints
the figures. With users = 1 the added delay is the added latency: +30% latency, -23% throughput.

    .venv/bin/python benchmarks/compare_false_alarms.py [--pairs 5] [--duration 10] [--trials 1] [--out DIR]

Numbers depend on the machine (here: 2 cores shared with other work: noisy on purpose).
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.progress import Progress  # noqa: E402
from harness.report.compare import Comparison, Thresholds, compare_runs, render_markdown  # noqa: E402
from harness.report.model import Report  # noqa: E402
from harness.runner import RunOptions, run_scenario  # noqa: E402
from harness.spec import load_scenario  # noqa: E402


def scenario_yaml(out: Path, filename: str, duration_s: float, users: int, handler: Path | None = None,
                  delay_ms: float | None = None) -> Path:
    """scenarios/digits.yaml (paths made absolute) plus a `load:` section; the slow variant swaps the handler."""
    base = ROOT / "scenarios"
    data = yaml.safe_load((base / "digits.yaml").read_text())
    data["name"] = "digits-load"  # the same name on both sides: compare pairs them as one scenario
    data["model"]["serialized_file"] = str((base / data["model"]["serialized_file"]).resolve())
    for check in data["checks"]:
        check["request"] = str((base / check["request"]).resolve())
        check["expect"] = str((base / check["expect"]).resolve())
    if handler is not None:
        delay_file = out / "planted_delay.json"
        delay_file.write_text(json.dumps({"delay_ms": delay_ms}))
        data["model"]["handler"] = str(handler)
        data["model"]["extra_files"] = [str(delay_file)]
        data["model"]["version"] = "1.0-slow"
    data["load"] = {"mode": "closed", "users": users, "duration_s": duration_s, "warmup_s": 2.0,
                    "requests": [str((ROOT / "fixtures/digits/request_v1.json").resolve())],
                    "slo": {"p95_ms": 2000, "max_error_rate": 0.01}}
    path = out / filename
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_once(scenario: Path, report_dir: Path, trials: int) -> tuple[Report, Path]:
    spec = load_scenario(scenario)
    started = time.monotonic()
    report = run_scenario(spec, RunOptions(report_dir=report_dir, trials=trials, progress=Progress(quiet=True)))
    run_dir = report_dir.resolve() / report.run_id
    lat = report.load["steps"][0]["client"] if report.load else {}
    print(f"  {report.run_id}: {'PASS' if report.passed else 'FAIL'} in {time.monotonic() - started:.0f} s; "
          f"p50 {lat.get('latency_ms', {}).get('p50', 0):.2f} ms, {lat.get('throughput_rps', 0):.1f} req/s"
          + (f" — {report.error['line']}" if report.error else ""), flush=True)
    if report.error:
        raise SystemExit(f"run failed: {report.error['line']} (report: {run_dir})")
    return report, run_dir


def _existing(folder: Path) -> list[tuple[Report, Path]]:
    from harness.report.render import load_report

    runs = [(load_report(d), d) for d in sorted(folder.iterdir()) if (d / "report.json").is_file()]
    return sorted(runs, key=lambda r: r[0].started_at)


def judge(a: tuple[Report, Path], b: tuple[Report, Path], th: Thresholds,
          pool: list[tuple[Report, Path]] = ()) -> dict:
    """Compare run b with run a (plus older baseline runs `pool`, whose trials join the baseline)."""
    rc = compare_runs(a[0], a[1], b[0], b[1], th, baseline_pool=[r for r, _ in pool])
    m = {x.metric: x for x in rc.metrics}
    return {"baseline": a[0].run_id, "current": b[0].run_id, "verdict": rc.verdict,
            "p50_change": m["p50_ms"].change, "p95_change": m["p95_ms"].change,
            "p99_change": m["p99_ms"].change, "throughput_change": m["throughput_rps"].change,
            "regressed_metrics": [x.metric for x in rc.metrics if x.verdict == "regression"],
            "markdown": render_markdown(Comparison(verdict=rc.verdict, runs=[rc], thresholds=th,
                                                   baseline=str(a[1]), current=str(b[1])))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=5, help="independent pairs of unchanged runs (default 5)")
    ap.add_argument("--slow-runs", type=int, default=3, help="runs of the slowed handler (default 3)")
    ap.add_argument("--slowdown", type=float, default=0.30, help="planted delay as a fraction of service time")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per load run (default 10)")
    ap.add_argument("--users", type=int, default=1, help="closed-loop users (default 1)")
    ap.add_argument("--trials", type=int, default=1, help="load trials per run (harness run --trials)")
    ap.add_argument("--out", type=Path, help="output folder (default: a new temporary folder)")
    ap.add_argument("--reuse", action="store_true",
                    help="run nothing: judge the run directories already under --out again (e.g. new thresholds)")
    args = ap.parse_args()
    out = (args.out or Path(tempfile.mkdtemp(prefix="compare-false-alarms-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    th = Thresholds()

    same = scenario_yaml(out, "digits-load.yaml", args.duration, args.users)
    print(f"baseline runs: {2 * args.pairs} x digits-load ({args.duration:g} s, users {args.users}, "
          f"trials {args.trials}) → {out}", flush=True)
    if args.reuse:
        base_runs = _existing(out / "runs-unchanged")
        args.pairs = len(base_runs) // 2
    else:
        base_runs = [run_once(same, out / "runs-unchanged", args.trials) for _ in range(2 * args.pairs)]

    pairs = [judge(base_runs[2 * i], base_runs[2 * i + 1], th) for i in range(args.pairs)]
    all_pairs = [judge(a, b, th) for a, b in itertools.combinations(base_runs, 2)]
    false_alarms = sum(p["verdict"] == "regression" for p in pairs)
    false_alarms_all = sum(p["verdict"] == "regression" for p in all_pairs)

    service = statistics.median(r.load["steps"][0]["client"]["service_ms"]["p50"] for r, _ in base_runs)
    delay_ms = round(args.slowdown * service, 3)
    slow = scenario_yaml(out, "digits-load-slow.yaml", args.duration, args.users,
                         handler=ROOT / "benchmarks/slow_handler.py", delay_ms=delay_ms)
    print(f"planted delay: {delay_ms:.3f} ms ({100 * args.slowdown:.0f}% of the median service time p50 "
          f"{service:.3f} ms); {args.slow_runs} slow runs", flush=True)
    if args.reuse:
        slow_runs = _existing(out / "runs-slow")
        args.slow_runs = len(slow_runs)
    else:
        slow_runs = [run_once(slow, out / "runs-slow", args.trials) for _ in range(args.slow_runs)]
    catches = [judge(base_runs[i % len(base_runs)], s, th) for i, s in enumerate(slow_runs)]
    caught = sum(c["verdict"] == "regression" for c in catches)
    # A baseline of several runs (what a nightly keeps): the first half of the unchanged runs
    # pooled, against each run of the second half (false alarms) and each slow run (catches).
    pool = base_runs[:args.pairs]
    pooled = [judge(pool[-1], cur, th, pool[:-1]) for cur in base_runs[args.pairs:]]
    pooled_catches = [judge(pool[-1], s, th, pool[:-1]) for s in slow_runs]
    pooled_fa = sum(p["verdict"] == "regression" for p in pooled)
    pooled_caught = sum(p["verdict"] == "regression" for p in pooled_catches)

    for name, items in (("unchanged", pairs), ("unchanged-all", all_pairs), ("slow", catches),
                        ("pooled-unchanged", pooled), ("pooled-slow", pooled_catches)):
        (out / f"compare-{name}.md").write_text("\n\n".join(p.pop("markdown") for p in items))
    summary = {
        "machine": base_runs[0][0].environment, "duration_s": args.duration, "users": args.users,
        "trials": args.trials, "thresholds": th.model_dump(),
        "false_alarms": false_alarms, "pairs": args.pairs,
        "false_alarms_all_pairs": false_alarms_all, "all_pairs": len(all_pairs),
        "service_p50_ms": service, "planted_delay_ms": delay_ms,
        "slow_caught": caught, "slow_runs": args.slow_runs,
        "pooled_baseline_runs": len(pool), "pooled_false_alarms": pooled_fa, "pooled_compared": len(pooled),
        "pooled_slow_caught": pooled_caught,
        "unchanged": pairs, "slow": catches, "pooled_unchanged": pooled, "pooled_slow": pooled_catches,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))

    def pct(v):
        return "—" if v is None else f"{100 * v:+.1f}%"

    for title, items in (("unchanged pairs (verdict, p50 / p95 / throughput change)", pairs),
                         ("planted slowdown vs one baseline run", catches),
                         (f"unchanged runs vs a pooled baseline of {len(pool)} runs", pooled),
                         (f"planted slowdown vs the pooled baseline of {len(pool)} runs", pooled_catches)):
        print(f"\n{title}")
        for p in items:
            print(f"  {p['verdict']:<12} p50 {pct(p['p50_change'])}  p95 {pct(p['p95_change'])}  "
                  f"req/s {pct(p['throughput_change'])}  {p['regressed_metrics'] or ''}")
    print(f"\nfalse alarms: {false_alarms}/{args.pairs} independent pairs "
          f"({false_alarms_all}/{len(all_pairs)} over every pair of the {len(base_runs)} unchanged runs)")
    print(f"planted {100 * args.slowdown:.0f}% slowdown ({delay_ms:.2f} ms): caught {caught}/{args.slow_runs}")
    print(f"pooled baseline of {len(pool)} runs: false alarms {pooled_fa}/{len(pooled)}, "
          f"slowdown caught {pooled_caught}/{len(pooled_catches)}")
    print(f"details: {out}/summary.json, {out}/compare-*.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

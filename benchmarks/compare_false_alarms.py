"""Benchmark (not a test): how often `harness compare` cries wolf, and whether it catches a real slowdown.

Flow, all on the embedded local target (real archive, GCS emulator, storage-initializer,
TorchServe, Locust), each run a full `harness run` (harness.runner.run_scenario):
  1. write a load scenario: scenarios/digits.yaml plus a short closed-loop `load:` section;
  2. run it twice unchanged, measure the client service time p50 and plant a slowdown of
     --slowdown (default 30%) of it: benchmarks/slow_handler.py sleeps that long per request;
  3. then alternate slow and unchanged runs (time-adjacent comparisons: this machine drifts as
     other work starts and stops), and finish the 2 x --pairs unchanged runs;
  4. judge with the default thresholds: disjoint pairs of consecutive unchanged runs (every
     "regression" is a false alarm; also over every pair, not independent), each slow run
     against the unchanged run before it (a "regression" is a catch), and both again against a
     pooled baseline of the --pool unchanged runs before them (what the nightly keeps).
Writes the run directories, every comparison (markdown) and summary.json under --out, and prints
the figures. With users = 1 the added delay is the added latency: +30% latency, -23% throughput.

    .venv/bin/python benchmarks/compare_false_alarms.py [--pairs 5] [--slow-runs 5] [--duration 10]
        [--trials 1] [--warmup 2] [--pool 4] [--base-ms 0] [--out DIR] [--reuse]

Numbers depend on the machine (here: 2 cores shared with other work); measured figures and how
to read them: docs/reports.md, "How often does it cry wolf?".
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
TENSOR_HANDLER = ROOT / "harness" / "runtimes" / "torchserve" / "handlers" / "tensor_handler.py"

from harness.progress import Progress  # noqa: E402
from harness.report.compare import Comparison, Thresholds, compare_runs, render_markdown  # noqa: E402
from harness.report.model import Report  # noqa: E402
from harness.runner import RunOptions, run_scenario  # noqa: E402
from harness.spec import load_scenario  # noqa: E402


def scenario_yaml(out: Path, filename: str, duration_s: float, users: int, handler: Path | None = None,
                  delay_ms: float | None = None, warmup_s: float = 2.0) -> Path:
    """scenarios/digits.yaml (paths made absolute) plus a `load:` section; the slow variant swaps the handler."""
    base = ROOT / "scenarios"
    data = yaml.safe_load((base / "digits.yaml").read_text())
    data["name"] = "digits-load"  # the same name on both sides: compare pairs them as one scenario
    data["model"]["serialized_file"] = str((base / data["model"]["serialized_file"]).resolve())
    for check in data["checks"]:
        check["request"] = str((base / check["request"]).resolve())
        check["expect"] = str((base / check["expect"]).resolve())
    if handler is not None:
        delay_file = out / f"{Path(filename).stem}-delay" / "planted_delay.json"
        delay_file.parent.mkdir(parents=True, exist_ok=True)
        delay_file.write_text(json.dumps({"delay_ms": delay_ms}))
        data["model"]["handler"] = str(handler)
        # The handler subclasses the harness's tensor handler, shipped beside it in the .mar.
        data["model"]["extra_files"] = [str(delay_file), str(TENSOR_HANDLER)]
        data["model"]["version"] = f"1.0-delay{delay_ms:g}ms"
    data["load"] = {"mode": "closed", "users": users, "duration_s": duration_s, "warmup_s": warmup_s,
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
    lat = report.load.steps[0].client.model_dump() if report.load else {}
    print(f"  {report.run_id}: {'PASS' if report.passed else 'FAIL'} in {time.monotonic() - started:.0f} s; "
          f"p50 {lat.get('latency_ms', {}).get('p50', 0):.2f} ms, {lat.get('throughput_rps', 0):.1f} req/s"
          + (f" — {report.error['line']}" if report.error else ""), flush=True)
    if report.error:
        raise SystemExit(f"run failed: {report.error['line']} (report: {run_dir})")
    return report, run_dir


def _existing(folder: Path) -> list[tuple[Report, Path]]:
    from harness.report.model import load_report

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
    ap.add_argument("--slow-runs", type=int, default=5, help="runs of the slowed handler (default 5)")
    ap.add_argument("--slowdown", type=float, default=0.30, help="planted delay as a fraction of service time")
    ap.add_argument("--base-ms", type=float, default=0.0,
                    help="a service time both versions have (the handler sleeps it): models are rarely as "
                         "fast as the ~1.5 ms digits MLP, whose latency is mostly TorchServe's own jitter")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per load run (default 10)")
    ap.add_argument("--users", type=int, default=1, help="closed-loop users (default 1)")
    ap.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds left out of each trial (default 2)")
    ap.add_argument("--trials", type=int, default=1, help="load trials per run (harness run --trials)")
    ap.add_argument("--pool", type=int, default=4, help="baseline runs pooled for the pooled comparisons")
    ap.add_argument("--out", type=Path, help="output folder (default: a new temporary folder)")
    ap.add_argument("--reuse", action="store_true",
                    help="run nothing: judge the run directories already under --out again (e.g. new thresholds)")
    args = ap.parse_args()
    out = (args.out or Path(tempfile.mkdtemp(prefix="compare-false-alarms-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    th = Thresholds()
    n_same = 2 * args.pairs

    # The schedule, in time order: two unchanged runs (to measure the service time), then slow and
    # unchanged runs alternating, then the remaining unchanged runs. Every comparison is between
    # runs close in time, so a machine that drifts (other work starting or stopping) hits both sides.
    schedule = ["same", "same"] + ["slow", "same"] * args.slow_runs
    schedule += ["same"] * (n_same - schedule.count("same"))
    slow_handler = ROOT / "benchmarks/slow_handler.py"
    same_yaml = scenario_yaml(out, "digits-load.yaml", args.duration, args.users, warmup_s=args.warmup,
                              **({"handler": slow_handler, "delay_ms": args.base_ms} if args.base_ms else {}))
    timeline: list[tuple[str, tuple[Report, Path]]] = []
    if args.reuse:
        timeline = [("same", r) for r in _existing(out / "runs-unchanged")]
        timeline += [("slow", r) for r in _existing(out / "runs-slow")]
        timeline.sort(key=lambda x: x[1][0].started_at)
        delay_ms = json.loads((out / "digits-load-slow-delay" / "planted_delay.json").read_text())["delay_ms"]
        service = (delay_ms - args.base_ms) / args.slowdown
    else:
        print(f"{len(schedule)} runs of digits-load ({args.duration:g} s, users {args.users}, trials {args.trials}): "
              f"{' '.join(schedule)} → {out}", flush=True)
        slow_yaml = None
        for kind in schedule:
            if kind == "slow" and slow_yaml is None:
                service = statistics.median(r.load.steps[0].client.service_ms.p50 for _, (r, _) in timeline)
                delay_ms = round(args.base_ms + args.slowdown * service, 3)
                slow_yaml = scenario_yaml(out, "digits-load-slow.yaml", args.duration, args.users,
                                          handler=slow_handler, delay_ms=delay_ms, warmup_s=args.warmup)
                print(f"planted delay: {delay_ms - args.base_ms:.3f} ms ({100 * args.slowdown:.0f}% of the service "
                      f"time p50 {service:.3f} ms)", flush=True)
            scenario = same_yaml if kind == "same" else slow_yaml
            timeline.append((kind, run_once(scenario, out / ("runs-unchanged" if kind == "same" else "runs-slow"),
                                            args.trials)))
    same = [r for k, r in timeline if k == "same"]
    trials = len(same[0][0].load_results())

    # false alarms: disjoint pairs of consecutive unchanged runs; catches: each slow run against the
    # unchanged run just before it; pooled: the same against the --pool unchanged runs before it.
    pairs = [judge(same[2 * i], same[2 * i + 1], th) for i in range(len(same) // 2)]
    all_pairs = [judge(a, b, th) for a, b in itertools.combinations(same, 2)]
    catches, pooled, pooled_catches = [], [], []
    for i, (kind, run) in enumerate(timeline):
        before = [r for k, r in timeline[:i] if k == "same"]
        if kind == "slow" and before:
            catches.append(judge(before[-1], run, th))
        if len(before) >= args.pool:
            pool = before[-args.pool:]
            (pooled_catches if kind == "slow" else pooled).append(judge(pool[-1], run, th, pool[:-1]))
    count = lambda items: sum(p["verdict"] == "regression" for p in items)  # noqa: E731
    # The machine's own run-to-run noise (unchanged runs): what any gate has to see through.
    noise = {}
    for metric, path in (("p50_ms", ("latency_ms", "p50")), ("throughput_rps", ("throughput_rps",))):
        vals = []
        for r, _ in same:
            for res in r.load_results():
                v = res.steps[0].client.model_dump()
                for key in path:
                    v = v[key]
                vals.append(v)
        noise[metric] = {"min": min(vals), "max": max(vals), "mean": statistics.mean(vals),
                         "cv": statistics.stdev(vals) / statistics.mean(vals)}

    for name, items in (("unchanged", pairs), ("unchanged-all", all_pairs), ("slow", catches),
                        ("pooled-unchanged", pooled), ("pooled-slow", pooled_catches)):
        (out / f"compare-{name}.md").write_text("\n\n".join(p.pop("markdown") for p in items))
    summary = {
        "machine": same[0][0].environment, "duration_s": args.duration, "users": args.users, "trials": trials,
        "warmup_s": same[0][0].load.config.get("warmup_s"),
        "thresholds": th.model_dump(), "order": [k for k, _ in timeline], "noise": noise,
        "service_p50_ms": service, "planted_delay_ms": delay_ms - args.base_ms, "base_ms": args.base_ms,
        "false_alarms": count(pairs), "pairs": len(pairs),
        "false_alarms_all_pairs": count(all_pairs), "all_pairs": len(all_pairs),
        "slow_caught": count(catches), "slow_compared": len(catches),
        "pool": args.pool, "pooled_false_alarms": count(pooled), "pooled_compared": len(pooled),
        "pooled_slow_caught": count(pooled_catches), "pooled_slow_compared": len(pooled_catches),
        "verdicts": {name: [p["verdict"] for p in items] for name, items in
                     (("unchanged", pairs), ("slow", catches), ("pooled_unchanged", pooled),
                      ("pooled_slow", pooled_catches))},
        "unchanged": pairs, "slow": catches, "pooled_unchanged": pooled, "pooled_slow": pooled_catches,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))

    def pct(v):
        return "—" if v is None else f"{100 * v:+.1f}%"

    for title, items in (("unchanged pairs (verdict, p50 / p95 / throughput change)", pairs),
                         ("planted slowdown vs the unchanged run before it", catches),
                         (f"unchanged runs vs the {args.pool} unchanged runs before them (pooled)", pooled),
                         (f"planted slowdown vs the {args.pool} unchanged runs before it (pooled)", pooled_catches)):
        print(f"\n{title}")
        for p in items:
            print(f"  {p['verdict']:<12} p50 {pct(p['p50_change'])}  p95 {pct(p['p95_change'])}  "
                  f"req/s {pct(p['throughput_change'])}  {p['regressed_metrics'] or ''}")
    print(f"\nruns: {len(timeline)} ({trials} load trial(s) of {args.duration:g} s after "
          f"{same[0][0].load.config.get('warmup_s')} s warm-up each), order {' '.join(k for k, _ in timeline)}")
    print("run-to-run noise of the unchanged runs: " + ", ".join(
        f"{m} {v['min']:.2f}..{v['max']:.2f} (CV {100 * v['cv']:.0f}%)" for m, v in noise.items()))
    print(f"false alarms: {count(pairs)}/{len(pairs)} independent pairs "
          f"({count(all_pairs)}/{len(all_pairs)} over every pair of the {len(same)} unchanged runs)")
    print(f"planted {100 * args.slowdown:.0f}% slowdown ({delay_ms - args.base_ms:.2f} ms on top of a {args.base_ms:g} ms base): caught {count(catches)}/{len(catches)}")
    print(f"pooled baseline of {args.pool} runs: false alarms {count(pooled)}/{len(pooled)}, "
          f"slowdown caught {count(pooled_catches)}/{len(pooled_catches)}")
    print(f"details: {out}/summary.json, {out}/compare-*.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

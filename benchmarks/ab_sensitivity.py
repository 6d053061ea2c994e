"""Benchmark (not a test): how small a slowdown a paired A/B run catches, and how often it cries wolf,
beside the same planted slowdowns judged by comparing separate runs (what `harness compare` does).

Flow, per model size (all on the embedded local target: real archive, GCS emulator,
storage-initializer, TorchServe, KServe's front, Locust):
  1. deploy the baseline: digits with benchmarks/planted_work_handler.py doing --base-ms of CPU
     work per forward pass ("10ms": through KServe's front, p50 about 10 ms; "1.5ms": digits alone,
     straight to TorchServe, p50 about 1.5 ms), warm it (6 s) and then measure its p50 with one
     closed-loop user (4 s): the planted slowdowns are fractions of that warm p50;
  2. deploy one copy per planted slowdown s (0 = an unchanged copy) doing s x p50 more work, whose
     result is multiplied by zero: the outputs stay the same (checked once per copy); warm every
     deployment with 6 s of load (TorchServe's JVM compiles its hot paths over the first ~1000 requests);
  3. --runs rounds; in each, for every copy (order rotated per round): one paired A/B measurement
     as harness.ab.run.ab_load runs it (--schedule interleaved, the default: one load whose requests
     alternate between the sides, 3 s unmeasured, then --pairs windows of --block-s seconds;
     alternate: a warm-up block per side, then --pairs ABBA block pairs), judged by
     harness.ab.paired with the A/B thresholds, as `harness run` judges a scenario with a candidate;
  4. separate runs, judged as `harness compare` judges them (harness.report.compare.compare_runs, its
     default thresholds): a round's baseline blocks as one run of --pairs trials (`harness run
     --trials`) against the next round's candidate blocks as another, minutes later — the same
     measured seconds per side as the paired run, without the interleaving (so --runs - 1 of them);
  5. count, per copy, how often each method says "regression" (for s = 0: a false alarm).
The deployments are kept up across rounds (a fresh deploy per paired run would triple the time), so
whatever makes one deployment of a copy a little faster or slower than another (its processes'
memory layout, what its JVM compiled) stays in every round of that copy. Every block's figures land in <out>/records.jsonl, so
`--reuse` judges them again (e.g. with other thresholds) without running anything.

    .venv/bin/python benchmarks/ab_sensitivity.py [--sizes 10ms 1.5ms] [--runs 10] [--pairs 4]
        [--block-s 2] [--slowdowns 0 0.03 0.05 0.10 0.30] [--out DIR] [--reuse]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.ab.agreement import Source, compare_outputs  # noqa: E402
from harness.ab.blocks import run_blocks, run_concurrent_blocks, run_interleaved_blocks, warm_up_blocks  # noqa: E402
from harness.ab.model import AbBlock  # noqa: E402
from harness.ab.paired import ab_thresholds, judge_blocks, overall_verdict  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.load.phase import run_load_phase  # noqa: E402
from harness.load.spec import AbSpec  # noqa: E402
from harness.load.result import LoadResult  # noqa: E402
from harness.predict import predictor_for  # noqa: E402
from harness.progress import Progress  # noqa: E402
from harness.report.compare import Thresholds, compare_runs  # noqa: E402
from harness.report.model import Report  # noqa: E402
from harness.report.trials import step_metrics  # noqa: E402
from harness.runner import RunOptions, ScenarioRun  # noqa: E402
from harness.spec import load_scenario  # noqa: E402

HANDLER = ROOT / "benchmarks" / "planted_work_handler.py"
TENSOR_HANDLER = ROOT / "harness" / "runtimes" / "torchserve" / "handlers" / "tensor_handler.py"
REQUEST = ROOT / "fixtures" / "digits" / "request_v1.json"
# size -> (CPU work of the baseline per forward pass in ms, serving path)
SIZES = {"10ms": (6.0, "front"), "1.5ms": (0.0, "direct")}


def scenario(out: Path, size: str, label: str, work_ms: float, path: str, load: dict) -> Path:
    """scenarios/digits.yaml with the planted-work handler doing `work_ms`, and the given load section."""
    base = ROOT / "scenarios"
    data = yaml.safe_load((base / "digits.yaml").read_text())
    folder = out / "scenarios" / f"{size}-{label}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "planted_work.json").write_text(json.dumps({"work_ms": work_ms}))
    data["name"] = f"digits-{size.replace('.', '_')}"  # one name for every copy: compare pairs them
    data["model"].update(serialized_file=str((base / data["model"]["serialized_file"]).resolve()),
                         handler=str(HANDLER), version=f"1.0-{label}",
                         extra_files=[str(folder / "planted_work.json"), str(TENSOR_HANDLER)])
    data["storage"]["uri"] = f"gs://harness-e2e/models/ab-sensitivity-{size.replace('.', '_')}-{label}"
    data["serving"]["path"] = path
    for check in data["checks"]:
        check["request"] = str((base / check["request"]).resolve())
        check["expect"] = str((base / check["expect"]).resolve())
    data["load"] = load
    file = folder / "scenario.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    return file


def closed_load(duration_s: float, warmup_s: float) -> dict:
    return {"mode": "closed", "users": 1, "duration_s": duration_s, "warmup_s": warmup_s,
            "requests": [str(REQUEST)]}


def label_of(s: float) -> str:
    return "unchanged" if s == 0 else f"slow{100 * s:g}pct"


def as_report(trials: list[dict], name: str, run_id: str) -> Report:
    """Load results as the report of a `harness run --trials N` that `harness compare` reads (no
    checks: only the load is judged)."""
    results = [LoadResult.model_validate(t) for t in trials]
    return Report(run_id=run_id, scenario={"name": name}, target={"name": "local"}, passed=True,
                  started_at=dt.datetime.now(dt.timezone.utc).isoformat(), load=results[0], trials=len(results),
                  load_trials=results)


def record(out: Path, row: dict) -> None:
    with (out / "records.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")


def measure(args, out: Path) -> None:
    quiet = Progress(quiet=True)
    for size in args.sizes:
        base_ms, path = SIZES[size]
        block = closed_load(args.block_s, args.warmup_s)
        with ExitStack() as stack:
            def deploy(label: str, work_ms: float):
                spec = load_scenario(scenario(out, size, label, work_ms, path, block))
                run = ScenarioRun(spec, RunOptions(report_dir=out / "deployments", progress=quiet, run_load=False))
                endpoint = stack.enter_context(run.deployed())
                print(f"[{size}] deployed {label} (work {work_ms:.3f} ms/forward) at {endpoint.base_url}", flush=True)
                return spec, endpoint

            def warm(spec, endpoint, label: str) -> float:
                """6 s of load before any block (TorchServe's JVM is still compiling its hot paths for
                the first thousand requests, and every copy must start measured equally warm), then
                the warm p50 of 4 s more."""
                for name, seconds in (("warm-up", 6.0), ("warm-p50", 4.0)):
                    long = spec.model_copy(update={"load": spec.load.model_copy(update={"duration_s": seconds})})
                    p50 = run_load_phase(long, endpoint, out / name / size / label, quiet).steps[0].client.latency_ms.p50
                return p50

            base_spec, base_ep = deploy("baseline", base_ms)
            p50 = warm(base_spec, base_ep, "baseline")
            print(f"[{size}] baseline warm p50 {p50:.3f} ms (4 s after 6 s of warm-up, 1 user)", flush=True)
            record(out, {"kind": "calibration", "size": size, "p50_ms": p50, "base_ms": base_ms, "path": path})
            copies = {}
            for s in args.slowdowns:
                spec, ep = deploy(label_of(s), base_ms + s * p50)
                with predictor_for(base_ep) as a, predictor_for(ep) as b:
                    agree = compare_outputs([Source("check", "check", REQUEST.read_bytes(), "", 1e-4, 0.0)], a, b)
                record(out, {"kind": "copy", "size": size, "slowdown": s, "planted_ms": s * p50,
                             "outputs": agree.outputs, "agree": agree.agree, "max_abs_diff": agree.max_abs_diff,
                             "warm_p50_ms": warm(spec, ep, label_of(s))})
                copies[s] = (spec, ep)
            order = list(copies)
            for r in range(1, args.runs + 1):
                for s in order[r % len(order):] + order[:r % len(order)]:  # rotated: no copy always first
                    spec, ep = copies[s]
                    t0 = time.monotonic()
                    sides = {"baseline": (base_spec, base_ep), "candidate": (spec, ep)}
                    where = out / "blocks" / size / label_of(s) / f"run{r:02d}"
                    # As harness.ab.run.ab_load: unmeasured warm-up first (the copy sat idle while the
                    # others ran), then the pairs.
                    warm_s = AbSpec().warmup_block_s
                    if args.schedule == "interleaved":
                        blocks = run_interleaved_blocks(sides, args.pairs, where, quiet, warm_s)
                    else:
                        warm = base_spec.load.model_copy(update={"duration_s": warm_s, "warmup_s": 0.0})
                        warm_up_blocks({k: (sp.model_copy(update={"load": warm}), e) for k, (sp, e) in sides.items()},
                                       where, quiet)
                        schedule = run_concurrent_blocks if args.schedule == "concurrent" else run_blocks
                        blocks = schedule(sides, args.pairs, where, quiet)
                    for b in blocks:
                        record(out, {"kind": "block", "size": size, "slowdown": s, "run": r, "side": b.side,
                                     "pair": b.pair, "order": b.order, "status": b.result.verdict.status,
                                     "t": b.result.started_at,
                                     "metrics": step_metrics(b.result.steps[0]),
                                     "result": b.result.model_dump(mode="json")})
                    print(f"[{size}] run {r}/{args.runs} {label_of(s)}: {time.monotonic() - t0:.0f} s", flush=True)


def judge(out: Path, ab_overrides: dict) -> dict:
    rows = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    thresholds, th = ab_thresholds(ab_overrides), Thresholds()
    table: dict = {}
    for size in dict.fromkeys(r["size"] for r in rows if r["kind"] == "calibration"):
        calib = next(r for r in rows if r["kind"] == "calibration" and r["size"] == size)
        for copy in (r for r in rows if r["kind"] == "copy" and r["size"] == size):
            s = copy["slowdown"]
            mine = [r for r in rows if r.get("size") == size and r.get("slowdown") == s]
            paired, separate, p50_changes = [], [], []
            for run in sorted({r["run"] for r in mine if r["kind"] == "block"}):
                blocks = [AbBlock(side=b["side"], pair=b["pair"], order=b["order"], status=b["status"],
                                  metrics=b["metrics"]) for b in mine if b["kind"] == "block" and b["run"] == run]
                metrics, _ = judge_blocks(blocks, thresholds)
                pairs = max((m.pairs for m in metrics), default=0)
                paired.append(overall_verdict(True, metrics, pairs, measured=True))
                p50_changes.append(next(m.mean for m in metrics if m.metric == "p50_ms"))
                # Separate runs: this round's baseline blocks against the next round's candidate blocks
                # (minutes later), each side's blocks as the trials of one run (`harness run --trials`).
                later = [b for b in mine if b["kind"] == "block" and b["run"] == run + 1 and b["side"] == "candidate"]
                if later:
                    name = f"digits-{size}"
                    base = [b["result"] for b in mine if b["kind"] == "block" and b["run"] == run
                            and b["side"] == "baseline"]
                    rc = compare_runs(as_report(base, name, f"baseline-run{run}"), out,
                                      as_report([b["result"] for b in later], name, f"candidate-run{run + 1}"), out, th)
                    separate.append(rc.verdict)
            table.setdefault(size, {})[s] = {
                "baseline_p50_ms": calib["p50_ms"], "planted_ms": copy["planted_ms"],
                "outputs_agree": f"{copy['agree']}/{copy['outputs']}",
                "paired": paired, "separate": separate,
                "paired_p50_change_median": statistics.median(p50_changes) if p50_changes else None}
    return table


def show(table: dict, out: Path) -> None:
    lines = ["| model (baseline p50) | planted slowdown | paired A/B: called regression | separate runs + "
             "`harness compare`: called regression | paired p50 change (median) | outputs agree |",
             "|---|---:|---:|---:|---:|---|"]
    for size, rows in table.items():
        for s, row in rows.items():
            n_p, n_s = len(row["paired"]), len(row["separate"])
            caught_p, caught_s = row["paired"].count("regression"), row["separate"].count("regression")
            what = "false alarm" if s == 0 else "caught"
            change = row["paired_p50_change_median"]
            planted = "unchanged" if s == 0 else f"{100 * s:g}% (+{row['planted_ms']:.2f} ms)"
            lines.append(f"| {size} ({row['baseline_p50_ms']:.2f} ms) | {planted} | "
                         f"{caught_p}/{n_p} {what} | {caught_s}/{n_s} {what} | "
                         f"{'—' if change is None else f'{100 * change:+.1f}%'} | {row['outputs_agree']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    (out / "table.md").write_text(text)
    (out / "summary.json").write_text(json.dumps(table, indent=1))
    print(f"written: {out}/table.md, {out}/summary.json, {out}/records.jsonl", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--runs", type=int, default=10, help="paired runs (and separate-run pairs) per copy")
    ap.add_argument("--pairs", type=int, default=4, help="block pairs (interleaved: windows) per paired run (default 4)")
    ap.add_argument("--block-s", type=float, default=2.0, help="measured seconds per block (default 2)")
    ap.add_argument("--warmup-s", type=float, default=0.5, help="seconds left out at each block's start")
    ap.add_argument("--schedule", choices=["interleaved", "alternate", "concurrent"], default="interleaved",
                    help="load.ab.schedule of the paired runs (default interleaved, as load.ab's)")
    ap.add_argument("--slowdowns", type=float, nargs="+", default=[0.0, 0.03, 0.05, 0.10, 0.30])
    ap.add_argument("--threshold", action="append", default=[], metavar="METRIC=VALUE",
                    help="an A/B threshold override (as load.ab.thresholds), for --reuse")
    ap.add_argument("--out", type=Path, help="output folder (default: a new temporary folder)")
    ap.add_argument("--reuse", action="store_true", help="run nothing: judge <out>/records.jsonl again")
    args = ap.parse_args()
    if any(s < 0 for s in args.slowdowns) or args.runs < 1 or args.pairs < 2:
        ap.error("slowdowns must be >= 0, --runs >= 1 and --pairs >= 2")
    out = (args.out or Path(tempfile.mkdtemp(prefix="ab-sensitivity-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    overrides = {}
    for item in args.threshold:
        name, _, value = item.partition("=")
        overrides[name] = None if value.lower() in ("none", "null") else float(value)
    try:
        if not args.reuse:
            print(f"out: {out}", flush=True)
            measure(args, out)
        show(judge(out, overrides), out)
    except HarnessError as exc:
        print(exc.one_line(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

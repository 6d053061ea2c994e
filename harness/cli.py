"""The `harness` command.

  harness run SCENARIO [--target local|kind|gke|kubeconfig] [--report-dir DIR]   exit 0 / 1 / 2
  harness lint SCENARIO                                                            exit 0 / 2
  harness render SCENARIO                                                          InferenceService YAML
  harness report RUN_DIR                    re-render summary.md, report.html, junit.xml   exit 0 / 2
  harness compare BASELINE CURRENT [--thresholds FILE] [--markdown OUT] [--html OUT]       exit 0 / 1 / 2

Exit codes: 0 every check passed; 1 the model did not serve correctly (a check or SLO failed, or
it never became ready); 2 a config, lint or environment error; 130 interrupted. User mistakes
print one line (what, where, what to do), never a traceback.
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from harness.errors import EXIT_OK, EXIT_USAGE, ConfigError, HarnessError
from harness.progress import Progress

TARGETS = ("local", "kind", "gke", "kubeconfig")


def _add_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", choices=TARGETS, default="local", help="where to deploy (default: local)")
    p.add_argument("--kubeconfig", help="kubeconfig file for kind/gke/kubeconfig targets")
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("--keep-on-fail", action="store_true", help="keep the namespace of a failed run for debugging")
    p.add_argument("--keep-cluster", action="store_true", help="kind: keep a cluster this run created")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="KServe end-to-end test and benchmark harness")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario end to end and write a report")
    run.add_argument("scenario", type=Path)
    _add_target_args(run)
    run.add_argument("--report-dir", type=Path, default=Path("reports"), help="where run directories go")
    run.add_argument("--real-gcs", action="store_true", help="upload to real GCS (default: a local GCS emulator)")
    run.add_argument("--storage-emulator-host", metavar="URL",
                     help="upload to this running GCS emulator instead of starting one (kind: http://127.0.0.1:9023)")
    run.add_argument("--cache-dir", type=Path, help="archive cache (default: ~/.cache/kserve-harness)")
    run.add_argument("--no-load", action="store_true", help="skip the scenario's load phase")
    run.add_argument("--trials", type=_positive_int, default=1,
                     help="repeat the load phase N times, keeping every trial (compare uses their spread)")
    run.add_argument("--workers", type=_positive_int, default=None,
                     help="Locust worker processes for the load phase (master/worker mode; overrides load.workers)")
    run.add_argument("--quiet", action="store_true", help="no progress lines")

    lint = sub.add_parser("lint", help="check a scenario for mistakes without deploying")
    lint.add_argument("scenario", type=Path)

    render = sub.add_parser("render", help="print the scenario's InferenceService manifest as YAML")
    render.add_argument("scenario", type=Path)

    report = sub.add_parser("report", help="re-render summary.md, report.html and junit.xml from report.json")
    report.add_argument("run_dir", type=Path, help="a run directory (reports/<run-id>) or its report.json")

    cmp = sub.add_parser("compare", help="compare two runs: exit 1 on a regression or a change in outputs")
    cmp.add_argument("baseline", type=Path, help="run directory, report.json, or a folder of run directories")
    cmp.add_argument("current", type=Path, help="run directory, report.json, or a folder of run directories")
    cmp.add_argument("--thresholds", type=Path, help="YAML file of per-metric thresholds (docs/reports.md)")
    cmp.add_argument("--threshold", action="append", default=[], metavar="METRIC=VALUE",
                     help="override one threshold, e.g. p95_ms=0.2 or server_queue_ms=none (repeatable)")
    cmp.add_argument("--markdown", type=Path, help="write the comparison as markdown here (default: stdout)")
    cmp.add_argument("--html", type=Path, help="write the comparison as a self-contained HTML page here")
    cmp.add_argument("--json", type=Path, help="write the comparison as JSON here")
    cmp.add_argument("--fail-on-unstable", action="store_true", help="exit 1 on an unstable verdict too")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.runner import RunOptions, run_scenario
    from harness.spec import load_scenario

    spec = load_scenario(args.scenario)
    if args.workers is not None:
        if spec.load is None:
            raise ConfigError("--workers given but the scenario has no load: section", where=str(args.scenario))
        spec.load.workers = args.workers
    options = RunOptions(target=args.target, report_dir=args.report_dir, real_gcs=args.real_gcs,
                         storage_emulator_host=args.storage_emulator_host,
                         kubeconfig=args.kubeconfig, context=args.context, keep_on_fail=args.keep_on_fail,
                         keep_cluster=args.keep_cluster,
                         run_load=not args.no_load, trials=args.trials, progress=Progress(quiet=args.quiet))
    if args.cache_dir:
        options.cache_dir = args.cache_dir
    report = run_scenario(spec, options)
    run_dir = args.report_dir / report.run_id
    if report.error:
        print(report.error["line"], file=sys.stderr)
    verdict = "PASS" if report.passed else "FAIL"
    print(f"{verdict} {spec.name}: report {run_dir / 'report.json'}")
    return report.exit_code if report.exit_code is not None else EXIT_USAGE


def _cmd_lint(args: argparse.Namespace) -> int:
    from harness.lints import lint
    from harness.spec import load_scenario

    spec = load_scenario(args.scenario)
    findings = lint(spec)
    for f in findings:
        print(f.one_line())
    if findings:
        return EXIT_USAGE
    print(f"ok: {args.scenario} has no lint findings")
    return EXIT_OK


def _cmd_render(args: argparse.Namespace) -> int:
    from harness.spec import load_scenario
    from harness.targets.kubernetes import render_manifest_yaml

    print(render_manifest_yaml(load_scenario(args.scenario)), end="")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.report.render import rerender

    for path in rerender(args.run_dir):
        print(f"wrote {path}")
    return EXIT_OK


def _cmd_compare(args: argparse.Namespace) -> int:
    from harness.report.compare import compare_paths, load_thresholds, render_compare_html, render_markdown

    thresholds = load_thresholds(args.thresholds, args.threshold)
    comp = compare_paths(args.baseline, args.current, thresholds)
    text = render_markdown(comp)
    outputs = [(args.markdown, text), (args.html, args.html and render_compare_html(comp)),
               (args.json, args.json and comp.model_dump_json(indent=1))]
    for path, content in outputs:
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    if not args.markdown:
        print(text, end="")
    regressions = [r for r in comp.runs if r.verdict == "regression"]
    print(f"{comp.verdict.upper()}: {len(comp.runs)} run(s) compared"
          + (f", regression in {', '.join(r.scenario for r in regressions)}" if regressions else ""), file=sys.stderr)
    return comp.exit_code(args.fail_on_unstable)


COMMANDS = {"run": _cmd_run, "lint": _cmd_lint, "render": _cmd_render, "report": _cmd_report,
            "compare": _cmd_compare}


def _sigterm_as_interrupt(signum, frame):  # CI cancels with SIGTERM: clean up as for Ctrl-C
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        return COMMANDS[args.command](args)
    except HarnessError as exc:
        print(exc.one_line(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

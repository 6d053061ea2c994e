"""The `harness` command.

  harness run SCENARIO [--target local|kind|gke|kubeconfig] [--report-dir DIR]   exit 0 / 1 / 2
  harness lint SCENARIO                                                            exit 0 / 2
  harness render SCENARIO                                                          InferenceService YAML
  harness report RUN_DIR                    re-render summary.md, report.html, junit.xml   exit 0 / 2
  harness runtime build|info [--image TAG]  the runtime image's Python environment (built once)
  harness compare BASELINE CURRENT [--thresholds FILE] [--markdown OUT] [--html OUT]       exit 0 / 1 / 2

Exit codes: 0 every check passed; 1 the model did not serve correctly (a check or SLO failed, or
it never became ready); 2 a config, lint or environment error (input, machine, report directory);
3 the checks passed but a load measurement is INVALID (it cannot be trusted); 4 an internal error
of the harness (a bug; traceback in diagnostics/traceback.txt); 130 interrupted. Every exit but 0
leaves report.json and junit.xml saying why, when a report directory can be written. User
mistakes print one line (what, where, what to do), never a traceback.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from harness.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, ConfigError, HarnessError, InternalError
from harness.lints import lint
from harness.progress import Progress
from harness.report.compare import compare_paths, load_thresholds, render_compare_html, render_markdown
from harness.report.writer import rerender
from harness.runner import RunOptions, run_scenario
from harness.runtimes.environment import default_cache_dir, env_dir, read_environment, runtime_environment
from harness.runtimes.registry import render_manifest_yaml
from harness.runtimes.kserve.image import DEFAULT_IMAGE as DEFAULT_MODELSERVER_IMAGE
from harness.runtimes.kserve.image import IMAGES as MODELSERVER_IMAGES
from harness.runtimes.torchserve.image import DEFAULT_IMAGE, IMAGES
from harness.spec import RUNTIME_NAMES, load_scenario
from harness.targets.registry import LOCAL, TARGET_NAMES


def _add_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", choices=TARGET_NAMES, default=LOCAL, help="where to deploy (default: local)")
    p.add_argument("--kubeconfig", help="kubeconfig file for kind/gke/kubeconfig targets")
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("--keep-on-fail", action="store_true", help="keep the namespace of a failed run for debugging")
    p.add_argument("--keep-cluster", action="store_true", help="kind: keep a cluster this run created")


def _add_runtime_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runtime", choices=RUNTIME_NAMES, default=None,
                   help="serve on this runtime instead of the scenario's (a section of the other runtime is "
                        "then an error)")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (what, and where to read more), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"usage error: {self.prog}: {message} — see `{self.prog} --help`", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description="KServe end-to-end test and benchmark harness")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a scenario end to end and write a report")
    run.add_argument("scenario", type=Path)
    _add_runtime_arg(run)
    _add_target_args(run)
    run.add_argument("--report-dir", type=Path, default=Path("reports"), help="where run directories go")
    run.add_argument("--real-gcs", action="store_true",
                     help="upload to real GCS (default: local: a private GCS emulator; kind: its in-cluster "
                          "emulator; gke/kubeconfig: real GCS)")
    run.add_argument("--storage-emulator-host", metavar="URL",
                     help="upload to this running GCS emulator, one the target's storage-initializer can "
                          "read (a 127.0.0.1 one only for a cluster on this machine)")
    run.add_argument("--cache-dir", type=Path, help="archive cache (default: ~/.cache/kserve-harness)")
    run.add_argument("--no-load", action="store_true", help="skip the scenario's load phase")
    run.add_argument("--trials", type=_positive_int, default=1,
                     help="repeat the load phase N times, keeping every trial (compare uses their spread)")
    run.add_argument("--workers", type=_positive_int, default=None,
                     help="Locust worker processes for the load phase (master/worker mode; overrides load.workers)")
    run.add_argument("--quiet", action="store_true", help="no progress lines")

    lint = sub.add_parser("lint", help="check a scenario for mistakes without deploying")
    lint.add_argument("scenario", type=Path)
    _add_runtime_arg(lint)

    render = sub.add_parser("render", help="print the scenario's InferenceService manifest as YAML")
    render.add_argument("scenario", type=Path)
    _add_runtime_arg(render)

    report = sub.add_parser("report", help="re-render summary.md, report.html and junit.xml from report.json")
    report.add_argument("run_dir", type=Path, help="a run directory (reports/<run-id>) or its report.json")

    rt = sub.add_parser("runtime", help="build or show the runtime image's Python environment (done once, cached)")
    rt.add_argument("action", choices=("build", "info"), help="build: create it if missing; info: show it")
    rt.add_argument("--runtime", choices=RUNTIME_NAMES, default="torchserve",
                    help="whose image: torchserve (kserve-torchserve) or kserve (the ModelServer image)")
    rt.add_argument("--image", default=None, help="image tag (default: that runtime's default)")
    rt.add_argument("--cache-dir", type=Path, help="where runtime environments live (default: ~/.cache/kserve-harness)")

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

    spec = load_scenario(args.scenario, runtime=args.runtime)
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

    spec = load_scenario(args.scenario, runtime=args.runtime)
    findings = lint(spec)
    for f in findings:
        print(f.one_line())
    if any(f.severity == "error" for f in findings):
        return EXIT_USAGE
    print(f"ok: {args.scenario} has no lint errors" + (f" ({len(findings)} warning(s))" if findings else ""))
    return EXIT_OK


def _cmd_render(args: argparse.Namespace) -> int:

    print(render_manifest_yaml(load_scenario(args.scenario, runtime=args.runtime)), end="")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:

    for path in rerender(args.run_dir):
        print(f"wrote {path}")
    return EXIT_OK


def _cmd_compare(args: argparse.Namespace) -> int:

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


def _cmd_runtime(args: argparse.Namespace) -> int:

    images, default = ((MODELSERVER_IMAGES, DEFAULT_MODELSERVER_IMAGE) if args.runtime == "kserve"
                       else (IMAGES, DEFAULT_IMAGE))
    tag = args.image or default
    if tag not in images:
        raise ConfigError(f"unknown {args.runtime} runtime image {tag!r}", where="--image",
                          hint=f"one of {', '.join(sorted(images))}")
    image = images[tag]
    cache = args.cache_dir or default_cache_dir()
    if args.action == "build":
        env = runtime_environment(image, cache, Progress())
    elif (env := read_environment(image, cache)) is None:
        print(f"{image.reference}: not built yet ({env_dir(image, cache)}); run: harness runtime build "
              f"--runtime {args.runtime} --image {tag}")
        return EXIT_USAGE
    print(f"{env.image.reference}: {env.root}")
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(env.versions.items())))
    return EXIT_OK


COMMANDS = {"run": _cmd_run, "lint": _cmd_lint, "render": _cmd_render, "report": _cmd_report,
            "runtime": _cmd_runtime, "compare": _cmd_compare}


def _sigterm_as_interrupt(signum, frame):  # CI cancels with SIGTERM: clean up as for Ctrl-C
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error, already printed as one line (2)
        return int(exc.code or 0)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        return COMMANDS[args.command](args)
    except HarnessError as exc:
        print(exc.one_line(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug outside a run (a run reports its own): one line, never a traceback
        error = InternalError.from_exception(exc)
        print(error.one_line(), file=sys.stderr)
        if os.environ.get("HARNESS_TRACEBACK"):
            print(error.details, file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())

"""One scenario, start to finish: lint -> target -> archive -> upload -> deploy -> warm-up -> checks -> load.

Flow: `run_scenario(spec, options)` returns a `Report` and always writes it (report.json,
summary.md, diagnostics/) — on success, on a failed check, on a deploy failure and on Ctrl-C.
The target is entered first (a cluster reached or created, KServe checked) and says where the
model must be uploaded for its storage-initializer to read it; only then is anything built.
Everything started is entered on one ExitStack, so it is stopped in reverse order whatever
happens; diagnostics are collected *before* the target is torn down. A scenario with a
`candidate:` (an A/B run, harness.ab) deploys the candidate too after the warm-up; its load phase
is then the ABBA blocks between both, followed by the outputs side by side and the paired verdict.
"""
from __future__ import annotations

import datetime as dt
import secrets
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from harness.ab.run import ab_load, ab_result, deploy_candidate
from harness.rollout.run import check_rollout_target, rollout_phase
from harness.errors import (
    EXIT_OK, DeployError, HarnessError, InternalError, Interrupted, InvalidMeasurement, ModelFailed, Verdict,
)
from harness.checks import run_checks
from harness.endpoint import Endpoint
from harness.kube.cold_start import uploaded_sizes, with_first_answer
from harness.lints import lint
from harness.load.phase import run_load_phase
from harness.predict import Predictor, predictor_for
from harness.progress import Progress
from harness.reaper import sweep_leftovers
from harness.report.environment import fingerprint
from harness.report.model import CheckResult, Phase, Report
from harness.report.trials import latency_histograms, trial_passed, trial_status
from harness.report.writer import check_writable, write_report
from harness.runtimes.registry import runtime_for
from harness.runtimes.environment import default_cache_dir
from harness.spec import ScenarioSpec
from harness.targets.base import Target
from harness.targets.registry import make_target
from harness.targets.settings import TargetSettings


@dataclass
class RunOptions:
    target: str = "local"
    report_dir: Path = Path("reports")
    real_gcs: bool = False
    # An emulator that is already running and that the predictor can reach too; None: the
    # target's own choice (local: a private one; kind: its in-cluster one; gke/kubeconfig: real GCS).
    storage_emulator_host: str | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    kubeconfig: str | None = None
    context: str | None = None
    keep_on_fail: bool = False
    keep_cluster: bool = False
    run_load: bool = True
    trials: int = 1  # load phase repeats (harness run --trials N); every trial is kept in the report
    progress: Progress = field(default_factory=Progress)


def new_run_id(name: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{name}-{stamp}-{secrets.token_hex(2)}"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class ScenarioRun:
    def __init__(self, spec: ScenarioSpec, options: RunOptions) -> None:
        self.spec = spec
        self.options = options
        self.progress = options.progress
        self.run_id = new_run_id(spec.name)
        # Absolute: TorchServe and the storage-initializer run in other working directories.
        self.run_dir = options.report_dir.resolve() / self.run_id
        self.diag_dir = self.run_dir / "diagnostics"
        self.report = Report(
            run_id=self.run_id, started_at=_now(), target={"name": options.target},
            scenario={"name": spec.name, "file": str(spec.source) if spec.source else None,
                      "sha256": spec.file_hash(), "description": spec.description},
        )
        self.runtime = runtime_for(spec)
        self.report.runtime = self.runtime.info(spec, None)  # the image, even when nothing deploys
        self.endpoint: Endpoint | None = None
        self.target: Target | None = None
        self.candidate: Endpoint | None = None  # an A/B run's second deployment

    @contextmanager
    def _phase(self, name: str, doing: str) -> Iterator[Phase]:
        phase = Phase(name=name, seconds=0.0)
        start = time.monotonic()
        try:
            with self.progress.phase(name, doing):
                yield phase
        except BaseException:
            phase.status = "failed"
            raise
        finally:
            phase.seconds = round(time.monotonic() - start, 3)
            self.report.phases.append(phase)

    # -- phases -------------------------------------------------------------------------------------
    def _lint(self) -> None:
        findings = lint(self.spec)  # ignore_lints already applied; an A/B candidate's included
        warnings = [f for f in findings if f.severity == "warning"]
        self.report.lint_warnings = [w.to_dict() for w in warnings]
        for w in warnings:  # shown, and the run goes on
            self.progress.say(f"  {w.one_line()}")
        findings = [f for f in findings if f.severity == "error"]
        if findings:
            first = findings[0]
            if len(findings) > 1:
                first.details = "\n".join(f.one_line() for f in findings)
                first.what += f" (and {len(findings) - 1} more lint finding(s), see details)"
            raise first

    def _enter_target(self, stack: ExitStack) -> Target:
        settings = TargetSettings(
            run_id=self.run_id, work_dir=self.run_dir / "work", diagnostics_dir=self.diag_dir,
            cache_dir=self.options.cache_dir, progress=self.progress, real_gcs=self.options.real_gcs,
            storage_emulator_host=self.options.storage_emulator_host, kubeconfig=self.options.kubeconfig,
            context=self.options.context, keep_on_fail=self.options.keep_on_fail,
            keep_cluster=self.options.keep_cluster)
        if self.options.run_load:  # load.generator: cluster on a target that cannot run it: before any work
            from harness.kube.load_pods import check_scenario

            check_scenario(self.spec, self.options.target)
        target = self.target = make_target(self.options.target, settings)
        with self._phase("target", f"reaching the {target.name} target"):
            stack.enter_context(target)
        stack.callback(self._collect_diagnostics, target)  # runs before the target's teardown
        return target

    def _archive_and_upload(self, target: Target) -> None:
        with self._phase("archive", f"building the {self.runtime.name} model files") as ph:
            files = self.runtime.model_files(self.spec, self.options.cache_dir)
            ph.detail = "reused (inputs unchanged)" if files.reused else "built"
            self.report.archive = files.archive
        self.diag_dir.mkdir(parents=True, exist_ok=True)
        for name, text in files.diagnostics.items():
            (self.diag_dir / name).write_text(text)
        uri = self.spec.storage.uri
        with self._phase("upload", f"uploading the KServe layout to {uri}") as ph:
            site = target.storage()
            objects = site.store.upload(uri, files.objects)
            ph.detail = ", ".join(o.name for o in objects)
            self.report.storage = {"uri": uri, "backend": site.backend, "emulator_host": site.emulator_host,
                                   "objects": [vars(o) for o in objects]}

    def _deploy(self, target: Target) -> None:
        started = time.time()  # the local target's cold-start origin (a cluster's is its InferenceService)
        with self._phase("deploy", f"deploying on the {target.name} target") as ph:
            self.endpoint = target.deploy(self.spec, self.spec.storage.uri)
            ph.detail = self.endpoint.base_url
        # Split the target's own sub-phases out (storage-init, TorchServe ready) for the report.
        deploy = self.report.phases.pop()
        sub = target.timings
        for name, seconds in sub.items():
            self.report.phases.append(Phase(name=name, seconds=round(seconds, 3)))
        rest = deploy.seconds - sum(sub.values())
        if not sub or rest > 0.5:  # only when the target spent real time outside its sub-phases
            self.report.phases.append(Phase(name="deploy" if not sub else "deploy-other", seconds=round(rest, 3),
                                            detail=deploy.detail))
        # The deploy phase by phase: a cluster target reads its pod, events and logs, the local one its stages.
        self.report.cold_start = target.cold_start(
            uploaded_sizes(self.spec.storage.uri, self.report.storage.get("objects") or []), started)
        self.report.endpoint = {"base_url": self.endpoint.base_url, "model_name": self.endpoint.model_name,
                                "protocol": self.endpoint.protocol, "host_header": self.endpoint.host_header,
                                "grpc_target": self.endpoint.grpc_target,
                                **self.endpoint.info}
        self.report.runtime = rt = self.runtime.info(self.spec, self.endpoint.info)
        self.progress.say(f"  runtime {rt.image} on the {rt.serving_path} path"
                          + (f"; differs from the image: {'; '.join(rt.differences)}" if rt.differences else ""))

    def _warm_up(self, predictor: Predictor) -> None:
        first = next((c for c in self.spec.checks if c.expect_status == 200 and c.verb == "predict"), None)
        if first is None:
            return
        with self._phase("warm-up", f"first predict with {first.request.name}"):
            r = predictor.post(first.request.read_bytes(), first.path)
            if r.status != 200:
                raise DeployError(f"warm-up predict answered HTTP {r.status}: {r.text[:300]}",
                                  where=(f"grpc://{self.endpoint.grpc_target}" if self.endpoint.protocol == "grpc-v2"
                                         else f"{self.endpoint.base_url}{first.path or self.endpoint.predict_path}"),
                                  details=r.text[-4000:], hint="the worker is READY but cannot predict; see the model log")

    def _checks(self, predictor: Predictor) -> None:
        if not self.spec.checks:
            self._first_answer(None, "the scenario has no checks")
            return
        first: tuple[float, str] | None = None  # when the first passing check answered: the cold start's end
        with self._phase("checks", f"{len(self.spec.checks)} prediction check(s)") as ph:
            def show(result: CheckResult) -> None:
                nonlocal first
                if result.passed and first is None:
                    first = (time.time(), result.name)
                self.report.checks.append(result)
                self.progress.say(f"  {'✓' if result.passed else '✗'} check {result.name}"
                                  + ("" if result.passed else f": {result.diff[0]}"))

            run_checks(self.spec.checks, predictor, self.run_dir, on_result=show)
            failed = [c.name for c in self.report.checks if not c.passed]
            ph.detail = f"{len(self.report.checks) - len(failed)}/{len(self.report.checks)} passed"
            if failed:
                ph.status = "failed"
        self._first_answer(*(first or (None, "no check passed")))

    def _first_answer(self, answered: float | None, what: str) -> None:
        if self.report.cold_start is not None:
            with_first_answer(self.report.cold_start, answered,
                              f"check {what} passed" if answered is not None else what)

    def _load(self) -> None:
        if self.spec.rollout is not None:  # the candidate as a new revision of this InferenceService, under load
            if self.options.run_load:  # --no-load: no rollout either (it is judged on its load)
                rollout_phase(self)
            return
        if self.candidate is not None:
            self._ab()
            return
        if self.spec.load is None or not self.options.run_load:
            return
        trials = max(1, self.options.trials)
        with self._phase("load", "driving Locust load against the predictor") as ph:
            results = []
            for i in range(trials):
                if trials > 1:
                    self.progress.say(f"  load trial {i + 1}/{trials}")
                out = self.run_dir / "load" / f"trial{i + 1}" if trials > 1 else self.run_dir / "load"
                result = run_load_phase(self.spec, self.endpoint, out, self.progress, self.target)
                results.append(result)
                self.report.latency_histograms += latency_histograms(result, i + 1)
                self.report.load, self.report.trials = results[0], trials
                self.report.load_trials = results if trials > 1 else []
            ph.status = "ok" if all(trial_passed(r) for r in results) else "failed"
            ph.detail = f"{trials} trials" if trials > 1 else ""

    def _ab(self) -> None:
        """An A/B run: the load alternates between baseline and candidate, then outputs side by side."""
        blocks = []
        if self.spec.load is not None and self.options.run_load:
            with self._phase("load", "A/B load, baseline and candidate paired over the same time") as ph:
                blocks = ab_load(self, self.candidate)
                ph.detail = f"{len(blocks)} blocks"
        with self._phase("ab", "outputs side by side and the paired verdict") as ph:
            self.report.ab = ab = ab_result(self, self.candidate, blocks)
            ph.detail = ab.verdict
            ph.status = "failed" if ab.failed else "ok"
        self.progress.say(f"  A/B verdict: {ab.verdict}" + (f" — {ab.reasons[0]}" if ab.reasons else ""))

    def _collect_diagnostics(self, target: Target, dest: Path | None = None) -> None:
        try:
            target.collect_diagnostics(dest or self.diag_dir)
        except Exception as exc:  # diagnostics must never hide the real error
            self.progress.say(f"  (could not collect all diagnostics: {exc})")

    # -- the whole run ------------------------------------------------------------------------------
    @contextmanager
    def deployed(self) -> Iterator[Endpoint]:
        """Lint, archive, upload, deploy and warm up; yield the Endpoint; tear everything down."""
        stack = ExitStack()
        try:
            self._lint()
            check_rollout_target(self.spec, self.options.target)
            target = self._enter_target(stack)
            self._archive_and_upload(target)
            self._deploy(target)
            with predictor_for(self.endpoint) as predictor:
                self._warm_up(predictor)
            if self.spec.candidate_scenario is not None and self.spec.rollout is None:
                self.candidate = deploy_candidate(self, stack)
            yield self.endpoint
        finally:
            with self._phase("teardown", "stopping everything the run started"):
                stack.close()

    def _verdict(self) -> bool:
        checks_ok = all(c.passed for c in self.report.checks)
        ab = self.report.ab
        ab_ok = ab is None or not (ab.failed or ab.invalid_blocks or ab.verdict == "invalid")
        ab_ok = ab_ok and (self.report.rollout is None or self.report.rollout.passed)
        return checks_ok and ab_ok and all(trial_passed(r) for r in self.report.load_results())

    def record_error(self, exc: HarnessError) -> None:
        self.report.error = exc.to_dict()
        self.report.exit_code = exc.exit_code

    def finish(self) -> Path:
        """Write report.json and summary.md (always, whatever happened)."""
        self.report.finished_at = _now()
        self.report.diagnostics = sorted(str(p.relative_to(self.run_dir)) for p in self.diag_dir.rglob("*")
                                         if p.is_file()) if self.diag_dir.is_dir() else []
        return write_report(self.report, self.run_dir)

    def execute(self) -> Report:
        check_writable(self.run_dir.parent)  # before anything runs: a run whose report is lost is worse than none
        self.report.environment = fingerprint()
        self.progress.say(f"run {self.run_id}: scenario {self.spec.name} on {self.options.target}")
        if swept := sweep_leftovers():  # a killed run's processes and temp dirs, said and removed
            self.report.environment["swept_leftovers"] = swept
            for line in swept:
                self.progress.say(f"  note: {line}")
        try:
            with self.deployed():
                with predictor_for(self.endpoint) as predictor:
                    self._checks(predictor)
                self._load()
                if not self._verdict():
                    self.target.mark_failed()  # --keep-on-fail keeps what failed a check or SLO too
            self.report.passed = self._verdict()
            if self.report.passed:
                self.report.exit_code = EXIT_OK
            else:  # the verdict explains itself in report.json's error, as every other non-zero exit
                self.record_error(self._verdict_error())
        except HarnessError as exc:
            self.record_error(exc)
        except KeyboardInterrupt:
            self.record_error(Interrupted("run interrupted; every process it started has been stopped",
                                          where=self.run_id))
        except Exception as exc:  # a bug: still one line, a report, and the traceback kept for a bug report
            self.record_error(InternalError.from_exception(exc, self._save_traceback(exc)))
        finally:
            self.finish()
        return self.report

    def _verdict_error(self) -> Verdict:
        """Why a completed run did not pass: the first failed check (exit 1), else the load:
        FAIL (exit 1) or INVALID only (exit 3, the measurement cannot be trusted)."""
        failed = [c for c in self.report.checks if not c.passed]
        if failed:
            first = failed[0]
            return ModelFailed(
                f"{len(failed)} of {len(self.report.checks)} check(s) failed; {first.name}: "
                f"{first.diff[0] if first.diff else 'failed'}", where=first.request,
                hint=f"compare the saved response {first.response_file or ''} with {first.expect or 'the expected status'}")
        ro = self.report.rollout
        if ro is not None and not ro.passed:
            return ModelFailed(f"rollout {ro.outcome}: {ro.reasons[0] if ro.reasons else 'failed'}",
                               where=str(self.run_dir / "load" / "rollout-requests.jsonl"),
                               hint="see the rollout section of summary.md or report.html")
        ab = self.report.ab
        if ab is not None and ab.failed:
            return ModelFailed(f"A/B: the candidate {'answers differently' if ab.verdict == 'disagree' else 'regresses'}"
                               f": {ab.reasons[0] if ab.reasons else ab.verdict}", where=str(self.run_dir),
                               hint="see the A/B section of summary.md or report.html")
        if ab is not None:  # not failed, yet not passed: some blocks were INVALID
            bad = ab.invalid_blocks
            return InvalidMeasurement(
                f"A/B: {len(bad)} of {len(ab.blocks)} load block(s) INVALID (the load generator, not the server, "
                f"limited them); verdict over the rest: {ab.verdict}", where=str(self.run_dir / "load" / "ab"),
                hint="lower the rate or users, add load.workers, or rerun on a quieter machine")
        results = self.report.load_results()
        statuses = [trial_status(r) for r in results]
        worst = "FAIL" if "FAIL" in statuses else "INVALID"  # a FAIL trial explains more than an INVALID one
        v = next(r for r, st in zip(results, statuses) if st == worst).verdict
        reason = v.cause or "; ".join(v.reasons[:2]) or "see the load section"
        if worst == "FAIL":
            return ModelFailed(f"load FAIL: {reason}", where=str(self.run_dir / "load"),
                               hint="see the load section of summary.md or report.html")
        return InvalidMeasurement(f"load INVALID: {reason}", where=str(self.run_dir / "load"),
                                  hint="the load generator, not the server, limited the run: lower the rate, "
                                       "add --workers, or rerun on a quieter machine")

    def _save_traceback(self, exc: BaseException) -> Path | None:
        import traceback

        path = self.diag_dir / "traceback.txt"
        try:
            self.diag_dir.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(traceback.format_exception(exc)))
            return path
        except OSError:
            return None


def run_scenario(spec: ScenarioSpec, options: RunOptions) -> Report:
    return ScenarioRun(spec, options).execute()

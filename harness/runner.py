"""One scenario, start to finish: lint -> archive -> upload -> deploy -> warm-up -> checks -> load.

Flow: `run_scenario(spec, options)` returns a `Report` and always writes it (report.json,
summary.md, diagnostics/) — on success, on a failed check, on a deploy failure and on Ctrl-C.
Everything started is entered on one ExitStack, so it is stopped in reverse order whatever
happens; diagnostics are collected *before* the target is torn down.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from harness.archive import build_archive, render_config_properties
from harness.errors import EXIT_FAILED, EXIT_OK, DeployError, HarnessError, Interrupted
from harness.lints import lint
from harness.predict import Predictor, compare
from harness.progress import Progress
from harness.report.environment import fingerprint
from harness.report.model import ArchiveInfo, CheckResult, Phase, Report, write_report
from harness.report.responses import save_response
from harness.report.trials import latency_histograms, trial_passed
from harness.spec import ScenarioSpec
from harness.storage import GcsEmulator, GcsStore, kserve_layout
from harness.targets.base import Endpoint, Target


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kserve-harness"


@dataclass
class RunOptions:
    target: str = "local"
    report_dir: Path = Path("reports")
    real_gcs: bool = False
    # An emulator that is already running and that the predictor can reach too (kind: the
    # in-cluster one published on 127.0.0.1:9023); None starts a private one on 127.0.0.1.
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


def make_target(options: RunOptions, run_dir: Path, run_id: str, emulator_host: str | None) -> Target:
    if options.target == "local":
        from harness.targets.local import LocalTarget

        return LocalTarget(run_dir / "work", emulator_host=emulator_host)
    from harness.targets.kubernetes import make_target as make_kube_target

    return make_kube_target(options.target, kubeconfig=options.kubeconfig, context=options.context, run_id=run_id,
                            keep_on_fail=options.keep_on_fail, keep_cluster=options.keep_cluster)


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
        self.endpoint: Endpoint | None = None
        self.target: Target | None = None

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
        findings = [f for f in lint(self.spec) if f.code not in self.spec.ignore_lints]
        if findings:
            first = findings[0]
            if len(findings) > 1:
                first.details = "\n".join(f.one_line() for f in findings)
                first.what += f" (and {len(findings) - 1} more lint finding(s), see details)"
            raise first

    def _archive_and_upload(self, stack: ExitStack) -> str | None:
        with self._phase("archive", "building the .mar with torch-model-archiver") as ph:
            archive = build_archive(self.spec, self.options.cache_dir)
            ph.detail = "reused (inputs unchanged)" if archive.reused else "built"
            self.report.archive = ArchiveInfo(path=str(archive.path), sha256=archive.sha256,
                                              inputs_hash=archive.inputs_hash, reused=archive.reused)
        config_text = render_config_properties(self.spec)
        self.diag_dir.mkdir(parents=True, exist_ok=True)
        (self.diag_dir / "config.properties").write_text(config_text)
        uri = self.spec.storage.uri
        with self._phase("upload", f"uploading the KServe layout to {uri}") as ph:
            if self.options.real_gcs:
                store, emulator_host = GcsStore.for_gcs(), None
            elif emulator_host := self._shared_emulator_host():
                store = GcsStore.for_emulator(emulator_host)
            else:
                emulator = stack.enter_context(GcsEmulator(self.diag_dir))
                store, emulator_host = GcsStore.for_emulator(emulator.host), emulator.host
            objects = store.upload(uri, kserve_layout(archive.path, config_text))
            ph.detail = ", ".join(o.name for o in objects)
            self.report.storage = {"uri": uri, "backend": "gcs" if self.options.real_gcs else "gcs-emulator",
                                   "emulator_host": emulator_host, "objects": [vars(o) for o in objects]}
        return emulator_host

    def _shared_emulator_host(self) -> str | None:
        """An emulator the predictor can reach too: given, or kind's in-cluster one (clusters/kind)."""
        if self.options.storage_emulator_host or self.options.target != "kind":
            return self.options.storage_emulator_host
        from harness.kube.cluster import KIND_GCS_EMULATOR_HOST

        return KIND_GCS_EMULATOR_HOST

    def _deploy(self, stack: ExitStack, emulator_host: str | None) -> None:
        target = self.target = make_target(self.options, self.run_dir, self.run_id, emulator_host)
        stack.enter_context(target)
        stack.callback(self._collect_diagnostics, target)  # runs before the target's teardown
        with self._phase("deploy", f"deploying on the {target.name} target") as ph:
            self.endpoint = target.deploy(self.spec, self.spec.storage.uri)
            ph.detail = self.endpoint.base_url
        # Split the target's own sub-phases out (storage-init, TorchServe ready) for the report.
        deploy = self.report.phases.pop()
        sub = getattr(target, "timings", {})
        for name, seconds in sub.items():
            self.report.phases.append(Phase(name=name, seconds=round(seconds, 3)))
        rest = deploy.seconds - sum(sub.values())
        if not sub or rest > 0.5:  # only when the target spent real time outside its sub-phases
            self.report.phases.append(Phase(name="deploy" if not sub else "deploy-other", seconds=round(rest, 3),
                                            detail=deploy.detail))
        self.report.endpoint = {"base_url": self.endpoint.base_url, "model_name": self.endpoint.model_name,
                                "protocol": self.endpoint.protocol, "host_header": self.endpoint.host_header,
                                **self.endpoint.info}

    def _warm_up(self, predictor: Predictor) -> None:
        first = next((c for c in self.spec.checks if c.expect_status == 200), None)
        if first is None:
            return
        with self._phase("warm-up", f"first predict with {first.request.name}"):
            r = predictor.post(first.request.read_bytes(), first.path)
            if r.status != 200:
                raise DeployError(f"warm-up predict answered HTTP {r.status}: {r.text[:300]}",
                                  where=f"{self.endpoint.base_url}{first.path or self.endpoint.predict_path}",
                                  details=r.text[-4000:], hint="the worker is READY but cannot predict; see the model log")

    def _checks(self, predictor: Predictor) -> None:
        if not self.spec.checks:
            return
        with self._phase("checks", f"{len(self.spec.checks)} prediction check(s)") as ph:
            for check in self.spec.checks:
                r = predictor.post(check.request.read_bytes(), check.path)
                diff = []
                if r.status != check.expect_status:
                    diff.append(f"HTTP status: expected {check.expect_status}, got {r.status}: {r.text[:200]}")
                elif check.expect is not None:
                    diff = compare(json.loads(check.expect.read_text()), r.body, atol=check.atol, rtol=check.rtol)
                response_file, response_sha = save_response(self.run_dir, check.name, r.text)
                result = CheckResult(name=check.name, passed=not diff, status=r.status,
                                     expected_status=check.expect_status, elapsed_ms=round(r.elapsed_ms, 2),
                                     diff=diff, request=str(check.request),
                                     expect=str(check.expect) if check.expect else None,
                                     response_excerpt=r.text[:500], atol=check.atol, rtol=check.rtol,
                                     response_sha256=response_sha, response_file=response_file)
                self.report.checks.append(result)
                self.progress.say(f"  {'✓' if result.passed else '✗'} check {check.name}"
                                  + ("" if result.passed else f": {diff[0]}"))
            failed = [c.name for c in self.report.checks if not c.passed]
            ph.detail = f"{len(self.report.checks) - len(failed)}/{len(self.report.checks)} passed"
            if failed:
                ph.status = "failed"

    def _load(self) -> None:
        if self.spec.load is None or not self.options.run_load:
            return
        from harness.load.phase import run_load_phase

        trials = max(1, self.options.trials)
        with self._phase("load", "driving Locust load against the predictor") as ph:
            results = []
            for i in range(trials):
                if trials > 1:
                    self.progress.say(f"  load trial {i + 1}/{trials}")
                out = self.run_dir / "load" / f"trial{i + 1}" if trials > 1 else self.run_dir / "load"
                result = run_load_phase(self.spec, self.endpoint, out, self.progress)
                results.append(result.model_dump(mode="json"))
                self.report.latency_histograms += latency_histograms(results[-1], i + 1)
                self.report.load, self.report.trials = results[0], trials
                self.report.load_trials = results if trials > 1 else []
            ph.status = "ok" if all(trial_passed(r) for r in results) else "failed"
            ph.detail = f"{trials} trials" if trials > 1 else ""

    def _collect_diagnostics(self, target: Target) -> None:
        try:
            target.collect_diagnostics(self.diag_dir)
        except Exception as exc:  # diagnostics must never hide the real error
            self.progress.say(f"  (could not collect all diagnostics: {exc})")

    # -- the whole run ------------------------------------------------------------------------------
    @contextmanager
    def deployed(self) -> Iterator[Endpoint]:
        """Lint, archive, upload, deploy and warm up; yield the Endpoint; tear everything down."""
        stack = ExitStack()
        try:
            self._lint()
            emulator_host = self._archive_and_upload(stack)
            self._deploy(stack, emulator_host)
            with Predictor(self.endpoint) as predictor:
                self._warm_up(predictor)
            yield self.endpoint
        finally:
            with self._phase("teardown", "stopping everything the run started"):
                stack.close()

    def _verdict(self) -> bool:
        checks_ok = all(c.passed for c in self.report.checks)
        return checks_ok and all(trial_passed(r) for r in self.report.load_results())

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
        self.report.environment = fingerprint()
        self.progress.say(f"run {self.run_id}: scenario {self.spec.name} on {self.options.target}")
        try:
            with self.deployed():
                with Predictor(self.endpoint) as predictor:
                    self._checks(predictor)
                self._load()
                if not self._verdict() and hasattr(self.target, "mark_failed"):
                    self.target.mark_failed()  # --keep-on-fail keeps what failed a check or SLO too
            self.report.passed = self._verdict()
            self.report.exit_code = EXIT_OK if self.report.passed else EXIT_FAILED
        except HarnessError as exc:
            self.record_error(exc)
        except KeyboardInterrupt:
            self.record_error(Interrupted("run interrupted; every process it started has been stopped",
                                          where=self.run_id))
        finally:
            self.finish()
        return self.report


def run_scenario(spec: ScenarioSpec, options: RunOptions) -> Report:
    return ScenarioRun(spec, options).execute()

"""The A/B part of a scenario run, on the local target: a second deployment, outputs side by side,
alternating load blocks, and the paired verdict.

Flow (harness.runner calls these in order; harness.lints.lint covers the candidate): `check_target` ->
`deploy_candidate` builds, uploads and deploys the candidate on a target of its own (sharing the
baseline's storage emulator) and warms it up ->
`ab_load` runs the ABBA blocks -> `ab_result` sends every check's and every distinct load body to
both sides (agreement) and judges each metric on the paired block differences. `run` is the
harness.runner.ScenarioRun (not imported: the runner imports this module).
"""
from __future__ import annotations

from contextlib import ExitStack

from harness.ab.agreement import Source, compare_outputs
from harness.ab.blocks import Block, run_blocks
from harness.ab.model import AbBlock, AbResult, AbSide
from harness.ab.paired import paired_metric
from harness.endpoint import Endpoint
from harness.errors import ConfigError, DeployError
from harness.predict import predictor_for
from harness.report.compare.thresholds import DEFAULT_METRICS
from harness.report.trials import METRICS, step_metrics
from harness.runtimes.registry import runtime_for
from harness.spec import ScenarioSpec
from harness.targets.registry import make_target
from harness.targets.settings import TargetSettings

DEFAULT_ATOL = 1e-4  # a load body no check shares gets the checks' default tolerance


def check_target(spec: ScenarioSpec, target: str) -> None:
    """Before any target is reached: A/B runs deploy both versions on the local target only (for now)."""
    if spec.candidate is not None and target != "local":
        raise ConfigError("candidate: A/B runs deploy both versions on the local target only for now",
                          where=f"--target {target}", hint="run it with --target local")


def deploy_candidate(run, stack: ExitStack) -> Endpoint:
    """The candidate beside the baseline: its own target (work and diagnostics folders), same emulator."""
    cand: ScenarioSpec = run.spec.candidate_scenario
    site = run.target.storage()
    settings = TargetSettings(
        run_id=run.run_id, work_dir=run.run_dir / "candidate" / "work", diagnostics_dir=run.diag_dir / "candidate",
        cache_dir=run.options.cache_dir, progress=run.progress, real_gcs=run.options.real_gcs,
        storage_emulator_host=site.emulator_host)
    target = make_target("local", settings)
    stack.enter_context(target)
    stack.callback(run._collect_diagnostics, target, run.diag_dir / "candidate")
    runtime = runtime_for(cand)
    with run._phase("candidate-deploy", f"building, uploading and deploying the candidate {cand.name}") as ph:
        files = runtime.model_files(cand, run.options.cache_dir)
        target.storage().store.upload(cand.storage.uri, files.objects)
        endpoint = target.deploy(cand, cand.storage.uri)
        ph.detail = endpoint.base_url
    first = next((c for c in run.spec.checks if c.expect_status == 200 and c.verb == "predict"), None)
    if first is not None:
        with predictor_for(endpoint) as p:
            r = p.post(first.request.read_bytes(), first.path)
        if r.status != 200:
            raise DeployError(f"candidate warm-up predict answered HTTP {r.status}: {r.text[:300]}",
                              where=endpoint.base_url, hint="see diagnostics/candidate/")
    return endpoint


def ab_load(run, candidate: Endpoint) -> list[Block]:
    """The ABBA blocks of the scenario's load, between the baseline and the candidate."""
    load = run.spec.load
    pairs, block = load.ab_blocks()
    sides = {"baseline": (run.spec.model_copy(update={"load": block}), run.endpoint),
             "candidate": (run.spec.candidate_scenario.model_copy(update={"load": block}), candidate)}
    return run_blocks(sides, pairs, run.run_dir / "load" / "ab", run.progress)


def _sources(spec: ScenarioSpec) -> list[Source]:
    out = [Source(f"check {c.name}", "check", c.request.read_bytes(), c.path, c.atol, c.rtol) for c in spec.checks]
    if spec.load is not None:
        by_request = {c.request: c for c in spec.checks}
        default = spec.checks[0] if spec.checks else None
        seen: set[bytes] = set()
        for path, body in zip(spec.load.requests, spec.load.read_bodies()):
            if body in seen:
                continue
            seen.add(body)
            c = by_request.get(path, default)
            out.append(Source(f"load request {path.name}", "load", body, spec.load.path,
                              c.atol if c else DEFAULT_ATOL, c.rtol if c else 0.0))
    return out


def _side(role: str, spec: ScenarioSpec, endpoint: Endpoint) -> AbSide:
    return AbSide(role=role, scenario=spec.name, model=f"{spec.model.name} (handler {spec.model.handler})",
                  runtime=spec.runtime, base_url=endpoint.base_url)


def ab_result(run, candidate: Endpoint, blocks: list[Block]) -> AbResult:
    spec, cand = run.spec, run.spec.candidate_scenario
    res = AbResult(baseline=_side("baseline", spec, run.endpoint), candidate=_side("candidate", cand, candidate))
    with predictor_for(run.endpoint) as a, predictor_for(candidate) as b:
        res.outputs = compare_outputs(_sources(spec), a, b)
    if not res.outputs.all_agree:
        res.reasons.append(f"outputs: {res.outputs.outputs - res.outputs.agree} of {res.outputs.outputs} disagree "
                           "beyond the check's tolerance" + next(
                               (f"; e.g. {s.name}: {s.differences[0]}" for s in res.outputs.sources if s.differences),
                               ""))
    if blocks:
        pairs, block = spec.load.ab_blocks()
        res.block_s, res.blocks_per_side = block.duration_s, pairs
        res.order = "".join("A" if b.side == "baseline" else "B" for b in blocks)
        res.blocks = [AbBlock(side=b.side, pair=b.pair, order=b.order, status=b.result.verdict.status,
                              metrics=step_metrics(b.result.steps[0]), result=b.result.artifacts.get("result", ""))
                      for b in blocks]
        # A pair with an INVALID block (the generator was the bottleneck) measures nothing: left out.
        invalid = {b.pair for b in res.blocks if b.status == "INVALID"}
        if invalid:
            res.reasons.append(f"pair(s) {', '.join(map(str, sorted(invalid)))} left out: a block was INVALID")
        by = {(b.side, b.pair): b for b in res.blocks if b.pair not in invalid}
        kept = sorted({p for _, p in by})
        for metric, (label, unit, worse_up) in METRICS.items():
            res.metrics.append(paired_metric(
                metric, label, unit, worse_up, DEFAULT_METRICS[metric],
                [by[("baseline", p)].metrics.get(metric) for p in kept],
                [by[("candidate", p)].metrics.get(metric) for p in kept]))
        res.reasons += [f"{m.label}: {m.verdict}, {m.reason}" for m in res.metrics if m.verdict == "regression"]
    verdicts = {m.verdict for m in res.metrics}
    res.verdict = ("disagree" if not res.outputs.all_agree else "regression" if "regression" in verdicts
                   else "inconclusive" if "inconclusive" in verdicts else "improvement" if "improvement" in verdicts
                   else "no change")
    return res

"""The A/B part of a scenario run, on any target: a second deployment, outputs side by side,
paired load (interleaved windows or blocks), and the paired verdict.

Flow (harness.runner calls these in order; harness.lints.lint covers the candidate):
`deploy_candidate` builds, uploads and deploys the candidate (locally on a target of its own sharing
the baseline's storage emulator; on a cluster as a second InferenceService) and warms it up ->
`ab_load` runs the paired load (load.ab.schedule) -> `ab_result` sends every check's and every
distinct load body to both sides (agreement) and judges each metric on the paired block differences. `run` is the
harness.runner.ScenarioRun (not imported: the runner imports this module).
"""
from __future__ import annotations

from contextlib import ExitStack

from harness.ab.agreement import Source, compare_outputs
from harness.ab.blocks import Block, run_blocks, run_concurrent_blocks, run_interleaved_blocks, warm_up_blocks
from harness.ab.model import AbBlock, AbResult, AbSide
from harness.ab.paired import ab_thresholds, judge_blocks, overall_verdict
from harness.endpoint import Endpoint
from harness.errors import DeployError
from harness.load.spec import AbSpec
from harness.predict import predictor_for
from harness.report.trials import step_metrics
from harness.runtimes.registry import runtime_for
from harness.spec import ScenarioSpec
from harness.targets.registry import make_target
from harness.targets.settings import TargetSettings

DEFAULT_ATOL = 1e-4  # a load body no check shares gets the checks' default tolerance


def deploy_candidate(run, stack: ExitStack) -> Endpoint:
    """The candidate beside the baseline. Locally: a target of its own (work and diagnostics
    folders) sharing the baseline's storage emulator. On a cluster: a second InferenceService, in
    a namespace of its own, on the baseline's target (which collects and removes both)."""
    cand: ScenarioSpec = run.spec.candidate_scenario
    site = run.target.storage()
    if run.options.target == "local":
        settings = TargetSettings(
            run_id=run.run_id, work_dir=run.run_dir / "candidate" / "work", diagnostics_dir=run.diag_dir / "candidate",
            cache_dir=run.options.cache_dir, progress=run.progress, real_gcs=run.options.real_gcs,
            storage_emulator_host=site.emulator_host)
        target = make_target("local", settings)
        stack.enter_context(target)
        stack.callback(run._collect_diagnostics, target, run.diag_dir / "candidate")
    else:
        target = run.target
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
    """The paired blocks (interleaved: windows) of the scenario's load, baseline and candidate."""
    load = run.spec.load
    pairs, block = load.ab_blocks()
    pairs *= max(1, run.options.trials)  # --trials N: N times the block pairs, one longer sequence
    sides = {"baseline": (run.spec.model_copy(update={"load": block}), run.endpoint),
             "candidate": (run.spec.candidate_scenario.model_copy(update={"load": block}), candidate)}
    ab = load.ab or AbSpec()
    warm_s = ab.warmup_block_s
    if ab.schedule == "interleaved":
        return run_interleaved_blocks(sides, pairs, run.run_dir / "load" / "ab", run.progress, warm_s)
    if warm_s:
        warm = block.model_copy(update={"duration_s": warm_s, "warmup_s": 0.0})
        warm_sides = {name: (spec.model_copy(update={"load": warm}), ep) for name, (spec, ep) in sides.items()}
        warm_up_blocks(warm_sides, run.run_dir / "load" / "ab", run.progress)
    schedule = run_concurrent_blocks if ab.schedule == "concurrent" else run_blocks
    return schedule(sides, pairs, run.run_dir / "load" / "ab", run.progress)


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
        _, block = spec.load.ab_blocks()
        res.block_s, res.blocks_per_side = block.duration_s, len(blocks) // 2
        ab = spec.load.ab or AbSpec()
        res.warmup_block_s, res.schedule = ab.warmup_block_s, ab.schedule
        res.order = ("".join("A" if b.side == "baseline" else "B" for b in blocks) if ab.schedule == "alternate"
                     else " ".join([{"concurrent": "A+B", "interleaved": "A|B"}[ab.schedule]] * res.blocks_per_side))
        res.blocks = [AbBlock(side=b.side, pair=b.pair, order=b.order, status=b.result.verdict.status,
                              metrics=step_metrics(b.result.steps[0]), result=b.result.artifacts.get("result", ""))
                      for b in blocks]
        res.metrics, reasons = judge_blocks(res.blocks, ab_thresholds(ab.thresholds))
        res.reasons += reasons
    res.verdict = overall_verdict(res.outputs.all_agree, res.metrics, max((m.pairs for m in res.metrics), default=0),
                                  measured=bool(blocks))
    if res.verdict == "invalid":
        res.reasons.insert(0, "fewer than 2 block pairs were valid: the load generator, not the server, limited "
                              "the blocks")
    return res

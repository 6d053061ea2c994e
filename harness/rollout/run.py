"""Rollout under load on a cluster target (issue 12.4): the candidate becomes a new revision of the
running InferenceService while load keeps running, and the rollout is judged.

Flow (harness.runner calls `rollout_phase(run)` as the load phase of a scenario with `rollout:`):
build and upload the candidate's model files -> open a ServiceForward (each new connection to a
Ready pod of the InferenceService: the load follows the rolling update as through its Service) and
start the RolloutLoad (`rollout.users` closed-loop clients) -> `before_s` of load on the baseline ->
replace spec.predictor with the candidate's (strategy rolling: the predictor Deployment rolls) ->
follow the pods: the new template's pod Ready and every old pod gone = rolled out; a new pod with
a named cause (harness.kube.causes.pod_cause: CrashLoopBackOff, OOMKilled, a failed download...)
= the new revision failed: the old predictor spec is restored and followed until the new pod is
gone -> on_success: rollback restores the baseline after a clean rollout too -> `after_s` more
load -> `harness.rollout.verdict.judge`. Each answer's side is the pod-template-hash of the pod the
ServiceForward chose for its connection (pods of the templates running before the patch: baseline).
strategy canary (Serverless canaryTrafficPercent steps) runs harness.rollout.canary instead.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

from harness.errors import ConfigError
from harness.rollout.canary import run_canary
from harness.rollout.cluster import Pods, Rollout, follow, hold, set_predictor
from harness.rollout.forward import ServiceForward
from harness.rollout.load import RolloutLoad
from harness.rollout.model import RolloutResult
from harness.rollout.verdict import judge
from harness.runtimes.registry import runtime_for

PREDICTOR_PORT = 8080


def check_rollout_target(spec, target: str) -> None:
    """A rollout patches a running InferenceService: cluster targets only, and over HTTP (V1/V2)."""
    if spec.rollout is None:
        return
    where = str(spec.source or spec.name)
    if target == "local":
        raise ConfigError("rollout: needs a cluster target (kind, gke, kubeconfig); the local target has no "
                          "InferenceService to roll", where=where, hint="run with --target kind, or drop rollout:")
    if spec.kubernetes.ingress != "port-forward":
        raise ConfigError("rollout: follows the pods through the harness's port-forward; kubernetes.ingress: "
                          "ingress is not supported for it", where=where, hint="use kubernetes.ingress: port-forward")
    if spec.serving.protocol == "grpc-v2":
        raise ConfigError("rollout: the rollout load is HTTP (V1/V2); grpc-v2 is not supported", where=where,
                          hint="roll out a v1 or v2 scenario")
    if spec.rollout.strategy == "canary" and spec.kubernetes.deployment_mode != "Serverless":
        raise ConfigError("rollout.strategy canary needs kubernetes.deployment_mode: Serverless (canaryTrafficPercent "
                          f"is a Knative traffic split; this scenario is {spec.kubernetes.deployment_mode})",
                          where=where, hint="set kubernetes.deployment_mode: Serverless, or use strategy: rolling")


def run_rolling(c: Rollout, ro) -> bool:
    """The RawDeployment rolling update; True when the new revision failed."""
    result, deadline_s = c.result, ro.timeout_s
    result.patched_at_s = round(c.load.now(), 3)
    c.say(f"  rollout: patching {c.ns}/{c.isvc}'s predictor to the candidate {c.run.spec.candidate_scenario.name}")
    set_predictor(c.kube, c.ns, c.isvc, c.new_predictor)
    failure = follow(c.pods, c.old_hashes, want_old=False, deadline=time.monotonic() + deadline_s)
    crashed = False
    if failure is not None:
        crashed, result.cause = True, failure
        c.say(f"  rollout: new revision failed ({failure}); restoring the old predictor")
        set_predictor(c.kube, c.ns, c.isvc, c.old_predictor)
        back = follow(c.pods, c.old_hashes, want_old=True, deadline=time.monotonic() + deadline_s)
        result.outcome = "rolled back" if back is None else "failed"
    elif ro.on_success == "rollback":
        result.settled_at_s = round(c.load.now(), 3)
        hold(ro.after_s)
        c.say("  rollout: clean; rolling back as asked (on_success: rollback)")
        set_predictor(c.kube, c.ns, c.isvc, c.old_predictor)
        back = follow(c.pods, c.old_hashes, want_old=True, deadline=time.monotonic() + deadline_s)
        result.outcome = "rolled back" if back is None else "failed"
    else:
        result.outcome = "promoted"
    result.settled_at_s = round(c.load.now(), 3)
    hold(ro.after_s)
    return crashed


def run_rollout(run) -> RolloutResult:
    spec, ro, cand = run.spec, run.spec.rollout, run.spec.candidate_scenario
    target = run.target
    dep = target.deployments[-1]
    ns, isvc, kube = dep.namespace, dep.isvc, target.kube
    runtime = runtime_for(cand)
    files = runtime.model_files(cand, run.options.cache_dir)
    target.storage().store.upload(cand.storage.uri, files.objects)
    new_predictor = runtime.inference_service(cand, cand.storage.uri, run.run_id)["spec"]["predictor"]
    old_predictor = copy.deepcopy(kube.get_isvc(ns, isvc)["spec"]["predictor"])
    pods = Pods(kube, ns, isvc)
    pods.refresh()
    old_hashes = {pods.hash_of[p["metadata"]["name"]] for p in pods.items}
    canary = ro.strategy == "canary"
    result = RolloutResult(strategy=ro.strategy, on_success=ro.on_success,
                           baseline_pods=sorted(n for n, h in pods.hash_of.items() if h in old_hashes))
    load_spec = spec.load
    path = load_spec.path or run.endpoint.predict_path
    fwd = ServiceForward(target.api_client, ns, isvc, PREDICTOR_PORT, traffic_split=canary).start()
    load = RolloutLoad(fwd.local_port, path, load_spec.read_bodies(), users=ro.users, timeout_s=load_spec.timeout_s,
                       pod_of=fwd.pod_of, routable=fwd.routable, per_request=canary)
    c = Rollout(run, kube, ns, isvc, pods, old_hashes, load, result, new_predictor, old_predictor)
    try:
        load.start()
        hold(ro.before_s)
        crashed = (run_canary if canary else run_rolling)(c, ro)
    finally:
        load.stop()
        fwd.stop()
    if result.steps and result.steps[-1].end_s is None:
        result.steps[-1].end_s = round(load.now(), 3)
    pods.refresh()
    result.candidate_pods = sorted(n for n, h in pods.hash_of.items() if h not in old_hashes)
    result.baseline_pods = sorted(n for n, h in pods.hash_of.items() if h in old_hashes)
    records = load.records(c.side_of)
    result = judge(result, records, crashed=crashed, slo=ro.slo or load_spec.slo, width_s=ro.window_s)
    _save(records, run.run_dir / "load" / "rollout-requests.jsonl")  # judged first: canary records carry their step
    return result


def _save(records, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r.model_dump_json() + "\n" for r in records))


def rollout_phase(run) -> None:
    """The load phase of a rollout scenario: report.rollout, a phase, a line of progress."""
    with run._phase("rollout", "rolling the candidate out under load") as ph:
        run.report.rollout = res = run_rollout(run)
        ph.detail = f"{res.outcome}, {res.failed_requests} failed request(s)"
        ph.status = "ok" if res.passed else "failed"
    run.progress.say(f"  rollout: {res.outcome}; " + ("PASS" if res.passed else f"FAIL — {res.reasons[0]}"))

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
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

from kubernetes.client.exceptions import ApiException

from harness.errors import ConfigError, DeployError
from harness.kube.api import api_error_text, is_conflict
from harness.kube.causes import MODEL_CONTAINER, pod_cause, pod_ready
from harness.kube.manifest import GROUP, PLURAL, VERSION
from harness.kube.naming import ISVC_POD_LABEL
from harness.kube.readiness import last_line
from harness.rollout.forward import NO_READY_POD, ServiceForward
from harness.rollout.load import RolloutLoad
from harness.rollout.model import RolloutResult
from harness.rollout.verdict import judge
from harness.runtimes.registry import runtime_for

PREDICTOR_PORT = 8080
POLL_S = 0.5
HASH = "pod-template-hash"


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


class _Pods:
    """The InferenceService's pods as last listed, and every pod's template hash ever seen."""

    def __init__(self, kube, ns: str, isvc: str) -> None:
        self.kube, self.ns, self.isvc = kube, ns, isvc
        self.hash_of: dict[str, str] = {}
        self.items: list[dict] = []

    def refresh(self) -> list[dict]:
        self.items = self.kube.list_pods(self.ns, label_selector=f"{ISVC_POD_LABEL}={self.isvc}").get("items") or []
        for p in self.items:
            self.hash_of[p["metadata"]["name"]] = (p["metadata"].get("labels") or {}).get(HASH, "")
        return self.items


def _set_predictor(kube, ns: str, isvc: str, predictor: dict) -> None:
    for _ in range(5):  # a status write between our read and our write: read again
        body = kube.get_isvc(ns, isvc)
        body["spec"]["predictor"] = copy.deepcopy(predictor)
        try:
            kube.custom.replace_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, isvc, body)
            return
        except ApiException as exc:
            if not is_conflict(exc):
                raise DeployError(f"cannot update the InferenceService's predictor: {api_error_text(exc)}",
                                  where=f"inferenceservice {ns}/{isvc}",
                                  hint="a KServe admission webhook or policy refused it; see the message") from exc
    raise DeployError("the InferenceService kept changing under the rollout's update (5 conflicts)",
                      where=f"inferenceservice {ns}/{isvc}", hint="is another controller writing its spec?")


def _cause(kube, ns: str, pod: dict) -> str | None:
    try:
        events = kube.list_events(ns).get("items") or []
    except ApiException:
        events = []
    cause = pod_cause(pod, events)
    if cause is None:
        return None
    line = None
    if cause.wants_log:
        try:
            line = last_line(kube.pod_log(ns, pod["metadata"]["name"], cause.container or MODEL_CONTAINER,
                                          previous=cause.previous_log))
        except ApiException:
            line = None
    return cause.headline(line)


def _follow(pods: _Pods, old_hashes: set[str], *, want_old: bool, deadline: float) -> str | None:
    """Poll until the wanted side alone runs (None), or a pod of the other templates fails (its cause).
    want_old=False: a new-template pod Ready and no old-template pod left; True: the reverse."""
    while True:
        items = pods.refresh()
        old = [p for p in items if pods.hash_of[p["metadata"]["name"]] in old_hashes]
        new = [p for p in items if p not in old]
        wanted, other = (old, new) if want_old else (new, old)
        if any(pod_ready(p) for p in wanted) and not other:
            return None
        if not want_old:
            for p in new:
                cause = _cause(pods.kube, pods.ns, p)
                if cause:
                    return cause
        if time.monotonic() > deadline:
            return f"the {'old' if want_old else 'new'} revision was not alone Ready within the rollout timeout"
        time.sleep(POLL_S)


def _hold(seconds: float) -> None:
    """Keep the load running `seconds`: a measured stretch of the rollout (not a synchronisation)."""
    if seconds > 0:
        time.sleep(seconds)


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
    pods = _Pods(kube, ns, isvc)
    pods.refresh()
    old_hashes = {pods.hash_of[p["metadata"]["name"]] for p in pods.items}
    result = RolloutResult(on_success=ro.on_success,
                           baseline_pods=sorted(n for n, h in pods.hash_of.items() if h in old_hashes))
    load_spec = spec.load
    path = load_spec.path or run.endpoint.predict_path
    fwd = ServiceForward(target.api_client, ns, isvc, PREDICTOR_PORT).start()
    load = RolloutLoad(fwd.local_port, path, load_spec.read_bodies(), users=ro.users, timeout_s=load_spec.timeout_s,
                       pod_of=fwd.pod_of, routable=fwd.routable)
    crashed = False
    deadline_s = ro.timeout_s
    try:
        load.start()
        _hold(ro.before_s)
        result.patched_at_s = round(load.now(), 3)
        run.progress.say(f"  rollout: patching {ns}/{isvc}'s predictor to the candidate {cand.name}")
        _set_predictor(kube, ns, isvc, new_predictor)
        failure = _follow(pods, old_hashes, want_old=False, deadline=time.monotonic() + deadline_s)
        if failure is not None:
            crashed, result.cause = True, failure
            run.progress.say(f"  rollout: new revision failed ({failure}); restoring the old predictor")
            _set_predictor(kube, ns, isvc, old_predictor)
            back = _follow(pods, old_hashes, want_old=True, deadline=time.monotonic() + deadline_s)
            result.outcome = "rolled back" if back is None else "failed"
        elif ro.on_success == "rollback":
            result.settled_at_s = round(load.now(), 3)
            _hold(ro.after_s)
            run.progress.say("  rollout: clean; rolling back as asked (on_success: rollback)")
            _set_predictor(kube, ns, isvc, old_predictor)
            back = _follow(pods, old_hashes, want_old=True, deadline=time.monotonic() + deadline_s)
            result.outcome = "rolled back" if back is None else "failed"
        else:
            result.outcome = "promoted"
        result.settled_at_s = round(load.now(), 3)
        _hold(ro.after_s)
    finally:
        load.stop()
        fwd.stop()
    pods.refresh()
    result.candidate_pods = sorted(n for n, h in pods.hash_of.items() if h not in old_hashes)
    baseline = set(n for n, h in pods.hash_of.items() if h in old_hashes)
    result.baseline_pods = sorted(baseline)

    def side_of(pod: str | None) -> str:
        if pod is None or pod == NO_READY_POD or pod not in pods.hash_of:
            return "unknown"
        return "baseline" if pod in baseline else "candidate"

    records = load.records(side_of)
    _save(records, run.run_dir / "load" / "rollout-requests.jsonl")
    return judge(result, records, crashed=crashed, slo=ro.slo or load_spec.slo, width_s=ro.window_s)


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

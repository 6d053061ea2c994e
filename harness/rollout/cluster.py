"""The rollout's view of the cluster, shared by both strategies (harness.rollout.run: rolling;
harness.rollout.canary): the InferenceService's pods and the revision of each, replacing its
predictor, a new pod's named failure, following the pods until one revision alone runs, and the
`Rollout` context a strategy works with."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException

from harness.errors import DeployError
from harness.kube.api import api_error_text, is_conflict
from harness.kube.causes import MODEL_CONTAINER, pod_cause, pod_ready
from harness.kube.manifest import GROUP, PLURAL, VERSION
from harness.kube.naming import ISVC_POD_LABEL
from harness.kube.readiness import last_line
from harness.rollout.forward import NO_READY_POD, REVISION_LABEL
from harness.rollout.load import RolloutLoad
from harness.rollout.model import RolloutResult

POLL_S = 0.5
HASH = "pod-template-hash"


def revision_key(pod: dict) -> str:
    """The pod's revision: its Knative revision (Serverless), else its pod-template-hash."""
    labels = pod["metadata"].get("labels") or {}
    return labels.get(REVISION_LABEL) or labels.get(HASH, "")


class Pods:
    """The InferenceService's pods as last listed, and every pod's revision (revision_key) ever seen."""

    def __init__(self, kube, ns: str, isvc: str) -> None:
        self.kube, self.ns, self.isvc = kube, ns, isvc
        self.hash_of: dict[str, str] = {}
        self.items: list[dict] = []

    def refresh(self) -> list[dict]:
        self.items = self.kube.list_pods(self.ns, label_selector=f"{ISVC_POD_LABEL}={self.isvc}").get("items") or []
        for p in self.items:
            self.hash_of[p["metadata"]["name"]] = revision_key(p)
        return self.items


def set_predictor(kube, ns: str, isvc: str, predictor: dict) -> None:
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


def pod_failure(kube, ns: str, pod: dict) -> str | None:
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


def follow(pods: Pods, old_hashes: set[str], *, want_old: bool, deadline: float) -> str | None:
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
                cause = pod_failure(pods.kube, pods.ns, p)
                if cause:
                    return cause
        if time.monotonic() > deadline:
            return f"the {'old' if want_old else 'new'} revision was not alone Ready within the rollout timeout"
        time.sleep(POLL_S)


def hold(seconds: float) -> None:
    """Keep the load running `seconds`: a measured stretch of the rollout (not a synchronisation)."""
    if seconds > 0:
        time.sleep(seconds)


@dataclass
class Rollout:
    """What both strategies work with."""

    run: object
    kube: object
    ns: str
    isvc: str
    pods: Pods
    old_hashes: set[str]
    load: RolloutLoad
    result: RolloutResult
    new_predictor: dict
    old_predictor: dict

    def say(self, line: str) -> None:
        self.run.progress.say(line)

    def side_of(self, pod: str | None) -> str:
        if pod is None or pod == NO_READY_POD or pod not in self.pods.hash_of:
            return "unknown"
        return "baseline" if self.pods.hash_of[pod] in self.old_hashes else "candidate"

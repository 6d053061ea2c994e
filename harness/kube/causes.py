"""Why an InferenceService is not Ready yet: named causes from pod, event and status states.

Flow: `diagnose(isvc, pods, events, ...)` is a pure function over the objects as the API returns
them (camelCase dicts, as `kubectl get -o json` prints; official-client models are converted).
It answers a `Verdict`: ready (with the pod to reach), failed (with a `Cause` naming what broke
and which log explains it), or pending (with a kubectl-like summary of what is awaited). The live
watcher in readiness.py calls it after every change; unit tests call it on recorded states.

A cause is reported only when it is known to be final, so nothing fails early on a state that
Kubernetes or KServe would still fix by itself (an image being pulled, a cluster autoscaler
adding a GPU node, KServe's IngressReady=False while the predictor is still starting).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

STORAGE_INITIALIZER = "storage-initializer"
MODEL_CONTAINER = "kserve-container"

IMAGE_PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
CONFIG_REASONS = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
# KServe's modelStatus.lastFailureInfo reasons: each is final for this spec.
MODEL_FAILURE_REASONS = {"ModelLoadFailed", "RuntimeUnhealthy", "RuntimeDisabled", "NoSupportingRuntime",
                         "RuntimeNotRecognized", "InvalidPredictorSpec"}
# Condition reasons that do not go away by waiting (Knative revision failure, Deployment progress deadline).
FINAL_CONDITION_REASONS = {"RevisionFailed", "ProgressDeadlineExceeded"}
# Controller messages that are retried by the controller itself, not failures.
TRANSIENT_MARKERS = ("the object has been modified", "Operation cannot be fulfilled", "connection refused",
                     "context deadline exceeded", "i/o timeout", "TLS handshake timeout")
# How long IngressReady may stay False (or status.url empty) after the predictor became ready.
INGRESS_GRACE_S = 30.0
# How long an unschedulable pod may wait for a cluster autoscaler to answer (it scans every ~10 s
# and then records TriggeredScaleUp or NotTriggerScaleUp on the pod); without an autoscaler the
# pod is declared unschedulable after this.
UNSCHEDULABLE_GRACE_S = 45.0
# Cluster-autoscaler events: a node is coming / it will not come.
SCALE_UP_STARTED = {"TriggeredScaleUp"}
SCALE_UP_REFUSED = {"NotTriggerScaleUp", "FailedScaleUp"}


@dataclass(frozen=True)
class Cause:
    """A named, final reason why the InferenceService will not become Ready.

    Attributes:
        code: stable id ("storage-initializer", "image-pull", "crash-loop", "oom-killed",
            "unschedulable", "init-container", "container-config", "pod-failed", "create-failed",
            "mount-failed", "model-status", "predictor", "kserve-controller", "ingress", "no-url").
        what: one line, e.g. "storage-initializer failed (exit code 1)".
        message: the API's own words (container message, event or condition message), if any.
        pod: the pod concerned, if any.
        container: the container whose log explains the cause, if any.
        previous_log: that log is the previous (restarted) instance's.
        hint: what to do next.
    """

    code: str
    what: str
    message: str | None = None
    pod: str | None = None
    container: str | None = None
    previous_log: bool = False
    hint: str | None = None

    @property
    def wants_log(self) -> bool:
        return self.container is not None

    def headline(self, log_line: str | None = None) -> str:
        """`what`, then the best one-line evidence: the log's last line, else the API message."""
        evidence = log_line or self.message
        return f"{self.what}: {evidence}" if evidence else self.what


@dataclass(frozen=True)
class Verdict:
    """What diagnose() concluded.

    Attributes:
        state: "ready", "failed" or "pending".
        cause: the failure (state "failed").
        pod: the ready predictor pod (state "ready" when a pod is needed).
        url: status.url of the InferenceService, when it has one.
        summary: kubectl-like one-line state of the InferenceService and its pods.
        warnings: facts worth reporting that did not block readiness.
    """

    state: Literal["ready", "failed", "pending"]
    summary: str
    cause: Cause | None = None
    pod: str | None = None
    url: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


# --- helpers over plain dicts -------------------------------------------------------------------

_sanitizer = None


def plain(obj: Any) -> Any:
    """A dict as the API serves it: dicts pass through, official-client models are serialized."""
    global _sanitizer
    if obj is None or isinstance(obj, (dict, list, str, int, float, bool)):
        return obj
    if _sanitizer is None:  # built on first use only: no side effects at import
        from kubernetes import client

        _sanitizer = client.ApiClient(client.Configuration())
    return _sanitizer.sanitize_for_serialization(obj)


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name", "?")


def _condition(obj: dict | None, ctype: str) -> dict | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def _is_true(cond: dict | None) -> bool:
    return bool(cond) and cond.get("status") == "True"


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _limit(pod: dict, container: str, resource: str) -> str | None:
    spec = pod.get("spec") or {}
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if c.get("name") == container:
            return ((c.get("resources") or {}).get("limits") or {}).get(resource)
    return None


def _exit_text(term: dict) -> str:
    parts = [f"exit code {term.get('exitCode')}"]
    if term.get("reason") and term.get("reason") not in ("Error", "Completed"):
        parts.append(term["reason"])
    return ", ".join(parts)


def _is_terminating(pod: dict) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def pod_ready(pod: dict) -> bool:
    """The pod's Ready condition is True and it is not being deleted."""
    return not _is_terminating(pod) and _is_true(_condition(pod, "Ready"))


def pod_status_text(pod: dict) -> str:
    """The STATUS column of `kubectl get pods` for this pod (Init:0/1, CrashLoopBackOff, Running...)."""
    status = pod.get("status") or {}
    if _is_terminating(pod):
        return "Terminating"
    if status.get("reason"):
        return status["reason"]
    inits = status.get("initContainerStatuses") or []
    for i, cs in enumerate(inits):
        state = cs.get("state") or {}
        term = state.get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            return f"Init:{term.get('reason') or 'Error'}"
        waiting = state.get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return f"Init:{waiting['reason']}"
        return f"Init:{i}/{len(inits)}"
    text = status.get("phase") or "Pending"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            text = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            text = state["terminated"]["reason"]
    sched = _condition(pod, "PodScheduled")
    if sched and sched.get("status") == "False" and sched.get("reason"):
        text = f"Pending ({sched['reason']})"
    ready = sum(1 for cs in status.get("containerStatuses") or [] if cs.get("ready"))
    total = len((pod.get("spec") or {}).get("containers") or status.get("containerStatuses") or [])
    restarts = sum(cs.get("restartCount", 0) for cs in status.get("containerStatuses") or [])
    extra = f" {ready}/{total}" if total else ""
    return f"{text}{extra}" + (f" restarts={restarts}" if restarts else "")


def isvc_status_text(isvc: dict | None) -> str:
    """READY and the not-ready conditions of an InferenceService, in one line."""
    if not isvc:
        return "InferenceService not found yet"
    conds = (isvc.get("status") or {}).get("conditions") or []
    if not conds:
        return "InferenceService has no status yet (is the KServe controller running?)"
    ready = _condition(isvc, "Ready")
    parts = [f"Ready={ready.get('status') if ready else 'Unknown'}"]
    for cond in conds:
        if cond.get("type") != "Ready" and cond.get("status") != "True":
            why = cond.get("reason") or cond.get("message") or ""
            parts.append(f"{cond.get('type')}={cond.get('status')}" + (f" ({why})" if why else ""))
    return "InferenceService " + ", ".join(parts)


# --- causes from one pod --------------------------------------------------------------------------

def _container_cause(pod: dict, cs: dict, *, init: bool) -> Cause | None:
    name = cs.get("name", "?")
    pod_name = _name(pod)
    state = cs.get("state") or {}
    last = (cs.get("lastState") or {}).get("terminated") or {}
    term = state.get("terminated") or {}
    waiting = state.get("waiting") or {}
    reason = waiting.get("reason")

    # OOMKilled first: a crash loop caused by memory is a memory problem, not a code problem.
    for t, previous in ((term, False), (last, True)):
        if t.get("reason") == "OOMKilled":
            limit = _limit(pod, name, "memory")
            return Cause(
                "oom-killed", f"{name} was OOMKilled" + (f" (memory limit {limit})" if limit else ""),
                message=_exit_text(t), pod=pod_name, container=name,
                # A back-off (waiting) container has no newer instance: its "current" log is the
                # killed run's. Only a container that runs again needs the previous log.
                previous_log=previous and bool(state.get("running")),
                hint=("raise the storage-initializer's memory limit (ClusterStorageContainer) or shrink the model"
                      if name == STORAGE_INITIALIZER else "raise kubernetes.resources.limits.memory"))

    if reason in IMAGE_PULL_REASONS:
        image = cs.get("image") or ""
        return Cause("image-pull", f"image pull failure for {name} ({image})" if image else
                     f"image pull failure for {name}", message=waiting.get("message") or reason, pod=pod_name,
                     hint="check the image name and tag (kubernetes.image / runtime_version, the runtime's "
                          "image) and that the nodes can pull it (registry access, imagePullSecrets)")

    if reason in CONFIG_REASONS:
        return Cause("container-config", f"{name} cannot start ({reason})", message=waiting.get("message"),
                     pod=pod_name, hint="a secret, config map or volume the container needs is missing or wrong")

    failed_term = term if term and term.get("exitCode") not in (0, None) else None
    crash_looping = reason == "CrashLoopBackOff"
    if init and (failed_term or crash_looping):
        t = failed_term or last
        # The waiting (back-off) instance has no log of its own: the last run's log is "previous"
        # only once a newer instance exists, so ask for the current log first (readiness.py falls
        # back to previous when it is empty).
        if name == STORAGE_INITIALIZER:
            return Cause("storage-initializer", f"storage-initializer failed ({_exit_text(t)})",
                         message=t.get("message"), pod=pod_name, container=name,
                         hint="check storage_uri, that the bucket holds config/config.properties and "
                              "model-store/*.mar, and that the service account may read it")
        return Cause("init-container", f"init container {name} failed ({_exit_text(t)})",
                     message=t.get("message"), pod=pod_name, container=name)

    if not init and crash_looping:
        what = f"{name} is in CrashLoopBackOff"
        if last:
            what += f" ({_exit_text(last)}, {cs.get('restartCount', 0)} restarts)"
        return Cause("crash-loop", what, message=last.get("message"), pod=pod_name, container=name,
                     hint="the model server exits at start: read its log (the exception above; "
                          "config.properties, handler or kserve.Model import errors, load() raising, missing "
                          "Python packages, the model file)")
    return None


def _scale_up_events(pod_name: str, events: Iterable[dict]) -> tuple[bool, str | None]:
    """(the autoscaler's latest word is a scale-up, the autoscaler's refusal when that is its latest word)."""
    latest = None
    for ev in sorted(events, key=_event_time):
        if (ev.get("involvedObject") or {}).get("name") == pod_name and \
                ev.get("reason") in SCALE_UP_STARTED | SCALE_UP_REFUSED:
            latest = ev
    if latest is None:
        return False, None
    if latest["reason"] in SCALE_UP_STARTED:
        return True, None
    return False, latest.get("message") or latest["reason"]


def pod_cause(pod: Any, events: Iterable[Any] = (), *, now: dt.datetime | None = None) -> Cause | None:
    """The final cause that keeps this pod from serving, or None while it may still come up.

    Args:
        pod: the pod.
        events: the namespace's events (cluster-autoscaler decisions are read from them).
        now: the current time (tests pass a fixed one).
    """
    pod = plain(pod)
    events = [plain(e) for e in events]
    if _is_terminating(pod):
        return None
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return Cause("pod-failed", f"pod {_name(pod)} failed ({status.get('reason') or 'Failed'})",
                     message=status.get("message"), pod=_name(pod),
                     hint="an evicted pod usually means the node ran out of memory or disk")
    for cs in status.get("initContainerStatuses") or []:
        cause = _container_cause(pod, cs, init=True)
        if cause:
            return cause
    for cs in status.get("containerStatuses") or []:
        cause = _container_cause(pod, cs, init=False)
        if cause:
            return cause
    sched = _condition(pod, "PodScheduled")
    if sched and sched.get("status") == "False" and sched.get("reason") == "Unschedulable":
        triggered, refused = _scale_up_events(_name(pod), events)
        if triggered:
            return None  # a node is on its way
        since = _parse_time(sched.get("lastTransitionTime"))
        now = now or dt.datetime.now(dt.timezone.utc)
        if not refused and since is not None and (now - since).total_seconds() < UNSCHEDULABLE_GRACE_S:
            return None  # an autoscaler may still answer
        message = sched.get("message") or ""
        if refused:
            message = f"{message} (cluster autoscaler: {refused})" if message else refused
        gpu = "nvidia.com/gpu" in message
        return Cause("unschedulable", f"pod {_name(pod)} is unschedulable", message=message or None,
                     pod=_name(pod),
                     hint=("no node has a free GPU: add a GPU node pool (clusters/gke) or lower kubernetes.gpus"
                           if gpu else "no node fits the pod: lower kubernetes.resources or add nodes; "
                                       "check node selectors and taints"))
    return None


# --- causes from events and the InferenceService -------------------------------------------------

def event_cause(events: Iterable[Any]) -> Cause | None:
    """A final cause only events show (pods that are never created, volumes that never mount)."""
    for ev in sorted((plain(e) for e in events), key=_event_time):
        if ev.get("type") != "Warning":
            continue
        reason, message = ev.get("reason"), ev.get("message") or ""
        obj = ev.get("involvedObject") or {}
        if any(marker in message for marker in TRANSIENT_MARKERS):
            continue
        if reason == "FailedCreate" and obj.get("kind") in ("ReplicaSet", "Deployment", "StatefulSet", "Job"):
            hint = ("create the service account named in kubernetes.service_account"
                    if "serviceaccount" in message else "the namespace's quota or admission policy refused the pod")
            return Cause("create-failed", "predictor pods cannot be created", message=message, hint=hint)
        if reason == "FailedMount" and "not found" in message:
            return Cause("mount-failed", f"pod {obj.get('name')} cannot mount a volume", message=message,
                         pod=obj.get("name"), hint="create the secret or config map it names")
        if reason == "InternalError" and obj.get("kind") == "InferenceService":
            return Cause("kserve-controller", "KServe cannot reconcile the InferenceService", message=message,
                         hint="the KServe controller rejected the spec; see its message (runtime, storage URI, "
                              "deployment mode)")
    return None


def _event_time(ev: dict) -> str:
    return ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp") or ""


def isvc_cause(isvc: Any, *, need_url: bool, now: dt.datetime | None = None) -> Cause | None:
    """A final cause from the InferenceService's own status."""
    isvc = plain(isvc)
    if not isvc:
        return None
    status = isvc.get("status") or {}
    failure = (status.get("modelStatus") or {}).get("lastFailureInfo") or {}
    if failure.get("reason") in MODEL_FAILURE_REASONS:
        hint = {"NoSupportingRuntime": "install the kserve-torchserve ClusterServingRuntime or set kubernetes.runtime",
                "RuntimeNotRecognized": "kubernetes.runtime names a runtime that does not exist",
                "RuntimeDisabled": "the runtime is disabled in the cluster"}.get(failure["reason"])
        return Cause("model-status", f"KServe reports {failure['reason']}", message=failure.get("message"),
                     hint=hint)
    for ctype in ("PredictorReady", "Ready"):
        cond = _condition(isvc, ctype)
        if cond and cond.get("status") == "False" and cond.get("reason") in FINAL_CONDITION_REASONS:
            return Cause("predictor", f"{ctype} is False ({cond['reason']})", message=cond.get("message"))
    if need_url:
        now = now or dt.datetime.now(dt.timezone.utc)
        predictor = _condition(isvc, "PredictorReady")
        since = _parse_time((predictor or {}).get("lastTransitionTime"))
        settled = _is_true(predictor) and since is not None and (now - since).total_seconds() > INGRESS_GRACE_S
        ingress = _condition(isvc, "IngressReady")
        if settled and ingress and ingress.get("status") == "False":
            why = " ".join(x for x in (ingress.get("reason"), ingress.get("message")) if x)
            return Cause("ingress", "ingress not configured: the predictor is ready but IngressReady is False",
                         message=why or None,
                         hint="configure KServe's ingress (ingressClassName or Gateway API) or use "
                              "kubernetes.ingress: port-forward")
        if settled and not status.get("url"):
            return Cause("no-url", "no URL: the predictor is ready but the InferenceService has no status.url",
                         hint="KServe exposes no route for it (ingress creation disabled?); use "
                              "kubernetes.ingress: port-forward")
    return None


# --- the verdict ----------------------------------------------------------------------------------

def diagnose(isvc: Any, pods: Iterable[Any], events: Iterable[Any] = (), *, need_url: bool = False,
             need_pod: bool = True, now: dt.datetime | None = None) -> Verdict:
    """Ready, failed (with a named cause) or pending, from one consistent look at the cluster.

    Args:
        isvc: the InferenceService (None when not created yet).
        pods: its pods (label serving.kserve.io/inferenceservice=NAME).
        events: the namespace's events.
        need_url: readiness needs status.url (reaching it through the ingress).
        need_pod: readiness needs a Ready pod to port-forward to.
        now: the current time (tests pass a fixed one).
    """
    isvc = plain(isvc)
    pods = [plain(p) for p in pods]
    events = [plain(e) for e in events]
    live = [p for p in pods if not _is_terminating(p)]
    url = ((isvc or {}).get("status") or {}).get("url") or None
    summary = "; ".join([isvc_status_text(isvc)] + [f"pod {_name(p)}: {pod_status_text(p)}" for p in live])

    ready_pod = next((_name(p) for p in live if pod_ready(p)), None)
    isvc_ready = _is_true(_condition(isvc, "Ready"))
    predictor_ready = _is_true(_condition(isvc, "PredictorReady"))
    warnings: list[str] = []
    if need_url:
        if isvc_ready and url and (ready_pod or not need_pod):
            return Verdict("ready", summary, pod=ready_pod, url=url)
    elif (isvc_ready or predictor_ready) and (ready_pod or not need_pod):
        if not isvc_ready:
            warnings.append(f"reached by port-forward although the InferenceService is not Ready: "
                            f"{isvc_status_text(isvc)}")
        return Verdict("ready", summary, pod=ready_pod, url=url, warnings=tuple(warnings))

    for pod in live:
        cause = pod_cause(pod, events, now=now)
        if cause:
            return Verdict("failed", summary, cause=cause, url=url)
    cause = event_cause(events) or isvc_cause(isvc, need_url=need_url, now=now)
    if cause and cause.code == "model-status" and live and _model_load_failed(isvc):
        # KServe derives ModelLoadFailed from these pods' containers, already on the first crash,
        # and never clears it; the pod causes above name the same failure once it is final
        # (storage-initializer failed, CrashLoopBackOff, OOMKilled), with the container's log.
        cause = None
    if cause:
        return Verdict("failed", summary, cause=cause, url=url)
    return Verdict("pending", summary, url=url)


def _model_load_failed(isvc: dict | None) -> bool:
    failure = (((isvc or {}).get("status") or {}).get("modelStatus") or {}).get("lastFailureInfo") or {}
    return failure.get("reason") == "ModelLoadFailed"

"""Save what a person would look at with kubectl, before the namespace is deleted.

Flow: `collect(kube, namespace, dest)` writes under dest/<namespace>/:
  inferenceservices.yaml   every InferenceService, spec and status (`kubectl get isvc -o yaml`)
  pods/<pod>.yaml          the pod with status and its own events
  pods/<pod>.describe.txt  the `kubectl describe pod` essentials: containers (init first), states,
                           last states, exit codes, restarts, limits, conditions, events
  events.yaml, events.txt  all events of the namespace, oldest first
  logs/<pod>/<container>.log and <container>.previous.log (after a restart), init containers too
  errors.txt               anything that could not be collected, and why
A failed API call never stops collection: it is written to errors.txt and the rest still runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import yaml

from harness.kube.api import Kube, api_error_text
from harness.kube.causes import pod_status_text

LOG_LIMIT_BYTES = 5 * 1024 * 1024


def _dump(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _event_time(ev: dict) -> str:
    return ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp") or ""


def events_table(events: list[dict]) -> str:
    """Events as `kubectl get events` prints them (oldest first)."""
    rows = ["LAST SEEN\tTYPE\tREASON\tOBJECT\tCOUNT\tMESSAGE"]
    for ev in sorted(events, key=_event_time):
        obj = ev.get("involvedObject") or {}
        rows.append("\t".join(str(x) for x in (
            _event_time(ev), ev.get("type"), ev.get("reason"), f"{(obj.get('kind') or '').lower()}/{obj.get('name')}",
            ev.get("count") or 1, (ev.get("message") or "").replace("\n", " "))))
    return "\n".join(rows) + "\n"


def _state_text(state: dict | None) -> str:
    state = state or {}
    for key in ("running", "waiting", "terminated"):
        if key in state and state[key] is not None:
            s = state[key]
            bits = [key.capitalize()]
            for field in ("reason", "exitCode", "signal", "message", "startedAt", "finishedAt"):
                if s.get(field) not in (None, ""):
                    bits.append(f"{field}={s[field]}")
            return " ".join(bits)
    return "-"


def describe_pod(pod: dict, events: list[dict]) -> str:
    """The parts of `kubectl describe pod` that explain a failed start."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    lines = [f"Name:         {meta.get('name')}", f"Namespace:    {meta.get('namespace')}",
             f"Node:         {spec.get('nodeName') or '<none>'}", f"Status:       {pod_status_text(pod)}",
             f"Phase:        {status.get('phase')}", f"Service account: {spec.get('serviceAccountName')}",
             f"Labels:       {meta.get('labels') or {}}"]
    if status.get("reason") or status.get("message"):
        lines.append(f"Reason:       {status.get('reason')}: {status.get('message')}")
    statuses = {("init", cs.get("name")): cs for cs in status.get("initContainerStatuses") or []}
    statuses.update({("main", cs.get("name")): cs for cs in status.get("containerStatuses") or []})
    for title, kind, containers in (("Init Containers", "init", spec.get("initContainers") or []),
                                    ("Containers", "main", spec.get("containers") or [])):
        if not containers:
            continue
        lines.append(f"{title}:")
        for c in containers:
            cs = statuses.get((kind, c.get("name")), {})
            lines += [f"  {c.get('name')}:", f"    Image:          {c.get('image')}",
                      f"    Args:           {c.get('args') or []}",
                      f"    Ports:          {[p.get('containerPort') for p in c.get('ports') or []]}",
                      f"    State:          {_state_text(cs.get('state'))}",
                      f"    Last State:     {_state_text(cs.get('lastState'))}",
                      f"    Ready:          {cs.get('ready')}", f"    Restart Count:  {cs.get('restartCount', 0)}",
                      f"    Limits:         {(c.get('resources') or {}).get('limits') or {}}",
                      f"    Requests:       {(c.get('resources') or {}).get('requests') or {}}"]
            env = [e for e in c.get("env") or [] if "value" in e]
            if env:
                lines.append("    Environment:    " + ", ".join(f"{e['name']}={e['value']}" for e in env))
    lines.append("Conditions:")
    for cond in status.get("conditions") or []:
        extra = " ".join(x for x in (cond.get("reason"), cond.get("message")) if x)
        lines.append(f"  {cond.get('type')}={cond.get('status')}" + (f" ({extra})" if extra else ""))
    if spec.get("nodeSelector"):
        lines.append(f"Node-Selectors: {spec['nodeSelector']}")
    if spec.get("tolerations"):
        lines.append(f"Tolerations:  {spec['tolerations']}")
    lines.append("Events:")
    lines += ["  " + row for row in events_table(events).splitlines()]
    return "\n".join(lines) + "\n"


def _ran(cs: dict, previous: bool) -> bool:
    if previous:
        return bool((cs.get("lastState") or {}).get("terminated"))
    state = cs.get("state") or {}
    return bool(state.get("running") or state.get("terminated")) or cs.get("restartCount", 0) > 0


def collect(kube: Kube, namespace: str, dest: Path) -> list[Path]:
    """Save the namespace's InferenceServices, pods, events and container logs under dest/<namespace>/.

    Args:
        kube: API access.
        namespace: the run's namespace.
        dest: the report's diagnostics folder.

    Returns:
        The files written (errors.txt among them when something could not be collected).
    """
    root = Path(dest) / namespace
    written: list[Path] = []
    errors: list[str] = []

    def write(rel: str, text: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)

    def attempt(what: str, fn: Callable[[], Any], default: Any = None) -> Any:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - diagnostics are best effort, failures are recorded
            errors.append(f"{what}: {api_error_text(exc)}")
            return default

    isvcs = attempt("list inferenceservices", lambda: kube.list_isvcs(namespace).get("items") or [], [])
    if isvcs:
        write("inferenceservices.yaml", _dump_all(isvcs))
    events = attempt("list events", lambda: kube.list_events(namespace).get("items") or [], [])
    events = sorted(events, key=_event_time)
    write("events.yaml", _dump(events))
    write("events.txt", events_table(events))
    pods = attempt("list pods", lambda: kube.list_pods(namespace).get("items") or [], [])
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "unknown")
        uid = (pod.get("metadata") or {}).get("uid")
        own = [e for e in events if (e.get("involvedObject") or {}).get("kind") == "Pod"
               and ((e.get("involvedObject") or {}).get("uid") == uid or (e.get("involvedObject") or {}).get("name") == name)]
        write(f"pods/{name}.yaml", _dump({"pod": pod, "events": own}))
        write(f"pods/{name}.describe.txt", describe_pod(pod, own))
        status = pod.get("status") or {}
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            container = cs.get("name")
            for previous in (False, True):
                if not _ran(cs, previous):
                    continue
                suffix = ".previous.log" if previous else ".log"
                text = attempt(f"logs {name}/{container}{' (previous)' if previous else ''}",
                               lambda c=container, p=previous: kube.pod_log(namespace, name, c, previous=p,
                                                                            limit_bytes=LOG_LIMIT_BYTES))
                if text is not None:
                    write(f"logs/{name}/{container}{suffix}", text)
    if errors:
        write("errors.txt", "\n".join(errors) + "\n")
    return written


def _dump_all(objs: list[dict]) -> str:
    return yaml.safe_dump_all(objs, sort_keys=False, default_flow_style=False, allow_unicode=True)

"""Server-side printing (meta.k8s.io/v1 Table) of the FAKE Kubernetes API server, for pods.

`kubectl get` asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...`; a real
server answers a Table whose rows hold the cells kubectl prints. For pods the fake sends the
real columns (NAME READY STATUS RESTARTS AGE), with STATUS worked out as kubectl's pod printer
does (Init:i/n, a waiting or terminated reason, Terminating); every other type gets plain JSON,
which kubectl prints as NAME AGE, as it does for a server that ignores as=Table.
"""
from __future__ import annotations

from datetime import datetime, timezone

_COLUMNS = [("Name", "string", "name"), ("Ready", "string", ""), ("Status", "string", ""),
            ("Restarts", "string", ""), ("Age", "string", "")]


def wants_table(accept: str | None) -> bool:
    return "as=Table" in (accept or "")


def age(timestamp: str | None, now: datetime | None = None) -> str:
    """kubectl's short age ("42s", "3m12s", "5h", "2d") of an RFC 3339 timestamp."""
    if not timestamp:
        return "<unknown>"
    then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    s = max(0, int(((now or datetime.now(timezone.utc)) - then).total_seconds()))
    if s < 120:
        return f"{s}s"
    if s < 600:
        return f"{s // 60}m{s % 60}s" if s % 60 else f"{s // 60}m"
    if s < 3 * 3600:
        return f"{s // 60}m"
    if s < 8 * 3600:
        return f"{s // 3600}h{s % 3600 // 60}m" if s % 3600 // 60 else f"{s // 3600}h"
    return f"{s // 3600}h" if s < 48 * 3600 else f"{s // 86400}d"


def _pod_status(pod: dict) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    inits = status.get("initContainerStatuses") or []
    for i, cs in enumerate(inits):
        state = cs.get("state") or {}
        if "terminated" in state and state["terminated"].get("exitCode", 0) == 0:
            continue
        if "terminated" in state:
            return "Init:" + (state["terminated"].get("reason") or "Error")
        waiting = (state.get("waiting") or {}).get("reason")
        return f"Init:{waiting}" if waiting and waiting != "PodInitializing" else f"Init:{i}/{len(inits)}"
    for cs in reversed(status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    return "Terminating" if pod["metadata"].get("deletionTimestamp") else reason


def _pod_cells(pod: dict) -> list:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    total = len((pod.get("spec") or {}).get("containers") or [])
    restarts = sum(cs.get("restartCount", 0) for cs in statuses)
    return [pod["metadata"]["name"], f"{ready}/{total}", _pod_status(pod), str(restarts),
            age(pod["metadata"].get("creationTimestamp"))]


def pod_table(pod_list: dict) -> dict:
    """A Table for a PodList (rows carry PartialObjectMetadata, kubectl's default includeObject)."""
    rows = [{"cells": _pod_cells(p),
             "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": p["metadata"]}}
            for p in pod_list["items"]]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": pod_list["metadata"],
            "columnDefinitions": [{"name": n, "type": t, "format": f, "description": "", "priority": 0}
                                  for n, t, f in _COLUMNS],
            "rows": rows}

"""The per-run namespace: created labelled, deleted by name, swept by label when a run died.

Flow: `create_run_namespace` makes kh-<run id>-<scenario> with the run-id label (so a killed run
leaves something findable); `delete_namespace` removes it and, optionally, waits until it is
gone; `keep_namespace` marks a failed scenario's namespace so the sweep leaves it for a person;
`sweep_orphans` deletes labelled namespaces older than a cut-off that belong to other runs.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Iterable

from kubernetes.client.exceptions import ApiException

from harness.errors import EnvironmentProblem
from harness.kube.api import Kube, api_error_text, is_conflict
from harness.kube.naming import KEPT_LABEL, RUN_ID_LABEL, label_value, namespace_name, run_labels


def create_run_namespace(kube: Kube, run_id: str, scenario_name: str) -> str:
    """Create the namespace for one scenario of one run; return its name.

    Raises:
        EnvironmentProblem: the API server refused (RBAC, a namespace of that name that belongs
            to something else, an unreachable server).
    """
    name = namespace_name(run_id, scenario_name)
    labels = run_labels(run_id, scenario_name)
    try:
        kube.create_namespace(name, labels)
    except ApiException as exc:
        if is_conflict(exc):
            existing = kube.get_namespace(name) or {}
            owner = ((existing.get("metadata") or {}).get("labels") or {}).get(RUN_ID_LABEL)
            if owner == labels[RUN_ID_LABEL] and not (existing.get("metadata") or {}).get("deletionTimestamp"):
                return name  # this run made it already (a retried deploy)
            raise EnvironmentProblem(
                f"namespace {name} already exists" + (" and is being deleted" if owner else " and is not ours"),
                where=name, hint="use a new run id, or wait for the old namespace to disappear") from exc
        raise EnvironmentProblem(f"cannot create namespace {name}: {api_error_text(exc)}", where=name,
                                 hint="the kubeconfig's user needs to create namespaces (RBAC)") from exc
    return name


def keep_namespace(kube: Kube, name: str) -> None:
    """Mark a failed scenario's namespace as kept (--keep-on-fail), so sweeps leave it alone."""
    kube.label_namespace(name, {KEPT_LABEL: "true"})


def delete_namespace(kube: Kube, name: str, *, wait_s: float = 0.0, poll_s: float = 1.0) -> bool:
    """Delete a namespace; with `wait_s`, wait (monotonic deadline) until it is gone.

    Returns:
        True when it is gone (or was already), False when it still exists after `wait_s`.
    """
    kube.delete_namespace(name)
    deadline = time.monotonic() + wait_s
    while True:
        if kube.get_namespace(name) is None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


def _created(ns: dict) -> dt.datetime | None:
    stamp = (ns.get("metadata") or {}).get("creationTimestamp")
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


def sweep_orphans(kube: Kube, *, older_than_s: float = 3600.0, exclude_run_id: str | None = None,
                  include_kept: bool = False, run_ids: Iterable[str] | None = None,
                  now: dt.datetime | None = None) -> list[str]:
    """Delete namespaces that killed runs left behind (found by the run-id label).

    Args:
        kube: API access.
        older_than_s: only namespaces created longer ago than this (a run in progress elsewhere
            is younger than its own deadline).
        exclude_run_id: never touch this run's namespaces (the caller's own).
        include_kept: also delete namespaces kept by --keep-on-fail.
        run_ids: only namespaces of these runs (default: every run's).
        now: the current time (tests pass a fixed one).

    Returns:
        The namespaces whose deletion was started.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = now - dt.timedelta(seconds=older_than_s)
    own = label_value(exclude_run_id) if exclude_run_id else None
    only = {label_value(r) for r in run_ids} if run_ids is not None else None
    deleted = []
    for ns in kube.list_namespaces(RUN_ID_LABEL):
        meta = ns.get("metadata") or {}
        labels = meta.get("labels") or {}
        created = _created(ns)
        if meta.get("deletionTimestamp") or created is None or created > cutoff:
            continue
        if own and labels.get(RUN_ID_LABEL) == own:
            continue
        if only is not None and labels.get(RUN_ID_LABEL) not in only:
            continue
        if labels.get(KEPT_LABEL) == "true" and not include_kept:
            continue
        if kube.delete_namespace(meta["name"]):
            deleted.append(meta["name"])
    return deleted

"""The FAKE Kubernetes object store: what etcd plus the API server's registry logic would do.

Flow: every write (from HTTP handlers or from Python, e.g. a fake controller) goes through one
re-entrant lock: validate -> build the new object (server-owned metadata kept) -> bump the
global resourceVersion -> store -> append a `StoreEvent` to a bounded history -> hand it to
every sink (HTTP watches, Python subscriptions). Reads return deep copies, so no caller can
change stored state behind the store's back.

Real semantics kept on purpose (clients written against a real cluster should not be
surprised): 201/409/404/422 rules, no-op updates do not bump resourceVersion, optimistic
concurrency on resourceVersion, status subresource isolation, metadata.generation on spec
changes, finalizers delay deletion, ownerReference garbage collection, namespace lifecycle
(create in a missing or terminating namespace fails; deleting one deletes its contents).
Simplifications: deletion is immediate (no grace periods), strategic merge == merge patch,
no admission, no defaulting beyond a few fields clients read back.
"""
from __future__ import annotations

import base64
import copy
import random
import re
import threading
import uuid
from collections import deque
from datetime import datetime, timezone
from typing import Any, Callable, Union

from tests.fakes import kube_errors as errors
from tests.fakes.kube_logs import ContainerLog, LogLine, render
from tests.fakes.kube_patch import MERGE, apply_patch
from tests.fakes.kube_resources import ResourceRegistry, ResourceType
from tests.fakes.kube_selectors import Selector
from tests.fakes.kube_watch import (
    ADDED, DELETED, MODIFIED, Listener, Sink, StoreEvent, Subscription, WatchFilter,
)

Resource = Union[str, ResourceType]
Address = tuple[str, int]

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what apiserver's generateName uses


def now_rfc3339() -> str:
    """Seconds-precision UTC timestamp, the format of metadata.creationTimestamp."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(obj: dict) -> dict:
    return obj.setdefault("metadata", {})


def _without(obj: dict, *top_keys: str) -> dict:
    return {k: v for k, v in obj.items() if k not in top_keys}


class FakeKubeStore:
    """Thread-safe in-memory store behind the FAKE Kubernetes API server.

    Resources are named like kubectl does: "pods", "namespaces", "events",
    "inferenceservices.serving.kserve.io", or given as a `ResourceType`. Every method raises
    `FakeKubeError` (with the real API's code and reason) where a real API server would fail.

    Args:
        registry: resource types; the built-in one knows core v1, apps/v1 and KServe types.
        history: how many past events a watch can resume from (older: 410 Expired).
    """

    def __init__(self, registry: ResourceRegistry | None = None, history: int = 10_000) -> None:
        self.registry = registry or ResourceRegistry()
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        self._rv = 0
        self._history: deque[StoreEvent] = deque(maxlen=history)
        self._sinks: dict[int, Sink] = {}
        self._next_sink = 0
        self._logs: dict[tuple[str, str, str], ContainerLog] = {}
        self._forwards: dict[tuple[str, str, int], Address] = {}
        # Simulated (rule, not timing): a slow port-forward tunnel holds each chunk it returns this long.
        self.port_forward_delay_s = 0.0
        for ns in DEFAULT_NAMESPACES:
            self.create("namespaces", {"metadata": {"name": ns}})

    # ----------------------------------------------------------------- reads

    @property
    def resource_version(self) -> int:
        """The current global resourceVersion (the last committed change)."""
        with self._lock:
            return self._rv

    def resolve(self, resource: Resource) -> ResourceType:
        """The `ResourceType` for a name like "pods" or "inferenceservices.serving.kserve.io"."""
        try:
            return self.registry.resolve(resource)
        except KeyError as e:
            raise errors.page_not_found() from e

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> dict:
        """A deep copy of one object.

        Raises:
            FakeKubeError: 404 NotFound.
        """
        rtype = self.resolve(resource)
        with self._lock:
            return copy.deepcopy(self._require(rtype, self._ns(rtype, namespace), name))

    def list(self, resource: Resource, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None) -> list[dict]:
        """Deep copies of matching objects, sorted by (namespace, name); namespace None: all."""
        return self.list_with_version(resource, namespace, label_selector, field_selector)[0]

    def list_with_version(self, resource: Resource, namespace: str | None = None,
                          label_selector: str | None = None, field_selector: str | None = None,
                          ) -> tuple[list[dict], int]:
        """Like `list`, plus the resourceVersion the list was taken at (for a following watch)."""
        rtype = self.resolve(resource)
        selector = Selector(label_selector, field_selector)
        with self._lock:
            bucket = self._objects.get(rtype.key, {})
            items = [copy.deepcopy(obj) for (ns, _), obj in sorted(bucket.items())
                     if (namespace is None or ns == namespace) and selector.matches(obj)]
            return items, self._rv

    # ---------------------------------------------------------------- writes

    def create(self, resource: Resource, obj: dict, namespace: str | None = None,
               *, dry_run: bool = False) -> dict:
        """Create an object (POST semantics) and return it as stored.

        Status is dropped for types with a status subresource, as a real server does; set it
        afterwards with `set_status`. `metadata.generateName` works.

        Raises:
            FakeKubeError: 409 AlreadyExists, 404 (namespace missing), 403 (namespace
                terminating), 422 (bad name), 400 (namespace mismatch).
        """
        rtype = self.registry.learn_kind(self.resolve(resource), obj.get("kind"))
        new = copy.deepcopy(obj)
        meta = _meta(new)
        with self._lock:
            ns = self._create_namespace_of(rtype, meta, namespace)
            name = meta.get("name") or self._generate_name(rtype, ns, meta.get("generateName"))
            self._validate_name(rtype, name)
            if (ns, name) in self._objects.get(rtype.key, {}):
                raise errors.already_exists(rtype.plural, rtype.group, name)
            new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
            meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
            for server_owned in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion",
                                 "selfLink", "managedFields"):
                meta.pop(server_owned, None)
            if rtype.namespaced:
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            if rtype.status_subresource:
                new.pop("status", None)
            _defaults_on_create(rtype, new)
            if dry_run:
                return new
            self._commit(rtype, ADDED, new, None)
            return copy.deepcopy(new)

    def update(self, resource: Resource, obj: dict, namespace: str | None = None,
               *, subresource: str | None = None, dry_run: bool = False) -> dict:
        """Replace an object (PUT semantics) and return it as stored.

        With `subresource="status"` only `.status` changes; otherwise `.status` is kept from the
        stored object (for types with a status subresource). If `metadata.resourceVersion` is
        given it must equal the stored one.

        Raises:
            FakeKubeError: 404 NotFound, 409 Conflict (stale resourceVersion), 422 (custom
                resource updated without metadata.resourceVersion).
        """
        rtype = self.resolve(resource)
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            raise errors.invalid(rtype.kind, rtype.group, "", "metadata.name", "Required value: name is required")
        with self._lock:
            ns = self._ns(rtype, namespace if namespace is not None else (obj.get("metadata") or {}).get("namespace"))
            current = self._require(rtype, ns, name)
            given_rv = (obj.get("metadata") or {}).get("resourceVersion")
            if given_rv in (None, "") and not rtype.unconditional_update:
                raise errors.invalid(rtype.kind, rtype.group, name, "metadata.resourceVersion",
                                     "Invalid value: 0x0: must be specified for an update")
            return self._replace(rtype, current, copy.deepcopy(obj), subresource, given_rv, dry_run)

    def patch(self, resource: Resource, name: str, patch: Any, namespace: str | None = None,
              *, patch_type: str = MERGE, subresource: str | None = None, dry_run: bool = False,
              create_missing: bool = False) -> dict:
        """Patch an object and return it as stored.

        Args:
            patch_type: "merge" (merge patch; strategic merge is treated the same) or "json"
                (RFC 6902 operations list).
            subresource: "status" to patch only `.status`.
            create_missing: create the object from the patch if it does not exist (server-side
                apply does this).

        Raises:
            FakeKubeError: 404 NotFound, 409 Conflict (patch carries a stale resourceVersion),
                422 (a JSON patch operation failed).
        """
        rtype = self.resolve(resource)
        with self._lock:
            ns = self._ns(rtype, namespace)
            existing = self._objects.get(rtype.key, {}).get((ns, name))
            if existing is None and create_missing and subresource is None:
                body = copy.deepcopy(patch)
                _meta(body)["name"] = name
                return self.create(rtype, body, ns if rtype.namespaced else None, dry_run=dry_run)
            current = self._require(rtype, ns, name)
            patched = apply_patch(current, patch, patch_type)
            given_rv = _meta(patched).get("resourceVersion")
            _meta(patched)["name"] = name
            return self._replace(rtype, current, patched, subresource, given_rv, dry_run)

    def set_status(self, resource: Resource, name: str, status: dict, namespace: str | None = None) -> dict:
        """Replace `.status` wholesale (like PUT on the status subresource, no RV check)."""
        rtype = self.resolve(resource)
        with self._lock:
            stored = self._require(rtype, self._ns(rtype, namespace), name)
            new = copy.deepcopy(stored)
            new["status"] = copy.deepcopy(status)
            return self._replace(rtype, stored, new, "status", None, False)

    def patch_status(self, resource: Resource, name: str, patch: dict, namespace: str | None = None) -> dict:
        """Merge-patch `.status` (like PATCH on the status subresource); `patch` is the status part."""
        return self.patch(resource, name, {"status": patch}, namespace, subresource="status")

    def delete(self, resource: Resource, name: str, namespace: str | None = None, *,
               preconditions: dict | None = None, propagation_policy: str | None = None,
               dry_run: bool = False) -> dict:
        """Delete an object and return its last state.

        With finalizers the object stays, with `metadata.deletionTimestamp` set, until an update
        empties `metadata.finalizers`. Dependents (by ownerReferences) are garbage-collected,
        or orphaned with `propagation_policy="Orphan"`. Deleting a namespace marks it
        Terminating, deletes all its contents, then removes it once it is empty.

        Raises:
            FakeKubeError: 404 NotFound, 409 Conflict (precondition failed, or namespace already
                terminating), 403 (a system namespace).
        """
        rtype = self.resolve(resource)
        with self._lock:
            ns = self._ns(rtype, namespace)
            current = self._require(rtype, ns, name)
            _check_preconditions(rtype, current, preconditions or {})
            if dry_run:
                return copy.deepcopy(current)
            if rtype.key == ("", "namespaces"):
                return self._delete_namespace(rtype, current)
            return copy.deepcopy(self._delete(rtype, current, propagation_policy))

    def delete_collection(self, resource: Resource, namespace: str | None = None,
                          label_selector: str | None = None, field_selector: str | None = None) -> list[dict]:
        """Delete every matching object; returns their last states."""
        rtype = self.resolve(resource)
        with self._lock:
            return [self.delete(rtype, o["metadata"]["name"], o["metadata"].get("namespace"))
                    for o in self.list(rtype, namespace, label_selector, field_selector)]

    # ------------------------------------------------------- events and logs

    def emit_event(self, involved: dict, reason: str, message: str, *, type: str = "Normal",
                   component: str = "fake-kserve-controller") -> dict:
        """Record a core/v1 Event about `involved` (a stored object); repeats bump `count`.

        Args:
            involved: the object the event is about (needs kind/apiVersion/metadata).
            reason: short CamelCase reason ("InferenceServiceReady", "FailedMount").
            message: human message.
            type: "Normal" or "Warning".
            component: the reporting component (`source.component`).
        """
        meta = involved.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        ref = {"kind": involved.get("kind"), "namespace": meta.get("namespace"), "name": meta.get("name"),
               "uid": meta.get("uid"), "apiVersion": involved.get("apiVersion"),
               "resourceVersion": meta.get("resourceVersion")}
        ref = {k: v for k, v in ref.items() if v}
        now = now_rfc3339()
        with self._lock:
            for existing in self.list("events", ns):
                same = existing.get("involvedObject", {}).get("uid") == ref.get("uid")
                if same and (existing.get("reason"), existing.get("message"), existing.get("type")) == (reason, message, type):
                    return self.patch("events", existing["metadata"]["name"],
                                      {"count": existing.get("count", 1) + 1, "lastTimestamp": now}, ns)
            event = {
                "metadata": {"name": f"{meta.get('name', 'object')}.{uuid.uuid4().hex[:16]}", "namespace": ns},
                "involvedObject": ref, "reason": reason, "message": message, "type": type,
                "source": {"component": component}, "reportingComponent": component,
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            }
            return self.create("events", event, ns)

    def append_log(self, namespace: str, pod: str, container: str, text: str) -> None:
        """Append text (one or more lines) to a container's current log."""
        with self._lock:
            self._logs.setdefault((namespace, pod, container), ContainerLog()).append(text)

    def rotate_container_log(self, namespace: str, pod: str, container: str) -> None:
        """The container restarted: its current log becomes `previous=true`, a new one starts."""
        with self._lock:
            self._logs.setdefault((namespace, pod, container), ContainerLog()).rotate()

    def read_log(self, namespace: str, pod: str, container: str | None = None, *, previous: bool = False,
                 tail_lines: int | None = None, since_seconds: int | None = None, timestamps: bool = False,
                 limit_bytes: int | None = None) -> str:
        """What `GET pods/{pod}/log` returns, with the kubelet's 400s for a bad container choice.

        Raises:
            FakeKubeError: 404 (no pod), 400 (container missing/unknown/waiting, no previous log).
        """
        with self._lock:
            obj = self._require(self.resolve("pods"), namespace, pod)
            name = _pick_container(obj, container)
            entry = self._logs.get((namespace, pod, name))
            if previous:
                if entry is None or entry.previous is None:
                    raise errors.bad_request(f'previous terminated container "{name}" in pod "{pod}" not found')
                lines = list(entry.previous)
            else:
                waiting = _waiting_reason(obj, name)
                if waiting and (entry is None or not entry.current):
                    raise errors.bad_request(f'container "{name}" in pod "{pod}" is waiting to start: {waiting}')
                lines = list(entry.current) if entry else []
        return render(lines, tail_lines=tail_lines, since_seconds=since_seconds,
                      timestamps=timestamps, limit_bytes=limit_bytes)

    def log_snapshot(self, namespace: str, pod: str, container: str) -> tuple[list[LogLine], bool]:
        """All current lines of a container, and whether more may come (pod there, not terminated)."""
        with self._lock:
            entry = self._logs.get((namespace, pod, container))
            lines = list(entry.current) if entry else []
            obj = self._objects.get(("", "pods"), {}).get((namespace, pod))
            return lines, obj is not None and not _terminated(obj, container)

    # ---------------------------------------------------------- port-forward

    def set_port_forward(self, namespace: str, pod: str, port: int, address: Address) -> None:
        """Make `port` of `pod` answer port-forwards by connecting to `address` (host, port)."""
        with self._lock:
            self._forwards[(namespace, pod, int(port))] = (address[0], int(address[1]))

    def clear_port_forward(self, namespace: str, pod: str, port: int) -> None:
        with self._lock:
            self._forwards.pop((namespace, pod, int(port)), None)

    def port_forward_target(self, namespace: str, pod: str, port: int) -> Address | None:
        """The address registered for this pod port, or None."""
        with self._lock:
            return self._forwards.get((namespace, pod, int(port)))

    # ----------------------------------------------------------- subscribing

    def subscribe(self, resource: Resource | None = None, namespace: str | None = None, *,
                  label_selector: str | None = None, field_selector: str | None = None,
                  send_initial: bool = False) -> Subscription:
        """A queue of future changes (optionally preceded by ADDED for what exists now).

        Args:
            resource: one resource type, or None for all.
            namespace: one namespace, or None for all.
            send_initial: first deliver a synthetic ADDED per existing matching object.
        """
        sub = Subscription(self._filter(resource, namespace, label_selector, field_selector))
        self._attach(sub, send_initial)
        return sub

    def add_listener(self, callback: Callable[[StoreEvent], None], resource: Resource | None = None,
                     namespace: str | None = None, *, label_selector: str | None = None,
                     field_selector: str | None = None, send_initial: bool = False) -> Listener:
        """Call `callback(event)` for each change, in order, on a dedicated thread; close() to stop."""
        listener = Listener(self._filter(resource, namespace, label_selector, field_selector), callback)
        self._attach(listener, send_initial)
        return listener.start()

    def open_watch(self, watch_filter: WatchFilter, resource_version: str | None,
                   sink: Sink) -> tuple[list[StoreEvent], Callable[[], None]]:
        """Register a raw sink (called under the store lock, must not block) for a watch.

        Returns the events to send first and an unsubscribe function, taken atomically so no
        change falls between them. `resource_version` None or "0": synthetic ADDED for the
        current state; "N": every change after N (410 Expired if N predates the history).
        """
        with self._lock:
            if resource_version in (None, "", "0"):
                initial = self._initial_events(watch_filter)
            else:
                initial = self._events_since(watch_filter, resource_version)
            return initial, self._add_sink(sink)

    # -------------------------------------------------------------- internals

    def _filter(self, resource, namespace, label_selector, field_selector) -> WatchFilter:
        key = self.resolve(resource).key if resource is not None else None
        return WatchFilter(key, namespace, Selector(label_selector, field_selector))

    def _attach(self, sub: Subscription, send_initial: bool) -> None:
        with self._lock:
            if send_initial:
                for event in self._initial_events(sub.filter):
                    sub._deliver(event)
            sub._unsubscribe = self._add_sink(sub._deliver)

    def _add_sink(self, sink: Sink) -> Callable[[], None]:
        with self._lock:
            sink_id = self._next_sink
            self._next_sink += 1
            self._sinks[sink_id] = sink

        def unsubscribe() -> None:
            with self._lock:
                self._sinks.pop(sink_id, None)
        return unsubscribe

    def _initial_events(self, watch_filter: WatchFilter) -> list[StoreEvent]:
        out = []
        for key, bucket in self._objects.items():
            for (ns, name), obj in sorted(bucket.items()):
                if watch_filter.wants_object(key, obj):
                    rv = int(obj["metadata"]["resourceVersion"])
                    out.append(StoreEvent(ADDED, key[0], key[1], ns, name, rv, obj))
        return sorted(out, key=lambda e: e.resource_version)

    def _events_since(self, watch_filter: WatchFilter, resource_version: str) -> list[StoreEvent]:
        try:
            since = int(resource_version)
        except ValueError:
            raise errors.bad_request(f"invalid resource version {resource_version!r}") from None
        oldest = self._history[0].resource_version if self._history else self._rv + 1
        if since < oldest - 1:
            raise errors.expired(resource_version, oldest)
        seen = (watch_filter.translate(e) for e in self._history if e.resource_version > since)
        return [e for e in seen if e is not None]

    def _commit(self, rtype: ResourceType, kind: str, obj: dict, old: dict | None) -> StoreEvent:
        """Bump the resourceVersion, store (or drop, for DELETED) `obj`, and publish the change."""
        self._rv += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._rv)
        ns = meta.get("namespace", "") if rtype.namespaced else ""
        bucket = self._objects.setdefault(rtype.key, {})
        if kind == DELETED:
            bucket.pop((ns, meta["name"]), None)
        else:
            bucket[(ns, meta["name"])] = obj
        event = StoreEvent(kind, rtype.group, rtype.plural, ns, meta["name"], self._rv, obj, old)
        self._history.append(event)
        for sink in list(self._sinks.values()):
            sink(event)
        return event

    def _ns(self, rtype: ResourceType, namespace: str | None) -> str:
        if not rtype.namespaced:
            return ""
        if not namespace:
            raise errors.bad_request(f"a namespace is required for {rtype.qualified}")
        return namespace

    def _require(self, rtype: ResourceType, ns: str, name: str) -> dict:
        obj = self._objects.get(rtype.key, {}).get((ns, name))
        if obj is None:
            raise errors.not_found(rtype.plural, rtype.group, name)
        return obj

    def _create_namespace_of(self, rtype: ResourceType, meta: dict, namespace: str | None) -> str:
        if not rtype.namespaced:
            return ""
        body_ns = meta.get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
        ns = namespace or body_ns
        if not ns:
            raise errors.bad_request(f"a namespace is required to create {rtype.qualified}")
        ns_obj = self._objects.get(("", "namespaces"), {}).get(("", ns))
        if ns_obj is None:
            raise errors.not_found("namespaces", "", ns)
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                f'{rtype.plural} "{meta.get("name") or meta.get("generateName", "")}" is forbidden: unable to create '
                f"new content in namespace {ns} because it is being terminated", rtype.plural, rtype.group,
                meta.get("name", ""))
        return ns

    def _generate_name(self, rtype: ResourceType, ns: str, prefix: str | None) -> str:
        if not prefix:
            raise errors.invalid(rtype.kind, rtype.group, "", "metadata.name",
                                 "Required value: name or generateName is required")
        bucket = self._objects.get(rtype.key, {})
        while True:
            name = prefix + "".join(random.choice(_SUFFIX_ALPHABET) for _ in range(5))
            if (ns, name) not in bucket:
                return name

    @staticmethod
    def _validate_name(rtype: ResourceType, name: str) -> None:
        limit = 63 if rtype.key in (("", "namespaces"), ("", "services")) else 253
        if len(name) > limit or not _NAME.match(name) or (limit == 63 and "." in name):
            raise errors.invalid(rtype.kind, rtype.group, name, "metadata.name",
                                 f'Invalid value: "{name}": a lowercase RFC 1123 name must consist of lower case '
                                 "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")

    def _replace(self, rtype: ResourceType, current: dict, new: dict, subresource: str | None,
                 given_rv: str | None, dry_run: bool) -> dict:
        """Shared tail of update and patch: concurrency check, field ownership, commit."""
        meta_now = current["metadata"]
        name = meta_now["name"]
        if given_rv not in (None, "") and str(given_rv) != meta_now["resourceVersion"]:
            raise errors.conflict(rtype.plural, rtype.group, name, "the object has been modified; please "
                                  "apply your changes to the latest version and try again")
        if subresource == "status":
            result = copy.deepcopy(current)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
        elif subresource is not None:
            raise errors.page_not_found()
        else:
            result = new
            if rtype.status_subresource:
                if "status" in current:
                    result["status"] = copy.deepcopy(current["status"])
                else:
                    result.pop("status", None)
        meta = _meta(result)
        for owned in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "generation", "resourceVersion"):
            if owned in meta_now:
                meta[owned] = meta_now[owned]
            else:
                meta.pop(owned, None)
        meta["name"] = name
        if rtype.namespaced:
            meta["namespace"] = meta_now["namespace"]
        else:
            meta.pop("namespace", None)
        result["apiVersion"], result["kind"] = current["apiVersion"], current["kind"]
        _defaults_on_update(rtype, result)
        spec_keys = ("metadata", "status") if rtype.status_subresource else ("metadata",)
        if _without(result, *spec_keys) != _without(current, *spec_keys):
            meta["generation"] = int(meta_now.get("generation", 1)) + 1
        if result == current:  # a no-op write: a real server keeps the resourceVersion too
            return copy.deepcopy(current)
        if dry_run:
            return result
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            if rtype.key == ("", "namespaces"):
                self._commit(rtype, MODIFIED, result, current)
                self._finish_namespace(meta["name"])
                return copy.deepcopy(result)
            return copy.deepcopy(self._remove(rtype, result, current, None))
        self._commit(rtype, MODIFIED, result, current)
        return copy.deepcopy(result)

    def _delete(self, rtype: ResourceType, current: dict, policy: str | None) -> dict:
        if current["metadata"].get("finalizers"):
            if current["metadata"].get("deletionTimestamp"):
                return current
            marked = copy.deepcopy(current)
            marked["metadata"]["deletionTimestamp"] = now_rfc3339()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            self._commit(rtype, MODIFIED, marked, current)
            return marked
        return self._remove(rtype, copy.deepcopy(current), current, policy)

    def _remove(self, rtype: ResourceType, last: dict, previous: dict, policy: str | None) -> dict:
        """Drop the object for good, then collect its dependents and maybe its namespace."""
        self._commit(rtype, DELETED, last, previous)
        meta = last["metadata"]
        ns = meta.get("namespace", "")
        if rtype.key == ("", "pods"):
            for key in [k for k in self._logs if k[:2] == (ns, meta["name"])]:
                del self._logs[key]
            for key in [k for k in self._forwards if k[:2] == (ns, meta["name"])]:
                del self._forwards[key]
        self._collect_dependents(meta["uid"], policy)
        if ns:
            self._finish_namespace(ns)
        return last

    def _collect_dependents(self, owner_uid: str, policy: str | None) -> None:
        live = {o["metadata"]["uid"] for bucket in self._objects.values() for o in bucket.values()}
        for key, bucket in list(self._objects.items()):
            for obj in list(bucket.values()):
                refs = obj["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == owner_uid for r in refs):
                    continue
                rtype = self._type_for_key(key)
                if policy == "Orphan":
                    kept = [r for r in refs if r.get("uid") != owner_uid]
                    orphan = copy.deepcopy(obj)
                    orphan["metadata"]["ownerReferences"] = kept
                    if not kept:
                        del orphan["metadata"]["ownerReferences"]
                    self._commit(rtype, MODIFIED, orphan, obj)
                elif not any(r.get("uid") in live for r in refs):
                    current = bucket.get((obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
                    if current is not None:
                        self._delete(rtype, current, None)

    def _type_for_key(self, key: tuple[str, str]) -> ResourceType:
        for t in self.registry.all():
            if t.key == key:
                return t
        raise KeyError(key)

    def _delete_namespace(self, rtype: ResourceType, current: dict) -> dict:
        name = current["metadata"]["name"]
        if name in _UNDELETABLE_NAMESPACES:
            raise errors.forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                                   "namespaces", "", name)
        if current["metadata"].get("deletionTimestamp"):
            raise errors.conflict("namespaces", "", name, "The system is ensuring all content is removed from "
                                  "this namespace.  Upon completion, this namespace will automatically be "
                                  "purged by the system.")
        marked = copy.deepcopy(current)
        marked["metadata"]["deletionTimestamp"] = now_rfc3339()
        marked.setdefault("status", {})["phase"] = "Terminating"
        self._commit(rtype, MODIFIED, marked, current)
        # The namespace controller's job, done at once: delete everything inside.
        for key, bucket in list(self._objects.items()):
            for (ns, _), obj in list(bucket.items()):
                if ns == name and bucket.get((ns, obj["metadata"]["name"])) is obj:
                    self._delete(self._type_for_key(key), obj, None)
        self._finish_namespace(name)
        return copy.deepcopy(marked)

    def _finish_namespace(self, name: str) -> None:
        """Remove a terminating namespace once nothing is left in it."""
        ns_obj = self._objects.get(("", "namespaces"), {}).get(("", name))
        if ns_obj is None or not ns_obj["metadata"].get("deletionTimestamp") or ns_obj["metadata"].get("finalizers"):
            return
        if any(ns == name for bucket in self._objects.values() for (ns, _) in bucket):
            return
        self._commit(self.resolve("namespaces"), DELETED, copy.deepcopy(ns_obj), ns_obj)


def _check_preconditions(rtype: ResourceType, current: dict, pre: dict) -> None:
    meta = current["metadata"]
    for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        wanted = pre.get(field)
        if wanted and wanted != meta.get(field):
            raise errors.conflict(rtype.plural, rtype.group, meta["name"],
                                  f"Precondition failed: {label} in precondition: {wanted}, "
                                  f"{label} in object meta: {meta.get(field)}")


def _defaults_on_create(rtype: ResourceType, obj: dict) -> None:
    """The few defaults a real server fills that clients commonly read back."""
    meta = obj["metadata"]
    if rtype.key == ("", "namespaces"):
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif rtype.key == ("", "pods"):
        containers = (obj.get("spec") or {}).get("containers")
        if not containers or not all(isinstance(c, dict) and c.get("name") for c in containers):
            raise errors.invalid("Pod", "", meta["name"], "spec.containers", "Required value")
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        for container in containers + (obj["spec"].get("initContainers") or []):
            for port in container.get("ports") or []:
                port.setdefault("protocol", "TCP")  # what `kubectl describe` prints as 8080/TCP
    elif rtype.key == ("", "services"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if spec.get("clusterIP") in (None, ""):
            spec["clusterIP"] = f"10.96.{random.randint(0, 255)}.{random.randint(1, 254)}"
        obj["status"] = {"loadBalancer": {}}
    _defaults_on_update(rtype, obj)


def _defaults_on_update(rtype: ResourceType, obj: dict) -> None:
    if rtype.key == ("", "secrets") and obj.get("stringData"):
        # A real server folds stringData into data (base64) and never stores stringData.
        data = obj.setdefault("data", {})
        for k, v in obj.pop("stringData").items():
            data[k] = base64.b64encode(str(v).encode()).decode()
    elif rtype.key == ("", "secrets"):
        obj.pop("stringData", None)
    if rtype.key == ("", "secrets"):
        obj.setdefault("type", "Opaque")


def _all_containers(pod: dict) -> tuple[list[str], list[str]]:
    spec = pod.get("spec") or {}
    main = [c["name"] for c in spec.get("containers") or []]
    init = [c["name"] for c in spec.get("initContainers") or []]
    init += [c["name"] for c in spec.get("ephemeralContainers") or []]
    return main, init


def _pick_container(pod: dict, container: str | None) -> str:
    name = pod["metadata"]["name"]
    main, init = _all_containers(pod)
    if container:
        if container not in main + init:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        return container
    if len(main) == 1:
        return main[0]
    message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(main)}]"
    if init:
        message += f" or one of the init containers: [{' '.join(init)}]"
    raise errors.bad_request(message)


def _container_state(pod: dict, container: str) -> dict:
    status = pod.get("status") or {}
    for field in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(field) or []:
            if cs.get("name") == container:
                return cs.get("state") or {}
    return {}


def _waiting_reason(pod: dict, container: str) -> str | None:
    waiting = _container_state(pod, container).get("waiting")
    return (waiting.get("reason") or "ContainerCreating") if waiting is not None else None


def _terminated(pod: dict, container: str) -> bool:
    return "terminated" in _container_state(pod, container)


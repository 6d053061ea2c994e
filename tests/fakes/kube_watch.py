"""Change events and subscriptions of the FAKE Kubernetes store.

Flow: every committed change becomes one `StoreEvent` (in resourceVersion order) that the
store hands, under its lock, to each registered sink. A `WatchFilter` turns a raw event into
what one watcher should see: like a real API server, an object that stops matching the
watcher's selector arrives as DELETED and one that starts matching arrives as ADDED.
`Subscription` is the Python-side queue over that; `Listener` runs a callback on its own thread
so a slow callback never blocks writers.
"""
from __future__ import annotations

import copy
import logging
import queue
import threading
from dataclasses import dataclass, replace
from typing import Callable, Iterator

from tests.fakes.kube_selectors import Selector

log = logging.getLogger(__name__)

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


@dataclass(frozen=True)
class StoreEvent:
    """One change in the FAKE store, as a watch would report it.

    Attributes:
        type: "ADDED", "MODIFIED" or "DELETED".
        group: API group of the object ("" for core).
        plural: resource plural ("pods", "inferenceservices").
        namespace: the object's namespace ("" when cluster-scoped).
        name: the object's name.
        resource_version: the store's resourceVersion of this change.
        object: the object after the change (for DELETED: its last state).
        old_object: the object before the change (None for ADDED).
    """

    type: str
    group: str
    plural: str
    namespace: str
    name: str
    resource_version: int
    object: dict
    old_object: dict | None = None

    def to_watch_json(self) -> dict:
        """The `{"type", "object"}` body a watch stream line carries."""
        return {"type": self.type, "object": self.object}


class WatchFilter:
    """Which events one watcher sees, and as what type.

    Args:
        key: (group, plural) to watch, or None for every resource.
        namespace: only this namespace, or None for all.
        selector: label/field selector the object must match.
    """

    def __init__(self, key: tuple[str, str] | None = None, namespace: str | None = None,
                 selector: Selector | None = None) -> None:
        self.key = key
        self.namespace = namespace
        self.selector = selector or Selector()

    def wants_object(self, key: tuple[str, str], obj: dict) -> bool:
        if self.key is not None and key != self.key:
            return False
        ns = (obj.get("metadata") or {}).get("namespace") or ""
        if self.namespace is not None and ns != self.namespace:
            return False
        return self.selector.matches(obj)

    def translate(self, event: StoreEvent) -> StoreEvent | None:
        """The event as this watcher sees it, or None when it sees nothing."""
        key = (event.group, event.plural)
        if self.key is not None and key != self.key:
            return None
        if self.namespace is not None and event.namespace != self.namespace:
            return None
        now = self.selector.matches(event.object)
        if event.type != MODIFIED:
            return event if now else None
        before = self.selector.matches(event.old_object)
        if now and before:
            return event
        if now:
            return replace(event, type=ADDED)
        if before:
            return replace(event, type=DELETED)
        return None


Sink = Callable[[StoreEvent], None]


class Subscription:
    """A thread-safe queue of `StoreEvent`s from the FAKE store; close it when done.

    Iterating blocks until the next event; `get(timeout)` returns None on timeout. Each event's
    objects are private deep copies, safe to mutate.
    """

    _CLOSED = object()

    def __init__(self, watch_filter: WatchFilter) -> None:
        self.filter = watch_filter
        self._queue: "queue.Queue[object]" = queue.Queue()
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False

    def _deliver(self, event: StoreEvent) -> None:
        seen = self.filter.translate(event)
        if seen is not None:
            self._queue.put(replace(seen, object=copy.deepcopy(seen.object),
                                    old_object=copy.deepcopy(seen.old_object)))

    def get(self, timeout: float | None = None) -> StoreEvent | None:
        """The next event, waiting up to `timeout` seconds (None: forever); None if none came."""
        if self._closed and self._queue.empty():
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is self._CLOSED:
            self._queue.put(item)  # keep later callers from blocking
            return None
        return item  # type: ignore[return-value]

    def __iter__(self) -> Iterator[StoreEvent]:
        while True:
            event = self.get()
            if event is None:
                return
            yield event

    def close(self) -> None:
        """Stop receiving events (idempotent); a blocked iterator ends."""
        if self._closed:
            return
        self._closed = True
        if self._unsubscribe:
            self._unsubscribe()
        self._queue.put(self._CLOSED)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Listener(Subscription):
    """A `Subscription` whose events go, in order, to `callback` on a dedicated daemon thread.

    A callback may itself write to the store (its events queue up behind the current one).
    An exception in the callback is logged and the listener keeps going.
    """

    def __init__(self, watch_filter: WatchFilter, callback: Callable[[StoreEvent], None]) -> None:
        super().__init__(watch_filter)
        self._callback = callback
        self._thread = threading.Thread(target=self._run, name="fake-kube-listener", daemon=True)

    def start(self) -> "Listener":
        self._thread.start()
        return self

    def _run(self) -> None:
        for event in self:
            try:
                self._callback(event)
            except Exception:  # a broken callback must not kill the dispatcher
                log.exception("fake kube store listener callback failed on %s %s/%s",
                              event.type, event.namespace, event.name)

    def close(self, timeout: float = 5.0) -> None:
        super().close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

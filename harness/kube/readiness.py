"""Wait for an InferenceService to become Ready, or fail as soon as the reason is known.

Flow: three threads list-then-watch the InferenceService, its pods (label
serving.kserve.io/inferenceservice=NAME) and the namespace's events, and push every change onto
one queue; the waiting thread applies changes to its picture of the cluster and asks
`causes.diagnose` after each batch (and every `poll_s`, for time-based rules). Ready returns the
verdict; a named cause raises DeployError at once, with the last log line of the container that
explains it in the one-liner and its full log in `details`; the monotonic deadline raises
DeployError with the last state seen. A stream that cannot watch (old proxy, emulator, RBAC)
falls back to listing every `poll_s`, so a missing watch slows the answer, never hides it.
"""
from __future__ import annotations

import queue
import re
import threading
import time

from harness.errors import DeployError
from harness.kube.api import Kube, OpenStreams, api_error_text
from harness.kube.causes import (  # re-exported: the classification is part of this module's API
    Cause, Verdict, diagnose, event_cause, isvc_cause, pod_cause, pod_status_text,
)
from harness.kube.naming import ISVC_POD_LABEL

__all__ = ["Cause", "Verdict", "diagnose", "event_cause", "isvc_cause", "pod_cause", "pod_status_text",
           "ReadinessWatcher", "wait_ready", "last_line"]

KINDS = ("isvc", "pods", "events")
LOG_TAIL_LINES = 400


# A Python exception line (`RuntimeError: ...`, not Java's dotted `java.lang.X: ...`).
_PYTHON_ERROR = re.compile(r"(?<![.\w])[A-Z]\w*(Error|Exception): ")


def last_line(text: str | None) -> str | None:
    """The line of a log that says what went wrong: the last Python `SomeError: ...` line when
    there is one (TorchServe keeps logging access and JVM shutdown lines after a worker's
    traceback), else the last non-blank line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    errors = [line for line in lines if _PYTHON_ERROR.search(line) and "500 - Unknown exception" not in line]
    chosen = errors[-1] if errors else (lines[-1] if lines else None)
    return chosen[:400] if chosen else None


class ReadinessWatcher:
    """Watches one InferenceService until Ready, a named failure, or the deadline.

    Args:
        kube: API access.
        namespace: where the InferenceService lives.
        name: the InferenceService name.
        timeout_s: deadline, from the call to `wait()`.
        need_url: Ready also needs status.url (reaching the predictor through the ingress).
        need_pod: Ready also needs a Ready predictor pod (port-forward).
        poll_s: how often to re-evaluate without news, and to re-list a stream that cannot watch.
    """

    def __init__(self, kube: Kube, namespace: str, name: str, *, timeout_s: float, need_url: bool = False,
                 need_pod: bool = True, poll_s: float = 2.0) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.timeout_s = timeout_s
        self.need_url = need_url
        self.need_pod = need_pod
        self.poll_s = poll_s
        self.isvc: dict | None = None
        self.pods: dict[str, dict] = {}
        self.events: dict[str, dict] = {}
        self.stream_errors: dict[str, str] = {}
        self._synced: set[str] = set()
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._streams = OpenStreams()
        self._threads: list[threading.Thread] = []
        self._deadline = 0.0

    # --- streams ----------------------------------------------------------------------------
    def _selectors(self, kind: str) -> dict[str, str]:
        if kind == "isvc":
            return {"field_selector": f"metadata.name={self.name}"}
        if kind == "pods":
            return {"label_selector": f"{ISVC_POD_LABEL}={self.name}"}
        return {}

    def _stream(self, kind: str) -> None:
        selectors = self._selectors(kind)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                listing = self.kube.list_kind(kind, self.namespace, **selectors) or {}
                self._queue.put(("sync", kind, listing.get("items") or []))
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    return
                rv = (listing.get("metadata") or {}).get("resourceVersion")
                for event in self.kube.watch(kind, self.namespace, resource_version=rv,
                                             timeout_s=max(1, int(min(remaining, 60))), streams=self._streams,
                                             **selectors):
                    if self._stop.is_set():
                        return
                    if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        self._queue.put(("change", kind, event["type"], event.get("object")))
            except Exception as exc:  # noqa: BLE001 - reported to the waiting thread, then retried
                if self._stop.is_set():
                    return
                self._queue.put(("error", kind, api_error_text(exc)))
            # A watch that ends at once (or failed) must not turn into a busy loop of lists.
            if time.monotonic() - started < self.poll_s:
                self._stop.wait(self.poll_s)

    def _apply(self, item: tuple) -> None:
        op, kind = item[0], item[1]
        if op == "error":
            self.stream_errors[kind] = item[2]
            self._synced.add(kind)  # judge without it rather than wait for it forever
            return
        if op == "sync":
            self._synced.add(kind)
            self.stream_errors.pop(kind, None)
            items = item[2]
            if kind == "isvc":
                self.isvc = next((o for o in items if (o.get("metadata") or {}).get("name") == self.name), None)
            else:
                store = self.pods if kind == "pods" else self.events
                store.clear()
                store.update({_key(o): o for o in items})
            return
        etype, obj = item[2], item[3] or {}
        if kind == "isvc":
            self.isvc = None if etype == "DELETED" else obj
        else:
            store = self.pods if kind == "pods" else self.events
            if etype == "DELETED":
                store.pop(_key(obj), None)
            else:
                store[_key(obj)] = obj

    # --- verdicts ---------------------------------------------------------------------------
    def verdict(self) -> Verdict:
        """What the cluster looks like now, as diagnose() sees it."""
        return diagnose(self.isvc, list(self.pods.values()), list(self.events.values()),
                        need_url=self.need_url, need_pod=self.need_pod)

    def _log(self, cause: Cause) -> tuple[str | None, str]:
        """(log text, which log) for the container that explains `cause`."""
        notes = []
        for previous in (cause.previous_log, not cause.previous_log):
            label = f"{self.namespace}/{cause.pod} -c {cause.container}" + (" --previous" if previous else "")
            try:
                text = self.kube.pod_log(self.namespace, cause.pod, cause.container, previous=previous,
                                         tail_lines=LOG_TAIL_LINES)
            except Exception as exc:  # noqa: BLE001 - a missing log must not hide the cause
                notes.append(f"log {label}: unavailable ({api_error_text(exc)})")
                continue
            if text.strip():
                return text, label
            notes.append(f"log {label}: empty")
        return None, "; ".join(notes)

    def _failure(self, verdict: Verdict) -> DeployError:
        cause = verdict.cause
        assert cause is not None
        log, log_label = (self._log(cause) if cause.wants_log and cause.pod else (None, ""))
        details = [f"cause: {cause.code}", f"state: {verdict.summary}"]
        if cause.message:
            details.append(f"message: {cause.message}")
        if log:
            details.append(f"--- kubectl logs {log_label} (last {LOG_TAIL_LINES} lines) ---\n{log.rstrip()}")
        elif log_label:
            details.append(log_label)
        where = f"inferenceservice {self.namespace}/{self.name}"
        if cause.pod:
            where = f"pod {self.namespace}/{cause.pod}" + (f" container {cause.container}" if cause.container else "")
        err = DeployError(cause.headline(last_line(log)), where=where, hint=cause.hint, details="\n".join(details))
        err.kube_cause = cause  # type: ignore[attr-defined]  # for callers that branch on the code
        return err

    def _timeout(self, verdict: Verdict) -> DeployError:
        recent = sorted(self.events.values(), key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")[-8:]
        lines = [f"{e.get('type')} {e.get('reason')} {(e.get('involvedObject') or {}).get('name')}: "
                 f"{e.get('message')}" for e in recent]
        errors = [f"{k} stream: {v}" for k, v in self.stream_errors.items()]
        return DeployError(
            f"InferenceService not Ready within {self.timeout_s:g}s; last seen: {verdict.summary}",
            where=f"inferenceservice {self.namespace}/{self.name}",
            hint="see diagnostics/ for pods, events and logs; a first image pull can take minutes "
                 "(raise kubernetes.ready_timeout_s)",
            details="\n".join(["recent events:"] + lines + errors))

    def wait(self) -> Verdict:
        """Block until Ready (returns the verdict) or raise DeployError naming why not."""
        self._deadline = time.monotonic() + self.timeout_s
        for kind in KINDS:
            t = threading.Thread(target=self._stream, args=(kind,), name=f"kserve-harness watch {kind}",
                                 daemon=True)
            t.start()
            self._threads.append(t)
        try:
            while True:
                remaining = self._deadline - time.monotonic()
                try:
                    self._apply(self._queue.get(timeout=max(0.01, min(self.poll_s, remaining))))
                    while True:
                        self._apply(self._queue.get_nowait())
                except queue.Empty:
                    pass
                # Judge only a complete picture: a pod seen without its events could look
                # unschedulable while the autoscaler's TriggeredScaleUp event is still unread.
                if self._synced >= set(KINDS):
                    verdict = self.verdict()
                    if verdict.state == "ready":
                        return verdict
                    if verdict.state == "failed":
                        raise self._failure(verdict)
                if time.monotonic() >= self._deadline:
                    raise self._timeout(self.verdict())
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop the watch threads (they end within a moment; they are daemons either way)."""
        self._stop.set()
        self._streams.close_all()
        for t in self._threads:
            t.join(timeout=2.0)


def _key(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return meta.get("uid") or meta.get("name") or repr(id(obj))


def wait_ready(kube: Kube, namespace: str, name: str, *, timeout_s: float, need_url: bool = False,
               need_pod: bool = True, poll_s: float = 2.0) -> Verdict:
    """Wait for InferenceService `namespace/name`; see ReadinessWatcher.

    Raises:
        DeployError: a named cause (storage-initializer failed, image pull failure, CrashLoopBackOff,
            OOMKilled, unschedulable, ingress not configured, ...) or the deadline passed.
    """
    return ReadinessWatcher(kube, namespace, name, timeout_s=timeout_s, need_url=need_url, need_pod=need_pod,
                            poll_s=poll_s).wait()



"""Cold start, phase by phase: scheduled, images pulled, model downloaded, container started, model
loaded, front ready, first correct answer.

Flow: `kube_cold_start(isvc, pod, events, init_log=..., model_log=..., uploaded=...)` is a pure
function over the objects as the API returns them (camelCase dicts) and the two container logs
read with `timestamps=true`; offsets count from the InferenceService's creationTimestamp.
`stage_cold_start(timings, ...)` maps the local target's stage timings onto the same phases.
`with_first_answer` appends the harness-side last phase. Data that is not there (no init
container, an image no event speaks of, a log without TorchServe's READY line) leaves the phase
absent with the reason, never a made-up 0. Conditions, container states and core/v1 event
timestamps have 1 s resolution (eventTime, log timestamps and the Pulled message are finer): each
phase carries the resolution of its figure, so that a comparison can allow for it.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from harness.kube.causes import MODEL_CONTAINER, STORAGE_INITIALIZER
from harness.report.model import COLD_START_PHASES, ColdStart, ColdStartPhase

_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")
_GO_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:h|ms|m|s|µs|us|ns))+")
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|µs|us|ns)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}
# The kubelet's words (k8s >= 1.29; older ones stop after "including waiting)" or after the time).
_PULLED = re.compile(r'Successfully pulled image "(?P<image>[^"]+)" in (?P<took>\S+?)'
                     r'(?: \((?P<waiting>\S+) including waiting\))?(?:\. Image size: (?P<size>\d+) bytes)?\.?$')
_PRESENT = re.compile(r'Container image "(?P<image>[^"]+)" already present on machine')
_DOWNLOADING = re.compile(r"Downloading: (\S+)")  # kserve-storage, one line per GCS object
_DOWNLOADED_IN = re.compile(r"Model downloaded in ([0-9.]+) seconds")
WORKER_READY = "WORKER_MODEL_LOADED"  # TorchServe's worker state change to READY


def stamp(text: str | None) -> tuple[float, float] | None:
    """(Unix seconds, resolution in seconds) of an RFC 3339 timestamp; None when absent or unreadable."""
    m = _STAMP.match(text or "")
    if not m:
        return None
    zone = "+00:00" if m[3] == "Z" else m[3]
    whole = dt.datetime.fromisoformat(m[1] + zone).timestamp()
    return (whole + float(f"0.{m[2]}"), 10.0 ** -len(m[2])) if m[2] else (whole, 1.0)


def go_duration(text: str | None) -> float | None:
    """Seconds of a Go duration string ("1.234s", "523ms", "2m3.5s"); None when it is not one."""
    if not text or not _GO_DURATION.fullmatch(text):
        return None
    return sum(float(n) * _GO_UNITS[u] for n, u in _GO_PART.findall(text))


def downloaded_bytes(storage_log: str, uploaded: dict[str, int]) -> tuple[int | None, int]:
    """(bytes, files) kserve-storage's `Downloading: PATH` lines name, sized from the upload
    (`uploaded`: path relative to the storage URI -> bytes); bytes None when none matched."""
    paths = _DOWNLOADING.findall(storage_log)
    sizes = [size for rel, size in uploaded.items() if any(p == rel or p.endswith("/" + rel) for p in paths)]
    return (sum(sizes) if sizes else None), len(paths)


def uploaded_sizes(uri: str, objects: list[dict]) -> dict[str, int]:
    """The run's uploaded objects (report.storage["objects"]) by path relative to `uri`."""
    prefix = uri.split("://", 1)[-1].split("/", 1)[-1].strip("/") + "/"
    return {o["name"][len(prefix):] if o["name"].startswith(prefix) else o["name"]: int(o["size"])
            for o in objects if o.get("size") is not None}


@dataclass
class _Step:
    """A phase as read, before offsets: when it ended (Unix s, resolution) and its own duration."""

    name: str
    at: tuple[float, float] | None = None
    seconds: float | None = None  # its own duration, when the source states one
    bytes: int | None = None
    source: str = ""
    detail: str = ""
    missing: str | None = None
    resolution: float = 0.001  # of its own duration


def _timeline(origin: tuple[float, float], origin_text: str, steps: list[_Step]) -> ColdStart:
    phases, prev = [], origin
    for s in steps:
        if s.missing or s.at is None:
            phases.append(ColdStartPhase(name=s.name, source=s.source, detail=s.detail,
                                         missing=s.missing or "no timestamp"))
            continue
        # A truncated timestamp (1 s) may read earlier than the finer one of the phase before it; the
        # phase really ended in [stamp, stamp + resolution) and after that one: the latest of both.
        at = (max(s.at[0], prev[0]) if s.at[0] + s.at[1] > prev[0] else s.at[0], s.at[1])
        own = s.seconds is not None
        seconds = s.seconds if own else at[0] - prev[0]
        phases.append(ColdStartPhase(
            name=s.name, at_s=round(at[0] - origin[0], 3), seconds=round(seconds, 3),
            resolution_s=s.resolution if own else max(at[1], prev[1]), bytes=s.bytes, source=s.source, detail=s.detail))
        prev = at
    return ColdStart(origin=origin_text, origin_epoch=origin[0], phases=phases)


def with_first_answer(cs: ColdStart, answered_epoch: float | None, what: str) -> ColdStart:
    """Append the first correct answer (harness clock, Unix s); None: absent, `what` says why."""
    if answered_epoch is None:
        cs.phases.append(ColdStartPhase(name="first-answer", missing=what))
        return cs
    prev = next((p for p in reversed(cs.phases) if p.at_s is not None), None)
    at = answered_epoch - cs.origin_epoch
    cs.phases.append(ColdStartPhase(
        name="first-answer", at_s=round(at, 3), seconds=round(at - (prev.at_s if prev else 0.0), 3),
        resolution_s=prev.resolution_s if prev else 0.001, source="harness clock", detail=what))
    return cs


# --- Kubernetes ---------------------------------------------------------------------------------------

def _event_at(ev: dict) -> tuple[float, float] | None:
    return stamp(ev.get("eventTime")) or stamp(ev.get("firstTimestamp")) or stamp(ev.get("lastTimestamp"))


def _condition_at(pod: dict, ctype: str) -> tuple[float, float] | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype and c.get("status") == "True":
            return stamp(c.get("lastTransitionTime"))
    return None


def _container(pod: dict, key: str, name: str) -> dict | None:
    return next((c for c in (pod.get("status") or {}).get(key) or [] if c.get("name") == name), None)


def _image(pod: dict, key: str, name: str) -> str | None:
    return next((c.get("image") for c in (pod.get("spec") or {}).get(key) or [] if c.get("name") == name), None)


def _pulled(name: str, container: str, image: str | None, events: list[dict]) -> _Step:
    if image is None:
        return _Step(name, missing=f"no {container} in the pod")
    for ev in events:
        message = ev.get("message") or ""
        if ev.get("reason") != "Pulled" or f'"{image}"' not in message:
            continue
        if m := _PULLED.search(message):
            took = go_duration(m["waiting"] or m["took"])
            detail = f"pulled {image} in {m['took']}" + (f" ({m['waiting']} including waiting)" if m["waiting"] else "")
            return _Step(name, _event_at(ev), took, int(m["size"]) if m["size"] else None, "event Pulled", detail)
        if _PRESENT.search(message):  # the kubelet's own statement: no pull happened
            return _Step(name, _event_at(ev), 0.0, None, "event Pulled", f"{image} already present on the node")
    return _Step(name, missing=f"no Pulled event for {image}")


def _storage(pod: dict, init_log: str, uploaded: dict[str, int]) -> _Step:
    name = "storage-download"
    status = _container(pod, "initContainerStatuses", STORAGE_INITIALIZER)
    if status is None:
        return _Step(name, missing=f"no {STORAGE_INITIALIZER} in the pod")
    term = (status.get("state") or {}).get("terminated") or {}
    start, end = stamp(term.get("startedAt")), stamp(term.get("finishedAt"))
    if term.get("exitCode") != 0 or start is None or end is None:
        return _Step(name, missing=f"{STORAGE_INITIALIZER} has not completed")
    size, files = downloaded_bytes(init_log, uploaded)
    detail = f"{files} file(s)"
    if m := _DOWNLOADED_IN.search(init_log):  # kserve-storage's own figure: finer than the container's 1 s states
        detail += f"; kserve-storage: downloaded in {m[1][:6]} s"
    if size is None:
        detail += "; bytes unknown (no Downloading: line matches an uploaded object)"
    if status.get("restartCount"):
        detail += f"; after {status['restartCount']} restart(s)"
    return _Step(name, end, end[0] - start[0], size, f"{STORAGE_INITIALIZER} startedAt -> finishedAt", detail,
                 resolution=max(start[1], end[1]))


def _log_line_at(log: str, marker: str) -> tuple[float, float] | None:
    """The kubelet timestamp (timestamps=true) of the first log line containing `marker`."""
    for line in log.splitlines():
        if marker in line:
            return stamp(line.split(" ", 1)[0])
    return None


def kube_cold_start(isvc: dict, pod: dict, events: list[dict], *, init_log: str = "", model_log: str = "",
                    uploaded: dict[str, int] | None = None) -> ColdStart:
    """The cold start of `pod` (the predictor pod that became Ready) of InferenceService `isvc`.

    Args:
        events: the namespace's events (those about other objects are ignored).
        init_log / model_log: the storage-initializer's and kserve-container's logs, read with
            timestamps=true (each line starts with the kubelet's RFC 3339 timestamp).
        uploaded: the run's uploaded objects, path relative to the storage URI -> bytes.
    """
    created = (isvc.get("metadata") or {}).get("creationTimestamp")
    origin = stamp(created) or (0.0, 1.0)
    uid = (pod.get("metadata") or {}).get("uid")
    mine = sorted((e for e in events if (e.get("involvedObject") or {}).get("uid") == uid),
                  key=lambda e: (_event_at(e) or (0.0, 0.0))[0])
    sched_event = next((e for e in mine if e.get("reason") == "Scheduled"), None)
    sched = (_event_at(sched_event) if sched_event else None) or _condition_at(pod, "PodScheduled")
    main = _container(pod, "containerStatuses", MODEL_CONTAINER) or {}
    state = main.get("state") or {}
    started = stamp((state.get("running") or state.get("terminated") or {}).get("startedAt"))
    ready = _condition_at(pod, "ContainersReady")
    loaded = _log_line_at(model_log, WORKER_READY)
    steps = [
        _Step("scheduled", sched, source="event Scheduled" if sched_event else "pod condition PodScheduled",
              missing=None if sched else "the pod was never scheduled"),
        _pulled("init-image-pulled", STORAGE_INITIALIZER, _image(pod, "initContainers", STORAGE_INITIALIZER), mine),
        _storage(pod, init_log, uploaded or {}),
        _pulled("image-pulled", MODEL_CONTAINER, _image(pod, "containers", MODEL_CONTAINER), mine),
        _Step("container-started", started, source=f"{MODEL_CONTAINER} startedAt",
              detail=f"after {main['restartCount']} restart(s)" if main.get("restartCount") else "",
              missing=None if started else f"{MODEL_CONTAINER} has not started"),
        _Step("model-loaded", loaded, source=f"{MODEL_CONTAINER} log: {WORKER_READY}",
              missing=None if loaded else f"no TorchServe {WORKER_READY} line in the {MODEL_CONTAINER} log"),
        _Step("front-ready", ready, source="pod condition ContainersReady",
              missing=None if ready else "the containers never became ready"),
    ]
    return _timeline(origin, f"InferenceService creationTimestamp {created}", steps)


# --- the local target -----------------------------------------------------------------------------------

_STAGES = {"storage-init": "storage-download", "runtime-env": "image-pulled", "torchserve-ready": "model-loaded",
           "modelserver-ready": "model-loaded", "front-ready": "front-ready"}
_STAGE_DETAIL = {"runtime-env": "runtime environment built: the local stand-in for pulling the image"}
_NO_STAGE = {"image-pulled": "runtime environment reused: nothing was built"}


def stage_cold_start(timings: dict[str, float], origin_epoch: float, *, storage_log: str = "",
                     uploaded: dict[str, int] | None = None) -> ColdStart:
    """The local target's deploy stages (`Target.timings`, in order, back to back from the deploy's
    start) as cold-start phases; the phases it has no stage for are absent."""
    found: dict[str, _Step] = {}
    at = origin_epoch
    for stage, seconds in timings.items():
        if stage not in _STAGES:
            continue
        at += seconds
        step = found[_STAGES[stage]] = _Step(_STAGES[stage], (at, 0.001), seconds, source=f"local stage {stage}",
                                             detail=_STAGE_DETAIL.get(stage, ""))
        if stage == "storage-init":
            step.bytes, files = downloaded_bytes(storage_log, uploaded or {})
            step.detail = f"{files} file(s)"
    steps = [found.get(name) or _Step(name, missing=_NO_STAGE.get(name, f"the local target has no {name} stage"))
             for name in COLD_START_PHASES if name != "first-answer"]
    return _timeline((origin_epoch, 0.001), "deploy start (local target)", steps)

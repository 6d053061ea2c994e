"""Container logs kept by the FAKE Kubernetes store (what `kubectl logs` would read).

Flow: the fake controller appends text per (namespace, pod, container); a restart rotates the
current log into "previous"; `render` applies `tailLines`, `sinceSeconds`, `limitBytes` and
`timestamps` the way the kubelet does. The store checks the pod and container first.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone


@dataclass
class LogLine:
    at: float  # epoch seconds, for sinceSeconds and timestamps=true
    text: str  # one line, without its newline


@dataclass
class ContainerLog:
    """Current and previous (before the last restart) log of one container."""

    current: list[LogLine] = field(default_factory=list)
    previous: list[LogLine] | None = None

    def append(self, text: str) -> None:
        now = time.time()
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        self.current.extend(LogLine(now, line) for line in lines)

    def rotate(self) -> None:
        self.previous, self.current = self.current, []


def _rfc3339_nano(at: float) -> str:
    dt = datetime.fromtimestamp(at, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}000Z"


def render(lines: list[LogLine], *, tail_lines: int | None = None, since_seconds: int | None = None,
           timestamps: bool = False, limit_bytes: int | None = None) -> str:
    """The text the kubelet would return for these lines and options."""
    selected = lines
    if since_seconds is not None:
        cutoff = time.time() - since_seconds
        selected = [line for line in selected if line.at >= cutoff]
    if tail_lines is not None:
        selected = selected[-tail_lines:] if tail_lines > 0 else []
    out = "".join(
        (f"{_rfc3339_nano(line.at)} " if timestamps else "") + line.text + "\n" for line in selected
    )
    if limit_bytes is not None:
        out = out.encode()[:limit_bytes].decode(errors="ignore")
    return out

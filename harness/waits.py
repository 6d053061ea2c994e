"""Deadlines and ports.

Every wait in the harness polls a condition on the monotonic clock and, when the deadline
passes, raises an error that says what was awaited, where, what was last seen, and a hint.
"""
from __future__ import annotations

import random
import socket
import time
from pathlib import Path
from typing import Callable, TypeVar

from harness.errors import DeployError, HarnessError

T = TypeVar("T")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on `host`, chosen *below* the ephemeral range.

    Ports the OS hands out for bind(0) come from the ephemeral range, where any outgoing
    connection may take them before the server that was meant to use them binds; ports below it
    are only ever taken on purpose, so the window for a collision is far smaller.
    """
    low, _ = _ephemeral_range()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        if port_is_free(port, host):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def wait_until(
    probe: Callable[[], T | None],
    *,
    what: str,
    where: str,
    timeout_s: float,
    interval_s: float = 0.1,
    hint: str | None = None,
    last_seen: Callable[[], str] | None = None,
    error: type[HarnessError] = DeployError,
) -> T:
    """Call `probe` until it returns something other than None (that value is returned).

    `probe` may raise a HarnessError to fail at once (the cause is known before the deadline).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            seen = last_seen() if last_seen else None
            raise error(
                f"{what}: not reached within {timeout_s:.0f}s" + (f"; last seen: {seen}" if seen else ""),
                where=where, hint=hint,
            )
        time.sleep(interval_s)

"""Nothing outlives the harness: its services end by themselves when it dies, however it dies.

Flow: the first child a harness process starts (`procs.merged_env`, used for every subprocess)
first starts ONE reaper: a small Python process (standard library only) in a session of its own,
whose stdin is a pipe that only the harness holds. Every child is started with this harness's
owner token in its environment (OWNER_ENV), which every descendant inherits (TorchServe's JVM and
workers, Locust's workers), so nothing is missed when the harness dies between a child's fork and
its registration. Service groups are also registered on that pipe (`+pgid`, `+dir:PATH` for a temp
dir to remove) and unregistered when stopped (`-pgid`, `-dir:PATH`). When the harness dies —
SIGKILL, the OOM killer, a CI hard timeout — the kernel closes the pipe: the reaper reads EOF,
SIGTERMs every registered group and every process carrying the token, SIGKILLs (again and again,
until none is left or a deadline passes: a JVM respawns workers) what is left after a grace,
removes the registered temp dirs and exits. A clean exit closes the pipe too; what is left then is
ended the same way. The same state is mirrored in a live file (<tmp>/kserve-harness-live/<pid>.json)
so that a later run can sweep what even the reaper could not end (`sweep_leftovers`).
"""
from __future__ import annotations

import atexit
import inspect
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

GRACE_S = 5.0
KILL_DEADLINE_S = 5.0
OWNER_ENV = "KSERVE_HARNESS_OWNER"  # in every child's environment: "<token>"



def owned(groups: set[int], token: str | None) -> set[int]:
    """Live processes (zombies left out: an orphan's zombie may never be reaped in a container)
    in one of `groups` or carrying owner `token` in their environment; this process excepted.
    Standard library only: the reaper runs this function's source."""
    marker = ("\0" + OWNER_ENV + "=" + token + "\0").encode() if token else None
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            fields = open(f"/proc/{entry}/stat", "rb").read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z":
                continue
            if int(fields[2]) in groups or (
                    marker and marker in b"\0" + open(f"/proc/{entry}/environ", "rb").read()):
                found.add(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return found


def end_owned(groups: set[int], token: str | None, grace_s: float, kill_deadline_s: float) -> int:
    """SIGTERM what `owned` finds, SIGKILL what is left after `grace_s` until nothing is (bounded
    by `kill_deadline_s`); return how many were signalled. The reaper runs this function's source."""
    first = owned(groups, token)
    for pid in first:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace_s
    while owned(groups, token) and time.monotonic() < deadline:
        time.sleep(0.05)
    deadline = time.monotonic() + kill_deadline_s
    while (left := owned(groups, token)) and time.monotonic() < deadline:
        for pid in left:  # again each round: a JVM respawns workers until it dies itself
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
    return len(first)


# The reaper's main: reads registrations until EOF, then ends what is registered or owned.
_REAPER_MAIN = r"""
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a CI cancel signalling everyone must not stop the cleanup
    signal.signal(s, signal.SIG_IGN)
groups, dirs = set(), set()
for line in sys.stdin:
    op, arg = line[:1], line[1:].strip()
    if arg.startswith("dir:"):
        (dirs.add if op == "+" else dirs.discard)(arg[4:])
    elif arg.isdigit():
        (groups.add if op == "+" else groups.discard)(int(arg))
try:
    end_owned(groups, TOKEN, GRACE_S, KILL_DEADLINE_S)
finally:
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
"""


def _reaper_script(token: str) -> str:
    return "\n".join([
        "from __future__ import annotations", "import os, shutil, signal, sys, time",
        f"OWNER_ENV, TOKEN, GRACE_S, KILL_DEADLINE_S = {OWNER_ENV!r}, {token!r}, {GRACE_S!r}, {KILL_DEADLINE_S!r}",
        inspect.getsource(owned), inspect.getsource(end_owned), _REAPER_MAIN])


def live_dir() -> Path:
    return Path(tempfile.gettempdir()) / "kserve-harness-live"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (tells a live pid from a reused one)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class Reaper:
    """This harness process's reaper, owner token and live file (one per process, started on first use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._pid = os.getpid()
        self.token = ""
        self.groups: set[int] = set()
        self.dirs: set[str] = set()

    def owner_token(self) -> str:
        """Start the reaper if need be (before any child exists); the token children must carry."""
        with self._lock:
            self._ensure()
            return self.token

    def _ensure(self) -> None:
        if self._proc is not None and self._pid == os.getpid() and self._proc.poll() is None:
            return
        if self._pid != os.getpid():  # a forked child: its own reaper, token and live file
            self.groups, self.dirs = set(), set()
        self._pid, self.token = os.getpid(), secrets.token_hex(8)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _reaper_script(self.token)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, text=True)
        for g in self.groups:  # a reaper that died early: the new one takes over what is registered
            self._send(f"+{g}")
        for d in self.dirs:
            self._send(f"+dir:{d}")
        self._mirror()

    def _send(self, line: str) -> None:
        try:
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # a reaper gone early: the live file still lets the next run sweep

    def _mirror(self) -> None:
        path = live_dir() / f"{self._pid}.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps({"pid": self._pid, "start": _start_time(self._pid), "token": self.token,
                                       "groups": {str(g): _start_time(g) for g in self.groups},
                                       "dirs": sorted(self.dirs)}))
            os.replace(tmp, path)
        except OSError:
            pass  # the live file is a safety net; a read-only /tmp must not stop a run

    def register(self, pgid: int, dirs: list[Path] = ()) -> None:
        with self._lock:
            self._ensure()
            self.groups.add(pgid)
            self._send(f"+{pgid}")
            for d in dirs:
                self.dirs.add(str(d))
                self._send(f"+dir:{d}")
            self._mirror()

    def unregister(self, pgid: int, dirs: list[Path] = ()) -> None:
        with self._lock:
            self.groups.discard(pgid)
            self.dirs.difference_update(str(d) for d in dirs)
            if self._proc is not None:
                self._send(f"-{pgid}")
                for d in dirs:
                    self._send(f"-dir:{d}")
                self._mirror()

    def close(self) -> None:
        """At a clean exit: the live file goes (the reaper ends by itself when the pipe closes)."""
        if self._proc is not None and self._pid == os.getpid():
            (live_dir() / f"{self._pid}.json").unlink(missing_ok=True)


REAPER = Reaper()
atexit.register(REAPER.close)


def sweep_leftovers() -> list[str]:
    """End what harness processes that died left behind (their reaper died too); one line each.

    Only live files whose owner is gone are touched. Processes are found by the dead owner's token
    in their environment, and by its registered groups when the group's leader is the very process
    registered (a pid reused by another process is told apart by its start time), so nothing of a
    running harness or of anyone else is ever signalled.
    """
    notes = []
    for path in sorted(live_dir().glob("*.json")) if live_dir().is_dir() else []:
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        owner = int(state.get("pid", 0))
        if owner and _start_time(owner) == state.get("start"):
            continue  # that harness is still running
        groups = {int(g) for g, started in state.get("groups", {}).items()
                  if not started or _start_time(int(g)) in (None, started)}
        if ended := end_owned(groups, state.get("token") or None, GRACE_S, KILL_DEADLINE_S):
            notes.append(f"stopped {ended} process(es) left by a killed harness (pid {owner})")
        for d in state.get("dirs", []):
            if Path(d).exists():
                shutil.rmtree(d, ignore_errors=True)
                notes.append(f"removed {d}, left by harness pid {owner}")
        path.unlink(missing_ok=True)
    for stale in live_dir().glob(".*.tmp") if live_dir().is_dir() else []:
        if not (m := stale.name[1:].split(".", 1)[0]).isdigit() or _start_time(int(m)) is None:
            stale.unlink(missing_ok=True)  # a harness killed while writing its live file
    return notes


def end_group(pgid: int, grace_s: float, *, kill_wait_s: float = 2.0, reap: Callable[[], object] | None = None) -> None:
    """SIGTERM process group `pgid`, SIGKILL what is left after `grace_s`, then wait `kill_wait_s`.

    `reap` is called while waiting (a parent's poll(), so its launcher does not stay a zombie).
    """
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, kill_wait_s)):
        try:
            os.killpg(pgid, sig)
        except OSError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if reap:
                reap()
            if not group_members(pgid):
                return
            time.sleep(0.05)


def group_members(pgid: int) -> list[int]:
    """PIDs in process group `pgid`, zombies left out (they hold nothing but a PID, and a PID 1
    that never reaps may keep them forever)."""
    return sorted(owned({pgid}, None))

"""All subprocesses go through here.

Flow: `run()` for short commands that must succeed (raises with their stderr);
`ProcessGroup` for long-lived services (TorchServe, the KServe front, the GCS emulator, Locust):
each starts in a session of its own so that `stop()` can end the launcher *and* everything it
forked (JVM, Python workers) by process group, with a deadline, even when start-up failed
halfway. Every child carries the harness's owner token in its environment (`merged_env`) and
each group is registered with the reaper (harness/reaper.py), which ends them if the harness dies
without stopping them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import IO, Mapping, Sequence

from harness.errors import EnvironmentProblem, HarnessError
from harness.reaper import OWNER_ENV, REAPER, end_group, group_members


def merged_env(overrides: Mapping[str, str] | None = None, *, drop: Sequence[str] = ()) -> dict[str, str]:
    """A copy of this process's environment with `overrides` applied; os.environ is never mutated.

    It carries this harness's owner token (starting the reaper if need be), so that whatever the
    child and its descendants become, the reaper finds and ends them if the harness dies.
    """
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(overrides or {})
    env[OWNER_ENV] = REAPER.owner_token()
    return env


def run(
    cmd: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300.0,
    error: type[HarnessError] = EnvironmentProblem,
    hint: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; raise `error` naming the command and quoting its stderr."""
    try:
        proc = subprocess.run(
            list(cmd), env=merged_env(env), cwd=cwd, capture_output=True, text=True, timeout=timeout,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise EnvironmentProblem(f"{what}: program not found", where=str(cmd[0]),
                                 hint="install the project with its dependencies (see README)") from exc
    except subprocess.TimeoutExpired as exc:
        raise error(f"{what}: timed out after {timeout:.0f}s", where=" ".join(map(str, cmd)), hint=hint) from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise error(
            f"{what}: exit status {proc.returncode}: {tail[-1] if tail else 'no output'}",
            where=" ".join(map(str, cmd)), hint=hint, details="\n".join(tail),
        )
    return proc


class ProcessGroup:
    """A long-lived command in its own session and process group.

    Args:
        cmd: the command line.
        name: what it is, for messages ("TorchServe").
        log_path: where its stdout and stderr go (kept for the report's diagnostics).
        env: environment overrides.
        cwd: working directory.
        temp_dirs: folders to remove if the harness dies before stopping the group (the reaper's job).
    """

    def __init__(self, cmd: Sequence[str], *, name: str, log_path: Path,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 temp_dirs: Sequence[Path] = ()) -> None:
        self.temp_dirs = list(temp_dirs)
        self.cmd = [str(c) for c in cmd]
        self.name = name
        self.log_path = log_path
        self.env = dict(env or {})
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> "ProcessGroup":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.cmd, env=merged_env(self.env), cwd=self.cwd, stdout=self._log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        except FileNotFoundError as exc:
            self._log.close()
            raise EnvironmentProblem(f"cannot start {self.name}: program not found", where=self.cmd[0],
                                     hint="install the project with its dependencies (see README)") from exc
        REAPER.register(self.proc.pid, self.temp_dirs)  # ends the group if the harness dies first
        return self

    def exited(self) -> int | None:
        """The launcher's exit status, or None while it runs."""
        return self.proc.poll() if self.proc else None

    def members(self) -> list[int]:
        """PIDs still in this process group (the launcher may be gone while its children live)."""
        return group_members(self.proc.pid) if self.proc else []

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the whole group, then SIGKILL what is left after `grace_s`. Safe to call twice."""
        if not self.proc:
            return
        pgid = self.proc.pid
        end_group(pgid, grace_s, kill_wait_s=5.0, reap=self.proc.poll)
        self.proc.poll()
        if not self.members():
            for d in self.temp_dirs:  # before unregistering: an interrupted stop leaves them to the reaper
                shutil.rmtree(d, ignore_errors=True)
            REAPER.unregister(pgid, self.temp_dirs)
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self) -> "ProcessGroup":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

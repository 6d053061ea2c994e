"""Nothing outlives a killed harness: its reaper ends the run's processes, a later run sweeps the rest.

Flow: start `harness run` in a subprocess, wait for a phase (TorchServe starting, Locust loading),
SIGKILL the harness, and poll (with a deadline) until no process touching the run directory is
left and the JVM's private temp dir is gone; the seconds it took are printed. The sweep test plays
a harness whose reaper died too: a live file naming a dead owner, a process group and a temp dir.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness.reaper import live_dir, sweep_leftovers
from tests.helpers import FIXTURES, REPO, eventually, processes_touching


def _start_harness(scenario: Path, report_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(scenario), "--report-dir", str(report_dir)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_when(proc: subprocess.Popen, report_dir: Path, pattern: str) -> Path:
    """SIGKILL the harness once `pattern` exists under its report dir; return the run directory."""
    found = eventually(lambda: proc.poll() is None and list(report_dir.glob(pattern)), timeout_s=90,
                       what=f"{pattern} under {report_dir}")
    proc.kill()
    proc.wait(timeout=10)
    return report_dir / found[0].relative_to(report_dir).parts[0]


def _jvm_dirs_of(pid: int) -> list[str]:
    live = live_dir() / f"{pid}.json"
    return json.loads(live.read_text())["dirs"] if live.is_file() else []


@pytest.mark.parametrize("phase,pattern", [
    ("start-up", "*/work/torchserve/torchserve.out"),
    ("load", "*/load/run/locust.log"),
])
def test_sigkill_of_the_harness_ends_every_process_it_started(scenario_copy, tmp_path, phase, pattern):
    scenario = scenario_copy("digits.yaml", {"load": {
        "mode": "closed", "users": 2, "duration_s": 60, "requests": [str(FIXTURES / "digits/request_v1.json")]}})
    report_dir = tmp_path / "reports"
    proc = _start_harness(scenario, report_dir)
    try:
        run_dir = _kill_when(proc, report_dir, pattern)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = time.monotonic()
    dirs = _jvm_dirs_of(proc.pid)
    eventually(lambda: not processes_touching(run_dir), timeout_s=30,
               what=f"processes of the killed run gone: {processes_touching(run_dir)}")
    print(f"\nSIGKILL during {phase}: last process of the run gone {time.monotonic() - killed:.2f}s later")
    eventually(lambda: not [d for d in dirs if Path(d).exists()], timeout_s=10,
               what=f"the JVM's private temp dirs {dirs} removed")
    sweep_leftovers()  # what the next run does: the dead harness's live file goes


def test_a_later_run_sweeps_what_a_dead_harness_and_its_reaper_left(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = subprocess.Popen(["sleep", "300"], start_new_session=True)
    leftover_dir = Path(tempfile.mkdtemp(prefix="ts-sweep-test-"))
    live_dir().mkdir(parents=True, exist_ok=True)
    (live_dir() / f"{dead.pid}.json").write_text(json.dumps(
        {"pid": dead.pid, "start": "0", "groups": {str(orphan.pid): None}, "dirs": [str(leftover_dir)]}))
    try:
        notes = sweep_leftovers()
        assert orphan.wait(timeout=10) == -signal.SIGTERM
        assert not leftover_dir.exists()
        assert notes[0] == f"stopped 1 process(es) left by a killed harness (pid {dead.pid})"
        assert not (live_dir() / f"{dead.pid}.json").exists()
    finally:
        if orphan.poll() is None:
            orphan.kill()


def test_the_sweep_leaves_a_running_harness_alone(tmp_path):
    mine = subprocess.Popen(["sleep", "300"], start_new_session=True)
    me = os.getpid()
    live = live_dir() / "running-test.json"
    start = Path(f"/proc/{me}/stat").read_text().rsplit(")", 1)[1].split()[19]
    live_dir().mkdir(parents=True, exist_ok=True)
    live.write_text(json.dumps({"pid": me, "start": start, "groups": {str(mine.pid): None}, "dirs": []}))
    try:
        assert sweep_leftovers() == [] and mine.poll() is None and live.exists()
    finally:
        live.unlink(missing_ok=True)
        mine.kill()
        mine.wait()


def test_an_interrupted_teardown_still_leaves_nothing(scenario_copy, tmp_path):
    """Ctrl-C twice while the run is tearing down (impatient user, CI cancel): the stop in progress
    is abandoned, but the reaper ends what is left and removes the JVM temp dir."""
    report_dir = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(scenario_copy("digits.yaml")),
                             "--report-dir", str(report_dir)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # progress lines: wait for the teardown to begin
            if line.startswith("▶ teardown"):
                break
        dirs = _jvm_dirs_of(proc.pid)
        assert dirs, "the run registered its JVM temp dir with the reaper"
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = next(report_dir.iterdir())
    eventually(lambda: not processes_touching(run_dir), timeout_s=30,
               what=f"processes of the interrupted run gone: {processes_touching(run_dir)}")
    eventually(lambda: not [d for d in dirs if Path(d).exists()], timeout_s=15, what=f"{dirs} removed")


def test_a_child_killed_with_its_harness_before_registration_still_ends():
    """The window between a child's fork and its registration (where CI first lost TorchServe): a
    'harness' starts children through merged_env but registers none — one in a session of its
    own, one that escapes into another with setsid — and is SIGKILLed. Both carry its owner token,
    so its reaper ends them."""
    script = ("import subprocess, sys, time\n"
              "from harness.procs import merged_env\n"
              "a = subprocess.Popen(['sleep', '300'], env=merged_env(), start_new_session=True)\n"
              "b = subprocess.Popen(['setsid', 'sleep', '300'], env=merged_env())\n"
              "print(a.pid, b.pid, flush=True)\n"
              "time.sleep(300)\n")  # sleep-ok: the stand-in harness's work, until the test kills it
    harness = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    children: list[int] = []
    try:
        children = [int(p) for p in harness.stdout.readline().split()]
        eventually(lambda: all(_runs_sleep(p) for p in children), timeout_s=10, what="both children running sleep")
        harness.kill()
        harness.wait(timeout=10)
        eventually(lambda: not any(_runs_sleep(p) for p in children), timeout_s=15,
                   what="the unregistered children of the killed harness ended")
    finally:
        if harness.poll() is None:
            harness.kill()
        for pid in children:
            if _runs_sleep(pid):
                os.kill(pid, signal.SIGKILL)


def _runs_sleep(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) `sleep` process."""
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"sleep")
                and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z")
    except (OSError, IndexError):
        return False

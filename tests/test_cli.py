"""User mistakes on the command line: one line, exit 2, never a traceback."""
import subprocess
import sys

import pytest

from tests.helpers import REPO, SCENARIOS


def harness(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args, expected", [
    (["run", "no-such.yaml"], "config error: scenario file not found at no-such.yaml"),
    (["lint", "no-such.yaml"], "config error: scenario file not found at no-such.yaml"),
    (["run", str(SCENARIOS / "digits.yaml"), "--workers", "2"], "--workers given but the scenario has no load: section"),
])
def test_one_line_errors_exit_2(args, expected):
    proc = harness(*args)
    assert proc.returncode == 2
    assert expected in proc.stderr and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_invalid_scenario_names_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: {name: x, serialized_file: m.pt}\nstorage: {uri: gs://bkt/d}\nservng: {}\n")
    proc = harness("lint", str(bad))
    assert proc.returncode == 2 and "servng: unknown key" in proc.stderr and "Traceback" not in proc.stderr

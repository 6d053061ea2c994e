"""Every shipped scenario YAML, end to end on the selected target (--target, default local)."""
from __future__ import annotations

from pathlib import Path

import pytest

SCENARIO_FILES = sorted(Path(__file__).parent.glob("*.yaml"))


@pytest.mark.parametrize("scenario", SCENARIO_FILES, ids=lambda p: p.stem)
def test_scenario_passes(run_scenario, scenario: Path):
    report = run_scenario(scenario)
    assert report.error is None, report.error["line"]
    failed = {c.name: c.diff for c in report.checks if not c.passed}
    assert report.passed and not failed, failed

"""kserve-harness: end-to-end tests and benchmarks for PyTorch models served by KServe.

The public API: what a user's conftest.py or script imports. Everything else is internal and may
change between releases.

    from harness import RunOptions, load_scenario, run_scenario
    report = run_scenario(load_scenario("scenarios/digits.yaml"), RunOptions(target="local"))
    assert report.passed, report.error
"""
from harness.endpoint import Endpoint, Response
from harness.errors import (
    EXIT_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_USAGE, ConfigError, DeployError,
    EnvironmentProblem, HarnessError, PredictorError,
)
from harness.predict import predictor_for
from harness.report.compare import compare_paths
from harness.report.model import Report, load_report
from harness.runner import RunOptions, ScenarioRun, run_scenario
from harness.runtimes.registry import RUNTIMES
from harness.spec import ScenarioSpec, load_scenario
from harness.targets.registry import TARGET_NAMES
from harness.version import __version__

__all__ = [
    "EXIT_FAILED", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_INVALID", "EXIT_OK", "EXIT_USAGE",
    "RUNTIMES", "TARGET_NAMES", "ConfigError", "DeployError", "Endpoint", "EnvironmentProblem", "HarnessError",
    "PredictorError", "Report", "Response", "RunOptions", "ScenarioRun", "ScenarioSpec", "compare_paths",
    "__version__", "load_report", "load_scenario", "predictor_for", "run_scenario",
]

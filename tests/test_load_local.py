"""Load against real TorchServe on the local target: batches really form, and the KServe
envelope batching bug shows up as what it is."""
from __future__ import annotations

from tests.helpers import SCENARIOS


def test_batching_scenario_forms_batches_and_the_server_confirms_its_settings(run_scenario):
    report = run_scenario(SCENARIOS / "batching.yaml")
    assert report.error is None, report.error["line"]
    step = report.load.steps[0]
    server = step.server
    assert server.description.batch_size == 4 and server.description.max_batch_delay_ms == 10
    histogram = {int(k): v for k, v in server.window.batch_histogram.items()}
    assert histogram and max(histogram) == 4, histogram  # 16 users keep the queue full
    assert server.window.mean_batch_size > 2
    assert step.client.errors == 0 and report.passed


def test_envelope_batching_bug_is_named_in_the_load_verdict(run_scenario, scenario_copy):
    path = scenario_copy("batching.yaml", {"serving": {"envelope": "kserve"}, "checks": [],
                                           "ignore_lints": ["envelope-batching"],
                                           "load": {"duration_s": 4, "warmup_s": 1}})
    report = run_scenario(path)
    assert report.exit_code == 1 and not report.passed
    verdict = report.load.verdict
    assert verdict.status == "FAIL"
    assert "#1302" in verdict.cause, verdict
    errors = report.load.steps[0].errors
    # TorchServe answers 503; KServe's front, which the load goes through, turns it into a 500 quoting it.
    assert any(e.status == 500 and "503" in e.message and "number of batch response mismatched" in e.message
               for e in errors), errors

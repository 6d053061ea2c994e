"""Prediction checks: each scenario check sent to the predictor and judged, one CheckResult each.

Flow: `run_checks(checks, predictor, run_dir)` posts each check's request, compares the answer with
the expected status and body (harness.outputs.value_diff, within the check's atol/rtol), saves the
whole body under responses/ (the run's correctness fingerprint) and returns the results in order.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from harness.outputs import value_diff
from harness.predict import Predictor
from harness.report.model import CheckResult
from harness.report.responses import save_response
from harness.spec import CheckSpec


def run_check(check: CheckSpec, predictor: Predictor, run_dir: Path) -> CheckResult:
    r = predictor.post(check.request.read_bytes(), check.path)
    diff: list[str] = []
    if r.status != check.expect_status:
        diff.append(f"HTTP status: expected {check.expect_status}, got {r.status}: {r.text[:200]}")
    elif check.expect is not None:
        diff = value_diff(json.loads(check.expect.read_text()), r.body, atol=check.atol, rtol=check.rtol)
    response_file, response_sha = save_response(run_dir, check.name, r.text)
    return CheckResult(name=check.name, passed=not diff, status=r.status, expected_status=check.expect_status,
                       elapsed_ms=round(r.elapsed_ms, 2), diff=diff, request=str(check.request),
                       expect=str(check.expect) if check.expect else None, response_excerpt=r.text[:500],
                       atol=check.atol, rtol=check.rtol, response_sha256=response_sha, response_file=response_file)


def run_checks(checks: list[CheckSpec], predictor: Predictor, run_dir: Path,
               on_result: Callable[[CheckResult], None] = lambda result: None) -> list[CheckResult]:
    """Every check in order; `on_result` sees each as it completes (progress lines)."""
    results = []
    for check in checks:
        results.append(run_check(check, predictor, run_dir))
        on_result(results[-1])
    return results

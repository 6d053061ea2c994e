"""junit.xml for a run directory: CI systems show each check and each SLO as a test.

Flow: `render_junit(report)` -> one <testsuite> named after the scenario with
  * `run`: an <error> when the run itself failed (lint, deploy, timeout...), with the hint and details;
  * one testcase per prediction check (<failure> with the differences);
  * one testcase per SLO per load step per trial, and one for each step's load verdict (INVALID:
    the generator was the bottleneck, FAIL with a named cause...).
`pytest --junitxml` writes the pytest view of the same run; this file is what `harness run` leaves.
"""
from __future__ import annotations

import socket
import xml.etree.ElementTree as ET

from harness.errors import is_verdict
from harness.load.result import LoadResult
from harness.report.ab import ab_cases
from harness.report.rollout import rollout_cases
from harness.report.model import Report


def _case(suite: ET.Element, classname: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{max(seconds, 0.0):.3f}")


def render_junit(report: Report) -> str:
    scenario = str(report.scenario.get("name") or "scenario")
    cls = f"harness.{scenario}"
    suite = ET.Element("testsuite", name=cls, timestamp=report.started_at or "", hostname=socket.gethostname())
    props = ET.SubElement(suite, "properties")
    for key, value in (("run_id", report.run_id), ("target", report.target.get("name")),
                       ("scenario_sha256", report.scenario.get("sha256")),
                       ("archive_sha256", report.archive.sha256 if report.archive else None),
                       ("schema_version", report.schema_version), ("trials", report.trials)):
        if value is not None:
            ET.SubElement(props, "property", name=key, value=str(value))

    run = _case(suite, cls, "run", sum(p.seconds for p in report.phases))
    if report.error and not is_verdict(report.error):  # a verdict's failures are the testcases below
        e = report.error
        err = ET.SubElement(run, "error", message=str(e.get("line") or e.get("what")), type=str(e.get("kind") or "error"))
        err.text = "\n".join(str(x) for x in (e.get("what"), e.get("where") and f"where: {e['where']}",
                                               e.get("hint") and f"what to do: {e['hint']}", e.get("details")) if x)

    for c in report.checks:
        case = _case(suite, f"{cls}.checks", c.name, (c.elapsed_ms or 0.0) / 1000.0)
        if not c.passed:
            fail = ET.SubElement(case, "failure", message=c.diff[0] if c.diff else "check failed", type="check")
            fail.text = "\n".join(c.diff)

    load_cases(suite, cls, report.load_results())
    ab_cases(suite, cls, report.ab)
    rollout_cases(suite, cls, report.rollout)

    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    suite.set("skipped", "0")
    suite.set("time", f"{sum(p.seconds for p in report.phases):.3f}")
    root = ET.Element("testsuites", name="kserve-harness", tests=suite.get("tests"), failures=suite.get("failures"),
                      errors=suite.get("errors"), time=suite.get("time"))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def load_cases(suite: ET.Element, cls: str, results: list[LoadResult]) -> None:
    """The load section of junit.xml: per trial and step, one testcase per SLO and one for the
    step's verdict (a failure names the reasons and the cause)."""
    for ti, result in enumerate(results, 1):
        prefix = f"[trial {ti}] " if len(results) > 1 else ""
        for step in result.steps:
            verdict = step.verdict
            for slo in verdict.slo:
                case = _case(suite, f"{cls}.slo", f"{prefix}{step.label}: {slo.name} <= {slo.limit:g}")
                if not slo.passed:
                    shown = "not measured" if slo.observed is None else f"{slo.observed:g}"
                    ET.SubElement(case, "failure", type="slo",
                                  message=f"{slo.name}: observed {shown}, limit {slo.limit:g}")
            case = _case(suite, f"{cls}.load", f"{prefix}{step.label}: verdict", float(step.duration_s or 0.0))
            if verdict.status != "PASS":
                reasons = list(verdict.reasons)
                if verdict.cause:
                    reasons.append(f"cause: {verdict.cause}")
                fail = ET.SubElement(case, "failure", type=f"load {verdict.status}",
                                     message=f"{verdict.status}: {reasons[0] if reasons else 'load step did not pass'}")
                fail.text = "\n".join(reasons)

"""A rollout's views: its summary.md section, report.html section and JUnit testcases
(harness.rollout.model.RolloutResult)."""
from __future__ import annotations

import html
import xml.etree.ElementTree as ET

from harness.rollout.model import RolloutResult


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _side_rows(ro: RolloutResult) -> list[tuple]:
    return [(s.side, ", ".join(s.pods) or "—", s.requests, s.errors, _ms(s.latency_ms.p50), _ms(s.latency_ms.p99))
            for s in ro.sides]


def _timeline(ro: RolloutResult) -> str:
    """One cell per window: B (baseline only), C (candidate only), + (both), x (an error), . (nothing)."""
    out = []
    for w in ro.windows:
        if any(w.errors.values()):
            out.append("x")
        elif w.requests.get("baseline") and w.requests.get("candidate"):
            out.append("+")
        elif w.requests.get("candidate"):
            out.append("C")
        elif w.requests.get("baseline"):
            out.append("B")
        else:
            out.append(".")
    return "".join(out)


def _headline(ro: RolloutResult) -> str:
    times = (f"patched at {ro.patched_at_s:g} s" if ro.patched_at_s is not None else "not patched") + (
        f", settled at {ro.settled_at_s:g} s" if ro.settled_at_s is not None else "")
    return (f"strategy {ro.strategy}, on_success {ro.on_success}; {times}; {ro.failed_requests} failed request(s) "
            f"from the patch on" + (f"; new revision: {ro.cause}" if ro.cause else ""))


def rollout_markdown(ro: RolloutResult | None) -> list[str]:
    if ro is None:
        return []
    lines = [f"## Rollout: {ro.outcome} — {'PASS' if ro.passed else 'FAIL'}", "", _headline(ro), "",
             "| side | pods | requests | errors | p50 ms | p99 ms |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {' | '.join(str(c) for c in row)} |" for row in _side_rows(ro)]
    lines += ["", f"per {len(ro.windows)} window(s) (B baseline, C candidate, + both, x errors): `{_timeline(ro)}`", ""]
    if ro.candidate_slo:
        lines += ["candidate SLO: " + ", ".join(
            f"{c.name} {_ms(c.observed) if c.name.endswith('_ms') else c.observed} ≤ {c.limit:g} "
            f"{'ok' if c.passed else '**FAIL**'}" for c in ro.candidate_slo), ""]
    lines += [f"- {r}" for r in ro.reasons] + ([""] if ro.reasons else [])
    return lines


def rollout_html(ro: RolloutResult | None) -> str:
    if ro is None:
        return ""
    esc = html.escape
    rows = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in _side_rows(ro))
    out = [f"<h2>Rollout: {esc(ro.outcome)} — {'PASS' if ro.passed else 'FAIL'}</h2>", f"<p>{esc(_headline(ro))}</p>",
           "<table><tr><th>side</th><th>pods</th><th>requests</th><th>errors</th><th>p50 ms</th><th>p99 ms</th></tr>"
           f"{rows}</table>",
           f"<p>windows (B baseline, C candidate, + both, x errors): <code>{esc(_timeline(ro))}</code></p>"]
    if ro.candidate_slo:
        out.append("<p>candidate SLO: " + esc(", ".join(
            f"{c.name} {c.observed} ≤ {c.limit:g} {'ok' if c.passed else 'FAIL'}" for c in ro.candidate_slo)) + "</p>")
    if ro.reasons:
        out.append("<ul>" + "".join(f"<li>{esc(r)}</li>" for r in ro.reasons) + "</ul>")
    return "\n".join(out)


def rollout_cases(suite: ET.Element, cls: str, ro: RolloutResult | None) -> None:
    """'no failed request', 'new revision became Ready', one per candidate SLO, and the outcome asked for."""
    if ro is None:
        return

    def case(name: str, failure: str | None) -> None:
        c = ET.SubElement(suite, "testcase", classname=f"{cls}.rollout", name=name, time="0.000")
        if failure:
            ET.SubElement(c, "failure", type="rollout", message=failure)

    case("rollout: no failed request during the rollout",
         f"{ro.failed_requests} failed request(s)" + (f", e.g. {ro.errors[0]}" if ro.errors else "")
         if ro.failed_requests else None)
    case("rollout: the new revision became Ready", f"new revision failed: {ro.cause}" if ro.cause else None)
    for c in ro.candidate_slo:
        case(f"rollout: candidate {c.name} <= {c.limit:g}", None if c.passed else f"{c.name} {c.observed} > {c.limit:g}")
    wanted = "promoted" if ro.on_success == "promote" else "rolled back"
    case(f"rollout: {wanted}", None if ro.outcome == wanted and not ro.cause else f"outcome: {ro.outcome}")

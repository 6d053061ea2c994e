"""A rollout's views: its summary.md section, report.html section and JUnit testcases
(harness.rollout.model.RolloutResult); a canary's steps as a table and one testcase per step."""
from __future__ import annotations

import html
import xml.etree.ElementTree as ET

from harness.rollout.model import RolloutResult


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _side_rows(ro: RolloutResult) -> list[tuple]:
    return [(s.side, ", ".join(s.pods) or "—", s.requests, s.errors, _ms(s.latency_ms.p50), _ms(s.latency_ms.p99))
            for s in ro.sides]


STEP_HEADER = ("step", "from s", "to s", "baseline req", "candidate req", "errors", "candidate share", "cand p50 ms",
               "cand p95 ms", "cand p99 ms", "SLO", "result")


def _step_rows(ro: RolloutResult) -> list[tuple]:
    rows = []
    for s in ro.steps:
        share = "—" if s.candidate_share is None else f"{100 * s.candidate_share:.1f} %" + (
            "" if s.share_plausible in (True, None) else " (unlikely)")
        slo = ", ".join(f"{c.name} {'ok' if c.passed else 'FAIL'}" for c in s.slo) or "—"
        rows.append((f"{s.percent} %", _s(s.start_s), _s(s.end_s), s.requests.get("baseline", 0),
                     s.requests.get("candidate", 0), sum(s.errors.values()), share, _ms(s.candidate_latency_ms.p50),
                     _ms(s.candidate_latency_ms.p95), _ms(s.candidate_latency_ms.p99), slo,
                     "pass" if s.passed else "FAIL"))
    return rows


def _s(v: float | None) -> str:
    return "—" if v is None else f"{v:g}"


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
    revisions = (f"; revisions {ro.baseline_revision} -> {ro.candidate_revision or '—'}"
                 if ro.baseline_revision else "")
    return (f"strategy {ro.strategy}, on_success {ro.on_success}; {times}; {ro.failed_requests} failed request(s) "
            f"from the patch on" + revisions + (f"; new revision: {ro.cause}" if ro.cause else ""))


def rollout_markdown(ro: RolloutResult | None) -> list[str]:
    if ro is None:
        return []
    lines = [f"## Rollout: {ro.outcome} — {'PASS' if ro.passed else 'FAIL'}", "", _headline(ro), "",
             "| side | pods | requests | errors | p50 ms | p99 ms |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {' | '.join(str(c) for c in row)} |" for row in _side_rows(ro)]
    if ro.steps:
        lines += ["", "| " + " | ".join(STEP_HEADER) + " |", "|" + "---|" * 3 + "---:|" * 7 + "---|---|"]
        lines += [f"| {' | '.join(str(c) for c in row)} |" for row in _step_rows(ro)]
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
           _steps_html(ro),
           f"<p>windows (B baseline, C candidate, + both, x errors): <code>{esc(_timeline(ro))}</code></p>"]
    if ro.candidate_slo:
        out.append("<p>candidate SLO: " + esc(", ".join(
            f"{c.name} {c.observed} ≤ {c.limit:g} {'ok' if c.passed else 'FAIL'}" for c in ro.candidate_slo)) + "</p>")
    if ro.reasons:
        out.append("<ul>" + "".join(f"<li>{esc(r)}</li>" for r in ro.reasons) + "</ul>")
    return "\n".join(out)


def _steps_html(ro: RolloutResult) -> str:
    if not ro.steps:
        return ""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in STEP_HEADER)
    rows = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in _step_rows(ro))
    return f"<table><tr>{head}</tr>{rows}</table>"


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
    for s in ro.steps:
        case(f"rollout: canary step {s.percent} %", s.reason)
    wanted = "promoted" if ro.on_success == "promote" else "rolled back"
    case(f"rollout: {wanted}", None if ro.outcome == wanted and not ro.cause else f"outcome: {ro.outcome}")

"""summary.md: the report as a CI job summary (GitHub renders it; a terminal reads it).

The load section is harness.load.summary.render_load_markdown (the one markdown rendering of load results).
"""
from __future__ import annotations

from harness.load.summary import render_load_markdown
from harness.report.gpu import gpu_summary
from harness.report.ab import ab_markdown
from harness.report.rollout import rollout_markdown
from harness.report.model import ColdStart, Report, RuntimeInfo
from harness.report.runtime import path_sentence, rows, runtime_name


def render_summary(report: Report) -> str:
    verdict = "PASS" if report.passed else "FAIL"
    sc = report.scenario
    lines = [
        f"# {verdict}: {sc.get('name')} on {report.target.get('name')}",
        "",
        f"run `{report.run_id}` · started {report.started_at} · scenario `{sc.get('file')}`",
        "",
    ]
    if report.error:
        e = report.error
        lines += [f"> **{e.get('kind')}**: {e.get('what')}", ">"]
        if e.get("where"):
            lines.append(f"> where: `{e['where']}`")
        if e.get("hint"):
            lines.append(f"> what to do: {e['hint']}")
        lines.append("")
        if e.get("details"):
            lines += ["<details><summary>details</summary>", "", "```", e["details"].rstrip(), "```", "", "</details>", ""]
    if report.lint_warnings:
        lines += ["## Lint warnings", "", *[f"- `{w.get('code')}`: {w.get('what')}"
                                            + (f" — {w['hint']}" if w.get("hint") else "") for w in report.lint_warnings], ""]
    if report.runtime:
        lines += _runtime_section(report.runtime)
    if report.phases:
        lines += ["## Phases", "", "| phase | seconds | status |", "|---|---:|---|"]
        lines += [f"| {p.name} | {p.seconds:.2f} | {p.status}{' — ' + p.detail if p.detail else ''} |"
                  for p in report.phases]
        lines += [f"| **total** | **{sum(p.seconds for p in report.phases):.2f}** | |", ""]
    if report.cold_start:
        lines += _cold_start_section(report.cold_start)
    if report.checks:
        lines += ["## Checks", "", "| check | result | HTTP | ms |", "|---|---|---:|---:|"]
        for c in report.checks:
            ms = f"{c.elapsed_ms:.1f}" if c.elapsed_ms is not None else ""
            lines.append(f"| {c.name} | {'pass' if c.passed else '**FAIL**'} | {c.status or ''} | {ms} |")
        lines.append("")
        for c in report.checks:
            if c.diff:
                lines += [f"### {c.name}: differences", "", "```", *c.diff, "```", ""]
    lines += ab_markdown(report.ab)
    lines += rollout_markdown(report.rollout)
    lines += render_load_markdown(report.load_results())
    lines += _gpu_section(report.load_results())
    env = report.environment
    if env:
        lines += ["## Environment", "",
                  " · ".join(f"{k} {v}" for k, v in env.items() if v is not None and not isinstance(v, (dict, list))), ""]
        if env.get("gpus"):
            lines += ["GPU: " + "; ".join(f"{g.get('name')} (driver {g.get('driver')})" for g in env["gpus"]), ""]
    if report.archive:
        lines += [f"archive sha256 `{report.archive.sha256[:16]}` ({'reused' if report.archive.reused else 'built'})", ""]
    if report.diagnostics:
        lines += ["## Diagnostics", "", *[f"- `{d}`" for d in report.diagnostics], ""]
    lines += ["Plots: `report.html` in the run directory (self-contained; `harness report RUN_DIR` re-renders it).", ""]
    return "\n".join(lines) + "\n"


def _cold_start_section(cs: ColdStart) -> list[str]:
    """Each phase's end (from the origin) and its own seconds; an absent one says why."""
    lines = ["## Cold start", "", f"t = 0: {cs.origin}", "",
             "| phase | at (s) | seconds | bytes | from |", "|---|---:|---:|---:|---|"]
    for p in cs.phases:
        if p.missing:
            lines.append(f"| {p.name} | — | — | | absent: {p.missing} |")
            continue
        res = f" (±{p.resolution_s:g} s)" if p.resolution_s >= 1 else ""
        lines.append(f"| {p.name} | {p.at_s:.2f} | {p.seconds:.2f}{res} | {p.bytes if p.bytes is not None else ''} | "
                     f"{p.source}{' — ' + p.detail if p.detail else ''} |")
    return lines + [""]


def _runtime_section(rt: RuntimeInfo) -> list[str]:
    """The image, what ran, where they differ, and the path every figure was measured on."""
    lines = ["## Runtime", "", f"{runtime_name(rt)} · image `{rt.image}` · every check and load figure measured on the "
             f"**{rt.serving_path}** path: {path_sentence(rt)}", "",
             "| package | image ships | ran | |", "|---|---|---|---|"]
    lines += [f"| {name} | {want} | {got} | {'**' + note + '**' if note else ''} |" for name, want, got, note in rows(rt)]
    return lines + ["", f"ran in: {rt.ran_source}", ""]


def _gpu_section(results) -> list[str]:
    """Each load step's GPU figures in one line naming their source."""
    rows = [f"- {s.label}: {gpu_summary(s.gpu)}" for r in results for s in r.steps if s.gpu is not None]
    return ["## GPU", "", *rows, ""] if rows else []

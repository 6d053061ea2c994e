"""summary.md: the report as a CI job summary (GitHub renders it; a terminal reads it)."""
from __future__ import annotations

from harness.report.model import Report


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
    if report.phases:
        lines += ["## Phases", "", "| phase | seconds | status |", "|---|---:|---|"]
        lines += [f"| {p.name} | {p.seconds:.2f} | {p.status}{' — ' + p.detail if p.detail else ''} |"
                  for p in report.phases]
        lines += [f"| **total** | **{sum(p.seconds for p in report.phases):.2f}** | |", ""]
    if report.checks:
        lines += ["## Checks", "", "| check | result | HTTP | ms |", "|---|---|---:|---:|"]
        for c in report.checks:
            ms = f"{c.elapsed_ms:.1f}" if c.elapsed_ms is not None else ""
            lines.append(f"| {c.name} | {'pass' if c.passed else '**FAIL**'} | {c.status or ''} | {ms} |")
        lines.append("")
        for c in report.checks:
            if c.diff:
                lines += [f"### {c.name}: differences", "", "```", *c.diff, "```", ""]
    load_md = _load_section(report)
    if load_md:
        lines += load_md
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


def _load_section(report: Report) -> list[str]:
    """Filled by the load engine's summary renderer when the run has a load phase."""
    if not report.load:
        return []
    from harness.report.trials import trials_markdown

    try:
        from harness.load.summary import render_load_markdown
    except ImportError:
        return trials_markdown(report.load_results())
    return render_load_markdown(report.load) + trials_markdown(report.load_results())

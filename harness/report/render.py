"""Everything rendered from report.json: summary.md, report.html, junit.xml.

Flow: `write_report` (model.py) writes report.json, then these; `harness report RUN_DIR`
re-renders them from report.json alone (`rerender(run_dir)`), e.g. after a harness upgrade.
"""
from __future__ import annotations

from pathlib import Path

from harness.report.model import Report


def render_outputs(report: Report) -> dict[str, str]:
    from harness.report.html import render_html
    from harness.report.junit import render_junit
    from harness.report.markdown import render_summary

    return {"summary.md": render_summary(report), "report.html": render_html(report), "junit.xml": render_junit(report)}


def load_report(path: Path) -> Report:
    """report.json from a run directory or the file itself.

    Raises:
        ConfigError: missing, not JSON, not a report, or a newer major schema version.
    """
    import json

    from pydantic import ValidationError

    from harness.errors import ConfigError
    from harness.report.model import SCHEMA_VERSION, read_report

    path = Path(path)
    file = path / "report.json" if path.is_dir() else path
    if not file.is_file():
        raise ConfigError("no report.json found", where=str(file),
                          hint="give a run directory (reports/<run-id>) or its report.json")
    try:
        raw = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"report.json is not valid JSON: {exc}", where=str(file)) from exc
    version = str(raw.get("schema_version", "")) if isinstance(raw, dict) else ""
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ConfigError(f"report schema {version or '(none)'} is not readable by this harness "
                          f"(reads {SCHEMA_VERSION.split('.')[0]}.x)", where=str(file),
                          hint="re-run the scenario, or use the harness version that wrote it")
    try:
        return read_report(file)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"report.json does not match the report schema: {loc}: {first['msg']}",
                          where=str(file)) from exc


def rerender(run_dir: Path) -> list[Path]:
    """Rewrite summary.md, report.html and junit.xml of a run directory from its report.json."""
    run_dir = Path(run_dir)
    report = load_report(run_dir)
    base = run_dir if run_dir.is_dir() else run_dir.parent
    written = []
    for name, text in render_outputs(report).items():
        target = base / name
        tmp = target.with_name(name + ".tmp")
        tmp.write_text(text)
        tmp.replace(target)
        written.append(target)
    return written

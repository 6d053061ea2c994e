"""Writing a run's report: report.json first, then what is rendered from it (summary.md,
report.html, junit.xml), each atomically; `rerender(run_dir)` rewrites the rendered files from
report.json alone (`harness report RUN_DIR`, e.g. after a harness upgrade).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from harness.errors import EnvironmentProblem
from harness.report.html import render_html
from harness.report.junit import render_junit
from harness.report.markdown import render_summary
from harness.report.model import Report, load_report


def render_outputs(report: Report) -> dict[str, str]:
    return {"summary.md": render_summary(report), "report.html": render_html(report), "junit.xml": render_junit(report)}


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file and one rename; on any failure (a full disk) no .tmp is left."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise EnvironmentProblem(f"cannot write the report: {exc.strerror or exc}", where=str(path),
                                 hint="free disk space or pass a writable --report-dir; files already "
                                      "written are kept") from exc


def write_report(report: Report, run_dir: Path) -> Path:
    """report.json first, then what is rendered from it: summary.md, report.html, junit.xml.

    Raises:
        EnvironmentProblem: a file could not be written (it names the path); what was written stays.
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot create the report directory: {exc.strerror or exc}", where=str(run_dir),
                                 hint="pass a writable --report-dir") from exc
    _atomic_write(run_dir / "report.json", json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
    for name, text in render_outputs(report).items():
        _atomic_write(run_dir / name, text)
    return run_dir / "report.json"


def check_writable(report_dir: Path) -> None:
    """Fail at once, before anything runs, when reports cannot be written under `report_dir`."""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=report_dir, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise EnvironmentProblem(f"the report directory is not writable: {exc.strerror or exc}",
                                 where=str(report_dir), hint="pass a writable folder as --report-dir") from exc


def rerender(run_dir: Path) -> list[Path]:
    """Rewrite summary.md, report.html and junit.xml of a run directory from its report.json."""
    run_dir = Path(run_dir)
    report = load_report(run_dir)
    base = run_dir if run_dir.is_dir() else run_dir.parent
    written = []
    for name, text in render_outputs(report).items():
        _atomic_write(base / name, text)
        written.append(base / name)
    return written

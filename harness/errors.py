"""One error tree for everything the harness reports to a user.

Flow: any phase raises a HarnessError subclass; the CLI prints `error.one_line()` and exits with
`error.exit_code`; the runner stores the error (and its diagnostics paths) in the report.
"""
from __future__ import annotations

from pathlib import Path

# Exit codes of the `harness` CLI.
EXIT_OK = 0
EXIT_FAILED = 1  # the model did not serve correctly: a check failed, it never became ready, an SLO missed
EXIT_USAGE = 2  # config, lint or environment error: nothing about the model was judged
EXIT_INVALID = 3  # the checks passed but a load measurement cannot be trusted (INVALID: e.g. the generator was the bottleneck)
EXIT_INTERNAL = 4  # a bug in the harness itself; the traceback is in the report's diagnostics
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM; everything started was stopped first


class HarnessError(Exception):
    """Base error: what failed, where, and what to do about it.

    Args:
        what: one sentence, what failed ("TorchServe worker never became READY").
        where: the file, URL, process or resource concerned.
        hint: what the user should do next.
        details: longer text (a log excerpt, a diff) kept for the report, not the one-liner.
        diagnostics: paths of files saved for the report.
    """

    exit_code = EXIT_USAGE
    kind = "error"

    def __init__(
        self,
        what: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        details: str | None = None,
        diagnostics: list[Path] | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.where = where
        self.hint = hint
        self.details = details
        self.diagnostics = list(diagnostics or [])

    def one_line(self) -> str:
        parts = [f"{self.kind}: {self.what}"]
        if self.where:
            parts.append(f"at {self.where}")
        line = " ".join(parts)
        if self.hint:
            line += f" — {self.hint}"
        return line

    def to_dict(self) -> dict:
        return {
            "type": type(self).__name__,
            "kind": self.kind,
            "line": self.one_line(),
            "what": self.what,
            "where": self.where,
            "hint": self.hint,
            "details": self.details,
            "diagnostics": [str(p) for p in self.diagnostics],
            **({"code": self.code} if hasattr(self, "code") else {}),
        }

    def __str__(self) -> str:
        return self.one_line()


class ConfigError(HarnessError):
    """The scenario file is invalid (schema, missing file, bad value)."""

    kind = "config error"


class LintError(HarnessError):
    """A lint finding: an error would break the deployment; a warning is shown and the run goes on.

    `severity` is stamped by harness.lints.lint() from its one table (never set by the rules).
    """

    kind = "lint"

    def __init__(self, code: str, what: str, **kw) -> None:
        super().__init__(what, **kw)
        self.code = code
        self.severity = "error"

    def one_line(self) -> str:
        label = f"lint {self.code}:" if self.severity == "error" else f"lint warning {self.code}:"
        return super().one_line().replace("lint:", label, 1)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "severity": self.severity}


class EnvironmentProblem(HarnessError):
    """The machine lacks something the harness needs (a binary, a port, credentials)."""

    kind = "environment error"


class DeployError(HarnessError):
    """The model did not become ready: it is the model's (or cluster's) failure."""

    exit_code = EXIT_FAILED
    kind = "not ready"


class PredictorError(HarnessError):
    """The predictor could not be reached or answered with a transport-level failure."""

    exit_code = EXIT_FAILED
    kind = "predictor error"


class Interrupted(HarnessError):
    """The user pressed Ctrl-C; everything started has been stopped."""

    exit_code = EXIT_INTERRUPTED
    kind = "interrupted"


class Verdict(HarnessError):
    """Not a crash: the run completed and judged the model; the error names the first reason.

    Readers that judge checks and load themselves (junit's testcases, `harness compare`) tell a
    verdict from a failure to run by `VERDICT_TYPES`.
    """


class ModelFailed(Verdict):
    """A check or an SLO failed: the model did not serve correctly."""

    exit_code = EXIT_FAILED
    kind = "failed"


class InvalidMeasurement(Verdict):
    """The checks passed but a load measurement cannot be trusted (the generator was the bottleneck)."""

    exit_code = EXIT_INVALID
    kind = "invalid measurement"


VERDICT_TYPES = frozenset({"ModelFailed", "InvalidMeasurement"})


def is_verdict(error: dict | None) -> bool:
    """True for a report.json `error` that is a verdict (checks/SLOs), not a failure to run."""
    return bool(error) and error.get("type") in VERDICT_TYPES


class InternalError(HarnessError):
    """An exception the harness did not expect: a bug, reported as one line plus a traceback file."""

    exit_code = EXIT_INTERNAL
    kind = "internal error"

    @classmethod
    def from_exception(cls, exc: BaseException, traceback_file: Path | None = None) -> "InternalError":
        """Name the exception and the innermost harness frame it came from."""
        import traceback

        package = str(Path(__file__).resolve().parent) + "/"
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(package)]
        frame = frames[-1] if frames else None
        text = "".join(traceback.format_exception(exc))
        return cls(f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300],
                   where=f"{frame.filename}:{frame.lineno}" if frame else None, details=text,
                   hint="this is a bug in the harness; please report it with "
                        + (str(traceback_file) if traceback_file else "the traceback (HARNESS_TRACEBACK=1)"),
                   diagnostics=[traceback_file] if traceback_file else [])

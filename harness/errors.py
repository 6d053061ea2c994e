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
    """A lint found a mistake that would break the deployment."""

    kind = "lint"

    def __init__(self, code: str, what: str, **kw) -> None:
        super().__init__(what, **kw)
        self.code = code

    def one_line(self) -> str:
        return super().one_line().replace("lint:", f"lint {self.code}:", 1)


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

    exit_code = 130
    kind = "interrupted"

"""The shape of a lint rule, shared by the generic lints (harness.lints) and each runtime's own.

A rule is a function `spec -> Iterator[LintError]`, registered on a `RuleSet` with `@rules.rule`;
`where_in(spec, key)` names the place in the scenario file a finding points at.
"""
from __future__ import annotations

from typing import Callable, Iterator

from harness.errors import LintError
from harness.spec import ScenarioSpec

Rule = Callable[[ScenarioSpec], Iterator[LintError]]


class RuleSet(list):
    """Rules in registration order."""

    def rule(self, fn: Rule) -> Rule:
        self.append(fn)
        return fn


def where_in(spec: ScenarioSpec, key: str) -> str:
    return f"{spec.source}: {key}" if spec.source else key

"""The one base of every model report.json holds (the report and the load result it carries).

Strict when built in code: an unknown field is an error (`extra="forbid"`), so a typo in the
harness fails at once. Tolerant when read back: validating with `context=reading_context()`
(what `harness.report.model.load_report` does) drops the fields this harness does not know — a
newer minor schema may add some — and records each one, as "Model.field", in the context's
"dropped" list. The context reaches every nested model, so one flag covers the whole report.

    ctx = reading_context()
    report = Report.model_validate(raw, context=ctx)   # ctx["dropped"]: ["Report.extra", ...]
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator


def reading_context() -> dict[str, Any]:
    """A validation context that reads tolerantly; what was dropped is appended to its "dropped"."""
    return {"reading": True, "dropped": []}


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown_when_reading(cls, data: Any, info: ValidationInfo) -> Any:
        ctx = info.context
        if not (isinstance(ctx, dict) and ctx.get("reading")) or not isinstance(data, dict):
            return data
        known = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
        unknown = [k for k in data if k not in known]
        if not unknown:
            return data
        ctx.setdefault("dropped", []).extend(f"{cls.__name__}.{k}" for k in unknown)
        return {k: v for k, v in data.items() if k in known}

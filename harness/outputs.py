"""Model outputs compared within a tolerance: an expected body against a response, two responses
against each other, and the canonical hash that says "same outputs" at once.

`value_diff(expected, actual, atol, rtol)` -> human-readable differences (empty = match).
Expected bodies are a *subset*: keys absent from the expectation are not compared (servers add
ids and versions), lists must have the same length, floats match within atol + rtol*|expected|,
ints, strings, bools and nulls match exactly. Volatile fields are left out of the hash and of
`outputs_diff`: the V2 response `id` is a fresh request id on every call (TorchServe's kservev2
envelope), so it would make every run "different".
"""
from __future__ import annotations

import hashlib
import json
import math
from typing import Any

VOLATILE_KEYS = ("id",)  # top-level keys that differ on every call by design


def _stable(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in VOLATILE_KEYS}
    return body


def parse_body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def body_sha256(text: str) -> str:
    """sha256 of the body's canonical JSON (sorted keys, volatile keys left out), or of the raw text."""
    body = parse_body(text)
    canon = text if isinstance(body, str) else json.dumps(_stable(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def _fmt(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def value_diff(expected: Any, actual: Any, *, atol: float = 1e-5, rtol: float = 0.0, path: str = "$",
            limit: int = 20) -> list[str]:
    """Differences between an expected (subset) body and the actual one, as `path: ...` lines."""
    diffs: list[str] = []

    def walk(exp: Any, act: Any, where: str) -> None:
        if len(diffs) >= limit:
            return
        if isinstance(exp, dict):
            if not isinstance(act, dict):
                diffs.append(f"{where}: expected an object, got {_fmt(act)}")
                return
            for key, sub in exp.items():
                if key not in act:
                    diffs.append(f"{where}.{key}: missing (expected {_fmt(sub)})")
                else:
                    walk(sub, act[key], f"{where}.{key}")
        elif isinstance(exp, list):
            if not isinstance(act, list):
                diffs.append(f"{where}: expected a list of {len(exp)}, got {_fmt(act)}")
                return
            if len(exp) != len(act):
                diffs.append(f"{where}: expected {len(exp)} items, got {len(act)}")
                return
            for i, (e, a) in enumerate(zip(exp, act)):
                walk(e, a, f"{where}[{i}]")
        elif isinstance(exp, float):
            if isinstance(act, bool) or not isinstance(act, (int, float)):
                diffs.append(f"{where}: expected {exp!r}, got {_fmt(act)}")
            elif not math.isclose(act, exp, rel_tol=rtol, abs_tol=atol) and not (math.isnan(exp) and math.isnan(act)):
                diffs.append(f"{where}: expected {exp!r}, got {act!r} (|diff| {abs(act - exp):.3g} > atol {atol:g}"
                             + (f" + rtol {rtol:g}" if rtol else "") + ")")
        elif type(exp) is not type(act) or exp != act:  # ints, strings, bools, null: exactly, type included
            diffs.append(f"{where}: expected {_fmt(exp)}, got {_fmt(act)}")

    walk(expected, actual, path)
    if len(diffs) >= limit:
        diffs.append(f"... (stopped after {limit} differences)")
    return diffs


def outputs_diff(baseline_text: str, current_text: str, *, atol: float, rtol: float = 0.0) -> list[str]:
    """Differences between two response bodies: floats within atol/rtol, everything else exactly,
    both ways (a key or item only in one of them is a difference)."""
    base, cur = _stable(parse_body(baseline_text)), _stable(parse_body(current_text))
    diffs = value_diff(base, cur, atol=atol, rtol=rtol)
    if isinstance(base, dict) and isinstance(cur, dict):
        diffs += [f"$.{k}: only in the current response" for k in cur if k not in base]
    return diffs

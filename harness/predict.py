"""Talk to a predictor over KServe's V1/V2 REST protocols and compare what it says.

Flow: `Predictor(endpoint).post(body)` -> `Response` (status, parsed JSON, latency);
`compare(expected, actual, atol, rtol)` -> list of human-readable differences (empty = match).
Expected bodies are a *subset*: keys absent from the expectation are not compared (servers add
ids and versions), lists must have the same length, floats match within atol + rtol*|expected|,
ints, strings, bools and nulls match exactly.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

import httpx

from harness.errors import PredictorError
from harness.targets.base import Endpoint


@dataclass
class Response:
    status: int
    body: Any  # parsed JSON, or the text when it is not JSON
    text: str
    elapsed_ms: float


class Predictor:
    """An HTTP client for one Endpoint (Host header included when routing through an ingress)."""

    def __init__(self, endpoint: Endpoint, *, timeout_s: float = 60.0) -> None:
        self.endpoint = endpoint
        self.client = httpx.Client(base_url=endpoint.base_url, headers=endpoint.headers, timeout=timeout_s)

    def post(self, body: bytes | str | dict, path: str | None = None) -> Response:
        if isinstance(body, dict):
            body = json.dumps(body)
        url_path = path or self.endpoint.predict_path
        start = time.perf_counter()
        try:
            r = self.client.post(url_path, content=body)
        except httpx.TransportError as exc:
            raise PredictorError(f"request failed: {type(exc).__name__}: {exc}",
                                 where=f"{self.endpoint.base_url}{url_path}",
                                 hint="the predictor is not reachable; see the diagnostics") from exc
        elapsed = (time.perf_counter() - start) * 1000
        try:
            parsed = r.json()
        except ValueError:
            parsed = r.text
        return Response(status=r.status_code, body=parsed, text=r.text, elapsed_ms=elapsed)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Predictor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fmt(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def compare(expected: Any, actual: Any, *, atol: float = 1e-5, rtol: float = 0.0, path: str = "$",
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

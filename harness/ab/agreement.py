"""Outputs side by side: each request body sent to both sides once, their outputs compared.

An output is one row of the answer: an item of V1 `predictions`, a row of a V2 output tensor
(by its first dimension), else the whole body. Rows agree when harness.outputs.value_diff finds
no difference at the source's tolerance (the check's atol/rtol); rows of numbers also give the
largest absolute difference and, when they look like per-class scores, top-1 agreement.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.ab.model import OutputsAgreement, OutputsSource
from harness.outputs import parse_body, value_diff
from harness.predict import Predictor

EXAMPLES = 5  # differences kept per source


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # check | load
    body: bytes
    path: str | None
    atol: float
    rtol: float = 0.0


def rows(body: Any) -> list[Any]:
    """The body's outputs, one per instance."""
    if isinstance(body, dict) and isinstance(body.get("predictions"), list):
        return list(body["predictions"])
    if isinstance(body, dict) and isinstance(body.get("outputs"), list):
        out = []
        for o in body["outputs"]:
            data, shape = (o.get("data"), o.get("shape")) if isinstance(o, dict) else (o, None)
            if isinstance(data, list) and isinstance(shape, list) and len(shape) >= 2 and shape[0] \
                    and len(data) % shape[0] == 0:
                n = len(data) // shape[0]
                out += [data[i * n:(i + 1) * n] for i in range(shape[0])]
            else:
                out.append(data)
        return out
    return [body]


def _numbers(row: Any) -> list[float] | None:
    if isinstance(row, list) and row and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
        return [float(v) for v in row]
    return None


def _flat(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, list):
        return [x for v in value for x in _flat(v)]
    if isinstance(value, dict):
        return [x for k in sorted(value) for x in _flat(value[k])]
    return []


def compare_source(src: Source, baseline: Predictor, candidate: Predictor) -> OutputsSource:
    a, b = baseline.post(src.body, src.path), candidate.post(src.body, src.path)
    out = OutputsSource(name=src.name, kind=src.kind, atol=src.atol, rtol=src.rtol, status=(a.status, b.status))
    rows_a, rows_b = rows(parse_body(a.text)), rows(parse_body(b.text))
    out.outputs = len(rows_a)
    if a.status != b.status:
        out.differences.append(f"HTTP status: baseline {a.status}, candidate {b.status}: {b.text[:200]}")
        return out
    if len(rows_a) != len(rows_b):
        out.differences.append(f"$: baseline {len(rows_a)} outputs, candidate {len(rows_b)}")
        return out
    for i, (ra, rb) in enumerate(zip(rows_a, rows_b)):
        diff = value_diff(ra, rb, atol=src.atol, rtol=src.rtol, path=f"$[{i}]", limit=EXAMPLES)
        out.agree += not diff
        out.differences += diff[:max(0, EXAMPLES - len(out.differences))]
        fa, fb = _flat(ra), _flat(rb)
        gaps = [abs(x - y) for x, y in zip(fa, fb) if math.isfinite(x - y)] if len(fa) == len(fb) else []
        if gaps:
            out.max_abs_diff = max(out.max_abs_diff or 0.0, max(gaps))
        na, nb = _numbers(ra), _numbers(rb)
        if na and nb and len(na) == len(nb) >= 2:  # per-class scores: does the winning class agree?
            out.top1_compared += 1
            out.top1_agree += na.index(max(na)) == nb.index(max(nb))
    return out


def compare_outputs(sources: list[Source], baseline: Predictor, candidate: Predictor) -> OutputsAgreement:
    """Every source sent to both sides; the per-source results and their totals."""
    res = OutputsAgreement(sources=[compare_source(s, baseline, candidate) for s in sources])
    res.outputs = sum(s.outputs for s in res.sources)
    res.agree = sum(s.agree for s in res.sources)
    res.top1_compared = sum(s.top1_compared for s in res.sources)
    res.top1_agree = sum(s.top1_agree for s in res.sources)
    gaps = [s.max_abs_diff for s in res.sources if s.max_abs_diff is not None]
    res.max_abs_diff = max(gaps) if gaps else None
    return res

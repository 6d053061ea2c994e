"""The load section of summary.md, from a LoadResult (as stored in report.json)."""
from __future__ import annotations

from typing import Any


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def render_load_markdown(load: dict[str, Any]) -> list[str]:
    verdict = load.get("verdict", {})
    lines = ["## Load", "", f"**{verdict.get('status', '?')}**"
             + (f" — {verdict['cause']}" if verdict.get("cause") else ""), ""]
    lines += [f"- {r}" for r in verdict.get("reasons", [])]
    lines += ["", "| step | req/s | p50 ms | p90 ms | p95 ms | p99 ms | max ms | errors | batch (mean) | "
              "queue ms | inference ms | generator | verdict |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for step in load.get("steps", []):
        c = step.get("client", {})
        lat = c.get("latency_ms") or {}
        window = (step.get("server") or {}).get("window") or {}
        gen = step.get("generator") or {}
        lines.append(
            f"| {step.get('label')} | {c.get('throughput_rps', 0):.1f} | {_ms(lat.get('p50'))} | {_ms(lat.get('p90'))} | "
            f"{_ms(lat.get('p95'))} | {_ms(lat.get('p99'))} | {_ms(lat.get('max'))} | {c.get('errors', 0)} | "
            f"{_ms(window.get('mean_batch_size'))} | {_ms(window.get('queue_latency_mean_ms'))} | "
            f"{_ms(window.get('inference_latency_mean_ms'))} | {'ok' if gen.get('valid', True) else 'INVALID'} | "
            f"{(step.get('verdict') or {}).get('status', '?')} |")
    slo = [s for step in load.get("steps", []) for s in (step.get("verdict") or {}).get("slo", [])]
    if slo:
        lines += ["", "| SLO | limit | observed | result |", "|---|---:|---:|---|"]
        lines += [f"| {s['name']} | {s['limit']} | {_ms(s.get('observed'))} | {'pass' if s.get('passed') else '**FAIL**'} |"
                  for s in slo]
    errors = [e for step in load.get("steps", []) for e in step.get("errors", [])]
    if errors:
        lines += ["", "| HTTP status | count | message | cause |", "|---:|---:|---|---|"]
        lines += [f"| {e.get('status')} | {e.get('count')} | {str(e.get('message', ''))[:80]} | {e.get('cause') or ''} |"
                  for e in errors[:10]]
    lines.append("")
    return lines

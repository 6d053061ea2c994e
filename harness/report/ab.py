"""The A/B section of summary.md and junit.xml (and of `harness compare`'s markdown; report.html's
is harness.report.html.ab_html, from the same lines): both sides, the paired verdict per metric
with its 95% interval, the outputs' agreement."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.ab.model import AbResult, PairedMetric


def value_with_unit(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.4g}{' ' + unit if unit else ''}"


def fmt_paired(m: PairedMetric) -> str:
    """The mean paired difference and its 95% interval: "+12.3% [+8.1%, +16.5%]"."""
    if m.mean is None:
        return "—"
    shown = (lambda v: f"{v:+.4g}") if m.absolute else (lambda v: f"{100 * v:+.1f}%")
    return shown(m.mean) + (f" [{shown(m.low)}, {shown(m.high)}]" if m.low is not None else "")


def agreement_line(ab: AbResult) -> str:
    o = ab.outputs
    pct = f" ({100 * o.agree / o.outputs:.0f} %)" if o.outputs else ""
    top1 = f"; top-1 agreement {o.top1_agree}/{o.top1_compared}" if o.top1_compared else ""
    gap = f"; largest difference {o.max_abs_diff:.3g}" if o.max_abs_diff is not None else ""
    return f"outputs agree within tolerance: {o.agree}/{o.outputs}{pct}{top1}{gap}"


def ab_plan(ab: AbResult) -> str:
    """How the paired load ran, in words (summary.md and report.html)."""
    if ab.schedule == "interleaved":
        warm = f" after {ab.warmup_block_s:g} s of unmeasured warm-up" if ab.warmup_block_s else ""
        return (f"{ab.blocks_per_side} windows of {ab.block_s:g} s, one load whose consecutive requests go one to "
                f"each side{warm}, order {ab.order}")
    warm = f" after a {ab.warmup_block_s:g} s unmeasured warm-up block each" if ab.warmup_block_s else ""
    return f"{ab.blocks_per_side} blocks of {ab.block_s:g} s per side{warm}, order {ab.order}"


def ab_markdown(ab: AbResult | None, heading: str = "##") -> list[str]:
    if ab is None:
        return []
    lines = [f"{heading} A/B: {ab.verdict}", "",
             f"baseline `{ab.baseline.scenario}` ({ab.baseline.model}, {ab.baseline.runtime}) · candidate "
             f"`{ab.candidate.scenario}` ({ab.candidate.model}, {ab.candidate.runtime})", ""]
    if ab.blocks:
        invalid = f"; {len(ab.invalid_blocks)} block(s) INVALID, their pairs left out" if ab.invalid_blocks else ""
        lines += [f"{ab_plan(ab)}{invalid}; difference = "
                  "candidate − baseline per block pair (relative unless absolute), mean and 95% t interval", "",
                  "| metric | baseline | candidate | paired difference [95%] | pairs | threshold | verdict |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for m in ab.metrics:
            th = "—" if m.threshold is None else (f"{m.threshold:g}" if m.absolute else f"±{100 * m.threshold:.0f}%")
            v = f"**{m.verdict}**" if m.verdict == "regression" else m.verdict
            lines.append(f"| {m.label} | {value_with_unit(m.baseline, m.unit)} | {value_with_unit(m.candidate, m.unit)} | {fmt_paired(m)} | "
                         f"{m.pairs} | {th} | {v} |")
        lines.append("")
    lines += [agreement_line(ab), "", "| request | kind | HTTP | agree | largest diff | top-1 | tolerance |",
              "|---|---|---|---:|---:|---:|---:|"]
    for s in ab.outputs.sources:
        top1 = f"{s.top1_agree}/{s.top1_compared}" if s.top1_compared else "—"
        gap = f"{s.max_abs_diff:.3g}" if s.max_abs_diff is not None else "—"
        lines.append(f"| {s.name} | {s.kind} | {s.status[0]} / {s.status[1]} | {s.agree}/{s.outputs} | {gap} | "
                     f"{top1} | atol {s.atol:g}{f' rtol {s.rtol:g}' if s.rtol else ''} |")
    lines.append("")
    examples = [(s.name, d) for s in ab.outputs.sources for d in s.differences]
    if examples:
        lines += ["Disagreements (baseline expected, candidate got):", "", "```",
                  *[f"{name}: {d}" for name, d in examples[:10]], "```", ""]
    lines += [f"- {r}" for r in ab.reasons]
    return lines + ([""] if ab.reasons else [])


def ab_cases(suite: ET.Element, cls: str, ab: AbResult | None) -> None:
    """One testcase per judged paired metric (a regression fails) and one for the outputs' agreement."""
    if ab is None:
        return
    for m in ab.metrics:
        if m.verdict in ("info", "n/a"):
            continue
        case = ET.SubElement(suite, "testcase", classname=f"{cls}.ab", name=f"{m.label}: {m.verdict}", time="0.000")
        if m.verdict == "regression":
            ET.SubElement(case, "failure", type="ab regression", message=f"{m.label}: {m.reason}")
    if ab.invalid_blocks or ab.verdict == "invalid":
        case = ET.SubElement(suite, "testcase", classname=f"{cls}.ab", name="load blocks valid", time="0.000")
        ET.SubElement(case, "error", type="ab invalid", message=f"{len(ab.invalid_blocks)} of {len(ab.blocks)} "
                      "block(s) INVALID: the load generator, not the server, limited them")
    case = ET.SubElement(suite, "testcase", classname=f"{cls}.ab", name="outputs agree", time="0.000")
    if not ab.outputs.all_agree:
        fail = ET.SubElement(case, "failure", type="ab disagree", message=agreement_line(ab))
        fail.text = "\n".join(f"{s.name}: {d}" for s in ab.outputs.sources for d in s.differences)

"""Shared by the benchmarks that measure two serving setups side by side, and by every benchmark's table.

Flow: `alternate_blocks(sides, rounds)` runs closed-loop load blocks that alternate between the
sides (ABAB, then BABA...), so machine drift hits all alike -> per side a list of (req/s, p50, p99)
-> `median_rows(blocks)` renders one markdown row per side -> `write_table(dir, stem, text)`
prints the table and writes it as <dir>/<stem>-<time>.md.
"""
from __future__ import annotations

import datetime as dt
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.ab.blocks import abba
from harness.load.phase import run_load_phase
from harness.progress import Progress
from harness.spec import ScenarioSpec
from harness.endpoint import Endpoint

Block = tuple[float, float, float]  # req/s, p50 ms, p99 ms


@dataclass
class Side:
    spec: ScenarioSpec  # its load section is what each block runs
    endpoint: Endpoint
    out_dir: Path  # one folder per block below it


def alternate_blocks(sides: dict[str, Side], rounds: int, progress: Progress) -> dict[str, list[Block]]:
    blocks: dict[str, list[Block]] = {name: [] for name in sides}
    for r, name in abba(rounds, tuple(sides)):
        progress.say(f"== round {r}/{rounds}: {name}")
        side = sides[name]
        result = run_load_phase(side.spec, side.endpoint, side.out_dir / f"round{r}", progress)
        c = result.steps[0].client
        blocks[name].append((c.throughput_rps, c.latency_ms.p50, c.latency_ms.p99))
    return blocks


def median(blocks: list[Block], i: int) -> float:
    return statistics.median(b[i] for b in blocks)


def median_rows(blocks: dict[str, list[Block]], first_column: str) -> list[str]:
    """| side | req/s (median) | p50 ms | p99 ms | blocks (req/s) |, one row per side."""
    rows = [f"| {first_column} | req/s (median) | p50 ms | p99 ms | blocks (req/s) |", "|---|---:|---:|---:|---|"]
    for name, bs in blocks.items():
        rows.append(f"| {name} | {median(bs, 0):.1f} | {median(bs, 1):.1f} | {median(bs, 2):.1f} | "
                    + ", ".join(f"{b[0]:.0f}" for b in bs) + " |")
    return rows


def write_table(report_dir: Path, stem: str, lines: list[str]) -> Path:
    text = "\n".join(lines) + "\n"
    print(text)
    out = report_dir / f"{stem}-{dt.datetime.now():%Y%m%d-%H%M%S}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written: {out}", file=sys.stderr)
    return out

"""Load blocks alternating between two deployed sides in ABBA order (AB, BA, AB, ...).

Each block is a normal load step (harness.load.phase.run_load_phase: Locust, exact figures,
self-check, server window) of `block_s` seconds; a pair is one block of each side run back to
back, and flipping the order every pair cancels linear drift in the pairs' mean difference —
the alternation benchmarks/_side_by_side.py uses for its side-by-side tables.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.endpoint import Endpoint
from harness.load.phase import run_load_phase
from harness.load.result import LoadResult
from harness.progress import Progress
from harness.spec import ScenarioSpec

SIDES = ("baseline", "candidate")


@dataclass
class Block:
    side: str
    pair: int  # 1-based
    order: int  # 1-based position in the run
    result: LoadResult


def abba(pairs: int, sides: tuple[str, ...] = SIDES) -> list[tuple[int, str]]:
    """(pair, side) in run order: AB, BA, AB, ..."""
    return [(p + 1, side) for p in range(pairs) for side in (sides if p % 2 == 0 else sides[::-1])]


def run_blocks(sides: dict[str, tuple[ScenarioSpec, Endpoint]], pairs: int, out_dir: Path,
               progress: Progress) -> list[Block]:
    """`sides[name]` = (the scenario whose load is one block, its endpoint); every block in ABBA order."""
    blocks = []
    for order, (pair, side) in enumerate(abba(pairs), 1):
        progress.say(f"  A/B block {order}/{2 * pairs}: {side}")
        spec, endpoint = sides[side]
        result = run_load_phase(spec, endpoint, out_dir / f"{order:02d}-{side}", progress)
        blocks.append(Block(side=side, pair=pair, order=order, result=result))
    return blocks

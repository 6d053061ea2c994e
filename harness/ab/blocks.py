"""Load blocks on two deployed sides, paired: in ABBA order (AB, BA, AB, ...), or both at once.

Each block is a normal load step (harness.load.phase.run_load_phase: Locust, exact figures,
self-check, server window) of `block_s` seconds. `alternate`: a pair is one block of each side
run back to back, and flipping the order every pair cancels linear drift in the pairs' mean
difference (the alternation benchmarks/_side_by_side.py uses too). `concurrent`: a pair is both
sides loaded in the same time window by two Locust runs at once, so even second-scale noise (other
work on a shared machine) hits both alike; the two loads share the machine, symmetrically.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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


def warm_up_blocks(sides: dict[str, tuple[ScenarioSpec, Endpoint]], out_dir: Path, progress: Progress) -> None:
    """One unmeasured block per side before the pairs, so neither starts colder (kept on disk, not judged)."""
    for side, (spec, endpoint) in sides.items():
        progress.say(f"  A/B warm-up block: {side} ({spec.load.duration_s:g} s, not measured)")
        run_load_phase(spec, endpoint, out_dir / f"00-warm-up-{side}", progress)


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


def run_concurrent_blocks(sides: dict[str, tuple[ScenarioSpec, Endpoint]], pairs: int, out_dir: Path,
                          progress: Progress) -> list[Block]:
    """Both sides at once, pair by pair: each pair's blocks measure the same time window."""
    blocks = []
    quiet = Progress(quiet=True)  # two loads' progress lines would interleave: one line per pair instead
    with ThreadPoolExecutor(max_workers=len(SIDES), thread_name_prefix="ab-block") as pool:
        for pair in range(1, pairs + 1):
            futures = {side: pool.submit(run_load_phase, sides[side][0], sides[side][1],
                                         out_dir / f"{pair:02d}-{side}", quiet) for side in SIDES}
            results = {side: f.result() for side, f in futures.items()}
            progress.say(f"  A/B pair {pair}/{pairs}, both at once: " + ", ".join(
                f"{side} p50 {r.steps[0].client.latency_ms.p50:.1f} ms {r.verdict.status}"
                if r.steps[0].client.latency_ms.count else f"{side} {r.verdict.status}" for side, r in results.items()))
            blocks += [Block(side=side, pair=pair, order=pair, result=results[side]) for side in SIDES]
    return blocks

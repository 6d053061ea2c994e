"""Load blocks on two deployed sides, paired: interleaved request by request, in ABBA order (AB,
BA, AB, ...), or both at once.

Each block is a normal load step (harness.load.phase.run_load_phase: Locust, exact figures,
self-check, server window) of `block_s` seconds. `alternate`: a pair is one block of each side
run back to back, and flipping the order every pair cancels linear drift in the pairs' mean
difference (the alternation benchmarks/_side_by_side.py uses too). `concurrent`: a pair is both
sides loaded in the same time window by two Locust runs at once, so even second-scale noise (other
work on a shared machine) hits both alike; the two loads share the machine, symmetrically.
`interleaved` (the default): one Locust run whose consecutive requests go one to each side
(harness.load.interleaved), cut into windows of `block_s`; a pair is one window's requests of each
side. Both sides then see the same moments of the machine request by request, one load runs at a
time, and Locust starts once instead of once per block.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.endpoint import Endpoint
from harness.load.interleaved import run_interleaved
from harness.load.phase import expected_batching, run_load_phase
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


def _side_line(side: str, result: LoadResult) -> str:
    """One side of a pair in a progress line: its p50 and verdict."""
    lat = result.steps[0].client.latency_ms
    return f"{side} p50 {lat.p50:.1f} ms {result.verdict.status}" if lat.count else f"{side} {result.verdict.status}"


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
            progress.say(f"  A/B pair {pair}/{pairs}, both at once: "
                         + ", ".join(_side_line(side, r) for side, r in results.items()))
            blocks += [Block(side=side, pair=pair, order=pair, result=results[side]) for side in SIDES]
    return blocks


def run_interleaved_blocks(sides: dict[str, tuple[ScenarioSpec, Endpoint]], pairs: int, out_dir: Path,
                           progress: Progress, warm_s: float = 0.0) -> list[Block]:
    """One interleaved load of `pairs` windows (`warm_s` of it first, unmeasured: the warm-up block
    of both sides at once); window w of each side is pair w."""
    specs = [sides[side][0] for side in SIDES]
    block = specs[0].load
    template = block.runs()[0][0]
    # Open loop: each side is offered the load's rate, as in its own block; closed-loop users are shared.
    rate = template.rate * len(SIDES) if template.rate else None
    stages = [template.model_copy(update={"label": f"window {w + 1}/{pairs}", "rate": rate,
                                          "warmup_s": (warm_s + block.warmup_s) if w == 0 else 0.0})
              for w in range(pairs)]
    progress.say(f"  A/B interleaved: {pairs} windows of {block.duration_s:g} s, requests alternating between "
                 f"the sides" + (f", after {warm_s:g} s of unmeasured warm-up" if warm_s else ""))
    last = [0.0]

    def report(p) -> None:
        if p.elapsed_s - last[0] >= 5.0:
            last[0] = p.elapsed_s
            progress.say(f"  A/B interleaved: {p.elapsed_s:.0f}/{p.planned_s:.0f}s, sent {p.sent}, ok {p.ok}, "
                         f"errors {p.errors}")

    per_side = run_interleaved(block, [sides[side][1] for side in SIDES], block.read_bodies(), stages, out_dir,
                               report, expected=[expected_batching(s) for s in specs])
    blocks = []
    for w, results in enumerate(zip(*per_side)):
        progress.say(f"  A/B window {w + 1}/{pairs}: "
                     + ", ".join(_side_line(side, r) for side, r in zip(SIDES, results)))
        blocks += [Block(side=side, pair=w + 1, order=w + 1, result=r) for side, r in zip(SIDES, results)]
    return blocks

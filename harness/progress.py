"""Progress on stderr, one line per phase start and end, so CI logs and terminals read alike."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    @contextmanager
    def phase(self, name: str, doing: str) -> Iterator[None]:
        self.say(f"▶ {name}: {doing}")
        start = time.monotonic()
        try:
            yield
        except BaseException:
            self.say(f"✗ {name} failed after {time.monotonic() - start:.1f}s")
            raise
        self.say(f"✓ {name} ({time.monotonic() - start:.1f}s)")

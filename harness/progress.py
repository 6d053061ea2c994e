"""Progress on stderr: one line per phase start and end, and a heartbeat on long phases, so a
waiting run never looks hung (CI logs and terminals read alike)."""
from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator, TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False, heartbeat_s: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.heartbeat_s = heartbeat_s

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    @contextmanager
    def phase(self, name: str, doing: str) -> Iterator[None]:
        self.say(f"▶ {name}: {doing}")
        start = time.monotonic()
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(self.heartbeat_s):
                self.say(f"  … {name}: still running after {time.monotonic() - start:.0f}s")

        beat = threading.Thread(target=heartbeat, name=f"progress-{name}", daemon=True)
        if not self.quiet:
            beat.start()
        try:
            yield
        except BaseException:
            self.say(f"✗ {name} failed after {time.monotonic() - start:.1f}s")
            raise
        finally:
            done.set()
        self.say(f"✓ {name} ({time.monotonic() - start:.1f}s)")

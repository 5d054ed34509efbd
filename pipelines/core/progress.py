"""Progress lines a person watching a job can read: stage, done (of total), rate, tokens/s
and, where the total is known, the time left. Plain Python: the Beam stages and the
fine-tuning engine log through the same line."""
from __future__ import annotations

import logging
import time

log = logging.getLogger("hintq.progress")


class ProgressLine:
    """Logs `stage: done/total rows, rate, ETA` at most every `every_s` seconds."""

    def __init__(self, stage: str, unit: str = "rows", every_s: float = 5.0):
        self.stage, self.unit, self.every_s = stage, unit, every_s
        self.started = time.perf_counter()
        self.last = 0.0
        self.done = 0
        self.tokens = 0

    def add(self, rows: int, total: int | None = None, tokens: int = 0, force: bool = False,
            note: str | None = None) -> None:
        self.done += rows
        self.tokens += tokens
        now = time.perf_counter()
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        elapsed = max(1e-6, now - self.started)
        parts = [f"{self.stage}: {self.done}" + (f"/{total}" if total else "") + f" {self.unit}"]
        parts.append(f"{self.done / elapsed:.1f} {self.unit}/s")
        if self.tokens:
            parts.append(f"{self.tokens / elapsed:.0f} tokens/s")
        if note:  # e.g. the training loss of the last step
            parts.append(note)
        if total and self.done:
            left = elapsed * (total - self.done) / self.done
            parts.append(f"ETA {int(left // 60)}m{int(left % 60):02d}s")
        log.info(" | ".join(parts))

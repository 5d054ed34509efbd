"""Progress and timing that a person watching `hintq run` can read.

Timing goes to Beam counters (`hintq.stage_us`, one per stage: microseconds spent inside
that stage's own code), so the summary can show where the night went on any runner.
Progress lines go to the log: stage, rows done, rate and, where the total is known, an
estimate of the time left.
"""
from __future__ import annotations

import contextlib
import logging
import time

from apache_beam.metrics import Metrics

log = logging.getLogger("hintq.progress")
STAGE_US = "hintq.stage_us"


@contextlib.contextmanager
def stage_timer(stage: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        Metrics.counter(STAGE_US, stage).inc(int((time.perf_counter() - start) * 1e6))


class ProgressLine:
    """Logs `stage: done/total rows, rate, ETA` at most every `every_s` seconds."""

    def __init__(self, stage: str, unit: str = "rows", every_s: float = 5.0):
        self.stage, self.unit, self.every_s = stage, unit, every_s
        self.started = time.perf_counter()
        self.last = 0.0
        self.done = 0
        self.tokens = 0

    def add(self, rows: int, total: int | None = None, tokens: int = 0, force: bool = False) -> None:
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
        if total and self.done:
            left = elapsed * (total - self.done) / self.done
            parts.append(f"ETA {int(left // 60)}m{int(left % 60):02d}s")
        log.info(" | ".join(parts))


def stage_timings(result) -> dict:
    """Seconds spent in each stage, summed over workers, from the runner's metrics."""
    try:
        counters = result.metrics().query()["counters"]
    except Exception:  # some runners report no metrics; timings are informational
        return {}
    out = {}
    for c in counters:
        if c.key.metric.namespace == STAGE_US:
            out[c.key.metric.name] = out.get(c.key.metric.name, 0) + (c.committed or c.attempted or 0)
    return {stage: round(us / 1e6, 2) for stage, us in sorted(out.items())}

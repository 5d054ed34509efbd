"""Stages 1–2 of a night as a job of their own: the day read, validated, capped and
joined, and kept in the warehouse (warehouse/clean_day.py) for the night's tables, which
then start from it (pipelines/stages/read_day.py: StoredDay).

The nightly job runs it in a process beside its own start (jobs/nightly.py:
`day_read_beside_start`): importing vLLM and torch and loading the engine and the
embedder is ~11 s of one core's work, and on a machine of two cores the day is read on
the other one meanwhile, instead of before or after it (1k-shopper world: ~3.7 s of the
night's critical path).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from apache_beam.options.pipeline_options import PipelineOptions

from jobs.runner import job_pipeline, run_to_completion
from pipelines.core.config import HintQConfig
from pipelines.stages.read_day import the_day
from warehouse import clean_day


@dataclass(frozen=True)
class DayToKeep:
    """What the job reads and where it keeps it: a night's own settings, passed whole."""
    options: dict  # the night's pipeline options (PipelineOptions.get_all_options)
    input_root: str
    dt: str
    cfg: HintQConfig
    built_dir: str  # where the pipeline writes the day before it is stored
    warehouse: str
    fingerprint: str  # warehouse/clean_day.py: clean_day_fingerprint


def keep_clean_day(day: DayToKeep, report=None) -> str:
    """Reads the day and stores it; returns the stored folder, and sends its seconds and its
    process's peak RSS to `report` (a multiprocessing connection) where given. Raises where
    the pipeline fails or nothing was kept (a day without shoppers): the night then reads
    the day itself."""
    started = time.perf_counter()
    logging.basicConfig(level=logging.WARNING)
    p = job_pipeline(PipelineOptions.from_dictionary(day.options))
    the_day(p, day.input_root, day.dt, day.cfg, keep_to=day.built_dir)
    run_to_completion(p)
    kept = clean_day.keep_day(day.built_dir, day.warehouse, day.dt, day.fingerprint, day.cfg.publish.shared_day_days)
    if kept is None:
        raise RuntimeError(f"nothing kept of dt={day.dt} (no shoppers?)")
    if report is not None:
        report.send({"seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": _peak_rss_mb()})
        report.close()
    return kept


def _peak_rss_mb() -> int | None:
    """This process's peak RSS (Linux: VmHWM, its own memory's; getrusage's would count
    the memory of the process it was forked from before its exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None

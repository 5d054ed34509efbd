"""Stages 1–2 of a night in a process of its own: the entry point (`read_clean_day`) of the
process that reads, validates, caps and joins the day and writes it as KeepDay does
(warehouse/clean_day.py), for the night that started it to keep and start from
(pipelines/stages/read_day.py: StoredDay).

The nightly job starts it beside its own start (jobs/nightly.py: `day_read_beside_start`):
importing vLLM and torch and loading the engine and the embedder is ~10 s of one core's
work, and on a machine of two cores the day is read on the other one meanwhile, instead
of before it (1k-shopper world: ~4.5 s off the night's critical path). The night, which
holds the staging lock, stores what it wrote: a reader that dies or is stopped halfway
leaves only a staging folder.
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
    """What the reader reads and where it writes it: the night's own settings, passed whole."""
    options: dict  # the night's pipeline options (PipelineOptions.get_all_options)
    input_root: str
    dt: str
    cfg: HintQConfig
    built_dir: str  # the night's staging folder of the day (StagingLayout.clean_day)


def read_clean_day(day: DayToKeep, report=None) -> None:
    """Reads the day and writes it to `day.built_dir`; then sends its seconds and its
    process's peak RSS to `report` (a multiprocessing connection) where given. Raises where
    the pipeline fails or no shopper was written (a day without shoppers): the night then
    reads the day itself."""
    started = time.perf_counter()
    logging.basicConfig(level=logging.WARNING)
    p = job_pipeline(PipelineOptions.from_dictionary(day.options))
    the_day(p, day.input_root, day.dt, day.cfg, keep_to=day.built_dir)
    run_to_completion(p)
    if not clean_day.stored_files(day.built_dir, clean_day.SHOPPERS):
        raise RuntimeError(f"no shoppers written for dt={day.dt}")
    if report is not None:
        report.send({"seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": _peak_rss_mb()})
        report.close()


def _peak_rss_mb() -> int | None:
    """This process's peak RSS (Linux: VmHWM, its own memory's; getrusage's would count
    the memory of the process it was forked from before its exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None

"""The nightly jobs: one table of one day, validate → … → rank & fill → staged write, then publish.

    python -m jobs.nightly --table x2q --dt 2026-11-01 --input data/input --warehouse data/warehouse
    python -m jobs.nightly --table u2q --dt 2026-11-01 --input data/input --warehouse data/warehouse

x2q (Think) runs first: u2q fills short lists from the day's published x2q lists, and
records which x2q partition it read. Unknown flags (the Airflow Beam operator always adds
`--labels=...`) are ignored.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions
from apache_beam.runners.runner import PipelineState

from jobs.options import HintQOptions
from pipelines.core.config import ConfigError, HintQConfig, resolve_config
from pipelines.core.memory import CarriedProfile
from pipelines.core.normalize import load_blocklist
from pipelines.generation import GeneratorSpec, VllmGeneratorSpec
from pipelines.io import EmptyInputPartition, InputFileUnreadable, partition_glob, partition_row_counts
from pipelines.model_store import ModelUnavailable
from pipelines.progress import STAGE_US
from pipelines.files import published_days, read_published
from pipelines.publish import publish
from pipelines.staging import StagingLayout
from pipelines.u2q import build_u2q
from pipelines.verification import EmbedderSpec
from pipelines.x2q import build_x2q

log = logging.getLogger("hintq.job")


class InputPartitionMissing(FileNotFoundError):
    """The day's events or catalog partition is absent: nothing to compute, nothing published."""


@dataclass(frozen=True)
class NightlyRun:
    table: str
    dt: str
    input: str
    warehouse: str
    run_id: str
    staging: StagingLayout
    cfg: HintQConfig
    generator: GeneratorSpec
    embedder: EmbedderSpec
    blocklist: frozenset
    blocklist_path: str


def code_version() -> str:
    from hintq import __version__

    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha, dirty = "", ""
    return f"{__version__}+{sha}{'.dirty' if dirty else ''}" if sha else __version__


class StagingLock:
    """One run per table and day at a time: a second run fails fast instead of mixing
    files. While the lock is held, any other staging folder of that table and day is
    debris of a killed run and is removed."""

    def __init__(self, warehouse: str, table: str, day: str):
        self.dir = staging_dir(warehouse, table, day)
        self.fd = None

    def __enter__(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.dir / ".lock", os.O_CREAT | os.O_RDWR)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise RuntimeError(f"another run of {self.dir.name} is in progress (lock {self.dir / '.lock'})")
        for stale in self.dir.glob("run=*"):
            log.warning("removing staging debris of an earlier run: %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def staging_dir(warehouse: str, table: str, day: str) -> Path:
    return Path(warehouse) / "_staging" / table / f"dt={day}"


def prepare(options: PipelineOptions, generator: GeneratorSpec | None = None) -> NightlyRun:
    """Everything that can be refused is refused here, in seconds, before any stage runs:
    options, settings (ranges), the day's input files (present, readable, with events),
    and the models (resolved to folders that exist)."""
    o = options.view_as(HintQOptions)
    o.require("dt", "input", "warehouse", "table")
    dt.date.fromisoformat(o.dt)
    cfg = resolve_config(o.config, o.overrides, flags={"generate.model": o.model})
    input_root = str(Path(o.input).resolve())
    for table in ("events", "catalog"):
        rows = partition_row_counts(input_root, table, o.dt)
        if not rows:
            raise InputPartitionMissing(f"input partition {table}/dt={o.dt} has no Parquet files "
                                        f"({partition_glob(input_root, table, o.dt)})")
        if sum(rows.values()) == 0:
            raise EmptyInputPartition(f"input partition {table}/dt={o.dt} has {len(rows)} file(s) and 0 rows: "
                                      "an empty day is an upstream fault, not a night to publish. "
                                      "Nothing was run or published.")
    generator = generator or VllmGeneratorSpec.for_config(cfg)
    embedder = EmbedderSpec.for_config(cfg.verify)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"
    staging = StagingLayout(str(staging_dir(str(Path(o.warehouse).resolve()), o.table, o.dt) / f"run={run_id}"))
    return NightlyRun(table=o.table, dt=o.dt, input=input_root, warehouse=str(Path(o.warehouse).resolve()),
                      run_id=run_id, staging=staging, cfg=cfg, generator=generator, embedder=embedder,
                      blocklist=load_blocklist(o.blocklist), blocklist_path=o.blocklist)


def _stage_timings(result) -> dict:
    try:
        counters = result.metrics().query()["counters"]
    except Exception:  # some runners report no metrics; timings are informational
        return {}
    out = {}
    for c in counters:
        if c.key.metric.namespace == STAGE_US:
            out[c.key.metric.name] = out.get(c.key.metric.name, 0) + (c.committed or c.attempted or 0)
    return {stage: round(us / 1e6, 2) for stage, us in sorted(out.items())}


class ProfileMemoryMissing(RuntimeError):
    """Yesterday's profiles are not published though earlier days are: today would start
    from empty memory without anyone asking for it. Nothing is published."""


def _read_rows(path: str, columns: list[str] | None = None):
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(columns=columns):
        yield from batch.to_pylist()


def _x2q_input(p, night: NightlyRun) -> tuple[object, dict]:
    """The day's published x2q rows for u2q's fill step, and what the manifest says of them."""
    found = read_published(night.warehouse, "x2q", night.dt)
    if found is None:
        log.warning("x2q/dt=%s is not published: u2q lists are filled from popular queries only", night.dt)
        return None, {"used": False, "reason": f"x2q/dt={night.dt} is not published"}
    manifest, files = found
    rows = (p | "X2QFiles" >> beam.Create([str(f) for f in files])
            | "ReadX2Q" >> beam.FlatMap(_read_rows, ["trigger_type", "trigger_id", "queries"]))
    return rows, {"used": True, "partition": f"x2q/dt={night.dt}", "run_id": manifest["run_id"],
                  "rows": manifest["rows"]}


def _memory_input(p, night: NightlyRun, bootstrap: bool) -> tuple[object, dict]:
    """Yesterday's profile memory, and what the manifest says of it.

    Day D reads profiles/dt=D-1. If that is missing while an earlier day has profiles, the
    run fails (ProfileMemoryMissing) rather than start from empty memory, unless
    `--bootstrap` asks for exactly that; a warehouse with no earlier profiles at all is a
    first day, which starts empty and says so.
    """
    previous = (dt.date.fromisoformat(night.dt) - dt.timedelta(days=1)).isoformat()
    found = read_published(night.warehouse, "profiles", previous)
    if found is not None:
        manifest, files = found
        carried = (p | "MemoryFiles" >> beam.Create([str(f) for f in files])
                   | "ReadMemory" >> beam.FlatMap(_read_rows)
                   | "ToCarried" >> beam.Map(CarriedProfile.from_row))
        return carried, {"read": f"profiles/dt={previous}", "run_id": manifest["run_id"],
                         "rows": sum(f["rows"] for f in manifest["files"]),
                         "sha256": [f["sha256"] for f in manifest["files"]]}
    earlier = [d for d in published_days(night.warehouse, "profiles") if d < night.dt]
    if earlier and not bootstrap:
        raise ProfileMemoryMissing(
            f"profiles/dt={previous} is not published (the latest earlier profiles are dt={earlier[-1]}): "
            f"day {night.dt} would start from empty memory. Run {previous} first "
            f"(hintq backfill --start {previous} --end {night.dt}) or pass --bootstrap to start from "
            f"empty memory on purpose. Nothing was published.")
    reason = ("--bootstrap: started from empty memory on purpose" if earlier
              else "no earlier profiles in the warehouse: a first day starts from empty memory")
    log.warning("profile memory for dt=%s: %s", night.dt, reason)
    return None, {"read": None, "reason": reason}


def run(argv=None, save_main_session=True, test_pipeline=None, generator: GeneratorSpec | None = None):
    """Runs one table of one day and publishes it. Returns (PipelineResult, manifest)."""
    options = PipelineOptions(argv)
    options.view_as(SetupOptions).save_main_session = save_main_session
    night = prepare(options, generator)
    started = time.time()
    with StagingLock(night.warehouse, night.table, night.dt):
        p = test_pipeline or beam.Pipeline(options=options)
        graph = dict(input_root=night.input, dt=night.dt, staging=night.staging, cfg=night.cfg,
                     generator=night.generator, embedder=night.embedder, blocklist=night.blocklist)
        extra = {}
        if night.table == "x2q":
            build_x2q(p, **graph)
            k = night.cfg.x2q.k
        else:
            carried, extra["profile_memory"] = _memory_input(p, night, options.view_as(HintQOptions).bootstrap)
            x2q_rows, extra["x2q_fill"] = _x2q_input(p, night)
            build_u2q(p, **graph, x2q_rows=x2q_rows, carried=carried)
            k = night.cfg.rank.k
        log.info("run %s: %s pipeline for dt=%s starting", night.run_id, night.table, night.dt)
        result = p.run()
        state = result.wait_until_finish()
        if state not in (PipelineState.DONE, None):
            raise RuntimeError(f"pipeline ended in state {state}; nothing published")
        pipeline_s = time.time() - started
        manifest = publish(night.staging.root, night.warehouse, night.dt, night.table, k, {
            "run_id": night.run_id,
            "model": {"generator": night.generator.describe(),
                      "embedder": {"name": night.embedder.name, "revision": night.embedder.revision}},
            "code_version": code_version(),
            "config": night.cfg.to_dict(),
            "blocklist": {"path": night.blocklist_path, "terms": len(night.blocklist)},
            "timings": {"pipeline_s": round(pipeline_s, 1), "stage_s": _stage_timings(result)},
            **extra,
        })
    return result, manifest


# What a night refuses up front, before any stage: a message, not a traceback.
REFUSED = (ConfigError, ModelUnavailable, InputPartitionMissing, EmptyInputPartition, InputFileUnreadable,
           ProfileMemoryMissing)


def main(argv=None) -> int:
    # force: importing Beam already logged a warning, which set up a WARNING-level root.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    for noisy in ("transformers", "sentence_transformers", "apache_beam", "faiss", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        _, manifest = run(argv)
    except REFUSED as exc:
        log.error("refused, nothing run or published: %s", exc)
        print(json.dumps({"refused": type(exc).__name__, "error": str(exc)}))
        return 2
    print(json.dumps({"published": f"{manifest['table']}/dt={manifest['dt']}", "rows": manifest["rows"],
                      "run_id": manifest["run_id"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The nightly jobs: one table of one day, validate → … → rank & fill → staged write, then publish.

    python -m jobs.nightly --table x2q --dt 2026-11-01 --input data/input --warehouse data/warehouse
    python -m jobs.nightly --table u2q --dt 2026-11-01 --input data/input --warehouse data/warehouse

x2q (Think) runs first: u2q fills short lists from the day's published x2q lists, and
records which x2q partition it read. Unknown flags (the Airflow Beam operator always adds
`--labels=...`) are ignored.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import glob
import json
import logging
import multiprocessing
import os
import posixpath
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, SetupOptions
from apache_beam.runners.runner import PipelineResult

from jobs.clean_day import DayToKeep, read_clean_day
from jobs.options import HintQOptions
from jobs.runner import job_pipeline, run_to_completion, runs_embedded
from pipelines.beam.progress import counter_sums, stage_timings
from pipelines.core.config import ConfigError, HintQConfig, resolve_config
from pipelines.core.normalize import load_blocklist
from pipelines.core.passes import UserPass, pass_count, summed_stats
from pipelines.core.prompts import TASK_OF_TABLE
from pipelines.core.ranker import FeaturesDiffer, Ranker, RankerUnusable
from pipelines.core.version import code_version
from pipelines.engines.embedder import EmbedderSpec
from pipelines.engines.generator import GeneratorSpec, VllmGeneratorSpec, engine_holder, engine_loaded, shared_engine
from pipelines.engines.heap import CollectingLess
from pipelines.engines.model_store import ModelUnavailable
from pipelines.stages.channels import past_days_present
from pipelines.stages.read_day import InputPartitionMissing, check_input_day, distinct_shoppers, partition_glob
from pipelines.stages.read_published import ProfileMemoryMissing, read_profile_memory, read_x2q_fills
from pipelines.stages.verify import INDEX_COUNTERS, QUERY_ROW_COUNTERS
from pipelines.stages.write import write_json_file
from pipelines.u2q import build_u2q, build_u2q_day_level
from pipelines.x2q import build_x2q
from warehouse import catalog_index, clean_day, history_counts, query_rows
from warehouse.inputs import EmptyInputPartition, InputFileUnreadable
from warehouse.models import PublishedRanker, RankerCorrupt, ranker_for_night
from warehouse.publish import publish
from warehouse.iceberg import CatalogError, open_catalog
from warehouse.staging import StagingLayout, StagingLock, new_run_id
from warehouse.tables import NIGHTLY

log = logging.getLogger("hintq.job")


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
    ranker: PublishedRanker | None = None  # u2q: the learned ranker the night ranks with
    ranking: dict | None = None  # u2q: how its lists are ordered, for the manifest
    index_fingerprint: str = ""  # what the day's catalog index is built from (warehouse/catalog_index.py)
    stored_index: str | None = None  # the day's index kept by an earlier run, reused
    embedding: str = ""  # what the catalog's rows are embedded with (warehouse/catalog_index.py)
    earlier_index: str | None = None  # an earlier night's index, whose rows a built index carries
    earlier_rows: tuple[str, ...] = ()  # query rows earlier nights kept, this table's first (warehouse/query_rows.py)
    history_fingerprint: str = ""  # what the day's history counts are computed from (warehouse/history_counts.py)
    stored_history: dict = dataclasses.field(default_factory=dict)  # u2q: past day → its kept counts
    day_fingerprint: str = ""  # what the day's clean input is computed from (warehouse/clean_day.py)
    stored_day: str | None = None  # the day's clean input kept by an earlier run (the other table), reused
    day_read_beside: bool = False  # stored_day was read by this run, beside its start (jobs/clean_day.py)
    engine_start_s: float = 0.0  # the engine's start, where it was loaded before the pipeline (beside the day)
    day_waited_s: float | None = None  # how long the start then waited for the day's reading to end
    day_reader: dict = dataclasses.field(default_factory=dict)  # the reader's seconds and peak RSS


def choose_ranker(warehouse: str, day: str, cfg: HintQConfig) -> tuple[PublishedRanker | None, dict]:
    """u2q's order: the newest ranker trained strictly before `day`, checked here (a
    damaged one refuses the night: RankerCorrupt or RankerUnusable), or the hand-weighted
    score when learning is off or no ranker exists yet. → (ranker, the manifest's words)."""
    if not cfg.ranker.learned:
        return None, {"method": "hand_weighted", "why": "ranker.learned is false"}
    ranker = ranker_for_night(warehouse, day)
    if ranker is None:
        return None, {"method": "hand_weighted", "why": f"no ranker trained before {day} in {warehouse}"}
    try:
        Ranker(ranker.model_text, ranker.manifest.get("features", []))
    except FeaturesDiffer as exc:  # trained before a change of the features: not damage
        return None, {"method": "hand_weighted", "why": f"ranker dt={ranker.dt}: {exc}"}
    return ranker, {"method": "learned", "ranker": ranker.describe(), "diversity": ranker.diversity}


def _partition_files(input_root: str, table: str, day: str) -> list[Path]:
    return sorted(Path(f) for f in glob.glob(partition_glob(input_root, table, day)))


def prepare(options: PipelineOptions, generator: GeneratorSpec | None = None) -> NightlyRun:
    """Everything that can be refused is refused here, in seconds, before any stage runs:
    options, settings (ranges), the day's input files (present, readable, with events),
    and the models (resolved to folders that exist)."""
    o = options.view_as(HintQOptions)
    o.require("dt", "input", "warehouse", "table")
    dt.date.fromisoformat(o.dt)
    cfg = resolve_config(o.config, o.overrides, flags={"generate.model": o.model})
    input_root = str(Path(o.input).resolve())
    check_input_day(input_root, o.dt)
    warehouse = str(Path(o.warehouse).resolve())
    open_catalog(warehouse)  # a lost or damaged catalog is refused before any stage runs
    generator = generator or VllmGeneratorSpec.for_config(cfg, warehouse, TASK_OF_TABLE[o.table])
    embedder = EmbedderSpec.for_config(cfg.verify)
    run_id = new_run_id()
    staging = StagingLayout.for_night(warehouse, o.table, o.dt, run_id)
    ranker, ranking = choose_ranker(warehouse, o.dt, cfg) if o.table == "u2q" else (None, None)
    if ranker is not None and ranker.diversity is not None and cfg.ranker.tune_diversity:
        # the weight its training chose on validation users
        cfg = dataclasses.replace(cfg, ranker=dataclasses.replace(cfg.ranker, diversity=ranker.diversity))
    fingerprint = catalog_index.index_fingerprint(
        _partition_files(input_root, "catalog", o.dt),
        validate=dataclasses.asdict(cfg.validate),
        verify={k: v for k, v in dataclasses.asdict(cfg.verify).items()
                if k not in ("shared_index_days", "carried_queries")},
        embedder={"name": embedder.name, "revision": embedder.revision}, code=code_version())
    stored = (catalog_index.stored_index(warehouse, o.dt, fingerprint)
              if cfg.verify.shared_index_days else None)
    embedding = catalog_index.embedding_key({"name": embedder.name, "revision": embedder.revision}, code_version())
    earlier = (catalog_index.index_to_carry(warehouse, embedding)
               if cfg.verify.shared_index_days and stored is None else None)
    earlier_rows = (query_rows.rows_to_carry(warehouse, o.table, embedding)
                    if cfg.verify.shared_index_days and cfg.verify.carried_queries else ())
    blocklist = load_blocklist(o.blocklist)
    history = {}
    if o.table == "u2q":
        # what a day's counts read besides its inputs: ReadDay's checks, the query cleaner, sessions
        settings = {name: dataclasses.asdict(getattr(cfg, name)) for name in ("validate", "normalize", "session")}
        history = {day: history_counts.day_fingerprint(
                       {table: _partition_files(input_root, table, day) for table in ("events", "catalog")},
                       settings=settings, blocklist=blocklist, code=code_version())
                   for day in [*past_days_present(input_root, o.dt, cfg.evaluate.history_days), o.dt]}
    stored_history = {day: folder for day, fp in history.items()
                      if day != o.dt and (folder := history_counts.stored_counts(warehouse, day, fp))}
    day_fingerprint = clean_day.clean_day_fingerprint(
        {table: _partition_files(input_root, table, o.dt) for table in ("events", "catalog")},
        validate=dataclasses.asdict(cfg.validate), code=code_version())
    stored_day = (clean_day.stored_day(warehouse, o.dt, day_fingerprint)
                  if cfg.publish.shared_day_days else None)
    return NightlyRun(table=o.table, dt=o.dt, input=input_root, warehouse=warehouse,
                      run_id=run_id, staging=staging, cfg=cfg, generator=generator, embedder=embedder,
                      blocklist=blocklist, blocklist_path=o.blocklist, ranker=ranker,
                      ranking=ranking, index_fingerprint=fingerprint, stored_index=stored,
                      embedding=embedding, earlier_index=earlier, earlier_rows=earlier_rows,
                      history_fingerprint=history.get(o.dt, ""),
                      stored_history=stored_history, day_fingerprint=day_fingerprint, stored_day=stored_day)


def user_passes(night: NightlyRun, options: PipelineOptions) -> int:
    """How many user passes the night takes (pipelines/core/passes.py): x2q and every
    runner but the embedded one (whose stages hold their whole input and output in memory)
    take one; u2q on it takes one per `publish.users_per_pass` of the day's shoppers."""
    if night.table != "u2q" or not runs_embedded(options):
        return 1
    return pass_count(distinct_shoppers(night.input, night.dt), night.cfg.publish.users_per_pass)


@contextlib.contextmanager
def _engine_kept(night: NightlyRun, options: PipelineOptions):
    """Over a night's passes, the one engine of this process stays loaded between them
    (each pipeline's DoFns let go of it when it ends). Workers in other processes
    (`--direct_running_mode multi_processing`) load their own for each pass."""
    in_process = options.view_as(DirectOptions).direct_running_mode != "multi_processing"
    engine = shared_engine(night.generator) if in_process else None
    try:
        yield
    finally:
        del engine


def _run_u2q(night: NightlyRun, options: PipelineOptions, graph: dict, passes: int, test_pipeline=None
             ) -> tuple[list[PipelineResult], dict]:
    """u2q in one pipeline, or in `passes` user passes after the day-level pipeline (the
    one that reads the day); their stats and file lists are summed into the run's, as one
    pipeline writes them. → (the pipelines' results, the manifest's extra words)."""
    o = options.view_as(HintQOptions)
    ranker_text = night.ranker.model_text if night.ranker else None
    extra = {"ranking": night.ranking,
             "passes": {"count": passes, "users_per_pass": night.cfg.publish.users_per_pass}}

    def run_u2q(p, **pass_graph) -> PipelineResult:
        """One u2q pipeline: yesterday's memory, the day's x2q fills, the graph, run."""
        carried, extra["profile_memory"] = read_profile_memory(p, night.warehouse, night.dt, o.bootstrap)
        x2q_rows, extra["x2q_fill"] = read_x2q_fills(p, night.warehouse, night.dt)
        build_u2q(p, **{**graph, **pass_graph}, x2q_rows=x2q_rows, carried=carried, ranker_text=ranker_text)
        return run_to_completion(p)

    if passes == 1:
        return [run_u2q(test_pipeline or job_pipeline(options))], extra
    every_pass = [UserPass(i, passes) for i in range(passes)]
    day_staging = night.staging.of_pass("day")
    p = job_pipeline(options)
    build_u2q_day_level(p, **{k: v for k, v in graph.items() if k not in ("generator", "staging")},
                        staging=day_staging, passes=every_pass)
    results = [run_to_completion(p)]
    index = night.stored_index or posixpath.join(night.staging.index, catalog_index.INDEX_FILE)
    staged = [night.staging.of_pass(user_pass.name) for user_pass in every_pass]
    with _engine_kept(night, options):
        for i, user_pass in enumerate(every_pass):
            log.info("run %s: u2q %s", night.run_id, user_pass.name)
            results.append(run_u2q(job_pipeline(options), staging=staged[i], stored_index=index,
                                   user_pass=user_pass, earlier_checks=tuple(s.pass_checks for s in staged[:i])))
    stagings = [day_staging, *staged]
    write_json_file(night.staging.stats, summed_stats([json.loads(Path(s.stats).read_text()) for s in stagings]))
    write_json_file(night.staging.files, sorted((f for s in stagings for f in json.loads(Path(s.files).read_text())),
                                                key=lambda f: (f["table"], f["path"])))
    return results, extra


def reads_day_beside_start(night: NightlyRun, options: PipelineOptions, passes: int) -> bool:
    """Whether the night reads its day in a process beside its start (jobs/clean_day.py):
    the day is to be kept and is not yet, and this process has a slow engine start ahead
    (the embedded runner's in-process worker, vLLM not loaded yet) that the night's first
    pipeline waits for (a u2q night in `passes` > 1 reads the day in a pipeline without it)."""
    return (night.stored_day is None and night.cfg.publish.shared_day_days > 0
            and night.cfg.publish.read_day_beside_start
            and night.generator.slow_start and not engine_loaded(night.generator)
            and runs_embedded(options)
            and options.view_as(DirectOptions).direct_running_mode != "multi_processing"
            and passes == 1)


def _start_day_reader(night: NightlyRun, options: PipelineOptions):
    """The day's reader (jobs/clean_day.py: read_clean_day), started in a process of its
    own, and the end of the pipe it reports on; (None, None) where it cannot start."""
    spawn = multiprocessing.get_context("spawn")
    report, reported = spawn.Pipe(duplex=False)
    reader = spawn.Process(
        target=read_clean_day, name=f"hintq-clean-day-{night.dt}", daemon=True, args=(DayToKeep(
            options.get_all_options(drop_default=True, retain_unknown_options=True), night.input, night.dt,
            night.cfg, night.staging.clean_day), reported))
    try:
        reader.start()
    except Exception:  # e.g. no process to be had: the pipeline reads the day, as without it
        log.warning("run %s: the day's reader did not start", night.run_id, exc_info=True)
        report.close()
        return None, None
    finally:
        reported.close()  # the reader holds its own end
    return reader, report


@contextlib.contextmanager
def day_read_beside_start(night: NightlyRun, options: PipelineOptions, passes: int):
    """Yields the night to run: where `reads_day_beside_start`, its day read by another
    process (jobs/clean_day.py) while this one loads the engine and the embedder (each kept
    loaded until the block ends), kept here (this process holds the staging lock), and
    `stored_day` set to it; else as it is. Where that process fails, does not start or
    outlasts `publish.day_reader_timeout_s`, the night reads the day itself, as without it."""
    reader, report = (_start_day_reader(night, options) if reads_day_beside_start(night, options, passes)
                      else (None, None))
    if reader is None:
        yield night
        return
    started = time.perf_counter()
    read = None
    try:
        # The collector leaves the process's heap alone meanwhile, as the pipeline does
        # (vLLM collects it in full five times while it starts: engines/heap.py).
        with CollectingLess():
            engine = engine_holder(night.generator)
            engine_start_s = time.perf_counter() - started
            embedder = night.embedder.acquire()
    except BaseException:
        reader.terminate()  # the night is refused: its day need not be read
        raise
    finally:
        loaded = time.perf_counter()
        reader.join(night.cfg.publish.day_reader_timeout_s)
        if reader.is_alive():
            reader.terminate()
            reader.join()
        waited_s = time.perf_counter() - loaded
        exitcode = reader.exitcode
        if exitcode == 0 and report.poll():
            read = report.recv()
        report.close()
        reader.close()
    stored = read and clean_day.keep_day(night.staging.clean_day, night.warehouse, night.dt,
                                         night.day_fingerprint, night.cfg.publish.shared_day_days)
    if not stored:
        log.warning("run %s: reading the day beside the engine's start failed (%s); the pipeline reads it",
                    night.run_id, f"exit code {exitcode}" if read is None else "nothing kept")
        shutil.rmtree(night.staging.clean_day, ignore_errors=True)  # the pipeline writes it afresh
    try:
        yield dataclasses.replace(night, stored_day=stored or None, day_read_beside=bool(stored),
                                  engine_start_s=engine_start_s, day_waited_s=waited_s, day_reader=read or {})
    finally:
        del engine, embedder


def _with_engine_start(stage_s: dict, night: NightlyRun) -> dict:
    """The stages' seconds, with the engine's start where it was loaded before the pipeline."""
    if not night.engine_start_s:
        return stage_s
    return {**stage_s, "engine_start": round(stage_s.get("engine_start", 0.0) + night.engine_start_s, 2)}


def run(argv=None, save_main_session=True, test_pipeline=None, generator: GeneratorSpec | None = None):
    """Runs one table of one day and publishes it. Returns (PipelineResult, manifest); a
    u2q night run in user passes returns its last pipeline's result."""
    options = PipelineOptions(argv)
    options.view_as(SetupOptions).save_main_session = save_main_session
    night = prepare(options, generator)
    passes = user_passes(night, options)
    started = time.time()
    with StagingLock(night.warehouse, night.table, night.dt, night.run_id), \
            day_read_beside_start(night, options, passes) as night:
        graph = dict(input_root=night.input, dt=night.dt, staging=night.staging, cfg=night.cfg,
                     generator=night.generator, embedder=night.embedder, blocklist=night.blocklist,
                     stored_index=night.stored_index, earlier_index=night.earlier_index,
                     earlier_rows=night.earlier_rows, stored_day=night.stored_day,
                     keep_day=night.stored_day is None and night.cfg.publish.shared_day_days > 0)
        log.info("run %s: %s pipeline for dt=%s starting (%d pass%s)", night.run_id, night.table, night.dt,
                 passes, "" if passes == 1 else "es")
        if night.table == "x2q":
            p = test_pipeline or job_pipeline(options)
            build_x2q(p, **graph)
            results, extra = [run_to_completion(p)], {}
        else:
            results, extra = _run_u2q(night, options, {**graph, "stored_history": night.stored_history},
                                      passes, test_pipeline)
            # What the day adds to the history depends on its inputs only: kept for the
            # nights after it even if publish refuses the lists.
            extra["history_counts"] = {
                "fingerprint": night.history_fingerprint, "days_from_counts": sorted(night.stored_history),
                "kept": history_counts.keep_counts(night.staging.history, night.warehouse, night.dt,
                                                   night.history_fingerprint, night.cfg.evaluate.history_days)}
        pipeline_s = time.time() - started
        # The index depends on the catalog only, not on this night's lists: kept even if
        # publish refuses them, for the other table and the re-run.
        kept = night.stored_index or catalog_index.keep_index(
            night.staging.index, night.warehouse, night.dt, night.index_fingerprint,
            night.cfg.verify.shared_index_days, night.embedding)
        # The day's clean input depends on its inputs only: kept even if publish refuses the lists.
        day_kept = night.stored_day or clean_day.keep_day(night.staging.clean_day, night.warehouse, night.dt,
                                                          night.day_fingerprint, night.cfg.publish.shared_day_days)
        # A query's row depends on its text alone: kept even if publish refuses the lists.
        rows_kept = query_rows.keep_rows(night.staging.query_rows, night.warehouse, night.table, night.dt,
                                         night.embedding, night.cfg.verify.shared_index_days)
        manifest = publish(night.staging, night.warehouse, night.dt, night.table, NIGHTLY[night.table].k(night.cfg), {
            "run_id": night.run_id,
            "model": {"generator": night.generator.describe(),
                      "embedder": {"name": night.embedder.name, "revision": night.embedder.revision}},
            "code_version": code_version(),
            "config": night.cfg.to_dict(),
            "blocklist": {"path": night.blocklist_path, "terms": len(night.blocklist)},
            "timings": {"pipeline_s": round(pipeline_s, 1), "stage_s": _with_engine_start(stage_timings(*results), night)},
            "catalog_index": {"fingerprint": night.index_fingerprint, "reused": night.stored_index is not None,
                              "kept": kept, "rows_carried_from": night.earlier_index,
                              "titles_carried": 0, "titles_embedded": 0,  # a stored index: neither
                              **counter_sums(INDEX_COUNTERS, *results)},
            "clean_day": {"fingerprint": night.day_fingerprint,
                          "reused": night.stored_day is not None and not night.day_read_beside,
                          "read_beside_start": night.day_read_beside, "kept": day_kept,
                          **({"waited_s": round(night.day_waited_s, 2), "reader": night.day_reader}
                             if night.day_waited_s is not None else {})},
            "query_rows": {"carried_from": list(night.earlier_rows), "kept": rows_kept,
                           "queries_carried": 0, "queries_embedded": 0,
                           **counter_sums(QUERY_ROW_COUNTERS, *results)},
            **extra,
        }, commit_retries=night.cfg.publish.commit_retries)
    return results[-1], manifest


# What a night refuses up front, before any stage: a message, not a traceback.
REFUSED = (ConfigError, ModelUnavailable, InputPartitionMissing, EmptyInputPartition, InputFileUnreadable,
           ProfileMemoryMissing, RankerCorrupt, RankerUnusable, CatalogError)


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

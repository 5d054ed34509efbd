"""The nightly u2q pipeline: DESIGN.md stages 1–9 (up to the staged write) wired together.

Everything lands under one staging folder of the run; publishing (checks, manifest,
`_SUCCESS`, the atomic rename) happens after the pipeline has finished, in publish.py.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass

import apache_beam as beam

from pipelines.core.config import HintQConfig
from pipelines.core.ranking import SOURCE_GENERATED, SOURCES
from pipelines.generation import CompressPrompts, GenerateAnswers, GeneratorSpec
from pipelines.io import ReadInputPartition, WriteShardedParquet
from pipelines.normalize import NormalizeAnswers, PopularQueries
from pipelines.profiles import BuildProfiles
from pipelines.ranking import BuildFallbackPool, RankAndFill
from pipelines.stats import CountBy, SumBy, WriteFileList, WriteStats
from pipelines.validate import JoinCatalog, ValidateCatalog, ValidateEvents
from pipelines.verification import BuildCatalogIndex, EmbedderSpec, VerifyQueries
from schemas import REJECTED_SCHEMA, U2Q_SCHEMA

STATS_FILE = "_stats.json"
FILES_FILE = "_files.json"


@dataclass(frozen=True)
class StagingLayout:
    root: str  # one folder per run

    @property
    def u2q(self) -> str:
        return posixpath.join(self.root, "u2q")

    @property
    def rejected(self) -> str:
        return posixpath.join(self.root, "rejected")

    @property
    def index(self) -> str:
        return posixpath.join(self.root, "index")

    @property
    def stats(self) -> str:
        return posixpath.join(self.root, STATS_FILE)

    @property
    def files(self) -> str:
        return posixpath.join(self.root, FILES_FILE)


def _row_checks(row: dict, k: int):
    """Counters the publish step checks: they must all be zero."""
    if not row["user_id"]:
        yield "check.null_user_id", 1
    if len(row["queries"]) > k:
        yield "check.list_over_k", 1
    for q in row["queries"]:
        if q["source"] not in SOURCES:
            yield "check.unknown_source", 1
        if not q["evidence"]:
            yield "check.entry_without_evidence", 1
        if q["query"] is None:
            yield "check.null_query", 1


def _row_counts(row: dict, k: int):
    yield "u2q.rows", 1
    yield "u2q.entries", len(row["queries"])
    yield "u2q.full_lists", int(len(row["queries"]) == k)
    yield "u2q.prompt_tokens", row["prompt_tokens"]
    yield "u2q.users_with_generated", int(any(q["source"] == SOURCE_GENERATED for q in row["queries"]))
    for q in row["queries"]:
        yield f"u2q.source.{q['source']}", 1


def _tag_files(files, table):
    return files | f"Tag{table}" >> beam.Map(lambda f, t=table: {**f, "table": t})


def build_u2q(p: beam.Pipeline, *, input_root: str, dt: str, staging: StagingLayout, cfg: HintQConfig,
              generator: GeneratorSpec, embedder: EmbedderSpec, blocklist: frozenset[str]) -> None:
    """Adds the whole u2q graph to `p`. Reads `input_root`, writes under `staging`."""
    k = cfg.rank.k
    raw_events = p | "ReadEvents" >> ReadInputPartition(input_root, "events", dt)
    raw_catalog = p | "ReadCatalog" >> ReadInputPartition(input_root, "catalog", dt)

    # 1 validate
    events, events_rejected = raw_events.rows | "ValidateEvents" >> ValidateEvents(dt, cfg.validate)
    items, catalog_rejected = raw_catalog.rows | "ValidateCatalog" >> ValidateCatalog(cfg.validate)
    joined = (events, items) | "JoinCatalog" >> JoinCatalog()

    # 2–3 sessionize, profile
    profiled = joined["events"] | "BuildProfiles" >> BuildProfiles(dt, cfg, blocklist)

    # 4–5 compress, generate
    prompts = profiled.profiles | "CompressPrompts" >> CompressPrompts(
        generator, cfg.prompt, cfg.generate.max_queries)
    generations = prompts | "Generate" >> GenerateAnswers(generator, cfg.generate.batch_size)

    # 6 normalize (model answers, and the day's typed queries for the fallback pool)
    normalized = generations | "Normalize" >> NormalizeAnswers(cfg.normalize, blocklist)
    popular = joined["events"] | "PopularQueries" >> PopularQueries(cfg.normalize, blocklist,
                                                                    cfg.rank.popular_pool)

    # 7 verify: each distinct query once, generated and popular alike
    index_path = joined["items"] | "BuildCatalogIndex" >> BuildCatalogIndex(embedder, staging.index)
    to_verify = (
        normalized.candidates | "CandidateQueries" >> beam.FlatMap(lambda u: [c.query for c in u.candidates]),
        popular["popular"] | "PopularTexts" >> beam.FlatMap(lambda top: [q for q, _ in top]),
    ) | "AllQueries" >> beam.Flatten()
    verified = to_verify | "Verify" >> VerifyQueries(embedder, cfg.verify, index_path)

    # 8 rank & fill
    pool = (popular["popular"], verified) | "FallbackPool" >> BuildFallbackPool(k)
    rows = (normalized.candidates, verified, pool) | "RankAndFill" >> RankAndFill(
        cfg.rank, cfg.verify, cfg.generate.max_queries)

    # 9 write (staged)
    rejected = (events_rejected, catalog_rejected, joined["rejected"], profiled.rejected) \
        | "AllRejected" >> beam.Flatten()
    u2q_files = rows | "WriteU2Q" >> WriteShardedParquet(
        staging.u2q, U2Q_SCHEMA, cfg.publish.shards, key=lambda r: r["user_id"],
        sort_key=lambda r: r["user_id"], to_row=lambda r: r)
    rejected_files = rejected | "WriteRejected" >> WriteShardedParquet(
        staging.rejected, REJECTED_SCHEMA, cfg.publish.shards,
        key=lambda r: f"{r.table}/{r.source_file}", sort_key=lambda r: r.sort_key(),
        to_row=lambda r: r.to_row())
    (_tag_files(u2q_files, "u2q"), _tag_files(rejected_files, "rejected")) \
        | "AllFiles" >> beam.Flatten() | "WriteFileList" >> WriteFileList(staging.files)

    counts = [
        raw_events.rows | "CountEventsRead" >> CountBy(lambda _: "events.read"),
        raw_catalog.rows | "CountCatalogRead" >> CountBy(lambda _: "catalog.read"),
        rejected | "CountRejected" >> CountBy(lambda r: f"rejected.{r.table}.{r.stage}.{r.reason}"),
        profiled.used_events | "CountEventsUsed" >> SumBy(lambda n: ("events.used", n)),
        joined["items"] | "CountCatalogUsed" >> CountBy(lambda _: "catalog.used"),
        joined["item_fixes"] | "CountItemFixes" >> CountBy(lambda f: f"catalog.fixed.{f}"),
        profiled.profiles | "CountUsers" >> CountBy(lambda _: "users.active"),
        prompts | "CountPromptTokens" >> SumBy(lambda pr: ("prompts.tokens", pr.n_tokens)),
        generations | "CountFinish" >> CountBy(lambda g: f"generate.finish.{g.finish_reason}"),
        generations | "CountOutputTokens" >> SumBy(lambda g: ("generate.output_tokens", g.output_tokens)),
        normalized.candidates | "CountGenerated" >> SumBy(lambda u: ("normalize.raw_queries", u.n_generated)),
        normalized.candidates | "CountKept" >> SumBy(lambda u: ("normalize.kept", len(u.candidates))),
        normalized.discards | "CountDiscards" >> CountBy(lambda d: f"normalize.discarded.{d.reason}"),
        popular["discards"] | "CountPopularDiscards" >> CountBy(lambda r: f"popular.discarded.{r}"),
        verified | "CountVerified" >> CountBy(lambda v: f"verify.{'passed' if v.passed else 'failed.' + v.reason}"),
        rows | "CountRows" >> beam.FlatMap(_row_counts, k),
        rows | "CheckRows" >> beam.FlatMap(_row_checks, k),
    ]
    counts | "AllCounts" >> beam.Flatten() | "WriteStats" >> WriteStats(staging.stats, notes=(
        raw_events.schema_notes, raw_catalog.schema_notes) | "AllNotes" >> beam.Flatten())

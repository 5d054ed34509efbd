"""The nightly x2q pipeline (Think): triggers → reasoning and queries → verified lists.

It shares stages 1–2 (ReadDay) and 4–9 (the generator and its engine, normalize, verify,
rank & fill, the staged write) with u2q; only trigger selection and the Think prompt are
its own. Input rows it sets aside are the same rows u2q sets aside (same code, same
input), so `rejected/` is written once, by u2q; this manifest counts them all the same.
"""
from __future__ import annotations

import apache_beam as beam

from pipelines.core.config import HintQConfig
from pipelines.core.ranking import SOURCE_GENERATED
from pipelines.core.records import trigger_key
from pipelines.stages.read_day import ReadDay
from pipelines.stages.compress import CompressPrompts
from pipelines.stages.generate import GenerateAnswers
from pipelines.engines.generator import GeneratorSpec
from pipelines.core.prompts import ThinkPrompts
from pipelines.stages.write import WriteShardedParquet
from pipelines.stages.normalize import NormalizeAnswers, PopularQueries
from pipelines.stages.rank import DISCARDS, BuildFallbackPool, RankTriggers
from warehouse.staging import StagingLayout
from pipelines.core.lists import list_checks, list_counts
from pipelines.beam.stats import tag_files
from pipelines.beam.stats import CountBy, SumBy, WriteFileList, WriteStats, generation_counts
from pipelines.stages.triggers import SelectTriggers
from pipelines.stages.verify import BuildCatalogIndex, VerifyQueries
from pipelines.engines.embedder import EmbedderSpec
from schemas import X2Q_SCHEMA


def _sort_key(row: dict) -> tuple:
    return row["trigger_type"], row["trigger_id"]


def _selection_counts(row: dict):
    """Rows, served rows (a non-empty list) and rows with a verified generated query, by
    how the trigger was selected; and each trigger left without one, by key."""
    kind = f"{row['selected_as']}.{row['trigger_type']}"
    has_generated = any(q["source"] == SOURCE_GENERATED for q in row["queries"])
    yield f"x2q.rows.{kind}", 1
    yield f"x2q.served.{kind}", int(bool(row["queries"]))
    yield f"x2q.with_generated_by.{kind}", int(has_generated)
    yield f"x2q.verified_generated.{row['trigger_type']}", row["n_verified"]
    if not has_generated:
        yield f"no_verified.{trigger_key(row['trigger_type'], row['trigger_id'])}", 1


def build_x2q(p: beam.Pipeline, *, input_root: str, dt: str, staging: StagingLayout, cfg: HintQConfig,
              generator: GeneratorSpec, embedder: EmbedderSpec, blocklist: frozenset[str]) -> None:
    """Adds the whole x2q graph to `p`. Reads `input_root`, writes under `staging`."""
    x2q = cfg.x2q
    # 1–2 read, validate, join, dedupe & cap
    day = p | "ReadDay" >> ReadDay(input_root, dt, cfg)

    # 3 select triggers (popular and cold), each with its text, facts and context
    triggers = (day["users"], day["items"]) | "SelectTriggers" >> SelectTriggers(dt, cfg, blocklist)
    # A trigger with no text gives the model nothing to reason about: no prompt, and its
    # row is filled from fallbacks (counted as skipped.empty_trigger_text).
    with_text = triggers | "WithText" >> beam.Filter(lambda t: bool(t.text))

    # 4–5 compress, generate (Think)
    prompts = with_text | "CompressPrompts" >> CompressPrompts(generator, ThinkPrompts(x2q))
    generations = prompts | "Generate" >> GenerateAnswers(generator, cfg.generate.batch_size)

    # 6 normalize: the same query rules as u2q, plus trigger_echo; the reasoning is kept
    normalized = generations | "Normalize" >> NormalizeAnswers(cfg.normalize, blocklist,
                                                               x2q.max_reasoning_chars)
    popular = day["events"] | "PopularQueries" >> PopularQueries(cfg.normalize, blocklist,
                                                                  cfg.rank.popular_pool)

    # 7 verify
    index_path = day["items"] | "BuildCatalogIndex" >> BuildCatalogIndex(embedder, staging.index)
    to_verify = (
        normalized.candidates | "CandidateQueries" >> beam.FlatMap(lambda tc: [c.query for c in tc.candidates]),
        popular["popular"] | "PopularTexts" >> beam.FlatMap(lambda top: [q for q, _ in top]),
    ) | "AllQueries" >> beam.Flatten()
    verified = to_verify | "Verify" >> VerifyQueries(embedder, cfg.verify, index_path)

    # 8 rank & fill
    pool = (popular["popular"], verified) | "FallbackPool" >> BuildFallbackPool(x2q.k)
    ranked = (triggers, normalized.candidates, verified, pool) | "RankTriggers" >> RankTriggers(
        cfg.rank, cfg.verify, x2q)
    rows = ranked.rows

    # 9 write (staged)
    x2q_files = rows | "WriteX2Q" >> WriteShardedParquet(
        staging.table("x2q"), X2Q_SCHEMA, cfg.publish.shards,
        key=lambda r: trigger_key(r["trigger_type"], r["trigger_id"]), sort_key=_sort_key, to_row=lambda r: r)
    tag_files(x2q_files, "x2q") | "WriteFileList" >> WriteFileList(staging.files)

    counts = [
        day["counts"],
        day["users"] | "CountUsers" >> CountBy(lambda _: "users.active"),
        triggers | "CountTriggers" >> CountBy(lambda t: f"triggers.{t.selected_as}.{t.trigger_type}"),
        triggers | "CountEmptyText" >> beam.FlatMap(
            lambda t: [("triggers.skipped.empty_trigger_text", 1)] if not t.text else []),
        *generation_counts(prompts, generations, normalized, popular["discards"], verified),
        ranked[DISCARDS] | "CountRankDiscards" >> CountBy(lambda d: f"rank.discarded.{d.reason}"),
        rows | "CountRows" >> beam.FlatMap(list_counts, "x2q", x2q.k),
        rows | "CountBySelection" >> beam.FlatMap(_selection_counts),
        rows | "CheckRows" >> beam.FlatMap(list_checks, x2q.k, "trigger_id"),
    ]
    counts | "AllCounts" >> beam.Flatten() | "WriteStats" >> WriteStats(staging.stats, notes=day["notes"])

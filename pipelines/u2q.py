"""The nightly u2q pipeline (Direct): DESIGN.md stages 1–9, up to the staged write.

Everything lands under one staging folder of the run; publishing happens after the
pipeline has finished, in publish.py.
"""
from __future__ import annotations

import apache_beam as beam

from pipelines.core.config import HintQConfig
from pipelines.stages.read_day import ReadDay
from pipelines.stages.compress import CompressPrompts
from pipelines.core.prompts import DirectPrompts
from pipelines.stages.generate import GenerateAnswers
from pipelines.engines.generator import GeneratorSpec
from pipelines.stages.write import WriteShardedParquet
from pipelines.stages.normalize import NormalizeAnswers, PopularQueries
from pipelines.stages.profile import MEMORY, BuildProfiles, RecallProfiles
from pipelines.stages.rank import AttachTriggerFills, BuildFallbackPool, RankAndFill
from warehouse.staging import StagingLayout
from pipelines.core.lists import list_checks, list_counts
from pipelines.beam.stats import tag_files
from pipelines.beam.stats import CountBy, SumBy, WriteFileList, WriteStats, generation_counts
from pipelines.stages.verify import BuildCatalogIndex, VerifyQueries
from pipelines.engines.embedder import EmbedderSpec
from schemas import PROFILES_SCHEMA, REJECTED_SCHEMA, U2Q_SCHEMA


def build_u2q(p: beam.Pipeline, *, input_root: str, dt: str, staging: StagingLayout, cfg: HintQConfig,
              generator: GeneratorSpec, embedder: EmbedderSpec, blocklist: frozenset[str],
              x2q_rows=None, carried=None) -> None:
    """Adds the whole u2q graph to `p`. Reads `input_root`, writes under `staging`.

    `x2q_rows` (the day's published x2q rows, a PCollection of dicts) fill short lists
    before popular queries do; without it lists are filled from popular queries only.
    `carried` (CarriedProfiles of the day before) is folded into today's profiles; the
    memory this day passes on is written as the `profiles` table.
    """
    k = cfg.rank.k
    # 1–2 read, validate, join, dedupe & cap
    day = p | "ReadDay" >> ReadDay(input_root, dt, cfg)

    # 3 profile, with the memory of earlier days
    todays = day["users"] | "BuildProfiles" >> BuildProfiles(dt, cfg, blocklist)
    if carried is None:
        carried = p | "NoMemory" >> beam.Create([])
    recalled = (todays, carried) | "RecallProfiles" >> RecallProfiles(dt, cfg.memory)
    profiles = recalled.profiles

    # 4–5 compress, generate
    prompts = profiles | "CompressPrompts" >> CompressPrompts(
        generator, DirectPrompts(cfg.prompt, cfg.generate.max_queries))
    generations = prompts | "Generate" >> GenerateAnswers(generator, cfg.generate.batch_size)

    # 6 normalize (model answers, and the day's typed queries for the fallback pool)
    normalized = generations | "Normalize" >> NormalizeAnswers(cfg.normalize, blocklist,
                                                               cfg.x2q.max_reasoning_chars)
    users = normalized.candidates
    if x2q_rows is not None:
        users = (users, x2q_rows) | "AttachTriggerFills" >> AttachTriggerFills(cfg.rank)
    popular = day["events"] | "PopularQueries" >> PopularQueries(cfg.normalize, blocklist,
                                                                  cfg.rank.popular_pool)

    # 7 verify: each distinct query once, generated, x2q fills and popular alike
    index_path = day["items"] | "BuildCatalogIndex" >> BuildCatalogIndex(embedder, staging.index)
    to_verify = (
        users | "UserQueries" >> beam.FlatMap(
            lambda u: [c.query for c in u.candidates] + [q for q, _ in u.trigger_fills]),
        popular["popular"] | "PopularTexts" >> beam.FlatMap(lambda top: [q for q, _ in top]),
    ) | "AllQueries" >> beam.Flatten()
    verified = to_verify | "Verify" >> VerifyQueries(embedder, cfg.verify, index_path)

    # 8 rank & fill
    pool = (popular["popular"], verified) | "FallbackPool" >> BuildFallbackPool(k)
    rows = (users, verified, pool) | "RankAndFill" >> RankAndFill(
        cfg.rank, cfg.verify, cfg.generate.max_queries)

    # 9 write (staged)
    u2q_files = rows | "WriteU2Q" >> WriteShardedParquet(
        staging.table("u2q"), U2Q_SCHEMA, cfg.publish.shards, key=lambda r: r["user_id"],
        sort_key=lambda r: r["user_id"], to_row=lambda r: r)
    rejected_files = day["rejected"] | "WriteRejected" >> WriteShardedParquet(
        staging.table("rejected"), REJECTED_SCHEMA, cfg.publish.shards,
        key=lambda r: f"{r.table}/{r.source_file}", sort_key=lambda r: r.sort_key(),
        to_row=lambda r: r.to_row())
    memory_files = recalled[MEMORY] | "WriteProfiles" >> WriteShardedParquet(
        staging.table("profiles"), PROFILES_SCHEMA, cfg.publish.shards, key=lambda m: m.user_id,
        sort_key=lambda m: m.user_id, to_row=lambda m: m.to_row())
    (tag_files(u2q_files, "u2q"), tag_files(rejected_files, "rejected"), tag_files(memory_files, "profiles")) \
        | "AllFiles" >> beam.Flatten() | "WriteFileList" >> WriteFileList(staging.files)

    counts = [
        day["counts"],
        profiles | "CountUsers" >> CountBy(lambda _: "users.active"),
        recalled[MEMORY] | "CountMemory" >> CountBy(
            lambda m: "profiles.rows.active" if m.last_active == dt else "profiles.rows.carried"),
        *generation_counts(prompts, generations, normalized, popular["discards"], verified),
        users | "CountUsersWithTriggerFills" >> SumBy(lambda u: ("fill.users_with_x2q", int(bool(u.trigger_fills)))),
        rows | "CountRows" >> beam.FlatMap(list_counts, "u2q", k),
        rows | "CheckRows" >> beam.FlatMap(list_checks, k, "user_id"),
    ]
    counts | "AllCounts" >> beam.Flatten() | "WriteStats" >> WriteStats(staging.stats, notes=day["notes"])

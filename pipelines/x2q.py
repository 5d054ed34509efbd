"""The nightly x2q chain (Think), as DESIGN.md draws it: triggers → reasoning and queries →
verified lists.

It shares stages 1–2 (ReadDay) and 4–9 (the generator and its engine, normalize, verify,
rank & fill, the staged write) with u2q; only trigger selection and the Think prompt are
its own. Input rows it sets aside are the same rows u2q sets aside (same code, same
input), so `rejected/` is written once, by u2q; this manifest counts them all the same.
"""
from __future__ import annotations

import apache_beam as beam

from pipelines.beam.stats import CountBy, Tally, generation_counts
from pipelines.core import counters as c
from pipelines.core.config import HintQConfig
from pipelines.core.prompts import ThinkPrompts
from pipelines.core.ranking import SOURCE_GENERATED
from pipelines.core.records import trigger_key
from pipelines.engines.embedder import EmbedderSpec
from pipelines.engines.generator import GeneratorSpec
from pipelines.night import VerifyAgainstCatalog, WriteNight
from pipelines.stages.compress import CompressPrompts
from pipelines.stages.generate import GenerateAnswers
from pipelines.stages.normalize import NormalizeAnswers
from pipelines.stages.rank import DISCARDS, RankTriggers
from pipelines.stages.read_day import the_day
from pipelines.stages.triggers import SelectTriggers
from warehouse.staging import StagingLayout
from warehouse.tables import X2Q


def _selection_counts(row: dict):
    """Rows, served rows (a non-empty list) and rows with a verified generated query, by
    how the trigger was selected; and each trigger left without one, by key."""
    kind = (row["selected_as"], row["trigger_type"])
    has_generated = any(q["source"] == SOURCE_GENERATED for q in row["queries"])
    yield c.X2Q_ROWS_BY(*kind), 1
    yield c.X2Q_SERVED_BY(*kind), int(bool(row["queries"]))
    yield c.X2Q_WITH_GENERATED_BY(*kind), int(has_generated)
    yield c.X2Q_VERIFIED_GENERATED(row["trigger_type"]), row["n_verified"]
    if not has_generated:
        yield c.NO_VERIFIED(trigger_key(row["trigger_type"], row["trigger_id"])), 1


def build_x2q(p: beam.Pipeline, *, input_root: str, dt: str, staging: StagingLayout, cfg: HintQConfig,
              generator: GeneratorSpec, embedder: EmbedderSpec, blocklist: frozenset[str],
              stored_index: str | None = None, earlier_index: str | None = None,
              earlier_rows: tuple[str, ...] = (), stored_day: str | None = None, keep_day: bool = False) -> None:
    """Adds the whole x2q graph to `p`. Reads `input_root`, writes under `staging`.
    `stored_index` is the day's catalog index kept by an earlier run, read instead of built;
    `earlier_index` an earlier night's, whose rows the day's index carries; `earlier_rows`
    the folders of query rows earlier nights kept (warehouse/query_rows.py); `stored_day` the
    day as stages 1–2 left it, kept by an earlier run (warehouse/clean_day.py), read
    instead of the day's input, which with `keep_day` is kept to `staging.clean_day`."""
    # 1–2 read, validate, join, dedupe & cap
    day = the_day(p, input_root, dt, cfg, stored_day, staging.clean_day if keep_day else None)

    # 3 select triggers (popular and cold), each with its text, facts and context
    triggers = (day["users"], day["items"]) | "SelectTriggers" >> SelectTriggers(dt, cfg, blocklist)
    # A trigger with no text gives the model nothing to reason about: no prompt, and its
    # row is filled from fallbacks (counted as skipped.empty_trigger_text).
    with_text = triggers | "WithText" >> beam.Filter(lambda t: bool(t.text))

    # 4–5 compress, generate (Think)
    prompts = with_text | "CompressPrompts" >> CompressPrompts(generator, ThinkPrompts(cfg.x2q))
    generations = prompts | "Generate" >> GenerateAnswers(generator, cfg.generate.batch_size)

    # 6 normalize: the same query rules as u2q, plus trigger_echo; the reasoning is kept
    normalized = generations | "Normalize" >> NormalizeAnswers(cfg.normalize, blocklist,
                                                               cfg.x2q.max_reasoning_chars)

    # 7 verify
    checked = {"queries": normalized.candidates | "CandidateQueries" >> beam.FlatMap(
                   lambda tc: [q.query for q in tc.candidates]),
               "events": day["events"], "items": day["items"]} \
        | "VerifyAgainstCatalog" >> VerifyAgainstCatalog(cfg, embedder, blocklist, staging.index, X2Q.k(cfg),
                                                   stored_index, earlier_index, earlier_rows, staging.query_rows)

    # 8 rank & fill
    ranked = (triggers, normalized.candidates, checked["verified"], checked["pool"]) \
        | "RankTriggers" >> RankTriggers(cfg.rank, cfg.verify, cfg.x2q)

    # 9 write (staged), with every count
    counts = [
        day["counts"],
        day["users"] | "CountUsers" >> CountBy(lambda _: c.USERS_ACTIVE()),
        triggers | "CountTriggers" >> CountBy(lambda t: c.TRIGGERS(t.selected_as, t.trigger_type)),
        triggers | "CountEmptyText" >> Tally(
            lambda t: [(c.TRIGGERS_SKIPPED(c.EMPTY_TRIGGER_TEXT), 1)] if not t.text else []),
        *generation_counts(prompts, generations, normalized, checked["popular_discards"], checked["verified"]),
        ranked[DISCARDS] | "CountRankDiscards" >> CountBy(lambda d: c.RANK_DISCARDED(d.reason)),
        ranked.rows | "CountBySelection" >> Tally(_selection_counts),
    ]
    ranked.rows | "WriteNight" >> WriteNight(X2Q, cfg, staging, counts, notes=day["notes"])

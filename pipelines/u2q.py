"""The nightly u2q chain (Direct), as DESIGN.md draws it: stages 1–9, up to the staged write.

Everything lands under one staging folder of the run; publishing happens after the
pipeline has finished (warehouse/publish.py). On the embedded runner a large day runs in
user passes (pipelines/core/passes.py): `build_u2q_day_level` first, then `build_u2q` once
per pass, each over its shoppers only.
"""
from __future__ import annotations

import apache_beam as beam

from pipelines.beam.stats import CountBy, SumBy, Tally, generation_counts, verification_counts
from pipelines.core import counters as c
from pipelines.core.config import HintQConfig
from pipelines.core.passes import UserPass
from pipelines.core.prompts import DirectPrompts
from pipelines.engines.embedder import EmbedderSpec
from pipelines.engines.generator import GeneratorSpec
from pipelines.night import PublishedPart, VerifyAgainstCatalog, WriteNight, WriteParts
from pipelines.stages.compress import CompressPrompts
from pipelines.stages.generate import GenerateAnswers
from pipelines.stages.normalize import NormalizeAnswers
from pipelines.stages.profile import BuildProfiles, MEMORY, RecallProfiles
from pipelines.stages.channels import BuildChannelModel, CountHistory, ReadHistory, WriteDayCounts
from pipelines.stages.rank import CANDIDATES, AttachTriggerFills, RankUsers
from pipelines.stages.day_level import (ReadDayLevel, ReadPassShoppers, WriteDayLevel, WritePassChecks,
                                        WritePassShoppers)
from pipelines.stages.read_day import the_day
from pipelines.stages.verify import StoredIndex, VerifyQueries
from schemas import CANDIDATES_SCHEMA, PROFILES_SCHEMA, REJECTED_SCHEMA
from warehouse.staging import StagingLayout
from warehouse.tables import U2Q


def _user_queries(u) -> list[str]:
    return [cand.query for cand in u.candidates] + [q for q, _ in u.trigger_fills]


def _day_level_checks(p, day, users, *, input_root, dt, staging, cfg, embedder, blocklist, stored_index,
                      earlier_index, stored_history, earlier_rows):
    """Stages 7–8's day-level part in the night's own graph (one pass): the history's
    channels, the day's popular queries, each distinct query verified once (the users',
    the x2q fills', the popular and the history's), the fallback pool and channel model."""
    # 8a the history channels' counts (days D-N+1..D): what the baselines count; the
    # night's own day's, kept for the nights after it
    days = day["users"] | "ReadHistory" >> ReadHistory(input_root, dt, cfg, blocklist, stored_history)
    days["today"] | "KeepTodaysCounts" >> WriteDayCounts(staging.history, cfg)
    history = days["window"] | "CountHistory" >> CountHistory(cfg)
    queries = [history["vocabulary"] | "VocabularyQueries" >> beam.FlatMap(lambda v: v[1])]
    if users is not None:
        queries.append(users | "UserQueries" >> beam.FlatMap(_user_queries))
    checked = {"queries": queries | "CandidateQueries" >> beam.Flatten(), "events": day["events"],
               "items": day["items"]} \
        | "VerifyAgainstCatalog" >> VerifyAgainstCatalog(cfg, embedder, blocklist, staging.index, U2Q.k(cfg),
                                                   stored_index, earlier_index, earlier_rows, staging.query_rows)
    channels = (history, checked["verified"]) | "ChannelModel" >> BuildChannelModel(cfg, embedder)
    return {**checked, "channels": channels, "counted": checked["verified"]}


def _rejected_part(rejected) -> PublishedPart:
    """The day's rows set aside (ReadDay's rejections of each check), as one table."""
    return PublishedPart(rejected | "AllRejected" >> beam.Flatten(), REJECTED_SCHEMA,
                         key=lambda r: f"{r.table}/{r.source_file}",
                         sort_key=lambda r: r.sort_key(), to_row=lambda r: r.to_row())


def build_u2q_day_level(p: beam.Pipeline, *, input_root: str, dt: str, staging: StagingLayout, cfg: HintQConfig,
                        embedder: EmbedderSpec, blocklist: frozenset[str], passes: list[UserPass],
                        stored_index: str | None = None, earlier_index: str | None = None,
                        stored_history: dict[str, str] | None = None, earlier_rows: tuple[str, ...] = (),
                        stored_day: str | None = None, keep_day: bool = False) -> None:
    """The first pipeline of a night run in user passes, the only one that reads the day
    (or, with `stored_day`, the day as the night's other table kept it; with `keep_day` it
    keeps it to `staging.clean_day`):
    each pass's shoppers to `staging.pass_shoppers`, the day-level counts (as one pass
    computes them, without the shoppers' own queries) to `staging.day_level`, the catalog
    index to `staging.index` unless `stored_index` holds it already (carrying the rows of
    `earlier_index`, as build_u2q does), and the day's share of
    the night's accounting (the rows set aside, the rows read and used, the day-level
    queries' checks) as a part of the run, under `staging`'s name."""
    day = the_day(p, input_root, dt, cfg, stored_day, staging.clean_day if keep_day else None)
    day["users"] | "WritePassShoppers" >> WritePassShoppers([staging.pass_shoppers(u.name) for u in passes])
    checked = _day_level_checks(p, day, None, input_root=input_root, dt=dt, staging=staging, cfg=cfg,
                                embedder=embedder, blocklist=blocklist, stored_index=stored_index,
                                earlier_index=earlier_index, stored_history=stored_history,
                                earlier_rows=earlier_rows)
    (checked["pool"], checked["channels"], checked["verified"]) | "WriteDayLevel" >> WriteDayLevel(staging.day_level)
    ([day["counts"], *verification_counts(checked["popular_discards"], checked["verified"])]
     | "DayCounts" >> beam.Flatten()
     | "WriteDay" >> WriteParts(cfg, staging, day["notes"], {"rejected": _rejected_part(day["rejected"])}))


def _read_day_level(p, users, *, cfg, embedder, staging, earlier_checks, index_path):
    """Stages 7–8's day-level part of one user pass: read as the first pipeline wrote it;
    only the pass's queries that no pipeline of the night checked are verified here, and
    their checks written for the passes after it. The day's checks and popular discards
    are the day-level pipeline's to count: the pass counts its own checks."""
    stored = p | "ReadDayLevel" >> ReadDayLevel(staging.day_level, earlier_checks)
    index = p | "StoredIndex" >> StoredIndex(index_path)
    checked_queries = stored["checks"] | "CheckedQueries" >> beam.Map(lambda v: v.query) \
        | "CheckedSet" >> beam.combiners.ToSet()
    own = (users
           | "UserQueries" >> beam.FlatMap(_user_queries)
           | "NotChecked" >> beam.Filter(lambda q, checked: q not in checked,
                                         beam.pvalue.AsSingleton(checked_queries))
           | "Verify" >> VerifyQueries(embedder, cfg.verify, index))
    own | "WritePassChecks" >> WritePassChecks(staging.pass_checks)
    verified = (own, stored["checks"]) | "AllChecks" >> beam.Flatten()
    return {"verified": verified, "pool": stored["pool"], "channels": stored["model"], "index": index,
            "popular_discards": p | "NoDiscards" >> beam.Create([]), "counted": own}


def build_u2q(p: beam.Pipeline, *, input_root: str, dt: str, staging: StagingLayout, cfg: HintQConfig,
              generator: GeneratorSpec, embedder: EmbedderSpec, blocklist: frozenset[str],
              stored_index: str | None = None, earlier_index: str | None = None,
              stored_history: dict[str, str] | None = None, x2q_rows=None, carried=None, ranker_text: str | None = None,
              user_pass: UserPass | None = None, earlier_checks: tuple[str, ...] = (),
              earlier_rows: tuple[str, ...] = (), stored_day: str | None = None, keep_day: bool = False) -> None:
    """Adds the whole u2q graph to `p`. Reads `input_root`, writes under `staging`.

    `x2q_rows` (the day's published x2q rows, a PCollection of dicts) fill short lists
    before popular queries do; without it lists are filled from popular queries only.
    `carried` (CarriedProfiles of the day before) is folded into today's profiles; the
    memory this day passes on is written as the `profiles` table. `ranker_text` (a learned
    ranker, LightGBM text) orders the lists; without it they are hand-weighted.
    `stored_index` is the day's catalog index kept by an earlier run, read instead of built;
    `earlier_index` an earlier night's, whose rows the day's index carries; `earlier_rows`
    the folders of query rows earlier nights kept (warehouse/query_rows.py), taken instead of
    embedding those queries again (the day-level verification; a pass embeds its own).
    `stored_day` the day as stages 1–2 left it, kept by an earlier run (warehouse/
    clean_day.py), read instead of the day's input, which with `keep_day` is kept to
    `staging.clean_day`.
    `stored_history` (day → folder) the history days whose counts earlier nights kept,
    read instead of their events; the night's own day's counts go to `staging.history`.
    With `user_pass`, the graph is that pass's shoppers only: it reads them and the
    day-level counts as build_u2q_day_level wrote them into the run's staging folder (the
    index to `stored_index`), and the checks the earlier passes wrote (`earlier_checks`);
    the day's rows set aside and its counts are the day-level pipeline's.
    """
    # 1–2 read, validate, join, dedupe & cap (a pass: its shoppers, as the day-level
    # pipeline left them)
    if user_pass is None:
        day = the_day(p, input_root, dt, cfg, stored_day, staging.clean_day if keep_day else None)
        shoppers, days_counts = day["users"], [day["counts"]]
        notes, days_parts = day["notes"], {"rejected": _rejected_part(day["rejected"])}
    else:
        shoppers = p | "ReadShoppers" >> ReadPassShoppers(staging.pass_shoppers(user_pass.name))
        days_counts, notes, days_parts = [], p | "NoNotes" >> beam.Create([]), {}

    # 3 profile, with the memory of earlier days
    todays = shoppers | "BuildProfiles" >> BuildProfiles(dt, cfg, blocklist)
    if carried is None:
        carried = p | "NoMemory" >> beam.Create([])
    elif user_pass is not None:
        carried = carried | "CarriedOfThisPass" >> beam.Filter(lambda m, of=user_pass: of.holds(m.user_id))
    recalled = (todays, carried) | "RecallProfiles" >> RecallProfiles(dt, cfg.memory)
    profiles = recalled.profiles

    # 4–5 compress, generate
    prompts = profiles | "CompressPrompts" >> CompressPrompts(
        generator, DirectPrompts(cfg.prompt, cfg.generate.max_queries))
    generations = prompts | "Generate" >> GenerateAnswers(generator, cfg.generate.batch_size)

    # 6 normalize; the day's x2q lists join as fills
    normalized = generations | "Normalize" >> NormalizeAnswers(cfg.normalize, blocklist,
                                                               cfg.x2q.max_reasoning_chars)
    users = normalized.candidates
    if x2q_rows is not None:
        users = (users, x2q_rows) | "AttachTriggerFills" >> AttachTriggerFills(cfg.rank)

    # 7 verify: each distinct query once: generated, x2q fills, popular and the history's;
    # 8a the history's channels, the fallback pool (the day-level part: in this graph, or
    # read as the night's first pipeline wrote it)
    if user_pass is None:
        checked = _day_level_checks(p, day, users, input_root=input_root, dt=dt, staging=staging, cfg=cfg,
                                    embedder=embedder, blocklist=blocklist, stored_index=stored_index,
                                    earlier_index=earlier_index, stored_history=stored_history,
                                    earlier_rows=earlier_rows)
    else:
        checked = _read_day_level(p, users, cfg=cfg, embedder=embedder, staging=staging,
                                  earlier_checks=list(earlier_checks), index_path=stored_index)

    # 8 rank & fill: every channel's verified candidates, in the learned order where a
    # ranker exists (else hand-weighted), diversified by category
    ranked = (users, shoppers, checked["verified"], checked["pool"], checked["channels"], checked["index"]) \
        | "RankUsers" >> RankUsers(cfg, dt, blocklist, embedder, ranker_text)
    rows = ranked["rows"]

    # 9 write (staged): u2q, the rows set aside, the memory passed on; every count
    counts = [
        *days_counts,
        profiles | "CountUsers" >> CountBy(lambda _: c.USERS_ACTIVE()),
        recalled[MEMORY] | "CountMemory" >> CountBy(lambda m: c.PROFILES_ROWS(
            c.PROFILES_ACTIVE if m.last_active == dt else c.PROFILES_CARRIED)),
        *generation_counts(prompts, generations, normalized, checked["popular_discards"], checked["counted"]),
        users | "CountUsersWithTriggerFills" >> SumBy(lambda u: (c.USERS_WITH_X2Q_FILL(), int(bool(u.trigger_fills)))),
        ranked[CANDIDATES] | "CountCandidates" >> SumBy(lambda rows: (c.CANDIDATES_ROWS(), len(rows))),
        ranked[CANDIDATES] | "CountByChannel" >> Tally(
            lambda rows: [(c.CANDIDATES_BY_CHANNEL(name), 1) for r in rows for name, _ in r.channels]),
    ]
    parts = {
        **days_parts,
        "profiles": PublishedPart(recalled[MEMORY], PROFILES_SCHEMA, key=lambda m: m.user_id,
                                  sort_key=lambda m: m.user_id, to_row=lambda m: m.to_row()),
        "candidates": PublishedPart(ranked[CANDIDATES], CANDIDATES_SCHEMA, key=lambda r: r.user_id,
                                    sort_key=lambda r: (r.user_id, r.query), to_row=lambda r: r.to_row(),
                                    batched=True),  # a user's rows a list (RankUsers)
    }
    rows | "WriteNight" >> WriteNight(U2Q, cfg, staging, counts, notes=notes, parts=parts)

"""The IL-SFT samples chain, as DESIGN.md's learning loop draws it: prompts of D + behaviour
of D+1 → samples, for both generators.

The prompts are built by the nightly chains' own stages (read & validate, profiles with
the memory of D-1, trigger selection, compress), so a training prompt is byte for byte the
prompt the night of D sends. The answers come from day D+1, read and validated the same
way, and (Direct's top-up) from the u2q list published for D.
"""
from __future__ import annotations

import apache_beam as beam

from pipelines.beam.stats import CountBy, SumBy, Tally
from pipelines.core import counters as c
from pipelines.core.config import HintQConfig
from pipelines.core.normalize import QueryCleaner
from pipelines.core.prompts import DirectPrompts, ThinkPrompts
from pipelines.core.samples import (SetAside, TargetRules, direct_sample, follow_ups,
                                    think_sample)
from pipelines.engines.generator import GeneratorSpec
from pipelines.stages.compress import CompressPrompts
from pipelines.stages.profile import BuildProfiles, RecallProfiles
from pipelines.stages.read_day import ReadDay
from pipelines.stages.triggers import SelectTriggers
from pipelines.stages.write import WriteFileList, WriteShardedParquet, WriteStats, tag_files
from schemas import SAMPLES_SCHEMA, SAMPLES_SET_ASIDE_SCHEMA
from warehouse.staging import StagingLayout

SET_ASIDE = "set_aside"


def _route(result):
    if isinstance(result, SetAside):
        yield beam.pvalue.TaggedOutput(SET_ASIDE, result)
    else:
        yield result


class DirectSamples(beam.PTransform):
    """(Direct prompts, users of D+1, published u2q rows of D, whether D+1 has typed
    queries) → Samples, and prompts set aside (tag `set_aside`)."""

    def __init__(self, rules: TargetRules, clean: QueryCleaner, dt: str, labels_dt: str):
        super().__init__()
        self.rules, self.clean, self.dt, self.labels_dt = rules, clean, dt, labels_dt

    def expand(self, inputs):
        prompts, next_users, published, has_queries = inputs

        def one(element, shop_has_queries):
            _, joined = element
            events = [e for day in joined["next_day"] for e in day]
            listed = [q for row in joined["published"] for q in row["queries"]]
            for prompt in joined["prompt"]:
                yield from _route(direct_sample(prompt.subject, prompt.text, prompt.n_tokens, events, listed,
                                                shop_has_queries, self.rules, self.clean, self.dt, self.labels_dt))

        return ({"prompt": prompts | "KeyPrompt" >> beam.Map(lambda p: (p.key, p)),
                 "next_day": next_users,
                 "published": published | "KeyPublished" >> beam.Map(lambda r: (r["user_id"], r))}
                | "JoinUser" >> beam.CoGroupByKey()
                | "Target" >> beam.FlatMap(one, beam.pvalue.AsSingleton(has_queries)).with_outputs(
                    SET_ASIDE, main="samples"))


class ThinkSamples(beam.PTransform):
    """(Think prompts, users of D, users of D+1) → Samples, and prompts set aside."""

    def __init__(self, rules: TargetRules, clean: QueryCleaner, dt: str, labels_dt: str):
        super().__init__()
        self.rules, self.clean, self.dt, self.labels_dt = rules, clean, dt, labels_dt

    def expand(self, inputs):
        prompts, *user_days = inputs
        gap_s, clean = self.rules.session_gap_s, self.clean
        followed = (
            user_days
            | "BothDays" >> beam.Flatten()
            | "FollowUps" >> beam.FlatMap(lambda kv: [
                (f"{t}:{tid}", (kv[0], query, leaf)) for (t, tid), query, leaf in follow_ups(kv[1], gap_s, clean)]))

        def one(element):
            _, joined = element
            for prompt in joined["prompt"]:
                # a (user, query, leaf) seen on both days counts once; the order does not matter
                yield from _route(think_sample(prompt.subject, prompt.text, prompt.n_tokens, set(joined["followed"]),
                                               self.rules, self.dt, self.labels_dt))

        return ({"prompt": prompts | "KeyPrompt" >> beam.Map(lambda p: (p.key, p)), "followed": followed}
                | "JoinTrigger" >> beam.CoGroupByKey()
                | "Target" >> beam.FlatMap(one).with_outputs(SET_ASIDE, main="samples"))


def build_samples(p: beam.Pipeline, *, input_root: str, dt: str, labels_dt: str, staging: StagingLayout,
                  cfg: HintQConfig, generator: GeneratorSpec, blocklist: frozenset[str], carried=None,
                  published_u2q=None) -> None:
    """Adds the samples graph for prompt day `dt` (answers from `labels_dt`) to `p`.
    `carried`: the published profile memory of dt-1; `published_u2q`: u2q rows of dt."""
    clean = QueryCleaner(cfg.normalize, blocklist)
    day = p | "ReadDay" >> ReadDay(input_root, dt, cfg)
    next_day = p | "ReadNextDay" >> ReadDay(input_root, labels_dt, cfg)

    # Direct: the night's profiles (with memory) and prompts; D+1's queries and engagement
    todays = day["users"] | "BuildProfiles" >> BuildProfiles(dt, cfg, blocklist)
    if carried is None:
        carried = p | "NoMemory" >> beam.Create([])
    profiles = ((todays, carried) | "RecallProfiles" >> RecallProfiles(dt, cfg.memory)).profiles
    direct_prompts = profiles | "CompressDirect" >> CompressPrompts(
        generator, DirectPrompts(cfg.prompt, cfg.generate.max_queries))
    if published_u2q is None:
        published_u2q = p | "NoPublishedList" >> beam.Create([])
    has_queries = (next_day["events"]
                   | "IsSearch" >> beam.Map(lambda e: e.event.event_type == "search")
                   | "AnySearch" >> beam.CombineGlobally(any))
    direct = (direct_prompts, next_day["users"], published_u2q, has_queries) | "DirectSamples" >> DirectSamples(
        TargetRules.of(cfg, cfg.generate.max_queries), clean, dt, labels_dt)

    # Think: the night's triggers and prompts; queries typed after each on D and D+1
    triggers = (day["users"], day["items"]) | "SelectTriggers" >> SelectTriggers(dt, cfg, blocklist)
    think_prompts = (triggers | "WithText" >> beam.Filter(lambda t: bool(t.text))
                     | "CompressThink" >> CompressPrompts(generator, ThinkPrompts(cfg.x2q)))
    think = (think_prompts, day["users"], next_day["users"]) | "ThinkSamples" >> ThinkSamples(
        TargetRules.of(cfg, cfg.x2q.max_queries), clean, dt, labels_dt)

    # write (staged): samples, prompts set aside, every count
    samples = (direct.samples, think.samples) | "AllSamples" >> beam.Flatten()
    set_aside = (direct[SET_ASIDE], think[SET_ASIDE]) | "AllSetAside" >> beam.Flatten()
    shards = cfg.publish.shards
    files = [
        tag_files(samples | "WriteSamples" >> WriteShardedParquet(
            staging.table("samples"), SAMPLES_SCHEMA, shards, key=lambda s: f"{s.task}:{s.key}",
            sort_key=lambda s: (s.task, s.key), to_row=lambda s: s.to_row()), "samples"),
        tag_files(set_aside | "WriteSetAside" >> WriteShardedParquet(
            staging.table(SET_ASIDE), SAMPLES_SET_ASIDE_SCHEMA, shards, key=lambda s: f"{s.task}:{s.key}",
            sort_key=lambda s: (s.task, s.key), to_row=lambda s: s.to_row()), SET_ASIDE),
    ]
    files | "AllFiles" >> beam.Flatten() | "WriteFileList" >> WriteFileList(staging.files)
    counts = [
        day["counts"],
        (direct_prompts, think_prompts) | "AllPrompts" >> beam.Flatten()
        | "CountPrompts" >> CountBy(lambda pr: c.SAMPLE_PROMPTS(pr.task)),
        samples | "CountSamples" >> CountBy(lambda s: c.SAMPLES_KEPT(s.task)),
        set_aside | "CountSetAside" >> CountBy(lambda s: c.SAMPLES_SET_ASIDE(s.task, s.reason)),
        samples | "CountQueries" >> Tally(lambda s: [(c.SAMPLE_QUERIES(s.task, o), 1) for o in s.origins]),
        has_queries | "CountShopQueries" >> SumBy(lambda b: (c.SAMPLES_SHOP_HAS_QUERIES(), int(b))),
    ]
    notes = (day["notes"], next_day["notes"]) | "AllNotes" >> beam.Flatten()
    counts | "AllCounts" >> beam.Flatten() | "WriteStats" >> WriteStats(staging.stats, notes=notes)

"""All tunable numbers of HintQ, with their defaults in one place.

The resolved config is written into every manifest, so a published table says which
thresholds produced it. Where a number is a judgement rather than a measurement the
comment says so; `benchmarks/` holds the measurements.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


# The nightly tables in the order a day runs them: u2q fills from the same day's x2q.
NIGHTLY_TABLES = ("x2q", "u2q")


@dataclass(frozen=True)
class ValidateConfig:
    # A timestamp may fall this far outside its partition's UTC day (late or clock-skewed
    # clients) before it is rejected as `outside_partition`.
    partition_tolerance_s: int = 3600
    # Typed queries longer than this are not queries (paste accidents, bots): rejected.
    max_query_chars: int = 200
    # Titles are truncated (not rejected) to this many characters before any use.
    max_title_chars: int = 300
    # Bot guard: at most this many events of one user a day are used (the most recent
    # ones); the rest are rejected as `over_user_cap`. Real heavy shoppers stay far below.
    max_events_per_user: int = 2000


@dataclass(frozen=True)
class SessionConfig:
    # 30 minutes of inactivity ends a session (the common web-analytics convention).
    gap_s: int = 1800
    # Event weights: purchase > cart > click > search > view.
    weights: dict = field(default_factory=lambda: {
        "purchase": 5.0, "cart": 3.0, "click": 1.5, "search": 2.0, "view": 0.5})
    # Recency half-life within the day; the newest event weighs 1.0.
    half_life_s: int = 6 * 3600


@dataclass(frozen=True)
class PromptConfig:
    # Evidence lines are added, strongest and most recent first, until the prompt reaches
    # this many tokens (counted with the generator's own tokenizer).
    max_prompt_tokens: int = 256
    max_evidence_lines: int = 12
    key_terms_per_item: int = 3
    recent_queries: int = 5


@dataclass(frozen=True)
class GenerateConfig:
    model: str = "smollm2-135m-instruct"  # resolved by pipelines.model_store
    # Queries per answer and their length are bounded in the JSON schema itself, and
    # max_tokens is sized so a full answer fits: JSON cut at max_tokens is invalid.
    max_queries: int = 10
    max_query_chars: int = 40
    max_tokens: int = 192
    temperature: float = 0.0
    # SmolLM2-135M repeats itself under greedy decoding; a frequency penalty gave more
    # distinct queries per answer (measured by hand on the sample world, see README).
    frequency_penalty: float = 0.6
    seed: int = 0
    dtype: str = "bfloat16"
    max_model_len: int = 1024
    # Prompts are generated in batches of about this many, a batch per generate() call.
    # One call over everything was fastest on CPU (benchmarks/generation_throughput.py), but
    # progress and the ETA can only be reported between calls; 64 keeps both.
    batch_size: int = 64
    enforce_eager: bool = True


@dataclass(frozen=True)
class NormalizeConfig:
    min_chars: int = 3
    max_chars: int = 60
    max_words: int = 8


@dataclass(frozen=True)
class VerifyConfig:
    embedder: str = "all-MiniLM-L6-v2"
    # A query passes when at least `min_hits` catalog items have cosine similarity
    # >= `similarity_floor`. Chosen on the sample world (benchmarks/verify_threshold.py).
    similarity_floor: float = 0.5
    min_hits: int = 2
    top_k: int = 10
    evidence_items: int = 5
    embed_batch_size: int = 256


@dataclass(frozen=True)
class RankConfig:
    k: int = 30
    w_rank: float = 0.3
    w_support: float = 0.4
    w_consistency: float = 0.3
    # MMR-style: each earlier pick in the same category costs this much score.
    category_repeat_penalty: float = 0.05
    # Popular queries of the day, counted by distinct users; the pool fills short lists.
    popular_pool: int = 500
    # A generated query is never ranked below a fallback.
    generated_bonus: float = 1.0
    # A short u2q list is filled first from the x2q lists of this many of the user's most
    # recent triggers, at most `fill_per_trigger` queries from each.
    fill_triggers: int = 5
    fill_per_trigger: int = 5


@dataclass(frozen=True)
class X2QConfig:
    """Think: trigger selection and the x2q lists."""

    # Most frequent triggers of the day per type, by distinct users (ties: id order).
    top_items: int = 40
    top_queries: int = 40
    top_categories: int = 20
    # Cold start: items first seen in the catalog within this many days (today included)
    # that nobody touched today; newest first, at most `max_cold_items`.
    cold_days: int = 7
    max_cold_items: int = 60
    # Bounded context: per session at most this many distinct triggers pair up, and each
    # trigger keeps its strongest `max_context` neighbours and `max_facts` facts.
    max_session_triggers: int = 20
    max_context: int = 5
    max_facts: int = 3
    # The Think answer {reasoning, queries}, bounded in its JSON schema so a full answer
    # fits in max_tokens (about 60 tokens of reasoning + 8 queries of <= 40 chars).
    max_queries: int = 8
    max_reasoning_chars: int = 200
    max_tokens: int = 256
    max_prompt_tokens: int = 256
    k: int = 10


@dataclass(frozen=True)
class MemoryConfig:
    """Profiles carried from day to day (pipelines/core/memory.py). Judgement, not measured."""

    half_life_days: float = 3.0
    max_idle_days: int = 30
    # Yesterday's strongest interest weighs this much against today's strongest (1.0).
    carried_weight: float = 0.5
    max_carried: int = 10


@dataclass(frozen=True)
class EvalConfig:
    """Stage 11 (pipelines/core/metrics.py, pipelines/core/baselines.py)."""

    ks: tuple = (10, 30)
    # Baselines count popularity and co-occurrence over this many days up to D.
    history_days: int = 7
    # category_popular cycles over the user's this many strongest leaf categories.
    top_leaves: int = 3
    # Users shown in full in the report (picked by a stable hash of the user id).
    sample_users: int = 20
    # A generated query this similar (cosine) to a real one counts as its near-duplicate.
    near_duplicate: float = 0.9


@dataclass(frozen=True)
class PublishConfig:
    shards: int = 2


@dataclass(frozen=True)
class HintQConfig:
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    rank: RankConfig = field(default_factory=RankConfig)
    x2q: X2QConfig = field(default_factory=X2QConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def with_overrides(self, overrides: dict[str, object]) -> "HintQConfig":
        """Returns a copy with dotted keys replaced, e.g. {"rank.k": 10}."""
        sections = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for dotted, value in overrides.items():
            section, _, name = dotted.partition(".")
            if section not in sections or not hasattr(sections[section], name):
                raise KeyError(f"unknown config key {dotted!r}")
            current = getattr(sections[section], name)
            if isinstance(current, tuple):  # "10,30" on the command line, a list in JSON
                value = tuple(int(v) for v in (value.split(",") if isinstance(value, str) else value))
            elif not isinstance(value, type(current)) and isinstance(value, str):
                value = type(current)(value)
            sections[section] = dataclasses.replace(sections[section], **{name: value})
        return HintQConfig(**sections)

    @classmethod
    def from_dict(cls, data: dict) -> "HintQConfig":
        flat = {f"{s}.{k}": v for s, values in data.items() for k, v in values.items()}
        return cls().with_overrides(flat)

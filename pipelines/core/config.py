"""All tunable numbers of HintQ, with their defaults and allowed ranges in one place.

The resolved config is written into every manifest, so a published table says which
thresholds produced it. Where a number is a judgement rather than a measurement the
comment says so; `benchmarks/` holds the measurements.

Every setting declares its bounds beside its default (`_in(default, lo, hi)`), and
`resolve_config` is the one way a job or the CLI turns defaults, a config file, `--set`
overrides and explicit flags into a checked HintQConfig, before any stage runs:

    defaults  <  --config FILE  <  --set key=value  <  explicit flags (e.g. --model)

A value out of its range, of the wrong type, or an unknown key raises ConfigError naming
the key, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path


# The nightly tables in the order a day runs them: u2q fills from the same day's x2q.
NIGHTLY_TABLES = ("x2q", "u2q")
# Every table the nights publish as an Iceberg table: the nightly ones and u2q's parts.
PUBLISHED_TABLES = ("u2q", "x2q", "rejected", "profiles", "candidates")
# The models that ship inside PyPI packages (pipelines/engines/model_store.py finds them).
PACKAGED_GENERATOR = "smollm2-135m-instruct"
PACKAGED_EMBEDDER = "all-MiniLM-L6-v2"
# The behaviour event types of the input contract (schemas/inputs.py checks the same set).
EVENT_WEIGHT_TYPES = ("purchase", "cart", "click", "search", "view")


class ConfigError(ValueError):
    """A setting is unknown, of the wrong type or out of its declared range."""


def _in(default, lo, hi):
    """A number with its allowed closed range [lo, hi]."""
    return field(default=default, metadata={"range": (lo, hi)})


def _one_of(default, *choices):
    return field(default=default, metadata={"choices": choices})


def _text(default):
    """A non-empty string (a model name or folder)."""
    return field(default=default, metadata={"non_empty": True})


@dataclass(frozen=True)
class ValidateConfig:
    # A timestamp may fall this far outside its partition's UTC day (late or clock-skewed
    # clients) before it is rejected as `outside_partition`.
    partition_tolerance_s: int = _in(3600, 0, 86400)
    # Typed queries longer than this are not queries (paste accidents, bots): rejected.
    max_query_chars: int = _in(200, 1, 10_000)
    # Titles are truncated (not rejected) to this many characters before any use.
    max_title_chars: int = _in(300, 10, 100_000)
    # Bot guard: at most this many valid events of one user a day are used (the most
    # recent ones, counted before the catalog join); the rest are rejected as
    # `over_user_cap`. Real heavy shoppers stay far below.
    max_events_per_user: int = _in(2000, 1, 10_000_000)


@dataclass(frozen=True)
class SessionConfig:
    # 30 minutes of inactivity ends a session (the common web-analytics convention).
    gap_s: int = _in(1800, 1, 86400)
    # Event weights: purchase > cart > click > search > view. Each in [0, 100].
    weights: dict = field(default_factory=lambda: {
        "purchase": 5.0, "cart": 3.0, "click": 1.5, "search": 2.0, "view": 0.5},
        metadata={"weights": (0.0, 100.0)})
    # Recency half-life within the day; the newest event weighs 1.0.
    half_life_s: int = _in(6 * 3600, 1, 30 * 86400)


@dataclass(frozen=True)
class PromptConfig:
    # Evidence lines are added, strongest and most recent first, until the prompt reaches
    # this many tokens (counted with the generator's own tokenizer).
    max_prompt_tokens: int = _in(256, 32, 32_768)
    max_evidence_lines: int = _in(12, 1, 100)
    key_terms_per_item: int = _in(3, 1, 20)
    recent_queries: int = _in(5, 0, 50)


@dataclass(frozen=True)
class GenerateConfig:
    # The packaged default or a local model folder (pipelines/engines/model_store.py resolves it).
    model: str = _text(PACKAGED_GENERATOR)
    # Queries per answer and their length are bounded in the JSON schema itself, and
    # max_tokens is sized so a full answer fits: JSON cut at max_tokens is invalid.
    max_queries: int = _in(10, 1, 50)
    max_query_chars: int = _in(40, 3, 200)
    max_tokens: int = _in(192, 16, 8192)
    temperature: float = _in(0.0, 0.0, 2.0)
    # SmolLM2-135M repeats itself under greedy decoding; a frequency penalty gave more
    # distinct queries per answer (measured by hand on the sample world, see README).
    frequency_penalty: float = _in(0.6, -2.0, 2.0)  # vLLM's own range
    seed: int = _in(0, 0, 2**32 - 1)
    # "auto": bfloat16 on a GPU or a CPU with native bf16 (AVX512-BF16, AMX), else float32.
    # Measured on a 2-core AVX2-only CPU (tiny world, 84 Think prompts, same answers count):
    # generate 378 s in bfloat16 (emulated) against 111 s in float32.
    dtype: str = _one_of("auto", "auto", "bfloat16", "float16", "float32")
    max_model_len: int = _in(1024, 128, 131_072)
    # Prompts are generated in batches of about this many, a batch per generate() call (and
    # a batch is the unit a worker takes). Each call ends in a tail where the engine runs
    # few sequences: on 512 Direct prompts of a 1k-shopper world, batches of ~64 gave 0.89
    # of raw vllm's one-call tokens/s, batches of ~256 gave 0.997
    # (benchmarks/generation_throughput.py, README "Scale and production runners").
    batch_size: int = _in(256, 1, 100_000)
    enforce_eager: bool = True
    # The engine's own scheduler: at most this many sequences decode together (vLLM's
    # max_num_seqs; 256 is its CPU default). How many actually do is bounded by the KV
    # cache too: a Direct request holds two of its 128-token blocks, so 1 GiB admits ~90.
    # Measured on 256 Direct prompts (README "Scale and production runners"): 32 to 256
    # sequences and 1 to 4 GiB gave the same tokens/s on a 2-core CPU, within the noise
    # of two runs of one setting, except 32 (slower); these defaults use the least memory.
    max_num_seqs: int = _in(256, 1, 4096)
    # The CPU engine's KV cache, GiB (VLLM_CPU_KVCACHE_SPACE). A GPU engine sizes its
    # cache from the free device memory and ignores this.
    cpu_kv_cache_gib: int = _in(1, 1, 1024)


@dataclass(frozen=True)
class NormalizeConfig:
    min_chars: int = _in(3, 1, 100)
    max_chars: int = _in(60, 2, 500)
    max_words: int = _in(8, 1, 50)


@dataclass(frozen=True)
class VerifyConfig:
    embedder: str = _text(PACKAGED_EMBEDDER)
    # A query passes when at least `min_hits` catalog items have cosine similarity
    # >= `similarity_floor`. Chosen on the sample world (benchmarks/verify_threshold.py).
    # The floor is a cosine of L2-normalized vectors: below 0 every item would pass and
    # the catalog check would be off, so the range is [0, 1].
    similarity_floor: float = _in(0.5, 0.0, 1.0)
    min_hits: int = _in(2, 1, 1000)
    top_k: int = _in(10, 1, 1000)
    evidence_items: int = _in(5, 1, 1000)
    # Texts per call of the embedder (stable batches of catalog titles and of queries). A
    # call embeds its texts of each token length in passes of FORWARD_ROWS
    # (engines/embedder.py): the more texts a call has, the fewer passes it fills up with
    # repeats (benchmarks/embedding_rows.py). 8,192: the 1k world's 8th-night u2q queries
    # not carried (1,881 of 4,311) in 3.7-4.0 s in one call, 4.6-4.9 s split into the 3
    # calls of 2,048 (each length's last pass filled up in each call).
    embed_batch_size: int = _in(8192, 1, 100_000)
    # The catalog index: exact (flat) up to `exact_index_max_items` items, HNSW above
    # (benchmarks/ann_recall.py measures its recall@top_k against the flat index). HNSW is
    # built on one thread, so the same catalog gives the same graph and the same answers.
    exact_index_max_items: int = _in(50_000, 0, 100_000_000)
    hnsw_m: int = _in(32, 4, 256)
    hnsw_ef_construction: int = _in(80, 8, 4096)
    hnsw_ef_search: int = _in(128, 8, 4096)
    # The day's index is kept in the warehouse (warehouse/catalog_index.py) for the night's
    # other table and re-runs of the day, which would build the same index; indexes of this
    # many days back from the newest are kept. 0: every night builds its own.
    shared_index_days: int = _in(3, 0, 365)
    # The rows of at most this many of a night's verified queries are kept for the table's
    # next night, which embeds only the queries they lack (warehouse/query_rows.py). A row
    # is 1.5 KB (384 float32): 20,000 are 31 MB in each verifying worker. 0: off.
    carried_queries: int = _in(20_000, 0, 10_000_000)


@dataclass(frozen=True)
class RankConfig:
    # List length. The online value of a 500-entry list is ~30 kB; nobody reads further.
    k: int = _in(30, 1, 500)
    w_rank: float = _in(0.3, 0.0, 10.0)
    w_support: float = _in(0.4, 0.0, 10.0)
    w_consistency: float = _in(0.3, 0.0, 10.0)
    # MMR-style: each earlier pick in the same category costs this much score.
    category_repeat_penalty: float = _in(0.05, 0.0, 10.0)
    # Popular queries of the day, counted by distinct users; the pool fills short lists.
    popular_pool: int = _in(500, 1, 1_000_000)
    # A generated query is never ranked below a fallback.
    generated_bonus: float = _in(1.0, 0.0, 100.0)
    # A short u2q list is filled first from the x2q lists of this many of the user's most
    # recent triggers, at most `fill_per_trigger` queries from each.
    fill_triggers: int = _in(5, 0, 100)
    fill_per_trigger: int = _in(5, 0, 100)


@dataclass(frozen=True)
class RankerConfig:
    """Stage 8's learned order (pipelines/core/ranker.py): candidates of every channel,
    scored by a LightGBM LambdaRank model trained on the shop's own next-day behaviour."""

    # Rank with the newest ranker trained strictly before the night's day; false (or no
    # such ranker yet) ranks with the hand-weighted score of `rank`.
    learned: bool = True
    # Each history channel (category-popular, co-occurrence, EBR, popular) proposes this many.
    per_channel: int = _in(30, 1, 1000)
    # The history channels' vocabulary: the most popular past queries, at most this many.
    vocabulary: int = _in(20_000, 1, 10_000_000)
    # MMR-style diversity: each earlier pick of the same category costs this share of the
    # user's score range (scores scaled to [0, 1] per user). With `tune_diversity`, training
    # picks the weight that serves its validation users best and the ranker carries it;
    # this one is then only the fallback.
    diversity: float = _in(0.15, 0.0, 100.0)
    tune_diversity: bool = True
    # Training (LambdaRank, deterministic: fixed seed, one thread, row-wise histograms).
    # Few, small trees: one day of one shop is little data (a judgement; see the README).
    rounds: int = _in(100, 1, 10_000)
    learning_rate: float = _in(0.05, 0.001, 1.0)
    num_leaves: int = _in(7, 2, 1024)
    min_data_in_leaf: int = _in(50, 1, 100_000)
    # Users held out (by a stable hash of the id) to measure the ranker's NDCG.
    validation_share: float = _in(0.2, 0.0, 0.9)
    seed: int = _in(0, 0, 2**31 - 1)
    threads: int = _in(1, 1, 256)


@dataclass(frozen=True)
class TrainConfig:
    """IL-SFT fine-tuning of the generators on the shop's own logs (`hintq train`,
    pipelines/engines/finetune.py) and the promotion gate a trained version must pass."""

    # LoRA adapters on the attention projections, merged into full weights for vLLM; or
    # every weight ("full"). Measured on this CPU (README): LoRA r=16 388 tok/s in
    # bfloat16, a full fine-tune 175 tok/s in float32.
    method: str = _one_of("lora", "lora", "full")
    lora_r: int = _in(16, 1, 1024)
    lora_alpha: int = _in(32, 1, 4096)
    epochs: int = _in(3, 1, 100)
    # A judgement, not tuned: one day of one shop gives tens of steps, and at 2e-4 one
    # epoch over 51 samples left the held-out answers unchanged (README).
    learning_rate: float = _in(1e-3, 1e-7, 1.0)
    warmup_share: float = _in(0.05, 0.0, 0.5)
    batch_size: int = _in(8, 1, 4096)
    # A sample longer than this (prompt + answer, in tokens) is left out of training and
    # counted; truncating it would teach a cut answer.
    max_seq_tokens: int = _in(512, 32, 32_768)
    # Prompt days before the held-out day a version learns from.
    window_days: int = _in(7, 1, 365)
    # The gate compares served and candidate on at most this many held-out samples
    # (a stable hash of the key picks them), each with its own generation.
    gate_samples: int = _in(200, 1, 1_000_000)
    gate_k: int = _in(10, 1, 100)
    seed: int = _in(0, 0, 2**31 - 1)
    threads: int = _in(2, 1, 256)


@dataclass(frozen=True)
class X2QConfig:
    """Think: trigger selection and the x2q lists."""

    # Most frequent triggers of the day per type, by distinct users (ties: id order).
    top_items: int = _in(40, 0, 10_000_000)
    top_queries: int = _in(40, 0, 10_000_000)
    top_categories: int = _in(20, 0, 10_000_000)
    # Cold start: items first seen in the catalog within this many days (today included)
    # that nobody touched today; newest first, at most `max_cold_items`.
    cold_days: int = _in(7, 1, 365)
    max_cold_items: int = _in(60, 0, 10_000_000)
    # Bounded context: per session at most this many distinct triggers pair up, and each
    # trigger keeps its strongest `max_context` neighbours and `max_facts` facts.
    max_session_triggers: int = _in(20, 1, 1000)
    max_context: int = _in(5, 0, 100)
    max_facts: int = _in(3, 0, 100)
    # The Think answer {reasoning, queries}, bounded in its JSON schema so a full answer
    # fits in max_tokens (about 60 tokens of reasoning + 8 queries of <= 40 chars).
    max_queries: int = _in(8, 1, 50)
    max_reasoning_chars: int = _in(200, 10, 5000)
    max_tokens: int = _in(256, 16, 8192)
    max_prompt_tokens: int = _in(256, 32, 32_768)
    k: int = _in(10, 1, 500)


@dataclass(frozen=True)
class MemoryConfig:
    """Profiles carried from day to day (pipelines/core/memory.py). Judgement, not measured."""

    half_life_days: float = _in(3.0, 0.01, 365.0)
    max_idle_days: int = _in(30, 1, 3650)
    # Yesterday's strongest interest weighs this much against today's strongest (1.0).
    carried_weight: float = _in(0.5, 0.0, 10.0)
    max_carried: int = _in(10, 0, 1000)


@dataclass(frozen=True)
class EvalConfig:
    """Stage 11 (pipelines/core/metrics.py, pipelines/core/baselines.py)."""

    # Each cut-off K in [1, 1000].
    ks: tuple = field(default=(10, 30), metadata={"each": (1, 1000)})
    # The baselines, and the nightly history channels that run them, count popularity and
    # co-occurrence over this many days up to D.
    history_days: int = _in(7, 1, 365)
    # category_popular (baseline and channel) cycles over the user's this many strongest leaves.
    top_leaves: int = _in(3, 1, 100)
    # Users shown in full in the report (picked by a stable hash of the user id).
    sample_users: int = _in(20, 0, 10_000)
    # A generated query this similar (cosine) to a real one counts as its near-duplicate.
    near_duplicate: float = _in(0.9, 0.0, 1.0)
    # Bootstrap 95% intervals of every per-user metric: this many resamples of the users
    # (0: none), from this seed, the same resamples for every system.
    bootstrap_samples: int = _in(1000, 0, 100_000)
    bootstrap_seed: int = _in(0, 0, 2**31 - 1)
    # The `random` reference system (K random catalog titles per user, as queries) is
    # averaged over this many seeds (0: not evaluated). It shows where chance lies.
    random_seeds: int = _in(5, 0, 100)


@dataclass(frozen=True)
class PublishConfig:
    shards: int = _in(2, 1, 10_000)
    # More shards than `shards` where a table's shard would hold more rows than this: a
    # shard is sorted and written in one worker's memory.
    max_rows_per_shard: int = _in(100_000, 1, 100_000_000)
    # u2q on the embedded runner (which holds each stage's whole input and output in
    # memory) runs the day's shoppers in passes of about this many, split by a stable hash
    # of user_id, after one pass over the day-level counts (popular queries, the history's
    # channels, the fallback pool): a pass's shoppers, not the day's, bound the per-user
    # stages' memory. 0: one pass, whatever the day's size. Other runners: one pass.
    users_per_pass: int = _in(25_000, 0, 100_000_000)
    # The day's input as stages 1–2 leave it is kept in the warehouse (warehouse/clean_day.py)
    # for the night's other table and re-runs of the day, which would read the same; days
    # this many back from the newest are kept. 0: every table reads the day itself.
    shared_day_days: int = _in(2, 0, 365)
    # A night whose engine is not loaded yet reads and keeps its day in a process of its
    # own while it loads it (jobs/clean_day.py): the load is one core's work, and the day
    # is read on the other. Only where the day is to be kept (`shared_day_days` > 0).
    read_day_beside_start: bool = True
    # ... and reads it in the pipeline after all where that process has not ended this many
    # seconds after the engine was loaded (it is stopped).
    day_reader_timeout_s: float = _in(3600.0, 1.0, 86_400.0)
    # An Iceberg commit that loses to a concurrent commit is planned again this many times.
    commit_retries: int = _in(4, 0, 100)
    # `hintq maintain`: snapshots older than this are expired (never the current one or the
    # one before it), and files no kept snapshot needs are removed once this old (a
    # commit in flight elsewhere may not have referenced its files yet).
    snapshot_retention_days: float = _in(7.0, 0.0, 3650.0)
    orphan_min_age_hours: float = _in(1.0, 0.0, 720.0)


# Settings that must agree with each other: (check, message), checked after the ranges.
_CROSS_CHECKS = (
    (lambda c: c.verify.min_hits <= c.verify.top_k, "verify.min_hits must be <= verify.top_k"),
    (lambda c: c.verify.evidence_items <= c.verify.top_k, "verify.evidence_items must be <= verify.top_k"),
    (lambda c: c.normalize.min_chars <= c.normalize.max_chars,
     "normalize.min_chars must be <= normalize.max_chars"),
    (lambda c: c.prompt.max_prompt_tokens + c.generate.max_tokens <= c.generate.max_model_len,
     "prompt.max_prompt_tokens + generate.max_tokens must be <= generate.max_model_len"),
    (lambda c: c.x2q.max_prompt_tokens + c.x2q.max_tokens <= c.generate.max_model_len,
     "x2q.max_prompt_tokens + x2q.max_tokens must be <= generate.max_model_len"),
)


@dataclass(frozen=True)
class HintQConfig:
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    rank: RankConfig = field(default_factory=RankConfig)
    ranker: RankerConfig = field(default_factory=RankerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    x2q: X2QConfig = field(default_factory=X2QConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def with_overrides(self, overrides: dict[str, object]) -> "HintQConfig":
        """Returns a copy with dotted keys replaced, e.g. {"rank.k": 10}, each value
        coerced to its setting's type and checked against its declared range."""
        sections = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for dotted, value in overrides.items():
            spec = setting(dotted)
            section = dotted.partition(".")[0]
            value = _coerce(dotted, spec, value, getattr(sections[section], spec.name))
            sections[section] = dataclasses.replace(sections[section], **{spec.name: value})
        return HintQConfig(**sections)

    @classmethod
    def from_dict(cls, data: dict) -> "HintQConfig":
        return cls().with_overrides(_flatten(data))

    def check(self) -> "HintQConfig":
        """Raises ConfigError unless every setting is in range and the settings agree."""
        for dotted, spec in settings().items():
            section, _, name = dotted.partition(".")
            _check_value(dotted, spec, getattr(getattr(self, section), name))
        for ok, message in _CROSS_CHECKS:
            if not ok(self):
                raise ConfigError(message)
        return self


def _flatten(data) -> dict[str, object]:
    """{"rank": {"k": 20}} → {"rank.k": 20}."""
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError('a config is a JSON object of sections, e.g. {"rank": {"k": 20}}')
    return {f"{s}.{k}": v for s, values in data.items() for k, v in values.items()}


def settings() -> dict[str, dataclasses.Field]:
    """Every setting by its dotted key, in declaration order."""
    return {f"{section.name}.{f.name}": f
            for section in dataclasses.fields(HintQConfig) for f in dataclasses.fields(section.default_factory())}


def setting(dotted: str) -> dataclasses.Field:
    spec = settings().get(dotted)
    if spec is None:
        raise ConfigError(f"unknown config key {dotted!r}")
    return spec


def allowed(spec: dataclasses.Field) -> str:
    """What a setting accepts, in words (error messages and the README table)."""
    meta = spec.metadata
    if "range" in meta:
        return f"{meta['range'][0]}..{meta['range'][1]}"
    if "choices" in meta:
        return ", ".join(meta["choices"])
    if "each" in meta:
        return f"a list of integers, each {meta['each'][0]}..{meta['each'][1]}"
    if "weights" in meta:
        return f"{{{', '.join(EVENT_WEIGHT_TYPES)}}} each {meta['weights'][0]:g}..{meta['weights'][1]:g}"
    if meta.get("non_empty"):
        return "a non-empty name or folder"
    return "true, false" if isinstance(spec.default, bool) else "any"


def describe(cfg: "HintQConfig") -> list[tuple[str, object, str]]:
    """(key, value, what is allowed) for every setting of `cfg`, in declaration order."""
    return [(key, getattr(getattr(cfg, key.partition(".")[0]), spec.name), allowed(spec))
            for key, spec in settings().items()]


def _coerce(dotted: str, spec: dataclasses.Field, value, current):
    """A `--set` string or a JSON value → the setting's type; ConfigError if it is not one."""
    kind = type(current)
    try:
        if kind is bool:
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                value = value.strip().lower() == "true"
            if not isinstance(value, bool):
                raise TypeError
        elif kind is int:
            if isinstance(value, str):
                value = int(value.strip())
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
        elif kind is float:
            if isinstance(value, str):
                value = float(value.strip())
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError
            value = float(value)
        elif kind is tuple:
            parts = value.split(",") if isinstance(value, str) else value
            if not isinstance(parts, (list, tuple)):
                raise TypeError
            value = tuple(int(v) if isinstance(v, str) else v for v in parts)
        elif kind is dict:
            if isinstance(value, str):
                value = json.loads(value)
            if not isinstance(value, dict):
                raise TypeError
        elif kind is str:
            if not isinstance(value, str):
                raise TypeError
    except (TypeError, ValueError):
        raise ConfigError(f"{dotted}={value!r} is not a valid {kind.__name__}; allowed: {allowed(spec)}") from None
    _check_value(dotted, spec, value)
    return value


def _in_range(value, bounds) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and bounds[0] <= value <= bounds[1]


def _check_value(dotted: str, spec: dataclasses.Field, value) -> None:
    meta = spec.metadata
    bad = False
    if "range" in meta:
        bad = not _in_range(value, meta["range"])
    elif "choices" in meta:
        bad = value not in meta["choices"]
    elif "each" in meta:
        bad = not value or not all(isinstance(v, int) and _in_range(v, meta["each"]) for v in value)
    elif "weights" in meta:
        bad = set(value) != set(EVENT_WEIGHT_TYPES) or not all(_in_range(v, meta["weights"]) for v in value.values())
    elif meta.get("non_empty"):
        bad = not isinstance(value, str) or not value.strip()
    if bad:
        raise ConfigError(f"{dotted}={value!r} is out of range; allowed: {allowed(spec)}")


def parse_overrides(items: list[str]) -> dict[str, object]:
    """`--set key=value` strings → {key: value}; a value that parses as JSON is JSON
    (numbers, true/false, lists), anything else is the string itself."""
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set rank.k=20")
        try:
            pairs[key.strip()] = json.loads(value)
        except ValueError:
            pairs[key.strip()] = value
    return pairs


def resolve_config(config_file: str | Path | None = None, overrides: list[str] = (),
                   flags: dict[str, object] | None = None, base: HintQConfig | None = None) -> HintQConfig:
    """The one resolver: `base` (the defaults) < config file < `--set` < explicit flags.

    `flags` holds only flags the user gave (a flag left out is None and does not count),
    e.g. {"generate.model": "/models/x"} for `--model /models/x`. The result is checked
    (ranges and cross-checks) before it is returned; ConfigError names key, value, range.
    """
    cfg = base or HintQConfig()
    if config_file:
        try:
            data = json.loads(Path(config_file).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from None
        cfg = cfg.with_overrides(_flatten(data))
    cfg = cfg.with_overrides(parse_overrides(list(overrides)))
    cfg = cfg.with_overrides({k: v for k, v in (flags or {}).items() if v is not None})
    return cfg.check()

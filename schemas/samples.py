"""IL-SFT training samples (pipelines/core/samples.py) and the prompts set aside with
their reason; one partition per prompt day, both tasks in it."""
import pyarrow as pa

SAMPLES_SCHEMA = pa.schema(
    [
        pa.field("task", pa.string(), nullable=False, metadata={"description": b"direct (u2q) or think (x2q)"}),
        pa.field("key", pa.string(), nullable=False, metadata={"description": b"user id or trigger key"}),
        pa.field("dt", pa.string(), nullable=False, metadata={"description": b"the prompt's day"}),
        pa.field("labels_dt", pa.string(), nullable=False,
                 metadata={"description": b"the day of behaviour the answer comes from"}),
        pa.field("prompt", pa.string(), nullable=False,
                 metadata={"description": b"the prompt the night sends, chat template applied"}),
        pa.field("prompt_tokens", pa.int32(), nullable=False),
        pa.field("target", pa.string(), nullable=False,
                 metadata={"description": b"the answer as the schema allows it (JSON, no whitespace)"}),
        pa.field("queries", pa.list_(pa.string()), nullable=False),
        pa.field("origins", pa.list_(pa.string()), nullable=False,
                 metadata={"description": b"per query: typed, top_up, item_proxy or follow_up"}),
    ],
    metadata={"table": b"samples", "version": b"1"},
)

SAMPLES_SET_ASIDE_SCHEMA = pa.schema(
    [
        pa.field("task", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("dt", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
    ],
    metadata={"table": b"samples_set_aside", "version": b"1"},
)

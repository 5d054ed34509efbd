"""The published trigger-to-query table (Think): one row per selected trigger of the day."""
import pyarrow as pa

from schemas.u2q import SUGGESTION_TYPE

X2Q_SCHEMA = pa.schema(
    [
        pa.field("trigger_type", pa.string(), nullable=False,
                 metadata={"description": b"item | query | category"}),
        pa.field("trigger_id", pa.string(), nullable=False,
                 metadata={"description": b"item id, normalized query text, or category path"}),
        pa.field("trigger_text", pa.string(), nullable=False,
                 metadata={"description": b"what the model was shown: title, query or path ('' if none)"}),
        pa.field("reasoning", pa.string(), nullable=True,
                 metadata={"description": b"the Think answer's reasoning, for audit; null if none"}),
        pa.field("queries", pa.list_(pa.field("item", SUGGESTION_TYPE, nullable=False)), nullable=False),
        pa.field("selected_as", pa.string(), nullable=False, metadata={"description": b"popular | cold"}),
        pa.field("users", pa.int32(), nullable=False,
                 metadata={"description": b"distinct users who touched the trigger that day"}),
        pa.field("prompt_tokens", pa.int32(), nullable=False),
        pa.field("n_generated", pa.int32(), nullable=False),
        pa.field("n_verified", pa.int32(), nullable=False),
    ],
    metadata={"table": b"x2q", "version": b"1"},
)

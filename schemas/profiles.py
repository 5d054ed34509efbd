"""Profile memory carried from day to day: one row per remembered shopper, as of the end of dt."""
import pyarrow as pa

_WEIGHTS = pa.list_(pa.field("item", pa.struct([pa.field("name", pa.string(), nullable=False),
                                               pa.field("weight", pa.float64(), nullable=False)]),
                             nullable=False))

PROFILES_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("last_active", pa.string(), nullable=False, metadata={"description": b"YYYY-MM-DD"}),
        pa.field("categories", _WEIGHTS, nullable=False, metadata={"description": b"leaf, weight (top 1.0)"}),
        pa.field("brands", _WEIGHTS, nullable=False),
        pa.field("recent_queries", pa.list_(pa.field("item", pa.string(), nullable=False)), nullable=False),
        pa.field("recent_triggers", pa.list_(pa.field("item", pa.struct([
            pa.field("type", pa.string(), nullable=False), pa.field("id", pa.string(), nullable=False)]),
            nullable=False)), nullable=False),
    ],
    metadata={"table": b"profiles", "version": b"1"},
)

"""A day's history counts as a night keeps them (warehouse/history_counts.py)."""
import pyarrow as pa

HISTORY_SEARCHED_SCHEMA = pa.schema(
    [
        pa.field("query", pa.string(), nullable=False),
        pa.field("users", pa.int64(), nullable=False,
                 metadata={"description": b"the day's shoppers who searched it (titles standing in where the day has no search)"}),
    ],
    metadata={"table": b"history_searched", "version": b"1"},
)

HISTORY_PAIRS_SCHEMA = pa.schema(
    [
        pa.field("anchor_kind", pa.string(), nullable=False, metadata={"description": b"item | query"}),
        pa.field("anchor", pa.string(), nullable=False),
        pa.field("query", pa.string(), nullable=False),
        pa.field("sessions", pa.int64(), nullable=False,
                 metadata={"description": b"the day's sessions holding the anchor and the query"}),
    ],
    metadata={"table": b"history_pairs", "version": b"1"},
)

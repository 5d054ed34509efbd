"""u2q's candidates of the day: every verified (user, query) some channel proposed, with the
learned ranker's features. The ranker of the next day trains on these rows; the evaluation
re-scores them (ablations). One row per (user, query)."""
import pyarrow as pa

CANDIDATES_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("query", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=True,
                 metadata={"description": b"dominant leaf category of the retrieved items"}),
        pa.field("source", pa.string(), nullable=False,
                 metadata={"description": b"the channel that would place it (u2q's source vocabulary)"}),
        pa.field("channels", pa.map_(pa.string(), pa.int32()), nullable=False,
                 metadata={"description": b"channel -> 1-based rank in that channel's list"}),
        pa.field("features", pa.map_(pa.string(), pa.float64()), nullable=False,
                 metadata={"description": b"feature name -> value (pipelines/core/features.py; NaN: missing)"}),
        pa.field("hand_rank", pa.int32(), nullable=True,
                 metadata={"description": b"rank in the hand-weighted list (null: not in it)"}),
        pa.field("hand_source", pa.string(), nullable=True,
                 metadata={"description": b"its source in the hand-weighted list (null: not in it)"}),
        pa.field("rank", pa.int32(), nullable=True,
                 metadata={"description": b"rank in the published u2q list (null: not in it)"}),
        pa.field("score", pa.float64(), nullable=True, metadata={"description": b"the ranker's score (null: none)"}),
    ],
    metadata={"table": b"candidates", "version": b"1"},
)

"""The published user-to-query table: one row per active shopper of the day."""
import pyarrow as pa

SUGGESTION_TYPE = pa.struct(
    [
        pa.field("query", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False, metadata={"description": b"1-based"}),
        pa.field("category", pa.string(), nullable=True,
                 metadata={"description": b"dominant leaf category of the retrieved items"}),
        pa.field("source", pa.string(), nullable=False,
                 metadata={"description": b"generated | x2q:<type>:<id> | popular:category | popular:global | channel:<baseline>"}),
        pa.field("evidence", pa.list_(pa.string()), nullable=False,
                 metadata={"description": b"item ids retrieved for the query"}),
    ]
)

U2Q_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("queries", pa.list_(pa.field("item", SUGGESTION_TYPE, nullable=False)), nullable=False),
        pa.field("prompt_tokens", pa.int32(), nullable=False),
        pa.field("n_generated", pa.int32(), nullable=False,
                 metadata={"description": b"queries the model wrote, before normalize"}),
        pa.field("n_verified", pa.int32(), nullable=False,
                 metadata={"description": b"generated queries that passed verification"}),
    ],
    metadata={"table": b"u2q", "version": b"1"},
)

"""Real shopper queries imported for evaluation (`hintq import wands-esci`): no users, no
times; what generated queries are compared with (query realism, the Think category
benchmark)."""
import pyarrow as pa

REAL_QUERIES_SCHEMA = pa.schema(
    [
        pa.field("query", pa.string(), nullable=False, metadata={"description": b"as the shopper typed it"}),
        pa.field("query_class", pa.string(), nullable=True,
                 metadata={"description": b"product class of the query (WANDS); null when unknown"}),
        pa.field("source", pa.string(), nullable=False, metadata={"description": b"wands | esci"}),
        pa.field("n_exact", pa.int32(), nullable=True,
                 metadata={"description": b"ESCI: products judged Exact for the query"}),
    ],
    metadata={"table": b"real_queries", "version": b"1"},
)

import datetime as dt
import hashlib

import pyarrow as pa
import pyarrow.parquet as pq

from datasets.sample_world import write_world
from pipelines.core.records import Rejection, Suggestion
from schemas import CATALOG_SCHEMA, EVENTS_SCHEMA, REJECTED_SCHEMA, U2Q_SCHEMA


def _digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet"))}


def test_sample_world_is_deterministic_and_carries_every_bad_kind(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        write_world(root, dt.date(2026, 11, 1), days=2, n_users=15, seed=3, n_items=300, bot_events=500)
    assert _digest(a) == _digest(b) and len(_digest(a)) == 10
    day = a / "events" / "dt=2026-11-01"
    main = pq.read_table(day / "part-00000.parquet")
    assert main.schema.names == EVENTS_SCHEMA.names
    drift = pq.read_table(day / "part-00002.parquet")
    assert drift.schema.field("ts").type == pa.string()  # type drift on purpose
    assert "query" not in drift.schema.names and "client_version" in drift.schema.names
    raw = pq.read_table(day / "part-00001.parquet").column("query").cast(pa.binary()).to_pylist()
    assert any(v and b"\xff" in v for v in raw), "invalid UTF-8 bytes are present"
    catalog = pq.read_table(a / "catalog" / "dt=2026-11-01" / "part-00000.parquet")
    assert catalog.schema.names == CATALOG_SCHEMA.names
    assert catalog.num_rows > 250


def test_records_convert_to_their_schemas():
    s = Suggestion("trail shoes", 1.5, 1, "Running Shoes", "generated", ("I1",))
    table = pa.Table.from_pylist([{"user_id": "U1", "queries": [s.to_row()], "prompt_tokens": 10,
                                   "n_generated": 3, "n_verified": 1}], schema=U2Q_SCHEMA)
    assert table.column("queries").to_pylist()[0][0]["evidence"] == ["I1"]
    r = Rejection("events", "validate", "bad_timestamp", "f", 3, None, "{}")
    assert pa.Table.from_pylist([r.to_row()], schema=REJECTED_SCHEMA).num_rows == 1

"""What a night refuses before any stage runs, and the input rules that used to let bad
rows through: each names what is wrong, and nothing is staged or published."""
import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.nightly import main, run
from pipelines.core.config import ConfigError
from pipelines.engines.model_store import ModelUnavailable
from schemas.inputs import CATALOG_SCHEMA, EVENTS_SCHEMA
from tests.conftest import TINY_DAY
from tests.fakes import FakeGeneratorSpec
from warehouse.files import read_published_table
from warehouse.inputs import EmptyInputPartition, InputFileUnreadable

NOON = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)


def _argv(world, warehouse, *extra):
    return [f"--dt={TINY_DAY}", f"--input={world}", f"--warehouse={warehouse}", *extra]


def _catalog(root):
    part = root / "catalog" / f"dt={TINY_DAY}"
    part.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([
        {"item_id": f"I{i}", "title": f"Nordia Trail Running Shoes {i}", "category_path": "Shoes > Trail Running",
         "brand": "Nordia", "price": 50.0, "first_seen": dt.date(2025, 1, 1)} for i in range(1, 5)],
        schema=CATALOG_SCHEMA), part / "part-00000.parquet")


def _events(root, name, user_ids, user_type, item="I1"):
    part = root / "events" / f"dt={TINY_DAY}"
    part.mkdir(parents=True, exist_ok=True)
    n = len(user_ids)
    pq.write_table(pa.table({
        "user_id": pa.array(user_ids, type=user_type),
        "ts": pa.array([NOON + dt.timedelta(minutes=i) for i in range(n)], type=pa.timestamp("us", tz="UTC")),
        "event_type": ["view"] * n, "item_id": [item] * n, "query": pa.array([None] * n, type=pa.string())}),
        part / name)


def _nothing_written(warehouse):
    return not warehouse.exists() or not any(warehouse.rglob("*.parquet"))


@pytest.mark.parametrize("override, message", [
    ("rank.k=0", r"rank\.k=0 is out of range; allowed: 1\.\.500"),
    ("rank.k=10000", r"rank\.k=10000 is out of range"),
    ("verify.similarity_floor=-0.5", r"verify\.similarity_floor=-0\.5 is out of range; allowed: 0\.0\.\.1\.0"),
])
def test_settings_out_of_range_are_refused_before_any_stage(tiny_world, tmp_path, override, message):
    warehouse = tmp_path / "wh"
    with pytest.raises(ConfigError, match=message):
        run(_argv(tiny_world, warehouse, "--set", override), generator=FakeGeneratorSpec())
    assert not warehouse.exists(), "refused before the staging lock: nothing staged"


def test_a_missing_model_is_refused_before_any_stage_and_set_is_not_overwritten(tiny_world, tmp_path, capsys):
    warehouse = tmp_path / "wh"
    with pytest.raises(ModelUnavailable, match=r"generate\.model='/does/not/exist': not the packaged default"):
        run(_argv(tiny_world, warehouse, "--model=/does/not/exist"))
    # --set generate.model used to be replaced by --model's default: now it is what runs.
    with pytest.raises(ModelUnavailable, match=r"generate\.model='/from/set'"):
        run(_argv(tiny_world, warehouse, "--set", "generate.model=/from/set"))
    # An explicit --model outranks --set.
    with pytest.raises(ModelUnavailable, match=r"generate\.model='/from/flag'"):
        run(_argv(tiny_world, warehouse, "--set", "generate.model=/from/set", "--model=/from/flag"))
    assert not warehouse.exists()
    assert main(_argv(tiny_world, warehouse, "--set", "rank.k=0")) == 2
    refused = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert refused["refused"] == "ConfigError" and "rank.k=0" in refused["error"]


def test_an_events_partition_with_zero_rows_fails_fast_saying_so(tmp_path):
    world, warehouse = tmp_path / "in", tmp_path / "wh"
    _catalog(world)
    part = world / "events" / f"dt={TINY_DAY}"
    part.mkdir(parents=True)
    pq.write_table(EVENTS_SCHEMA.empty_table(), part / "part-00000.parquet")
    for table in ("x2q", "u2q"):
        with pytest.raises(EmptyInputPartition, match=rf"events/dt={TINY_DAY} has 1 file\(s\) and 0 rows"):
            run(_argv(world, warehouse, f"--table={table}"), generator=FakeGeneratorSpec())
    assert not warehouse.exists()


def test_a_truncated_parquet_file_is_named(tmp_path):
    world, warehouse = tmp_path / "in", tmp_path / "wh"
    _catalog(world)
    _events(world, "part-00000.parquet", ["U1", "U2"], pa.string())
    broken = world / "events" / f"dt={TINY_DAY}" / "part-00001.parquet"
    _events(world, broken.name, ["U3"], pa.string())
    broken.write_bytes(broken.read_bytes()[:-40])
    with pytest.raises(InputFileUnreadable, match=r"part-00001\.parquet: not a readable Parquet file"):
        run(_argv(world, warehouse), generator=FakeGeneratorSpec())
    assert _nothing_written(warehouse)


def test_id_type_drift_across_files_follows_one_documented_rule_per_file(tmp_path):
    """int64 ids are cast to their decimal string (555 is the shopper "555"); float64 ids
    are rejected as id_wrong_type (555.0 never becomes a shopper of its own); both noted."""
    world, warehouse = tmp_path / "in", tmp_path / "wh"
    _catalog(world)
    _events(world, "a-string.parquet", ["555", "777"], pa.string(), item="I1")
    _events(world, "b-int64.parquet", [555], pa.int64(), item="I2")
    _events(world, "c-float64.parquet", [555.0], pa.float64(), item="I3")
    _, manifest = run(_argv(world, warehouse), generator=FakeGeneratorSpec())
    notes = manifest["stages"]["validate"]["schema_notes"]
    assert "events/b-int64.parquet: id column 'user_id' is int64: cast to its decimal string" in notes
    assert "events/c-float64.parquet: id column 'user_id' is double: its rows are rejected as id_wrong_type" in notes
    events = manifest["inputs"]["events"]
    assert events["read"] == 4 == events["used"] + events["rejected"]
    assert events["rejected_by_stage_reason"] == {"validate.id_wrong_type": 1}
    users = read_published_table(warehouse, "u2q", TINY_DAY).column("user_id").to_pylist()
    assert sorted(users) == ["555", "777"], "555 from the int64 file is the same shopper as '555'"
    rejected = read_published_table(warehouse, "rejected", TINY_DAY).to_pylist()
    assert [(r["source_file"], r["reason"], r["detail"]) for r in rejected] == [
        ("c-float64.parquet", "id_wrong_type", "user_id: float 555.0")]

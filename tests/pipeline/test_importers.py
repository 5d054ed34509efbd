"""The real-data importers, on the real files in ../shared/data (read in place, never copied
into the repo): their output meets HintQ's input contracts, the held-out target is each
customer's last order, and the same source gives the same bytes."""
from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pyarrow.parquet as pq
import pytest

from datasets.importers import DatasetUnreadable, import_complete_journey, import_online_retail, import_wands_esci
from warehouse.inputs import read_input_day
from pipelines.core.config import HintQConfig
from schemas import CATALOG_SCHEMA, EVENTS_SCHEMA, REAL_QUERIES_SCHEMA
from tests.conftest import SHARED_DATA

RETAIL = SHARED_DATA / "online_retail_uci"
QUERIES = SHARED_DATA / "real_queries_wands_esci"
JOURNEY = SHARED_DATA / "complete_journey"
DAY = dt.date(2011, 12, 8)

pytestmark = pytest.mark.skipif(not RETAIL.exists() or not QUERIES.exists() or not JOURNEY.exists(),
                                reason="../shared/data is not mounted beside the repo")


@pytest.fixture(scope="module")
def retail(tmp_path_factory):
    out = tmp_path_factory.mktemp("retail")
    summary = import_online_retail(RETAIL, out, DAY, users=25, categories=8)
    return out, summary


def test_online_retail_meets_the_input_contracts(retail):
    out, summary = retail
    assert summary["days"] == {"history": "2011-12-08", "train_target": "2011-12-09", "eval_target": "2011-12-10"}
    for day in ("2011-12-08", "2011-12-09", "2011-12-10"):
        events = pq.read_table(out / "events" / f"dt={day}" / "part-00000.parquet")
        catalog = pq.read_table(out / "catalog" / f"dt={day}" / "part-00000.parquet")
        assert events.schema.equals(EVENTS_SCHEMA, check_metadata=False)
        assert catalog.schema.equals(CATALOG_SCHEMA, check_metadata=False)
        assert set(events.column("event_type").to_pylist()) == {"purchase"}
        assert catalog.column("category_path").null_count == 0
    # The nightly job's own validation takes every row: nothing outside its day, no unknown item.
    history = read_input_day(str(out), "2011-12-08", HintQConfig())
    assert sum(history.rejected.values()) == 0
    assert len(history.users) == summary["users"] == 25
    assert len(summary["categories"]["clusters"]) == 8


def test_the_target_days_are_each_customers_last_two_orders(retail):
    out, summary = retail
    source = pl.read_parquet(RETAIL / "events.parquet")
    train = pl.read_parquet(out / "events" / "dt=2011-12-09" / "part-00000.parquet")
    target = pl.read_parquet(out / "events" / "dt=2011-12-10" / "part-00000.parquet")
    history = pl.read_parquet(out / "events" / "dt=2011-12-08" / "part-00000.parquet")
    assert set(train["user_id"].to_list()) == set(target["user_id"].to_list()) == set(history["user_id"].to_list())
    for user_id in sorted(set(target["user_id"].to_list()))[:10]:
        mine = source.filter(pl.col("user_id") == user_id)
        last = mine["order_seq"].max()
        for day, seq in ((target, last), (train, last - 1)):
            assert sorted(day.filter(pl.col("user_id") == user_id)["item_id"].to_list()) == \
                sorted(mine.filter(pl.col("order_seq") == seq)["item_id"].to_list())
        earlier = mine.filter((pl.col("order_seq") < last - 1) & (pl.col("order_seq") >= last - 6))
        got = history.filter(pl.col("user_id") == user_id)
        assert got.height == min(earlier.height, summary["max_history_events"])
        assert set(got["item_id"].to_list()) <= set(earlier["item_id"].to_list())


def test_online_retail_import_is_deterministic(retail, tmp_path):
    out, _ = retail
    import_online_retail(RETAIL, tmp_path, DAY, users=25, categories=8)
    for rel in ("events/dt=2011-12-08/part-00000.parquet", "events/dt=2011-12-09/part-00000.parquet",
                "events/dt=2011-12-10/part-00000.parquet",
                "catalog/dt=2011-12-08/part-00000.parquet"):
        assert (tmp_path / rel).read_bytes() == (out / rel).read_bytes(), rel


def test_wands_esci_keeps_every_query_and_its_class(tmp_path):
    summary = import_wands_esci(QUERIES, tmp_path)
    table = pq.read_table(tmp_path / "real_queries.parquet")
    assert table.schema.equals(REAL_QUERIES_SCHEMA, check_metadata=False)
    wands = pl.read_parquet(QUERIES / "wands_queries.parquet")
    esci = pl.read_parquet(QUERIES / "esci_us_queries.parquet")
    assert table.num_rows == wands.height + esci.height == summary["queries"]["wands"] + summary["queries"]["esci"]
    rows = table.to_pylist()
    assert {(r["query"], r["query_class"]) for r in rows if r["source"] == "wands"} == \
        set(zip(wands["query"].to_list(), wands["query_class"].to_list()))
    assert all(r["query_class"] is None for r in rows if r["source"] == "esci")
    assert json.loads((tmp_path / "IMPORT.json").read_text())["classes"] == wands["query_class"].drop_nulls().n_unique()


CJ_DAYS = ("2017-12-29", "2017-12-30", "2017-12-31")


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    out = tmp_path_factory.mktemp("journey")
    summary = import_complete_journey(JOURNEY, out, dt.date(2017, 12, 29), households=40)
    return out, summary


def test_complete_journey_passes_the_nightly_validation_with_no_rejection(journey):
    out, summary = journey
    for day in CJ_DAYS:
        assert pq.read_table(out / "events" / f"dt={day}" / "part-00000.parquet").schema.equals(
            EVENTS_SCHEMA, check_metadata=False)
        loaded = read_input_day(str(out), day, HintQConfig())
        assert sum(loaded.rejected.values()) == 0, (day, loaded.rejected)
        assert len(loaded.users) == summary["households"] == 40
    catalog = pq.read_table(out / "catalog" / f"dt={CJ_DAYS[0]}" / "part-00000.parquet").to_pylist()
    # The shop's own three-level path; titles are built from its fields only.
    full = [r for r in catalog if r["category_path"] and r["category_path"].count(" > ") == 2]
    assert len(full) == len(catalog) - summary["categories"]["items_without_full_path"] > 0.95 * len(catalog)
    assert all(r["title"] and r["brand"] in ("National", "Private") for r in full)


def test_complete_journey_targets_come_after_all_history_and_are_the_last_two_purchase_days(journey):
    out, _ = journey
    source = (pl.read_parquet(JOURNEY / "transactions.parquet")
              .with_columns(pl.col("ts").dt.convert_time_zone("America/New_York").dt.date().alias("local_day")))
    history, train, evaluate = (pl.read_parquet(out / "events" / f"dt={d}" / "part-00000.parquet") for d in CJ_DAYS)
    assert history["ts"].max() < train["ts"].min() and train["ts"].max() < evaluate["ts"].min()
    for household in sorted(set(evaluate["user_id"].to_list()))[:15]:
        mine = source.filter(pl.col("household_id") == household)
        days = sorted(set(mine["local_day"].to_list()))
        for target, real_day in ((train, days[-2]), (evaluate, days[-1])):
            lines = mine.filter(pl.col("local_day") == real_day).unique(["basket_id", "product_id"])
            assert sorted(target.filter(pl.col("user_id") == household)["item_id"].to_list()) == \
                sorted(lines["product_id"].to_list())
        # History: only baskets of real days before the training target.
        earlier = set(mine.filter(pl.col("local_day") < days[-2])["product_id"].to_list())
        assert set(history.filter(pl.col("user_id") == household)["item_id"].to_list()) <= earlier


def test_complete_journey_import_is_byte_identical_when_run_twice(journey, tmp_path):
    out, _ = journey
    import_complete_journey(JOURNEY, tmp_path, dt.date(2017, 12, 29), households=40)
    for day in CJ_DAYS:
        for table in ("events", "catalog"):
            rel = f"{table}/dt={day}/part-00000.parquet"
            assert (tmp_path / rel).read_bytes() == (out / rel).read_bytes(), rel
    assert (tmp_path / "IMPORT.json").read_text().replace(str(tmp_path), "") == \
        (out / "IMPORT.json").read_text().replace(str(out), "")


@pytest.mark.parametrize("damage", ["missing_folder", "missing_file", "not_parquet"])
def test_a_missing_or_malformed_dataset_is_named_not_a_crash(tmp_path, damage):
    src = tmp_path / "complete_journey"
    if damage != "missing_folder":
        src.mkdir()
        (src / "products.parquet").write_bytes((JOURNEY / "products.parquet").read_bytes())
        if damage == "not_parquet":
            (src / "transactions.parquet").write_text("household_id,ts\n1,2017-01-01\n")
    with pytest.raises(DatasetUnreadable, match="transactions.parquet"):
        import_complete_journey(src, tmp_path / "out", dt.date(2017, 12, 29))

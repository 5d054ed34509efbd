"""A u2q night in user passes (pipelines/core/passes.py) publishes what one pass publishes:
the same lists, candidates, memory and rejected rows, the same accounting, and the same
bytes again on a re-run."""
import datetime as dt
import json
import shutil
from pathlib import Path

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from jobs.nightly import run
from pipelines.core.passes import UserPass, pass_count, pass_index
from pipelines.stages.day_level import ReadPassShoppers, WritePassShoppers
from pipelines.stages.read_day import distinct_shoppers
from tests.conftest import TINY_DAY
from tests.pipeline.test_stages import _enriched
from tests.fakes import FakeGeneratorSpec
from warehouse.clean_day import CLEAN_DAY_ROOT, SHOPPERS, stored_files
from warehouse.files import read_published_table
from warehouse.history_counts import HISTORY_ROOT
from warehouse.query_rows import ROWS_ROOT

NEXT_DAY = (dt.date.fromisoformat(TINY_DAY) + dt.timedelta(days=1)).isoformat()
PARTS = ("u2q", "candidates", "profiles", "rejected")


def _night(world, warehouse, table, day, users_per_pass):
    _, manifest = run([f"--table={table}", f"--dt={day}", f"--input={world}", f"--warehouse={warehouse}",
                       f"--set=publish.users_per_pass={users_per_pass}"], generator=FakeGeneratorSpec())
    return manifest


def _published(warehouse, day):
    """Every published row of the night, in key order, as JSON (NaN features compare equal)."""
    return {part: sorted(json.dumps(r, default=str, sort_keys=True)
                         for r in read_published_table(warehouse, part, day).to_pylist())
            for part in PARTS}


def _first_difference(a: dict, b: dict) -> str | None:
    """The first part and row where two nights' published rows differ (a failure says where)."""
    for part in PARTS:
        if a[part] != b[part]:
            pairs = [(x, y) for x, y in zip(a[part], b[part]) if x != y]
            return f"{part}: {len(a[part])} / {len(b[part])} rows; first differing:\n{pairs[:1]}"
    return None


def test_a_night_in_user_passes_publishes_what_one_pass_does_and_reruns_identically(tiny_world, tmp_path):
    warehouse = tmp_path / "wh"
    _night(tiny_world, warehouse, "u2q", TINY_DAY, 0)  # yesterday's memory, carried into each pass
    x2q = _night(tiny_world, warehouse, "x2q", NEXT_DAY, 0)  # the fills each pass joins
    # The day's catalog index carries the rows of yesterday's for the titles both days hold
    assert f"dt={TINY_DAY}" in x2q["catalog_index"]["rows_carried_from"]
    assert x2q["catalog_index"]["titles_carried"] > x2q["catalog_index"]["titles_embedded"]
    one = _night(tiny_world, warehouse, "u2q", NEXT_DAY, 0)
    one_rows = _published(warehouse, NEXT_DAY)
    # Queries yesterday's u2q night, or tonight's x2q, verified take the rows they kept
    # instead of being embedded (the table's own first); x2q took those of yesterday's u2q
    assert [f"u2q/dt={TINY_DAY}/", f"x2q/dt={NEXT_DAY}/"] == [
        f"{Path(f).parent.parent.name}/{Path(f).parent.name}/" for f in one["query_rows"]["carried_from"]]
    assert any(f"u2q/dt={TINY_DAY}" in f for f in x2q["query_rows"]["carried_from"])
    assert x2q["query_rows"]["queries_carried"] > 0
    assert one["query_rows"]["queries_carried"] > 0 and one["query_rows"]["queries_embedded"] > 0
    assert f"u2q/dt={NEXT_DAY}" in one["query_rows"]["kept"]

    passes = pass_count(distinct_shoppers(str(tiny_world), NEXT_DAY), 6)
    assert passes >= 3
    # x2q kept the day as stages 1-2 left it, and the one-pass night started from it;
    # removed, the night in passes reads the day itself and keeps it, its shoppers in as
    # many files as passes, which the re-run below starts from
    assert one["clean_day"]["reused"] and one["clean_day"]["kept"] == x2q["clean_day"]["kept"]
    shutil.rmtree(warehouse / CLEAN_DAY_ROOT)
    many = _night(tiny_world, warehouse, "u2q", NEXT_DAY, 6)
    assert not many["clean_day"]["reused"] and len(stored_files(many["clean_day"]["kept"], SHOPPERS)) == passes
    assert one["passes"]["count"] == 1 and many["passes"]["count"] == passes
    # The day is read once: the rows set aside are in the day-level pipeline's files
    assert all(f["path"].startswith("part-pass-") for f in many["files"])
    assert many["rejected"]["files"] and all(f["path"].startswith("part-day-") for f in many["rejected"]["files"])
    assert _first_difference(one_rows, _published(warehouse, NEXT_DAY)) is None
    assert any(json.loads(r)["last_active"] != NEXT_DAY for r in one_rows["profiles"])
    # The same accounting: every distinct query verified once in the night, as in one pass
    assert (many["rows"], many["inputs"], many["stages"]) == (one["rows"], one["inputs"], one["stages"])

    again = _night(tiny_world, warehouse, "u2q", NEXT_DAY, 6)
    assert again["clean_day"] == {**many["clean_day"], "reused": True}
    assert [(f["path"], f["sha256"]) for f in again["files"]] == [(f["path"], f["sha256"]) for f in many["files"]]

    # The day before's history came from the counts its night kept (one pass or many);
    # without them the night reads that day's events again, and publishes the same. So
    # without any kept query rows: every query embedded again, the same lists.
    assert one["history_counts"]["days_from_counts"] == many["history_counts"]["days_from_counts"] == [TINY_DAY]
    assert f"dt={NEXT_DAY}" in many["history_counts"]["kept"]
    shutil.rmtree(warehouse / HISTORY_ROOT / f"dt={TINY_DAY}")
    shutil.rmtree(warehouse / ROWS_ROOT)
    reread = _night(tiny_world, warehouse, "u2q", NEXT_DAY, 0)
    assert reread["history_counts"]["days_from_counts"] == []
    assert reread["query_rows"]["carried_from"] == [] and reread["query_rows"]["queries_carried"] == 0
    assert _first_difference(one_rows, _published(warehouse, NEXT_DAY)) is None


def test_each_pass_reads_back_exactly_its_shoppers_and_an_empty_pass_reads_none(tmp_path):
    shoppers = [(f"u{i}", (_enriched(f"u{i}", i, i), _enriched(f"u{i}", i + 1, i + 100))) for i in range(12)]
    count = 4
    assert len({pass_index(u, count) for u, _ in shoppers}) < count  # one pass holds nobody

    def write(order, out):
        out.mkdir()
        paths = [str(out / UserPass(i, count).name) for i in range(count)]
        with TestPipeline() as p:
            p | beam.Create(order) | WritePassShoppers(paths)
        return paths

    paths = write(shoppers, tmp_path / "a")
    for i, path in enumerate(paths):
        with TestPipeline() as p:
            read = p | ReadPassShoppers(path)
            assert_that(read, equal_to([s for s in shoppers if pass_index(s[0], count) == i]))
    # the same bytes whatever order the shoppers came in
    again = write(list(reversed(shoppers)), tmp_path / "b")
    assert [open(a, "rb").read() for a in paths] == [open(b, "rb").read() for b in again]

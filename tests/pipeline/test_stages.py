"""Each PTransform on a TestPipeline with hand-made inputs."""
import dataclasses
import datetime as dt
import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.beam.batching import GroupEveryIndex, StableBatches
from pipelines.beam.routing import CheckRows
from pipelines.beam.stats import CountBy, Tally
from pipelines.core.config import HintQConfig
from pipelines.core.prompts import DirectPrompts
from pipelines.core.records import EnrichedEvent, Event, Generation, Item, Profile, Trigger
from pipelines.core.text import stable_hash
from pipelines.stages.compress import CompressPrompts
from pipelines.stages.generate import GenerateAnswers
from pipelines.stages.normalize import NormalizeAnswers, PopularQueries
from pipelines.stages.profile import BuildProfiles
from pipelines.stages.read_day import ReadDay, ReadInputPartition
from pipelines.stages.sessionize import CapUsers, UserDays
from pipelines.stages.validate import JoinCatalog, ValidateCatalog, ValidateEvents
from pipelines.stages.write import WriteShardedParquet
from schemas import U2Q_SCHEMA
from tests.fakes import FAIL_USER, FakeGeneratorSpec
from warehouse.inputs import InputSchemaError, read_input_day

CFG = HintQConfig()
NOON = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)


def erow(i, **kw):
    base = {"user_id": "U1", "ts": NOON + dt.timedelta(minutes=i), "event_type": "view", "item_id": "I1",
            "query": None, "_file": "e.parquet", "_row": i}
    base.update(kw)
    return base


def crow(i, item_id, title="Nordia Trail Shoes"):
    return {"item_id": item_id, "title": title, "category_path": "Sports > Running > Running Shoes",
            "brand": "Nordia", "price": 10.0, "first_seen": None, "_file": "c.parquet", "_row": i}


def test_tally_sums_every_counter_pair_and_passes_on_partial_sums_not_one_pair_per_element():
    elements = list(range(1000))
    expected = {"even": 500, "odd": 500, "total": sum(elements)}

    def sums(pairs):
        totals = {}
        for name, n in pairs:
            totals[name] = totals.get(name, 0) + n
        assert totals == expected
        assert len(pairs) < len(elements) / 10, f"{len(pairs)} pairs left the bundles for {len(elements)} elements"

    with TestPipeline() as p:
        tallied = (p | beam.Create(elements)
                   | Tally(lambda x: [("even" if x % 2 == 0 else "odd", 1), ("total", x)]))
        assert_that(tallied, sums)
        empty = p | "Nothing" >> beam.Create([]) | "CountNothing" >> CountBy(lambda _: "never")
        assert_that(empty, equal_to([]), label="NothingCounted")


def test_validate_and_join_route_every_row():
    events = [erow(0), erow(1, event_type="wishlist"), erow(2, item_id="NOPE"), erow(3, user_id=None),
              erow(4, event_type="search", item_id=None, query="trail shoes")]
    catalog = [crow(0, "I1"), crow(1, "I1", "Older Title"), crow(2, None)]
    with TestPipeline() as p:
        good_e, bad_e = p | "E" >> beam.Create(events) | ValidateEvents("2026-11-01", CFG.validate)
        good_c, bad_c = p | "C" >> beam.Create(catalog) | ValidateCatalog(CFG.validate)
        joined = (good_e, good_c) | JoinCatalog()
        rejected = (bad_e, bad_c, joined["rejected"]) | beam.Flatten()
        assert_that(rejected | beam.Map(lambda r: (r.table, r.reason, r.source_row)), equal_to([
            ("events", "unknown_event_type", 1), ("events", "missing_user_id", 3),
            ("events", "unknown_item", 2), ("catalog", "missing_item_id", 2),
            ("catalog", "duplicate_item", 1)]), label="rejected")
        assert_that(joined["events"] | beam.Map(lambda e: (e.event.source_row, e.item and e.item.title)),
                    equal_to([(0, "Nordia Trail Shoes"), (4, None)]), label="events")
        assert_that(joined["items"] | beam.Map(lambda i: i.item_id), equal_to(["I1"]), label="items")


def test_check_rows_turns_an_exception_into_a_rejection():
    def explode(row):
        if row["_row"] == 1:
            raise ZeroDivisionError("boom")
        return row["_row"]

    with TestPipeline() as p:
        good, bad = (p | beam.Create([{"_row": 0, "_file": "f"}, {"_row": 1, "_file": "f"}])
                     | CheckRows(explode, table="events", stage="validate", threshold=1.0))
        assert_that(good, equal_to([0]), label="good")
        assert_that(bad | beam.Map(lambda r: (r.reason, r.source_row, "ZeroDivisionError" in r.detail)),
                    equal_to([("unexpected_error", 1, True)]), label="bad")
    # Past the threshold (default 1%) a crashing stage fails the run instead of publishing.
    with pytest.raises(Exception, match="exceeded threshold"):
        with TestPipeline() as p:
            p | beam.Create([{"_row": 1, "_file": "f"}]) | CheckRows(explode, table="events", stage="validate")


def _enriched(user, minute, row, etype="view", query=None):
    item = None if etype == "search" else Item("I1", "Nordia Trail Shoes", "Sports > Running Shoes",
                                               "Running Shoes", "Nordia", 1.0, "c", 0)
    ts = int((NOON + dt.timedelta(minutes=minute)).timestamp() * 1e6)
    return EnrichedEvent(Event(user, ts, etype, item and "I1", query, "e", row, "{}"), item)


def test_build_profiles_folds_duplicates_and_counts_used_events():
    events = [_enriched("U1", 0, 0), _enriched("U1", 0, 1), _enriched("U2", 5, 2, "search", "trail shoes")]
    items = {e.event.source_row: e.item for e in events}
    with TestPipeline() as p:
        capped = p | beam.Create([e.event for e in events]) | CapUsers(CFG.validate)
        out = capped.events | beam.Map(lambda ev: EnrichedEvent(ev, items[ev.source_row])) | UserDays()
        profiles = out.users | BuildProfiles("2026-11-01", CFG, frozenset())
        assert_that(profiles | beam.Map(lambda pr: (pr.user_id, pr.n_events, pr.recent_triggers)),
                    equal_to([("U1", 1, (("category", "Sports > Running Shoes"), ("item", "I1"))),
                              ("U2", 1, (("query", "trail shoes"),))]), label="profiles")
        assert_that(capped.rejected | beam.Map(lambda r: (r.reason, r.source_row)),
                    equal_to([("duplicate_event", 1)]), label="rejected")
        assert_that(out.used_events | beam.CombineGlobally(sum), equal_to([2]), label="used")


def test_a_users_day_is_capped_before_the_catalog_join(tmp_path):
    """The cap keeps a user's most recent valid events whatever their items, so the join
    sees at most `max_events_per_user` of them; an unknown item is then rejected as such.
    ReadDay and the evaluation's plain reader (read_input_day) follow the same rule."""
    cfg = dataclasses.replace(CFG, validate=dataclasses.replace(CFG.validate, max_events_per_user=3))
    day = "2026-11-01"
    # U1: five events, the two newest on an item the catalog lacks; U2: a duplicated unknown item.
    events = [erow(0), erow(1), erow(2), erow(3, item_id="NOPE"), erow(4, item_id="NOPE"),
              erow(5, user_id="U2", item_id="NOPE"), erow(6, user_id="U2", item_id="NOPE", ts=NOON + dt.timedelta(minutes=5)),
              erow(7, user_id="U2")]
    for table, rows in (("events", events), ("catalog", [crow(0, "I1")])):
        (tmp_path / table / f"dt={day}").mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]),
                       tmp_path / table / f"dt={day}" / "part-0.parquet")
    with TestPipeline() as p:
        out = p | ReadDay(str(tmp_path), day, cfg)
        assert_that(out["rejected"] | beam.Flatten() | beam.Map(lambda r: (r.reason, r.source_row)), equal_to([
            ("over_user_cap", 0), ("over_user_cap", 1), ("unknown_item", 3), ("unknown_item", 4),
            ("unknown_item", 5), ("duplicate_event", 6)]), label="rejected")
        assert_that(out["users"] | beam.Map(lambda kv: (kv[0], [e.event.source_row for e in kv[1]])),
                    equal_to([("U1", [2]), ("U2", [7])]), label="users")
    plain = read_input_day(str(tmp_path), day, cfg)
    assert {u: [e.event.source_row for e in evs] for u, evs in plain.users.items()} == {"U1": [2], "U2": [7]}
    assert plain.rejected == {"events.over_user_cap": 2, "events.unknown_item": 3, "events.duplicate_event": 1}


def _profile(user):
    return Profile(user, (("Running Shoes", 1.0),), (), ("trail shoes",), (), (), 1, 1)


def test_compress_and_generate_with_a_fake_model_keep_every_user():
    users = ["U1", "U2", FAIL_USER]
    with TestPipeline() as p:
        gens = (p | beam.Create([_profile(u) for u in users])
                | CompressPrompts(FakeGeneratorSpec(), DirectPrompts(CFG.prompt, 10))
                | GenerateAnswers(FakeGeneratorSpec(), batch_size=2))
        assert_that(gens | beam.Map(lambda g: (g.key, g.finish_reason)),
                    equal_to([("U1", "stop"), ("U2", "stop"), (FAIL_USER, "error")]))


def test_stable_batches_do_not_depend_on_input_order():
    from pipelines.core.text import stable_hash

    items = [f"u{i}" for i in range(20)]
    n = 5  # ceil(20 / 4)
    expected = {}
    for x in items:
        expected.setdefault(stable_hash(x) % n, []).append(x)
    expected = [(k, sorted(v)) for k, v in expected.items()]
    for order in (items, list(reversed(items))):
        with TestPipeline() as p:
            out = p | beam.Create(order) | StableBatches(lambda x: x, 4)
            assert_that(out | beam.MapTuple(lambda k, xs: (k, list(xs))), equal_to(expected))
    # Sorted by another order inside each batch (generation: by length), the same members.
    by_length = [(k, sorted(v, key=lambda x: (len(x), x))) for k, v in expected]
    with TestPipeline() as p:
        out = p | beam.Create(items) | StableBatches(lambda x: x, 4, order=lambda x: (len(x), x))
        assert_that(out | beam.MapTuple(lambda k, xs: (k, list(xs))), equal_to(by_length))


def test_every_index_is_grouped_and_an_index_no_element_names_has_no_values():
    # A count given as an int and as a PCollection of one int: the same groups, the empty
    # index 1 included, with no trace of the markers that made it.
    keyed = [(0, "a"), (2, "b"), (0, "c")]
    expected = [(0, ["a", "c"]), (1, []), (2, ["b"])]
    for as_pcollection in (False, True):
        with TestPipeline() as p:
            count = p | "Count" >> beam.Create([3]) if as_pcollection else 3
            out = p | beam.Create(keyed) | GroupEveryIndex(count)
            assert_that(out | beam.MapTuple(lambda i, vs: (i, sorted(vs))), equal_to(expected))


def test_normalize_answers_and_popular_queries():
    trigger = Trigger("query", "trail shoes", "trail shoes", (), (), (("Running Shoes", 1.0),), 2, "popular")
    gens = [Generation("U1", "direct", json.dumps({"queries": ["Trail Shoes", "trail shoes", "x@y.com"]}), "stop",
                       5, 9, _profile("U1")),
            Generation("U2", "direct", '{"queries": ["cut', "length", 5, 9, _profile("U2")),
            Generation(trigger.key, "think", json.dumps({"reasoning": "They run.", "queries": [
                "Trail Shoes", "running socks"]}), "stop", 5, 9, trigger)]
    searches = [_enriched("U1", 0, 0, "search", "Trail Shoes"), _enriched("U2", 1, 1, "search", "trail shoes"),
                _enriched("U3", 2, 2, "search", "tent"), _enriched("U3", 3, 3, "search", "jane@x.com")]
    with TestPipeline() as p:
        out = p | "G" >> beam.Create(gens) | NormalizeAnswers(CFG.normalize, frozenset(), 200)
        # The same rules for both tasks; a Think answer keeps its reasoning, drops its echo.
        assert_that(out.candidates | beam.Map(lambda c: (
            getattr(c, "user_id", None) or c.trigger.key, [x.query for x in c.candidates], c.n_generated,
            getattr(c, "reasoning", None))),
            equal_to([("U1", ["trail shoes"], 3, None), ("U2", [], 0, None),
                      ("query:trail shoes", ["running socks"], 2, "They run.")]), label="candidates")
        assert_that(out.discards | beam.Map(lambda d: d.reason),
                    equal_to(["duplicate", "pii_email", "truncated_answer", "trigger_echo"]), label="discards")
        pop = p | "S" >> beam.Create(searches) | PopularQueries(CFG.normalize, frozenset(), pool=10)
        assert_that(pop["popular"], equal_to([[("trail shoes", 2), ("tent", 1)]]), label="popular")
        assert_that(pop["discards"], equal_to(["pii_email"]), label="popular_discards")


def test_read_input_partition_conforms_drifted_files(tmp_path):
    part = tmp_path / "events" / "dt=2026-11-01"
    part.mkdir(parents=True)
    pq.write_table(pa.table({"user_id": ["U1"], "ts": ["2026-11-01T10:00:00"], "event_type": ["view"],
                             "item_id": ["I1"], "extra": [1]}), part / "a.parquet")
    with TestPipeline() as p:
        out = p | ReadInputPartition(str(tmp_path), "events", "2026-11-01")
        assert_that(out.rows | beam.Map(lambda r: (r["ts"], r["query"], r["_file"], r["_row"])),
                    equal_to([("2026-11-01T10:00:00", None, "a.parquet", 0)]), label="rows")
        assert_that(out.schema_notes, equal_to([
            "events/a.parquet: extra column 'extra' ignored",
            "events/a.parquet: missing column 'query' read as null"]), label="notes")
    pq.write_table(pa.table({"user_id": ["U1"], "ts": ["x"]}), part / "b.parquet")
    with pytest.raises(Exception, match=r"b.parquet: required column 'event_type' is missing"):
        with TestPipeline() as p:
            p | ReadInputPartition(str(tmp_path), "events", "2026-11-01")
    assert issubclass(InputSchemaError, ValueError)


def test_sharded_writer_gives_the_same_bytes_for_any_input_order(tmp_path):
    rows = [{"user_id": f"U{i}", "queries": [], "prompt_tokens": i, "n_generated": 0, "n_verified": 0}
            for i in range(30)]

    def write(order, out):
        with TestPipeline() as p:
            (p | beam.Create(order)
             | WriteShardedParquet(str(out), U2Q_SCHEMA, 3, key=lambda r: r["user_id"],
                                   sort_key=lambda r: r["user_id"], to_row=lambda r: r))
        return {f.name: f.read_bytes() for f in sorted(out.iterdir())}

    a = write(rows, tmp_path / "a")
    b = write(list(reversed(rows)), tmp_path / "b")
    assert a == b and len(a) == 3
    assert sum(pq.read_metadata(tmp_path / "a" / n).num_rows for n in a) == 30


def test_sharded_writer_writes_every_shard_those_no_row_fell_in_empty(tmp_path):
    """One row, and none: `n_shards` files each time, each listed once with its rows; the
    shards no row fell in are written as empty tables."""
    one = [{"user_id": "U1", "queries": [], "prompt_tokens": 1, "n_generated": 0, "n_verified": 0}]
    names = [f"part-{i:05d}-of-00004.parquet" for i in range(4)]

    def write(rows, out, expected):
        with TestPipeline() as p:
            listed = (p | beam.Create(rows).with_output_types(dict)
                      | WriteShardedParquet(str(out), U2Q_SCHEMA, 4, key=lambda r: r["user_id"],
                                            sort_key=lambda r: r["user_id"], to_row=lambda r: r)
                      | beam.Map(lambda f: (f["path"], f["rows"])))
            assert_that(listed, equal_to(expected))
        assert sorted(f.name for f in out.iterdir()) == names
        assert [pq.read_metadata(out / name).num_rows for name, _ in sorted(expected)] == \
            [rows for _, rows in sorted(expected)]

    holding = stable_hash("U1") % 4
    write(one, tmp_path / "one", [(name, int(i == holding)) for i, name in enumerate(names)])
    write([], tmp_path / "none", [(name, 0) for name in names])


def test_sharded_writer_puts_every_row_of_a_key_in_its_keys_shard(tmp_path):
    """A row goes to the shard of its key's hash, whatever rows share the key: each file
    holds exactly its keys' rows, sorted."""
    rows = [{"user_id": f"U{i % 4}", "queries": [], "prompt_tokens": i, "n_generated": 0, "n_verified": 0}
            for i in range(30)]
    with TestPipeline() as p:
        (p | beam.Create(rows)
         | WriteShardedParquet(str(tmp_path), U2Q_SCHEMA, 3, key=lambda r: r["user_id"],
                               sort_key=lambda r: (r["user_id"], r["prompt_tokens"]), to_row=lambda r: r))
    for shard in range(3):
        read = pq.read_table(tmp_path / f"part-{shard:05d}-of-00003.parquet").to_pylist()
        expected = sorted((r["user_id"], r["prompt_tokens"]) for r in rows if stable_hash(r["user_id"]) % 3 == shard)
        assert [(r["user_id"], r["prompt_tokens"]) for r in read] == expected


def test_sharded_writer_of_batches_of_a_key_writes_the_files_of_their_rows_one_by_one(tmp_path):
    """`batched`: each element a list of one key's rows (a user's candidates). The same
    files, bytes and listing as the rows written one by one, the shard count from the rows
    (not the batches) included."""
    rows = [{"user_id": f"U{i % 9}", "queries": [], "prompt_tokens": i, "n_generated": 0, "n_verified": 0}
            for i in range(40)]
    by_user = [[r for r in rows if r["user_id"] == f"U{u}"] for u in range(9)]

    def write(elements, out, batched):
        with TestPipeline() as p:
            (p | beam.Create(elements)
             | WriteShardedParquet(str(out), U2Q_SCHEMA, 2, key=lambda r: r["user_id"],
                                   sort_key=lambda r: (r["user_id"], r["prompt_tokens"]),
                                   to_row=lambda r: r, max_rows_per_shard=10, batched=batched))
        return {f.name: f.read_bytes() for f in sorted(out.iterdir())}

    files = write(rows, tmp_path / "rows", False)
    assert len(files) == 4  # ceil(40 / 10): counted in rows, not in the 9 batches
    assert sum(pq.read_metadata(tmp_path / "rows" / name).num_rows for name in files) == 40
    assert write(by_user, tmp_path / "batched", True) == files
    assert write(list(reversed(by_user)), tmp_path / "reversed", True) == files


def test_sharded_writer_adds_shards_past_the_row_bound(tmp_path):
    rows = [{"user_id": f"U{i}", "queries": [], "prompt_tokens": i, "n_generated": 0, "n_verified": 0}
            for i in range(30)]
    with TestPipeline() as p:
        (p | beam.Create(rows)
         | WriteShardedParquet(str(tmp_path), U2Q_SCHEMA, 2, key=lambda r: r["user_id"],
                               sort_key=lambda r: r["user_id"], to_row=lambda r: r, max_rows_per_shard=7))
    files = sorted(f.name for f in tmp_path.iterdir())
    assert files == [f"part-{i:05d}-of-00005.parquet" for i in range(5)]  # ceil(30 / 7)
    read = [pq.read_table(tmp_path / f).column("user_id").to_pylist() for f in files]
    assert sorted(u for shard in read for u in shard) == sorted(r["user_id"] for r in rows)
    assert all(shard == sorted(shard) for shard in read)

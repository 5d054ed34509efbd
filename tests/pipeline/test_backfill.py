"""Backfill, re-runs, profile memory between days, and faults while writing (fake model)."""
import datetime as dt
import errno
import json

import pyarrow.parquet as pq
import pytest

from jobs.backfill import backfill
from jobs.nightly import run
from pipelines.stages.read_published import ProfileMemoryMissing
from tests.fakes import FakeGeneratorSpec
from warehouse.files import published_days, read_published, read_published_table

START = "2026-11-01"
DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    from datasets.sample_world import write_world

    root = tmp_path_factory.mktemp("three_days")
    write_world(root, dt.date.fromisoformat(START), days=3, n_users=16, seed=5, n_items=300, bot_events=500)
    return root


def _manifest(warehouse, table, day):
    return read_published(warehouse, table, day)[0]


def _sha(warehouse, table, day):
    return [f["sha256"] for f in _manifest(warehouse, table, day)["files"]]


def test_backfill_runs_in_date_order_and_a_rerun_of_the_middle_day_changes_nothing(three_days, tmp_path):
    wh = tmp_path / "wh"
    report = backfill(DAYS[0], DAYS[-1], str(three_days), str(wh), generator=FakeGeneratorSpec())
    assert [(r["dt"], r["table"]) for r in report["ran"]] == [(d, t) for d in DAYS for t in ("x2q", "u2q")]
    first = _manifest(wh, "u2q", DAYS[0])["profile_memory"]
    assert first["read"] is None and "first day" in first["reason"]
    for before, day in zip(DAYS, DAYS[1:]):
        memory = _manifest(wh, "u2q", day)["profile_memory"]
        # Each day records the memory partition it read, by run and by content.
        assert memory["read"] == f"profiles/dt={before}"
        assert memory["run_id"] == _manifest(wh, "u2q", before)["run_id"]
        assert memory["sha256"] == [f["sha256"] for f in _manifest(wh, "u2q", before)["profiles"]["files"]]
    carried = _manifest(wh, "u2q", DAYS[1])["profiles"]["rows"]
    assert carried["active"] > 0 and carried["carried"] > 0, "idle shoppers are remembered too"
    checksums = {(d, t): _sha(wh, t, d) for d in DAYS for t in ("x2q", "u2q", "profiles")}

    again = backfill(DAYS[1], DAYS[1], str(three_days), str(wh), generator=FakeGeneratorSpec())
    assert again["stale"] == [], "the same inputs gave the same memory: day 3 stays valid"
    assert {(d, t): _sha(wh, t, d) for d in DAYS for t in ("x2q", "u2q", "profiles")} == checksums
    assert _manifest(wh, "u2q", DAYS[1])["run_id"] == again["ran"][-1]["run_id"] != report["ran"][3]["run_id"]


def test_a_changed_day_makes_later_days_stale_and_cascade_rebuilds_them_in_order(three_days, tmp_path):
    wh = tmp_path / "wh"
    backfill(DAYS[0], DAYS[-1], str(three_days), str(wh), tables=("u2q",), generator=FakeGeneratorSpec())
    changed = ["--set", "memory.max_carried=2"]  # day 2 now remembers less
    stale = backfill(DAYS[1], DAYS[1], str(three_days), str(wh), tables=("u2q",), extra_args=changed,
                     generator=FakeGeneratorSpec())
    assert stale["stale"] == [DAYS[2]]
    new_memory = [f["sha256"] for f in _manifest(wh, "u2q", DAYS[1])["profiles"]["files"]]
    assert _manifest(wh, "u2q", DAYS[2])["profile_memory"]["sha256"] != new_memory, "day 3 read the old memory"

    rebuilt = backfill(DAYS[1], DAYS[1], str(three_days), str(wh), tables=("u2q",), extra_args=changed,
                       cascade=True, generator=FakeGeneratorSpec())
    assert [r["dt"] for r in rebuilt["ran"]] == DAYS[1:] and rebuilt["stale"] == []
    assert _manifest(wh, "u2q", DAYS[2])["profile_memory"]["sha256"] == new_memory


def test_a_missing_day_before_fails_clearly_unless_bootstrap_is_asked_for(three_days, tmp_path):
    wh = tmp_path / "wh"
    argv = [f"--input={three_days}", f"--warehouse={wh}"]
    run([f"--dt={DAYS[0]}", *argv], generator=FakeGeneratorSpec())
    with pytest.raises(ProfileMemoryMissing, match=f"profiles/dt={DAYS[1]} is not published"):
        run([f"--dt={DAYS[2]}", *argv], generator=FakeGeneratorSpec())
    assert read_published(wh, "u2q", DAYS[2]) is None
    _, manifest = run([f"--dt={DAYS[2]}", "--bootstrap", *argv], generator=FakeGeneratorSpec())
    assert manifest["profile_memory"] == {"read": None, "reason": "--bootstrap: started from empty memory on purpose"}


def test_disk_full_while_writing_publishes_nothing_and_the_next_run_cleans_up(three_days, tmp_path, monkeypatch):
    import pipelines.stages.write

    wh = tmp_path / "wh"
    argv = [f"--dt={DAYS[0]}", f"--input={three_days}", f"--warehouse={wh}"]
    real = pipelines.stages.write.write_parquet_bytes
    calls = []

    def disk_full(rows, schema):
        calls.append(1)
        if len(calls) > 2:  # a few shards in: the disk fills up
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(rows, schema)

    monkeypatch.setattr(pipelines.stages.write, "write_parquet_bytes", disk_full)
    with pytest.raises(Exception, match="No space left on device"):
        run(argv, generator=FakeGeneratorSpec())
    assert not list(wh.rglob("_SUCCESS")) and not published_days(wh, "u2q")
    assert list((wh / "_staging").glob("*/*/run=*")), "the failed run left staging debris"
    monkeypatch.setattr(pipelines.stages.write, "write_parquet_bytes", real)
    run(argv, generator=FakeGeneratorSpec())
    assert read_published(wh, "u2q", DAYS[0]) is not None
    assert not list((wh / "_staging").glob("*/*/run=*")), "the next run removed the debris"


def _busiest_users(world, day, n):
    from collections import Counter

    users = pq.read_table(world / "events" / f"dt={day}" / "part-00000.parquet", columns=["user_id"])
    counts = Counter(u for u in users.column("user_id").to_pylist() if u and u.startswith("U") and u[1:].isdigit())
    return sorted(u for u, _ in counts.most_common(n))


def test_model_failure_modes_are_counted_and_every_user_still_gets_a_full_list(three_days, tmp_path):
    bad = ["", "Sure! Here are some queries: tents, stoves", json.dumps({"queries": ["trail shoes"] * 30}),
           json.dumps({"queries": ["палатка туристическая", "露营帐篷", "خيمة"]}),
           ('{"queries": ["trail shoes", "camp sto', "length")]
    answers = dict(zip(_busiest_users(three_days, DAYS[0], len(bad)), bad))
    wh = tmp_path / "wh"
    _, manifest = run([f"--dt={DAYS[0]}", f"--input={three_days}", f"--warehouse={wh}"],
                      generator=FakeGeneratorSpec(answers))
    discarded = manifest["stages"]["normalize"]["discarded"]
    for reason, at_least in (("empty_answer", 1), ("invalid_json", 1), ("duplicate", 29),
                             ("unsupported_characters", 3), ("truncated_answer", 1)):
        assert discarded.get(reason, 0) >= at_least, reason
    rows = {r["user_id"]: r for r in read_published_table(wh, "u2q", DAYS[0]).to_pylist()}
    # Each of them gets the full list the day's fallbacks allow (this small world has fewer
    # verified popular queries than K): every fallback query, up to K.
    popular = {q["query"] for r in rows.values() for q in r["queries"] if q["source"].startswith("popular:")}
    k = manifest["config"]["rank"]["k"]
    for user in answers:
        listed = rows[user]["queries"]
        generated = {q["query"] for q in listed if q["source"] == "generated"}
        assert len(generated) <= 1, "at most the one distinct query of the repeated answer"
        assert len(listed) == min(k, len(popular | generated)) > 0, user

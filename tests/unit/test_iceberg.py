"""The published tables as Iceberg tables: one commit per table and day, readers on one
snapshot, time travel, rollback, expiry, orphans, concurrency, other engines."""
import datetime as dt
import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datasets.published import published_partition, stage_partition, u2q_rows
from warehouse import iceberg
from warehouse.files import data_dir, published_days, read_published, read_published_table
from warehouse.publish import publish
from warehouse.staging import StagingLock
from warehouse.versions import copy_warehouse, maintain, migrate_renamed_partitions, rollback_night

D1, D2 = "2026-11-01", "2026-11-02"
REPO = Path(__file__).resolve().parents[2]


def _run_of(warehouse, table, day=D1, choice=None):
    found = read_published(warehouse, table, day, choice)
    return None if found is None else found[0]["run_id"]


def _tags(warehouse, day=D1, choice=None) -> set[str]:
    """The tag of every query of the day's u2q rows (u2q_rows(tag=...) writes it first)."""
    table = read_published_table(warehouse, "u2q", day, choice)
    return {q["query"].split()[0] for row in table.to_pylist() for q in row["queries"]}


def _sha256s(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.glob("*.parquet"))}


def test_a_rerun_has_the_same_bytes_and_a_rollback_restores_the_earlier_run_with_its_parts(tmp_path):
    published_partition(tmp_path, D1, u2q_rows(6), "r1")
    published_partition(tmp_path, D2, u2q_rows(4, tag="other"), "d2")
    published_partition(tmp_path, D1, u2q_rows(6), "r2")  # a re-run of D1
    assert _sha256s(data_dir(tmp_path, "u2q", D1, "r1")) == _sha256s(data_dir(tmp_path, "u2q", D1, "r2"))
    assert [(h["operation"], h["dt"], h["run_id"]) for h in iceberg.history(tmp_path, "u2q")] == [
        ("publish", D1, "r1"), ("publish", D2, "d2"), ("publish", D1, "r2")]
    assert iceberg.history(tmp_path, "u2q")[-1]["current"]

    done = rollback_night(str(tmp_path), "u2q", D1)
    assert done["run_id"] == "r1" and done["parts"] == ["rejected", "profiles", "candidates", "u2q"]
    for table in ("u2q", "rejected", "profiles", "candidates"):
        assert _run_of(tmp_path, table) == "r1"
        assert iceberg.history(tmp_path, table)[-1]["operation"] == "rollback"
    last = iceberg.history(tmp_path, "u2q")[-1]
    # The day as it was just before its latest change: at the snapshot that published D2.
    assert last["restored_snapshot"] == str(iceberg.history(tmp_path, "u2q")[1]["snapshot_id"])
    assert _run_of(tmp_path, "u2q", D2) == "d2", "other days are untouched"
    # The snapshot summary carries the run's manifest.
    assert iceberg.snapshot_manifest(tmp_path, "u2q", last["snapshot_id"])["run_id"] == "r1"
    assert rollback_night(str(tmp_path), "u2q", D1)["run_id"] == "r2", "a second rollback undoes the first"
    with pytest.raises(iceberg.NoEarlierVersion, match="no earlier version"):
        rollback_night(str(tmp_path), "u2q", D2)
    with pytest.raises(iceberg.NoEarlierVersion, match="never published"):
        rollback_night(str(tmp_path), "x2q", D1)
    assert _run_of(tmp_path, "u2q", D2) == "d2"


_KILL_AT_COMMIT = """
import os, signal, sys
from pathlib import Path
from warehouse import iceberg
from warehouse.publish import publish
from datasets.published import stage_partition, u2q_rows

warehouse, kill_at = Path(sys.argv[1]), sys.argv[2]
real = iceberg.commit_day
def commit_day(warehouse_, table, *args, **kwargs):
    if table == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(warehouse_, table, *args, **kwargs)
iceberg.commit_day = commit_day
staging = stage_partition(warehouse, "2026-11-01", "killed", u2q_rows(9, tag="killed"))
publish(staging, str(warehouse), "2026-11-01", "u2q", 30, {"run_id": "killed"})
"""


@pytest.mark.parametrize("kill_at", ["rejected", "u2q"])
def test_a_run_killed_at_publish_commits_nothing_readers_see_and_cleanup_removes_its_files(tmp_path, kill_at):
    """Killed before its first commit, or after its parts' commits and before u2q's (the
    night's commit point): readers still read run r1 whole, parts included."""
    published_partition(tmp_path, D1, u2q_rows(5, tag="first"), "r1")
    killed = subprocess.run([sys.executable, "-c", _KILL_AT_COMMIT, str(tmp_path), kill_at], cwd=REPO)
    assert killed.returncode == -9
    assert data_dir(tmp_path, "u2q", D1, "killed").exists(), "its files were written"
    for table in ("u2q", "rejected", "profiles", "candidates"):
        assert _run_of(tmp_path, table) == "r1"
    assert _tags(tmp_path) == {"first"}
    with StagingLock(str(tmp_path), "u2q", D1):  # a run of the day in progress: its folders are spared
        maintain(str(tmp_path), retention_days=7, orphan_min_age_h=0)
        assert data_dir(tmp_path, "u2q", D1, "killed").exists()
    maintain(str(tmp_path), retention_days=7, orphan_min_age_h=0)
    assert not data_dir(tmp_path, "u2q", D1, "killed").exists()
    assert (kill_at == "u2q") == data_dir(tmp_path, "profiles", D1, "killed").exists(), \
        "a part committed before the kill is referenced by its table's snapshot, so it is kept"
    published_partition(tmp_path, D1, u2q_rows(5, tag="again"), "r3")
    assert _run_of(tmp_path, "profiles") == "r3" and _tags(tmp_path) == {"again"}


def test_a_commit_that_loses_a_race_is_planned_again_on_the_new_snapshot_never_a_mix(tmp_path, monkeypatch):
    published_partition(tmp_path, D1, u2q_rows(4, tag="base"), "base")
    ours = stage_partition(tmp_path, D1, "ours", u2q_rows(4, tag="ours"))
    rivals = [stage_partition(tmp_path, D1, name, u2q_rows(4, tag=name)) for name in ("theirs", "rival")]
    real, armed = iceberg._data_file, []

    def data_file_then_a_rival_commits(table, path, day):
        if armed:  # between our planning and our commit, another run publishes the same day
            rival = armed.pop()
            publish(rival, str(tmp_path), D1, "u2q", 30, {"run_id": rival.published[2]})
        return real(table, path, day)

    monkeypatch.setattr(iceberg, "_data_file", data_file_then_a_rival_commits)
    armed.append(rivals[0])
    our_files = sorted(str(p) for p in Path(ours.table("u2q")).glob("*.parquet"))
    with pytest.raises(iceberg.CommitConflict, match="nothing of this run was committed"):
        iceberg.commit_day(tmp_path, "u2q", D1, our_files, {iceberg.RUN_ID: "ours"}, retries=0)
    assert _run_of(tmp_path, "u2q") == "theirs" and _tags(tmp_path) == {"theirs"}
    armed.append(rivals[1])
    publish(ours, str(tmp_path), D1, "u2q", 30, {"run_id": "ours"}, commit_retries=2)
    assert _run_of(tmp_path, "u2q") == "ours" and _tags(tmp_path) == {"ours"}
    assert {_run_of(tmp_path, t) for t in ("rejected", "profiles", "candidates")} == {"ours"}
    runs = [h["run_id"] for h in iceberg.history(tmp_path, "u2q")]
    assert runs[-3:] == ["theirs", "rival", "ours"]


def test_two_runs_committing_at_once_leave_one_whole_version(tmp_path):
    published_partition(tmp_path, D1, u2q_rows(3, tag="base"), "base")
    runs = {name: stage_partition(tmp_path, D1, name, u2q_rows(8, tag=name)) for name in ("a", "b")}
    start, errors = threading.Barrier(2), []

    def one(name):
        start.wait()
        try:
            publish(runs[name], str(tmp_path), D1, "u2q", 30, {"run_id": name}, commit_retries=10)
        except Exception as exc:  # noqa: BLE001 - the test reports any failure below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in runs]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    winner = _run_of(tmp_path, "u2q")
    assert winner in runs and _tags(tmp_path) == {winner}
    assert {_run_of(tmp_path, t) for t in ("rejected", "profiles", "candidates")} == {winner}
    chain = iceberg.history(tmp_path, "u2q")
    assert all(b["parent_id"] == a["snapshot_id"] for a, b in zip(chain, chain[1:])), "one linear history"


def test_a_reader_during_commits_reads_each_day_wholly_one_version(tmp_path):
    published_partition(tmp_path, D1, u2q_rows(30, tag="v0"), "v0")
    done, reads, problems = threading.Event(), [], []

    def reader():
        while not done.is_set():
            manifest, files = read_published(tmp_path, "u2q", D1)
            tags = {q["query"].split()[0] for f in files for r in pq.read_table(f).to_pylist() for q in r["queries"]}
            profiles_run = _run_of(tmp_path, "profiles")
            if tags != {manifest["run_id"]} or profiles_run not in {manifest["run_id"], *(f"v{i}" for i in range(6))}:
                problems.append((manifest["run_id"], tags, profiles_run))
            reads.append(manifest["run_id"])

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(1, 6):
        published_partition(tmp_path, D1, u2q_rows(30, tag=f"v{i}"), f"v{i}")
    done.set()
    thread.join()
    assert not problems and len(reads) >= 5
    assert reads == sorted(reads), "a reader never goes back to an older version"
    assert _run_of(tmp_path, "u2q") == "v5"


def test_time_travel_reads_a_day_as_of_a_snapshot_or_a_time(tmp_path):
    published_partition(tmp_path, D1, u2q_rows(2, tag="old"), "r1")
    time.sleep(0.05)
    between = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
    time.sleep(0.05)
    published_partition(tmp_path, D1, u2q_rows(2, tag="new"), "r2")
    first = iceberg.history(tmp_path, "u2q")[0]["snapshot_id"]
    assert _tags(tmp_path) == {"new"}
    assert _tags(tmp_path, choice=iceberg.SnapshotChoice(snapshot_id=first)) == {"old"}
    as_then = iceberg.SnapshotChoice(as_of=between)
    assert _tags(tmp_path, choice=as_then) == {"old"}
    assert _run_of(tmp_path, "profiles", choice=as_then) == "r1", "parts are read as of the same time"
    with pytest.raises(iceberg.SnapshotNotFound):
        read_published(tmp_path, "u2q", D1, iceberg.SnapshotChoice(as_of="2020-01-01T00:00:00"))
    with pytest.raises(iceberg.SnapshotNotFound):
        read_published(tmp_path, "u2q", D1, iceberg.SnapshotChoice(snapshot_id=12345))
    from hintq.cli import main

    assert main(["show", "u2q", "--warehouse", str(tmp_path), "--date", D1, "--user", "U000001",
                 "--as-of", between]) == 0
    assert main(["history", "--warehouse", str(tmp_path), "--table", "u2q"]) == 0


def test_expiry_keeps_the_current_and_previous_snapshots_and_cleanup_frees_the_rest(tmp_path):
    for i in range(4):
        published_partition(tmp_path, D1, u2q_rows(2, tag=f"v{i}"), f"v{i}")
    kept_before = [h["snapshot_id"] for h in iceberg.history(tmp_path, "u2q")]
    assert maintain(str(tmp_path), retention_days=30, orphan_min_age_h=0)["u2q"]["expired_snapshots"] == 0
    done = maintain(str(tmp_path), retention_days=0, orphan_min_age_h=0)
    assert done["u2q"]["expired_snapshots"] == 2
    assert [h["snapshot_id"] for h in iceberg.history(tmp_path, "u2q")] == kept_before[-2:]
    assert not data_dir(tmp_path, "u2q", D1, "v0").exists() and not data_dir(tmp_path, "u2q", D1, "v1").exists()
    assert data_dir(tmp_path, "u2q", D1, "v2").exists() and _tags(tmp_path) == {"v3"}
    assert rollback_night(str(tmp_path), "u2q", D1)["run_id"] == "v2", "the one before is still there"
    with pytest.raises(iceberg.SnapshotNotFound):
        read_published(tmp_path, "u2q", D1, iceberg.SnapshotChoice(snapshot_id=kept_before[0]))
    referenced = {str(p) for p in (tmp_path / "u2q" / "metadata").iterdir()}
    assert any(p.endswith(".metadata.json") for p in referenced)
    assert read_published_table(tmp_path, "u2q", D1).num_rows == 2  # every file the current snapshot needs is there


def test_a_missing_or_damaged_catalog_is_a_clear_error(tmp_path):
    assert read_published(tmp_path, "u2q", D1) is None and published_days(tmp_path, "u2q") == []
    published_partition(tmp_path, D1, u2q_rows(2), "r1")
    catalog = tmp_path / "catalog.db"
    saved = catalog.read_bytes()
    catalog.unlink()
    with pytest.raises(iceberg.CatalogError, match="catalog .*catalog.db is missing.*restore"):
        read_published(tmp_path, "u2q", D1)
    from hintq.cli import main

    assert main(["history", "--warehouse", str(tmp_path), "--table", "u2q"]) == 2
    catalog.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(iceberg.CatalogError, match="cannot be read"):
        read_published(tmp_path, "u2q", D1)
    with pytest.raises(iceberg.CatalogError, match="cannot be read"):
        published_partition(tmp_path, D2, u2q_rows(2), "r2")
    catalog.write_bytes(saved)
    assert _run_of(tmp_path, "u2q") == "r1"


def test_the_tables_read_the_same_in_pyiceberg_polars_duckdb_and_as_plain_parquet(tmp_path, monkeypatch):
    import polars as pl

    monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")
    published_partition(tmp_path, D1, u2q_rows(5, tag="one"), "r1")
    published_partition(tmp_path, D2, u2q_rows(3, tag="two"), "r2")
    table = iceberg.load_table(iceberg.open_catalog(tmp_path), "u2q")
    from pyiceberg.expressions import EqualTo

    day = table.scan(row_filter=EqualTo("dt", D1)).to_arrow()
    assert day.num_rows == 5 and set(day.column("dt").to_pylist()) == {D1}
    frame = pl.scan_iceberg(table).filter(pl.col("dt") == D2).collect()
    assert frame.height == 3 and sorted(frame["user_id"].to_list()) == [f"U{i:06d}" for i in range(3)]
    plain = pq.read_table(read_published(tmp_path, "u2q", D2)[1][0])
    assert "dt" not in plain.schema.names and plain.num_rows == 2  # the files themselves are plain Parquet
    counts = pl.scan_iceberg(table).group_by("dt").len().sort("dt").collect()
    assert counts.rows() == [(D1, 5), (D2, 3)]
    import duckdb

    con = duckdb.connect()
    con.register("u2q", table.scan().to_arrow())
    assert con.sql("select dt, count(*) from u2q group by dt order by dt").fetchall() == [(D1, 5), (D2, 3)]
    assert json.loads(table.properties["schema.name-mapping.default"])


def test_a_warehouse_copied_as_folders_is_refused_and_copy_warehouse_gives_an_independent_one(tmp_path):
    import shutil

    src = tmp_path / "src"
    published_partition(src, D1, u2q_rows(3, tag="one"), "r1")
    published_partition(src, D2, u2q_rows(2, tag="two"), "r2")
    (src / "models").mkdir()
    (src / "models" / "note.txt").write_text("kept")
    shutil.copytree(src, tmp_path / "plain")
    with pytest.raises(iceberg.CatalogError, match="copied as plain folders"):
        read_published(tmp_path / "plain", "u2q", D1)
    copy = tmp_path / "copy"
    copy_warehouse(src, copy, skip_days=(D2,))
    assert published_days(copy, "u2q") == [D1] and _tags(copy) == {"one"}
    assert _run_of(copy, "profiles") == "r1" and (copy / "models" / "note.txt").read_text() == "kept"
    published_partition(copy, D1, u2q_rows(3, tag="changed"), "r3")
    assert _tags(src) == {"one"} and _tags(copy) == {"changed"}, "the copy commits to its own tables only"


def test_partitions_published_by_rename_before_iceberg_are_migrated_in_place(tmp_path):
    """A warehouse of an earlier HintQ: `<table>/dt=D/` folders with _SUCCESS and their manifest."""
    import shutil

    published_partition(tmp_path / "new", D1, u2q_rows(3, tag="legacy"), "old-run")
    for part in ("rejected", "profiles", "candidates", "u2q"):
        folder = tmp_path / "old" / part / f"dt={D1}"
        shutil.copytree(data_dir(tmp_path / "new", part, D1, "old-run"), folder)
        (folder / "_SUCCESS").write_text("")
    warehouse = tmp_path / "old"
    assert read_published(warehouse, "u2q", D1) is None
    assert migrate_renamed_partitions(warehouse) == [f"{p}/dt={D1}" for p in ("rejected", "profiles", "candidates",
                                                                             "u2q")]
    assert _tags(warehouse) == {"legacy"} and _run_of(warehouse, "profiles") == "old-run"
    assert migrate_renamed_partitions(warehouse) == [], "a day the table holds is left alone"
    maintain(str(warehouse), retention_days=0, orphan_min_age_h=0)
    assert (warehouse / "u2q" / f"dt={D1}" / "_MANIFEST.json").exists() and _tags(warehouse) == {"legacy"}

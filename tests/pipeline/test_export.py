"""The Redis export and the reader against a real redis-server on loopback."""
import json
import subprocess
import sys
import threading
import time

import pytest
import redis

from datasets.published import published_partition, u2q_rows, x2q_rows
from jobs.export_redis import run as export
from online.reader import HintQReader, ReaderUnavailable
from online.store import ExportError, apply_retention, connect, count_version_keys, flip, rollback
from pipelines.core.serving import loading_key, pointer_key, version_of
from tests.conftest import REPO, free_port, start_redis
from warehouse.files import read_published

DAY = "2026-11-01"


def _argv(warehouse, url, *extra):
    return [f"--dt={DAY}", f"--warehouse={warehouse}", f"--redis={url}", *extra]


def test_every_row_round_trips_and_the_pointer_flips(tmp_path, redis_url):
    rows = u2q_rows(250)
    published_partition(tmp_path, DAY, rows, "r1")
    reader = HintQReader(redis_url)
    with pytest.raises(ReaderUnavailable, match="nothing exported yet"):
        reader.lookup_user("U000001")
    report = export(_argv(tmp_path, redis_url))
    assert report["version"] == version_of(DAY, "r1") and report["previous"] is None
    assert report["verified"]["keys"] == 250
    got = reader.lookup_users([r["user_id"] for r in rows])
    for row, lookup in zip(rows, got):
        assert lookup.found and lookup.version == report["version"]
        assert [(s.query, s.score, s.category, s.source) for s in lookup.suggestions] == [
            (q["query"], q["score"], q["category"], q["source"]) for q in row["queries"]]
    missing = reader.lookup_user("NOBODY")
    assert missing.found is False and missing.suggestions == []
    assert connect(redis_url).get(pointer_key("hintq", "u2q")).decode() == report["version"]


def test_x2q_rows_round_trip_under_their_trigger_keys_beside_u2q(tmp_path, redis_url):
    rows = x2q_rows(40)
    rows[0] = {**rows[0], "trigger_type": "query", "trigger_id": "trail shoes"}
    rows[1] = {**rows[1], "trigger_type": "category", "trigger_id": "Sports > Running > Shoes"}
    published_partition(tmp_path, DAY, rows, "x1", table="x2q")
    published_partition(tmp_path, DAY, u2q_rows(5), "u1")
    x2q = export(_argv(tmp_path, redis_url, "--table=x2q"))
    u2q = export(_argv(tmp_path, redis_url, "--table=u2q"))
    assert x2q["verified"]["keys"] == 40 and u2q["verified"]["keys"] == 5
    reader = HintQReader(redis_url)
    for row in rows:
        got = reader.lookup_trigger(row["trigger_type"], row["trigger_id"])
        assert got.found and got.version == x2q["version"]
        assert [s.query for s in got.suggestions] == [q["query"] for q in row["queries"]]
    # Serving passes the query as the shopper typed it; the reader normalizes it.
    assert reader.lookup_trigger("query", "  Trail  SHOES ").found
    assert reader.lookup_trigger("item", "NOPE").found is False
    assert reader.lookup_user("U000001").version == u2q["version"], "each table has its own pointer"


def test_refuses_unpublished_or_tampered_partitions(tmp_path, redis_url):
    with pytest.raises(ExportError, match="not published"):
        export(_argv(tmp_path, redis_url))
    published_partition(tmp_path, DAY, u2q_rows(10), "r1")
    read_published(tmp_path, "u2q", DAY)[1][0].write_bytes(b"tampered")
    with pytest.raises(ExportError, match="does not match its manifest checksum"):
        export(_argv(tmp_path, redis_url))
    assert connect(redis_url).get(pointer_key("hintq", "u2q")) is None


def test_rollback_returns_to_the_previous_version(tmp_path, redis_url):
    published_partition(tmp_path, DAY, u2q_rows(20, tag="old"), "r1")
    first = export(_argv(tmp_path, redis_url))
    published_partition(tmp_path, DAY, u2q_rows(20, tag="new"), "r2")  # a re-run of the day
    second = export(_argv(tmp_path, redis_url))
    assert second["previous"] == first["version"]
    reader = HintQReader(redis_url)
    assert reader.lookup_user("U000003").suggestions[0].query == "new 3 0"
    client = connect(redis_url)
    assert rollback(client, "hintq", "u2q") == first["version"]
    assert reader.lookup_user("U000003").suggestions[0].query == "old 3 0"
    with pytest.raises(ExportError, match="no version older"):
        rollback(client, "hintq", "u2q")
    out = subprocess.run([sys.executable, "-m", "hintq.cli", "lookup", "--redis", redis_url, "--user", "U000003"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "old 3 0" in out.stdout


def test_redis_down_at_the_start_fails_clearly(tmp_path):
    published_partition(tmp_path, DAY, u2q_rows(5), "r1")
    with pytest.raises(ExportError, match="unreachable"):
        export(_argv(tmp_path, "redis://127.0.0.1:1/0"))


def test_redis_killed_mid_load_keeps_the_pointer_and_the_next_run_cleans_up(tmp_path):
    # A server with an append-only file, so a restart brings back what it held: the
    # pointer and the keys of the half-finished load.
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    aof = ("--appendonly", "yes", "--appendfsync", "everysec")
    server = start_redis(port, tmp_path, *aof)
    try:
        published_partition(tmp_path, DAY, u2q_rows(50), "r1")
        before = export(_argv(tmp_path, url))
        published_partition(tmp_path, DAY, u2q_rows(30_000), "r2")
        watcher_client = redis.Redis(port=port)
        stopped = threading.Event()

        def kill_the_server():  # bounded: at most 60 s of polling
            deadline = time.time() + 60
            while time.time() < deadline and not stopped.is_set():
                try:
                    if watcher_client.dbsize() > 3000:
                        watcher_client.shutdown(nosave=True)  # flushes the AOF, skips the RDB
                except redis.exceptions.ConnectionError:
                    stopped.set()
                time.sleep(0.001)

        watcher = threading.Thread(target=kill_the_server)
        watcher.start()
        with pytest.raises(ExportError, match="pointer unchanged"):
            export(_argv(tmp_path, url, "--write_batch=200", "--lease_s=1"))
        watcher.join()
        assert stopped.is_set()
        server.wait(timeout=30)
        server = start_redis(port, tmp_path, *aof)
        client = connect(url)
        partial = version_of(DAY, "r2")
        assert client.get(pointer_key("hintq", "u2q")).decode() == before["version"]
        assert 0 < count_version_keys(client, "hintq", "u2q", partial) < 30_000
        assert HintQReader(url).lookup_user("U000001").version == before["version"]
        time.sleep(1.5)  # the dead load's lease runs out
        assert not client.exists(loading_key("hintq", "u2q", partial))
        published_partition(tmp_path, DAY, u2q_rows(40), "r3")
        after = export(_argv(tmp_path, url))
        assert after["cleaned_partial"] == [partial]
        assert count_version_keys(client, "hintq", "u2q", partial) == 0
        assert after["previous"] == before["version"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_two_exports_of_the_same_day_at_once_give_one_version(tmp_path, redis_url):
    rows = u2q_rows(3000)
    published_partition(tmp_path, DAY, rows, "r1")
    cmd = [sys.executable, "-m", "jobs.export_redis", *_argv(tmp_path, redis_url)]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    client = connect(redis_url)
    version = version_of(DAY, "r1")
    assert client.get(pointer_key("hintq", "u2q")).decode() == version
    keys = [k.decode() for k in client.scan_iter(match="hintq:u2q:*:U*", count=1000)]
    assert len(keys) == 3000 and {k.split(":")[2] for k in keys} == {version}


def test_readers_during_flips_never_see_a_missing_or_mixed_list(tmp_path, redis_url):
    ids = [f"U{i:06d}" for i in range(40)]
    published_partition(tmp_path, DAY, u2q_rows(40, tag="a"), "ra")
    va = export(_argv(tmp_path, redis_url))["version"]
    published_partition(tmp_path, DAY, u2q_rows(40, tag="b"), "rb")
    vb = export(_argv(tmp_path, redis_url))["version"]
    tag = {va: "a", vb: "b"}
    bad = []
    stop = threading.Event()

    def read():
        reader = HintQReader(redis_url)
        for _ in range(400):  # bounded loop on loopback
            results = reader.lookup_users(ids)
            versions = {r.version for r in results}
            if len(versions) != 1 or not all(r.found and r.suggestions for r in results):
                bad.append(("missing or split", versions))
            for r in results:
                if any(not s.query.startswith(tag[r.version] + " ") for s in r.suggestions):
                    bad.append(("mixed", r.version))
        stop.set()

    def flipper():
        client = connect(redis_url)
        n = 0
        while not stop.is_set() and n < 2000:
            flip(client, "hintq", "u2q", va if n % 2 else vb, 3000)
            n += 1

    threads = [threading.Thread(target=read) for _ in range(3)] + [threading.Thread(target=flipper)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert bad == []


def test_retention_keeps_current_and_previous(tmp_path, redis_url):
    versions = []
    for i in range(4):
        published_partition(tmp_path, DAY, u2q_rows(5, tag=f"v{i}"), f"r{i}")
        versions.append(export(_argv(tmp_path, redis_url))["version"])
    client = connect(redis_url)
    removed = apply_retention(client, "hintq", "u2q", keep_days=1, now=time.time() + 10 * 86400)
    assert removed == versions[:2]
    assert [count_version_keys(client, "hintq", "u2q", v) for v in versions] == [0, 0, 5, 5]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hintq.cli", *args], cwd=REPO, capture_output=True, text=True)


def test_a_deleted_pointer_is_reported_as_such_with_the_way_back(tmp_path, redis_url):
    from online.reader import PointerMissing

    published_partition(tmp_path, DAY, u2q_rows(10), "r1")
    report = export(_argv(tmp_path, redis_url))
    connect(redis_url).delete(pointer_key("hintq", "u2q"))  # by hand, as an operator might
    with pytest.raises(PointerMissing, match=rf"pointer was deleted.*hintq rollback --table u2q --to {report['version']}"):
        HintQReader(redis_url).lookup_user("U000001")
    looked = _cli("lookup", "--redis", redis_url, "--user", "U000001")
    assert looked.returncode == 3 and "pointer was deleted" in looked.stderr and "Traceback" not in looked.stderr
    assert _cli("lookup", "--redis", redis_url, "--user", "NOBODY").returncode == 3, "not 'not found'"
    refused = _cli("rollback", "--table", "u2q", "--redis", redis_url)
    assert refused.returncode == 2 and "pointer was deleted" in refused.stderr and "nothing to roll back" not in refused.stderr
    back = _cli("rollback", "--table", "u2q", "--redis", redis_url, "--to", report["version"])
    assert back.returncode == 0, back.stderr
    assert HintQReader(redis_url).lookup_user("U000001").found
    assert _cli("rollback", "--table", "u2q", "--redis", redis_url, "--to", "2026-01-01.rnope").returncode == 2


def test_lost_keys_of_the_served_version_are_detected_not_taken_for_unknown_users(tmp_path, redis_url):
    rows = u2q_rows(40)
    published_partition(tmp_path, DAY, rows, "r1")
    report = export(_argv(tmp_path, redis_url))
    assert report["verified"] == {"keys": 40, "sampled": 40}, "a small table is checked row by row"
    healthy = _cli("export", "--verify", "--warehouse", str(tmp_path), "--redis", redis_url, "--table", "u2q")
    assert healthy.returncode == 0 and json.loads(healthy.stdout)["verified"]["sampled"] == 40
    assert _cli("lookup", "--redis", redis_url, "--user", "NOBODY").returncode == 1, "a healthy miss"

    client = connect(redis_url)
    lost = [r["user_id"] for r in rows[::2]]
    client.delete(*[f"hintq:u2q:{report['version']}:{u}" for u in lost])
    health = HintQReader(redis_url).health("u2q")
    assert not health.ok and health.keys == 20 and health.expected_rows == 40
    assert "holds 20 of its 40 lists" in health.problem
    damaged = _cli("lookup", "--redis", redis_url, "--user", lost[0])
    assert damaged.returncode == 3 and "the store is damaged" in damaged.stderr
    verify = _cli("export", "--verify", "--warehouse", str(tmp_path), "--redis", redis_url, "--table", "u2q")
    assert verify.returncode == 3 and "holds 20 keys, the manifest says 40" in verify.stderr
    # A damaged version is no target for a rollback either.
    with pytest.raises(ExportError, match="holds 20 of its 40 lists"):
        rollback(client, "hintq", "u2q", to=report["version"])
    # The way back: export the day again; the export's own check passes only when whole.
    client.delete(pointer_key("hintq", "u2q"))
    published_partition(tmp_path, DAY, rows, "r2")
    assert export(_argv(tmp_path, redis_url))["verified"] == {"keys": 40, "sampled": 40}
    assert HintQReader(redis_url).health("u2q").ok

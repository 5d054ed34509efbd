"""The learned ranker's loop on a three-day world with a fake model: night 1 publishes its
candidates, the ranker learns from them and day 2, night 2 ranks with it. Nothing of the
evaluation day may reach the model; a damaged ranker refuses the night."""
import datetime as dt
import json
import shutil

import pyarrow.parquet as pq
import pytest

from jobs import nightly, train_ranker
from pipelines.core.lists import list_checks
from tests.fakes import FakeGeneratorSpec
from warehouse.files import read_published, read_published_table
from warehouse.models import ranker_dir
from warehouse.versions import copy_warehouse

D1, D2, D3 = "2026-11-01", "2026-11-02", "2026-11-03"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from datasets.sample_world import write_world

    root = tmp_path_factory.mktemp("three_days")
    write_world(root / "input", dt.date.fromisoformat(D1), days=3, n_users=40, seed=5, n_items=500)
    nightly.run([f"--dt={D1}", f"--input={root / 'input'}", f"--warehouse={root / 'wh'}"],
                generator=FakeGeneratorSpec())
    return root


def _train(input_root, warehouse, day=D1):
    return train_ranker.run([f"--dt={day}", f"--input={input_root}", f"--warehouse={warehouse}",
                             "--set=ranker.rounds=40", "--set=ranker.min_data_in_leaf=5"])


def _model_bytes(warehouse, day=D1):
    return (ranker_dir(warehouse, day) / "model.txt").read_bytes()


def test_night_one_publishes_every_channels_candidates_and_says_it_is_hand_weighted(world):
    manifest = read_published(world / "wh", "u2q", D1)[0]
    assert manifest["ranking"] == {"method": "hand_weighted", "why": f"no ranker trained before {D1} in "
                                                                      f"{world / 'wh'}"}
    rows = read_published_table(world / "wh", "candidates", D1).to_pylist()
    assert len(rows) == manifest["stages"]["rank_fill"]["candidates"] > 0
    assert {"generated", "ebr", "popular", "popular:global"} <= set(manifest["stages"]["rank_fill"]
                                                                     ["candidates_by_channel"])
    # Every entry of the published (hand-weighted) list is a candidate with its hand rank.
    u2q = {r["user_id"]: [q["query"] for q in r["queries"]]
           for r in read_published_table(world / "wh", "u2q", D1).to_pylist()}
    ranked = {}
    for r in rows:
        if r["hand_rank"] is not None:
            ranked.setdefault(r["user_id"], []).append((r["hand_rank"], r["query"]))
    assert {u: [q for _, q in sorted(v)] for u, v in ranked.items()} == {u: q for u, q in u2q.items() if q}


def test_the_ranker_never_sees_the_evaluation_day(world, tmp_path):
    """Night 2 is evaluated against day 3. The ranker it uses learns from night 1 and day 2:
    with day 3 changed or gone the model is the same file; with day 2 (its labels) changed
    it is not, so this test can tell."""
    _train(world / "input", world / "wh")
    model = _model_bytes(world / "wh")
    manifest = json.loads((ranker_dir(world / "wh", D1) / "_MANIFEST.json").read_text())
    assert manifest["candidates_dt"] == D1 and manifest["labels_dt"] == D2
    assert manifest["learned_from"]["labels"]["path"] == f"events/dt={D2}"

    def variant(name, change):
        """The whole path to the ranker again (night 1, then training) on changed inputs."""
        root = tmp_path / name
        shutil.copytree(world / "input", root / "input")
        change(root / "input")
        nightly.run([f"--dt={D1}", f"--input={root / 'input'}", f"--warehouse={root / 'wh'}"],
                    generator=FakeGeneratorSpec())
        _train(root / "input", root / "wh")
        return _model_bytes(root / "wh")

    assert variant("no_day3", lambda inp: shutil.rmtree(inp / "events" / f"dt={D3}")) == model
    assert variant("other_day3", lambda inp: _swap_users(inp / "events" / f"dt={D3}")) == model
    assert variant("other_day2", lambda inp: _swap_users(inp / "events" / f"dt={D2}")) != model


def _swap_users(folder):
    """The day's events with every user's behaviour given to another user."""
    import pyarrow as pa

    for path in sorted(folder.glob("*.parquet")):
        table = pq.read_table(path)
        users = table.column("user_id").to_pylist()
        ring = sorted({u for u in users if u})
        other = {u: ring[(i + 1) % len(ring)] for i, u in enumerate(ring)}
        swapped = table.set_column(table.schema.get_field_index("user_id"), table.schema.field("user_id"),
                                   pa.array([other.get(u, u) for u in users], table.column("user_id").type))
        pq.write_table(swapped, path)


def test_night_two_ranks_with_it_and_reruns_byte_identically(world, tmp_path):
    _train(world / "input", world / "wh")
    copy_warehouse(world / "wh", tmp_path / "again", skip_days=(D2,))
    argv = [f"--dt={D2}", f"--input={world / 'input'}"]
    _, first = nightly.run([*argv, f"--warehouse={world / 'wh'}"], generator=FakeGeneratorSpec())
    _, second = nightly.run([*argv, f"--warehouse={tmp_path / 'again'}"], generator=FakeGeneratorSpec())
    assert first["ranking"]["method"] == "learned" and first["ranking"]["ranker"]["dt"] == D1
    assert [f["sha256"] for f in first["files"]] == [f["sha256"] for f in second["files"]]
    for part in ("candidates", "profiles"):
        a = read_published(world / "wh", part, D2)[0]["files"]
        b = read_published(tmp_path / "again", part, D2)[0]["files"]
        assert [f["sha256"] for f in a] == [f["sha256"] for f in b]
    rows = read_published_table(world / "wh", "u2q", D2).to_pylist()
    assert all(not list(list_checks(r, 30, "user_id")) for r in rows)
    sources = {q["source"].split(":")[0] for r in rows for q in r["queries"]}
    assert "channel" in sources, "history channels place entries once the ranker orders the list"
    scored = [r for r in read_published_table(world / "wh", "candidates", D2).to_pylist()
              if r["rank"] is not None]
    assert scored and all(r["score"] is not None for r in scored)


def test_a_damaged_ranker_refuses_the_night_and_publishes_nothing(world, tmp_path):
    wh = tmp_path / "wh"
    copy_warehouse(world / "wh", wh, skip=("models",), skip_days=(D2,))
    _train(world / "input", wh)
    (ranker_dir(wh, D1) / "model.txt").write_text("tree\nnot a model")
    code = nightly.main([f"--dt={D2}", f"--input={world / 'input'}", f"--warehouse={wh}"])
    assert code == 2
    assert read_published(wh, "u2q", D2) is None

"""The day's catalog index kept in the warehouse: named by what it is built from, found
only when complete, old days removed; the newest one embedded alike is carried into the
next day's."""
from pathlib import Path

from warehouse.catalog_index import INDEX_FILE, embedding_key, index_fingerprint, index_to_carry, keep_index, stored_index

SETTINGS = dict(validate={"max_events_per_user": 500}, verify={"exact_index_max_items": 50000},
                embedder={"name": "all-MiniLM-L6-v2", "revision": "r1"}, code="1.0+abc")


def _catalog(tmp_path: Path, body: bytes) -> list[Path]:
    f = tmp_path / "input" / "catalog" / "dt=2026-11-01" / "part-0.parquet"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(body)
    return [f]


def _built(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "staging" / name / "index"
    folder.mkdir(parents=True)
    (folder / INDEX_FILE).write_bytes(b"index of " + name.encode())
    (folder / "catalog_items.json").write_text("{}")
    return folder


def test_the_fingerprint_names_everything_the_index_is_built_from(tmp_path):
    files = _catalog(tmp_path, b"catalog v1")
    first = index_fingerprint(files, **SETTINGS)
    assert index_fingerprint(files, **SETTINGS) == first
    assert index_fingerprint(files, **{**SETTINGS, "verify": {"exact_index_max_items": 10}}) != first
    assert index_fingerprint(files, **{**SETTINGS, "embedder": {"name": "all-MiniLM-L6-v2", "revision": "r2"}}) != first
    assert index_fingerprint(files, **{**SETTINGS, "code": "1.0+def"}) != first
    assert index_fingerprint(_catalog(tmp_path, b"catalog v2"), **SETTINGS) != first


def test_a_kept_index_is_found_by_its_day_and_fingerprint_only(tmp_path):
    wh = tmp_path / "wh"
    assert stored_index(wh, "2026-11-01", "fp1") is None
    kept = keep_index(_built(tmp_path, "x2q"), wh, "2026-11-01", "fp1", keep_days=3, embedding="e1")
    assert kept == stored_index(wh, "2026-11-01", "fp1")
    assert Path(kept).read_bytes() == b"index of x2q"
    assert stored_index(wh, "2026-11-01", "fp2") is None and stored_index(wh, "2026-11-02", "fp1") is None
    # the other table built the same index: the stored one stays, its own is left to staging
    again = _built(tmp_path, "u2q")
    assert keep_index(again, wh, "2026-11-01", "fp1", keep_days=3, embedding="e1") == kept
    assert Path(kept).read_bytes() == b"index of x2q" and (again / INDEX_FILE).exists()


def test_an_incomplete_folder_is_not_an_index_and_is_replaced(tmp_path):
    wh = tmp_path / "wh"
    debris = wh / "_catalog_index" / "dt=2026-11-01" / "fp1"
    debris.mkdir(parents=True)
    (debris / INDEX_FILE).write_bytes(b"half written")
    assert stored_index(wh, "2026-11-01", "fp1") is None
    kept = keep_index(_built(tmp_path, "x2q"), wh, "2026-11-01", "fp1", keep_days=3, embedding="e1")
    assert Path(kept).read_bytes() == b"index of x2q"


def test_old_days_and_other_fingerprints_are_removed_but_not_the_day_stored(tmp_path):
    wh = tmp_path / "wh"
    for day in ("2026-11-01", "2026-11-03", "2026-11-04", "2026-11-05"):
        keep_index(_built(tmp_path, f"x2q-{day}"), wh, day, "fp1", keep_days=3, embedding="e1")
    assert stored_index(wh, "2026-11-01", "fp1") is None and stored_index(wh, "2026-11-03", "fp1")
    keep_index(_built(tmp_path, "changed"), wh, "2026-11-05", "fp2", keep_days=3, embedding="e1")
    assert stored_index(wh, "2026-11-05", "fp1") is None and stored_index(wh, "2026-11-05", "fp2")
    # a backfill of an old day keeps its index for its other table
    keep_index(_built(tmp_path, "backfill"), wh, "2026-10-01", "fp1", keep_days=3, embedding="e1")
    assert stored_index(wh, "2026-10-01", "fp1") and stored_index(wh, "2026-11-04", "fp1")


def test_sharing_off_keeps_nothing(tmp_path):
    wh = tmp_path / "wh"
    assert keep_index(_built(tmp_path, "x2q"), wh, "2026-11-01", "fp1", keep_days=0, embedding="e1") is None
    assert keep_index(tmp_path / "never-built", wh, "2026-11-01", "fp1", keep_days=3, embedding="e1") is None
    assert not (wh / "_catalog_index").exists()


def test_the_index_to_carry_is_the_newest_complete_one_embedded_alike(tmp_path):
    wh = tmp_path / "wh"
    e1 = embedding_key(SETTINGS["embedder"], SETTINGS["code"])
    assert e1 == embedding_key(dict(SETTINGS["embedder"]), SETTINGS["code"])
    assert e1 != embedding_key(SETTINGS["embedder"], "1.0+def")
    assert e1 != embedding_key({"name": "all-MiniLM-L6-v2", "revision": "r2"}, SETTINGS["code"])
    assert index_to_carry(wh, e1) is None
    older = keep_index(_built(tmp_path, "11-02"), wh, "2026-11-02", "fp1", keep_days=3, embedding=e1)
    newest = keep_index(_built(tmp_path, "11-03"), wh, "2026-11-03", "fp2", keep_days=3, embedding=e1)
    assert index_to_carry(wh, e1) == newest
    # a newer index embedded otherwise (another code version) is not carried; a
    # half-stored one is not an index
    keep_index(_built(tmp_path, "11-04"), wh, "2026-11-04", "fp3", keep_days=3, embedding="other")
    debris = wh / "_catalog_index" / "dt=2026-11-05" / "fp4"
    debris.mkdir(parents=True)
    (debris / INDEX_FILE).write_bytes(b"half written")
    assert index_to_carry(wh, e1) == newest and index_to_carry(wh, "other").endswith("dt=2026-11-04/fp3/catalog.faiss")
    assert older != newest

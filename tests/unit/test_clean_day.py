"""The day's clean input kept in the warehouse: named by what it is read from, found only
when its pipeline wrote it whole, not kept when sharing is off."""
from pathlib import Path

from warehouse.clean_day import SHOPPERS, clean_day_fingerprint, keep_day, stored_day, stored_files

DAY = "2026-11-01"


def _inputs(tmp_path: Path, events: bytes, catalog: bytes = b"catalog") -> dict[str, list[Path]]:
    files = {}
    for table, body in (("events", events), ("catalog", catalog)):
        f = tmp_path / "input" / table / f"dt={DAY}" / "part-0.parquet"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(body)
        files[table] = [f]
    return files


def _built(tmp_path: Path, name: str, whole: bool = True) -> Path:
    folder = tmp_path / "staging" / name / "clean_day"
    folder.mkdir(parents=True)
    (folder / "rejected.0.pkl").write_bytes(b"rows")
    if whole:
        for i in range(2):
            (folder / f"{SHOPPERS}.{i}.pkl").write_bytes(b"shoppers of " + name.encode())
    return folder


def test_the_fingerprint_names_the_inputs_the_validate_settings_and_the_code(tmp_path):
    files = _inputs(tmp_path, b"events v1")
    first = clean_day_fingerprint(files, validate={"max_events_per_user": 2000}, code="1.0+abc")
    assert clean_day_fingerprint(files, validate={"max_events_per_user": 2000}, code="1.0+abc") == first
    assert clean_day_fingerprint(files, validate={"max_events_per_user": 500}, code="1.0+abc") != first
    assert clean_day_fingerprint(files, validate={"max_events_per_user": 2000}, code="1.0+def") != first
    changed = _inputs(tmp_path / "other", b"events v2")
    assert clean_day_fingerprint(changed, validate={"max_events_per_user": 2000}, code="1.0+abc") != first


def test_a_kept_day_is_found_by_its_day_and_fingerprint_only_and_only_whole(tmp_path):
    wh = tmp_path / "wh"
    assert stored_day(wh, DAY, "fp1") is None
    assert keep_day(_built(tmp_path, "partial", whole=False), wh, DAY, "fp1", keep_days=2) is None
    assert keep_day(_built(tmp_path, "off"), wh, DAY, "fp1", keep_days=0) is None
    assert stored_day(wh, DAY, "fp1") is None
    kept = keep_day(_built(tmp_path, "x2q"), wh, DAY, "fp1", keep_days=2)
    assert stored_day(wh, DAY, "fp1") == kept
    assert [Path(f).read_bytes() for f in stored_files(kept, SHOPPERS)] == [b"shoppers of x2q"] * 2
    assert stored_day(wh, DAY, "fp2") is None and stored_day(wh, "2026-11-02", "fp1") is None

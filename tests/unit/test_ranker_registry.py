"""The warehouse's ranker registry: published whole, read back checked, chosen by date."""
import pytest

from warehouse.models import (RankerCorrupt, publish_ranker, ranker_days, ranker_dir, ranker_for_night,
                              read_ranker)


def _publish(wh, day, labels_dt, text="model text"):
    return publish_ranker(wh, day, text, {"candidates_dt": day, "labels_dt": labels_dt, "features": ["f"]})


def test_published_rankers_read_back_with_their_checksum(tmp_path):
    _publish(tmp_path, "2026-11-01", "2026-11-02")
    ranker = read_ranker(tmp_path, "2026-11-01")
    assert ranker.model_text == "model text" and ranker.labels_dt == "2026-11-02"
    assert ranker.describe()["path"] == "models/ranker/dt=2026-11-01"
    assert not list((tmp_path / "models" / "ranker").glob("_staging*")), "nothing staged is left behind"


def test_the_night_uses_the_newest_ranker_trained_strictly_before_it(tmp_path):
    assert ranker_for_night(tmp_path, "2026-11-02") is None, "none yet: the hand-weighted order"
    _publish(tmp_path, "2026-11-01", "2026-11-02")
    _publish(tmp_path, "2026-11-02", "2026-11-03")
    assert ranker_days(tmp_path) == ["2026-11-01", "2026-11-02"]
    assert ranker_for_night(tmp_path, "2026-11-01") is None, "the ranker of D learned from D+1: not for D"
    assert ranker_for_night(tmp_path, "2026-11-02").dt == "2026-11-01"
    assert ranker_for_night(tmp_path, "2026-11-05").dt == "2026-11-02"


def test_a_ranker_without_success_marker_does_not_exist(tmp_path):
    _publish(tmp_path, "2026-11-01", "2026-11-02")
    (ranker_dir(tmp_path, "2026-11-01") / "_SUCCESS").unlink()
    assert ranker_for_night(tmp_path, "2026-11-03") is None


def test_a_damaged_ranker_is_an_error_never_an_older_one_silently(tmp_path):
    _publish(tmp_path, "2026-11-01", "2026-11-02")
    _publish(tmp_path, "2026-11-02", "2026-11-03")
    (ranker_dir(tmp_path, "2026-11-02") / "model.txt").write_text("altered")
    with pytest.raises(RankerCorrupt, match="does not match the sha256"):
        ranker_for_night(tmp_path, "2026-11-03")
    (ranker_dir(tmp_path, "2026-11-02") / "model.txt").unlink()
    with pytest.raises(RankerCorrupt):
        ranker_for_night(tmp_path, "2026-11-03")


def test_a_ranker_that_learned_from_after_the_night_is_refused(tmp_path):
    _publish(tmp_path, "2026-11-01", "2026-11-09")  # a manifest that lies about its labels
    with pytest.raises(RankerCorrupt, match="after the night"):
        ranker_for_night(tmp_path, "2026-11-02")

"""Which user pass a shopper falls in, how many passes a day takes, and the night's stats
as the sum of its passes' (pipelines/core/passes.py)."""
import pytest

from pipelines.core.passes import UserPass, pass_count, pass_index, summed_stats
from pipelines.core.text import stable_hash


def test_a_day_takes_one_pass_per_users_per_pass_and_zero_means_one_pass():
    assert pass_count(0, 25_000) == 1
    assert pass_count(25_000, 25_000) == 1
    assert pass_count(25_001, 25_000) == 2
    assert pass_count(100_000, 25_000) == 4
    assert pass_count(10**6, 0) == 1


def test_every_shopper_falls_in_exactly_one_pass_and_passes_are_even():
    ids = [f"u{i}" for i in range(2000)] + ["", " u1", "ü"]
    for count in (1, 2, 3, 7):
        passes = [UserPass(i, count) for i in range(count)]
        for user_id in ids:
            assert [p.index for p in passes if p.holds(user_id)] == [pass_index(user_id, count)], (user_id, count)
        sizes = [sum(p.holds(u) for u in ids[:2000]) for p in passes]
        assert min(sizes) > 2000 / count * 0.8, sizes  # a stable hash spreads them evenly


def test_a_pass_spreads_its_shoppers_over_every_write_shard():
    """The pass hash is not the writer's shard hash (stable_hash(user_id) % shards): with 2
    passes and 2 shards, pass 0 must not write all its rows to one shard."""
    mine = [u for u in (f"u{i}" for i in range(1000)) if UserPass(0, 2).holds(u)]
    shards = {stable_hash(u) % 2 for u in mine}
    assert shards == {0, 1}


def test_a_pass_outside_its_count_is_refused():
    with pytest.raises(ValueError):
        UserPass(3, 3)
    assert UserPass(2, 3).name == "pass-002-of-003"


def test_the_nights_stats_are_its_passes_summed_with_each_note_once():
    a = {"counts": {"read.events": 10, "users.active": 3}, "schema_notes": ["b", "a"]}
    b = {"counts": {"read.events": 5, "read.catalog": 7}, "schema_notes": ["a"]}
    assert summed_stats([a, b]) == {"counts": {"read.catalog": 7, "read.events": 15, "users.active": 3},
                                    "schema_notes": ["a", "b"]}

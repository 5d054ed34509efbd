"""The two nightly tables, declared once: name, schema, key, K, and what a night publishes.

The builders (pipelines/u2q.py, x2q.py), the publish step, the jobs and the online store
read a table's facts from here; nothing else spells out a table's K or key fields.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pyarrow as pa

from pipelines.core.config import PUBLISHED_TABLES, HintQConfig
from pipelines.core.records import trigger_key
from pipelines.core.serving import ID_COLUMNS
from schemas import CANDIDATES_SCHEMA, PROFILES_SCHEMA, REJECTED_SCHEMA, U2Q_SCHEMA, X2Q_SCHEMA


@dataclass(frozen=True)
class NightlyTable:
    name: str
    schema: pa.Schema
    # The partitions one night of this table publishes, in rename order: the table itself
    # last, so its partition is the commit point of the run.
    parts: tuple[str, ...]
    # The config setting that is this table's K (the length of a full list).
    k_setting: str
    # The stable key a row is sharded by, and the order of rows inside a shard.
    key: Callable[[dict], str]
    sort_key: Callable[[dict], object]
    # The field that must be non-empty in every row (checked before publishing).
    required_key_field: str

    @property
    def key_fields(self) -> tuple[str, ...]:
        return ID_COLUMNS[self.name]

    def k(self, cfg: HintQConfig) -> int:
        section, name = self.k_setting.split(".")
        return getattr(getattr(cfg, section), name)


def _user_id(row: dict) -> str:
    return row["user_id"]


def _trigger_key(row: dict) -> str:
    return trigger_key(row["trigger_type"], row["trigger_id"])


def _trigger_order(row: dict) -> tuple:
    return row["trigger_type"], row["trigger_id"]


U2Q = NightlyTable(name="u2q", schema=U2Q_SCHEMA, parts=("rejected", "profiles", "candidates", "u2q"), k_setting="rank.k",
                   key=_user_id, sort_key=_user_id, required_key_field="user_id")
X2Q = NightlyTable(name="x2q", schema=X2Q_SCHEMA, parts=("x2q",), k_setting="x2q.k",
                   key=_trigger_key, sort_key=_trigger_order, required_key_field="trigger_id")
NIGHTLY = {t.name: t for t in (X2Q, U2Q)}

# Every published table and the schema of its files.
PUBLISHED_SCHEMAS = {"u2q": U2Q_SCHEMA, "x2q": X2Q_SCHEMA, "rejected": REJECTED_SCHEMA, "profiles": PROFILES_SCHEMA,
                     "candidates": CANDIDATES_SCHEMA}
assert tuple(PUBLISHED_SCHEMAS) == PUBLISHED_TABLES


def owner_of(part: str) -> NightlyTable:
    """The nightly table whose night publishes `part` (its run's lock covers the part)."""
    return next(t for t in NIGHTLY.values() if part in t.parts)

"""The online store's layout and value encoding, shared by the export job and the reader.

Keys (Redis):
    <ns>:<table>:<version>:<id>   one list, e.g. hintq:u2q:2026-11-01.r20261123T011817-3835:U00042;
                                  x2q ids are `<trigger_type>:<trigger_id>`, e.g. ...:item:I000042
    <ns>:<table>:current          the version readers use (flipped by one SET)
    <ns>:<table>:versions         sorted set: version -> unix time it became current
    <ns>:<table>:loading:<version> present while an export loads that version (with a TTL)
    <ns>:<table>:loads            set of versions whose load began and was not yet made current
    <ns>:<table>:rows             hash: version -> rows its manifest promised (set when it became
                                  current), so a reader can tell a damaged version from a miss

Value: compact JSON, version 1, evidence left out (it stays in the Parquet table for audit):
    {"v":1,"q":[[query, score, category, source], ...]}
Measured size per row is printed by benchmarks/redis_export.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from pipelines.core.records import trigger_key

ENCODING_VERSION = 1


@dataclass(frozen=True)
class ServedSuggestion:
    query: str
    score: float
    category: str | None
    source: str


# The columns that make a row's id in each table.
ID_COLUMNS = {"u2q": ("user_id",), "x2q": ("trigger_type", "trigger_id")}


def served_columns(table: str) -> list[str]:
    """The columns of a published table that the online store holds."""
    return [*ID_COLUMNS[table], "queries"]


def entity_id(table: str, row: dict) -> str:
    """A row's id in the store: the user id, or the trigger's `<type>:<id>` key."""
    return trigger_key(row["trigger_type"], row["trigger_id"]) if table == "x2q" else row["user_id"]


def list_key(ns: str, table: str, version: str, row_id: str) -> str:
    return f"{version_prefix(ns, table, version)}{row_id}"


def version_prefix(ns: str, table: str, version: str) -> str:
    return f"{ns}:{table}:{version}:"


def pointer_key(ns: str, table: str) -> str:
    return f"{ns}:{table}:current"


def history_key(ns: str, table: str) -> str:
    return f"{ns}:{table}:versions"


def loading_key(ns: str, table: str, version: str) -> str:
    return f"{ns}:{table}:loading:{version}"


def loads_key(ns: str, table: str) -> str:
    return f"{ns}:{table}:loads"


def rows_key(ns: str, table: str) -> str:
    return f"{ns}:{table}:rows"


def version_of(day: str, run_id: str) -> str:
    """A published partition's version: its day and the run that produced it. Two exports
    of the same partition write the same keys with the same values."""
    return f"{day}.r{run_id}"


def pointer_missing(ns: str, table: str, history: list[str]) -> str:
    """What to tell an operator when the pointer is gone but exported versions remain."""
    return (f"{pointer_key(ns, table)} is missing, but {len(history)} exported version(s) remain "
            f"(newest {history[-1]}): the pointer was deleted. Recover with "
            f"`hintq rollback --table {table} --to {history[-1]}` (it checks that version's keys first), "
            f"or export the day again")


def version_problem(table: str, version: str, keys: int, expected_rows: int | None) -> str | None:
    """None for a version holding every list its manifest promised; else what is wrong."""
    if expected_rows is None:
        return f"version {version} has no recorded row count (exported before counts were recorded)"
    if keys != expected_rows:
        return (f"version {version} holds {keys} of its {expected_rows} lists: keys were lost (evicted or "
                f"deleted); export the day again (hintq export --table {table} ...)")
    return None


def parse_version(version: str) -> tuple[str, str]:
    """`version_of`'s inverse: (day, run_id)."""
    day, sep, run_id = version.partition(".r")
    if not sep:
        raise ValueError(f"not a HintQ version: {version!r}")
    return day, run_id


def encode_list(queries: list[dict]) -> bytes:
    payload = {"v": ENCODING_VERSION,
               "q": [[q["query"], round(float(q["score"]), 4), q["category"], q["source"]] for q in queries]}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_list(value: bytes | str) -> list[ServedSuggestion]:
    data = json.loads(value)
    if data.get("v") != ENCODING_VERSION:
        raise ValueError(f"unsupported encoding version {data.get('v')!r}")
    return [ServedSuggestion(query=q, score=s, category=c, source=src) for q, s, c, src in data["q"]]

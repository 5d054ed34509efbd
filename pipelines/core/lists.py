"""The per-row checks every published list must pass, and the per-row list counts."""
from __future__ import annotations

from pipelines.core.ranking import SOURCE_GENERATED, is_known_source

# The publish step requires every one of these counters to be zero.
LIST_CHECKS = ("null_key", "list_over_k", "unknown_source", "entry_without_evidence", "null_query")


def list_checks(row: dict, k: int, key_field: str):
    """Counters of one row's list that the publish step checks: all must be zero."""
    if not row[key_field]:
        yield "check.null_key", 1
    if len(row["queries"]) > k:
        yield "check.list_over_k", 1
    for q in row["queries"]:
        if not is_known_source(q["source"]):
            yield "check.unknown_source", 1
        if not q["evidence"]:
            yield "check.entry_without_evidence", 1
        if q["query"] is None:
            yield "check.null_query", 1


def list_counts(row: dict, table: str, k: int):
    """Counters of one row's list for the manifest: entries by source, full lists."""
    yield f"{table}.rows", 1
    yield f"{table}.entries", len(row["queries"])
    yield f"{table}.full_lists", int(len(row["queries"]) == k)
    yield f"{table}.with_generated", int(any(q["source"] == SOURCE_GENERATED for q in row["queries"]))
    for q in row["queries"]:
        # x2q:<type>:<id> sources are counted by trigger type only.
        source = ":".join(q["source"].split(":")[:2]) if q["source"].startswith("x2q:") else q["source"]
        yield f"{table}.source.{source}", 1

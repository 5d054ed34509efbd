"""The per-row checks every published list must pass, and the per-row list counts."""
from __future__ import annotations

from pipelines.core import counters as c
from pipelines.core.ranking import SOURCE_GENERATED, is_known_source

# The publish step requires every one of these counters (c.LIST_CHECK) to be zero.
LIST_CHECKS = ("null_key", "list_over_k", "unknown_source", "entry_without_evidence", "null_query")


def list_checks(row: dict, k: int, key_field: str):
    """Counters of one row's list that the publish step checks: all must be zero."""
    if not row[key_field]:
        yield c.LIST_CHECK("null_key"), 1
    if len(row["queries"]) > k:
        yield c.LIST_CHECK("list_over_k"), 1
    for q in row["queries"]:
        if not is_known_source(q["source"]):
            yield c.LIST_CHECK("unknown_source"), 1
        if not q["evidence"]:
            yield c.LIST_CHECK("entry_without_evidence"), 1
        if q["query"] is None:
            yield c.LIST_CHECK("null_query"), 1


def list_counts(row: dict, table: str, k: int):
    """Counters of one row's list for the manifest: entries by source, full lists."""
    names = c.TableCounters(table)
    yield names.rows(), 1
    yield names.entries(), len(row["queries"])
    yield names.full_lists(), int(len(row["queries"]) == k)
    yield names.with_generated(), int(any(q["source"] == SOURCE_GENERATED for q in row["queries"]))
    for q in row["queries"]:
        # x2q:<type>:<id> sources are counted by trigger type only.
        source = ":".join(q["source"].split(":")[:2]) if q["source"].startswith("x2q:") else q["source"]
        yield names.source(source), 1

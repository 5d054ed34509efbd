"""Where a run stages its output, and the per-row checks every published list must pass.

Everything a run writes lands under one staging folder of that run; publishing (checks,
manifest, `_SUCCESS`, the atomic rename) happens after the pipeline has finished.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass

import apache_beam as beam

from pipelines.core.ranking import SOURCE_GENERATED, is_known_source

STATS_FILE = "_stats.json"
FILES_FILE = "_files.json"
# The publish step requires every one of these counters to be zero.
LIST_CHECKS = ("null_key", "list_over_k", "unknown_source", "entry_without_evidence", "null_query")


@dataclass(frozen=True)
class StagingLayout:
    root: str  # one folder per run

    def table(self, name: str) -> str:
        return posixpath.join(self.root, name)

    @property
    def index(self) -> str:
        return posixpath.join(self.root, "index")

    @property
    def stats(self) -> str:
        return posixpath.join(self.root, STATS_FILE)

    @property
    def files(self) -> str:
        return posixpath.join(self.root, FILES_FILE)


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


def tag_files(files, table: str):
    return files | f"Tag{table}" >> beam.Map(lambda f, t=table: {**f, "table": t})

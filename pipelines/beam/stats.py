"""Counts computed from the data itself (not from runner metrics), so the manifest's
numbers are exact on every runner and a retried bundle is never counted twice."""
from __future__ import annotations

import apache_beam as beam

from pipelines.stages.write import write_json_file


class CountBy(beam.PTransform):
    """(name, 1) per element, `name_fn(element)` naming the counter."""

    def __init__(self, name_fn):
        super().__init__()
        self.name_fn = name_fn

    def expand(self, pcoll):
        return pcoll | "Name" >> beam.Map(lambda x, f=self.name_fn: (f(x), 1))


class SumBy(beam.PTransform):
    """(name, value) per element: `fn(element)` returns the pair."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def expand(self, pcoll):
        return pcoll | "Pair" >> beam.Map(self.fn)


def _to_dict(pairs) -> dict:
    return dict(sorted(pairs))


class WriteStats(beam.PTransform):
    """Sums every (name, n) pair and writes one JSON object to `path`, with the distinct
    schema notes of the readers beside the counts."""

    def __init__(self, path: str, notes):
        super().__init__()
        self.path = path
        self.notes = notes

    def expand(self, counts):
        totals = (
            counts
            | "Sum" >> beam.CombinePerKey(sum)
            | "ToList" >> beam.combiners.ToList()
            | "ToDict" >> beam.Map(_to_dict)
        )
        notes = self.notes | "DistinctNotes" >> beam.Distinct() | "NotesList" >> beam.combiners.ToList()
        return totals | "Write" >> beam.Map(
            lambda d, n, p=self.path: write_json_file(p, {"counts": d, "schema_notes": sorted(n)}),
            beam.pvalue.AsSingleton(notes))


class WriteFileList(beam.PTransform):
    """Collects the per-file dicts of one or more writers into one JSON list."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, files):
        return (files
                | "ToList" >> beam.combiners.ToList()
                | "Write" >> beam.Map(lambda fs, p=self.path: write_json_file(
                    p, sorted(fs, key=lambda f: (f["table"], f["path"])))))


def generation_counts(prompts, generations, normalized, popular_discards, verified) -> list:
    """The counters of stages 4–7 that both nightly tables report the same way."""
    return [
        prompts | "CountPromptTokens" >> SumBy(lambda pr: ("prompts.tokens", pr.n_tokens)),
        generations | "CountFinish" >> CountBy(lambda g: f"generate.finish.{g.finish_reason}"),
        generations | "CountOutputTokens" >> SumBy(lambda g: ("generate.output_tokens", g.output_tokens)),
        normalized.candidates | "CountGenerated" >> SumBy(lambda c: ("normalize.raw_queries", c.n_generated)),
        normalized.candidates | "CountKept" >> SumBy(lambda c: ("normalize.kept", len(c.candidates))),
        normalized.discards | "CountDiscards" >> CountBy(lambda d: f"normalize.discarded.{d.reason}"),
        popular_discards | "CountPopularDiscards" >> CountBy(lambda r: f"popular.discarded.{r}"),
        verified | "CountVerified" >> CountBy(lambda v: f"verify.{'passed' if v.passed else 'failed.' + v.reason}"),
    ]


import apache_beam as beam


def tag_files(files, table: str):
    return files | f"Tag{table}" >> beam.Map(lambda f, t=table: {**f, "table": t})

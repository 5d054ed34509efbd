"""Dead-letter plumbing: every stage that can fail on data routes bad rows, with a reason,
to one `rejected` PCollection instead of raising or dropping them."""
from __future__ import annotations

import apache_beam as beam

from pipelines.core.records import Rejection
from pipelines.core.text import row_to_json

REJECTED = "rejected"
# A stage whose code raises on more than this share of its rows fails the run: that is a
# bug or broken infrastructure, and publishing from the survivors would hide it.
EXCEPTION_THRESHOLD = 0.01


def _dead_letter_to_rejection(dead, table: str, stage: str) -> Rejection:
    element, (exc_type, exc_repr, _trace) = dead
    row = element if isinstance(element, dict) else {"element": repr(element)[:2000]}
    return Rejection(table=table, stage=stage, reason="unexpected_error",
                     source_file=str(row.get("_file", "?")), source_row=int(row.get("_row", -1)),
                     detail=f"{getattr(exc_type, '__name__', exc_type)}: {exc_repr}"[:500],
                     original=row_to_json(row))


class _Split(beam.DoFn):
    def process(self, value):
        if isinstance(value, Rejection):
            yield beam.pvalue.TaggedOutput(REJECTED, value)
        else:
            yield value


class CheckRows(beam.PTransform):
    """Applies a core check `fn(row, *args) -> record | Rejection` to every row.

    Returns (good, rejected). An exception inside `fn` becomes an `unexpected_error`
    rejection that names the exception, never a crash and never a silent drop.
    """

    def __init__(self, fn, *args, table: str, stage: str, threshold: float = EXCEPTION_THRESHOLD):
        super().__init__()
        self.fn, self.args, self.table, self.stage = fn, args, table, stage
        self.threshold = threshold

    def expand(self, rows):
        checked, dead = (rows | "Check" >> beam.Map(self.fn, *self.args)
                         .with_exception_handling(threshold=self.threshold))
        split = checked | "Split" >> beam.ParDo(_Split()).with_outputs(REJECTED, main="good")
        crashed = dead | "DeadLetters" >> beam.Map(_dead_letter_to_rejection, self.table, self.stage)
        rejected = (split[REJECTED], crashed) | "AllRejected" >> beam.Flatten()
        return split.good, rejected

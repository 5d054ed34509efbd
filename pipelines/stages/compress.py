"""Stage 4, compress: a profile or a trigger becomes a prompt under the token budget."""
from __future__ import annotations

import apache_beam as beam

from pipelines.beam.progress import stage_timer
from pipelines.engines.generator import GeneratorSpec, shared_codec


class _CompressFn(beam.DoFn):
    def __init__(self, spec: GeneratorSpec, build):
        self.spec, self.build = spec, build

    def setup(self):
        self.codec = shared_codec(self.spec)

    def process(self, subject):
        with stage_timer("compress"):
            yield self.build(subject, self.codec)


class CompressPrompts(beam.PTransform):
    """Profile or Trigger → Prompt under the token budget, counted with the model's own
    tokenizer; `build` is DirectPrompts or ThinkPrompts."""

    def __init__(self, spec: GeneratorSpec, build):
        super().__init__()
        self.spec, self.build = spec, build

    def expand(self, subjects):
        return subjects | "BuildPrompt" >> beam.ParDo(_CompressFn(self.spec, self.build))

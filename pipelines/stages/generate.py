"""Stage 5, generate: prompts in stable batches, one engine per worker process.

Why not Beam's RunInference here: its batches follow bundle boundaries, which differ
between runs, and vLLM's greedy output is not batch-invariant (measured: the same prompt
gave different queries in a batch of 2 and a batch of 64). A re-run must give the same
table, so prompts are put into batches by a stable hash of their key and sorted inside
each batch (by length, then key), and one `generate()` call serves one batch.
"""
from __future__ import annotations

import apache_beam as beam

from pipelines.beam.batching import StableBatches
from pipelines.beam.progress import stage_timer
from pipelines.core.progress import ProgressLine
from pipelines.engines.generator import GeneratorSpec, shared_engine


class _GenerateFn(beam.DoFn):
    def __init__(self, spec: GeneratorSpec):
        self.spec = spec

    def setup(self):
        self.engine = None
        self.progress = ProgressLine("generate", unit="prompts")

    def process(self, batch, total):
        if self.engine is None:
            # Loaded on the first batch, not in setup, so that its start (imports, weights,
            # grammar warm-up: fixed cost of a worker, not generation) has its own timer.
            with stage_timer("engine_start"):
                self.engine = shared_engine(self.spec)
        _, prompts = batch
        with stage_timer("generate"):
            generations = self.engine.generate(list(prompts))
        self.progress.add(len(generations), total=total,
                          tokens=sum(g.output_tokens for g in generations), force=True)
        yield from generations


def prompt_order(prompt) -> tuple:
    return prompt.n_tokens, prompt.key


class GenerateAnswers(beam.PTransform):
    """Prompt → Generation, batch by batch, one engine per worker."""

    def __init__(self, spec: GeneratorSpec, batch_size: int):
        super().__init__()
        self.spec, self.batch_size = spec, batch_size

    def expand(self, prompts):
        total = prompts | "CountPrompts" >> beam.combiners.Count.Globally()
        return (
            prompts
            # Sorted by length inside a batch (DESIGN: sequences that end together keep the
            # engine's batch full; +1.7% tokens/s measured on CPU, benchmarks/README.md), then
            # by key: Think keys start with their type, so equal lengths of a type sit together.
            | "StableBatches" >> StableBatches(lambda p: p.key, self.batch_size, order=prompt_order)
            | "Generate" >> beam.ParDo(_GenerateFn(self.spec), beam.pvalue.AsSingleton(total))
        )

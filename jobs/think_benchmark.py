"""The Think benchmark job: every product class of a real-queries table as a category
trigger, the Think model's queries against that class's real shopper queries.

    python -m jobs.think_benchmark --real-queries DIR/real_queries.parquet --out DIR
"""
from __future__ import annotations

from pathlib import Path

from evaluation.evaluate import write_evaluation
from evaluation.report import render_report
from evaluation.think_benchmark import run_benchmark
from pipelines.core.config import resolve_config
from pipelines.core.normalize import DEFAULT_BLOCKLIST, load_blocklist
from pipelines.engines.embedder import EmbedderSpec
from pipelines.engines.generator import VllmGeneratorSpec

NOTES = ["Every product class of the real-queries table is a category trigger; its real shopper queries "
         "are the targets. Rows of the side-by-side section are classes, not users.",
         "No catalog stands behind these queries: verification and Category HR@K are undefined."]


def run(real_queries: str, out: str, overrides: list[str] = (), model: str | None = None,
        classes: int | None = None) -> tuple[dict, Path]:
    """Runs the benchmark and writes metrics and report under `out`. Returns (metrics, path)."""
    cfg = resolve_config(overrides=list(overrides), flags={"generate.model": model})
    generator = VllmGeneratorSpec.for_config(cfg)
    embedder = EmbedderSpec.for_config(cfg.verify)
    metrics, context = run_benchmark(real_queries, generator, embedder, cfg, load_blocklist(DEFAULT_BLOCKLIST),
                                     classes=classes)
    metrics["model"] = {"generator": f"{generator.name}@{generator.revision}",
                        "embedder": f"{embedder.name}@{embedder.revision}"}
    html = render_report("HintQ Think benchmark: product classes as category triggers", metrics, context, NOTES)
    return metrics, write_evaluation(Path(out), metrics, html)

"""The Think benchmark job: every product class of a real-queries table as a category
trigger, the Think model's queries against that class's real shopper queries.

    python -m jobs.think_benchmark --real-queries DIR/real_queries.parquet --out DIR
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from evaluation.evaluate import write_evaluation
from evaluation.report import render_report
from evaluation.think_benchmark import CLASS_SPLITS, run_benchmark
from pipelines.core.prompts import TASK_THINK
from pipelines.core.config import resolve_config
from pipelines.core.normalize import DEFAULT_BLOCKLIST, load_blocklist
from pipelines.engines.embedder import EmbedderSpec
from pipelines.engines.generator import VllmGeneratorSpec

NOTES = ["Every product class of the real-queries table is a category trigger; its real shopper queries "
         "are the targets. Rows of the side-by-side section are classes, not users.",
         "No catalog stands behind these queries: verification and Category HR@K are undefined."]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="jobs.think_benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real-queries", "--real_queries", dest="real_queries", required=True,
                        help="real_queries.parquet from hintq import wands-esci")
    parser.add_argument("--out", required=True, help="output folder for metrics.json and report.html")
    parser.add_argument("--classes", type=int, default=None, help="only the first N classes (by name)")
    parser.add_argument("--split", default="all", choices=list(CLASS_SPLITS),
                        help="the classes: all, or the half Think may learn from (train) or the other (heldout)")
    parser.add_argument("--warehouse", default=None,
                        help="the warehouse whose model registry a registry:... model names")
    parser.add_argument("--model", default=None, help="generator model (default: generate.model)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override (repeatable)")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None, generator=None) -> tuple[dict, Path]:
    """Runs the benchmark its flags describe and writes metrics and report under --out.
    Returns (metrics, the folder written). `generator`: a spec other than the config's."""
    args = parse(argv)
    cfg = resolve_config(overrides=args.overrides, flags={"generate.model": args.model})
    generator = generator or VllmGeneratorSpec.for_config(cfg, args.warehouse, TASK_THINK)
    embedder = EmbedderSpec.for_config(cfg.verify)
    metrics, context = run_benchmark(args.real_queries, generator, embedder, cfg, load_blocklist(DEFAULT_BLOCKLIST),
                                     classes=args.classes, split=args.split)
    metrics["model"] = {"generator": f"{generator.name}@{generator.revision}",
                        "embedder": f"{embedder.name}@{embedder.revision}"}
    html = render_report("HintQ Think benchmark: product classes as category triggers", metrics, context, NOTES)
    return metrics, write_evaluation(Path(args.out), metrics, html)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    metrics, out = run(argv)
    print(json.dumps({"written_to": str(out), "population": metrics.get("population")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

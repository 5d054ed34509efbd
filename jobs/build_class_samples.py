"""Think's IL-SFT samples from a real-queries table (WANDS): the `train` half of the product
classes (evaluation/think_benchmark.py's split), each class a category trigger whose answer
is its shoppers' real queries. The held-out half is what `hintq benchmark-think --split
heldout` measures, so no class is both learned and measured.

    python -m jobs.build_class_samples --real-queries DIR/real_queries.parquet --warehouse DIR --day 2026-01-01

The samples are published as `samples/dt=<day>` (warehouse/samples.py), where `hintq train
--task think --holdout <day + 1>` finds them.
"""
from __future__ import annotations

import argparse
import json
import logging

from evaluation.think_benchmark import class_samples
from pipelines.core.config import resolve_config
from pipelines.core.normalize import DEFAULT_BLOCKLIST, load_blocklist
from pipelines.core.version import code_version
from pipelines.engines.generator import VllmGeneratorSpec, shared_codec
from warehouse.samples import publish_sample_rows


def run(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="jobs.build_class_samples", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real-queries", "--real_queries", dest="real_queries", required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--day", required=True, help="the partition the class samples are filed under")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    cfg = resolve_config(overrides=args.overrides)
    generator = VllmGeneratorSpec.for_config(cfg)  # its tokenizer renders and counts the prompts
    samples, aside = class_samples(args.real_queries, shared_codec(generator), cfg, load_blocklist(DEFAULT_BLOCKLIST),
                                   "train", args.day)
    return publish_sample_rows(args.warehouse, args.day, args.day, samples, aside, {
        "run_id": "class-samples", "inputs": {"real_queries": args.real_queries, "classes": "train split"},
        "prompt_model": generator.describe(), "code_version": code_version(), "config": cfg.to_dict()})


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    manifest = run(argv)
    print(json.dumps({"published": f"samples/dt={manifest['dt']}", "samples": manifest["samples"],
                      "set_aside": manifest["set_aside"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fine-tune a generator on the shop's own logs (IL-SFT), gate it, register it.

    python -m jobs.train_generator --task direct --holdout 2026-11-03 --warehouse data/warehouse

Learns from the published samples of the `train.window_days` prompt days before the
held-out day (their answers come from at most the held-out day itself, never after it),
starting from the packaged base model. The trained weights become the next version in
`models/generator/<task>/`, with a model card; the gate (evaluation/gate.py) then compares
it with the served version (the promoted one, or the base) on the held-out day's samples,
which no version saw, and promotes it only if it is better. A version the gate refuses is
kept, not served, and the report says why.

Exit 99 (Airflow's skip): no samples in the window yet. Exit 2: refused (the held-out
samples or the served model are missing or damaged), nothing trained or registered.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from evaluation.gate import GATE_KS, answers_in_child, decide, gate_samples, score
from pipelines.core.config import PACKAGED_GENERATOR, resolve_config
from pipelines.core.normalize import DEFAULT_BLOCKLIST, load_blocklist
from pipelines.core.prompts import TASKS
from pipelines.core.version import code_version
from pipelines.engines.finetune import finetune, peak_rss_mb
from pipelines.engines.generator import VllmGeneratorSpec
from pipelines.engines.model_store import ModelUnavailable, resolve_generator
from warehouse.models import (REGISTRY_PREFIX, GeneratorVersionUnusable, generator_root, promote_generator,
                              promoted, publish_generator)
from warehouse.samples import SamplesMissing, read_samples, read_samples_manifest, sample_days, training_window

SKIP_EXIT = 99
log = logging.getLogger("hintq.train")


class NothingToLearn(RuntimeError):
    """No published samples in the training window (yet)."""


def training_days(warehouse: str, holdout: str, window_days: int) -> list[str]:
    """Published sample days in the window before `holdout`: prompt days < holdout, so their
    answers (day + 1) are at most the held-out prompt day and never its answer day."""
    window = set(training_window(holdout, window_days))
    return [d for d in sample_days(warehouse) if d in window]


def served_spec(cfg, warehouse: str, task: str) -> VllmGeneratorSpec:
    """What nights serve for `task` today: its promoted version, else the packaged base
    (with the job's own generation settings, as the candidate gets them)."""
    model = f"{REGISTRY_PREFIX}{task}@promoted" if promoted(warehouse, task) is not None else PACKAGED_GENERATOR
    return VllmGeneratorSpec.for_config(cfg.with_overrides({"generate.model": model}), warehouse, task)


def _partition(warehouse: str, day: str) -> dict:
    manifest = read_samples_manifest(warehouse, day)
    return {"path": f"samples/dt={day}", "run_id": manifest["run_id"],
            "sha256": [f["sha256"] for f in manifest["files"] if f["table"] == "samples"]}


def run(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="jobs.train_generator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, choices=list(TASKS))
    parser.add_argument("--holdout", required=True, help="the held-out prompt day the gate scores on (YYYY-MM-DD)")
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--base", default=PACKAGED_GENERATOR,
                        help="the model to start from: the packaged default or a model folder")
    parser.add_argument("--no-gate", dest="gate", action="store_false",
                        help="register the version without comparing or promoting it")
    parser.add_argument("--config", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--blocklist", default=str(DEFAULT_BLOCKLIST))
    args, _ = parser.parse_known_args(argv)  # the Airflow operator adds flags of its own
    dt.date.fromisoformat(args.holdout)
    cfg = resolve_config(args.config, args.overrides)
    warehouse = str(Path(args.warehouse).resolve())
    days = training_days(warehouse, args.holdout, cfg.train.window_days)
    if not days:
        raise NothingToLearn(f"no published samples in the {cfg.train.window_days} days before {args.holdout} "
                             f"in {warehouse}")
    held_out = gate_samples(read_samples(warehouse, args.holdout, args.task), cfg.train.gate_samples) \
        if args.gate else []
    served = served_spec(cfg, warehouse, args.task)  # refuses a damaged promoted version up front
    base = resolve_generator(args.base)
    samples = [s for d in days for s in read_samples(warehouse, d, args.task)]
    leaked = [s.key for s in samples if s.labels_dt > args.holdout or s.dt >= args.holdout]
    if leaked:  # training_window makes this impossible; a wrong window must never train
        raise AssertionError(f"samples at or after the held-out day in training: {leaked[:5]}")
    if not samples:
        raise NothingToLearn(f"samples/dt={days[0]}..{days[-1]} hold no {args.task} samples")
    log.info("training %s on %d samples of %s..%s (held out: %s, %d gate samples)", args.task, len(samples),
             days[0], days[-1], args.holdout, len(held_out))

    root = generator_root(warehouse, args.task)
    staged = root / f"_staging-{int(time.time())}"
    shutil.rmtree(staged, ignore_errors=True)
    started = time.time()
    try:
        training = finetune(base.path, [(s.prompt, s.target) for s in samples], staged, cfg.train, args.device)
        card = {
            "base": {"name": base.name, "revision": base.revision},
            "data": {"task": args.task, "prompt_days": days, "labels_days": sorted({s.labels_dt for s in samples}),
                     "partitions": [_partition(warehouse, d) for d in days],
                     "samples": len(samples), "held_out_day": args.holdout},
            "training": training.to_dict(), "train_config": cfg.to_dict()["train"],
            "code_version": code_version(), "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        blocklist = load_blocklist(args.blocklist)
        if args.gate and held_out:
            candidate = VllmGeneratorSpec.for_folder(cfg, f"candidate:{args.task}", str(staged), "staged")
            before, before_cost = answers_in_child(served, held_out, cfg, blocklist)
            after, after_cost = answers_in_child(candidate, held_out, cfg, blocklist)
            card["gate"] = {"held_out_day": args.holdout, "served": served.describe(),
                            "before": {**score(before, held_out, GATE_KS), **before_cost},
                            "after": {**score(after, held_out, GATE_KS), **after_cost}}
        version = publish_generator(warehouse, args.task, staged, card)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    report = {"task": args.task, "version": version.version, "path": str(version.path),
              "weights_sha256": version.weights_sha256, "training": {k: v for k, v in training.to_dict().items()
                                                                     if k != "loss_curve"},
              "wall_s": round(time.time() - started, 1), "peak_rss_mb": peak_rss_mb()}
    if "gate" in card:
        ok, why = decide(card["gate"]["before"], card["gate"]["after"], cfg.train.gate_k)
        report["gate"] = {**card["gate"], "promoted": ok, "why": why}
        if ok:
            promote_generator(warehouse, args.task, version.version, {"by": "gate", "why": why,
                                                                      "held_out_day": args.holdout})
    else:
        report["gate"] = {"promoted": False, "why": "no gate: --no-gate or no held-out samples"}
    return report


REFUSED = (SamplesMissing, ModelUnavailable, GeneratorVersionUnusable)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # inherited by the gate's engine processes
    for noisy in ("transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        report = run(argv)
    except NothingToLearn as exc:
        log.warning("skipped: %s", exc)
        print(json.dumps({"skipped": str(exc)}))
        return SKIP_EXIT
    except REFUSED as exc:
        print(json.dumps({"refused": type(exc).__name__, "error": str(exc)}))
        return 2
    print(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

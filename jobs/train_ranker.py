"""Train the learned ranker of day D: `python -m jobs.train_ranker --dt D --input DIR --warehouse DIR`.

Reads day D's published u2q candidates (every channel's verified candidates with their
features) and labels them with day D+1's behaviour, trains LightGBM LambdaRank
(pipelines/core/ranker.py) and publishes `<warehouse>/models/ranker/dt=D/` (model,
features, training rows, validation NDCG, feature importances, the partitions it learned
from). The night of D+1 ranks with it; nothing of D+2 or later is read, so the
evaluation of that night (against D+2) scores a model that never saw its targets.

Exit status 99 (Airflow's skip code) when D's candidates or D+1's events or catalog are
not there yet (the first night of a warehouse), D+1 labels no candidate, or D's candidates
carry another feature set (written before a change of the features): nothing to learn is
not a failure, and the night then keeps the newest older ranker or the hand-weighted order.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time

from pipelines.core.channels import next_day_of
from pipelines.core.config import HintQConfig, resolve_config
from pipelines.core.features import FEATURES, FEATURE_NAMES
from pipelines.core.normalize import QueryCleaner
from pipelines.core.ranker import params, train, training_groups
from pipelines.core.version import code_version
from warehouse.files import read_published, read_rows
from warehouse.inputs import input_files, read_input_day
from warehouse.models import publish_ranker

SKIP_EXIT = 99
log = logging.getLogger("hintq.train_ranker")


class TrainingInputMissing(RuntimeError):
    """D's candidates are not published, or D+1's events are not there (yet)."""


class NothingToLearn(RuntimeError):
    """No candidate of D is labelled by D+1's behaviour."""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="jobs.train_ranker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dt", required=True, help="the candidates' day D (labels: D+1)")
    parser.add_argument("--input", required=True, help="root holding events/ and catalog/")
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="config override, e.g. --set ranker.rounds=100 (repeatable)")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        log.info("ignoring flags: %s", " ".join(unknown))
    return args


def run(argv: list[str] | None = None) -> dict:
    """Trains and publishes the ranker of --dt. Returns its manifest."""
    args = parse(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    candidates = read_published(args.warehouse, "candidates", args.dt)
    u2q = read_published(args.warehouse, "u2q", args.dt)
    if candidates is None or u2q is None:
        raise TrainingInputMissing(f"u2q candidates of {args.dt} are not published in {args.warehouse}")
    labels_dt = (dt.date.fromisoformat(args.dt) + dt.timedelta(days=1)).isoformat()
    # The settings the night ran with (its normalization makes the labels), then --set.
    cfg = resolve_config(overrides=args.overrides, base=HintQConfig.from_dict(u2q[0].get("config", {})))
    labels_day = read_input_day(args.input, labels_dt, cfg) if input_files(args.input, "catalog", labels_dt) else None
    if labels_day is None:  # without its catalog every engaged item of the day is unknown
        raise TrainingInputMissing(f"events/dt={labels_dt} or catalog/dt={labels_dt} (the labels) is not in "
                                   f"{args.input}")
    clean = QueryCleaner.of_night(cfg.normalize, u2q[0])
    next_day = {u: next_day_of(evs, clean) for u, evs in labels_day.users.items()}
    try:
        groups = training_groups((r for f in candidates[1] for r in read_rows(f)), next_day)
        trained = train(groups, cfg.ranker)
    except ValueError as exc:  # no positive label; or FeaturesDiffer: candidates of an older feature set
        raise NothingToLearn(str(exc)) from None
    manifest = {
        "candidates_dt": args.dt, "labels_dt": labels_dt,
        "learned_from": {
            "candidates": {"path": f"candidates/dt={args.dt}", "u2q_run": u2q[0].get("run_id"),
                           "files": [f["sha256"] for f in candidates[0]["files"]]},
            "labels": {"path": f"events/dt={labels_dt}",
                       "files": [p.name for p in input_files(args.input, "events", labels_dt)]},
        },
        "features": list(FEATURE_NAMES),
        "feature_meanings": {f.name: f.meaning for f in FEATURES},
        "params": {**params(cfg.ranker), "num_boost_round": cfg.ranker.rounds},
        "report": trained.report,
        "code_version": code_version(),
    }
    path = publish_ranker(args.warehouse, args.dt, trained.model_text, manifest)
    log.info("ranker of %s (labels %s) trained in %.1fs: %s", args.dt, labels_dt, time.perf_counter() - started, path)
    return {**json.loads((path / "_MANIFEST.json").read_text()), "written_to": str(path)}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        manifest = run(argv)
    except (TrainingInputMissing, NothingToLearn) as exc:
        log.warning("no ranker trained: %s", exc)
        return SKIP_EXIT
    report = manifest["report"]
    print(json.dumps({"written_to": manifest["written_to"], "groups": report["groups"],
                      "validation_ndcg_at_10": report["validation_ndcg_at_10"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

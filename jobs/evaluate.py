"""Evaluate one published day (stage 11): `python -m jobs.evaluate --dt D --input DIR --warehouse DIR`.

Scores u2q of D and the baselines against the events of D+1 and writes
`<warehouse>/eval/dt=D/metrics.json` and `report.html` together (a failed run leaves the
previous evaluation of D in place). The DAG runs it for D-1 once day D's events exist.

Exit status 99 (Airflow's skip code) when D's u2q is not published or D+1's events are
missing: nothing to evaluate yet is not a failure. Unknown flags (an operator's
`--labels=...`, `--runner=...`) are ignored.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from pipelines.core.baselines import BASELINES
from pipelines.core.config import HintQConfig, resolve_config

SKIP_EXIT = 99
log = logging.getLogger("hintq.evaluate")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="jobs.evaluate", description=__doc__)
    parser.add_argument("--dt", required=True, help="the day whose lists are evaluated (D)")
    parser.add_argument("--input", required=True, help="root holding events/ and catalog/")
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--baselines", default="all", help=f"all, none, or a comma list of {','.join(BASELINES)}")
    parser.add_argument("--real_queries", "--real-queries", dest="real_queries", default=None,
                        help="an imported real-queries table (hintq import wands-esci), for query realism")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="config override, e.g. --set evaluate.ks=10,30 (repeatable)")
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=WAREHOUSE",
                        help="also score the u2q of D published in WAREHOUSE, as system NAME (repeatable)")
    parser.add_argument("--as_of", "--as-of", dest="as_of", default=None,
                        help="evaluate the night as published then (ISO 8601, UTC unless it says); default: now")
    parser.add_argument("--out", default=None, help="output folder (default <warehouse>/eval/dt=D)")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        log.info("ignoring flags: %s", " ".join(unknown))
    return args


def baseline_names(choice: str) -> list[str]:
    if choice == "all":
        return list(BASELINES)
    names = [n for n in choice.split(",") if n and n != "none"]
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise ValueError(f"unknown baselines {unknown}; choose from {list(BASELINES)}")
    return names


def run(argv: list[str] | None = None) -> dict:
    """Evaluates one day from its flags. Returns the metrics (with `written_to`)."""
    from pathlib import Path

    from evaluation.evaluate import evaluate_day, write_evaluation
    from warehouse.files import read_published
    from warehouse.iceberg import SnapshotChoice
    from evaluation.report import render_report
    from pipelines.engines.embedder import EmbedderSpec

    args = parse(sys.argv[1:] if argv is None else argv)
    cfg = None
    choice = SnapshotChoice(as_of=args.as_of) if args.as_of else None
    published = read_published(args.warehouse, "u2q", args.dt, choice)
    if published is not None:  # the settings the night ran with, then this run's --set
        cfg = resolve_config(overrides=args.overrides,
                             base=HintQConfig.from_dict(published[0].get("config", {})))
    embedder = EmbedderSpec.for_config((cfg or HintQConfig()).verify)
    metrics, context = evaluate_day(args.input, args.warehouse, args.dt, embedder, baseline_names(args.baselines),
                                    real_queries=args.real_queries, cfg=cfg,
                                    compare=dict(c.split("=", 1) for c in args.compare), choice=choice)
    notes = [f"u2q of {metrics['dt']} (run {metrics['inputs']['u2q_run']}) against the events of "
             f"{metrics['held_out_day']}; baselines learn from {', '.join(metrics['inputs']['history_days'])}."]
    if metrics["inputs"]["titles_as_queries"]:
        notes.append("This history holds no typed queries: the baselines use item titles, normalized as "
                     "queries, as their query vocabulary.")
    html = render_report(f"HintQ evaluation, dt={args.dt}", metrics, context, notes)
    out = write_evaluation(args.out or Path(args.warehouse) / "eval" / f"dt={args.dt}", metrics, html)
    metrics["written_to"] = str(out)
    return metrics


def main(argv: list[str] | None = None) -> int:
    from evaluation.evaluate import EvaluationInputMissing
    from warehouse.iceberg import CatalogError, SnapshotNotFound

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        metrics = run(argv)
    except EvaluationInputMissing as exc:
        log.warning("nothing to evaluate: %s", exc)
        return SKIP_EXIT
    except (CatalogError, SnapshotNotFound) as exc:
        log.error("refused: %s", exc)
        return 2
    print(json.dumps({"written_to": metrics["written_to"], "population": metrics["population"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

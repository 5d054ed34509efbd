"""Scores HintQ on every real dataset with one command: import, run the nights, evaluate.

    python -m jobs.benchmark_real --src-root ../shared/data --out DIR [--datasets a,b] [--users N]

Each folder of `--src-root` named in DATASETS is imported (`hintq import`), its nights run
(x2q then u2q, day by day, profile memory carried), and the last night's u2q evaluated
against the next day with every baseline, the random reference and bootstrap intervals;
the WANDS/ESCI queries run the Think benchmark instead. One dataset that is missing is
skipped, one that fails is reported with the step and the error, and the others still
run. `DIR/summary.json` holds every step's status, wall time and the headline rows;
each dataset's HTML report stays under `DIR/<dataset>/`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from datasets import importers
from evaluation.report import format_metrics
from pipelines.core.config import NIGHTLY_TABLES
from pipelines.core.metrics import HEADLINE_METRICS

log = logging.getLogger("hintq.benchmark_real")


@dataclass(frozen=True)
class RealDataset:
    folder: str  # under --src-root
    importer: str  # the `hintq import` format
    nights: int  # nights run from the history day; the last one is evaluated (0: the Think benchmark)


DATASETS = {d.folder: d for d in (
    # History, training target, evaluation target: night 1 carries its memory into night 2;
    # the ranker learns from night 1's candidates labelled by day 2, night 2 ranks with it
    # and its lists are scored against the third day.
    RealDataset("online_retail_uci", "online-retail", nights=2),
    RealDataset("complete_journey", "complete-journey", nights=2),
    RealDataset("real_queries_wands_esci", "wands-esci", nights=0),
)}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="jobs.benchmark_real", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src-root", required=True, help="a folder holding the datasets' folders (../shared/data)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma list of {', '.join(DATASETS)}")
    parser.add_argument("--users", type=int, default=200, help="customers (households) taken from each shop")
    parser.add_argument("--classes", type=int, default=30, help="product classes in the Think benchmark")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override (repeatable)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.datasets.split(",")) - set(DATASETS))
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose from {list(DATASETS)}")
    return args


class _Steps:
    """Wall time and outcome of each step of one dataset."""

    def __init__(self, name: str):
        self.name, self.record = name, {"status": "ok", "steps": {}}

    def run(self, step: str, fn):
        started = time.perf_counter()
        log.info("%s: %s ...", self.name, step)
        try:
            return fn()
        finally:
            self.record["steps"][step] = round(time.perf_counter() - started, 1)
            log.info("%s: %s took %.1f s", self.name, step, self.record["steps"][step])


def _headline(metrics: dict) -> list[dict]:
    return [r for r in metrics["rows"] if r["metric"] in HEADLINE_METRICS]


def _channel_rows(metrics: dict) -> list[dict]:
    """HintQ's share of list entries and of first hits per channel (source class)."""
    return [r for r in metrics["rows"] if r["system"].startswith("hintq")
            and r["metric"].startswith(("share:", "first_hit:"))]


def _shop(ds: RealDataset, src: Path, work: Path, args, generator, steps: _Steps) -> dict:
    from jobs import evaluate, nightly, train_ranker

    day = dt.date.fromisoformat(importers.DEFAULT_DAYS[ds.importer])
    if ds.importer == "online-retail":
        steps.run("import", lambda: importers.import_online_retail(src, work / "input", day, users=args.users))
    else:
        steps.run("import", lambda: importers.import_complete_journey(src, work / "input", day,
                                                                      households=args.users))
    flags = [f"--input={work / 'input'}", f"--warehouse={work / 'warehouse'}", *(f"--set={o}" for o in args.overrides)]
    nights = [(day + dt.timedelta(days=i)).isoformat() for i in range(ds.nights)]
    for i, night in enumerate(nights):
        for table in NIGHTLY_TABLES:
            steps.run(f"night {night} {table}",
                      lambda: nightly.run([f"--table={table}", f"--dt={night}", *flags], generator=generator))
        if i + 1 < len(nights):  # the next day's events label this night's candidates
            ranker = steps.run(f"train ranker {night}", lambda: train_ranker.run([f"--dt={night}", *flags]))
            steps.record.setdefault("rankers", {})[night] = ranker["report"]
    return steps.run("evaluate", lambda: evaluate.run([f"--dt={nights[-1]}", *flags, f"--out={work / 'eval'}"]))


def _think(src: Path, work: Path, args, generator, steps: _Steps) -> dict:
    from jobs import think_benchmark

    steps.run("import", lambda: importers.import_wands_esci(src, work / "input"))
    metrics, _ = steps.run("think benchmark", lambda: think_benchmark.run(
        [f"--real-queries={work / 'input' / 'real_queries.parquet'}", f"--out={work / 'eval'}",
         f"--classes={args.classes}", *(f"--set={o}" for o in args.overrides)], generator=generator))
    return metrics


def run(argv: list[str] | None = None, generator=None) -> dict:
    """Runs every named dataset; returns the summary (also written to OUT/summary.json)."""
    args = parse(argv)
    out = Path(args.out)
    started = time.perf_counter()
    summary = {"src_root": str(args.src_root), "users": args.users, "classes": args.classes, "datasets": {}}
    for name in args.datasets.split(","):
        ds, src, work = DATASETS[name], Path(args.src_root) / name, out / name
        steps = _Steps(name)
        summary["datasets"][name] = steps.record
        if not src.is_dir():
            steps.record.update(status="skipped", reason=f"{src} does not exist")
            log.warning("%s: skipped, %s does not exist", name, src)
            continue
        try:
            metrics = (_think(src, work, args, generator, steps) if ds.nights == 0
                       else _shop(ds, src, work, args, generator, steps))
        except Exception as exc:  # one dataset's failure is reported; the others still run
            steps.record.update(status="failed", step=list(steps.record["steps"])[-1] if steps.record["steps"]
                                else "start", error=f"{type(exc).__name__}: {exc}")
            log.error("%s failed: %s", name, steps.record["error"])
            continue
        steps.record.update(population=metrics["population"], systems=metrics["systems"], ks=metrics["ks"],
                            rows=_headline(metrics), channels=_channel_rows(metrics),
                            ranking=metrics.get("inputs", {}).get("ranking"),
                            report=str(work / "eval" / "report.html"))
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return summary


def format_summary(summary: dict) -> str:
    """Per dataset: its status, population and step times, then its metric table."""
    lines = []
    for name, rec in summary["datasets"].items():
        steps = ", ".join(f"{s} {t} s" for s, t in rec["steps"].items())
        if rec["status"] != "ok":
            lines += [f"## {name}: {rec['status']}: {rec.get('reason') or rec.get('error')}",
                      f"steps: {steps}" if steps else "", ""]
            continue
        lines += [f"## {name}", f"population {rec['population']}", f"steps: {steps}", "",
                  format_metrics({"ks": rec["ks"], "systems": rec["systems"], "rows": rec["rows"]})]
        for night, report in rec.get("rankers", {}).items():
            top = sorted(report["importance"].items(), key=lambda kv: (-kv[1]["gain"], kv[0]))[:6]
            lines.append(f"ranker of {night}: validation NDCG@10 {report['validation_ndcg_at_10']}; "
                         f"rows {report['rows']}; top features by gain "
                         + ", ".join(f"{n} {imp['gain']:.0f}" for n, imp in top))
        shares = [r for r in rec.get("channels", []) if r["system"] == "hintq_u2q" and r["k"] == min(rec["ks"])]
        if shares:
            lines.append(f"hintq_u2q at K={min(rec['ks'])}, by channel: "
                         + ", ".join(f"{r['metric']} {r['value']:.3f}" for r in shares))
        lines += [f"report: {rec['report']}", ""]
    lines.append(f"wall time of the whole command: {summary['wall_s']} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    summary = run(argv)
    print(format_summary(summary))
    return 1 if any(r["status"] == "failed" for r in summary["datasets"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())

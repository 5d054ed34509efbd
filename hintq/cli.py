"""`hintq`: the command line of the pipeline environment.

    hintq sample-world --out DIR --start 2026-11-01 --days 3 --users 300 --seed 7
    hintq run --date 2026-11-01 --input DIR --warehouse DIR [--table all|x2q|u2q] [--runner ...]
    hintq backfill --start 2026-11-01 --end 2026-11-03 --input DIR --warehouse DIR [--cascade] [--bootstrap]
    hintq show u2q --warehouse DIR --date 2026-11-01 --user U00042 [--snapshot ID | --as-of TIME]
    hintq show x2q --warehouse DIR --date 2026-11-01 --trigger item:I000042
    hintq summary --warehouse DIR --date 2026-11-01 [--as-of 2026-11-02T06:00:00]
    hintq prepare-model
    hintq config [--config FILE] [--set key=value ...] [--model M] [--markdown]
    hintq export --warehouse DIR --date 2026-11-01 --redis redis://127.0.0.1:6399/0 [--table all|u2q|x2q]
    hintq export --verify --warehouse DIR --redis redis://127.0.0.1:6399/0 [--table all|u2q|x2q]
    hintq rollback --table u2q --redis redis://127.0.0.1:6399/0 [--to VERSION]
    hintq history --warehouse DIR --table u2q
    hintq rollback-table --warehouse DIR --table u2q --date 2026-11-01 [--snapshot ID]
    hintq maintain --warehouse DIR [--config FILE] [--set publish.snapshot_retention_days=7]
    hintq migrate-warehouse --warehouse DIR
    hintq copy-warehouse --src DIR --dst NEW_DIR
    hintq lookup --redis redis://127.0.0.1:6399/0 --user U00042 | --trigger item:I000042
    hintq eval --warehouse DIR --date 2026-11-01 [--input DIR] [--baselines all] [--real-queries FILE]
               [--compare NAME=OTHER_WAREHOUSE] [--as-of TIME]
    hintq train-ranker --warehouse DIR --date 2026-11-01 [--input DIR] [--set ranker.rounds=100]
    hintq ranker --warehouse DIR --date 2026-11-01
    hintq build-samples --warehouse DIR --date 2026-11-01 [--input DIR]
    hintq train --task direct|think --warehouse DIR --holdout 2026-11-03 [--device cuda] [--set train.epochs=3]
    hintq models list --warehouse DIR [--task direct|think]
    hintq models promote --warehouse DIR --task direct --version 2 --reason "..."
    hintq import online-retail --src ../shared/data/online_retail_uci --out DIR [--users 400]
    hintq import complete-journey --src ../shared/data/complete_journey --out DIR [--households 400]
    hintq import wands-esci --src ../shared/data/real_queries_wands_esci --out DIR
    hintq benchmark-think --real-queries DIR/real_queries.parquet --out DIR [--split heldout] [--warehouse W]
    hintq benchmark-real --src-root ../shared/data --out DIR [--datasets a,b] [--users 200]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from pipelines.core.config import NIGHTLY_TABLES, PUBLISHED_TABLES

# Exit code of the serving commands when the store itself is unreachable or damaged; 1 is
# "no list for this id" in a healthy store, 2 a refused command.
STORE_PROBLEM = 3


def _date(value: str) -> str:
    dt.date.fromisoformat(value)
    return value


def cmd_sample_world(args) -> int:
    from pathlib import Path

    from datasets.sample_world import write_world

    summary = write_world(Path(args.out), dt.date.fromisoformat(args.start), args.days, args.users, args.seed,
                          n_items=args.items, bad_share=args.bad_share, bot_events=args.bot_events)
    print(json.dumps(summary))
    return 0


def _tables(choice: str) -> tuple[str, ...]:
    return NIGHTLY_TABLES if choice == "all" else (choice,)


def cmd_run(args, passthrough: list[str]) -> int:
    from jobs import nightly

    for table in _tables(args.table):
        rc = nightly.main([f"--table={table}", f"--dt={args.date}", f"--input={args.input}",
                           f"--warehouse={args.warehouse}", f"--runner={args.runner}", *passthrough])
        if rc:
            return rc
    return cmd_summary(args)


def cmd_backfill(args, passthrough: list[str]) -> int:
    from jobs import backfill

    report = backfill.run([f"--start={args.start}", f"--end={args.end}", f"--input={args.input}",
                           f"--warehouse={args.warehouse}", *(["--cascade"] if args.cascade else []),
                           *(["--bootstrap"] if args.bootstrap else []), f"--runner={args.runner}", *passthrough])
    for entry in report["ran"]:
        print(f"{entry['table']}/dt={entry['dt']}  run {entry['run_id']}  rows {entry['rows']}  "
              f"sha256 {' '.join(h[:12] for h in entry['sha256'])}")
    if report["stale"]:
        print(f"stale (read the memory this re-run replaced; rebuild with --cascade): {', '.join(report['stale'])}")
    return 0


def _snapshot_choice(args):
    """The snapshot a reading command reads: --snapshot ID, --as-of TIME, or the current one."""
    from warehouse.iceberg import SnapshotChoice

    snapshot_id, as_of = getattr(args, "snapshot", None), getattr(args, "as_of", None)  # as_of: checked by _timestamp
    return SnapshotChoice(snapshot_id, as_of) if snapshot_id is not None or as_of is not None else None


def _reading_problems():
    from warehouse.iceberg import CatalogError, SnapshotNotFound
    from warehouse.manifest import ManifestError

    return ManifestError, CatalogError, SnapshotNotFound


def cmd_show(args) -> int:
    try:
        return _show(args)
    except (*_reading_problems(), FileNotFoundError) as exc:
        print(f"hintq show: {exc}", file=sys.stderr)
        return 2


def _show(args) -> int:
    from hintq.summary import find_row, format_trigger, format_user

    if args.table == "u2q":
        if not args.user:
            print("show u2q needs --user", file=sys.stderr)
            return 2
        row = find_row(args.warehouse, "u2q", args.date, {"user_id": args.user}, _snapshot_choice(args))
        what = f"user {args.user}"
    else:
        trigger_type, _, trigger_id = (args.trigger or "").partition(":")
        if not trigger_id:
            print("show x2q needs --trigger TYPE:ID, e.g. item:I000042", file=sys.stderr)
            return 2
        row = find_row(args.warehouse, "x2q", args.date, {"trigger_type": trigger_type, "trigger_id": trigger_id},
                       _snapshot_choice(args))
        what = f"trigger {args.trigger}"
    if row is None:
        print(f"{what} has no {args.table} row on {args.date}", file=sys.stderr)
        return 1
    print(format_user(row) if args.table == "u2q" else format_trigger(row))
    return 0


def cmd_summary(args) -> int:
    from hintq.summary import format_summary, load_manifest

    printed = 0
    for table in NIGHTLY_TABLES:
        try:
            manifest = load_manifest(args.warehouse, table, args.date, _snapshot_choice(args))
        except (FileNotFoundError, *_reading_problems()) as exc:
            print(f"{table}: {exc}")
            continue
        print(format_summary(manifest, f"Iceberg hintq.{table} in {args.warehouse}, dt={args.date}"))
        printed += 1
    return 0 if printed else 1


def cmd_history(args) -> int:
    from hintq.summary import format_history
    from warehouse.iceberg import CatalogError, history

    try:
        rows = history(args.warehouse, args.table)
    except CatalogError as exc:
        print(f"hintq history: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"hintq history: {args.table} has no snapshots in {args.warehouse}", file=sys.stderr)
        return 1
    print(json.dumps(rows, indent=1) if args.json else format_history(rows))
    return 0


def cmd_rollback_table(args) -> int:
    from warehouse.iceberg import CatalogError, NoEarlierVersion
    from warehouse.versions import rollback_night

    try:
        done = rollback_night(args.warehouse, args.table, args.date, to_snapshot=args.snapshot)
    except (NoEarlierVersion, CatalogError) as exc:
        print(f"rollback-table refused: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(done))
    return 0


def cmd_copy_warehouse(args) -> int:
    from warehouse.versions import copy_warehouse

    copy_warehouse(args.src, args.dst)
    print(json.dumps({"copied": args.src, "to": args.dst}))
    return 0


def cmd_migrate_warehouse(args) -> int:
    from warehouse.versions import migrate_renamed_partitions

    print(json.dumps({"committed": migrate_renamed_partitions(args.warehouse)}))
    return 0


def cmd_maintain(args) -> int:
    from pipelines.core.config import ConfigError, resolve_config
    from warehouse.iceberg import CatalogError
    from warehouse.versions import maintain

    try:
        cfg = resolve_config(args.config, args.overrides).publish
        done = maintain(args.warehouse, cfg.snapshot_retention_days, cfg.orphan_min_age_hours)
    except (ConfigError, CatalogError) as exc:
        print(f"hintq maintain: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({t: {"expired_snapshots": d["expired_snapshots"], "removed": len(d["removed"])}
                      for t, d in done.items()}))
    return 0


def cmd_config(args) -> int:
    from pipelines.core.config import ConfigError, describe, resolve_config

    try:
        cfg = resolve_config(args.config, args.overrides, flags={"generate.model": args.model})
    except ConfigError as exc:
        print(f"hintq config: {exc}", file=sys.stderr)
        return 2
    rows = describe(cfg)
    if args.markdown:
        print("| setting | default | allowed |\n| --- | --- | --- |")
        print("\n".join(f"| `{key}` | `{json.dumps(value)}` | {what} |" for key, value, what in rows))
    else:
        print("\n".join(f"{key:<34} {json.dumps(value):<28} {what}" for key, value, what in rows))
    return 0


def cmd_prepare_model(args) -> int:
    from pipelines.core.config import resolve_config
    from pipelines.engines.model_store import resolve_embedder, resolve_generator

    cfg = resolve_config(flags={"generate.model": args.model})
    print(json.dumps({"generator": resolve_generator(cfg.generate.model).__dict__,
                      "embedder": resolve_embedder(cfg.verify.embedder).__dict__}))
    return 0


def cmd_export(args, passthrough: list[str]) -> int:
    from jobs import export_redis

    if args.verify:
        return _verify_export(args)
    if not args.date:
        print("hintq export: --date is required (or --verify to check what is served)", file=sys.stderr)
        return 2
    for table in _tables(args.table):
        rc = export_redis.main([f"--table={table}", f"--dt={args.date}", f"--warehouse={args.warehouse}",
                                f"--redis={args.redis}", f"--namespace={args.namespace}", *passthrough])
        if rc:
            return rc
    return 0


def _verify_export(args) -> int:
    from jobs.export_redis import verify_served
    from online.store import ExportError

    code = 0
    for table in _tables(args.table):
        try:
            print(json.dumps(verify_served(args.warehouse, table, args.redis, args.namespace)))
        except ExportError as exc:
            print(f"{table}: NOT OK: {exc}", file=sys.stderr)
            code = STORE_PROBLEM
    return code


def cmd_rollback(args) -> int:
    from online.store import ExportError, connect, rollback

    try:
        target = rollback(connect(args.redis), args.namespace, args.table, to=args.to)
    except ExportError as exc:
        print(f"rollback refused: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"table": args.table, "current": target}))
    return 0


def cmd_lookup(args) -> int:
    from online.reader import HintQReader, ReaderUnavailable

    reader = HintQReader(args.redis, namespace=args.namespace)
    table = "x2q" if args.trigger else "u2q"
    try:
        if args.trigger:
            trigger_type, _, trigger_id = args.trigger.partition(":")
            result = reader.lookup_trigger(trigger_type, trigger_id)
            print(f"x2q[{args.trigger}] version={result.version} found={result.found}")
        else:
            result = reader.lookup_user(args.user)
            print(f"u2q[{args.user}] version={result.version} found={result.found}")
        # A miss in a damaged version is not an unknown id: say which it is.
        health = None if result.found else reader.health(table)
    except ReaderUnavailable as exc:
        print(f"hintq lookup: {exc}", file=sys.stderr)
        return STORE_PROBLEM
    for i, s in enumerate(result.suggestions[: args.limit], 1):
        print(f"  {i:>3}  {s.query:<42}{s.score:>7.3f}  {s.source:<18}{s.category or '-'}")
    if health is not None and not health.ok:
        print(f"hintq lookup: not found, and the store is damaged: {health.problem}", file=sys.stderr)
        return STORE_PROBLEM
    return 0 if result.found else 1


def cmd_eval(args, passthrough: list[str]) -> int:
    import os

    from jobs import evaluate

    input_root = args.input or os.environ.get("HINTQ_INPUT")
    if not input_root:
        raise SystemExit("hintq eval: give --input (or set HINTQ_INPUT): it holds the held-out day's events")
    argv = [f"--dt={args.date}", f"--input={input_root}", f"--warehouse={args.warehouse}",
            f"--baselines={args.baselines}", *passthrough]
    if args.as_of:
        argv.append(f"--as_of={args.as_of}")
    if args.real_queries:
        argv.append(f"--real_queries={args.real_queries}")
    argv.extend(f"--compare={c}" for c in args.compare)
    code = evaluate.main(argv)
    if code == 0:
        from hintq.summary import print_eval

        print_eval(args.warehouse, args.date)
    return code


def cmd_train_ranker(args, passthrough: list[str]) -> int:
    import os

    from jobs import train_ranker

    input_root = args.input or os.environ.get("HINTQ_INPUT")
    if not input_root:
        raise SystemExit("hintq train-ranker: give --input (or set HINTQ_INPUT): it holds the labels' day's events")
    code = train_ranker.main([f"--dt={args.date}", f"--input={input_root}", f"--warehouse={args.warehouse}",
                              *passthrough])
    if code == 0:
        from hintq.summary import print_ranker

        print_ranker(args.warehouse, args.date)
    return code


def cmd_ranker(args) -> int:
    from hintq.summary import print_ranker
    from warehouse.models import RankerCorrupt

    try:
        print_ranker(args.warehouse, args.date)
    except RankerCorrupt as exc:
        print(f"hintq ranker: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_build_samples(args, passthrough: list[str]) -> int:
    import os

    from jobs import build_samples

    input_root = args.input or os.environ.get("HINTQ_INPUT")
    if not input_root:
        raise SystemExit("hintq build-samples: give --input (or set HINTQ_INPUT): it holds days D and D+1")
    return build_samples.main([f"--dt={args.date}", f"--input={input_root}", f"--warehouse={args.warehouse}",
                               *passthrough])


def cmd_train(args, passthrough: list[str]) -> int:
    from jobs import train_generator

    return train_generator.main([f"--task={args.task}", f"--holdout={args.holdout}",
                                 f"--warehouse={args.warehouse}", *passthrough])


def cmd_models(args) -> int:
    from hintq.summary import print_models
    from warehouse.models import GeneratorVersionUnusable, promote_generator

    if args.action == "promote":
        if not (args.task and args.version and args.reason):
            raise SystemExit("hintq models promote: give --task, --version and --reason")
        try:
            body = promote_generator(args.warehouse, args.task, args.version, {"by": "hand", "why": args.reason})
        except GeneratorVersionUnusable as exc:
            print(f"hintq models promote: {exc}", file=sys.stderr)
            return 2
        print(f"{args.task}: v{body['version']} promoted (nights with generate.model=registry:promoted serve it)")
        return 0
    print_models(args.warehouse, args.task)
    return 0


def cmd_import(args) -> int:
    from pathlib import Path

    from datasets import importers

    day = dt.date.fromisoformat(args.day or importers.DEFAULT_DAYS.get(args.format, "2000-01-01"))
    try:
        if args.format == "online-retail":
            summary = importers.import_online_retail(Path(args.src), Path(args.out), day, users=args.users,
                                                     categories=args.categories)
        elif args.format == "complete-journey":
            summary = importers.import_complete_journey(Path(args.src), Path(args.out), day, households=args.users)
        else:
            summary = importers.import_wands_esci(Path(args.src), Path(args.out))
    except importers.DatasetUnreadable as exc:
        print(f"hintq import: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in summary.items() if k != "categories"}, indent=1))
    return 0


def cmd_benchmark_think(args, passthrough: list[str]) -> int:
    from hintq.summary import print_metrics
    from jobs import think_benchmark

    if passthrough:
        raise SystemExit(f"hintq benchmark-think: unrecognized arguments: {' '.join(passthrough)}")
    argv = [f"--real-queries={args.real_queries}", f"--out={args.out}",
            *([f"--model={args.model}"] if args.model else []),
            *([f"--classes={args.classes}"] if args.classes is not None else []),
            f"--split={args.split}", *([f"--warehouse={args.warehouse}"] if args.warehouse else []),
            *(f"--set={o}" for o in args.overrides)]
    metrics, out = think_benchmark.run(argv)
    print_metrics(metrics)
    print(f"written to {out}")
    return 0


def _add_snapshot_choice(parser, with_id: bool) -> None:
    when = parser.add_mutually_exclusive_group()
    if with_id:
        when.add_argument("--snapshot", type=int, default=None, help="read this snapshot of the table")
    when.add_argument("--as-of", default=None, type=_timestamp,
                      help="read the snapshot that was current then (ISO 8601; UTC unless it says)")


def _timestamp(value: str) -> str:
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hintq", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    sw = sub.add_parser("sample-world", help="write a synthetic shop's input partitions")
    sw.add_argument("--out", required=True)
    sw.add_argument("--start", required=True, type=_date)
    sw.add_argument("--days", type=int, default=3)
    sw.add_argument("--users", type=int, default=300)
    sw.add_argument("--seed", type=int, default=7)
    sw.add_argument("--items", type=int, default=3000)
    sw.add_argument("--bad-share", type=float, default=0.01, help="share of bad rows (default 1%%)")
    sw.add_argument("--bot-events", type=int, default=50_000, help="events of the bot-like user a day")

    run = sub.add_parser("run", help="run the nightly Beam jobs for one day (the DAG runs the same)",
                         description="Other flags (--model, --set k=v, Beam options) pass to the job.")
    run.add_argument("--table", choices=["all", *NIGHTLY_TABLES], default="all",
                     help="all (default) runs x2q, then u2q, as the DAG does")
    run.add_argument("--date", required=True, type=_date)
    run.add_argument("--input", required=True)
    run.add_argument("--warehouse", required=True)
    run.add_argument("--runner", default="DirectRunner",
                     help="DirectRunner | DataflowRunner | FlinkRunner | SparkRunner")

    bf = sub.add_parser("backfill", help="run a range of days in date order (x2q, then u2q, each day)",
                        description="Other flags (--model, --set k=v, Beam options) pass to every job.")
    bf.add_argument("--start", required=True, type=_date)
    bf.add_argument("--end", required=True, type=_date)
    bf.add_argument("--input", required=True)
    bf.add_argument("--warehouse", required=True)
    bf.add_argument("--cascade", action="store_true",
                    help="also re-run every later published day, in order (their memory changed)")
    bf.add_argument("--bootstrap", action="store_true",
                    help="let the first day start from empty profile memory if the day before has none")
    bf.add_argument("--runner", default="DirectRunner")

    show = sub.add_parser("show", help="print one published list")
    show.add_argument("table", choices=["u2q", "x2q"])
    show.add_argument("--warehouse", required=True)
    show.add_argument("--date", required=True, type=_date)
    show.add_argument("--user", help="u2q: the shopper id")
    show.add_argument("--trigger", help="x2q: TYPE:ID, e.g. item:I000042, query:trail shoes")

    _add_snapshot_choice(show, with_id=True)

    summ = sub.add_parser("summary", help="print the summary of a published night")
    summ.add_argument("--warehouse", required=True)
    summ.add_argument("--date", required=True, type=_date)
    _add_snapshot_choice(summ, with_id=False)

    hist = sub.add_parser("history", help="list a published table's Iceberg snapshots, oldest first")
    hist.add_argument("--warehouse", required=True)
    hist.add_argument("--table", required=True, choices=list(PUBLISHED_TABLES))
    hist.add_argument("--json", action="store_true")

    rbt = sub.add_parser("rollback-table", help="restore a published day as it was before its latest change",
                         description="Commits a new snapshot of the table (and its night's parts) whose day "
                                     "holds the earlier run's files; other days are untouched. Run it again "
                                     "to undo it.")
    rbt.add_argument("--warehouse", required=True)
    rbt.add_argument("--table", required=True, choices=list(NIGHTLY_TABLES))
    rbt.add_argument("--date", required=True, type=_date)
    rbt.add_argument("--snapshot", type=int, default=None, help="restore the day as it was at this snapshot")

    cw = sub.add_parser("copy-warehouse", help="an independent copy of a warehouse: its folders, and the current "
                        "version of every published day committed to the copy's own catalog (no history)")
    cw.add_argument("--src", required=True)
    cw.add_argument("--dst", required=True, help="a folder that does not exist yet")

    mg = sub.add_parser("migrate-warehouse", help="commit partitions published by rename (before Iceberg) "
                        "as Iceberg snapshots; their files stay in place")
    mg.add_argument("--warehouse", required=True)

    mt = sub.add_parser("maintain", help="expire old snapshots and remove files no kept snapshot needs")
    mt.add_argument("--warehouse", required=True)
    mt.add_argument("--config", default=None, help="JSON file of config overrides (publish.*)")
    mt.add_argument("--set", dest="overrides", action="append", default=[], help="key=value (repeatable)")

    exp = sub.add_parser("export", help="load a published partition into Redis and flip the pointer",
                         description="Other flags (--keep_days, Beam options) pass to the job.")
    exp.add_argument("--warehouse", required=True)
    exp.add_argument("--date", type=_date, help="the published day to load (not with --verify)")
    exp.add_argument("--redis", required=True, help="e.g. redis://127.0.0.1:6399/0")
    exp.add_argument("--table", choices=["all", *NIGHTLY_TABLES], default="all")
    exp.add_argument("--verify", action="store_true",
                     help="load nothing: check that the served version holds every list of its manifest "
                          "and that a stable sample round-trips (exit 3 if not)")
    exp.add_argument("--namespace", default="hintq")

    rb = sub.add_parser("rollback", help="flip a table's pointer back to the previous version")
    rb.add_argument("--table", choices=list(NIGHTLY_TABLES), default="u2q")
    rb.add_argument("--redis", required=True)
    rb.add_argument("--namespace", default="hintq")
    rb.add_argument("--to", default=None, metavar="VERSION",
                    help="re-point to this exported version (e.g. after the pointer key was deleted)")

    look = sub.add_parser("lookup", help="read one shopper's list from Redis, as serving does")
    look.add_argument("--redis", required=True)
    who = look.add_mutually_exclusive_group(required=True)
    who.add_argument("--user")
    who.add_argument("--trigger", help="TYPE:ID, e.g. item:I000042")
    look.add_argument("--namespace", default="hintq")
    look.add_argument("--limit", type=int, default=30, help="print at most this many entries")

    ev = sub.add_parser("eval", help="evaluate a published day against the next day and the baselines",
                        description="Writes <warehouse>/eval/dt=D/metrics.json and report.html.")
    ev.add_argument("--warehouse", required=True)
    ev.add_argument("--date", required=True, type=_date, help="the day whose lists are evaluated (D)")
    ev.add_argument("--input", default=None, help="root of events/ and catalog/ (default $HINTQ_INPUT)")
    ev.add_argument("--baselines", default="all", help="all, none, or a comma list")
    ev.add_argument("--real-queries", default=None, help="imported real_queries.parquet, for query realism")
    ev.add_argument("--compare", action="append", default=[], metavar="NAME=WAREHOUSE",
                    help="also score another warehouse's u2q of the same day (repeatable)")
    _add_snapshot_choice(ev, with_id=False)

    tr = sub.add_parser("train-ranker", help="train the learned ranker on a day's u2q candidates and the next "
                        "day's behaviour", description="Writes <warehouse>/models/ranker/dt=D/; the night of D+1 "
                        "ranks with it. Extra flags (--set key=value) pass to the job.")
    tr.add_argument("--warehouse", required=True)
    tr.add_argument("--date", required=True, type=_date, help="the candidates' day D (labels: D+1)")
    tr.add_argument("--input", default=None, help="root of events/ and catalog/ (default $HINTQ_INPUT)")

    rk = sub.add_parser("ranker", help="print a trained ranker: what it learned from, validation NDCG, importances")
    rk.add_argument("--warehouse", required=True)
    rk.add_argument("--date", required=True, type=_date, help="the candidates' day D it learned from")

    bs = sub.add_parser("build-samples", help="build the IL-SFT samples of a day: its prompts, the next day's answers",
                        description="Writes <warehouse>/samples/dt=D/. Extra flags (--set, --config) pass to the job.")
    bs.add_argument("--warehouse", required=True)
    bs.add_argument("--date", required=True, type=_date, help="the prompts' day D (answers: D+1)")
    bs.add_argument("--input", default=None, help="root of events/ and catalog/ (default $HINTQ_INPUT)")

    tg = sub.add_parser("train", help="fine-tune a generator on the samples (IL-SFT), gate it, register it",
                        description="Writes models/generator/<task>/v=N/ and promotes it only if it beats the "
                        "served version on the held-out day. Extra flags (--set, --device, --no-gate) pass to "
                        "the job (python -m jobs.train_generator --help).")
    tg.add_argument("--task", required=True, choices=["direct", "think"])
    tg.add_argument("--warehouse", required=True)
    tg.add_argument("--holdout", required=True, type=_date, help="held-out prompt day of the gate")

    md = sub.add_parser("models", help="list the fine-tuned generator versions, or promote one by hand")
    md.add_argument("action", choices=["list", "promote"])
    md.add_argument("--warehouse", required=True)
    md.add_argument("--task", default=None, choices=["direct", "think"])
    md.add_argument("--version", type=int, default=None)
    md.add_argument("--reason", default=None, help="promote: why, recorded in the promotion history")

    imp = sub.add_parser("import", help="convert a real public dataset into HintQ's input contracts")
    imp.add_argument("format", choices=["online-retail", "complete-journey", "wands-esci"])
    imp.add_argument("--src", required=True)
    imp.add_argument("--out", required=True)
    imp.add_argument("--day", default=None, type=_date,
                     help="the history day H (online-retail: target H+1, default 2011-12-08; complete-journey: "
                          "training target H+1, evaluation target H+2, default 2017-12-29)")
    imp.add_argument("--users", "--households", dest="users", type=int, default=None,
                     help="online-retail, complete-journey: at most this many customers (households)")
    imp.add_argument("--categories", type=int, default=30, help="online-retail: derived categories (k-means k)")

    sub.add_parser("benchmark-real", add_help=False,
                   help="import every real dataset, run its nights, evaluate: one table (--src-root, --out, "
                        "--datasets, --users; see python -m jobs.benchmark_real --help)")
    bt = sub.add_parser("benchmark-think", help="Think on real product classes as category triggers")
    bt.add_argument("--real-queries", required=True, help="real_queries.parquet from hintq import wands-esci")
    bt.add_argument("--out", required=True)
    bt.add_argument("--model", default=None, help="generator (default: generate.model of the config)")
    bt.add_argument("--classes", type=int, default=None, help="only the first N classes (by name)")
    bt.add_argument("--split", default="all", choices=["all", "train", "heldout"],
                    help="the classes by a stable hash of the name: the half Think may learn from, or the other")
    bt.add_argument("--warehouse", default=None, help="whose model registry a registry:think@... model names")
    bt.add_argument("--set", dest="overrides", action="append", default=[], help="config override (repeatable)")

    conf = sub.add_parser("config", help="resolve and check settings as a job would; print them with their ranges")
    conf.add_argument("--config", default=None, help="JSON file of config overrides")
    conf.add_argument("--set", dest="overrides", action="append", default=[], help="key=value (repeatable)")
    conf.add_argument("--model", default=None, help="as a job's --model (outranks --set and --config)")
    conf.add_argument("--markdown", action="store_true", help="a Markdown table (the README's)")

    prep = sub.add_parser("prepare-model", help="convert the packaged model once into the cache")
    prep.add_argument("--model", default=None, help="generator (default: generate.model of the config)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "run":
        return cmd_run(args, rest)
    if args.command == "export":
        return cmd_export(args, rest)
    if args.command == "backfill":
        return cmd_backfill(args, rest)
    if args.command == "eval":
        return cmd_eval(args, rest)
    if args.command == "train-ranker":
        return cmd_train_ranker(args, rest)
    if args.command == "build-samples":
        return cmd_build_samples(args, rest)
    if args.command == "train":
        return cmd_train(args, rest)
    if args.command == "benchmark-think":
        return cmd_benchmark_think(args, rest)
    if args.command == "benchmark-real":
        from jobs import benchmark_real

        return benchmark_real.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return {"sample-world": cmd_sample_world, "show": cmd_show, "summary": cmd_summary,
            "prepare-model": cmd_prepare_model, "config": cmd_config, "rollback": cmd_rollback,
            "lookup": cmd_lookup, "import": cmd_import, "ranker": cmd_ranker,
            "models": cmd_models, "history": cmd_history, "rollback-table": cmd_rollback_table,
            "maintain": cmd_maintain, "migrate-warehouse": cmd_migrate_warehouse,
            "copy-warehouse": cmd_copy_warehouse}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())

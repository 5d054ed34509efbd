"""Human-readable views of published partitions: a night's summaries and one list."""
from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.dataset as ds

from evaluation.report import format_metrics
from warehouse.files import partition_dir, read_published
from warehouse.manifest import TableManifest, from_dict


def load_manifest(warehouse: str, table: str, day: str, choice=None) -> TableManifest:
    return from_dict(_published(warehouse, table, day, choice)[0])


def _published(warehouse: str, table: str, day: str, choice=None) -> tuple[dict, list]:
    found = read_published(warehouse, table, day, choice)
    if found is None:
        at = f" at {choice}" if choice else ""
        raise FileNotFoundError(f"{table}/dt={day} is not published in {warehouse}{at}")
    return found


def _trigger_lines(st: dict) -> list[str]:
    tr = st["triggers"]
    sel = tr["selected"]
    lines = [f"  triggers selected   popular {sel['popular']}  cold {sel['cold']}  "
             f"skipped {tr['skipped'] or {}}"]
    rows = tr["rows"]
    verified = tr["verified_generated_by_type"]
    for t in ("item", "query", "category"):
        n = sum(v for k, v in rows.items() if k.endswith(f".{t}"))
        if n:
            lines.append(f"    {t:<10} triggers {n:>4}  verified generated queries {verified.get(t, 0):>4} "
                         f"({verified.get(t, 0) / n:.2f} per trigger)")
    lines.append(f"  cold-start items    {rows.get('cold.item', 0)} selected, {tr['served'].get('cold.item', 0)} served "
                 f"(a non-empty list), {tr['with_generated'].get('cold.item', 0)} with a verified generated query")
    lines.append(f"  no verified queries {tr['no_verified_queries']['count']} triggers (fallbacks only)")
    return lines


def format_summary(manifest: TableManifest, partition: str) -> str:
    st = manifest.stages
    table = manifest.table
    generator = (manifest.model or {}).get("generator", {})
    lines = [f"HintQ nightly {table}  dt={manifest.dt}  run={manifest.run_id}",
             f"  published           {partition}",
             f"  model               {generator.get('name')} ({generator.get('revision')})",
             f"  users (active)      {st['profile']['active_users']}",
             f"  {table} rows            {manifest.rows}"]
    if table == "x2q":
        lines += _trigger_lines(st)
    else:
        fill = manifest.x2q_fill or {}
        if fill:
            lines.append(f"  x2q fill            "
                         f"{'read ' + fill['partition'] + ' run ' + fill['run_id'] if fill['used'] else fill['reason']}")
        memory = manifest.profile_memory or {}
        if memory:
            lines.append(f"  profile memory      "
                         f"{'read ' + memory['read'] + ' (' + str(memory['rows']) + ' shoppers)' if memory['read'] else memory['reason']}"
                         f"; wrote {(manifest.profiles or {}).get('rows')}")
    for table, acc in manifest.inputs.items():
        lines.append(f"  {table:<20}read {acc['read']}  used {acc['used']}  rejected {acc['rejected']}")
    lines.append("  rejected by reason:")
    for table, acc in manifest.inputs.items():
        for reason, n in sorted(acc["rejected_by_stage_reason"].items(), key=lambda kv: -kv[1]):
            lines.append(f"    {table}.{reason:<40}{n}")
    gen = st["generate"]
    lines.append(f"  prompts             {sum(gen['finish'].values())}  "
                 f"mean prompt tokens {st['compress']['prompt_tokens_mean']}  "
                 f"output tokens {gen['output_tokens']}  finish {gen['finish']}")
    norm = st["normalize"]
    lines.append(f"  queries generated   {norm['raw_queries']}  kept after normalize {norm['kept']}")
    for reason, n in sorted(norm["discarded"].items(), key=lambda kv: -kv[1]):
        lines.append(f"    discarded.{reason:<30}{n}")
    ver = st["verify"]
    lines.append(f"  distinct verified   {ver['distinct_queries']}  passed {ver['passed']}  failed {ver['failed']}")
    rf = st["rank_fill"]
    lines.append(f"  list entries        {rf['entries']}  by source {rf['by_source']}")
    lines.append(f"  full lists (K)      {rf['full_lists']}/{manifest.rows}  "
                 f"rows with a generated query {rf['rows_with_generated']}"
                 + (f"  users filled from x2q {rf['users_with_x2q_fill']}" if "users_with_x2q_fill" in rf else ""))
    if rf.get("discarded"):
        lines.append(f"  set aside in rank   {rf['discarded']}")
    if manifest.ranking:
        how = manifest.ranking
        lines.append("  ranking             " + (f"learned, ranker {how['ranker']['path']} (labels {how['ranker']['labels_dt']})"
                                                if how["method"] == "learned" else f"hand-weighted: {how['why']}"))
        lines.append(f"  candidates          {rf.get('candidates')}  by channel {rf.get('candidates_by_channel')}")
    t = manifest.timings or {}
    lines.append(f"  wall time           pipeline {t.get('pipeline_s')} s; time inside each stage:")
    for stage, seconds in t.get("stage_s", {}).items():
        lines.append(f"    {stage:<22}{seconds:8.1f} s")
    return "\n".join(lines)


def find_row(warehouse: str, table: str, day: str, where: dict[str, str], choice=None) -> dict | None:
    """The row of a published day (at a snapshot) whose columns equal `where`, or None."""
    _, files = _published(warehouse, table, day, choice)
    condition = None
    for column, value in where.items():
        term = pc.field(column) == value
        condition = term if condition is None else condition & term
    rows = ds.dataset([str(f) for f in files], format="parquet").to_table(filter=condition).to_pylist()
    return rows[0] if rows else None


def _list_lines(queries: list[dict]) -> list[str]:
    lines = [f"  {'#':>3}  {'query':<42}{'score':>7}  {'source':<24}{'category':<22}evidence"]
    for q in queries:
        lines.append(f"  {q['rank']:>3}  {q['query'][:41]:<42}{q['score']:>7.3f}  {q['source'][:23]:<24}"
                     f"{(q['category'] or '-')[:21]:<22}{','.join(q['evidence'][:3])}")
    return lines


def format_user(row: dict) -> str:
    return "\n".join([f"user {row['user_id']}: {len(row['queries'])} queries "
                      f"(generated {row['n_generated']}, verified {row['n_verified']}, "
                      f"prompt tokens {row['prompt_tokens']})", *_list_lines(row["queries"])])


def format_trigger(row: dict) -> str:
    return "\n".join([
        f"trigger {row['trigger_type']}:{row['trigger_id']} ({row['selected_as']}, {row['users']} users): "
        f"{len(row['queries'])} queries (generated {row['n_generated']}, verified {row['n_verified']})",
        f"  text:      {row['trigger_text']}",
        f"  reasoning: {row['reasoning'] if row['reasoning'] is not None else '(none)'}",
        *_list_lines(row["queries"])])


def print_metrics(metrics: dict) -> None:
    print(f"population {metrics['population']}")
    print(format_metrics(metrics))
    if metrics.get("realism"):
        print("query realism", {k: v for k, v in metrics["realism"].items()})


def print_eval(warehouse: str, day: str) -> None:
    import json

    root = partition_dir(warehouse, "eval", day)
    print_metrics(json.loads((root / "metrics.json").read_text()))
    print(f"report: {root / 'report.html'}")


def format_ranker(manifest: dict) -> str:
    """A trained ranker's manifest in words: what it learned from, how well, on what."""
    report = manifest["report"]
    ndcg = report["validation_ndcg_at_10"]
    lines = [f"HintQ ranker  dt={manifest['dt']}  (candidates of {manifest['candidates_dt']}, labels of "
             f"{manifest['labels_dt']})",
             f"  model               {manifest['model_file']}  sha256 {manifest['model_sha256'][:16]}",
             f"  users               {report['groups']}",
             f"  rows                {report['rows']}  labels {report['labels']}",
             f"  validation NDCG@10  ranker {ndcg['ranker']}  best channel rank {ndcg['best_channel_rank']}  "
             f"(train {report['train_ndcg_at_10']})",
             "  feature importance (gain, splits):"]
    by_gain = sorted(report["importance"].items(), key=lambda kv: (-kv[1]["gain"], kv[0]))
    lines += [f"    {name:<26}{imp['gain']:>12.1f} {imp['splits']:>6}" for name, imp in by_gain]
    return "\n".join(lines)


def print_ranker(warehouse: str, day: str) -> None:
    from warehouse.models import read_ranker

    print(format_ranker(read_ranker(warehouse, day).manifest))


def format_models(warehouse: str, task: str) -> str:
    """The versions of one generator: which is served, what each learned from, its gate."""
    from warehouse.models import GeneratorVersionUnusable, generator_versions, promoted, read_generator

    chosen = (promoted(warehouse, task) or {}).get("version")
    lines = [f"{task}: {len(generator_versions(warehouse, task))} version(s); served: "
             f"{f'v{chosen}' if chosen else 'the packaged base (nothing promoted)'}"]
    for v in generator_versions(warehouse, task):
        try:
            card = read_generator(warehouse, task, v, check_weights=False).card
        except GeneratorVersionUnusable as exc:
            lines.append(f"  v{v}  unreadable: {exc}")
            continue
        data, training, gate = card["data"], card["training"], card.get("gate") or {}
        hr = lambda side: (gate.get(side) or {}).get("query_hr@10")  # noqa: E731
        lines.append(f"  v{v}{' (served)' if v == chosen else ''}  sha256 {card['weights_sha256'][:16]}  "
                     f"prompt days {data['prompt_days'][0]}..{data['prompt_days'][-1]}  samples {data['samples']}  "
                     f"{training['method']} {training['steps']} steps  loss {training['loss_first']:.3f} -> "
                     f"{training['loss_last']:.3f}  held out {data['held_out_day']}: HR@10 {hr('before')} -> {hr('after')}")
    return "\n".join(lines)


def print_models(warehouse: str, task: str | None) -> None:
    from pipelines.core.prompts import TASKS

    for t in ([task] if task else TASKS):
        print(format_models(warehouse, t))


def format_history(rows: list[dict]) -> str:
    """`hintq history`: one line per kept snapshot, oldest first, the current one marked."""
    lines = [f"  {'snapshot':<20} {'committed (UTC)':<24} {'operation':<9} {'dt':<10}  {'run':<24}"
             f"{'+rows':>7}{'-rows':>7}  restored"]
    for r in rows:
        lines.append(f"{'*' if r['current'] else ' '} {r['snapshot_id']:<20} {r['committed_at'][:23]:<24} "
                     f"{r['operation']:<9} {r['dt'] or '-':<10}  {(r['run_id'] or '-')[:23]:<24}"
                     f"{r['added_records']:>7}{r['deleted_records']:>7}  {r['restored_snapshot'] or ''}")
    return "\n".join(lines)

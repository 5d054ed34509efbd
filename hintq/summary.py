"""Human-readable views of published partitions: the night's summary and one user's list."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds


def load_manifest(warehouse: str, table: str, day: str) -> dict:
    path = Path(warehouse) / table / f"dt={day}" / "_MANIFEST.json"
    if not (path.parent / "_SUCCESS").exists():
        raise FileNotFoundError(f"{path.parent} is not published (no _SUCCESS)")
    return json.loads(path.read_text())


def format_summary(manifest: dict, partition: str) -> str:
    st = manifest["stages"]
    lines = [f"HintQ nightly u2q  dt={manifest['dt']}  run={manifest['run_id']}",
             f"  published           {partition}",
             f"  model               {manifest['model']['generator']['name']} "
             f"({manifest['model']['generator']['revision']})",
             f"  users (active)      {st['profile']['active_users']}",
             f"  u2q rows            {manifest['rows']}"]
    for table, acc in manifest["inputs"].items():
        lines.append(f"  {table:<20}read {acc['read']}  used {acc['used']}  rejected {acc['rejected']}")
    lines.append("  rejected by reason:")
    for table, acc in manifest["inputs"].items():
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
    lines.append(f"  full lists (K)      {rf['full_lists']}/{manifest['rows']}  "
                 f"users with a generated query {rf['users_with_generated']}")
    t = manifest.get("timings", {})
    lines.append(f"  wall time           pipeline {t.get('pipeline_s')} s; time inside each stage:")
    for stage, seconds in t.get("stage_s", {}).items():
        lines.append(f"    {stage:<22}{seconds:8.1f} s")
    return "\n".join(lines)


def user_list(warehouse: str, day: str, user_id: str) -> dict | None:
    root = Path(warehouse) / "u2q" / f"dt={day}"
    if not (root / "_SUCCESS").exists():
        raise FileNotFoundError(f"{root} is not published (no _SUCCESS)")
    table = ds.dataset(str(root), format="parquet").to_table(filter=pc.field("user_id") == user_id)
    rows = table.to_pylist()
    return rows[0] if rows else None


def format_user(row: dict) -> str:
    lines = [f"user {row['user_id']}: {len(row['queries'])} queries "
             f"(generated {row['n_generated']}, verified {row['n_verified']}, prompt tokens {row['prompt_tokens']})",
             f"  {'#':>3}  {'query':<42}{'score':>7}  {'source':<18}{'category':<22}evidence"]
    for q in row["queries"]:
        lines.append(f"  {q['rank']:>3}  {q['query'][:41]:<42}{q['score']:>7.3f}  {q['source']:<18}"
                     f"{(q['category'] or '-')[:21]:<22}{','.join(q['evidence'][:3])}")
    return "\n".join(lines)

"""The rows of the queries a night verified, kept in the warehouse so that the next night
of the table takes the rows of the queries it verifies again instead of embedding them
(queries recur from night to night: the history's channels, popular queries, a shopper's
lasting interests; 54% of the real 8th night's u2q candidate queries were the 7th's).

A query's row depends on its text, the embedder and the code alone (the embedder's passes:
pipelines/engines/embedder.py), so a carried row is the same bytes as one embedded again
and the lists are the same whichever rows were carried, of this table's nights or the other's. A night keeps at most
`verify.carried_queries` rows (those of the smallest stable hashes, so the same queries
give the same file), in `_query_rows/<table>/dt=D/<embedding_key>/` (warehouse/kept.py:
stored by one rename after the pipeline has finished; `verify.shared_index_days` days kept).
"""
from __future__ import annotations

from pathlib import Path

from warehouse.kept import keep_folder, stored_folder

ROWS_ROOT = "_query_rows"
ROWS_FILE = "rows.npy"  # float32, one row per query, in the order of QUERIES_FILE
QUERIES_FILE = "queries.json"


def rows_to_carry(warehouse: str | Path, table: str, embedding: str) -> tuple[str, ...]:
    """The newest kept rows of each table's nights, of any day, embedded with this
    `embedding_key` (warehouse/catalog_index.py): `table`'s first, then the other tables'
    (a row depends on the query's text alone, whichever table verified it: 12% of the 1k
    world's 8th-night u2q queries not carried from its 7th were in that night's x2q rows,
    44% of x2q's in the 7th night's u2q rows). Empty where none is kept."""
    tables = sorted((Path(warehouse) / ROWS_ROOT).glob("*"), key=lambda t: (t.name != table, t.name))
    return tuple(str(folder) for root in tables if (folder := _newest(root, embedding)))


def _newest(root: Path, embedding: str) -> Path | None:
    for day_dir in sorted(root.glob("dt=*"), reverse=True):
        if folder := stored_folder(root, day_dir.name.removeprefix("dt="), embedding):
            return folder
    return None


def keep_rows(built_dir: str | Path, warehouse: str | Path, table: str, day: str, embedding: str,
              keep_days: int) -> str | None:
    """Stores the rows a night wrote (its folder `built_dir`, moved) for the nights after
    it. Returns the stored folder, or None when carrying is off or nothing was written."""
    built = Path(built_dir)
    if keep_days <= 0 or not (built / ROWS_FILE).exists():
        return None
    return str(keep_folder(built, Path(warehouse) / ROWS_ROOT / table, day, embedding, keep_days))

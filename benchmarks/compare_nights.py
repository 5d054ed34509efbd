"""Two warehouses' nights of one day, compared row by row (e.g. u2q in one pass and in
user passes, pipelines/core/passes.py):

    python benchmarks/compare_nights.py --dt 2026-11-01 WH_A WH_B

For u2q, rejected, profiles and x2q: whether the sorted rows are equal. For u2q, how many
lists are equal, differ in their queries (text or order), or only in their entries'
evidence (the retrieved item ids), and how many list entries are equal.
"""
from __future__ import annotations

import argparse

from warehouse.files import read_published_table


def _rows(warehouse: str, table: str, day: str) -> list[dict]:
    return read_published_table(warehouse, table, day).to_pylist()


def u2q_lists(a: list[dict], b: list[dict]) -> dict:
    by_user = {r["user_id"]: r["queries"] for r in b}
    kinds = {"equal": 0, "queries_differ": 0, "evidence_only": 0, "other": 0, "missing": 0}
    entries = equal_entries = 0
    for row in a:
        qa, qb = row["queries"], by_user.get(row["user_id"])
        if qb is None:
            kinds["missing"] += 1
            continue
        entries += len(qa)
        equal_entries += sum(x == y for x, y in zip(qa, qb))
        if qa == qb:
            kinds["equal"] += 1
        elif [q["query"] for q in qa] != [q["query"] for q in qb]:
            kinds["queries_differ"] += 1
        elif [{**q, "evidence": None} for q in qa] == [{**q, "evidence": None} for q in qb]:
            kinds["evidence_only"] += 1
        else:
            kinds["other"] += 1
    return {**kinds, "entries": entries, "equal_entries": equal_entries}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dt", required=True)
    parser.add_argument("a")
    parser.add_argument("b")
    args = parser.parse_args()
    for table in ("x2q", "profiles", "rejected", "u2q"):
        a, b = _rows(args.a, table, args.dt), _rows(args.b, table, args.dt)
        same = sorted(map(repr, a)) == sorted(map(repr, b))  # repr: NaN features compare equal
        print(f"{table}: {len(a)} / {len(b)} rows, {'equal' if same else 'different'}", flush=True)
    print("u2q lists:", u2q_lists(_rows(args.a, "u2q", args.dt), _rows(args.b, "u2q", args.dt)))


if __name__ == "__main__":
    main()

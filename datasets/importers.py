"""`hintq import <format> --src DIR --out DIR`: real public data into HintQ's contracts.

- online-retail (UCI Online Retail, ../shared/data/online_retail_uci): per-customer
  purchase histories → `events/` and `catalog/` partitions of three days: day H holds each
  customer's history, H+1 their second-to-last order (the ranker's training target), H+2
  their last order (the evaluation target). Nights run on H and H+1; the ranker learns
  from H's candidates labelled by H+1; the evaluation scores night H+1 against H+2.
- complete-journey (84.51° Complete Journey via `completejourney`, ../shared/data/complete_journey):
  grocery households' sampled purchases with the shop's own department > category > type
  taxonomy → three days: history H, a training target H+1, an evaluation target H+2.
- wands-esci (../shared/data/real_queries_wands_esci): real shopper queries, no users →
  one `real_queries.parquet` (schemas/real_queries.py) for query realism and the Think
  category benchmark.

Both write an `IMPORT.json` that says what was taken, how, and what the data lacks.
Every choice is deterministic: the same source gives the same files.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa

from datasets.sample_world import write_table_file
from schemas.inputs import CATALOG_SCHEMA, EVENTS_SCHEMA
from schemas.real_queries import REAL_QUERIES_SCHEMA

# Words that name no kind of product: they make poor category names.
_NAME_STOP = frozenset("""
of the and in with for a to set sets s small large mini jumbo big little pack box assorted colour colours
design designs vintage retro red pink blue white black green ivory cream gold silver wooden glass metal
heart hearts love christmas retrospot polkadot spotty regency bird flower floral paisley n t/light
""".split())


# The history day each importer writes by default: near the data's own last days.
DEFAULT_DAYS = {"online-retail": "2011-12-08", "complete-journey": "2017-12-29"}
# The files each dataset folder must hold.
SOURCE_FILES = {"online-retail": ("events.parquet", "catalog.parquet"),
                "complete-journey": ("transactions.parquet", "products.parquet"),
                "wands-esci": ("wands_queries.parquet", "esci_us_queries.parquet")}


class DatasetUnreadable(FileNotFoundError):
    """A dataset folder that is missing, lacks a file, or holds a file that is not the
    expected Parquet: named, so a benchmark over many datasets can report it and go on."""


def _read_source(src: Path, fmt: str) -> dict:
    """Every source file of `fmt` as a polars frame, or DatasetUnreadable naming the problem."""
    import polars as pl

    frames = {}
    for name in SOURCE_FILES[fmt]:
        path = Path(src) / name
        if not path.is_file():
            raise DatasetUnreadable(f"{fmt}: {path} is missing")
        try:
            frames[name] = pl.read_parquet(path)
        except Exception as exc:  # polars raises several kinds for a damaged file
            raise DatasetUnreadable(f"{fmt}: {path} is not readable Parquet ({type(exc).__name__}: {exc})") from None
    return frames


def _sha1_rank(value: str) -> str:
    return hashlib.sha1(value.encode()).hexdigest()


def derive_categories(titles: dict[str, str], k: int, seed: int = 1234) -> tuple[dict[str, str], dict]:
    """Item id → a derived leaf category, for a catalog that has none.

    Method: spherical k-means (faiss, `k` clusters, fixed seed, one thread so the result
    does not depend on thread timing) over the all-MiniLM-L6-v2 embeddings of the titles;
    each cluster is named by its two most frequent title words that name a product kind
    (colours, sizes, motifs and stop words skipped), suffixed with its number if two
    clusters would share a name. The same embedder does verification, so a category is
    what retrieval considers alike.
    """
    import faiss

    from pipelines.core.config import VerifyConfig
    from pipelines.engines.embedder import EmbedderSpec

    spec = EmbedderSpec.for_config(VerifyConfig())
    ids = sorted(titles)
    vectors = spec.encode(spec.load(), [titles[i].lower() for i in ids])
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        kmeans = faiss.Kmeans(vectors.shape[1], k, niter=25, seed=seed, spherical=True, verbose=False)
        kmeans.train(vectors)
        _, assign = kmeans.index.search(vectors, 1)
    finally:
        faiss.omp_set_num_threads(threads)
    members: dict[int, list[str]] = {}
    for item_id, c in zip(ids, assign[:, 0]):
        members.setdefault(int(c), []).append(item_id)
    names: dict[int, str] = {}
    used: Counter = Counter()
    for c in sorted(members):
        words = Counter(w for i in members[c] for w in set(re.findall(r"[a-z][a-z'-]+", titles[i].lower()))
                        if w not in _NAME_STOP and len(w) > 2)
        top = [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:2]]
        name = " ".join(top).title() or f"Cluster {c}"
        used[name] += 1
        names[c] = name if used[name] == 1 else f"{name} {c}"
    leaf = {item_id: names[c] for c, group in members.items() for item_id in group}
    method = {"method": "spherical k-means over all-MiniLM-L6-v2 title embeddings, named by frequent title words",
              "k": k, "seed": seed, "embedder": f"{spec.name}@{spec.revision}",
              "clusters": {names[c]: len(members[c]) for c in sorted(members)}}
    return leaf, method


def _write_purchase_days(out: Path, days: list[tuple[str, dt.date, list]], catalog: pa.Table) -> dict:
    """Each (part, day, [(user_id, ts, item_id)]) as that day's purchase events, with the
    catalog snapshot beside it. Returns what was written, by part."""
    written = {}
    for part, when, rows in days:
        user_ids, ts, items = zip(*rows) if rows else ((), (), ())
        table = pa.table({"user_id": list(user_ids), "ts": list(ts), "event_type": ["purchase"] * len(ts),
                          "item_id": list(items), "query": pa.nulls(len(ts), pa.string())}, schema=EVENTS_SCHEMA)
        write_table_file(table, out / "events" / f"dt={when}" / "part-00000.parquet")
        write_table_file(catalog, out / "catalog" / f"dt={when}" / "part-00000.parquet")
        written[part] = {"dt": when.isoformat(), "events": len(ts), "users": len(set(user_ids))}
    return written


def import_online_retail(src: Path, out: Path, day: dt.date, users: int | None = None, history_orders: int = 5,
                         max_history_events: int = 200, categories: int = 30) -> dict:
    """Customers with at least three orders: their last order is the evaluation target (day
    H+2), the one before it the training target (H+1), the `history_orders` orders before
    those the history (day H), at most `max_history_events` lines, the most recent kept.
    Times are re-based, order by order, so that each history order is its own session (2 h
    apart) and the last one is the most recent (22:00 on H); a target order starts at 10:00
    on its day. Purchases stay purchases; the data has no searches. `users` takes that many
    customers in sha1(user_id) order."""
    import polars as pl

    frames = _read_source(src, "online-retail")
    events, catalog = frames["events.parquet"], frames["catalog.parquet"]
    orders = (events.group_by("user_id").agg(pl.col("order_seq").max().alias("orders"))
              .filter(pl.col("orders") >= 3))
    chosen = sorted(orders["user_id"].to_list(), key=lambda u: (_sha1_rank(u), u))
    if users:
        chosen = chosen[:users]
    last = dict(zip(orders["user_id"].to_list(), orders["orders"].to_list()))
    kept = (events.filter(pl.col("user_id").is_in(chosen))
            .with_columns(pl.col("user_id").replace_strict(last, default=None).alias("last_seq"))
            .filter(pl.col("order_seq") >= pl.col("last_seq") - 1 - history_orders)
            .sort(["user_id", "order_seq", "order_id", "item_id"]))
    days = [day + dt.timedelta(days=i) for i in range(3)]
    history_end = dt.datetime.combine(day, dt.time(22), dt.timezone.utc)
    rows = {d: [] for d in days}
    for (user_id,), group in kept.group_by(["user_id"], maintain_order=True):
        last_seq = group["last_seq"][0]
        lines = group.select("order_seq", "item_id").rows()
        history = [(seq, item) for seq, item in lines if seq < last_seq - 1][-max_history_events:]
        for i, (seq, item) in enumerate(history):
            ts = history_end - dt.timedelta(hours=2 * (last_seq - 2 - seq)) + dt.timedelta(seconds=i)
            rows[days[0]].append((user_id, ts, item))
        for target, when in ((last_seq - 1, days[1]), (last_seq, days[2])):
            start = dt.datetime.combine(when, dt.time(10), dt.timezone.utc)
            rows[when].extend((user_id, start + dt.timedelta(seconds=i), item)
                              for i, item in enumerate(item for seq, item in lines if seq == target))
    titles = dict(zip(catalog["item_id"].to_list(), catalog["title"].to_list()))
    leaf, method = derive_categories({i: t for i, t in titles.items() if t}, categories)
    cat_table = pa.table({
        "item_id": catalog["item_id"].to_list(), "title": catalog["title"].to_list(),
        "category_path": [f"Gifts & Home > {leaf[i]}" if i in leaf else None for i in catalog["item_id"].to_list()],
        "brand": pa.nulls(catalog.height, pa.string()), "price": catalog["price"].to_list(),
        "first_seen": catalog["first_seen"].to_list(),
    }, schema=CATALOG_SCHEMA)
    written = _write_purchase_days(out, [(part, when, rows[when]) for part, when in
                                         zip(("history", "train_target", "eval_target"), days)], cat_table)
    summary = {"format": "online-retail", "source": str(src),
               "days": {"history": days[0].isoformat(), "train_target": days[1].isoformat(),
                        "eval_target": days[2].isoformat()},
               "users": len(chosen), "eligible_users": orders.height,
               "history_orders": history_orders, "max_history_events": max_history_events,
               "written": written, "catalog_items": catalog.height, "categories": method,
               "lacks": ["typed queries: Query HR@K and MRR are undefined",
                         "views, clicks, carts: only purchases",
                         "categories and brands: categories derived from titles (see categories.method)"],
               "licence": "CC BY 4.0, Chen, D. (2015). Online Retail. UCI ML Repository. doi:10.24432/C5BW33"}
    (out / "IMPORT.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _title_proxy(product_type: str | None, category: str | None, department: str | None,
                 package_size: str | None) -> str:
    """A readable text for a product that has no name, from the data's own fields only: its
    type (or category, or department) and package size, with the data's separators
    (`MEAT: BEEF`, `BROCCOLI/CAULIFLOWER`) as spaces, so that it reads like what a shopper
    types (titles stand in for queries where a shop has no searches). The category is in
    the item's path."""
    head = product_type or category or department or ""
    text = " ".join(re.sub(r"[^\w.]+", " ", f"{head} {package_size or ''}").split())
    return text.capitalize()


def import_complete_journey(src: Path, out: Path, day: dt.date, households: int | None = None,
                            history_baskets: int = 20) -> dict:
    """Households with at least three purchase days (shop's local date): their last purchase
    day is the evaluation target (day H+2), the one before the training target (H+1), the
    `history_baskets` baskets before those the history (H). Target lines keep their real
    time of day; history baskets keep their order and become one session each, an hour
    apart, the most recent at 22:00 on H (a basket's lines a second apart, by product).
    Identical lines of one basket (same product twice) are one event. `households` takes
    that many in sha1(household_id) order. The catalog is every product those households
    bought, with the path department > product category > product type."""
    import polars as pl

    frames = _read_source(src, "complete-journey")
    tx = (frames["transactions.parquet"]
          .with_columns(pl.col("ts").dt.convert_time_zone("America/New_York").dt.date().alias("local_day")))
    products = frames["products.parquet"]
    missing = sorted({"household_id", "basket_id", "product_id", "ts", "quantity", "sales_value"} - set(tx.columns))
    if missing:
        raise DatasetUnreadable(f"complete-journey: transactions.parquet lacks columns {missing}")
    days_per = tx.group_by("household_id").agg(pl.col("local_day").n_unique().alias("days"))
    eligible = days_per.filter(pl.col("days") >= 3)["household_id"].to_list()
    chosen = sorted(eligible, key=lambda h: (_sha1_rank(h), h))
    if households:
        chosen = chosen[:households]
    lines = (tx.filter(pl.col("household_id").is_in(chosen))
             .sort(["household_id", "ts", "basket_id", "product_id"]))
    folded = lines.height - lines.unique(["household_id", "basket_id", "product_id"]).height
    lines = lines.unique(["household_id", "basket_id", "product_id"], keep="first", maintain_order=True)
    days = [day + dt.timedelta(days=i) for i in range(3)]
    rows = {d: [] for d in days}
    for (household,), group in lines.group_by(["household_id"], maintain_order=True):
        local_days = sorted(set(group["local_day"].to_list()))
        train_day, eval_day = local_days[-2], local_days[-1]
        for target, when in ((train_day, days[1]), (eval_day, days[2])):
            for ts, item in group.filter(pl.col("local_day") == target).select("ts", "product_id").rows():
                rows[when].append((household, dt.datetime.combine(when, ts.time(), dt.timezone.utc), item))
        history = group.filter(pl.col("local_day") < train_day)
        baskets = history.select("basket_id").unique(maintain_order=True)["basket_id"].to_list()[-history_baskets:]
        last_hour = dt.datetime.combine(days[0], dt.time(22), dt.timezone.utc)
        for b, basket in enumerate(baskets):
            start = last_hour - dt.timedelta(hours=len(baskets) - 1 - b)
            items = sorted(history.filter(pl.col("basket_id") == basket)["product_id"].to_list())
            rows[days[0]].extend((household, start + dt.timedelta(seconds=i), item) for i, item in enumerate(items))
    bought = sorted(set(lines["product_id"].to_list()))
    unit = (tx.filter(pl.col("quantity") > 0)
            .group_by("product_id").agg((pl.col("sales_value") / pl.col("quantity")).median().alias("price"),
                                        pl.col("local_day").min().alias("first_seen")))
    catalog = (pl.DataFrame({"product_id": bought}).join(products, on="product_id", how="left")
               .join(unit, on="product_id", how="left").sort("product_id"))
    records = catalog.rows(named=True)
    cat_table = pa.table({
        "item_id": [r["product_id"] for r in records],
        "title": [_title_proxy(r["product_type"], r["product_category"], r["department"], r["package_size"])
                  for r in records],
        "category_path": [" > ".join(p for p in (r["department"], r["product_category"], r["product_type"]) if p)
                          or None for r in records],
        "brand": [r["brand"] for r in records],
        "price": [None if r["price"] is None else round(float(r["price"]), 2) for r in records],
        "first_seen": [r["first_seen"] for r in records],
    }, schema=CATALOG_SCHEMA)
    written = _write_purchase_days(out, [(part, when, rows[when]) for part, when in
                                         zip(("history", "train_target", "eval_target"), days)], cat_table)
    paths = cat_table.column("category_path").to_pylist()
    summary = {"format": "complete-journey", "source": str(src),
               "days": {"history": days[0].isoformat(), "train_target": days[1].isoformat(),
                        "eval_target": days[2].isoformat()},
               "households": len(chosen), "eligible_households": len(eligible), "history_baskets": history_baskets,
               "identical_lines_folded": folded, "written": written, "catalog_items": cat_table.num_rows,
               "categories": {"departments": len({p.split(" > ")[0] for p in paths if p}),
                              "leaves": len({p for p in paths if p}),
                              "items_without_full_path": sum(1 for p in paths if not p or p.count(" > ") < 2)},
               "how": ["a purchase day is the shop's local (New York) date",
                       "target days keep each line's real time of day (UTC); history baskets keep their order, "
                       "one session each, an hour apart, ending 22:00 on the history day",
                       "title: the product type (or category) and package size, separators as spaces: "
                       "the data has no names",
                       "price: the median sales value per unit over the whole sample; first_seen: its first "
                       "purchase date in the sample", "brand: National or Private, as the data has it"],
               "lacks": ["typed queries: Query HR@K and MRR are undefined",
                         "views, clicks, carts: only purchases",
                         "product names: titles are a proxy built from type, size and category",
                         "complete baskets: the transactions are a random sample of the retailer's"],
               "licence": "CC0 (completejourney 1.1.1, Boehmke & Mortimer; 84.51° Complete Journey 2.0)"}
    (out / "IMPORT.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def import_wands_esci(src: Path, out: Path) -> dict:
    """All WANDS queries (with their product class) and all ESCI queries (no class), as typed."""
    frames = _read_source(src, "wands-esci")
    wands = frames["wands_queries.parquet"].sort("query_id")
    esci = frames["esci_us_queries.parquet"].sort("query")
    n_w, n_e = wands.height, esci.height
    table = pa.table({
        "query": wands["query"].to_list() + esci["query"].to_list(),
        "query_class": wands["query_class"].to_list() + [None] * n_e,
        "source": ["wands"] * n_w + ["esci"] * n_e,
        "n_exact": [None] * n_w + esci["n_exact"].to_list(),
    }, schema=REAL_QUERIES_SCHEMA)
    write_table_file(table, out / "real_queries.parquet")
    summary = {"format": "wands-esci", "source": str(src), "queries": {"wands": n_w, "esci": n_e},
               "classes": wands["query_class"].drop_nulls().n_unique(),
               "lacks": ["users, sessions, timestamps: no u2q HR@K or next-day metrics",
                         "ESCI product titles and the WANDS catalogue: generated queries cannot be verified "
                         "against this data's products"],
               "licence": "WANDS: MIT (Chen et al., ECIR 2022); ESCI: Apache-2.0 (Reddy et al., 2022)"}
    (out / "IMPORT.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


IMPORTERS = ("online-retail", "complete-journey", "wands-esci")

"""Stage 11, evaluate: every offline metric, defined once, for HintQ and every baseline.

Day D's lists are scored against day D+1's behaviour (held out: nothing of D+1 reaches a
list of D). The population of one evaluation is the users active on both days: they have a
list of D (an active shopper of D) and at least one used event on D+1. A user with no
next-day activity is not a miss: there is nothing to predict, so they are left out.

A list is cut at K after dropping repeated queries (first occurrence kept), so padding a
list with one query repeated never earns more than the query once.

Per K, over that population:
- query_hr: share of users with at least one D+1 search query whose normalized text
  equals one of their top-K queries. Denominator: users with at least one normalized
  D+1 query (a dataset without searches leaves it undefined).
- query_mrr: mean over the same users of 1/rank of the first top-K entry that is one of
  their D+1 queries (0 when none is).
- category_hr: share of users for whom the leaf category of at least one item they
  clicked, carted or bought on D+1 is the category of one of their top-K queries (a
  query's category: the dominant leaf of the items it retrieves, stages 7's rule).
  Denominator: users with at least one such item with a known leaf.
- semantic_similarity: mean over users of the best cosine similarity between any of
  their D+1 texts (normalized queries and titles of clicked, carted or bought items) and
  any top-K entry (0 for an empty list). Denominator: users with at least one such text.
- unique_categories: mean number of distinct known categories among the top-K entries.
- list_length: mean number of entries in the top K.
- coverage: share of users whose list has at least K entries (a full list).
- verified_share: share of all top-K entries that pass retrieval verification (entries
  not checked, for want of a catalog, leave it undefined).
- share:<source>: share of all top-K entries from each source class (generated, x2q,
  popular, or a baseline's own name).
- first_hit:<source>: among users with a query hit, the share whose first hit came from
  each source class (n: those users).

Every per-user mean (the headline metrics but verified_share) carries a bootstrap 95%
interval, `ci_low`..`ci_high`: the users of its denominator resampled with replacement
`samples` times from a fixed seed, the same resamples for every system (a paired
comparison). `best_of` names a best system only where its interval clears the runner-up.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from pipelines.core.ranking import SOURCE_CHANNEL_PREFIX, SOURCE_GENERATED, SOURCE_POPULAR_PREFIX, SOURCE_X2Q_PREFIX

# The per-system metrics every table shows, in this order (the entry shares follow them).
HEADLINE_METRICS = ("query_hr", "query_mrr", "category_hr", "semantic_similarity", "unique_categories",
                    "list_length", "coverage", "verified_share")
UNDEFINED_NO_SEARCHES = "no target (D+1) search queries in this data"
UNDEFINED_NO_CATEGORIES = "no target (D+1) item with a known leaf category in this data"
UNDEFINED_NOT_CHECKED = "no entry was checked against a catalog"


@dataclass(frozen=True)
class ListEntry:
    """One entry of a system's list for a user (or a trigger), best first."""

    query: str
    source: str
    category: str | None = None
    verified: bool | None = None  # None: not checked (no catalog to check against)


@dataclass(frozen=True)
class NextDay:
    """What one user did on D+1, as the metrics read it."""

    queries: frozenset[str] = frozenset()  # normalized like generated queries
    categories: frozenset[str] = frozenset()  # leaves of clicked, carted, bought items
    texts: tuple[str, ...] = ()  # the queries and those items' titles

    @property
    def active(self) -> bool:
        return bool(self.queries or self.categories or self.texts)


def source_class(source: str) -> str:
    if source == SOURCE_GENERATED:
        return "generated"
    if source.startswith(SOURCE_X2Q_PREFIX):
        return "x2q"
    if source.startswith(SOURCE_POPULAR_PREFIX):
        return "popular"
    if source.startswith(SOURCE_CHANNEL_PREFIX):
        return source[len(SOURCE_CHANNEL_PREFIX):]
    return source


def top_k(entries: Sequence[ListEntry], k: int) -> list[ListEntry]:
    """The first K distinct queries of a list, in list order."""
    seen: set[str] = set()
    out: list[ListEntry] = []
    for e in entries:
        if e.query in seen:
            continue
        seen.add(e.query)
        out.append(e)
        if len(out) == k:
            break
    return out


def query_hit_rank(entries: Sequence[ListEntry], next_queries: Iterable[str], k: int) -> int | None:
    """1-based rank of the first top-K entry that is one of the next-day queries."""
    targets = set(next_queries)
    for rank, e in enumerate(top_k(entries, k), start=1):
        if e.query in targets:
            return rank
    return None


def category_hit(entries: Sequence[ListEntry], next_categories: Iterable[str], k: int) -> bool:
    cats = {e.category for e in top_k(entries, k) if e.category}
    return bool(cats & set(next_categories))


def best_similarity(entry_vectors: np.ndarray, target_vectors: np.ndarray) -> float:
    """Best cosine between any entry and any target (rows L2-normalized); 0 if either is empty."""
    if len(entry_vectors) == 0 or len(target_vectors) == 0:
        return 0.0
    return float(np.max(entry_vectors @ target_vectors.T))


def unique_categories(entries: Sequence[ListEntry], k: int) -> int:
    return len({e.category for e in top_k(entries, k) if e.category})


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


def _row(system: str, metric: str, k: int, value: float | None, n: int, undefined: str | None = None) -> dict:
    row = {"system": system, "metric": metric, "k": k, "value": value, "n": n}
    if undefined:
        row["undefined"] = undefined
    return row


@dataclass(frozen=True)
class Bootstrap:
    samples: int = 1000
    seed: int = 0


def bootstrap_ci(values: Sequence[float], boot: Bootstrap) -> tuple[float, float] | None:
    """The 2.5th and 97.5th percentiles of the mean over `boot.samples` resamples (with
    replacement) of `values`; None for fewer than two values or no resampling."""
    if boot.samples <= 0 or len(values) < 2:
        return None
    data = np.asarray(values, dtype=np.float64)
    picks = np.random.default_rng(boot.seed).integers(0, len(data), size=(boot.samples, len(data)))
    means = data[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return round(float(low), 6), round(float(high), 6)


def _user_mean_row(system: str, metric: str, k: int, values: list[float], undefined: str | None,
                   boot: Bootstrap | None) -> dict:
    row = _row(system, metric, k, _mean(values), len(values), undefined)
    ci = bootstrap_ci(values, boot) if boot else None
    if ci:
        row["ci_low"], row["ci_high"] = ci
    return row


def best_of(rows: Sequence[dict]) -> dict | None:
    """The row of the best system among `rows` (one metric and K): the highest value, and
    only if its interval's low end clears the runner-up's value (without an interval, the
    highest value must be unique). None where nobody scores above zero or no one is
    clearly ahead."""
    defined = sorted((r for r in rows if r and r.get("value") is not None), key=lambda r: -r["value"])
    if not defined or defined[0]["value"] <= 0:
        return None
    if len(defined) == 1:
        return defined[0]
    top, runner_up = defined[0], defined[1]
    floor = top.get("ci_low", top["value"])
    return top if floor > runner_up["value"] else None


def evaluate_lists(system: str, lists: Mapping[str, Sequence[ListEntry]], next_day: Mapping[str, NextDay],
                   users: Iterable[str], ks: Sequence[int],
                   vectors: Callable[[Sequence[str]], np.ndarray] | None = None,
                   boot: Bootstrap | None = None) -> list[dict]:
    """Every metric of one system at every K: one row per metric and K, with `n` the size
    of its denominator (users, or entries for the entry shares) and `undefined` the reason
    when the data cannot define it. `users` is the population (active on both days);
    a user without a list has an empty one. `vectors` embeds texts (L2-normalized rows);
    without it semantic similarity is not computed. `boot` adds bootstrap intervals."""
    population = sorted(u for u in users if next_day.get(u, NextDay()).active)
    rows: list[dict] = []
    for k in ks:
        lists_k = {u: top_k(lists.get(u, ()), k) for u in population}
        q_users = [u for u in population if next_day[u].queries]
        ranks = [query_hit_rank(lists_k[u], next_day[u].queries, k) for u in q_users]
        no_q = None if q_users else UNDEFINED_NO_SEARCHES
        rows.append(_user_mean_row(system, "query_hr", k, [1.0 if r else 0.0 for r in ranks], no_q, boot))
        rows.append(_user_mean_row(system, "query_mrr", k, [1.0 / r if r else 0.0 for r in ranks], no_q, boot))
        # Which source the hits come from: the entry at each user's first hit.
        firsts = Counter(source_class(lists_k[u][r - 1].source) for u, r in zip(q_users, ranks) if r)
        for cls in sorted(firsts):
            rows.append(_row(system, f"first_hit:{cls}", k, round(firsts[cls] / sum(firsts.values()), 6),
                             sum(firsts.values())))
        c_users = [u for u in population if next_day[u].categories]
        rows.append(_user_mean_row(system, "category_hr", k,
                                   [1.0 if category_hit(lists_k[u], next_day[u].categories, k) else 0.0
                                    for u in c_users], None if c_users else UNDEFINED_NO_CATEGORIES, boot))
        if vectors is not None:
            s_users = [u for u in population if next_day[u].texts]
            sims = [best_similarity(vectors([e.query for e in lists_k[u]]), vectors(list(next_day[u].texts)))
                    for u in s_users]
            rows.append(_user_mean_row(system, "semantic_similarity", k, sims, None, boot))
        n = len(population)
        entries = [e for u in population for e in lists_k[u]]
        checked = [e for e in entries if e.verified is not None]
        # A category comes from the catalog check: without one, there are none to count.
        if checked:
            rows.append(_user_mean_row(system, "unique_categories", k,
                                       [float(unique_categories(lists_k[u], k)) for u in population], None, boot))
        else:
            rows.append(_row(system, "unique_categories", k, None, n, UNDEFINED_NOT_CHECKED))
        rows.append(_user_mean_row(system, "list_length", k, [float(len(lists_k[u])) for u in population], None,
                                   boot))
        rows.append(_user_mean_row(system, "coverage", k, [1.0 if len(lists_k[u]) >= k else 0.0 for u in population],
                                   None, boot))
        rows.append(_row(system, "verified_share", k, _mean([1.0 if e.verified else 0.0 for e in checked]),
                         len(checked), None if checked else UNDEFINED_NOT_CHECKED))
        classes = Counter(source_class(e.source) for e in entries)
        for cls in sorted(classes):
            rows.append(_row(system, f"share:{cls}", k, round(classes[cls] / len(entries), 6), len(entries)))
    return rows


def average_rows(runs: Sequence[Sequence[dict]]) -> list[dict]:
    """One system's rows averaged over runs (the random reference's seeds): value and
    interval bounds are means over the runs that define them; a source share or first-hit
    share a run lacks counts as 0 there."""
    keyed: dict[tuple, list[dict]] = {}
    for rows in runs:
        for r in rows:
            keyed.setdefault((r["metric"], r["k"]), []).append(r)
    out = []
    for (metric, _), rows in keyed.items():
        first = dict(rows[0])
        zeros = len(runs) - len(rows) if metric.startswith(("share:", "first_hit:")) else 0
        for key in ("value", "ci_low", "ci_high"):
            values = [r[key] for r in rows if r.get(key) is not None] + [0.0] * (zeros if key == "value" else 0)
            if values:
                first[key] = round(sum(values) / len(values), 6)
        first["averaged_over"] = len(runs)
        out.append(first)
    return sorted(out, key=lambda r: (r["k"], list(keyed).index((r["metric"], r["k"]))))


# ---- query realism: how much generated queries look like real shoppers' queries ----

def _words(q: str) -> list[str]:
    return q.split()


def _length_histogram(queries: Sequence[str], cap: int = 8) -> Counter:
    return Counter(min(len(_words(q)), cap) for q in queries)


def total_variation(p: Counter, q: Counter) -> float:
    """Total variation distance between two count distributions, in [0, 1]."""
    np_, nq = sum(p.values()), sum(q.values())
    if not np_ or not nq:
        return 1.0
    return 0.5 * sum(abs(p[x] / np_ - q[x] / nq) for x in set(p) | set(q))


def jensen_shannon(p: Counter, q: Counter) -> float:
    """Jensen-Shannon divergence (base 2) between two count distributions, in [0, 1]."""
    np_, nq = sum(p.values()), sum(q.values())
    if not np_ or not nq:
        return 1.0
    total = 0.0
    for x in set(p) | set(q):
        a, b = p[x] / np_, q[x] / nq
        m = (a + b) / 2
        if a:
            total += 0.5 * a * math.log2(a / m)
        if b:
            total += 0.5 * b * math.log2(b / m)
    return total


def realism(generated: Sequence[str], real: Sequence[str], best_real_similarity: Sequence[float] | None = None,
            near_duplicate: float = 0.9) -> dict:
    """How generated queries compare with real ones (both normalized; distinct values).

    mean_words, real_mean_words: mean words per query; length_tvd: total variation between
    the word-count distributions (8+ words pooled); vocab_jsd: Jensen-Shannon divergence of
    the word distributions; oov_rate: share of generated word occurrences never seen in a
    real query; exact_real: share of generated queries equal to a real one; near_duplicate:
    share whose best cosine to a real query (`best_real_similarity`, aligned with
    `generated`) is at least `near_duplicate`.
    """
    gen, ref = sorted(set(generated)), sorted(set(real))
    if best_real_similarity is not None and len(best_real_similarity) != len(generated):
        raise ValueError("best_real_similarity must align with generated")
    real_vocab = Counter(w for q in ref for w in _words(q))
    gen_vocab = Counter(w for q in gen for w in _words(q))
    gen_words = sum(gen_vocab.values())
    out = {
        "generated": len(gen), "real": len(ref),
        "mean_words": _mean([float(len(_words(q))) for q in gen]),
        "real_mean_words": _mean([float(len(_words(q))) for q in ref]),
        "length_tvd": round(total_variation(_length_histogram(gen), _length_histogram(ref)), 6),
        "vocab_jsd": round(jensen_shannon(gen_vocab, real_vocab), 6),
        "oov_rate": round(sum(n for w, n in gen_vocab.items() if w not in real_vocab) / gen_words, 6)
        if gen_words else None,
        "exact_real": round(len(set(gen) & set(ref)) / len(gen), 6) if gen else None,
    }
    if best_real_similarity is not None:
        best = {}
        for q, s in zip(generated, best_real_similarity):
            best[q] = max(best.get(q, -1.0), float(s))
        out["near_duplicate"] = round(sum(1 for q in gen if best[q] >= near_duplicate) / len(gen), 6) if gen else None
        out["near_duplicate_threshold"] = near_duplicate
    return out

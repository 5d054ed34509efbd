"""The evaluation report: one self-contained HTML file (inline CSS and SVG, no script,
nothing fetched), so it opens from a laptop or an artifact store with no network.

Every text that came from data (titles, queries, model output) is escaped: the sample
world and real catalogs hold markup and prompt-injection strings on purpose.
"""
from __future__ import annotations

from collections import Counter
from html import escape

from pipelines.core.metrics import HEADLINE_METRICS, best_of

PALETTE = ("#1b6ca8", "#e07b39", "#3a9d5d", "#b03a48", "#7b5ea7", "#8c8c8c", "#c9a227")
CHARTS = ("query_hr", "category_hr", "semantic_similarity")
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 7px;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.best{font-weight:700;background:#eef6ee}.ci{color:#888;font-size:85%;font-weight:400}.undef{color:#999}.hit{background:#fff1b8}
.note{color:#555;font-size:13px}.small{font-size:12px}.charts{display:flex;flex-wrap:wrap;gap:18px}
.user{border:1px solid #ddd;margin:12px 0;padding:8px}.cols{display:flex;gap:10px;flex-wrap:wrap}
.col{min-width:180px;max-width:260px}.col ol{padding-left:22px;margin:4px 0}
"""


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _values(metrics: dict) -> dict[tuple[str, str, int], dict]:
    return {(r["system"], r["metric"], r["k"]): r for r in metrics["rows"]}


def _metric_table(metrics: dict) -> str:
    """Rows: metric@K; columns: systems. The best value of a headline metric is bold."""
    values = _values(metrics)
    names = [m for m in HEADLINE_METRICS if any(key[1] == m for key in values)]
    names += sorted({key[1] for key in values if key[1].startswith(("share:", "first_hit:"))})
    head = "".join(f"<th>{escape(s)}</th>" for s in metrics["systems"])
    body = []
    for m in names:
        for k in metrics["ks"]:
            rows = [values.get((s, m, k)) for s in metrics["systems"]]
            # Bold marks a clear winner: its interval clears the runner-up (best_of); none for list length.
            best = best_of(rows) if m in HEADLINE_METRICS and m != "list_length" else None
            cells = []
            for row in rows:
                if row is None and m.startswith(("share:", "first_hit:")):  # none from that source
                    cells.append('<td class="num">0</td>')
                elif row is None or row["value"] is None:
                    why = escape(row.get("undefined", "")) if row else "not measured"
                    cells.append(f'<td class="num undef" title="{why}">n/a</td>')
                else:
                    mark = " best" if best is row else ""
                    ci = f' <span class="ci">[{_fmt(row["ci_low"])}, {_fmt(row["ci_high"])}]</span>' \
                        if "ci_low" in row else ""
                    cells.append(f'<td class="num{mark}" title="n={row["n"]}">{_fmt(row["value"])}{ci}</td>')
            body.append(f"<tr><th>{escape(m)}@{k}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th>metric@K</th>{head}</tr>{''.join(body)}</table>"


def _undefined(metrics: dict) -> str:
    seen = sorted({(r["metric"], r["undefined"]) for r in metrics["rows"] if r.get("undefined")})
    if not seen:
        return ""
    items = "".join(f"<li><b>{escape(m)}</b>: undefined here, {escape(why)}</li>" for m, why in seen)
    return f"<p class='note'>Metrics this data cannot define:</p><ul class='note'>{items}</ul>"


def bar_chart(title: str, bars: list[tuple[str, float | None]], width: int = 420, color: str = PALETTE[0]) -> str:
    """A horizontal bar chart as inline SVG; values in [0, max]."""
    top = max([v for _, v in bars if v is not None] + [1e-9])
    row_h, label_w = 22, 150
    height = 28 + row_h * len(bars)
    parts = [f'<svg width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}"><text x="0" y="16" font-size="13" font-weight="600">{escape(title)}</text>']
    for i, (label, v) in enumerate(bars):
        y = 26 + i * row_h
        w = 0 if v is None else (width - label_w - 60) * v / top
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{color}"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="12">{_fmt(v)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar(title: str, rows: list[tuple[str, Counter]], width: int = 640) -> str:
    """One stacked bar per row (shares of its counter), with a legend."""
    keys = sorted({k for _, c in rows for k in c})
    colors = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(keys)}
    row_h, label_w = 22, 150
    height = 46 + row_h * len(rows)
    parts = [f'<svg width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}"><text x="0" y="16" font-size="13" font-weight="600">{escape(title)}</text>']
    for i, (label, counts) in enumerate(rows):
        y, x, total = 26 + i * row_h, float(label_w), sum(counts.values()) or 1
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{escape(label)}</text>')
        for k in keys:
            w = (width - label_w - 10) * counts.get(k, 0) / total
            if w > 0:
                parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{colors[k]}">'
                             f'<title>{escape(k)}: {counts[k]}</title></rect>')
                x += w
    lx, ly = float(label_w), 30 + row_h * len(rows)
    for k in keys:
        parts.append(f'<rect x="{lx:.0f}" y="{ly}" width="10" height="10" fill="{colors[k]}"/>'
                     f'<text x="{lx + 14:.0f}" y="{ly + 10}" font-size="12">{escape(k)}</text>')
        lx += 24 + 7 * len(k)
    parts.append("</svg>")
    return "".join(parts)


def _charts(metrics: dict) -> str:
    values = _values(metrics)
    charts = []
    for i, m in enumerate(CHARTS):
        for k in metrics["ks"]:
            bars = [(s, values[(s, m, k)]["value"]) for s in metrics["systems"] if (s, m, k) in values]
            if any(v is not None for _, v in bars):
                charts.append(bar_chart(f"{m}@{k}", bars, color=PALETTE[i]))
    return f"<div class='charts'>{''.join(charts)}</div>"


def _distributions(metrics: dict, context: dict) -> str:
    k = max(metrics["ks"])
    values = _values(metrics)
    sources = [(s, Counter({key[1][6:]: round(1000 * r["value"]) for key, r in values.items()
                            if key[0] == s and key[2] == k and key[1].startswith("share:") and r["value"]}))
               for s in metrics["systems"]]
    lengths = context.get("list_lengths", {})
    rows = []
    for s in metrics["systems"]:
        hist = lengths.get(s, Counter())
        cells = " ".join(f"{n}:{c}" for n, c in sorted(hist.items()))
        rows.append(f"<tr><th>{escape(s)}</th><td class='small'>{escape(cells)}</td></tr>")
    return (stacked_bar(f"sources of the top-{k} entries", sources)
            + "<p class='note'>List lengths (entries: users), before the cut at K:</p>"
            + f"<table>{''.join(rows)}</table>")


def _realism(metrics: dict) -> str:
    block = metrics.get("realism")
    if not block:
        return "<p class='note'>No real-query set was given: query realism not measured.</p>"
    rows = "".join(f"<tr><th>{escape(k)}</th><td class='num'>{_fmt(v)}</td></tr>" for k, v in block.items())
    return f"<table>{rows}</table>"


def _samples(context: dict) -> str:
    out = []
    before, after = context.get("sample_columns", ("history", "next day"))
    for s in context.get("samples", []):
        targets = set(s.get("targets", ()))
        cols = [f"<div class='col'><b>{escape(before)}</b><ol>{''.join(f'<li>{escape(h)}</li>' for h in s['history'])}</ol></div>",
                f"<div class='col'><b>{escape(after)}</b><ol>{''.join(f'<li>{escape(h)}</li>' for h in s['next_day'])}</ol></div>"]
        for name, entries in s["lists"].items():
            lis = "".join(
                f"<li class='{'hit' if q in targets or (c and c in targets) else ''}'>{escape(q)} "
                f"<span class='small'>({escape(src)}{', ' + escape(c) if c else ''})</span></li>"
                for q, src, c in entries)
            cols.append(f"<div class='col'><b>{escape(name)}</b><ol>{lis}</ol></div>")
        out.append(f"<div class='user'><b>{escape(str(s['user_id']))}</b><div class='cols'>{''.join(cols)}</div></div>")
    return "".join(out)


def render_report(title: str, metrics: dict, context: dict, notes: list[str] = ()) -> str:
    """The whole report as one HTML string."""
    pop = "".join(f"<tr><th>{escape(k)}</th><td class='num'>{escape(str(v))}</td></tr>"
                  for k, v in (metrics.get("population") or {}).items())
    note_html = "".join(f"<p class='note'>{escape(n)}</p>" for n in notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
{note_html}
<table>{pop}</table>
<h2>Systems against metrics</h2>
<p class="note">Bold: the best system for that metric and K, only where the low end of its bootstrap 95% interval (in brackets: users resampled, the same resamples for every system) clears the runner-up's value. <code>random</code> is the chance reference: K random catalog titles per user, averaged over seeds. Hover a cell for its denominator n.
Definitions: README, section Evaluation (and pipelines/core/metrics.py).</p>
{_metric_table(metrics)}
{_undefined(metrics)}
<h2>Hit rates and similarity</h2>
{_charts(metrics)}
<h2>List lengths and sources</h2>
{_distributions(metrics, context)}
<h2>Query realism against real shopper queries</h2>
{_realism(metrics)}
<h2>Sampled {len(context.get("samples", []))} side by side</h2>
<p class="note">Highlighted: an entry equal to a next-day query, or whose category is a next-day category.</p>
{_samples(context)}
</body></html>
"""


def format_metrics(metrics: dict) -> str:
    """A Markdown table per K: systems as rows, the headline metrics as columns, each with
    its bootstrap 95% interval; bold where a system is clearly best (best_of); `n/a` where
    the data cannot define a metric."""
    rows = {(r["system"], r["metric"], r["k"]): r for r in metrics["rows"]}
    shown = [m for m in HEADLINE_METRICS if any(key[1] == m for key in rows)]
    lines = []
    for k in metrics["ks"]:
        best = {m: best_of([rows.get((s, m, k)) for s in metrics["systems"]]) for m in shown if m != "list_length"}
        lines.append(f"| K={k} | " + " | ".join(shown) + " |")
        lines.append("| --- |" + " ---: |" * len(shown))
        for s in metrics["systems"]:
            cells = []
            for m in shown:
                r = rows.get((s, m, k))
                if r is None or r["value"] is None:
                    cells.append("n/a")
                    continue
                text = f"{r['value']:.3f}" + (f" ({r['ci_low']:.3f}–{r['ci_high']:.3f})" if "ci_low" in r else "")
                cells.append(f"**{text}**" if best.get(m) is r else text)
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)

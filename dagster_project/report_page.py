"""`REPORTS_DIR/index.html`: the reports on one page for sales managers, opened from a shared
folder in any browser, offline. It is self-contained: styles and charts (SVG) are inside it; it
runs no script and loads nothing. The call lists it links to lie beside it (`call_lists/`).

It shows what a sales manager asks first: how many customers are active, at risk, inactive;
how that moved month by month; whom each rep should call first; and whether the inactivity
flag has named the customers who then stayed away (the backtest), under both rules.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from dagster_project.call_lists import file_names
from dagster_project.reports_database import replace_atomically

PAGE_FILE = "index.html"
MONTHS_SHOWN = 24
CALLS_SHOWN_PER_REP = 20
STAGES = (
    ("active", "Active", "#2e7d32"),
    ("at_risk", "At risk", "#f9a825"),
    ("inactive", "Inactive", "#c62828"),
    ("never_purchased", "Never purchased", "#757575"),
)
RULE_COLORS = {"billing_cycle": "#1565c0", "adaptive": "#6a1b9a"}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #212121; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; margin-top: 2.5rem; border-bottom: 1px solid #e0e0e0; }
h3 { font-size: 1.05rem; margin-bottom: .3rem; }
p.note { color: #616161; font-size: .9rem; max-width: 60rem; }
.tiles { display: flex; gap: 1rem; flex-wrap: wrap; margin-top: 1rem; }
.tile { border: 1px solid #e0e0e0; border-left: .4rem solid; border-radius: .3rem;
        padding: .6rem 1rem; min-width: 11rem; }
.tile .count { font-size: 1.8rem; font-weight: 600; }
.tile .label { color: #616161; }
table { border-collapse: collapse; font-size: .85rem; margin: .4rem 0 1rem; }
th, td { text-align: left; padding: .25rem .6rem; border-bottom: 1px solid #eeeeee;
         vertical-align: top; }
th { background: #fafafa; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
.legend span { display: inline-block; margin-right: 1rem; font-size: .85rem; }
.legend i { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem;
            vertical-align: -.1rem; }
svg text { font-size: 11px; fill: #424242; }
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _money(value) -> str:
    return "" if value is None else f"{float(value):,.2f}"


def _legend(series: list[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><i style="background:{color}"></i>{_e(name)}</span>' for name, color in series
        )
        + "</div>"
    )


def _svg(width: int, height: int) -> str:
    return (
        f'<svg role="img" viewBox="0 0 {width} {height}" width="100%" '
        'xmlns="http://www.w3.org/2000/svg">'
    )


def _x_label(labels: list[str], i: int, x: float, y: float) -> list[str]:
    """The label under position `i`: every one up to 12, every third past that."""
    if len(labels) <= 12 or i % 3 == 0:
        return [f'<text x="{x:.1f}" y="{y}" text-anchor="middle">{_e(labels[i])}</text>']
    return []


def _chart(parts: list[str], series: list[tuple]) -> str:
    """The chart's legend (a name and color per series), then the chart."""
    return _legend([(name, color) for name, color, _ in series]) + "".join([*parts, "</svg>"])


def bar_chart(labels: list[str], series: list[tuple[str, str, list[int]]], stacked: bool) -> str:
    """Bars per label, of each series (name, color, values): stacked, or side by side. Each bar
    carries its figure as a tooltip."""
    width, height, left, bottom, top = 960, 260, 48, 36, 12
    totals = (
        [sum(values[i] for _, _, values in series) for i in range(len(labels))]
        if stacked
        else [max((values[i] for _, _, values in series), default=0) for i in range(len(labels))]
    )
    highest = max(totals, default=0) or 1
    slot = (width - left) / max(len(labels), 1)
    scale = (height - bottom - top) / highest
    parts = [
        _svg(width, height),
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        'stroke="#9e9e9e"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{highest:,}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end">0</text>',
    ]
    bar_width = slot * (0.8 if stacked else 0.8 / max(len(series), 1))
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.1
        base = height - bottom
        for number, (name, color, values) in enumerate(series):
            bar = values[i] * scale
            x = x0 if stacked else x0 + number * bar_width
            y = base - bar
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{bar:.1f}" '
                f'fill="{color}"><title>{_e(label)}: {values[i]:,} {_e(name)}</title></rect>'
            )
            if stacked:
                base = y
        parts += _x_label(labels, i, x0 + slot * 0.4, height - bottom + 14)
    return _chart(parts, series)


def line_chart(labels: list[str], series: list[tuple[str, str, list[float | None]]]) -> str:
    """Lines of shares (0 to 1) per label; a missing value breaks its line."""
    width, height, left, bottom, top = 960, 240, 48, 36, 12
    slot = (width - left - 12) / max(len(labels) - 1, 1)
    scale = height - bottom - top
    parts = [_svg(width, height)]
    for share in (0, 0.5, 1):
        y = height - bottom - share * scale
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" stroke="#e0e0e0"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{share:.0%}</text>'
        )
    for name, color, values in series:
        points: list[str] = []
        segments: list[list[str]] = [points]
        for i, value in enumerate(values):
            if value is None:
                points = []
                segments.append(points)
                continue
            x, y = left + i * slot, height - bottom - float(value) * scale
            points.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}">'
                f"<title>{_e(labels[i])}: {_e(name)} {float(value):.0%}</title></circle>"
            )
        for segment in segments:
            if len(segment) > 1:
                parts.append(
                    f'<polyline points="{" ".join(segment)}" fill="none" stroke="{color}" '
                    'stroke-width="2"/>'
                )
    for i in range(len(labels)):
        parts += _x_label(labels, i, left + i * slot, height - bottom + 14)
    return _chart(parts, series)


def _stage_tiles(con) -> tuple[str, object]:
    rows = con.execute(
        """
        select
            max(as_of_date),
            count(*) filter (where lifecycle_stage = 'active'),
            count(*) filter (where lifecycle_stage = 'at_risk'),
            count(*) filter (where lifecycle_stage = 'inactive'),
            count(*) filter (where lifecycle_stage = 'never_purchased'),
            sum(revenue_at_risk) filter (where lifecycle_stage = 'at_risk'),
            sum(revenue_at_risk) filter (where lifecycle_stage = 'inactive')
        from reports.customer_activity_report
        """
    ).fetchone()
    as_of_date, counts, revenue = rows[0], rows[1:5], {"at_risk": rows[5], "inactive": rows[6]}
    tiles = []
    for (stage, label, color), count in zip(STAGES, counts, strict=True):
        worth = (
            f'<div class="label">{_money(revenue[stage] or 0)} revenue at risk</div>'
            if stage in revenue
            else ""
        )
        tiles.append(
            f'<div class="tile" id="stage-{stage}" style="border-left-color:{color}">'
            f'<div class="count">{count:,}</div><div class="label">{label}</div>{worth}</div>'
        )
    return '<div class="tiles">' + "".join(tiles) + "</div>", as_of_date


def _months_section(con) -> str:
    rows = con.execute(
        """
        select month_start, active_at_end, inactive_at_end, newly_inactive, reactivated,
            new_customers
        from reports.activity_kpis_monthly
        order by month_start desc
        limit ?
        """,
        [MONTHS_SHOWN],
    ).fetchall()[::-1]
    if not rows:
        return "<p>No purchase yet.</p>"
    labels = [row[0].strftime("%Y-%m") for row in rows]
    column = lambda n: [row[n] for row in rows]  # noqa: E731
    return (
        "<h3>Active and inactive customers at each month's end</h3>"
        + bar_chart(
            labels,
            [
                ("active (at risk included)", "#2e7d32", column(1)),
                ("inactive", "#c62828", column(2)),
            ],
            stacked=True,
        )
        + "<h3>Customers lost and won back each month</h3>"
        + bar_chart(
            labels,
            [
                ("new customers", "#1565c0", column(5)),
                ("became inactive", "#c62828", column(3)),
                ("reactivated", "#2e7d32", column(4)),
            ],
            stacked=False,
        )
    )


def _calls_section(con) -> str:
    rows = con.execute(
        """
        select sales_rep, rank_within_rep, customer_id, customer_name, lifecycle_stage,
            revenue_at_risk, last_purchase_date, status_reason, items_they_used_to_buy
        from reports.win_back_call_list
        where rank_within_rep <= ?
        order by sales_rep nulls last, rank_within_rep
        """,
        [CALLS_SHOWN_PER_REP],
    ).fetchall()
    if not rows:
        return "<p>Nobody to call: no customer is at risk or inactive.</p>"
    files = file_names([row[0] for row in rows])
    sections = []
    for rep in dict.fromkeys(row[0] for row in rows):
        calls = [row for row in rows if row[0] == rep]
        name = rep if rep is not None else "No sales rep"
        link = f"call_lists/{files[rep]}.csv"
        body = "".join(
            "<tr>"
            f'<td class="number">{rank}</td><td>{_e(customer_name or customer_id)}'
            f"<br><small>{_e(customer_id)}</small></td><td>{_e(stage.replace('_', ' '))}</td>"
            f'<td class="number">{_money(revenue)}</td><td>{_e(last)}</td><td>{_e(reason)}</td>'
            f"<td>{_e(items)}</td></tr>"
            for _, rank, customer_id, customer_name, stage, revenue, last, reason, items in calls
        )
        sections.append(
            f'<h3>{_e(name)} <small>(<a href="{_e(link)}">the whole list</a>)</small></h3>'
            '<table><thead><tr><th class="number">#</th><th>customer</th><th>stage</th>'
            '<th class="number">revenue at risk</th><th>last purchase</th><th>why</th>'
            f"<th>what they bought most</th></tr></thead><tbody>{body}</tbody></table>"
        )
    return "".join(sections)


def _backtest_section(con) -> str:
    rows = con.execute(
        """
        select inactivity_rule, month_end, customers, flagged, flagged_silent,
            unflagged_silent, precision, recall, horizon_days
        from reports.inactivity_backtest
        order by month_end
        """
    ).fetchall()
    if not rows:
        return (
            "<p>Not enough history yet: the backtest needs month ends at least the horizon's "
            "days before the as-of date.</p>"
        )
    month_ends = sorted({row[1] for row in rows})[-MONTHS_SHOWN:]
    labels = [month_end.strftime("%Y-%m") for month_end in month_ends]
    by_key = {(row[0], row[1]): row for row in rows}
    series = []
    for rule, color in RULE_COLORS.items():
        # Precision in the rule's color, recall in a lighter shade of it.
        for measure, column, shade in (("precision", 6, ""), ("recall", 7, "80")):
            values = [
                None if (rule, m) not in by_key else by_key[(rule, m)][column] for m in month_ends
            ]
            series.append((f"{rule.replace('_', ' ')} rule: {measure}", color + shade, values))
    latest = [
        by_key[(rule, month_ends[-1])] for rule in RULE_COLORS if (rule, month_ends[-1]) in by_key
    ]
    table = "".join(
        f"<tr><td>{_e(rule.replace('_', ' '))}</td><td>{_e(month_end)}</td>"
        f'<td class="number">{customers:,}</td><td class="number">{flagged:,}</td>'
        f'<td class="number">{flagged_silent:,}</td><td class="number">{unflagged_silent:,}</td>'
        f'<td class="number">{"" if precision is None else f"{float(precision):.0%}"}</td>'
        f'<td class="number">{"" if recall is None else f"{float(recall):.0%}"}</td></tr>'
        for (
            rule,
            month_end,
            customers,
            flagged,
            flagged_silent,
            unflagged_silent,
            precision,
            recall,
            _,
        ) in latest
    )
    horizon = rows[0][8]
    return (
        f'<p class="note">On each month end, the customers the rule flagged inactive, and whether '
        f"they then bought nothing in the next {horizon} days. Precision: the share of the flagged "
        f"who stayed away (a rule with low precision sends reps to customers who would have come "
        f"back anyway). Recall: the share of all who stayed away that the rule had flagged.</p>"
        + line_chart(labels, series)
        + "<h3>The latest month end both rules can be judged on</h3>"
        '<table><thead><tr><th>rule</th><th>month end</th><th class="number">customers</th>'
        '<th class="number">flagged</th><th class="number">flagged, then silent</th>'
        '<th class="number">not flagged, then silent</th><th class="number">precision</th>'
        f'<th class="number">recall</th></tr></thead><tbody>{table}</tbody></table>'
    )


def render_page(con) -> str:
    """The page's HTML, from the reports of the connection's warehouse."""
    tiles, as_of_date = _stage_tiles(con)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Customer activity as of {_e(as_of_date)}</title><style>{STYLE}</style></head>"
        f"<body><h1>Customer activity as of {_e(as_of_date)}</h1>"
        '<p class="note">Active customers bought within their inactivity threshold; at risk, they '
        "are past three quarters of it; inactive, past all of it. Revenue at risk: what they "
        "bought in the year up to their last purchase.</p>"
        f"{tiles}"
        f'<h2 id="months">Month by month</h2>{_months_section(con)}'
        f'<h2 id="calls">Whom to call first</h2><p class="note">Each sales rep\'s at-risk and '
        f"inactive customers, most revenue at risk first (the first {CALLS_SHOWN_PER_REP}; the "
        f"whole list is the rep's file in call_lists/).</p>{_calls_section(con)}"
        f'<h2 id="backtest">Does the flag work?</h2>{_backtest_section(con)}'
        f'<p class="note">Written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from the '
        "reports in reports.duckdb beside this page.</p></body></html>"
    )


def write_report_page(con, destination: Path) -> None:
    """Writes the page to `destination`, beside the old one and renamed over it."""
    page = render_page(con)
    replace_atomically(lambda partial: partial.write_text(page, encoding="utf-8"), destination)

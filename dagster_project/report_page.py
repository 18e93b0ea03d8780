"""`REPORTS_DIR/index.html`: the reports on one page for sales managers, opened from a shared
folder in any browser, offline. It is self-contained: its styles and its charts' library
(plotly.js, about 5 MB, inlined once) are inside it, and it loads nothing. The call lists it links
to lie beside it (`call_lists/`).

It shows what a sales manager asks first: how many customers are active, at risk, inactive;
how that moved month by month; whom each rep should call first; and whether the inactivity
flag has named the customers who then stayed away (the backtest), under both rules.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from dagster_project.call_lists import CALL_LIST_VIEW, file_names
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
CHART_HEIGHT = 300

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
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _money(value) -> str:
    return "" if value is None else f"{float(value):,.2f}"


def _figure_html(figure, chart_id: str) -> str:
    """A Plotly figure as a div and the script that draws it; plotly.js itself is inlined once,
    in the page's head."""
    figure.update_layout(
        template="plotly_white",
        height=CHART_HEIGHT,
        margin={"l": 56, "r": 16, "t": 16, "b": 40},
        legend={"orientation": "h", "y": -0.18, "traceorder": "normal"},
        font={"family": "system-ui, sans-serif", "size": 12},
        hovermode="x unified",
    )
    return pio.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,
        div_id=chart_id,
        default_height=f"{CHART_HEIGHT}px",
        config={"displaylogo": False, "responsive": True},
    )


def bar_chart(
    chart_id: str, labels: list[str], series: list[tuple[str, str, list[int]]], stacked: bool
) -> str:
    """Bars per label, of each series (name, color, values): stacked, or side by side."""
    figure = go.Figure(
        [
            go.Bar(name=name, x=labels, y=values, marker_color=color)
            for name, color, values in series
        ]
    )
    figure.update_layout(barmode="stack" if stacked else "group")
    figure.update_yaxes(tickformat=",d", rangemode="tozero")
    return _figure_html(figure, chart_id)


def line_chart(
    chart_id: str, labels: list[str], series: list[tuple[str, str, list[float | None]]]
) -> str:
    """Lines of shares (0 to 1) per label; a missing value breaks its line. Each series is
    (name, color, values, dash): dashed for recall, solid for precision."""
    figure = go.Figure(
        [
            go.Scatter(
                name=name,
                x=labels,
                y=[None if value is None else float(value) for value in values],
                mode="lines+markers",
                line={"color": color, "dash": dash},
                connectgaps=False,
            )
            for name, color, values, dash in series
        ]
    )
    figure.update_yaxes(tickformat=".0%", range=[0, 1.02])
    return _figure_html(figure, chart_id)


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
            "chart-statuses",
            labels,
            [
                ("active (at risk included)", "#2e7d32", column(1)),
                ("inactive", "#c62828", column(2)),
            ],
            stacked=True,
        )
        + "<h3>Customers lost and won back each month</h3>"
        + bar_chart(
            "chart-changes",
            labels,
            [
                ("new customers", "#1565c0", column(5)),
                ("became inactive", "#c62828", column(3)),
                ("reactivated", "#2e7d32", column(4)),
            ],
            stacked=False,
        )
    )


def _calls_section(con, calls: str) -> str:
    rows = con.execute(
        f"""
        select sales_rep, rank_within_rep, customer_id, customer_name, lifecycle_stage,
            revenue_at_risk, last_purchase_date, status_reason, items_they_used_to_buy,
            lapsed_regular_items
        from {calls}
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
        rep_calls = [row for row in rows if row[0] == rep]
        name = rep if rep is not None else "No sales rep"
        link = f"call_lists/{files[rep]}.csv"
        body = "".join(
            "<tr>"
            f'<td class="number">{rank}</td><td>{_e(customer_name or customer_id)}'
            f"<br><small>{_e(customer_id)}</small></td><td>{_e(stage.replace('_', ' '))}</td>"
            f'<td class="number">{_money(revenue)}</td><td>{_e(last)}</td><td>{_e(reason)}</td>'
            f"<td>{_e(items)}</td><td>{_e(lapsed)}</td></tr>"
            for (
                _,
                rank,
                customer_id,
                customer_name,
                stage,
                revenue,
                last,
                reason,
                items,
                lapsed,
            ) in rep_calls
        )
        sections.append(
            f'<h3>{_e(name)} <small>(<a href="{_e(link)}">the whole list</a>)</small></h3>'
            '<table><thead><tr><th class="number">#</th><th>customer</th><th>stage</th>'
            '<th class="number">revenue at risk</th><th>last purchase</th><th>why</th>'
            "<th>what they bought most</th><th>stopped buying (at risk)</th></tr></thead>"
            f"<tbody>{body}</tbody></table>"
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
        # Each rule in its color: precision solid, recall dashed.
        for measure, column, dash in (("precision", 6, "solid"), ("recall", 7, "dash")):
            values = [
                None if (rule, m) not in by_key else by_key[(rule, m)][column] for m in month_ends
            ]
            series.append((f"{rule.replace('_', ' ')} rule: {measure}", color, values, dash))
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
        + line_chart("chart-backtest", labels, series)
        + "<h3>The latest month end both rules can be judged on</h3>"
        '<table><thead><tr><th>rule</th><th>month end</th><th class="number">customers</th>'
        '<th class="number">flagged</th><th class="number">flagged, then silent</th>'
        '<th class="number">not flagged, then silent</th><th class="number">precision</th>'
        f'<th class="number">recall</th></tr></thead><tbody>{table}</tbody></table>'
    )


def render_page(con, calls: str = CALL_LIST_VIEW) -> str:
    """The page's HTML, from the reports of the connection's warehouse (the win-back call list
    from `calls`, a relation of its rows: the view, or the rows computed once)."""
    tiles, as_of_date = _stage_tiles(con)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Customer activity as of {_e(as_of_date)}</title><style>{STYLE}</style>"
        # plotly.js, the charting library, inlined once: the page opens offline, from a shared
        # folder, with no CDN and no server.
        f"<script>{get_plotlyjs()}</script></head>"
        f"<body><h1>Customer activity as of {_e(as_of_date)}</h1>"
        '<p class="note">Active customers bought within their inactivity threshold; at risk, they '
        "are past three quarters of it; inactive, past all of it. Revenue at risk: what they "
        "bought in the year up to their last purchase.</p>"
        f"{tiles}"
        f'<h2 id="months">Month by month</h2>{_months_section(con)}'
        f'<h2 id="calls">Whom to call first</h2><p class="note">Each sales rep\'s at-risk and '
        f"inactive customers, most revenue at risk first (the first {CALLS_SHOWN_PER_REP}; the "
        f"whole list is the rep's file in call_lists/).</p>{_calls_section(con, calls)}"
        f'<h2 id="backtest">Does the flag work?</h2>{_backtest_section(con)}'
        f'<p class="note">Written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from the '
        "reports in reports.duckdb beside this page.</p></body></html>"
    )


def write_report_page(con, destination: Path, calls: str = CALL_LIST_VIEW) -> None:
    """Writes the page to `destination`, beside the old one and renamed over it."""
    page = render_page(con, calls)
    replace_atomically(lambda partial: partial.write_text(page, encoding="utf-8"), destination)

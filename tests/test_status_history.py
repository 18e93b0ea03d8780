"""Status over time on the hand-built fixture (its README lists the customers), as of 2024-06-30,
under the billing-cycle rule: every change of status, written out by hand, and the monthly KPIs
they add up to, in the warehouse, in the published file and on the KPI asset's page."""

import datetime as dt
from decimal import Decimal

import duckdb

D = dt.date.fromisoformat
AS_OF = D("2024-06-30")

# (customer, change_date, change_kind, days_inactive). Thresholds: weekly 28, monthly 90,
# quarterly 180, annual 400, none 90 days; inactive on the last purchase date + threshold + 1.
CHANGES = [
    ("00042", D("2024-06-01"), "first_purchase", None),  # inactive from 2024-08-31
    ("C01", D("2024-04-01"), "first_purchase", None),  # inactive from 2024-07-01
    ("C02", D("2024-03-31"), "first_purchase", None),
    ("C02", D("2024-06-30"), "became_inactive", None),  # on the as-of date itself
    ("C03", D("2024-05-06"), "first_purchase", None),  # and 2024-05-20, 14 days on: no lapse
    ("C03", D("2024-06-18"), "became_inactive", None),
    # Quarterly: 2023-07-01, 2023-07-02, then 197 days to 2024-01-15.
    ("C04", D("2023-07-01"), "first_purchase", None),
    ("C04", D("2023-12-30"), "became_inactive", None),
    ("C04", D("2024-01-15"), "reactivated", 16),
    ("C05", D("2023-05-01"), "first_purchase", None),
    ("C05", D("2024-06-05"), "became_inactive", None),  # 401 days, over 29 February
    ("C07", D("2024-02-01"), "first_purchase", None),
    ("C07", D("2024-05-02"), "became_inactive", None),
    ("C08", D("2024-06-25"), "first_purchase", None),  # its order of 2024-07-05 is not seen
    ("C11", D("2024-05-30"), "first_purchase", None),
    ("C12", D("2024-06-16"), "first_purchase", None),
]

# (month_start, month_end, active/inactive at start, new, newly inactive, reactivated,
# active/inactive at end, recovery rate, attrition rate)
KPIS = [
    ("2023-05-01", "2023-05-31", 0, 0, 1, 0, 0, 1, 0, None, None),
    ("2023-06-01", "2023-06-30", 1, 0, 0, 0, 0, 1, 0, None, "0.0000"),
    ("2023-07-01", "2023-07-31", 1, 0, 1, 0, 0, 2, 0, None, "0.0000"),
    ("2023-08-01", "2023-08-31", 2, 0, 0, 0, 0, 2, 0, None, "0.0000"),
    ("2023-09-01", "2023-09-30", 2, 0, 0, 0, 0, 2, 0, None, "0.0000"),
    ("2023-10-01", "2023-10-31", 2, 0, 0, 0, 0, 2, 0, None, "0.0000"),
    ("2023-11-01", "2023-11-30", 2, 0, 0, 0, 0, 2, 0, None, "0.0000"),
    ("2023-12-01", "2023-12-31", 2, 0, 0, 1, 0, 1, 1, None, "0.5000"),
    ("2024-01-01", "2024-01-31", 1, 1, 0, 0, 1, 2, 0, "1.0000", "0.0000"),
    ("2024-02-01", "2024-02-29", 2, 0, 1, 0, 0, 3, 0, None, "0.0000"),
    ("2024-03-01", "2024-03-31", 3, 0, 1, 0, 0, 4, 0, None, "0.0000"),
    ("2024-04-01", "2024-04-30", 4, 0, 1, 0, 0, 5, 0, None, "0.0000"),
    ("2024-05-01", "2024-05-31", 5, 0, 2, 1, 0, 6, 1, None, "0.2000"),
    ("2024-06-01", "2024-06-30", 6, 1, 3, 3, 0, 6, 4, "0.0000", "0.5000"),
]


def expected_kpis() -> list[tuple]:
    return [
        (
            AS_OF,
            D(start),
            D(end),
            *counts,
            None if recovery is None else Decimal(recovery),
            None if attrition is None else Decimal(attrition),
        )
        for start, end, *counts, recovery, attrition in KPIS
    ]


def test_every_change_of_status_is_listed_up_to_the_as_of_date(hand_built_run):
    assert hand_built_run.query(
        "select customer_id, change_date, change_kind, days_inactive "
        "from reports.customer_status_changes order by all"
    ) == sorted(CHANGES)
    assert hand_built_run.query(
        "select distinct as_of_date from reports.customer_status_changes"
    ) == [(AS_OF,)]


def test_the_monthly_kpis_add_up_the_changes(hand_built_run):
    rows = hand_built_run.query("select * from reports.activity_kpis_monthly order by month_start")
    assert rows == expected_kpis()
    # The last month ends with the customer report's statuses: 6 active, 4 inactive.
    assert hand_built_run.query(
        "select count(*) filter (where activity_status = 'active'), "
        "count(*) filter (where activity_status = 'inactive') "
        "from reports.customer_activity_report"
    ) == [(6, 4)]


def test_the_published_file_holds_the_same_history(hand_built_run):
    with duckdb.connect(str(hand_built_run.reports_dir / "reports.duckdb"), read_only=True) as con:
        kpis = con.execute("select * from activity_kpis_monthly order by month_start").fetchall()
        assert kpis == expected_kpis()
        assert con.execute(
            "select customer_id, change_date, change_kind, days_inactive "
            "from customer_status_changes order by all"
        ).fetchall() == sorted(CHANGES)


def test_the_kpi_asset_shows_the_last_12_months(hand_built_run):
    metadata = hand_built_run.metadata("reports/activity_kpis_monthly")
    table = [dict(record.data) for record in metadata["last_12_months"].records]
    assert [row["month_start"] for row in table] == [start for start, *_ in KPIS[-12:]]
    assert table[-1] == {
        "month_start": "2024-06-01",
        "active_at_end": 6,
        "inactive_at_end": 4,
        "new_customers": 3,
        "newly_inactive": 3,
        "reactivated": 0,
        "recovery_rate": 0.0,
        "attrition_rate": 0.5,
    }
    plot = metadata["last_12_months_plot"]
    assert plot.splitlines()[-2] == f"2024-06   {'#' * 24}{'.' * 16} |      3 / 0     "
    assert (
        metadata["latest_month_active_at_end"],
        metadata["latest_month_inactive_at_end"],
        metadata["latest_month_newly_inactive"],
        metadata["latest_month_reactivated"],
    ) == (6, 4, 3, 0)


# The backtest, as of 2024-06-30 with a horizon of 90 days: the month ends up to 2024-04-01.
# C05 (annual, first purchase 2023-05-01, never again) is active and silent on all of them.
# C04 (quarterly) counts from July: active and silent while its purchase of 2024-01-15 is more
# than 90 days away (July to September), active and not silent in October and November,
# inactive from 2023-12-30 (flagged, not silent: it buys on 2024-01-15), then active and silent
# after its last purchase. C07 counts from February, C02 from March: active and silent.
# (customers, flagged, flagged_silent, unflagged_silent, precision)
BACKTEST = {
    "2023-05-31": (1, 0, 0, 1, None),
    "2023-06-30": (1, 0, 0, 1, None),
    "2023-07-31": (2, 0, 0, 2, None),
    "2023-08-31": (2, 0, 0, 2, None),
    "2023-09-30": (2, 0, 0, 2, None),
    "2023-10-31": (2, 0, 0, 1, None),
    "2023-11-30": (2, 0, 0, 1, None),
    "2023-12-31": (2, 1, 0, 1, "0.0000"),
    "2024-01-31": (2, 0, 0, 2, None),
    "2024-02-29": (3, 0, 0, 3, None),
    "2024-03-31": (4, 0, 0, 4, None),
}


def expected_backtest() -> list[tuple]:
    # No customer of the fixture has the 4 purchase dates the adaptive rule needs: both rules
    # give the same counts. Recall is 0 throughout: nobody flagged went silent.
    return [
        (AS_OF, rule, D(month_end), 90, *counts, None if precision is None else Decimal(precision),
         Decimal("0.0000"))
        for rule in ("adaptive", "billing_cycle")
        for month_end, (*counts, precision) in BACKTEST.items()
    ]  # fmt: skip


def test_the_backtest_counts_who_the_flag_named_and_who_went_silent(hand_built_run):
    rows = hand_built_run.query(
        "select * from reports.inactivity_backtest order by inactivity_rule, month_end"
    )
    assert rows == expected_backtest()
    with duckdb.connect(str(hand_built_run.reports_dir / "reports.duckdb"), read_only=True) as con:
        published = con.execute(
            "select * from inactivity_backtest order by inactivity_rule, month_end"
        ).fetchall()
    assert published == rows


def test_the_backtest_asset_shows_each_rules_last_month_ends(hand_built_run):
    metadata = hand_built_run.metadata("reports/inactivity_backtest")
    assert metadata["dagster/row_count"] == 22
    for rule in ("billing_cycle", "adaptive"):
        table = [dict(r.data) for r in metadata[f"{rule}_last_12_month_ends"].records]
        assert [row["month_end"] for row in table] == list(BACKTEST)
        assert table[7] == {
            "month_end": "2023-12-31",
            "customers": 2,
            "flagged": 1,
            "flagged_silent": 0,
            "unflagged_silent": 1,
            "precision": 0.0,
            "recall": 0.0,
        }
        # The latest month end flags nobody: no precision to plot, a recall of 0.
        assert f"{rule}_latest_precision" not in metadata
        assert metadata[f"{rule}_latest_recall"] == 0.0

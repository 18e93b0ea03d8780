"""Two customers followed day by day through the whole pipeline, under both inactivity rules,
against rows written by hand:

- W01 (weekly billing cycle, threshold 28 days) buys coffee every Wednesday from 2024-05-01 to
  2024-05-29 (five purchase dates, usual gap 7 days), misses the next three Wednesdays and comes
  back on 2024-06-26. Under the adaptive rule (T = min(28, max(14, ceil(3 x 7))) = 21) the customer
  is at risk on 2024-06-14 (16 days > 0.75 x 21), inactive from 2024-06-20 (22 days > 21) and
  reactivated on 2024-06-26 after 6 inactive days. Under the billing-cycle rule the same customer
  is at risk on 2024-06-20 (22 > 0.75 x 28) but still active, and the return 28 days after the
  last purchase is no change of status (inactive only from day 29).
- M01 (monthly, threshold 90) keeps buying coffee every 20 days but bought filters on three dates
  10 days apart and then stopped: on 2024-06-20 the filters are lapsed (60 days > 3 x 10) while
  the customer is active, the coffee is regular and a mug bought once is occasional.
"""

import datetime as dt
from decimal import Decimal

import pytest

from tests.conftest import dbt_project_setting_changed, run_pipeline

D = dt.date.fromisoformat
AT_RISK_DAY, INACTIVE_DAY, RETURN_DAY = D("2024-06-14"), D("2024-06-20"), D("2024-06-26")

CUSTOMERS = """customer_id,customer_name,email,sales_rep,segment,billing_cycle
W01,Weekly Buyer,w01@example.com,Ana,SMB,weekly
M01,Monthly Buyer,m01@example.com,Ben,SMB,monthly
"""
ITEMS = """item_id,item_name,category
COF,Coffee,Beverages
FIL,Filter,Supplies
MUG,Mug,Merchandise
"""
HEADER = "order_id,order_date,customer_id,item_id,line_number,quantity,amount,order_type\n"
ORDERS_UP_TO_JUNE = HEADER + (
    "W-1,2024-05-01,W01,COF,1,1,10.00,invoice\n"
    "W-2,2024-05-08,W01,COF,1,1,10.00,invoice\n"
    "W-3,2024-05-15,W01,COF,1,1,10.00,invoice\n"
    "W-4,2024-05-22,W01,COF,1,1,10.00,invoice\n"
    "W-5,2024-05-29,W01,COF,1,1,10.00,invoice\n"
    "M-1,2024-04-01,M01,FIL,1,2,8.00,invoice\n"
    "M-1,2024-04-01,M01,COF,2,3,30.00,invoice\n"
    "M-2,2024-04-11,M01,FIL,1,2,8.00,invoice\n"
    "M-3,2024-04-21,M01,FIL,1,2,8.00,invoice\n"
    "M-3,2024-04-21,M01,COF,2,3,30.00,invoice\n"
    "M-4,2024-05-11,M01,COF,1,3,30.00,invoice\n"
    "M-4,2024-05-11,M01,MUG,2,1,12.00,invoice\n"
    "M-5,2024-05-31,M01,COF,1,3,30.00,invoice\n"
)
# Extracted on the day W01 comes back: files extracted after the as-of date are not read.
ORDERS_OF_THE_RETURN = HEADER + "W-6,2024-06-26,W01,COF,1,1,10.00,invoice\n"

CUSTOMER_QUERY = """
    select customer_id, last_purchase_date, days_since_last_purchase,
        usual_days_between_purchases, expected_next_purchase_date, threshold_rule,
        inactivity_threshold_days, inactive_since, activity_status, lifecycle_stage, status_reason
    from reports.customer_activity_report order by customer_id
"""
ITEM_QUERY = """
    select customer_id, item_id, last_purchase_date, days_since_last_purchase, purchase_count,
        total_quantity, net_revenue, item_lapsed, usual_days_between_purchases, item_status
    from reports.customer_item_activity_report order by customer_id, item_id
"""
CHANGES_QUERY = """
    select customer_id, change_date, change_kind, days_inactive
    from reports.customer_status_changes order by customer_id, change_date
"""
CALLS_QUERY = """
    select sales_rep, rank_within_rep, customer_id, lifecycle_stage, status_reason,
        lapsed_regular_items
    from reports.win_back_call_list order by sales_rep, rank_within_rep
"""
QUERIES = {
    "customers": CUSTOMER_QUERY,
    "items": ITEM_QUERY,
    "changes": CHANGES_QUERY,
    "calls": CALLS_QUERY,
}


@pytest.fixture(scope="module")
def days(dbt_manifest, tmp_path_factory) -> dict[tuple[str, dt.date], dict[str, list[tuple]]]:
    """What each report said after the daily run of each day, under each rule: one warehouse
    per rule, its days run in order as the daily schedule runs them, the orders extract of the
    return arriving on its day (so that each run after the first is a daily, incremental build;
    the build plan is checked below)."""
    seen = {}

    def run_days(rule: str, as_of_dates: list[dt.date]) -> None:
        out = tmp_path_factory.mktemp(f"rhythms_{rule}")
        raw = out / "raw"
        for folder, name, text in (
            ("customers", "customers_2024-04-01.csv", CUSTOMERS),
            ("items", "items.csv", ITEMS),
            ("orders", "orders_2024-06-01.csv", ORDERS_UP_TO_JUNE),
        ):
            (raw / folder).mkdir(parents=True, exist_ok=True)
            (raw / folder / name).write_text(text)
        for as_of_date in as_of_dates:
            if as_of_date == RETURN_DAY:
                (raw / "orders" / "orders_2024-06-26.csv").write_text(ORDERS_OF_THE_RETURN)
            run = run_pipeline(raw, out / "warehouse.duckdb", out / "reports", as_of_date)
            seen[(rule, as_of_date)] = {name: run.query(sql) for name, sql in QUERIES.items()}
            seen[(rule, as_of_date)]["page"] = (out / "reports" / "index.html").read_text()
            how_built = run.metadata("intermediate/int_orders")["dbt_build"]
            seen[(rule, as_of_date)]["build"] = how_built.split(":")[0]

    run_days("billing_cycle", [INACTIVE_DAY, RETURN_DAY])
    with dbt_project_setting_changed("inactivity_rule: billing_cycle", "inactivity_rule: adaptive"):
        run_days("adaptive", [AT_RISK_DAY, INACTIVE_DAY, RETURN_DAY])
    return seen


def test_each_day_after_the_first_is_a_daily_build(days):
    assert {key: seen["build"] for key, seen in days.items()} == {
        ("billing_cycle", INACTIVE_DAY): "full",
        ("billing_cycle", RETURN_DAY): "incremental",
        ("adaptive", AT_RISK_DAY): "full",
        ("adaptive", INACTIVE_DAY): "incremental",
        ("adaptive", RETURN_DAY): "incremental",
    }


def usual(days_text: str) -> Decimal:
    return Decimal(days_text)


def test_a_weekly_buyer_who_misses_two_weeks_is_at_risk_then_inactive_under_the_adaptive_rule(
    days,
):
    (m01, w01) = days[("adaptive", AT_RISK_DAY)]["customers"]
    assert w01 == (
        "W01", D("2024-05-29"), 16, usual("7.0"), D("2024-06-05"), "adaptive", 21, None,
        "active", "at_risk",
        "no purchase for 16 days; usually buys every 7 days; inactive after 21",
    )  # fmt: skip
    # M01: purchase dates 04-01, 04-11, 04-21, 05-11, 05-31, gaps 10, 10, 20, 20: median 15,
    # T = min(90, max(14, 45)) = 45.
    assert m01 == (
        "M01", D("2024-05-31"), 14, usual("15.0"), D("2024-06-15"), "adaptive", 45, None,
        "active", "active",
        "no purchase for 14 days; usually buys every 15 days; inactive after 45",
    )  # fmt: skip

    (_, w01) = days[("adaptive", INACTIVE_DAY)]["customers"]
    assert w01 == (
        "W01", D("2024-05-29"), 22, usual("7.0"), D("2024-06-05"), "adaptive", 21,
        D("2024-06-20"), "inactive", "inactive",
        "no purchase for 22 days; usually buys every 7 days; inactive after 21",
    )  # fmt: skip
    assert days[("adaptive", AT_RISK_DAY)]["calls"] == [
        ("Ana", 1, "W01", "at_risk",
         "no purchase for 16 days; usually buys every 7 days; inactive after 21", None),
    ]  # fmt: skip
    assert days[("adaptive", INACTIVE_DAY)]["calls"] == [
        ("Ana", 1, "W01", "inactive", w01[-1], None)
    ]


def test_the_same_weekly_buyer_stays_active_under_the_billing_cycle_rule(days):
    (m01, w01) = days[("billing_cycle", INACTIVE_DAY)]["customers"]
    assert w01 == (
        "W01", D("2024-05-29"), 22, usual("7.0"), D("2024-06-05"), "billing_cycle", 28, None,
        "active", "at_risk",
        "no purchase for 22 days; usually buys every 7 days; inactive after 28",
    )  # fmt: skip
    assert m01 == (
        "M01", D("2024-05-31"), 20, usual("15.0"), D("2024-06-15"), "billing_cycle", 90, None,
        "active", "active",
        "no purchase for 20 days; usually buys every 15 days; inactive after 90",
    )  # fmt: skip
    # At risk, and the coffee bought every week lapsed (22 days > 3 x 7): the rep is told so, on
    # the call list and on the page.
    assert days[("billing_cycle", INACTIVE_DAY)]["calls"] == [
        ("Ana", 1, "W01", "at_risk", w01[-1], "Coffee")
    ]
    assert "<td>Coffee</td><td>Coffee</td></tr>" in days[("billing_cycle", INACTIVE_DAY)]["page"]


def test_the_return_is_a_reactivation_under_the_adaptive_rule_only(days):
    # Adaptive: inactive on 05-29 + 21 + 1 = 06-20, back on 06-26: 6 days inactive. Billing
    # cycle: 06-26 is 28 days after 05-29, not more than 28: no change.
    assert days[("adaptive", RETURN_DAY)]["changes"] == [
        ("M01", D("2024-04-01"), "first_purchase", None),
        ("W01", D("2024-05-01"), "first_purchase", None),
        ("W01", D("2024-06-20"), "became_inactive", None),
        ("W01", D("2024-06-26"), "reactivated", 6),
    ]
    assert days[("billing_cycle", RETURN_DAY)]["changes"] == [
        ("M01", D("2024-04-01"), "first_purchase", None),
        ("W01", D("2024-05-01"), "first_purchase", None),
    ]
    assert days[("adaptive", RETURN_DAY)]["calls"] == []
    assert days[("billing_cycle", RETURN_DAY)]["calls"] == []


def test_an_item_lapses_while_the_customer_stays_active(days):
    def item(customer_id, item_id, last, days_since, purchases, quantity, revenue, lapsed, gap,
             status):  # fmt: skip
        return (
            customer_id, item_id, D(last), days_since, purchases,
            Decimal(quantity).quantize(Decimal("0.0001")), Decimal(revenue), lapsed,
            None if gap is None else Decimal(gap), status,
        )  # fmt: skip

    # On 2024-06-20 under the billing-cycle rule M01 is active (20 days of 90). Its filters,
    # bought 04-01, 04-11, 04-21, are lapsed by their own rhythm (60 days > 3 x 10) though not
    # by the customer's threshold (60 <= 90); its coffee (every 20 days, last 20 days ago) is
    # regular; the mug, bought once, is occasional. W01's coffee, 22 days after the last of its
    # weekly purchases, is lapsed by its rhythm (> 21) while the customer is only at risk.
    assert days[("billing_cycle", INACTIVE_DAY)]["items"] == [
        item("M01", "COF", "2024-05-31", 20, 4, "12", "120.00", False, "20.0", "regular"),
        item("M01", "FIL", "2024-04-21", 60, 3, "6", "24.00", False, "10.0", "lapsed"),
        item("M01", "MUG", "2024-05-11", 40, 1, "1", "12.00", False, None, "occasional"),
        item("W01", "COF", "2024-05-29", 22, 5, "5", "50.00", False, "7.0", "lapsed"),
    ]
    # Under the adaptive rule M01's threshold is 45: the filters are lapsed by it too; W01 is
    # inactive, and so past its threshold on every item.
    assert days[("adaptive", INACTIVE_DAY)]["items"] == [
        item("M01", "COF", "2024-05-31", 20, 4, "12", "120.00", False, "20.0", "regular"),
        item("M01", "FIL", "2024-04-21", 60, 3, "6", "24.00", True, "10.0", "lapsed"),
        item("M01", "MUG", "2024-05-11", 40, 1, "1", "12.00", False, None, "occasional"),
        item("W01", "COF", "2024-05-29", 22, 5, "5", "50.00", True, "7.0", "lapsed"),
    ]
    # Six days later the filters are still lapsed and the coffee still regular; W01 bought
    # coffee again (6 purchases, gaps 7, 7, 7, 7, 28: still a usual 7), 0 days ago.
    assert [row[:5] + row[-2:] for row in days[("billing_cycle", RETURN_DAY)]["items"]] == [
        ("M01", "COF", D("2024-05-31"), 26, 4, Decimal("20.0"), "regular"),
        ("M01", "FIL", D("2024-04-21"), 66, 3, Decimal("10.0"), "lapsed"),
        ("M01", "MUG", D("2024-05-11"), 46, 1, None, "occasional"),
        ("W01", "COF", D("2024-06-26"), 0, 6, Decimal("7.0"), "regular"),
    ]

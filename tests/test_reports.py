"""Both report tables over the hand-built fixture, compared row by row with rows written by hand.

See tests/fixtures/hand_built/README.md for what each customer shows. As of 2024-06-30 the
thresholds are weekly 28, monthly 90, quarterly 180, annual 400, none 90 days.
"""

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb

D = dt.date.fromisoformat
AS_OF = D("2024-06-30")


def money(text: str) -> Decimal:
    return Decimal(text).quantize(Decimal("0.01"))


CUSTOMER_COLUMNS = (
    "as_of_date", "customer_id", "customer_name", "email", "sales_rep", "segment",
    "billing_cycle", "first_purchase_date", "last_purchase_date", "days_since_last_purchase",
    "purchase_count", "lifetime_net_revenue", "revenue_last_365_days", "revenue_at_risk",
    "avg_days_between_purchases", "usual_days_between_purchases", "expected_next_purchase_date",
    "threshold_rule", "inactivity_threshold_days", "inactive_since", "activity_status",
    "is_inactive", "lifecycle_stage", "status_reason",
)  # fmt: skip

# (customer_id, name, email, rep, segment, cycle, first, last, days, purchases, lifetime,
#  last 365 days, avg days between, threshold, inactive since, status)
CUSTOMER_ROWS = [
    ("00042", None, None, None, None, None, D("2024-06-01"), D("2024-06-01"), 29, 1,
     "30.00", "30.00", None, 90, None, "active"),
    ("C01", "Boundary Ninety", "c01@example.com", "Ana", "SMB", "monthly",
     D("2024-04-01"), D("2024-04-01"), 90, 1, "90.00", "90.00", None, 90, None, "active"),
    ("C02", "Boundary Ninety-One", "c02@example.com", "Ana", "SMB", "monthly",
     D("2024-03-31"), D("2024-03-31"), 91, 1, "80.00", "80.00", None, 90, D("2024-06-30"),
     "inactive"),
    ("C03", "Weekly Lapsed", "c03@example.com", "Ben", "SMB", "weekly",
     D("2024-05-06"), D("2024-05-20"), 41, 2, "50.00", "50.00", "14.0", 28, D("2024-06-18"),
     "inactive"),
    ("C04", "Quarterly Active", "c04@example.com", "Ben", "Enterprise", "quarterly",
     D("2023-07-01"), D("2024-01-15"), 167, 3, "575.00", "475.00", "99.0", 180, None, "active"),
    ("C05", "Annual Lapsed", "c05@example.com", "Chen", "Enterprise", "annual",
     D("2023-05-01"), D("2023-05-01"), 426, 1, "400.00", "0.00", None, 400, D("2024-06-05"),
     "inactive"),
    ("C06", "Credit Only", None, "Chen", "SMB", None,
     None, None, None, 0, "-50.00", "-50.00", None, 90, None, "never_purchased"),
    ("C07", "Zero Value", "c07@example.com", "Ana", "Mid-Market", "monthly",
     D("2024-02-01"), D("2024-02-01"), 150, 1, "60.00", "60.00", None, 90, D("2024-05-02"),
     "inactive"),
    ("C08", "Future Order", "c08@example.com", "Ben", "SMB", "quarterly",
     D("2024-06-25"), D("2024-06-25"), 5, 1, "40.00", "40.00", None, 180, None, "active"),
    ("C09", "No Orders", "c09@example.com", "Chen", "SMB", "annual",
     None, None, None, 0, "0.00", "0.00", None, 400, None, "never_purchased"),
    ("C11", "Resent Order", "c11@example.com", "Ana", "SMB", "monthly",
     D("2024-05-30"), D("2024-05-30"), 31, 1, "30.00", "30.00", None, 90, None, "active"),
    ("C12", "Parquet Weekly", "c12@example.com", "Ben", "SMB", "weekly",
     D("2024-06-16"), D("2024-06-23"), 7, 2, "20.00", "20.00", "7.0", 28, None, "active"),
]  # fmt: skip

# Each customer's rhythm (the median of the days between their purchase dates, and the next
# purchase it expects), lifecycle stage (at risk: active, past 0.75 of the threshold) and
# status in words, under the billing-cycle rule.
RHYTHMS = {
    "00042": (None, None, "active", "no purchase for 29 days; inactive after 90"),
    "C01": (None, None, "at_risk", "no purchase for 90 days; inactive after 90"),
    "C02": (None, None, "inactive", "no purchase for 91 days; inactive after 90"),
    "C03": ("14.0", D("2024-06-03"), "inactive",
            "no purchase for 41 days; usually buys every 14 days; inactive after 28"),
    # 2023-07-01, 2023-07-02, 2024-01-15: gaps of 1 and 197 days.
    "C04": ("99.0", D("2024-04-23"), "at_risk",
            "no purchase for 167 days; usually buys every 99 days; inactive after 180"),
    "C05": (None, None, "inactive", "no purchase for 426 days; inactive after 400"),
    "C06": (None, None, "never_purchased", "no purchase on record"),
    "C07": (None, None, "inactive", "no purchase for 150 days; inactive after 90"),
    "C08": (None, None, "active", "no purchase for 5 days; inactive after 180"),
    "C09": (None, None, "never_purchased", "no purchase on record"),
    "C11": (None, None, "active", "no purchase for 31 days; inactive after 90"),
    "C12": ("7.0", D("2024-06-30"), "active",
            "no purchase for 7 days; usually buys every 7 days; inactive after 28"),
}  # fmt: skip

# The net revenue of the orders in the 365 days ending on the last purchase: C01's credit memo
# and C04's refund come after it; C04's purchases of 365 and 364 days before the as-of date are
# within a year of its last purchase; C12's void counts for nothing.
REVENUE_AT_RISK = {
    "00042": "30.00", "C01": "100.00", "C02": "80.00", "C03": "50.00", "C04": "600.00",
    "C05": "400.00", "C06": "0.00", "C07": "60.00", "C08": "40.00", "C09": "0.00",
    "C11": "30.00", "C12": "20.00",
}  # fmt: skip

ITEM_COLUMNS = (
    "as_of_date", "customer_id", "customer_name", "sales_rep", "activity_status", "item_id",
    "item_name", "category", "first_purchase_date", "last_purchase_date",
    "days_since_last_purchase", "purchase_count", "total_quantity", "net_revenue", "item_lapsed",
    "usual_days_between_purchases", "item_status",
)  # fmt: skip

# (customer_id, item_id, first, last, days, purchases, quantity, revenue, lapsed)
ITEM_ROWS = [
    ("00042", "I9", D("2024-06-01"), D("2024-06-01"), 29, 1, "2", "30.00", False),
    ("C01", "I1", D("2024-04-01"), D("2024-04-01"), 90, 1, "0", "90.00", False),
    ("C02", "I1", D("2024-03-31"), D("2024-03-31"), 91, 1, "2", "80.00", True),
    ("C03", "I3", D("2024-05-06"), D("2024-05-20"), 41, 2, "10", "50.00", True),
    ("C04", "I1", D("2024-01-15"), D("2024-01-15"), 167, 1, "2", "275.00", False),
    ("C04", "I2", D("2023-07-01"), D("2023-07-02"), 364, 2, "3", "300.00", True),
    ("C05", "I2", D("2023-05-01"), D("2023-05-01"), 426, 1, "4", "400.00", True),
    ("C06", "I2", None, None, None, 0, "-2", "-50.00", True),
    ("C07", "I1", D("2024-02-01"), D("2024-02-01"), 150, 1, "1", "60.00", True),
    ("C07", "I3", None, None, None, 0, "1", "0.00", True),
    ("C08", "I1", D("2024-06-25"), D("2024-06-25"), 5, 1, "1", "40.00", False),
    ("C11", "I1", D("2024-05-30"), D("2024-05-30"), 31, 1, "3", "30.00", False),
    ("C12", "I1", None, None, None, 0, "1", "0.00", True),
    ("C12", "I3", D("2024-06-16"), D("2024-06-23"), 7, 2, "4", "20.00", False),
]  # fmt: skip

ITEMS = {
    "I1": ("Widget", "Hardware"),
    "I2": ("Gadget", "Hardware"),
    "I3": ("Refill", "Consumables"),
}


def expected_customer_rows() -> list[tuple]:
    rows = []
    for (customer_id, name, email, rep, segment, cycle, first, last, days, purchases, lifetime,
         recent, avg_days, threshold, inactive_since, status) in CUSTOMER_ROWS:  # fmt: skip
        usual_days, expected_next, stage, reason = RHYTHMS[customer_id]
        rows.append(
            (AS_OF, customer_id, name, email, rep, segment, cycle, first, last, days, purchases,
             money(lifetime), money(recent), money(REVENUE_AT_RISK[customer_id]),
             None if avg_days is None else Decimal(avg_days),
             None if usual_days is None else Decimal(usual_days), expected_next,
             "billing_cycle", threshold, inactive_since, status, status == "inactive", stage,
             reason)
        )  # fmt: skip
    return rows


def expected_item_rows() -> list[tuple]:
    customers = {row[0]: row for row in CUSTOMER_ROWS}
    rows = []
    for customer_id, item_id, first, last, days, purchases, quantity, revenue, lapsed in ITEM_ROWS:
        customer = customers[customer_id]
        item_name, category = ITEMS.get(item_id, (None, None))
        rows.append(
            (AS_OF, customer_id, customer[1], customer[3], customer[15], item_id, item_name,
             category, first, last, days, purchases, Decimal(quantity).quantize(Decimal("0.0001")),
             money(revenue), lapsed,
             # No item of the fixture was bought on 3 dates: none has a rhythm of its own.
             None, "occasional")
        )  # fmt: skip
    return rows


def columns_of(run, table: str) -> tuple[str, ...]:
    return tuple(
        name
        for (name,) in run.query(
            "select column_name from information_schema.columns "
            f"where table_schema = 'reports' and table_name = '{table}' order by ordinal_position"
        )
    )


def test_the_run_succeeds(hand_built_run):
    assert hand_built_run.result.success


def assert_report_rows(
    run, table: str, columns: tuple[str, ...], order_by: str, expected: list[tuple]
) -> None:
    """The table has exactly these columns and rows; a mismatch shows column by column."""
    assert columns_of(run, table) == columns
    actual = run.query(f"select * from reports.{table} order by {order_by}")
    for actual_row, expected_row in zip(actual, expected, strict=False):
        assert dict(zip(columns, actual_row, strict=True)) == dict(
            zip(columns, expected_row, strict=True)
        )
    assert len(actual) == len(expected)


def test_customer_activity_report_matches_the_hand_written_rows(hand_built_run):
    assert_report_rows(
        hand_built_run,
        "customer_activity_report",
        CUSTOMER_COLUMNS,
        "customer_id",
        expected_customer_rows(),
    )


def test_customer_item_activity_report_matches_the_hand_written_rows(hand_built_run):
    assert_report_rows(
        hand_built_run,
        "customer_item_activity_report",
        ITEM_COLUMNS,
        "customer_id, item_id",
        expected_item_rows(),
    )


def parquet_differences(warehouse: Path, table: str, path: Path) -> tuple[int, int]:
    """Rows in one of the warehouse's table and the Parquet file but not in the other, and the
    Parquet file's rows."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        differences = con.execute(
            f"""
            select count(*) from (
                (select * from reports.{table} except all select * from read_parquet('{path}'))
                union all
                (select * from read_parquet('{path}') except all select * from reports.{table})
            )
            """
        ).fetchone()[0]
        published_rows = con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]
    return differences, published_rows


def test_published_parquet_equals_the_warehouse_table(hand_built_run):
    path = hand_built_run.reports_dir / "customer_activity_report.parquet"
    assert parquet_differences(hand_built_run.warehouse, "customer_activity_report", path) == (
        0,
        len(CUSTOMER_ROWS),
    )


def test_the_item_report_parquet_file_is_written_on_demand(hand_built_run, tmp_path):
    from dagster import materialize

    from dagster_project import settings
    from dagster_project.defs.published_reports import customer_item_activity_report_parquet
    from dagster_project.defs.warehouse import WarehouseResource
    from tests.conftest import shipped_instance

    # The daily job leaves it out: it is about as large as the order history.
    assert not (hand_built_run.reports_dir / "customer_item_activity_report.parquet").exists()
    warehouse, reports_dir = tmp_path / "warehouse.duckdb", tmp_path / "reports"
    shutil.copy(hand_built_run.warehouse, warehouse)
    shutil.copytree(hand_built_run.reports_dir, reports_dir)
    with (
        settings.environment({"REPORTS_DIR": str(reports_dir)}),
        shipped_instance() as instance,
    ):
        result = materialize(
            [customer_item_activity_report_parquet],
            resources={"warehouse": WarehouseResource(database=str(warehouse))},
            instance=instance,
        )
    assert result.success
    path = reports_dir / "customer_item_activity_report.parquet"
    assert parquet_differences(warehouse, "customer_item_activity_report", path) == (
        0,
        len(ITEM_ROWS),
    )


def test_every_raw_row_is_loaded_with_its_source(hand_built_run):
    assert hand_built_run.query(
        "select _source_file, count(*), min(_source_line), max(_source_line) "
        "from raw.orders group by all order by 1"
    ) == [
        ("orders_2024-05-31.csv", 12, 2, 13),
        ("orders_2024-06-24.parquet", 3, 1, 3),
        ("orders_2024-06-30.csv", 7, 2, 8),
    ]
    assert hand_built_run.query("select count(*) from raw.customers") == [(12,)]
    assert hand_built_run.query("select count(*) from raw.items") == [(3,)]


def test_dbt_tests_ran_as_asset_checks_and_passed(hand_built_run):
    checks = hand_built_run.result.get_asset_check_evaluations()
    assert checks, "the dbt data tests should report as asset checks"
    assert all(check.passed for check in checks)

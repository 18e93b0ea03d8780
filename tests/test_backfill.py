"""Rebuilding the reports for a past as-of date gives what a run on that day gave, and leaves
the current published reports to the latest date.

On 2024-06-20 only `orders_2024-05-31.csv` and `customers_2024-01-01.csv` (and the undated item
master) had been extracted. Later files re-send order R-001 with a line dropped, add orders dated
before 2024-06-20, and rename C01 and move them to a monthly billing cycle: a backfill for
2024-06-20 made today, with every file present, must not see any of that.
"""

import datetime as dt
import shutil

import duckdb

from tests.conftest import run_pipeline

BACKFILL_DATE = dt.date(2024, 6, 20)
FILES_EXTRACTED_BY_THEN = (
    "orders/orders_2024-05-31.csv",
    "customers/customers_2024-01-01.csv",
    "items/items.csv",
)
REPORT_TABLES = ("customer_activity_report", "customer_item_activity_report")


def test_a_backfill_equals_the_run_made_on_that_day(hand_built_run, hand_built_raw_dir, tmp_path):
    # The run made on 2024-06-20, with the files that existed then.
    then_raw = tmp_path / "raw_then"
    for name in FILES_EXTRACTED_BY_THEN:
        (then_raw / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(hand_built_raw_dir / name, then_raw / name)
    run_then = run_pipeline(then_raw, tmp_path / "then.duckdb", tmp_path / "then", BACKFILL_DATE)
    assert run_then.result.success

    # The backfill, made later on the warehouse and reports of the 2024-06-30 run, every file there.
    warehouse, reports_dir = tmp_path / "warehouse.duckdb", tmp_path / "reports"
    shutil.copy(hand_built_run.warehouse, warehouse)
    shutil.copytree(hand_built_run.reports_dir, reports_dir)
    backfill = run_pipeline(hand_built_raw_dir, warehouse, reports_dir, BACKFILL_DATE)
    assert backfill.result.success

    for table in REPORT_TABLES:
        expected = run_then.query(f"select * from reports.{table} order by all")
        assert backfill.query(f"select * from reports.{table} order by all") == expected, table

    # What makes the two runs equal, in numbers: the first version of R-001 (2 + 1 items for
    # 35.00, not 3 for 30.00), C01 under the old master (weekly, so inactive after 80 days), and
    # no customer known only from later files (C06, C08, 00042, C12).
    assert backfill.query(
        """
        select customer_id, customer_name, billing_cycle, days_since_last_purchase,
               lifetime_net_revenue::varchar, activity_status
        from reports.customer_activity_report
        where customer_id in ('C01', 'C11') order by customer_id
        """
    ) == [
        ("C01", "Old Name", "weekly", 80, "100.00", "inactive"),
        ("C11", None, None, 21, "35.00", "active"),
    ]
    assert backfill.query("select count(*) from reports.customer_activity_report") == [(7,)]


def test_a_backfill_keeps_the_latest_published_reports_and_files_its_own_apart(
    hand_built_run, hand_built_raw_dir, tmp_path
):
    warehouse, reports_dir = tmp_path / "warehouse.duckdb", tmp_path / "reports"
    shutil.copy(hand_built_run.warehouse, warehouse)
    shutil.copytree(hand_built_run.reports_dir, reports_dir)
    current_files = {
        name: (reports_dir / name).read_bytes()
        for name in (
            "reports.duckdb",
            "customer_activity_report.parquet",
            "inactive_customers.csv",
        )
    }

    backfill = run_pipeline(hand_built_raw_dir, warehouse, reports_dir, BACKFILL_DATE)

    assert backfill.result.success
    # Sales teams keep reading the reports as of 2024-06-30, untouched.
    for name, content in current_files.items():
        assert (reports_dir / name).read_bytes() == content, name
    published = {
        e.asset_key.to_user_string() for e in backfill.result.get_asset_materialization_events()
    }
    assert {key for key in published if key.startswith("published/")} == {
        "published/backfilled_reports"
    }
    # The backfill's reports are filed under its date.
    backfill_dir = reports_dir / "backfills" / str(BACKFILL_DATE)
    assert sorted(p.name for p in backfill_dir.iterdir()) == [
        "customer_activity_report.parquet",
        "customer_item_activity_report.parquet",
        "inactive_customers.csv",
    ]
    with duckdb.connect() as con:
        for table in REPORT_TABLES:
            rows = con.execute(
                f"select * from '{backfill_dir / table}.parquet' order by all"
            ).fetchall()
            assert rows == backfill.query(f"select * from reports.{table} order by all"), table
        call_list = con.execute(
            f"select customer_id from '{backfill_dir}/inactive_customers.csv' order by all"
        ).fetchall()
    assert call_list == backfill.query(
        "select customer_id from reports.inactive_customer_call_list order by all"
    )
    # A run on the day itself files nothing apart.
    assert not (hand_built_run.reports_dir / "backfills").exists()


def test_a_backfill_warns_about_the_extracts_it_set_aside(
    hand_built_run, hand_built_raw_dir, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(hand_built_run.warehouse, warehouse)

    backfill = run_pipeline(hand_built_raw_dir, warehouse, tmp_path / "reports", BACKFILL_DATE)

    (check,) = [
        c
        for c in backfill.result.get_asset_check_evaluations()
        if c.check_name == "extracts_dated_after_the_as_of_date"
    ]
    assert (check.passed, check.severity.value) == (False, "WARN")
    assert check.metadata["dagster_dbt/failed_row_count"].value == 3
    # The run made on the as-of date itself sets nothing aside.
    (on_the_day,) = [
        c
        for c in hand_built_run.result.get_asset_check_evaluations()
        if c.check_name == "extracts_dated_after_the_as_of_date"
    ]
    assert on_the_day.passed

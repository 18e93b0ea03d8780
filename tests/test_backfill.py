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

from tests.conftest import HAND_BUILT_AS_OF, run_pipeline

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
        "call_lists",
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


def files_named_ahead_check(run):
    (check,) = [
        c
        for c in run.result.get_asset_check_evaluations()
        if c.check_name == "extracts_dated_after_the_as_of_date"
    ]
    return check


def test_a_backfill_sets_aside_the_later_extracts_without_a_warning(
    hand_built_run, hand_built_raw_dir, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(hand_built_run.warehouse, warehouse)

    backfill = run_pipeline(hand_built_raw_dir, warehouse, tmp_path / "reports", BACKFILL_DATE)

    # Three files are dated after 2024-06-20, as expected of a past date: not a warning.
    check = files_named_ahead_check(backfill)
    assert (check.passed, check.metadata["dagster_dbt/failed_row_count"].value) == (True, 0)
    assert files_named_ahead_check(hand_built_run).passed


def test_an_extract_named_after_today_is_listed_by_name(
    hand_built_run, hand_built_raw_dir, tmp_path
):
    raw_dir, warehouse = tmp_path / "raw", tmp_path / "warehouse.duckdb"
    shutil.copytree(hand_built_raw_dir, raw_dir)
    shutil.copy(hand_built_run.warehouse, warehouse)
    (raw_dir / "orders" / "orders_2999-01-01.csv").write_text(
        "order_id,order_date,customer_id,item_id,quantity,amount\nZ-1,2024-06-01,C01,I1,1,5.00\n"
    )

    # On a backfill as on the day itself: the file is named ahead of its time.
    for as_of_date in (BACKFILL_DATE, dt.date(2024, 6, 30)):
        run = run_pipeline(raw_dir, warehouse, tmp_path / "reports", as_of_date)
        assert run.result.success
        check = files_named_ahead_check(run)
        assert (check.passed, check.severity.value) == (False, "WARN")
        assert check.metadata["dagster_dbt/failed_row_count"].value == 1
        assert [dict(r.data) for r in check.metadata["files_named_ahead"].value.records] == [
            {
                "entity": "orders",
                "file": "orders_2999-01-01.csv",
                "extracted_on": "2999-01-01",
                "rows_loaded": 1,
            }
        ]


def test_a_backfill_publishes_the_metadata_of_the_current_reports_for_its_date(
    hand_built_run, hand_built_raw_dir, tmp_path
):
    # The run made on 2024-06-20, with the files that existed then.
    then_raw = tmp_path / "raw_then"
    for name in FILES_EXTRACTED_BY_THEN:
        (then_raw / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(hand_built_raw_dir / name, then_raw / name)
    run_then = run_pipeline(then_raw, tmp_path / "then.duckdb", tmp_path / "then", BACKFILL_DATE)
    warehouse, reports_dir = tmp_path / "warehouse.duckdb", tmp_path / "reports"
    shutil.copy(hand_built_run.warehouse, warehouse)
    shutil.copytree(hand_built_run.reports_dir, reports_dir)

    backfill = run_pipeline(hand_built_raw_dir, warehouse, reports_dir, BACKFILL_DATE)

    metadata = backfill.metadata("published/backfilled_reports")
    on_the_day = run_then.metadata("published/customer_activity_report")
    for key in (
        "as_of_date",
        "customers_active",
        "customers_inactive",
        "customers_never_purchased",
        "inactive_lifetime_net_revenue",
    ):
        assert metadata[key] == on_the_day[key], key
    for key in ("top_10_inactive_customers", "customers_by_as_of_date"):
        assert metadata[key].records == on_the_day[key].records, key
    call_list = run_then.metadata("published/inactive_customers_csv")
    assert metadata["call_list_first_10_rows"].records == call_list["first_10_rows"].records
    assert (
        metadata["customer_activity_report_rows"],
        metadata["customer_item_activity_report_rows"],
        metadata["inactive_customers_csv_rows"],
    ) == (
        7,
        *run_then.query("select count(*) from reports.customer_item_activity_report")[0],
        call_list["dagster/row_count"],
    )
    assert metadata["path"] == str(reports_dir / "backfills" / str(BACKFILL_DATE))


def test_after_a_backfill_the_job_runs_again_for_the_latest_date(
    hand_built_run, hand_built_raw_dir, tmp_path, monkeypatch
):
    from dagster import DagsterInstance, RunRequest, SkipReason, build_run_status_sensor_context

    from dagster_project.definitions import defs

    warehouse, reports_dir = tmp_path / "warehouse.duckdb", tmp_path / "reports"
    shutil.copy(hand_built_run.warehouse, warehouse)
    shutil.copytree(hand_built_run.reports_dir, reports_dir)
    backfill = run_pipeline(hand_built_raw_dir, warehouse, reports_dir, BACKFILL_DATE)
    monkeypatch.setenv("REPORTS_DIR", str(reports_dir))
    sensor = defs.resolve_sensor_def("latest_date_after_backfill")

    def evaluate(run):
        with DagsterInstance.ephemeral() as instance:
            context = build_run_status_sensor_context(
                sensor_name=sensor.name,
                dagster_event=run.result.get_run_success_event(),
                dagster_instance=instance,
                dagster_run=run.result.dagster_run,
            )
            return sensor(context)

    request = evaluate(backfill)
    assert isinstance(request, RunRequest)
    assert request.tags == {"as_of_date": "2024-06-30", "trigger": "latest_date_after_backfill"}
    assert request.run_config["ops"] == {"dbt_models": {"config": {"as_of_date": "2024-06-30"}}}
    # That run is an ordinary run for the date of the published reports: nothing follows it.
    latest = run_pipeline(hand_built_raw_dir, warehouse, reports_dir, HAND_BUILT_AS_OF)
    assert latest.query("select distinct as_of_date from reports.customer_activity_report") == [
        (HAND_BUILT_AS_OF,)
    ]
    assert isinstance(evaluate(latest), SkipReason)

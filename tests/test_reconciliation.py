"""The blocking check `every_row_accounted_for` stops the run when the warehouse no longer holds
every row read from a file: rows deleted from a raw table after their load, or doubled. The dbt
test `every_order_line_is_accounted_for` does the same for the order lines on their way from the
raw table to the reports."""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dagster_project.settings import DBT_PROJECT_DIR
from tests.conftest import HAND_BUILT_AS_OF, run_pipeline


def test_rows_lost_or_doubled_after_their_load_fail_the_check_and_stop_the_run(
    hand_built_raw_dir, tmp_path, dbt_manifest
):
    raw_dir = tmp_path / "raw"
    shutil.copytree(hand_built_raw_dir, raw_dir)
    warehouse, reports_dir = tmp_path / "warehouse.duckdb", tmp_path / "reports"
    assert run_pipeline(raw_dir, warehouse, reports_dir, HAND_BUILT_AS_OF).result.success
    published = {path.name: path.read_bytes() for path in reports_dir.iterdir() if path.is_file()}

    # Between runs, one order line disappears from the warehouse and one customer row is doubled
    # (a hand-made repair gone wrong); no extract file changes, so the next load reads nothing.
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "delete from raw.orders where _source_file = 'orders_2024-05-31.csv' "
            "and _source_line = 3"
        )
        con.execute(
            "insert into raw.customers select * from raw.customers "
            "where _source_file = 'customers_2024-06-30.csv' and _source_line = 2"
        )

    next_day = HAND_BUILT_AS_OF + dt.timedelta(days=1)
    run = run_pipeline(raw_dir, warehouse, reports_dir, next_day, raise_on_error=False)

    assert not run.result.success
    checks = {
        (c.asset_key.to_user_string(), c.check_name): c
        for c in run.result.get_asset_check_evaluations()
    }
    orders = checks[("raw/orders", "every_row_accounted_for")]
    customers = checks[("raw/customers", "every_row_accounted_for")]
    items = checks[("raw/items", "every_row_accounted_for")]
    assert (orders.passed, customers.passed, items.passed) == (False, False, True)
    assert orders.metadata["per_file"].value == (
        "| file | rows read | loaded | quarantined |\n|---|---|---|---|\n"
        "| orders_2024-05-31.csv | 12 | 11 | 0 |"
    )
    assert customers.metadata["per_file"].value == (
        "| file | rows read | loaded | quarantined |\n|---|---|---|---|\n"
        "| customers_2024-06-30.csv | 11 | 12 | 0 |"
    )
    # Nothing downstream ran: no dbt model was built and the published files are as they were.
    assert sorted({e.asset_key.path[0] for e in run.result.get_asset_materialization_events()}) == [
        "raw"
    ]
    assert {
        path.name: path.read_bytes() for path in reports_dir.iterdir() if path.is_file()
    } == published

    # What the check says to do loads the files again, and the run goes through.
    assert orders.description == (
        "raw.orders and the quarantine do not hold the rows read from 'orders_2024-05-31.csv': "
        "the warehouse was changed after their load. To load them again, run `delete from "
        "raw.load_ledger where entity = 'orders' and source_file in ('orders_2024-05-31.csv')` "
        "on the warehouse, then the pipeline."
    )
    with duckdb.connect(str(warehouse)) as con:
        for check in (orders, customers):
            con.execute(check.description.split("`")[1])
    again = run_pipeline(raw_dir, warehouse, reports_dir, next_day)
    assert again.result.success
    fresh = run_pipeline(raw_dir, tmp_path / "fresh.duckdb", tmp_path / "fresh_reports", next_day)
    query = "select * from reports.customer_activity_report order by all"
    assert again.query(query) == fresh.query(query)


def dbt_test_failures(warehouse: Path, test_name: str, target: Path) -> list[dict]:
    """Runs one dbt data test on `warehouse` (as of the hand-built date), as `dbt test` by hand
    does; returns the rows it failed on (empty: it passed)."""
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "test",
            "--select",
            test_name,
            "--store-failures",
            "--target-path",
            str(target),
        ],
        cwd=DBT_PROJECT_DIR,
        env={
            **os.environ,
            "WAREHOUSE_PATH": str(warehouse),
            "AS_OF_DATE": HAND_BUILT_AS_OF.isoformat(),
            "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
            "DBT_LOG_PATH": str(target / "logs"),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    (result,) = json.loads((target / "run_results.json").read_text())["results"]
    assert (completed.returncode == 0) == (result["status"] == "pass"), completed.stdout[-3000:]
    if result["status"] == "pass":
        return []
    assert result["status"] == "fail", completed.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        relation = con.execute(f"select * from {result['relation_name']} order by all")
        columns = [c[0] for c in relation.description]
        return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]


@pytest.mark.parametrize(
    ("damage", "stored_file", "lines_stored"),
    [
        # The one line of the current version of order R-001 lost on its way to the reports:
        # a build that drops it must not pass for a line superseded by a later file.
        (
            "delete from intermediate.int_order_lines_current "
            "where order_id = 'R-001' and line_number = 1",
            None,
            0,
        ),
        # The same line counted twice.
        (
            "insert into intermediate.int_order_lines_current "
            "select * from intermediate.int_order_lines_current "
            "where order_id = 'R-001' and line_number = 1",
            "orders_2024-06-30.csv",
            2,
        ),
    ],
    ids=["lost", "counted_twice"],
)
def test_an_order_line_lost_or_counted_twice_on_its_way_to_the_reports_fails_the_test(
    hand_built_run, tmp_path, damage, stored_file, lines_stored
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(hand_built_run.warehouse, warehouse)
    # The build as it is passes: R-001's first version (2 lines of orders_2024-05-31.csv) is
    # superseded by its version in orders_2024-06-30.csv (1 line); the line dated after the
    # as-of date counts too (C08's B-005: it is in a file extracted by then).
    assert dbt_test_failures(warehouse, "every_order_line_is_accounted_for", tmp_path / "a") == []

    with duckdb.connect(str(warehouse)) as con:
        con.execute(damage)

    assert dbt_test_failures(warehouse, "every_order_line_is_accounted_for", tmp_path / "b") == [
        {
            "order_id": "R-001",
            "current_file": "orders_2024-06-30.csv",
            "lines_expected": 1,
            "stored_file": stored_file,
            "lines_stored": lines_stored,
        }
    ]

"""Running the pipeline again on the same extracts reads no file again and publishes the same
reports, byte for byte."""

import shutil

import duckdb

from tests.conftest import HAND_BUILT_AS_OF, run_pipeline


def test_a_second_run_on_the_same_files_changes_nothing(
    hand_built_run, hand_built_raw_dir, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(hand_built_run.warehouse, warehouse)

    again = run_pipeline(hand_built_raw_dir, warehouse, tmp_path / "reports", HAND_BUILT_AS_OF)

    assert again.result.success
    for entity, files, rows in (("orders", 3, 22), ("customers", 2, 12), ("items", 1, 3)):
        metadata = again.metadata(f"raw/{entity}")
        assert (metadata["files_read"], metadata["files_unchanged"]) == (0, files), entity
        # This run's counts are zero; the running totals still say what the warehouse holds.
        assert (
            metadata["rows_loaded"],
            metadata["files_loaded_total"],
            metadata["dagster/row_count"],
            metadata["rows_quarantined_total"],
        ) == (0, files, rows, 0), entity
    for name in ("customer_activity_report.parquet", "inactive_customers.csv"):
        first = (hand_built_run.reports_dir / name).read_bytes()
        second = (tmp_path / "reports" / name).read_bytes()
        assert first == second, name
    for table in ("customer_activity_report", "customer_item_activity_report"):
        query = f"select * from {table} order by all"
        with (
            duckdb.connect(str(hand_built_run.reports_dir / "reports.duckdb")) as first,
            duckdb.connect(str(tmp_path / "reports" / "reports.duckdb")) as second,
        ):
            assert first.execute(query).fetchall() == second.execute(query).fetchall(), table
    for table in ("raw.orders", "raw.rejected_rows", "raw.load_ledger"):
        query = f"select * exclude (loaded_at) from {table} order by all"
        if table == "raw.orders":
            query = f"select * from {table} order by all"
        assert again.query(query) == hand_built_run.query(query), table


def test_a_vanished_extract_file_warns_in_the_ui_and_keeps_its_rows(
    hand_built_run, hand_built_raw_dir, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(hand_built_run.warehouse, warehouse)
    raw_dir = tmp_path / "raw"
    shutil.copytree(hand_built_raw_dir, raw_dir)
    (raw_dir / "items" / "items.csv").unlink()

    again = run_pipeline(raw_dir, warehouse, tmp_path / "reports", HAND_BUILT_AS_OF)

    assert again.result.success
    checks = {
        (c.asset_key.to_user_string(), c.check_name): (c.passed, c.severity.value)
        for c in again.result.get_asset_check_evaluations()
        if c.check_name == "every_loaded_file_still_present"
    }
    assert checks == {
        ("raw/orders", "every_loaded_file_still_present"): (True, "WARN"),
        ("raw/customers", "every_loaded_file_still_present"): (True, "WARN"),
        ("raw/items", "every_loaded_file_still_present"): (False, "WARN"),
    }
    assert again.query("select count(*) from raw.items") == [(3,)]
    assert again.query(
        "select source_file from raw.load_ledger where missing_since is not null"
    ) == [("items.csv",)]

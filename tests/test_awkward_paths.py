"""Paths as users name them: spaces, both quotes and non-ASCII letters, in folders and in the
warehouse's own file name, reach SQL, dbt's profile and the published files quoted."""

import shutil

import duckdb

from tests.conftest import HAND_BUILT_AS_OF, run_pipeline

AWKWARD_NAME = 'Müller\'s "Q3" files'


def test_a_run_into_paths_with_quotes_spaces_and_accents_gives_the_same_reports(
    hand_built_run, hand_built_raw_dir, tmp_path
):
    folder = tmp_path / AWKWARD_NAME
    # DuckDB reads a path as a pattern: these characters must match only themselves.
    raw_dir = folder / "raw data [2024] *"
    shutil.copytree(hand_built_raw_dir, raw_dir)
    # dbt-duckdb names a database after its file: the quotes must not reach its SQL unescaped.
    warehouse = folder / f"{AWKWARD_NAME}.duckdb"
    reports_dir = folder / "reports for 'sales'"

    run = run_pipeline(raw_dir, warehouse, reports_dir, HAND_BUILT_AS_OF)

    assert run.result.success
    for table in ("customer_activity_report", "customer_item_activity_report"):
        query = f"select * from reports.{table} order by all"
        assert run.query(query) == hand_built_run.query(query), table
        with duckdb.connect(str(reports_dir / "reports.duckdb"), read_only=True) as con:
            assert con.execute(f"select * from {table} order by all").fetchall() == (
                hand_built_run.query(query)
            ), table
    assert (reports_dir / "customer_activity_report.parquet").is_file()
    assert (reports_dir / "inactive_customers.csv").read_bytes() == (
        hand_built_run.reports_dir / "inactive_customers.csv"
    ).read_bytes()

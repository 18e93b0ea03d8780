"""Assets that publish the report tables as Parquet files for BI tools.

Each file is written beside the old one and then renamed over it, so a reader sees the previous
file or the new one, never half of one.
"""

import os

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, multi_asset
from dagster import MetadataValue as MV
from dagster_duckdb import DuckDBResource

from dagster_project import settings
from dagster_project.defs.warehouse import WAREHOUSE_POOL

REPORT_TABLES = ("customer_activity_report", "customer_item_activity_report")


def publish_table(con, table: str, destination: os.PathLike) -> int:
    """Copies `table` to a Parquet file at `destination`, replacing it atomically."""
    destination = os.fspath(destination)
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    partial = destination + ".partial"
    escaped = partial.replace("'", "''")
    con.execute(f"copy (select * from {table}) to '{escaped}' (format parquet)")
    os.replace(partial, destination)
    return con.execute(f"select count(*) from {table}").fetchone()[0]


@multi_asset(
    name="published_reports",
    specs=[
        AssetSpec(
            key=AssetKey(["published", report]),
            deps=[AssetKey(["reports", report])],
            group_name="published",
            kinds={"parquet"},
            description=f"`reports.{report}` as `REPORTS_DIR/{report}.parquet`, for BI tools.",
            skippable=True,
        )
        for report in REPORT_TABLES
    ],
    can_subset=True,
    # One step publishes both reports through one connection to the warehouse.
    pool=WAREHOUSE_POOL,
)
def published_reports(context: AssetExecutionContext, warehouse: DuckDBResource):
    with warehouse.get_connection() as con:
        for report in REPORT_TABLES:
            key = AssetKey(["published", report])
            if key not in context.selected_asset_keys:
                continue
            destination = settings.reports_dir() / f"{report}.parquet"
            rows = publish_table(con, f"reports.{report}", destination)
            (as_of_date,) = con.execute(
                f"select coalesce(max(as_of_date)::varchar, '') from reports.{report}"
            ).fetchone()
            context.log.info(f"Published {rows} rows to {destination}")
            yield MaterializeResult(
                asset_key=key,
                metadata={
                    "dagster/row_count": rows,
                    "path": MV.path(str(destination)),
                    "as_of_date": as_of_date,
                },
            )

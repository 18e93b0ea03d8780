"""The warehouse resource and the pool that keeps its writers apart.

DuckDB lets one process write a file at a time. Within a run the asset graph already orders the
steps (extracts, then dbt, then publishing), and the raw extracts load in one step; across runs,
every step that opens the warehouse claims a slot in the `duckdb_warehouse` pool, which the
shipped instance configuration (`.dagster_home/dagster.yaml`) limits to one. Whatever executor a
user picks, two steps never hold the file at once.
"""

from dagster_duckdb import DuckDBResource

from dagster_project import settings

WAREHOUSE_POOL = "duckdb_warehouse"


def warehouse_resource() -> DuckDBResource:
    # DuckDBResource retries the connection with backoff while another process holds the file.
    return DuckDBResource(database=str(settings.warehouse_path()))

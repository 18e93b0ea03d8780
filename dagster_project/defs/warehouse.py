"""The warehouse resource and the pool that keeps its writers apart.

DuckDB lets one process write a file at a time. Within a run the asset graph already orders the
steps (extracts, then dbt, then publishing), and the raw extracts load in one step; across runs,
every step that opens the warehouse claims a slot in the `duckdb_warehouse` pool, which the
shipped instance configuration (`.dagster_home/dagster.yaml`) limits to one. Whatever executor a
user picks, two steps never hold the file at once.

A process outside Dagster can still hold the file (a DuckDB shell, a BI tool pointed at the
warehouse instead of the published copy): then a step waits, saying who holds it, and tries
again, rather than failing at once. The dbt step waits the same way before it starts dbt, and
asks Dagster to retry it when dbt still loses the file to such a process.
"""

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
from dagster import get_dagster_logger
from dagster_duckdb import DuckDBResource
from pydantic import Field

from dagster_project import settings

WAREHOUSE_POOL = "duckdb_warehouse"


class WarehouseResource(DuckDBResource):
    """DuckDB's warehouse file, opened for writing; waits while another process holds it."""

    lock_wait_seconds: float = Field(
        default=600, description="How long to wait for another process to release the file."
    )

    @contextlib.contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        # A warehouse named in a folder not made yet (WAREHOUSE_PATH=/srv/reports/warehouse.duckdb
        # on a new machine) starts there, as the published files do in theirs.
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_wait_seconds
        delay = 1.0
        while True:
            try:
                con = duckdb.connect(self.database, config=dict(self.connection_config))
                break
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() + delay > deadline:
                    raise
                holder = re.search(r"\(PID (\d+)\)", str(error))
                get_dagster_logger().warning(
                    f"The warehouse {self.database} is held by another process"
                    + (f" (PID {holder.group(1)})" if holder else "")
                    + f"; trying again in {delay:.0f} s. BI tools and shells should read "
                    "the published copy (REPORTS_DIR/reports.duckdb) instead."
                )
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        try:
            yield con
        finally:
            con.close()

    def wait_until_free(self) -> None:
        """Returns once no other process holds the file (waiting as `get_connection` does), for a
        step whose writer is another process, like dbt."""
        with self.get_connection():
            pass


def is_lock_error(error: BaseException) -> bool:
    """True for DuckDB's "Could not set lock on file": another process held the file."""
    return "could not set lock" in str(error).lower()


def warehouse_resource() -> WarehouseResource:
    return WarehouseResource(
        database=str(settings.warehouse_path()),
        connection_config={"memory_limit": settings.duckdb_memory_limit()},
    )
